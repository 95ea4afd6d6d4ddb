"""The statutory methane alarm level the forecast is timed against: the one the gateway itself enforces.

A site may tighten its face methane point's limits; a warning that says "1.5 % in ~8 min" when the rule layer
trips at 1.25 % would mislead, so the face point's own bound alarm threshold wins, and the jurisdiction's template
(``edge.hazard.contract.statutory_rules``) applies only when the face channel is unmapped or carries no rule.
"""

from __future__ import annotations

from collections.abc import Iterable

from edge.hazard.channels import ChannelMap
from edge.hazard.contract import FORECAST_CHANNEL, statutory_rules
from edge.rules.signals import Direction, SignalClass
from edge.rules.thresholds import PointRules
from edge.rules.units import convert


def face_alarm_level(jurisdiction: str, rules: Iterable[PointRules], channel_map: ChannelMap) -> float:
    """Face methane statutory alarm limit in %vol."""
    mapped = channel_map.for_role(FORECAST_CHANNEL)
    if mapped is not None:
        for point in rules:
            if point.point_id != mapped.point_id:
                continue
            for threshold in point.thresholds:
                if threshold.signal is SignalClass.ALARM and threshold.direction is Direction.HIGH:
                    basis = point.lel_vol_percent
                    return convert(threshold.limit, point.unit, "%vol", lel_vol_percent=basis)
    template = statutory_rules(jurisdiction, co_ambient_ppm=0.0)[FORECAST_CHANNEL]
    for threshold in template.thresholds:
        if threshold.signal is SignalClass.ALARM and threshold.direction is Direction.HIGH:
            return convert(threshold.limit, template.unit, "%vol", lel_vol_percent=template.lel_vol_percent)
    raise ValueError(f"jurisdiction {jurisdiction!r} has no methane alarm level for {FORECAST_CHANNEL}")
