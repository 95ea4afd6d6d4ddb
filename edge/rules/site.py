"""Binding a statutory template to one site point: tightening freely, loosening only with a logged reason.

The regulation is the floor. A site may alarm earlier, clear later, react faster or drive more outputs
without asking anyone; anything that alarms later, clears sooner or waits longer must carry an
``override_reason`` and is returned as an ``OverrideRecord`` that the application journals at start-up.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from edge.rules.jurisdictions import RuleTemplate
from edge.rules.signals import Direction
from edge.rules.thresholds import PointRules, RuleDefinitionError, Threshold

LEL_BASIS = "lel_vol_percent"  # OverrideRecord.field for an instrument LEL basis differing from the template


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitOverride:
    """Site values for one threshold of a template; ``None`` keeps the statutory value."""

    threshold: str  # threshold name in the template, e.g. "alarm"
    limit: float | None = None
    clear_limit: float | None = None
    on_delay_s: float | None = None
    extra_outputs: tuple[str, ...] = ()  # added to the statutory outputs, never replacing them


@dataclass(frozen=True, slots=True, kw_only=True)
class OverrideRecord:
    """One field of one point that differs from the statutory template."""

    point_id: str
    threshold: str  # "" for a point-wide field (the LEL basis)
    field: str  # "limit", "clear_limit", "on_delay_s" or "lel_vol_percent"
    statutory_value: float
    site_value: float
    loosens: bool
    reason: str  # the site's override_reason ("" for a tightening without one)
    source: str = ""  # the statutory source of the value being changed

    def describe(self) -> str:
        """One line for the start-up log and the journal."""
        kind = "LOOSENED" if self.loosens else "tightened"
        where = f"{self.point_id}:{self.threshold}" if self.threshold else self.point_id
        text = f"{where} {self.field} {kind}: statutory {self.statutory_value:g} -> site {self.site_value:g}"
        if self.source:
            text += f" ({self.source})"
        if self.reason:
            text += f"; reason: {self.reason}"
        return text


class LooseningWithoutReason(ValueError):
    """A site value less protective than the statutory one, without an ``override_reason``."""

    def __init__(self, records: Sequence[OverrideRecord]) -> None:
        self.records = tuple(records)
        lines = [
            f"point {r.point_id!r}"
            + (f", threshold {r.threshold!r}" if r.threshold else "")
            + f": {r.field} {r.site_value:g} is less protective than the statutory {r.statutory_value:g}"
            + (f" ({r.source})" if r.source else "")
            for r in self.records
        ]
        lines.append(
            "add `override_reason:` to the point explaining why (it is journalled at every start-up), "
            "or keep the statutory value"
        )
        super().__init__("\n".join(lines))


class UnknownThresholdError(ValueError):
    """An override names a threshold that the template does not have."""


def _loosens(direction: Direction, field: str, statutory: float, site: float) -> bool:
    if field == "on_delay_s":
        return site > statutory
    # Both limit and clear_limit: moving them up lets a HIGH condition alarm later / clear sooner.
    return site > statutory if direction is Direction.HIGH else site < statutory


def _apply(
    point_id: str, statutory: Threshold, override: LimitOverride, reason: str
) -> tuple[Threshold, list[OverrideRecord]]:
    high = statutory.direction is Direction.HIGH
    limit = statutory.limit if override.limit is None else override.limit
    clear_limit = statutory.clear_limit if override.clear_limit is None else override.clear_limit
    if override.clear_limit is None and (clear_limit > limit if high else clear_limit < limit):
        # A tightened limit moved past the statutory clear limit: clear at the new limit (more protective).
        clear_limit = limit
    on_delay_s = statutory.on_delay_s if override.on_delay_s is None else override.on_delay_s
    for name, value in (("limit", limit), ("clear_limit", clear_limit), ("on_delay_s", on_delay_s)):
        if not math.isfinite(value):
            raise RuleDefinitionError(
                f"point {point_id!r}, threshold {statutory.name!r}: {name} must be a finite number"
            )

    records = [
        OverrideRecord(
            point_id=point_id,
            threshold=statutory.name,
            field=name,
            statutory_value=old,
            site_value=new,
            loosens=_loosens(statutory.direction, name, old, new),
            reason=reason,
            source=statutory.source,
        )
        for name, old, new in (
            ("limit", statutory.limit, limit),
            ("clear_limit", statutory.clear_limit, clear_limit),
            ("on_delay_s", statutory.on_delay_s, on_delay_s),
        )
        if new != old
    ]
    outputs = statutory.outputs + tuple(dict.fromkeys(o for o in override.extra_outputs if o not in statutory.outputs))
    source = statutory.source
    if any(r.loosens for r in records):
        source += f"; site-loosened: {reason}"
    elif records:
        source += "; site-tightened"
    try:
        adjusted = dataclasses.replace(
            statutory,
            limit=limit,
            clear_limit=clear_limit,
            on_delay_s=on_delay_s,
            outputs=outputs,
            source=source,
        )
    except RuleDefinitionError as error:
        raise RuleDefinitionError(f"point {point_id!r}: {error}") from error
    return adjusted, records


def build_point_rules(
    point_id: str,
    location: str,
    template: RuleTemplate,
    overrides: Sequence[LimitOverride] = (),
    *,
    override_reason: str | None = None,
    label: str | None = None,
    lel_vol_percent: float | None = None,
) -> tuple[PointRules, list[OverrideRecord]]:
    """The rules of ``point_id`` from ``template`` with the site's ``overrides`` applied.

    ``lel_vol_percent`` replaces the template's LEL basis for an instrument calibrated on another one
    (e.g. 5.0 %vol methane); a smaller basis reads lower, so it counts as loosening.
    Raises ``UnknownThresholdError``, ``LooseningWithoutReason`` or ``RuleDefinitionError``.
    """
    reason = (override_reason or "").strip()
    statutory = {t.name: t for t in template.thresholds}
    by_threshold: dict[str, LimitOverride] = {}
    for override in overrides:
        if override.threshold not in statutory:
            allowed = sorted(statutory)
            hint = difflib.get_close_matches(override.threshold, allowed, n=1)
            raise UnknownThresholdError(
                f"point {point_id!r}: template {template.name!r} has no threshold {override.threshold!r}; "
                f"allowed: {', '.join(allowed)}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
            )
        if override.threshold in by_threshold:
            raise RuleDefinitionError(
                f"point {point_id!r}: threshold {override.threshold!r} is overridden twice; merge the entries"
            )
        by_threshold[override.threshold] = override

    records: list[OverrideRecord] = []
    thresholds: list[Threshold] = []
    for threshold in template.thresholds:
        site_override = by_threshold.get(threshold.name)
        if site_override is None:
            thresholds.append(threshold)
            continue
        adjusted, changed = _apply(point_id, threshold, site_override, reason)
        thresholds.append(adjusted)
        records.extend(changed)

    lel = template.lel_vol_percent
    if lel_vol_percent is not None and lel_vol_percent != lel:
        if lel is None:
            raise RuleDefinitionError(
                f"point {point_id!r}: template {template.name!r} is not a methane rule, so it has no LEL "
                "basis to change; give the point's readings in the rule's unit "
                f"({template.unit})"
            )
        records.append(
            OverrideRecord(
                point_id=point_id,
                threshold="",
                field=LEL_BASIS,
                statutory_value=lel,
                site_value=lel_vol_percent,
                loosens=lel_vol_percent < lel,
                reason=reason,
                source="IEC 60079-20-1 methane LEL 4.4 %vol",
            )
        )
        lel = lel_vol_percent

    loosening = [r for r in records if r.loosens]
    if loosening and not reason:
        raise LooseningWithoutReason(loosening)
    rules = PointRules(
        point_id=point_id,
        label=template.label if label is None else label,
        location=location,
        unit=template.unit,
        thresholds=tuple(thresholds),
        rates=template.rates,
        malfunction_outputs=template.malfunction_outputs,
        malfunction_source=template.malfunction_source,
        lel_vol_percent=lel,
    )
    return rules, records
