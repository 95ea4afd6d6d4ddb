"""A simulated field device: a register image written from engineering values, served through pymodbus.

The image is the device's truth. pymodbus 3.16 serves ``SimDevice`` records (its old ``ModbusDeviceContext``
is now a deprecated wrapper around them and has no write hook), so each device registers an ``action``
callback that pymodbus awaits on every request: it copies the image into the served block, records coil
writes, and makes an offline device stay silent.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.simulator import DataType as SimDataType
from pymodbus.simulator import SimData, SimDevice

from edge.clock import Clock
from edge.config.resolved import DeviceSpec, PointSpec
from edge.modbus.codec import DataType, encode_value, remove_scaling
from edge.modbus.planner import Table
from edge.sim.coil_log import CoilLog
from edge.sim.states import DeviceState
from edge.sim.status_registers import REASON_FOR_STATE, reasons_available, status_point_names, status_raws

logger = logging.getLogger(__name__)

_BIT_TABLES = (Table.COIL, Table.DISCRETE_INPUT)
_TABLE_BY_FUNCTION: dict[int, Table] = {
    1: Table.COIL,
    5: Table.COIL,
    15: Table.COIL,
    2: Table.DISCRETE_INPUT,
    3: Table.HOLDING,
    6: Table.HOLDING,
    16: Table.HOLDING,
    22: Table.HOLDING,
    23: Table.HOLDING,
    4: Table.INPUT,
}
_INTEGER_RANGES: dict[DataType, tuple[int, int]] = {
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT32: (0, 2**32 - 1),
}
# Heartbeat counters wrap where the register's positive range ends, as device firmware does.
_COUNTER_MODULUS: dict[DataType, int] = {
    DataType.INT16: 2**15,
    DataType.UINT16: 2**16,
    DataType.INT32: 2**31,
    DataType.UINT32: 2**32,
    DataType.FLOAT32: 2**16,
    DataType.FLOAT64: 2**16,
}
_MIN_TABLE_SIZE = 16
_STATES_FORCING_ZERO = (DeviceState.FAULT, DeviceState.INHIBIT, DeviceState.WARM_UP)
DEFAULT_HEARTBEAT_PERIOD_S = 1.0


class DeviceStateError(ValueError):
    """A state the device's configuration cannot represent (e.g. inhibit on a device with no status)."""


