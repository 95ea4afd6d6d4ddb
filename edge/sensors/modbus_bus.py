"""The single owner of one physical Modbus bus: polls its devices, serves coil writes, survives dead parts.

One task per bus and strictly one outstanding request at a time, on RTU and TCP alike: RS-485 allows
nothing else, and on TCP it keeps timing and back-off reasoning identical. Coil writes and button reads
jump the queue of pending polls because they are what trips power. A dead device costs at most
``(retries + 1) * timeout_s`` before it is put in back-off; while skipped it still reports ``COMM_LOSS`` at
its poll interval so downstream malfunction alarms stay asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.client.base import ModbusBaseClient
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ConnectionException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from edge.aio import within
from edge.clock import Clock
from edge.config.resolved import BusKind, BusSpec, DeviceSpec
from edge.modbus.planner import ReadRequest, Table
from edge.readings import QualityReason, Reading
from edge.sensors.counters import DeviceCounters
from edge.sensors.device_decoder import DeviceDecoder

logger = logging.getLogger(__name__)

ReadingSink = Callable[[Reading], None]
ClientFactory = Callable[[BusSpec], ModbusBaseClient]

_WRITE_PRIORITY = 0  # trips, sirens, heartbeat relay
_READ_PRIORITY = 1  # acknowledge button
_MAX_PENDING_COMMANDS = 64  # callers each await their own command; more than this means a runaway caller
_GUARD_MARGIN_S = 0.5  # our own bound on top of pymodbus's timeout, in case a request hangs inside it
# On TCP a half-open connection (gateway rebooted without a FIN) answers nothing; after this many
# unanswered attempts in a row, from any device, the connection is dropped and rebuilt.
_TCP_SILENT_ATTEMPTS_BEFORE_RECONNECT = 6


class BusCommandError(Exception):
    """A command (coil write, bit read) could not be carried out on the bus."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class OutputWriteError(BusCommandError):
    """A coil write failed, was not confirmed, or read back a different state."""


def create_client(spec: BusSpec) -> ModbusBaseClient:
    """A pymodbus client for the bus, without pymodbus's own retries and reconnects: the bus owns both."""
    if spec.kind is BusKind.TCP:
        return AsyncModbusTcpClient(spec.host, port=spec.tcp_port, timeout=spec.timeout_s, retries=0, reconnect_delay=0)
    return AsyncModbusSerialClient(
        spec.port,
        baudrate=spec.baudrate,
        bytesize=spec.data_bits,
        parity=spec.parity,
        stopbits=spec.stop_bits,
        timeout=spec.timeout_s,
        retries=0,
        reconnect_delay=0,
    )


def _exception_name(code: int) -> str:
    try:
        return ExcCodes(code).name.lower()
    except ValueError:
        return "unknown exception code"


@dataclass(frozen=True, slots=True)
class _Failure:
    reason: QualityReason
    detail: str


@dataclass
class _DeviceState:
    spec: DeviceSpec
    decoder: DeviceDecoder
    counters: DeviceCounters
    next_due_mono: float = 0.0
    failed_cycles: int = 0
    backoff_until_mono: float = 0.0
    last_error: str = ""


@dataclass(order=True)
class _Command:
    priority: int
    seq: int
    description: str = field(compare=False)
    action: Callable[[], Awaitable[list[bool] | None]] = field(compare=False)
    future: asyncio.Future[list[bool] | None] = field(compare=False)
    error_type: type[BusCommandError] = field(compare=False)


