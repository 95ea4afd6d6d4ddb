"""Statutory rule profiles per jurisdiction, each value citing its source and confidence tag.

Tags follow ``/work/shared/regulations.md``: **[C]** primary text seen, **[S]** secondary source restating
it, **[R]** recalled and not confirmed. A profile is a default floor, not legal advice: sites tighten freely
and loosen only with a logged reason (``edge.rules.site``).

Deliberate simplifications, stated so that nobody mistakes them for the regulation:

* Restore (clear) limits: the statutes name the level at which work or power may resume (US "until
  < 1.0 %", China 复电 < 1.0 %); where they are silent the clear limit equals the limit, except oxygen, which
  gets a 0.2 %vol deadband on the clear side only (well inside the ±0.5 % detector accuracy of 75.320(b)).
* ``co_toxic`` compares instantaneous CO with the 50 ppm TWA of the 1972 ACGIH TLV list (75.322): treating a
  time-weighted average as a ceiling is conservative.
* Malfunction fail-safe trips are set only where a source requires them (machine-mounted methane monitors,
  30 CFR 27.21(f)); elsewhere a malfunction is signalled without driving outputs.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from edge.rules.signals import Direction, Priority, SignalClass
from edge.rules.thresholds import RateOfRise, Threshold
from edge.rules.units import METHANE_LEL_VOL_PERCENT_IEC, format_limit

ALARM_OUTPUTS = ("siren", "beacon")
TRIP_OUTPUTS = ("siren", "beacon", "power_trip")
ALERT_OUTPUTS = ("beacon",)


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleTemplate:
    """The rules of one kind of point (e.g. a working-place methane sensor), not yet bound to a point."""

    name: str
    label: str
    unit: str
    thresholds: tuple[Threshold, ...]
    rates: tuple[RateOfRise, ...] = ()
    malfunction_outputs: tuple[str, ...] = ()
    malfunction_source: str
    description: str
    parameters: tuple[str, ...] = ()  # the values it was built with, e.g. ("ambient",)
    lel_vol_percent: float | None = None  # set for methane: basis for %LEL readings


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateSpec:
    """A template that may need site parameters (CO limits are relative to the mine's ambient CO)."""

    name: str
    description: str
    parameters: tuple[str, ...]  # required parameter names, e.g. ("ambient",)
    build: Callable[[Mapping[str, float]], RuleTemplate]


@dataclass(frozen=True, slots=True, kw_only=True)
class Jurisdiction:
    key: str
    title: str
    sources: tuple[str, ...]
    templates: Mapping[str, TemplateSpec]


class UnknownRuleError(KeyError):
    """A jurisdiction or template name that does not exist; the message lists the allowed names."""

    def __str__(self) -> str:
        # KeyError would print the message in quotes, which hides the line breaks and the hint
        return str(self.args[0]) if self.args else ""


class TemplateParameterError(ValueError):
    """A template parameter that is missing, unexpected or out of range."""


def _unknown(kind: str, name: str, allowed: Iterable[str], context: str = "") -> UnknownRuleError:
    names = sorted(allowed)
    message = f"unknown {kind} {name!r}{context}; allowed: {', '.join(names)}"
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    return UnknownRuleError(message)


def _high(
    name: str,
    signal: SignalClass,
    limit: float,
    *,
    clear_limit: float | None = None,
    inclusive: bool = True,
    priority: Priority,
    action: str,
    source: str,
    outputs: tuple[str, ...],
    latch: bool = False,
) -> Threshold:
    return Threshold(
        name=name,
        signal=signal,
        direction=Direction.HIGH,
        limit=limit,
        clear_limit=limit if clear_limit is None else clear_limit,
        inclusive=inclusive,
        priority=priority,
        action=action,
        source=source,
        outputs=outputs,
        latch=latch,
    )


def _fixed(template: RuleTemplate) -> TemplateSpec:
    return TemplateSpec(name=template.name, description=template.description, parameters=(), build=lambda _: template)


# -- United States, coal (30 CFR Part 75 / 30 U.S.C. 863) --------------------------------------------------

_US_MALFUNCTION = "30 CFR 75.351 AMS malfunction signal [R]"

_US_METHANE_WORKING_PLACE = RuleTemplate(
    name="methane_working_place",
    label="Methane",
    unit="%",
    thresholds=(
        _high(
            "alert",
            SignalClass.ALERT,
            1.0,
            priority=Priority.HIGH,
            action="de-energize electric equipment in the affected area and adjust ventilation",
            source="30 CFR 75.323(b)(1) [S]",
            outputs=ALERT_OUTPUTS,
        ),
        _high(
            "alarm",
            SignalClass.ALARM,
            1.5,
            clear_limit=1.0,  # 75.323(b)(2): until methane is reduced below 1.0 %
            priority=Priority.CRITICAL,
            action="de-energize and withdraw persons",
            source="30 CFR 75.323(b)(2) [S]",
            outputs=TRIP_OUTPUTS,
            latch=True,
        ),
    ),
    malfunction_source=_US_MALFUNCTION,
    description="Methane in a working place or intake air course, incl. belt air course (75.323(b))",
    lel_vol_percent=METHANE_LEL_VOL_PERCENT_IEC,
)

_US_METHANE_RETURN_SPLIT = RuleTemplate(
    name="methane_return_split",
    label="Methane",
    unit="%",
    thresholds=(
        _high(
            "alert",
            SignalClass.ALERT,
            1.0,
            priority=Priority.HIGH,
            action="adjust ventilation to bring methane below 1.0 %",
            source="30 U.S.C. 863(i)(1) [C]; 30 CFR 75.323 return split [S]",
            outputs=ALERT_OUTPUTS,
        ),
        _high(
            "alarm",
            SignalClass.ALARM,
            1.5,
            clear_limit=1.0,  # 863(i)(2): power stays off until methane is below 1.0 %
            priority=Priority.CRITICAL,
            action="withdraw persons and cut off power to the endangered area",
            source="30 U.S.C. 863(i)(2) [C]; 30 CFR 75.323 return split [S]",
            outputs=TRIP_OUTPUTS,
            latch=True,
        ),
    ),
    malfunction_source=_US_MALFUNCTION,
    description="Methane in a return split before it joins another split (30 U.S.C. 863(i))",
    lel_vol_percent=METHANE_LEL_VOL_PERCENT_IEC,
)

_US_METHANE_MACHINE_MONITOR = RuleTemplate(
    name="methane_machine_monitor",
    label="Methane",
    unit="%",
    thresholds=(
        _high(
            "alert",
            SignalClass.ALERT,
            1.0,
            priority=Priority.HIGH,
            action="warn the machine operator",
            source="30 CFR 75.342 [R]; 30 CFR 27.22(b)(2) [C]",
            outputs=ALERT_OUTPUTS,
        ),
        _high(
            "alarm",
            SignalClass.ALARM,
            2.0,
            # The regulation leaves restart to a person; clearing below 1.0 % (the working-place level)
            # is a product choice, and the latch keeps the trip until reset anyway.
            clear_limit=1.0,
            priority=Priority.CRITICAL,
            action="de-energize the machine",
            source="30 CFR 75.342 [R]; 30 CFR 27.22(b)(3) [C]",
            outputs=TRIP_OUTPUTS,
            latch=True,
        ),
    ),
    malfunction_outputs=("power_trip",),
    malfunction_source="30 CFR 27.21(a),(f) fail-safe [C]; 30 CFR 75.342 [R]",
    description="Machine-mounted methane monitor: warn at 1.0 %, de-energize at 2.0 % or on monitor fault",
    lel_vol_percent=METHANE_LEL_VOL_PERCENT_IEC,
)

_US_OXYGEN = RuleTemplate(
    name="oxygen",
    label="Oxygen",
    unit="%",
    thresholds=(
        Threshold(
            name="alarm",
            signal=SignalClass.ALARM,
            direction=Direction.LOW,
            limit=19.5,
            clear_limit=19.7,  # deadband on the clear side only, see module docstring
            inclusive=False,  # "at least 19.5 percent oxygen": 19.5 itself is lawful
            priority=Priority.CRITICAL,
            action="ventilate the area; persons must not work or travel in it",
            source="30 CFR 75.321(a) [C]",
            outputs=ALARM_OUTPUTS,
            latch=False,
        ),
    ),
    malfunction_source=_US_MALFUNCTION,
    description="Oxygen where persons work or travel: at least 19.5 % (75.321(a))",
)

_US_CARBON_DIOXIDE = RuleTemplate(
    name="carbon_dioxide",
    label="Carbon dioxide",
    unit="%",
    thresholds=(
        _high(
            "alarm",
            SignalClass.ALARM,
            0.5,
            inclusive=False,  # "shall not contain more than 0.5 percent"
            priority=Priority.HIGH,
            action="ventilate the area; persons must not work or travel in it",
            source="30 CFR 75.321(a)(1) [C]",
            outputs=ALARM_OUTPUTS,
        ),
    ),
    malfunction_source=_US_MALFUNCTION,
    description="Carbon dioxide where persons work or travel: not more than 0.5 % (75.321(a)(1))",
)


def _finite_nonnegative(parameters: Mapping[str, float], name: str, template_name: str) -> float:
    value = parameters[name]
    if not (math.isfinite(value) and value >= 0):
        raise TemplateParameterError(
            f"template {template_name!r}: parameter {name!r} must be a finite number >= 0, got {value!r}"
        )
    return value


def _us_co_belt(parameters: Mapping[str, float]) -> RuleTemplate:
    ambient = _finite_nonnegative(parameters, "ambient", "co_belt")
    return RuleTemplate(
        name="co_belt",
        label="Carbon monoxide",
        unit="ppm",
        thresholds=(
            _high(
                "alert",
                SignalClass.ALERT,
                ambient + 5.0,
                priority=Priority.HIGH,
                action="identify the sensor, notify the AMS operator and investigate the cause",
                source="30 CFR 75.351 CO alert 5 ppm above ambient [R]",
                outputs=ALERT_OUTPUTS,
            ),
            _high(
                "alarm",
                SignalClass.ALARM,
                ambient + 10.0,
                priority=Priority.CRITICAL,
                action=("withdraw persons from the affected areas unless the cause is known not to be a hazard"),
                source="30 CFR 75.351 CO alarm 10 ppm above ambient [R]",
                outputs=ALARM_OUTPUTS,
                latch=True,
            ),
        ),
        malfunction_source=_US_MALFUNCTION,
        description=f"Belt-entry CO sensor (AMS), limits relative to the mine's ambient CO ({ambient:g} ppm)",
        parameters=("ambient",),
    )


_US_CO_TOXIC = RuleTemplate(
    name="co_toxic",
    label="Carbon monoxide",
    unit="ppm",
    thresholds=(
        _high(
            "alarm",
            SignalClass.ALARM,
            50.0,
            priority=Priority.HIGH,
            action="ventilate the area and keep persons out until CO is below the limit",
            source="30 CFR 75.322, 1972 ACGIH TLV CO 50 ppm TWA used as a ceiling [R]",
            outputs=ALARM_OUTPUTS,
        ),
    ),
    malfunction_source=_US_MALFUNCTION,
    description="Toxic CO limit (75.322 / 1972 TLV 50 ppm, applied as a ceiling: conservative)",
)

_US_MSHA_COAL = Jurisdiction(
    key="us_msha_coal",
    title="United States, underground coal (MSHA, 30 CFR Part 75)",
    sources=(
        "30 CFR 75.321, 75.322, 75.323, 75.342, 75.351",
        "30 CFR 27.21, 27.22",
        "30 U.S.C. 863(i)",
    ),
    templates=MappingProxyType(
        {
            spec.name: spec
            for spec in (
                _fixed(_US_METHANE_WORKING_PLACE),
                _fixed(_US_METHANE_RETURN_SPLIT),
                _fixed(_US_METHANE_MACHINE_MONITOR),
                _fixed(_US_OXYGEN),
                _fixed(_US_CARBON_DIOXIDE),
                TemplateSpec(
                    name="co_belt",
                    description="Belt-entry CO sensor: alert ambient + 5 ppm, alarm ambient + 10 ppm",
                    parameters=("ambient",),
                    build=_us_co_belt,
                ),
                _fixed(_US_CO_TOXIC),
            )
        }
    ),
)


# -- China, coal (煤矿安全规程 2016/2022; AQ 1029-2007 sensor setting table) ------------------------------

_CN_REGULATION = "煤矿安全规程"
_CN_TABLE = "AQ 1029-2007 sensor table"
_CN_MALFUNCTION = "minegate fail-safe floor (regulations.md 2.4); no specific article [R]"


def _cn_methane(
    name: str,
    *,
    place: str,
    alarm_at: float,
    power_off_at: float,
    restore_below: float,
    where: str,
) -> RuleTemplate:
    return RuleTemplate(
        name=name,
        label="Methane",
        unit="%",
        thresholds=(
            _high(
                "alert",
                SignalClass.ALERT,
                alarm_at,
                priority=Priority.HIGH,
                action="报警: stop electric drilling and blasting; find and treat the cause",
                source=f"{_CN_REGULATION} [S]; {_CN_TABLE} {where} 报警 [S]",
                outputs=ALERT_OUTPUTS,
            ),
            _high(
                "alarm",
                SignalClass.ALARM,
                power_off_at,
                clear_limit=restore_below,  # 复电: power may be restored only below this
                priority=Priority.CRITICAL,
                action="断电: cut power, stop work and withdraw persons",
                source=f"{_CN_REGULATION} [S]; {_CN_TABLE} {where} 断电/复电 [S]",
                outputs=TRIP_OUTPUTS,
                latch=True,
            ),
        ),
        malfunction_source=_CN_MALFUNCTION,
        description=(
            f"Methane {place} ({where}): 报警 >= {format_limit(alarm_at, '%')} %, "
            f"断电 >= {format_limit(power_off_at, '%')} %, 复电 < {format_limit(restore_below, '%')} %"
        ),
        lel_vol_percent=METHANE_LEL_VOL_PERCENT_IEC,
    )


_CN_AIR_QUALITY = f"{_CN_REGULATION} air quality limits [S]"


def _cn_gas_limit(
    name: str,
    label: str,
    unit: str,
    limit: float,
    *,
    inclusive: bool,
    action: str,
    source: str,
    description: str,
) -> RuleTemplate:
    return RuleTemplate(
        name=name,
        label=label,
        unit=unit,
        thresholds=(
            _high(
                "alarm",
                SignalClass.ALARM,
                limit,
                inclusive=inclusive,
                priority=Priority.HIGH,
                action=action,
                source=source,
                outputs=ALARM_OUTPUTS,
            ),
        ),
        malfunction_source=_CN_MALFUNCTION,
        description=description,
    )


_CN_OXYGEN = RuleTemplate(
    name="oxygen",
    label="Oxygen",
    unit="%",
    thresholds=(
        Threshold(
            name="alarm",
            signal=SignalClass.ALARM,
            direction=Direction.LOW,
            limit=20.0,
            clear_limit=20.2,  # deadband on the clear side only, see module docstring
            inclusive=False,  # "O2 >= 20 %": 20.0 itself is lawful
            priority=Priority.CRITICAL,
            action="ventilate the area; persons must not work in it",
            source=f"{_CN_AIR_QUALITY} O2 >= 20 %",
            outputs=ALARM_OUTPUTS,
            latch=False,
        ),
    ),
    malfunction_source=_CN_MALFUNCTION,
    description="Oxygen at intake and working places: at least 20 %",
)

_CN_COAL = Jurisdiction(
    key="cn_coal",
    title="China, coal (煤矿安全规程 2016, amended 2022; AQ 1029 sensor settings)",
    sources=(
        "煤矿安全规程 (SAWS Order No. 87, 2016; MEM Order No. 8, effective 2022-04-01)",
        "AQ 1029-2007 煤矿安全监控系统及检测仪器使用管理规范, methane sensor setting table",
    ),
    templates=MappingProxyType(
        {
            spec.name: spec
            for spec in (
                _fixed(
                    _cn_methane(
                        "methane_face_t1",
                        place="at a longwall or heading face",
                        alarm_at=1.0,
                        power_off_at=1.5,
                        restore_below=1.0,
                        where="T1",
                    )
                ),
                _fixed(
                    _cn_methane(
                        "methane_return_t2",
                        place="in a face return roadway",
                        alarm_at=1.0,
                        power_off_at=1.0,
                        restore_below=1.0,
                        where="T2",
                    )
                ),
                _fixed(
                    _cn_methane(
                        "methane_intake_t3",
                        place="in the intake of a high-gas or outburst mine",
                        alarm_at=0.5,
                        power_off_at=0.5,
                        restore_below=0.5,
                        where="T3",
                    )
                ),
                _fixed(_CN_OXYGEN),
                _fixed(
                    _cn_gas_limit(
                        "carbon_monoxide",
                        "Carbon monoxide",
                        "ppm",
                        24.0,
                        inclusive=True,  # common sensor setting: alarm at >= 24 ppm
                        action="ventilate the area and withdraw persons until CO is below 24 ppm",
                        source=f"{_CN_AIR_QUALITY} CO <= 0.0024 % (24 ppm)",
                        description="Carbon monoxide: 24 ppm (0.0024 %)",
                    )
                ),
                _fixed(
                    _cn_gas_limit(
                        "carbon_dioxide",
                        "Carbon dioxide",
                        "%",
                        0.5,
                        inclusive=False,
                        action="ventilate the area; persons must not work in it",
                        source=f"{_CN_AIR_QUALITY} CO2 <= 0.5 % at intake and working places",
                        description="Carbon dioxide at intake and working places: not more than 0.5 %",
                    )
                ),
                _fixed(
                    _cn_gas_limit(
                        "carbon_dioxide_return",
                        "Carbon dioxide",
                        "%",
                        1.5,
                        inclusive=False,
                        action="stop work, withdraw persons and take measures",
                        source=f"{_CN_REGULATION} district/face return CO2 > 1.5 % [S]",
                        description="Carbon dioxide in a district or face return: more than 1.5 % stops work",
                    )
                ),
            )
        }
    ),
)

_JURISDICTIONS: Mapping[str, Jurisdiction] = MappingProxyType({j.key: j for j in (_US_MSHA_COAL, _CN_COAL)})


def jurisdictions() -> Mapping[str, Jurisdiction]:
    """Every built-in jurisdiction by key (read-only)."""
    return _JURISDICTIONS


def template(jurisdiction: str, name: str, *, parameters: Mapping[str, float] | None = None) -> RuleTemplate:
    """The template ``name`` of ``jurisdiction``, built with ``parameters``.

    Raises ``UnknownRuleError`` (a ``KeyError``) for an unknown jurisdiction or template, and
    ``TemplateParameterError`` for a missing, unexpected or invalid parameter.
    """
    given = dict(parameters or {})
    profile = _JURISDICTIONS.get(jurisdiction)
    if profile is None:
        raise _unknown("jurisdiction", jurisdiction, _JURISDICTIONS)
    spec = profile.templates.get(name)
    if spec is None:
        raise _unknown("rule template", name, profile.templates, f" in jurisdiction {jurisdiction!r}")
    missing = [p for p in spec.parameters if p not in given]
    if missing:
        raise TemplateParameterError(
            f"template {jurisdiction}/{name} needs parameter(s) {', '.join(missing)}: "
            f"add them under `parameters:` (e.g. {missing[0]}: <value>)"
        )
    unexpected = sorted(set(given) - set(spec.parameters))
    if unexpected:
        accepted = ", ".join(spec.parameters) or "none"
        raise TemplateParameterError(
            f"template {jurisdiction}/{name} does not take parameter(s) {', '.join(unexpected)} (accepted: {accepted})"
        )
    return spec.build(given)