def _rounded_up(size: int) -> int:
    return max(_MIN_TABLE_SIZE, -(-size // 16) * 16)


def _pack_bits(bits: Sequence[int]) -> list[int]:
    """Coil/discrete-input states packed 16 to a register, bit 0 first (pymodbus's block layout)."""
    words = [0] * (len(bits) // 16)
    for index, state in enumerate(bits):
        if state:
            words[index // 16] |= 1 << (index % 16)
    return words


class SimulatedDevice:
    """One Modbus slave built from its ``DeviceSpec``: values in engineering units in, registers out."""

    def __init__(
        self,
        spec: DeviceSpec,
        *,
        clock: Clock,
        coil_log: CoilLog | None = None,
        min_table_sizes: Mapping[Table, int] | None = None,
        heartbeat_period_s: float = DEFAULT_HEARTBEAT_PERIOD_S,
    ) -> None:
        if heartbeat_period_s <= 0:
            raise ValueError(f"heartbeat_period_s must be positive, got {heartbeat_period_s}")
        self._spec = spec
        self._clock = clock
        self._coil_log = coil_log
        self._heartbeat_period_s = heartbeat_period_s
        self._state = DeviceState.ONLINE
        self._status_names = frozenset(status_point_names(spec))
        self._reasons = reasons_available(spec)
        self._heartbeat = spec.point(spec.heartbeat_point) if spec.heartbeat_point else None
        self._heartbeat_count = 0
        self._last_beat_mono = clock.monotonic()
        self._engineering: dict[str, float] = {}
        needed = dict.fromkeys(Table, 0)
        for point in spec.points:
            needed[point.table] = max(needed[point.table], point.address + point.count)
        for table, size in (min_table_sizes or {}).items():
            needed[table] = max(needed[table], size)
        self._image: dict[Table, list[int]] = {table: [0] * _rounded_up(size) for table, size in needed.items()}
        self._render()

    @property
    def spec(self) -> DeviceSpec:
        return self._spec

    @property
    def device_id(self) -> str:
        return self._spec.device_id

    @property
    def unit_id(self) -> int:
        return self._spec.unit_id

    @property
    def state(self) -> DeviceState:
        return self._state

    def can_enter(self, state: DeviceState) -> bool:
        """Whether this device's configuration can show ``state`` to the gateway."""
        reason = REASON_FOR_STATE.get(state)
        if reason is None:
            return True
        if reason in self._reasons:
            return True
        # A 4-20 mA loop shows its own fault: the current drops below the NAMUR limit.
        return state is DeviceState.FAULT and any(p.raw_fault_below is not None for p in self._spec.points)

    def set_state(self, state: DeviceState) -> None:
        if state is self._state:
            return
        if not self.can_enter(state):
            reasons = ", ".join(sorted(r.value for r in self._reasons)) or "none"
            raise DeviceStateError(
                f"device {self.device_id!r} (profile {self._spec.profile!r}) cannot signal {state.value}: "
                f"its quality conditions signal only [{reasons}] and none of its points has raw_fault_below"
            )
        logger.info("simulated device %s: %s -> %s", self.device_id, self._state.value, state.value)
        self._state = state
        if state is not DeviceState.FROZEN:
            self._render()

    def apply_values(self, values: Mapping[str, float]) -> None:
        """Take new engineering values keyed by point_id; points of other devices are ignored."""
        for point in self._spec.points:
            if point.point_id in values and not self._is_device_owned(point):
                self._engineering[point.point_id] = values[point.point_id]
        if self._state is not DeviceState.FROZEN:
            self._render()

    def tick(self) -> None:
        """Advance the heartbeat when its period has elapsed; a frozen device's heartbeat stands still."""
        now = self._clock.monotonic()
        if now - self._last_beat_mono < self._heartbeat_period_s:
            return
        self._last_beat_mono = now
        if self._heartbeat is None or self._state is DeviceState.FROZEN:
            return
        self._heartbeat_count += 1
        self._write_heartbeat()

    def registers(self, table: Table, address: int, count: int) -> list[int]:
        """A copy of part of the image (coils/discrete inputs as 0/1), as a client would read it."""
        image = self._image[table]
        if address < 0 or address + count > len(image):
            raise IndexError(f"{table.value} {address}..{address + count - 1} is outside 0..{len(image) - 1}")
        return image[address : address + count]

    def sim_device(self) -> SimDevice:
        """The pymodbus record that serves this device's unit id."""
        bits = {t: [False] * len(self._image[t]) for t in _BIT_TABLES}
        words = {t: [0] * len(self._image[t]) for t in (Table.HOLDING, Table.INPUT)}
        return SimDevice(
            id=self.unit_id,
            simdata=(
                [SimData(0, values=bits[Table.COIL], datatype=SimDataType.BITS)],
                [SimData(0, values=bits[Table.DISCRETE_INPUT], datatype=SimDataType.BITS)],
                [SimData(0, values=words[Table.HOLDING], datatype=SimDataType.REGISTERS)],
                [SimData(0, values=words[Table.INPUT], datatype=SimDataType.REGISTERS)],
            ),
            action=self._on_access,
        )

    async def _on_access(  # noqa: PLR0917 - pymodbus calls its action with positional arguments
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """pymodbus hook, awaited before it answers: serve the image, take writes, or stay silent."""
        del start_address, count  # every block starts at 0 and the whole block is refreshed
        if self._state is DeviceState.OFFLINE:
            # With ignore_missing_devices the server then sends nothing and the client times out.
            raise NoSuchIdException(f"simulated device {self.device_id} (unit {self.unit_id}) is offline")
        table = _TABLE_BY_FUNCTION.get(function_code)
        if table is None:
            return ExcCodes.ILLEGAL_FUNCTION
        image = self._image[table]
        served = _pack_bits(image) if table in _BIT_TABLES else image
        current_registers[: len(served)] = served
        if set_values:
            self._accept_write(table, address, set_values)
        return None

    def _accept_write(self, table: Table, address: int, values: Sequence[int] | Sequence[bool]) -> None:
        image = self._image[table]
        for index, value in enumerate(values):
            image[address + index] = int(value)
            if table is Table.COIL:
                if self._coil_log is not None:
                    self._coil_log.record(self.device_id, address + index, bool(value))
                logger.debug("simulated device %s: coil %d <- %s", self.device_id, address + index, bool(value))

    def _is_device_owned(self, point: PointSpec) -> bool:
        """Status and heartbeat registers belong to the device's firmware, not to the scenario."""
        return point.name in self._status_names or point.name == self._spec.heartbeat_point

    def _render(self) -> None:
        """Write the whole image for the current state from the latest engineering values."""
        force_zero = self._state in _STATES_FORCING_ZERO
        for point in self._spec.points:
            if self._is_device_owned(point):
                continue
            if force_zero and not point.diagnostic:
                # XNX-style transmitters force the concentration to 0 in inhibit/fault, and a 4-20 mA loop
                # in fault carries no current: raw 0 in every case, which only the status makes bad.
                self._write_raw(point, 0.0)
            elif point.point_id in self._engineering:
                engineering = self._engineering[point.point_id]
                self._write_raw(point, remove_scaling(engineering, scale=point.scale, offset=point.offset))
        for name, raw in status_raws(self._spec, self._state).items():
            self._write_raw(self._spec.point(name), raw)
        self._write_heartbeat()

    def _write_heartbeat(self) -> None:
        point = self._heartbeat
        if point is None:
            return
        if point.data_type in (DataType.BITS, DataType.BOOL):
            self._write_raw(point, float(self._heartbeat_count % 2))
        else:
            self._write_raw(point, float(self._heartbeat_count % _COUNTER_MODULUS[point.data_type]))

    def _write_raw(self, point: PointSpec, raw: float) -> None:
        image = self._image[point.table]
        if point.table in _BIT_TABLES or point.data_type is DataType.BOOL:
            image[point.address] = int(raw >= 0.5)
            return
        if point.data_type is DataType.BITS:
            image[point.address] = encode_value(
                int(raw >= 0.5),
                DataType.BITS,
                byte_order=point.byte_order,
                bit=point.bit,
                base_register=image[point.address],
            )[0]
            return
        limits = _INTEGER_RANGES.get(point.data_type)
        if limits is not None:
            if not math.isfinite(raw):
                logger.debug("simulated device %s: %s has no integer form, kept", self.device_id, raw)
                return
            # A transmitter saturates its register rather than wrapping around.
            raw = min(max(raw, limits[0]), limits[1])
        image[point.address : point.address + point.count] = encode_value(
            raw, point.data_type, word_order=point.word_order, byte_order=point.byte_order
        )


def silent_catch_all() -> SimDevice:
    """A unit-0 record that answers nothing: like a real RS-485 bus, an unknown unit id gets no reply.

    pymodbus routes every unit id without its own record to id 0. Its blocks span the whole address space so
    that every request reaches the action (an address outside a block would get an exception reply instead).
    """

    async def refuse(  # noqa: PLR0917 - pymodbus calls its action with positional arguments
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        del function_code, start_address, address, count, current_registers, set_values
        raise NoSuchIdException("no simulated device has this unit id")

    every_bit = [False] * 0x10000
    return SimDevice(
        id=0,
        simdata=(
            [SimData(0, values=every_bit, datatype=SimDataType.BITS)],
            [SimData(0, values=every_bit, datatype=SimDataType.BITS)],
            [SimData(0, count=0x10000, values=0, datatype=SimDataType.REGISTERS)],
            [SimData(0, count=0x10000, values=0, datatype=SimDataType.REGISTERS)],
        ),
        action=refuse,
    )