class ModbusBus:
    """Owns one bus. Start ``run()`` as a named task; everything else talks to it through its methods."""

    def __init__(
        self,
        spec: BusSpec,
        devices: Sequence[DeviceSpec],
        *,
        clock: Clock,
        sink: ReadingSink,
        client_factory: ClientFactory | None = None,
    ) -> None:
        for device in devices:
            if device.bus_id != spec.bus_id:
                raise ValueError(f"device {device.device_id!r} is on bus {device.bus_id!r}, not {spec.bus_id!r}")
        self.spec = spec
        self._clock = clock
        self._sink = sink
        self._client_factory = client_factory or create_client
        self._devices = [_DeviceState(device, DeviceDecoder(device), DeviceCounters()) for device in devices]
        self._counters: dict[str, DeviceCounters] = {state.spec.device_id: state.counters for state in self._devices}
        self._client: ModbusBaseClient | None = None
        self._connected = False
        self._connect_failures = 0
        self._reconnect_at_mono = 0.0
        self._bus_error = "not connected yet"
        # Commands issued at start-up wait for the first connection attempt instead of failing at once:
        # otherwise every relay reports a false output malfunction in the first second of every start.
        self._first_attempt_done = asyncio.Event()
        self._silent_attempts = 0
        self._commands: list[_Command] = []
        self._command_seq = itertools.count()
        self._wake = asyncio.Event()
        self._running = False
        attempts = spec.retries + 1
        self._guard_timeout_s = spec.timeout_s + _GUARD_MARGIN_S
        # Worst case a command waits for: the request in flight, a connect attempt, its write and read-back.
        self._command_timeout_s = (3 * attempts + 1) * (self._guard_timeout_s + spec.turnaround_s) + 1.0
        # When the owner loop last went round: the app's watchdog check-in (edge/watchdog.py) reads it.
        self.last_round_mono = clock.monotonic()

    @property
    def counters(self) -> Mapping[str, DeviceCounters]:
        """Counters by device id; commands to unit ids without a configured device appear as ``unit:<id>``."""
        return self._counters

    @property
    def command_timeout_s(self) -> float:
        """The longest a relay write or ack read waits for this bus before it is reported failed."""
        return self._command_timeout_s

    @property
    def connected(self) -> bool:
        return self._connected and self._client is not None and self._client.connected

    # -- owner task -------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll forever; cancel to stop (the connection is closed on the way out)."""
        if self._running:
            raise RuntimeError(f"bus {self.spec.bus_id!r} already has an owner task")
        self._running = True
        start = self._clock.monotonic()
        for device_state in self._devices:
            device_state.next_due_mono = start
        try:
            while True:
                self.last_round_mono = self._clock.monotonic()
                await self._ensure_connected()
                await self._serve_commands()
                now = self._clock.monotonic()
                state = min(self._devices, key=lambda device: device.next_due_mono, default=None)
                wake_at = state.next_due_mono if state is not None else now + 3600.0
                if not self._connected:
                    wake_at = min(wake_at, self._reconnect_at_mono)
                if wake_at > now:
                    await self._sleep_unless_woken(wake_at - now)
                    continue
                if state is not None and state.next_due_mono <= now:
                    await self._poll_cycle(state, now)
        finally:
            self._running = False
            self._fail_pending_commands(f"bus {self.spec.bus_id!r} owner task stopped")
            self._drop_client()

    async def _sleep_unless_woken(self, delay_s: float) -> None:
        self._wake.clear()
        if self._commands:
            return
        with contextlib.suppress(TimeoutError):
            await within(self._wake.wait(), timeout_s=delay_s)

    # -- connection -------------------------------------------------------------------------------------

    async def _ensure_connected(self) -> None:
        if self._connected and self._client is not None and not self._client.connected:
            self._lost_connection("connection closed by the other end")
        if self._connected or self._clock.monotonic() < self._reconnect_at_mono:
            return
        self._drop_client()
        client = self._client_factory(self.spec)
        # pymodbus closes the connection after a few unanswered requests; one dead unit id behind a TCP
        # gateway would then cut off every healthy device. The bus decides when to reconnect instead.
        client.set_max_no_responses(1_000_000)
        self._client = client
        try:
            ok = await within(client.connect(), timeout_s=self._guard_timeout_s + self.spec.timeout_s)
        except (TimeoutError, OSError, ConnectionException) as exc:
            ok = False
            self._bus_error = f"connect failed: {exc!r}"
        else:
            if not ok:
                self._bus_error = f"cannot connect to {self._endpoint()}"
        self._first_attempt_done.set()
        if ok:
            self._connected = True
            self._silent_attempts = 0
            if self._connect_failures:
                logger.info(
                    "bus %s connected to %s after %d failed attempt(s)",
                    self.spec.bus_id,
                    self._endpoint(),
                    self._connect_failures,
                )
            else:
                logger.info("bus %s connected to %s", self.spec.bus_id, self._endpoint())
            self._connect_failures = 0
            return
        self._drop_client()
        self._connect_failures += 1
        delay_s = self._backoff_s(self._connect_failures)
        self._reconnect_at_mono = self._clock.monotonic() + delay_s
        log = logger.warning if self._connect_failures == 1 else logger.debug
        log("bus %s: %s; retrying in %.1f s", self.spec.bus_id, self._bus_error, delay_s)

    def _lost_connection(self, why: str) -> None:
        if not self._connected:
            return
        self._connected = False
        self._bus_error = f"connection to {self._endpoint()} lost: {why}"
        logger.warning("bus %s: %s; reconnecting", self.spec.bus_id, self._bus_error)
        self._drop_client()
        self._connect_failures = 0
        self._reconnect_at_mono = self._clock.monotonic()

    def _drop_client(self) -> None:
        self._connected = False
        if self._client is not None:
            self._client.close()
            self._client = None

    def _endpoint(self) -> str:
        if self.spec.kind is BusKind.TCP:
            return f"{self.spec.host}:{self.spec.tcp_port}"
        return self.spec.port

    def _backoff_s(self, failures: int) -> float:
        return float(min(self.spec.backoff_s * 2 ** max(0, failures - 1), self.spec.backoff_max_s))

    # -- polling ----------------------------------------------------------------------------------------

    def _schedule_next(self, state: _DeviceState, now: float) -> None:
        interval = state.spec.poll_interval_s
        due = state.next_due_mono + interval
        if due <= now:
            # Late (a slow cycle or a dead neighbour ate the slot): skip to the next slot, never catch up.
            missed = int((now - due) // interval) + 1
            state.counters.skipped_polls += missed
            due += missed * interval
        state.next_due_mono = due

    async def _poll_cycle(self, state: _DeviceState, now: float) -> None:
        self._schedule_next(state, now)
        if not self._connected:
            self._emit_failure(state, _Failure(QualityReason.COMM_LOSS, f"bus {self.spec.bus_id}: {self._bus_error}"))
            return
        if now < state.backoff_until_mono:
            self._emit_failure(
                state,
                _Failure(
                    QualityReason.COMM_LOSS,
                    f"device not answering ({state.last_error}); next attempt in "
                    f"{state.backoff_until_mono - now:.1f} s",
                ),
            )
            return
        unit_id = state.spec.unit_id
        blocks: dict[ReadRequest, list[int] | list[bool]] = {}
        for request in state.decoder.requests:
            await self._serve_commands()  # a trip waiting behind a multi-request poll would be late
            if not self._connected:
                self._emit_failure(
                    state, _Failure(QualityReason.COMM_LOSS, f"bus {self.spec.bus_id}: {self._bus_error}")
                )
                return
            outcome = await self._read(
                state.counters, unit_id, request.table, request.address, request.count, polling=True
            )
            if isinstance(outcome, _Failure):
                self._device_failed(state, outcome)
                return
            blocks[request] = outcome
        if state.failed_cycles:
            logger.info(
                "device %s (unit %d on %s) answering again after %d failed cycle(s)",
                state.spec.device_id,
                unit_id,
                self.spec.bus_id,
                state.failed_cycles,
            )
        state.failed_cycles = 0
        state.backoff_until_mono = 0.0
        readings = state.decoder.decode(
            blocks,
            self._clock.monotonic(),
            self._clock.wall(),
        )
        for reading in readings:
            self._deliver(reading)

    def _device_failed(self, state: _DeviceState, failure: _Failure) -> None:
        state.failed_cycles += 1
        state.last_error = failure.detail
        delay_s = self._backoff_s(state.failed_cycles)
        state.backoff_until_mono = self._clock.monotonic() + delay_s
        log = logger.warning if state.failed_cycles == 1 else logger.debug
        log(
            "device %s (unit %d on %s): %s; backing off %.1f s",
            state.spec.device_id,
            state.spec.unit_id,
            self.spec.bus_id,
            failure.detail,
            delay_s,
        )
        self._emit_failure(state, failure)

    def _emit_failure(self, state: _DeviceState, failure: _Failure) -> None:
        for reading in state.decoder.comm_failure(
            failure.reason, failure.detail, self._clock.monotonic(), self._clock.wall()
        ):
            self._deliver(reading)

    def _deliver(self, reading: Reading) -> None:
        try:
            self._sink(reading)
        except Exception:
            # A consumer bug must not stop the polling of every sensor on the bus; the trace says where.
            logger.exception("reading sink failed on %s", reading.point_id)

    # -- requests ---------------------------------------------------------------------------------------

    async def _read(
        self,
        counters: DeviceCounters,
        unit_id: int,
        table: Table,
        address: int,
        count: int,
        *,
        polling: bool = False,
    ) -> list[int] | list[bool] | _Failure:
        what = f"read {table.value} {address}+{count}"

        def call() -> Awaitable[ModbusPDU]:
            client = self._require_client()
            if table is Table.COIL:
                return client.read_coils(address, count=count, device_id=unit_id)
            if table is Table.DISCRETE_INPUT:
                return client.read_discrete_inputs(address, count=count, device_id=unit_id)
            if table is Table.HOLDING:
                return client.read_holding_registers(address, count=count, device_id=unit_id)
            return client.read_input_registers(address, count=count, device_id=unit_id)

        response = await self._execute(counters, what, call, polling=polling)
        if isinstance(response, _Failure):
            return response
        if table.is_bit_table:
            bits = list(response.bits[:count])  # pymodbus pads bits to whole bytes
            if len(bits) != count:
                counters.record_garbled()
                return _Failure(QualityReason.COMM_LOSS, f"{what}: answer holds {len(bits)} bit(s)")
            return bits
        registers = list(response.registers)
        if len(registers) != count:
            counters.record_garbled()
            return _Failure(QualityReason.COMM_LOSS, f"{what}: answer holds {len(registers)} register(s)")
        return registers

    def _require_client(self) -> ModbusBaseClient:
        if self._client is None:
            raise ConnectionException(f"bus {self.spec.bus_id} has no client")
        return self._client

    async def _execute(
        self,
        counters: DeviceCounters,
        what: str,
        call: Callable[[], Awaitable[ModbusPDU]],
        *,
        polling: bool = False,
    ) -> ModbusPDU | _Failure:
        """One request with the bus's retries. Exception responses are final: asking again changes nothing."""
        attempts = self.spec.retries + 1
        last_error = ""
        for attempt in range(attempts):
            if polling and attempt:
                # A retry of a poll is where a dead device eats bus time; a pending trip goes first.
                await self._serve_commands()
                if not self._connected:
                    return _Failure(QualityReason.COMM_LOSS, f"{what}: {self._bus_error}")
            counters.record_request()
            started = self._clock.monotonic()
            try:
                response = await within(call(), timeout_s=self._guard_timeout_s)
            except (ConnectionException, OSError) as exc:
                self._lost_connection(str(exc))
                return _Failure(QualityReason.COMM_LOSS, f"{what}: {self._bus_error}")
            except TimeoutError:
                counters.record_timeout()
                last_error = f"no answer within {self.spec.timeout_s:g} s"
                self._note_silence()
            except ModbusIOException as exc:
                # pymodbus reports its own timeout as an IO error too; anything else is a garbled frame.
                if "no response" in str(exc).lower():
                    counters.record_timeout()
                    last_error = f"no answer within {self.spec.timeout_s:g} s"
                    self._note_silence()
                else:
                    counters.record_garbled()
                    last_error = f"garbled answer: {exc}"
            else:
                self._silent_attempts = 0
                if response.isError():
                    code = int(getattr(response, "exception_code", 0))
                    counters.record_exception(code)
                    await self._turnaround()
                    return _Failure(
                        QualityReason.DEVICE_EXCEPTION,
                        f"{what}: Modbus exception {code} ({_exception_name(code)})",
                    )
                counters.record_success(self._clock.monotonic() - started, self._clock.wall())
                await self._turnaround()
                return response
            if not self._connected:
                return _Failure(QualityReason.COMM_LOSS, f"{what}: {self._bus_error}")
            await self._turnaround()
        return _Failure(QualityReason.COMM_LOSS, f"{what}: {last_error} ({attempts} attempt(s))")

    def _note_silence(self) -> None:
        self._silent_attempts += 1
        if self.spec.kind is BusKind.TCP and self._silent_attempts >= _TCP_SILENT_ATTEMPTS_BEFORE_RECONNECT:
            self._lost_connection(f"{self._silent_attempts} requests in a row unanswered")

    async def _turnaround(self) -> None:
        # RS-485 transceivers and slow devices need a quiet gap before the next frame.
        if self.spec.kind is BusKind.RTU and self.spec.turnaround_s > 0:
            await asyncio.sleep(self.spec.turnaround_s)

    # -- commands ---------------------------------------------------------------------------------------

    async def write_coil(self, unit_id: int, address: int, value: bool, *, verify: bool = True) -> None:
        """Write one coil ahead of pending polls, read it back if ``verify``. Raises ``OutputWriteError``."""
        description = f"write coil {address}={'on' if value else 'off'} on unit {unit_id} ({self.spec.bus_id})"

        async def action() -> None:
            counters = self._counters_for_unit(unit_id)
            written = await self._execute(
                counters,
                description,
                lambda: self._require_client().write_coil(address, value, device_id=unit_id),
            )
            if isinstance(written, _Failure):
                raise OutputWriteError(written.detail)
            if not verify:
                return
            state = await self._read(counters, unit_id, Table.COIL, address, 1)
            if isinstance(state, _Failure):
                raise OutputWriteError(f"{description}: read-back failed: {state.detail}")
            if bool(state[0]) != value:
                raise OutputWriteError(
                    f"{description}: coil reads back {'on' if state[0] else 'off'}; the module did not switch"
                )

        await self._submit(_WRITE_PRIORITY, description, action, OutputWriteError)

    async def read_bits(self, unit_id: int, table: Table, address: int, count: int) -> list[bool]:
        """Read coils or discrete inputs ahead of pending polls. Raises ``BusCommandError``."""
        if not table.is_bit_table:
            raise ValueError(f"read_bits reads coils or discrete inputs, not {table.value} registers")
        description = f"read {table.value} {address}+{count} on unit {unit_id} ({self.spec.bus_id})"

        async def action() -> list[bool]:
            result = await self._read(self._counters_for_unit(unit_id), unit_id, table, address, count)
            if isinstance(result, _Failure):
                raise BusCommandError(result.detail)
            return [bool(bit) for bit in result]

        bits = await self._submit(_READ_PRIORITY, description, action, BusCommandError)
        if bits is None:
            raise BusCommandError(f"{description}: no data returned")
        return bits

    async def _submit(
        self,
        priority: int,
        description: str,
        action: Callable[[], Awaitable[list[bool] | None]],
        error_type: type[BusCommandError],
    ) -> list[bool] | None:
        if not self._running:
            raise error_type(f"{description}: bus owner task is not running")
        if not self._connected and not self._first_attempt_done.is_set():
            with contextlib.suppress(TimeoutError):
                await within(self._first_attempt_done.wait(), timeout_s=self._guard_timeout_s + self.spec.timeout_s)
        if not self._connected:
            raise error_type(f"{description}: bus not connected ({self._bus_error})")
        if len(self._commands) >= _MAX_PENDING_COMMANDS:
            raise error_type(f"{description}: {_MAX_PENDING_COMMANDS} commands already pending on the bus")
        future: asyncio.Future[list[bool] | None] = asyncio.get_running_loop().create_future()
        heapq.heappush(
            self._commands,
            _Command(priority, next(self._command_seq), description, action, future, error_type),
        )
        self._wake.set()
        try:
            return await within(future, timeout_s=self._command_timeout_s)
        except TimeoutError:
            raise error_type(f"{description}: not served within {self._command_timeout_s:.1f} s") from None

    async def _serve_commands(self) -> None:
        while self._commands:
            command = heapq.heappop(self._commands)
            if command.future.done():
                continue  # the caller gave up
            if not self._connected:
                command.future.set_exception(
                    command.error_type(f"{command.description}: bus not connected ({self._bus_error})")
                )
                continue
            try:
                result = await command.action()
            except BusCommandError as exc:
                if not command.future.done():
                    command.future.set_exception(exc)
            except asyncio.CancelledError:
                if not command.future.done():
                    command.future.set_exception(command.error_type(f"{command.description}: bus stopped"))
                raise
            else:
                if not command.future.done():
                    command.future.set_result(result)

    def _fail_pending_commands(self, why: str) -> None:
        while self._commands:
            command = heapq.heappop(self._commands)
            if not command.future.done():
                command.future.set_exception(command.error_type(f"{command.description}: {why}"))

    def _counters_for_unit(self, unit_id: int) -> DeviceCounters:
        for state in self._devices:
            if state.spec.unit_id == unit_id:
                return state.counters
        return self._counters.setdefault(f"unit:{unit_id}", DeviceCounters())
