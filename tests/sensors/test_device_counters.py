"""DeviceCounters: classification, consecutive failures, bounded latency window."""

from __future__ import annotations

from edge.sensors.counters import LATENCY_WINDOW, DeviceCounters


def test_counts_and_consecutive_failures_reset_on_success() -> None:
    counters = DeviceCounters()
    for _ in range(3):
        counters.record_request()
    counters.record_timeout()
    counters.record_garbled()
    counters.record_exception(2)
    assert counters.consecutive_failures == 3
    counters.record_request()
    counters.record_success(0.012, 1000.0)
    as_dict = counters.to_dict()
    assert as_dict["requests"] == 4
    assert as_dict["responses"] == 2  # the exception answer and the good one
    assert as_dict["timeouts"] == 1
    assert as_dict["crc_errors"] == 1
    assert as_dict["exception_codes"] == {"2": 1}
    assert as_dict["consecutive_failures"] == 0
    assert as_dict["last_ok_wall"] == 1000.0
    assert as_dict["last_latency_s"] == 0.012


def test_latency_percentiles_over_a_bounded_window() -> None:
    counters = DeviceCounters()
    assert counters.latency_percentile(50) is None
    for index in range(1, 101):
        counters.record_success(index / 1000, 0.0)
    assert counters.latency_percentile(50) == 0.05
    assert counters.latency_percentile(99) == 0.099
    for _ in range(LATENCY_WINDOW):
        counters.record_success(0.5, 0.0)
    assert len(counters.latencies_s) == LATENCY_WINDOW
    assert counters.latency_percentile(50) == 0.5
