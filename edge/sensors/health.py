"""Plausibility checks every reading passes before a rule sees it: measuring range, stuck value, staleness.

Pure and clock-free: time comes from the readings themselves (``t_mono``) and from the caller of
``stale``. A transmitter that is dead but still answers tends to repeat one value; a bus task that hangs
sends nothing at all. The first becomes ``UNCERTAIN``/``STUCK``, the second ``BAD``/``STALE``.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable
from dataclasses import replace

from edge.config.resolved import LinePointSpec, PointSpec
from edge.readings import Quality, QualityReason, Reading

logger = logging.getLogger(__name__)


def _bits_of(value: float) -> bytes:
    # Bit identity, not equality: a live analogue sensor jitters in the last bits even when "steady".
    return struct.pack("<d", value)


def _format_number(value: float) -> str:
    return f"{value:g}"


class PointHealth:
    """The health state of one point between readings."""

    def __init__(self, spec: PointSpec | LinePointSpec) -> None:
        self.spec = spec
        self.last_seen_mono: float | None = None
        self.stale_reported = False
        self._stuck_bits: bytes | None = None
        self._stuck_since_mono = 0.0

    @property
    def checks_quality(self) -> bool:
        """Diagnostic registers (status words, heartbeat counters) get no range or stuck rule."""
        return not (isinstance(self.spec, PointSpec) and self.spec.diagnostic)

    def check(self, reading: Reading) -> Reading:
        self.last_seen_mono = reading.t_mono
        self.stale_reported = False
        if reading.quality is Quality.BAD or reading.value is None:
            # A gap in good values breaks the "unchanged for so long" chain.
            self._stuck_bits = None
            return reading
        if not self.checks_quality:
            return reading
        out_of_range = self._check_range(reading, reading.value)
        if out_of_range is not None:
            self._stuck_bits = None
            return out_of_range
        return self._check_stuck(reading, reading.value)

    def _check_range(self, reading: Reading, value: float) -> Reading | None:
        measuring_range = self.spec.measuring_range
        if measuring_range is None:
            return None
        low, high = measuring_range
        if low <= value <= high:
            return None
        unit = f" {self.spec.unit}" if self.spec.unit else ""
        return replace(
            reading,
            quality=Quality.BAD,
            reason=QualityReason.OUT_OF_RANGE,
            detail=(
                f"value {_format_number(value)}{unit} outside measuring range "
                f"{_format_number(low)}..{_format_number(high)}{unit}"
            ),
        )

    def _check_stuck(self, reading: Reading, value: float) -> Reading:
        stuck_after_s = self.spec.stuck_after_s
        if stuck_after_s is None:
            return reading
        bits = _bits_of(value)
        if bits != self._stuck_bits:
            self._stuck_bits = bits
            self._stuck_since_mono = reading.t_mono
            return reading
        unchanged_s = reading.t_mono - self._stuck_since_mono
        if unchanged_s < stuck_after_s:
            return reading
        # A device that already reports BAD/UNCERTAIN keeps its own reason: it is the more specific one.
        if reading.quality is not Quality.GOOD:
            return reading
        return replace(
            reading,
            quality=Quality.UNCERTAIN,
            reason=QualityReason.STUCK,
            detail=(
                f"value {_format_number(value)} bit-identical for {unchanged_s:.0f} s "
                f"(limit {_format_number(stuck_after_s)} s): sensor may be dead"
            ),
        )

    def stale_reading(self, now_mono: float, now_wall: float, since_mono: float) -> Reading:
        self.stale_reported = True
        age_s = now_mono - since_mono
        return Reading(
            point_id=self.spec.point_id,
            t_mono=now_mono,
            t_wall=now_wall,
            value=None,
            unit=self.spec.unit,
            quality=Quality.BAD,
            reason=QualityReason.STALE,
            detail=f"no reading for {age_s:.1f} s (limit {_format_number(self.spec.stale_after_s)} s)",
        )


class HealthMonitor:
    """Health checks for a set of points, keyed by ``point_id``."""

    def __init__(self, points: Iterable[PointSpec | LinePointSpec]) -> None:
        self._points: dict[str, PointHealth] = {}
        for spec in points:
            if spec.point_id in self._points:
                raise ValueError(f"point id {spec.point_id!r} is configured twice; point ids must be unique")
            self._points[spec.point_id] = PointHealth(spec)
        self._watch_start_mono: float | None = None

    def check(self, reading: Reading) -> Reading:
        """The reading, downgraded when it fails a range or stuck check. BAD readings pass unchanged."""
        health = self._points.get(reading.point_id)
        if health is None:
            logger.debug("reading for unmonitored point %s passed through unchecked", reading.point_id)
            return reading
        return health.check(reading)

    def stale(self, now_mono: float, now_wall: float) -> list[Reading]:
        """BAD/STALE readings for points silent longer than ``stale_after_s``, once per silence.

        A point that never reported counts from the first call, so a source that never starts is caught too.
        """
        if self._watch_start_mono is None:
            self._watch_start_mono = now_mono
        readings: list[Reading] = []
        for health in self._points.values():
            if health.stale_reported:
                continue
            since = health.last_seen_mono if health.last_seen_mono is not None else self._watch_start_mono
            if now_mono - since > health.spec.stale_after_s:
                readings.append(health.stale_reading(now_mono, now_wall, since))
        if readings:
            logger.warning("%d point(s) stale: %s", len(readings), ", ".join(reading.point_id for reading in readings))
        return readings
