"""ASCII serial instruments (dust monitors, anemometers) that print one line per measurement.

Reads run as blocking pyserial calls with a short read timeout in a dedicated single-thread executor,
rather than ``loop.add_reader`` on the file descriptor: the configured port may be a pyserial URL
(``socket://``, ``loop://``, ``rfc2217://``) that has no pollable fd, and one thread per port keeps open,
read, write and close strictly ordered. The read timeout bounds how long a cancelled task's thread lingers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import serial

from edge.aio import within
from edge.clock import Clock
from edge.config.resolved import InstrumentSpec
from edge.readings import Quality, QualityReason, Reading

logger = logging.getLogger(__name__)

ReadingSink = Callable[[Reading], None]
PortOpener = Callable[[InstrumentSpec], serial.SerialBase]

READ_TIMEOUT_S = 0.2  # one blocking read; also the longest a stopped reader's thread keeps running
WRITE_TIMEOUT_S = 1.0
MAX_LINE_BYTES = 1024  # a line longer than this is noise or a wrong baud rate, not a measurement
DETAIL_LINE_CHARS = 80
SILENCE_POLL_INTERVALS = 3  # no line for this many poll intervals -> COMM_LOSS


def open_port(spec: InstrumentSpec) -> serial.SerialBase:
    """Open the instrument's port (a device path or a pyserial URL) with its line settings."""
    port: serial.SerialBase = serial.serial_for_url(  # type: ignore[no-untyped-call]  # pyserial is unannotated
        spec.port,
        baudrate=spec.baudrate,
        bytesize=spec.data_bits,
        parity=spec.parity,
        stopbits=spec.stop_bits,
        timeout=READ_TIMEOUT_S,
        write_timeout=WRITE_TIMEOUT_S,
    )
    return port


def _bad(spec: InstrumentSpec, reason: QualityReason, detail: str, t_mono: float, t_wall: float) -> list[Reading]:
    return [
        Reading(point.point_id, t_mono, t_wall, None, point.unit, Quality.BAD, reason, detail) for point in spec.points
    ]


def parse_line(spec: InstrumentSpec, line: str, t_mono: float, t_wall: float) -> list[Reading]:
    """Readings for every point of the instrument from one line (terminator already removed or not)."""
    text = line.rstrip("\r\n")
    match = re.search(spec.pattern, text)
    if match is None:
        shown = text[:DETAIL_LINE_CHARS] + ("..." if len(text) > DETAIL_LINE_CHARS else "")
        return _bad(
            spec,
            QualityReason.PARSE_ERROR,
            f"line {shown!r} does not match pattern {spec.pattern!r}",
            t_mono,
            t_wall,
        )
    readings: list[Reading] = []
    for point in spec.points:
        group = match.group(point.group)
        try:
            raw = float(group) if group is not None else math.nan
        except ValueError:
            raw = math.nan
        if not math.isfinite(raw):
            readings.append(
                Reading(
                    point.point_id,
                    t_mono,
                    t_wall,
                    None,
                    point.unit,
                    Quality.BAD,
                    QualityReason.PARSE_ERROR,
                    f"group {point.group!r} is {group!r}, not a finite number",
                )
            )
            continue
        value = raw * point.scale + point.offset
        readings.append(Reading(point.point_id, t_mono, t_wall, value, point.unit, Quality.GOOD))
    return readings


