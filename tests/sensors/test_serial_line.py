"""ASCII instruments: the pure parser and SerialInstrument over a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest

from edge.clock import SystemClock
from edge.config.resolved import InstrumentSpec, LinePointSpec
from edge.readings import Quality, QualityReason, Reading
from edge.sensors.serial_line import SerialInstrument, parse_line


def _spec(port: str = "loop://", *, poll_command: str | None = None, poll_interval_s: float = 0.2) -> InstrumentSpec:
    return InstrumentSpec(
        instrument_id="dust1",
        port=port,
        baudrate=9600,
        data_bits=8,
        parity="N",  # a pty cannot hold parity E across opens
        stop_bits=1,
        pattern=r"PM10=(?P<pm10>[-0-9.]+)\s+T=(?P<temp>[-0-9.]+)",
        encoding="ascii",
        line_terminator="\r\n",
        poll_command=poll_command,
        poll_interval_s=poll_interval_s,
        points=(
            LinePointSpec(
                point_id="dust1.pm10", group="pm10", label="Dust", location="belt", unit="mg/m3", scale=0.001
            ),
            LinePointSpec(point_id="dust1.temp", group="temp", label="Temp", location="belt", unit="degC", offset=-0.5),
        ),
    )


def test_parse_line_scales_named_groups() -> None:
    readings = parse_line(_spec(), "PM10=1250 T=21.5\r\n", 1.0, 2.0)
    assert [(r.point_id, r.unit, r.quality) for r in readings] == [
        ("dust1.pm10", "mg/m3", Quality.GOOD),
        ("dust1.temp", "degC", Quality.GOOD),
    ]
    assert readings[0].value == pytest.approx(1.25)
    assert readings[1].value == pytest.approx(21.0)


def test_parse_line_rejects_non_matching_line_with_truncated_repr() -> None:
    line = "ERR sensor chamber dirty " + "x" * 200
    readings = parse_line(_spec(), line, 1.0, 2.0)
    assert all(r.quality is Quality.BAD and r.reason is QualityReason.PARSE_ERROR for r in readings)
    assert all(r.value is None for r in readings)
    assert readings[0].detail.startswith("line 'ERR sensor chamber dirty xxx")
    assert "...' does not match pattern" in readings[0].detail
    assert len(readings[0].detail) < 200


def test_parse_line_rejects_a_group_that_is_not_a_number() -> None:
    readings = parse_line(_spec(), "PM10=1.2.3 T=20", 1.0, 2.0)
    assert readings[0].reason is QualityReason.PARSE_ERROR
    assert "'1.2.3'" in readings[0].detail
    assert readings[1].quality is Quality.GOOD


def test_invalid_configuration_is_rejected_early() -> None:
    spec = _spec()
    bad_group = InstrumentSpec(**{**{f: getattr(spec, f) for f in spec.__dataclass_fields__}, "pattern": r"(?P<x>\d+)"})
    with pytest.raises(ValueError, match=r"no named group\(s\) \['pm10', 'temp'\]"):
        SerialInstrument(bad_group, clock=SystemClock(), sink=lambda _r: None)


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    yield master, path
    os.close(master)
    os.close(slave)


class Collector:
    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.arrived = asyncio.Event()

    def __call__(self, reading: Reading) -> None:
        self.readings.append(reading)
        self.arrived.set()

    async def until(self, count: int, point_id: str, timeout_s: float = 3.0) -> list[Reading]:
        async with asyncio.timeout(timeout_s):
            while len(found := [r for r in self.readings if r.point_id == point_id]) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return found


async def _read_until(fd: int, expected: bytes, timeout_s: float) -> bytes:
    """Read the pty master through the event loop (no thread left blocked in os.read if this times out)."""
    loop = asyncio.get_running_loop()
    readable = asyncio.Event()
    os.set_blocking(fd, False)
    loop.add_reader(fd, readable.set)
    received = b""
    try:
        async with asyncio.timeout(timeout_s):
            while expected not in received:
                await readable.wait()
                readable.clear()
                with contextlib.suppress(BlockingIOError):
                    received += os.read(fd, 64)
    finally:
        loop.remove_reader(fd)
    return received


@asynccontextmanager
async def _running(instrument: SerialInstrument) -> AsyncIterator[None]:
    task = asyncio.create_task(instrument.run(), name="serial-dust1")
    try:
        yield
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_streaming_instrument_over_pty_with_parse_error_and_silence(pty_pair: tuple[int, str]) -> None:
    master, path = pty_pair
    sink = Collector()
    instrument = SerialInstrument(_spec(path), clock=SystemClock(), sink=sink)
    async with _running(instrument):
        await asyncio.sleep(0.3)
        os.write(master, b"PM10=800 T=20.5\r\nPM10=9")
        await asyncio.sleep(0.1)
        os.write(master, b"00 T=20.5\r\ngarbage\r\n")
        pm10 = await sink.until(3, "dust1.pm10")
        assert [r.value for r in pm10[:2]] == [pytest.approx(0.8), pytest.approx(0.9)]
        assert pm10[2].reason is QualityReason.PARSE_ERROR
        assert "'garbage'" in pm10[2].detail
        assert instrument.counters["parse_errors"] == 1
        assert instrument.counters["lines"] == 3
        # Silence for more than 3 poll intervals (0.6 s) -> COMM_LOSS, repeated while silent.
        silent = await sink.until(5, "dust1.pm10", timeout_s=2.0)
        assert silent[3].reason is QualityReason.COMM_LOSS
        assert silent[3].detail.startswith("no line for 0.")
        assert silent[4].reason is QualityReason.COMM_LOSS


async def test_polled_instrument_receives_its_command(pty_pair: tuple[int, str]) -> None:
    master, path = pty_pair
    sink = Collector()
    instrument = SerialInstrument(_spec(path, poll_command="READ", poll_interval_s=0.3), clock=SystemClock(), sink=sink)
    async with _running(instrument):
        received = await _read_until(master, b"READ\r\n", timeout_s=3.0)
        assert received.endswith(b"READ\r\n")
        os.write(master, b"PM10=100 T=10\r\n")
        pm10 = await sink.until(1, "dust1.pm10")
        assert pm10[0].value == pytest.approx(0.1)
        assert pm10[0].quality is Quality.GOOD


async def test_unopenable_port_reports_comm_loss_and_retries() -> None:
    sink = Collector()
    instrument = SerialInstrument(
        _spec("/dev/does-not-exist-minegate"), clock=SystemClock(), sink=sink, backoff_s=0.1, backoff_max_s=0.2
    )
    async with _running(instrument):
        losses = await sink.until(2, "dust1.pm10")
        assert all(r.reason is QualityReason.COMM_LOSS for r in losses)
        assert "does-not-exist" in losses[0].detail
        assert instrument.counters["reopens"] >= 2
