"""The reading contract every sensor source produces and every consumer trusts.

A reading never hides a fault behind a number: when the quality is not ``GOOD`` the reason says why, and a
transmitter in fault or inhibit yields ``BAD`` with ``value`` either ``None`` or the last raw value for
diagnostics only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Quality(enum.StrEnum):
    GOOD = "good"
    UNCERTAIN = "uncertain"
    BAD = "bad"


class QualityReason(enum.StrEnum):
    """Why a reading is not good. Empty reason only with ``Quality.GOOD``."""

    NONE = ""
    COMM_LOSS = "comm_loss"  # no answer from the device within its retries
    DEVICE_EXCEPTION = "device_exception"  # Modbus exception response
    STALE = "stale"  # no fresh value for longer than allowed
    STUCK = "stuck"  # value identical for longer than a live sensor would hold it
    FROZEN = "frozen"  # heartbeat register stopped moving
    OUT_OF_RANGE = "out_of_range"  # outside the instrument's measuring range
    FAULT = "fault"  # transmitter reports a fault
    INHIBIT = "inhibit"  # transmitter in inhibit / maintenance / calibration
    WARM_UP = "warm_up"  # transmitter warming up
    WARNING = "warning"  # transmitter reports a non-fatal warning
    DECODE_ERROR = "decode_error"  # registers could not be decoded (NaN, bad length)
    PARSE_ERROR = "parse_error"  # serial line did not match the configured parser


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of one configured point at one instant.

    ``t_mono`` orders and measures intervals (monotonic seconds); ``t_wall`` is UTC epoch seconds for records.
    """

    point_id: str
    t_mono: float
    t_wall: float
    value: float | None
    unit: str
    quality: Quality
    reason: QualityReason = QualityReason.NONE
    detail: str = ""

    @property
    def usable(self) -> bool:
        """True when the value may drive a threshold decision."""
        return self.quality is not Quality.BAD and self.value is not None