class SerialInstrument:
    """Owns one serial port: optional poll command, line reading, parsing, silence detection, reopening."""

    def __init__(
        self,
        spec: InstrumentSpec,
        *,
        clock: Clock,
        sink: ReadingSink,
        opener: PortOpener | None = None,
        backoff_s: float = 1.0,
        backoff_max_s: float = 30.0,
    ) -> None:
        try:
            pattern = re.compile(spec.pattern)
        except re.error as exc:
            raise ValueError(f"instrument {spec.instrument_id!r}: pattern {spec.pattern!r} is invalid: {exc}") from exc
        missing = [point.group for point in spec.points if point.group not in pattern.groupindex]
        if missing:
            raise ValueError(
                f"instrument {spec.instrument_id!r}: pattern has no named group(s) {missing}; "
                f"it defines {sorted(pattern.groupindex)}"
            )
        if not spec.line_terminator:
            raise ValueError(f"instrument {spec.instrument_id!r}: line_terminator must not be empty")
        self.spec = spec
        self._clock = clock
        self._sink = sink
        self._opener = opener or open_port
        self._backoff_s = backoff_s
        self._backoff_max_s = backoff_max_s
        self._terminator = spec.line_terminator.encode(spec.encoding)
        self.lines = 0
        self.parse_errors = 0
        self.comm_losses = 0
        self.reopens = 0

    @property
    def counters(self) -> dict[str, int]:
        return {
            "lines": self.lines,
            "parse_errors": self.parse_errors,
            "comm_losses": self.comm_losses,
            "reopens": self.reopens,
        }

    async def run(self) -> None:
        """Read forever, reopening the port with back-off after errors. Cancel to stop."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"serial-{self.spec.instrument_id}")
        loop = asyncio.get_running_loop()
        failures = 0
        try:
            while True:
                port: serial.SerialBase | None = None
                try:
                    port = await within(
                        loop.run_in_executor(executor, self._opener, self.spec), timeout_s=WRITE_TIMEOUT_S + 5.0
                    )
                    if failures:
                        logger.info("instrument %s: port %s open again", self.spec.instrument_id, self.spec.port)
                    failures = 0
                    await self._read_loop(port, executor)
                except (serial.SerialException, OSError, TimeoutError) as exc:
                    failures += 1
                    self.reopens += 1
                    log = logger.warning if failures == 1 else logger.debug
                    log("instrument %s: port %s failed: %s", self.spec.instrument_id, self.spec.port, exc)
                    self._emit_bad(QualityReason.COMM_LOSS, f"port {self.spec.port}: {exc}")
                finally:
                    if port is not None:
                        # Runs after any read still in the thread; not awaited, so cancelling stays prompt.
                        executor.submit(port.close)
                delay_s = min(self._backoff_s * 2 ** max(0, failures - 1), self._backoff_max_s)
                await asyncio.sleep(delay_s)
        finally:
            executor.shutdown(wait=False, cancel_futures=False)

    async def _read_loop(self, port: serial.SerialBase, executor: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        interval = self.spec.poll_interval_s
        buffer = bytearray()
        last_line_mono = self._clock.monotonic()
        next_poll_mono = last_line_mono
        next_silence_report_mono = last_line_mono + SILENCE_POLL_INTERVALS * interval
        while True:
            now = self._clock.monotonic()
            if self.spec.poll_command is not None and now >= next_poll_mono:
                buffer.clear()  # a half line from before the request would corrupt the answer
                await loop.run_in_executor(executor, self._write_command, port)
                next_poll_mono = now + interval
            chunk = await within(loop.run_in_executor(executor, self._read_chunk, port), timeout_s=READ_TIMEOUT_S + 5.0)
            buffer.extend(chunk)
            for line in self._split_lines(buffer):
                last_line_mono = self._clock.monotonic()
                next_silence_report_mono = last_line_mono + SILENCE_POLL_INTERVALS * interval
                self._handle_line(line)
            now = self._clock.monotonic()
            if now >= next_silence_report_mono:
                # Repeated every poll interval so downstream malfunction alarms stay asserted.
                silent_s = now - last_line_mono
                first_of_episode = next_silence_report_mono == last_line_mono + SILENCE_POLL_INTERVALS * interval
                self.comm_losses += 1
                log = logger.warning if first_of_episode else logger.debug
                log("instrument %s: no line for %.1f s", self.spec.instrument_id, silent_s)
                self._emit_bad(QualityReason.COMM_LOSS, f"no line for {silent_s:.1f} s")
                next_silence_report_mono = now + interval

    def _write_command(self, port: serial.SerialBase) -> None:
        command = self.spec.poll_command or ""
        if not command.endswith(self.spec.line_terminator):
            command += self.spec.line_terminator
        port.write(command.encode(self.spec.encoding))
        port.flush()

    @staticmethod
    def _read_chunk(port: serial.SerialBase) -> bytes:
        # Whatever arrives within the port's read timeout (a line is late by at most that); partial lines
        # wait in the caller's buffer for their terminator.
        data: bytes = port.read(MAX_LINE_BYTES)
        return data

    def _split_lines(self, buffer: bytearray) -> list[bytes]:
        lines: list[bytes] = []
        while True:
            end = buffer.find(self._terminator)
            if end < 0:
                break
            lines.append(bytes(buffer[:end]))
            del buffer[: end + len(self._terminator)]
        if len(buffer) > MAX_LINE_BYTES:
            lines.append(bytes(buffer))  # reported as a parse error, then dropped: the buffer stays bounded
            buffer.clear()
        return lines

    def _handle_line(self, raw_line: bytes) -> None:
        line = raw_line.decode(self.spec.encoding, errors="replace").strip()
        if not line:
            return  # blank lines (CR LF pairs split oddly, keep-alives) carry no measurement
        self.lines += 1
        readings = parse_line(self.spec, line, self._clock.monotonic(), self._clock.wall())
        errors = [reading.detail for reading in readings if reading.reason is QualityReason.PARSE_ERROR]
        if errors:
            self.parse_errors += 1
            log = logger.warning if self.parse_errors == 1 else logger.debug
            log("instrument %s: %s", self.spec.instrument_id, errors[0])
        for reading in readings:
            self._deliver(reading)

    def _emit_bad(self, reason: QualityReason, detail: str) -> None:
        for reading in _bad(self.spec, reason, detail, self._clock.monotonic(), self._clock.wall()):
            self._deliver(reading)

    def _deliver(self, reading: Reading) -> None:
        try:
            self._sink(reading)
        except Exception:
            logger.exception("reading sink failed on %s", reading.point_id)
