"""Per-device Modbus communication counters, for status pages and for telling a bad cable from a dead device.

Timeouts point at wiring, power or a wrong unit id; framing/CRC errors at noise, termination or a second
master on the bus; exception codes at a wrong register map. Keeping them apart saves a trip underground.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field

LATENCY_WINDOW = 1000  # most recent successful requests kept for the latency percentiles


@dataclass
class DeviceCounters:
    """Counts per request attempt (a retried request counts once per attempt)."""

    requests: int = 0
    responses: int = 0  # any answer, including Modbus exception responses
    timeouts: int = 0
    crc_errors: int = 0  # framing, CRC or otherwise garbled answers
    exception_codes: Counter[int] = field(default_factory=Counter)
    consecutive_failures: int = 0  # failed attempts since the last good answer
    skipped_polls: int = 0  # polls dropped because the bus was late (never queued)
    last_latency_s: float | None = None
    last_ok_wall: float | None = None
    latencies_s: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))

    def record_request(self) -> None:
        self.requests += 1

    def record_success(self, latency_s: float, t_wall: float) -> None:
        self.responses += 1
        self.consecutive_failures = 0
        self.last_latency_s = latency_s
        self.last_ok_wall = t_wall
        self.latencies_s.append(latency_s)

    def record_timeout(self) -> None:
        self.timeouts += 1
        self.consecutive_failures += 1

    def record_garbled(self) -> None:
        self.crc_errors += 1
        self.consecutive_failures += 1

    def record_exception(self, code: int) -> None:
        # The device answered, so the link is fine, but the request failed: still a failure for the cycle.
        self.responses += 1
        self.exception_codes[code] += 1
        self.consecutive_failures += 1

    def latency_percentile(self, percent: float) -> float | None:
        """Nearest-rank percentile of the recent latencies, or None before the first answer."""
        if not self.latencies_s:
            return None
        ordered = sorted(self.latencies_s)
        rank = max(1, math.ceil(percent / 100.0 * len(ordered)))
        return ordered[min(rank, len(ordered)) - 1]

    def to_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "responses": self.responses,
            "timeouts": self.timeouts,
            "crc_errors": self.crc_errors,
            "exception_codes": {str(code): count for code, count in sorted(self.exception_codes.items())},
            "consecutive_failures": self.consecutive_failures,
            "skipped_polls": self.skipped_polls,
            "last_latency_s": self.last_latency_s,
            "latency_p50_s": self.latency_percentile(50),
            "latency_p99_s": self.latency_percentile(99),
            "last_ok_wall": self.last_ok_wall,
        }
