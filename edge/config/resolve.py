"""Load a gateway config, merge device profiles, check every cross-reference, and resolve the plan.

All problems are collected and raised together in one ``ConfigError``: structural problems first (the
schema), then, when the structure is sound, every reference, profile and rule problem at once.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from edge.camera.config import CamerasSection
from edge.config.issues import ConfigError, ConfigIssue, PathPart, did_you_mean
from edge.config.resolved import (
    AckInputSpec,
    AlarmSettings,
    BusKind,
    BusSpec,
    ConditionKind,
    DeviceSpec,
    GatewaySpec,
    InstrumentSpec,
    LinePointSpec,
    LocalizationSpec,
    OutputSpec,
    PointSpec,
    QualityCondition,
)
from edge.config.salvage import Salvaged, salvage
from edge.config.schema import (
    ConfigModel,
    DeviceModel,
    DeviceProfileModel,
    LimitOverrideModel,
    PointOverride,
    RegisterFields,
    RtuBusModel,
    RuleBinding,
    TcpBusModel,
    parse_modicon,
)
from edge.config.validate import issues_from_validation_error
from edge.config.yaml_lines import LineMap, load_yaml
from edge.dtn.config import NodeSpec, resolve_gateway_section
from edge.hazard.config import HazardSection
from edge.hazard.config import resolve_section as resolve_hazard_section
from edge.logbook.config import LogbookSection, resolve_section
from edge.modbus.codec import ByteOrder, DataType, WordOrder, register_count
from edge.modbus.planner import Table
from edge.rules.jurisdictions import TemplateParameterError, UnknownRuleError, jurisdictions, template
from edge.rules.site import LimitOverride, OverrideRecord, build_point_rules
from edge.rules.thresholds import PointRules
from edge.rules.units import check_unit
from edge.status_page.config import StatusPageSection
from edge.status_page.config import resolve_section as resolve_status_page_section

log = logging.getLogger(__name__)
_M = TypeVar("_M", bound=BaseModel)

BUILTIN_PROFILES = Path(__file__).resolve().parent.parent / "profiles"


@dataclass(frozen=True, slots=True)
class LoadedProfile:
    model: DeviceProfileModel
    lines: LineMap


@dataclass(frozen=True)
class LoadedConfig:
    spec: GatewaySpec
    rules: tuple[PointRules, ...]
    overrides: tuple[OverrideRecord, ...]
    warnings: tuple[ConfigIssue, ...]
    profiles: Mapping[str, LoadedProfile] = field(default_factory=dict)


def _validate(model: type[_M], data: Any, lines: LineMap) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(issues_from_validation_error(exc, model, data, lines)) from None


def load_profiles(directories: Sequence[Path]) -> dict[str, LoadedProfile]:
    """Every ``*.yaml`` profile in ``directories``; later directories override earlier ones by name."""
    profiles, issues = _load_profiles(directories)
    if issues:
        raise ConfigError(issues)
    return profiles


def _load_profiles(directories: Sequence[Path]) -> tuple[dict[str, LoadedProfile], list[ConfigIssue]]:
    profiles: dict[str, LoadedProfile] = {}
    issues: list[ConfigIssue] = []
    for directory in directories:
        if not directory.is_dir():
            issues.append(ConfigIssue(str(directory), None, (), "profiles directory does not exist"))
            continue
        for path in sorted(directory.glob("*.yaml")):
            try:
                data, lines = load_yaml(path)
                profile = _validate(DeviceProfileModel, data, lines)
            except ConfigError as exc:
                issues.extend(exc.issues)
                continue
            if profile.name != path.stem:
                issues.append(
                    ConfigIssue(
                        str(path),
                        lines.line_of(("name",)),
                        ("name",),
                        f"profile name must match the file name {path.stem!r}",
                        value=profile.name,
                        has_value=True,
                    )
                )
            issues.extend(_check_profile(profile, lines))
            profiles[profile.name] = LoadedProfile(profile, lines)
    return profiles, issues


def _check_profile(profile: DeviceProfileModel, lines: LineMap) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for name, point in profile.points.items():
        if point.modicon is None and point.table is None:
            issues.append(
                ConfigIssue(
                    lines.file,
                    lines.line_of(("points", name)),
                    ("points", name),
                    "a profile point needs 'register' or 'table' + 'address'",
                )
            )
        if point.type is None:
            issues.append(
                ConfigIssue(
                    lines.file,
                    lines.line_of(("points", name)),
                    ("points", name, "type"),
                    "a profile point needs 'type'",
                    allowed=", ".join(d.value for d in DataType),
                )
            )
    refs: list[tuple[tuple[PathPart, ...], str]] = [
        (("quality", i, "point"), c.point) for i, c in enumerate(profile.quality)
    ]
    if profile.heartbeat is not None:
        refs.append((("heartbeat", "point"), profile.heartbeat.point))
    for path, ref in refs:
        if ref not in profile.points:
            issues.append(
                ConfigIssue(
                    lines.file,
                    lines.line_of(path),
                    path,
                    "no such profile point",
                    value=ref,
                    has_value=True,
                    allowed=", ".join(profile.points),
                    suggestion=did_you_mean(ref, profile.points),
                )
            )
    return issues


class _Resolver:
    def __init__(
        self, config: ConfigModel, lines: LineMap, profiles: Mapping[str, LoadedProfile], base_dir: Path
    ) -> None:
        self.config = config
        self.lines = lines
        self.profiles = profiles
        self.base_dir = base_dir
        self.issues: list[ConfigIssue] = []
        self.warnings: list[ConfigIssue] = []
        self.rules: list[PointRules] = []
        self.overrides: list[OverrideRecord] = []
        self.output_names_used: dict[str, tuple[PathPart, ...]] = {}
        self.positions: dict[str, list[int]] = {}
        self.broken_ids: dict[str, set[str]] = {}

    def at(self, section: str, index: int) -> int:
        """Where entry ``index`` of a (possibly salvaged) section stands in the file."""
        positions = self.positions.get(section)
        return positions[index] if positions is not None else index

    def is_broken(self, section: str, ident: str) -> bool:
        return ident in self.broken_ids.get(section, set())

    def error(
        self,
        path: tuple[PathPart, ...],
        message: str,
        *,
        value: object = None,
        has_value: bool = False,
        allowed: str = "",
        suggestion: str | None = None,
    ) -> None:
        self.issues.append(
            ConfigIssue(
                self.lines.file,
                self.lines.line_of(path),
                path,
                message,
                value=value,
                has_value=has_value,
                allowed=allowed,
                suggestion=suggestion,
            )
        )

    def warn(self, path: tuple[PathPart, ...], message: str) -> None:
        self.warnings.append(ConfigIssue(self.lines.file, self.lines.line_of(path), path, message, severity="warning"))

    def unknown(self, path: tuple[PathPart, ...], what: str, value: str, known: Sequence[str]) -> None:
        self.error(
            path,
            f"no {what} of that name",
            value=value,
            has_value=True,
            allowed=", ".join(known) or "(none defined)",
            suggestion=did_you_mean(value, known),
        )

    # ---- top level ---------------------------------------------------------------------------------
    def resolve(self) -> GatewaySpec:
        cfg = self.config
        if cfg.gateway.jurisdiction not in jurisdictions():
            self.unknown(("gateway", "jurisdiction"), "jurisdiction", cfg.gateway.jurisdiction, sorted(jurisdictions()))
        self._unique("buses", [b.id for b in cfg.buses], "bus id")
        self._unique("devices", [d.id for d in cfg.devices], "device id")
        self._unique("instruments", [i.id for i in cfg.instruments], "instrument id")
        buses = tuple(self._bus(b) for b in cfg.buses)
        devices = tuple(d for d in (self._device(i, d) for i, d in enumerate(cfg.devices)) if d is not None)
        instruments = tuple(self._instrument(i, m) for i, m in enumerate(cfg.instruments))
        self._unique_points(devices, instruments)
        outputs = self._outputs()
        ack = self._ack()
        for name, path in self.output_names_used.items():
            if name not in cfg.outputs and name != "heartbeat":
                self.warn(
                    path,
                    f"a rule drives output {name!r} but no output of that name is configured; "
                    "the alarm is journaled and published but switches no relay",
                )
        data_dir = Path(os.path.normpath(self.base_dir / cfg.gateway.data_dir))
        control = cfg.gateway.control
        return GatewaySpec(
            gateway_id=cfg.gateway.id,
            site=cfg.gateway.site,
            jurisdiction=cfg.gateway.jurisdiction,
            data_dir=str(data_dir),
            publish_endpoint=cfg.gateway.publish,
            control_endpoint=control,
            buses=buses,
            devices=devices,
            instruments=instruments,
            outputs=outputs,
            ack_input=ack,
            alarms=AlarmSettings(
                chatter_count=cfg.alarms.chatter_count,
                chatter_window_s=cfg.alarms.chatter_window,
                flood_on_count=cfg.alarms.flood_on_count,
                flood_off_count=cfg.alarms.flood_off_count,
                flood_window_s=cfg.alarms.flood_window,
                heartbeat_period_s=cfg.alarms.heartbeat_period,
            ),
            source_file=self.lines.file,
            localization=self._localization(),
            dtn=self._dtn(data_dir),
            cameras=self._cameras(devices, instruments),
            logbook=self._logbook(data_dir),
            hazard=self._hazard(devices, instruments),
            status_page=self._status_page(devices, instruments),
        )

    def _unique(self, section: str, ids: Sequence[str], what: str) -> None:
        seen: set[str] = set()
        for i, ident in enumerate(ids):
            if ident in seen:
                self.error((section, self.at(section, i), "id"), f"duplicate {what}", value=ident, has_value=True)
            seen.add(ident)

    def _unique_points(self, devices: Sequence[DeviceSpec], instruments: Sequence[InstrumentSpec]) -> None:
        # Point at the second point's own 'id' line (or its entry), not at the whole section.
        device_index = {d.id: self.at("devices", i) for i, d in reversed(list(enumerate(self.config.devices)))}
        instrument_index = {
            m.id: self.at("instruments", i) for i, m in reversed(list(enumerate(self.config.instruments)))
        }
        seen: dict[str, str] = {}
        for d in devices:
            for p in d.points:
                if p.point_id in seen:
                    self.error(
                        ("devices", device_index.get(d.device_id, 0), "points", p.name, "id"),
                        f"point id {p.point_id!r} of device {d.device_id!r} is already "
                        f"used by {seen[p.point_id]}; give one of them another 'id'",
                        value=p.point_id,
                        has_value=True,
                    )
                seen[p.point_id] = f"device {d.device_id!r}"
        for ins in instruments:
            for lp in ins.points:
                if lp.point_id in seen:
                    self.error(
                        ("instruments", instrument_index.get(ins.instrument_id, 0), "points", lp.group, "id"),
                        f"point id {lp.point_id!r} is already used by {seen[lp.point_id]}",
                        value=lp.point_id,
                        has_value=True,
                    )
                seen[lp.point_id] = f"instrument {ins.instrument_id!r}"

    # ---- buses -------------------------------------------------------------------------------------
    def _bus(self, model: RtuBusModel | TcpBusModel) -> BusSpec:
        if isinstance(model, RtuBusModel):
            return BusSpec(
                bus_id=model.id,
                kind=BusKind.RTU,
                timeout_s=model.timeout,
                retries=model.retries,
                backoff_s=model.backoff,
                backoff_max_s=model.backoff_max,
                port=self._relative_port(model.port),
                baudrate=model.baudrate,
                data_bits=model.data_bits,
                parity=model.parity,
                stop_bits=model.stop_bits,
                turnaround_s=model.turnaround,
            )
        return BusSpec(
            bus_id=model.id,
            kind=BusKind.TCP,
            timeout_s=model.timeout,
            retries=model.retries,
            backoff_s=model.backoff,
            backoff_max_s=model.backoff_max,
            host=model.host,
            tcp_port=model.port,
        )

    def _relative_port(self, port: str) -> str:
        # Device paths are absolute underground; a relative one (the demo's pty link) is taken
        # relative to the config file so the gateway can be started from any directory.
        if port.startswith("/") or "://" in port:
            return port
        return os.path.normpath(self.base_dir / port)

    # ---- devices -----------------------------------------------------------------------------------
    def _device(self, index: int, model: DeviceModel) -> DeviceSpec | None:
        path: tuple[PathPart, ...] = ("devices", self.at("devices", index))
        bus_ids = [b.id for b in self.config.buses]
        bus = next((b for b in self.config.buses if b.id == model.bus), None)
        if bus is None and not self.is_broken("buses", model.bus):
            self.unknown((*path, "bus"), "bus", model.bus, bus_ids)
        loaded = self.profiles.get(model.profile)
        if loaded is None:
            self.unknown((*path, "profile"), "device profile", model.profile, sorted(self.profiles))
            return None
        profile = loaded.model
        for other_index, other in enumerate(self.config.devices[:index]):
            if other.bus == model.bus and other.unit == model.unit:
                self.error(
                    (*path, "unit"),
                    f"unit id {model.unit} is already used on bus {model.bus!r} by "
                    f"device {other.id!r} (devices[{self.at('devices', other_index)}])",
                )
        poll_s = model.poll if model.poll is not None else profile.defaults.poll
        timeout_s = bus.timeout if bus is not None else 1.0
        retries = bus.retries if bus is not None else 1
        default_stale = 3 * poll_s + (retries + 1) * timeout_s
        names = list(profile.points) if profile.poll_all_points else []
        for name in model.points:
            if name not in profile.points:
                override = model.points[name]
                if override.type is None or (override.modicon is None and override.table is None):
                    self.error(
                        (*path, "points", name),
                        f"profile {profile.name!r} has no point {name!r}; to add a new point give "
                        "'register' (or 'table' + 'address') and 'type'",
                        allowed=", ".join(profile.points),
                        suggestion=did_you_mean(name, profile.points),
                    )
                    continue
            if name not in names:
                names.append(name)
        # Status and heartbeat registers must be read even on modules that read only listed points.
        needed = {c.point for c in profile.quality}
        if profile.heartbeat is not None:
            needed.add(profile.heartbeat.point)
        names += [n for n in profile.points if n in needed and n not in names]
        points: list[PointSpec] = []
        for name in names:
            spec = self._point(
                model,
                profile=profile,
                name=name,
                path=(*path, "points", name),
                poll_s=poll_s,
                default_stale=default_stale,
            )
            if spec is not None:
                points.append(spec)
        conditions = tuple(
            QualityCondition(
                point=c.point,
                kind=(
                    ConditionKind.BIT_SET
                    if c.bit is not None
                    else ConditionKind.EQUALS
                    if c.equals is not None
                    else ConditionKind.IN_SET
                    if c.any_of is not None
                    else ConditionKind.IN_RANGE
                ),
                quality=c.quality,
                reason=c.reason,
                bit=c.bit,
                values=(c.equals,) if c.equals is not None else tuple(c.any_of or ()),
                low=c.range[0] if c.range else None,
                high=c.range[1] if c.range else None,
                mask=c.mask,
                message=c.message,
            )
            for c in profile.quality
        )
        return DeviceSpec(
            device_id=model.id,
            bus_id=model.bus,
            unit_id=model.unit,
            profile=profile.name,
            location=model.location,
            poll_interval_s=poll_s,
            points=tuple(points),
            quality_conditions=conditions,
            heartbeat_point=profile.heartbeat.point if profile.heartbeat else None,
            heartbeat_timeout_s=profile.heartbeat.timeout if profile.heartbeat else 15.0,
            max_gap=model.max_gap if model.max_gap is not None else profile.defaults.max_gap,
            max_registers=profile.defaults.max_registers,
        )

    def _point(
        self,
        device: DeviceModel,
        *,
        profile: DeviceProfileModel,
        name: str,
        path: tuple[PathPart, ...],
        poll_s: float,
        default_stale: float,
    ) -> PointSpec | None:
        base = profile.points.get(name)
        override = device.points.get(name, PointOverride())
        merged = _merge(base, override)
        if merged.modicon is not None:
            table, address = parse_modicon(merged.modicon)
        elif merged.table is not None and merged.address is not None:
            table, address = merged.table, merged.address
        else:
            self.error(path, "no register address", allowed="'register' or 'table' + 'address'")
            return None
        if merged.type is None:
            self.error((*path, "type"), "no data type", allowed=", ".join(d.value for d in DataType))
            return None
        address += device.register_offset
        count = 1 if table.is_bit_table else register_count(merged.type)
        if address + count > 65536:
            # Caught here, not by the read planner at run time: a Modbus address is 16 bits.
            self.error(
                path,
                f"0-based address {address} (after register_offset {device.register_offset}) with {count} "
                f"register(s) runs past the last Modbus address 65535",
            )
            return None
        if merged.type is DataType.BITS and merged.bit is None:
            self.error((*path, "bit"), "type 'bits' needs 'bit'", allowed="0..15")
            return None
        if table.is_bit_table != (merged.type is DataType.BOOL):
            self.error(
                (*path, "type"),
                f"type {merged.type.value!r} does not fit table {table.value!r}",
                allowed="'bool' for coils and discrete inputs; register types for registers",
            )
            return None
        scale, offset = merged.scale if merged.scale is not None else 1.0, merged.offset or 0.0
        if merged.raw_range is not None:
            if merged.range is None:
                self.error(path, "'raw_range' needs the engineering 'range' it maps onto (e.g. range: [0, 5])")
                return None
            (r0, r1), (e0, e1) = merged.raw_range, merged.range
            scale = (e1 - e0) / (r1 - r0)
            offset = e0 - r0 * scale
        point_id = override.id or f"{device.id}.{name}"
        label = merged.label or name
        location = override.location or device.location
        unit = merged.unit or ""
        self._bind_rule(point_id, label=label, location=location, unit=unit, binding=override, path=path)
        return PointSpec(
            point_id=point_id,
            device_id=device.id,
            name=name,
            label=label,
            location=location,
            table=table,
            address=address,
            data_type=merged.type,
            word_order=merged.word_order or profile.defaults.word_order or WordOrder.BIG,
            byte_order=merged.byte_order or profile.defaults.byte_order or ByteOrder.BIG,
            bit=merged.bit,
            scale=scale,
            offset=offset,
            unit=unit,
            measuring_range=merged.range,
            raw_fault_below=merged.raw_fault_below,
            raw_fault_above=merged.raw_fault_above,
            diagnostic=bool(merged.diagnostic),
            stale_after_s=merged.stale_after if merged.stale_after is not None else default_stale,
            stuck_after_s=merged.stuck_after,
            rule=override.rule,
            rule_parameters=dict(override.rule_parameters),
            rule_overrides=tuple(lim.model_dump() for lim in override.limits),
            override_reason=override.override_reason,
        )

    # ---- rules -------------------------------------------------------------------------------------
    def _bind_rule(
        self,
        point_id: str,
        *,
        label: str,
        location: str,
        unit: str,
        binding: RuleBinding,
        path: tuple[PathPart, ...],
    ) -> None:
        if binding.rule is None:
            if binding.limits or binding.rule_parameters:
                self.error((*path, "limits"), "'limits' and 'rule_parameters' need a 'rule'")
            return
        jurisdiction = self.config.gateway.jurisdiction
        if jurisdiction not in jurisdictions():
            return  # already reported
        try:
            tmpl = template(jurisdiction, binding.rule, parameters=binding.rule_parameters)
        except UnknownRuleError:
            known = sorted(jurisdictions()[jurisdiction].templates)
            self.unknown((*path, "rule"), f"rule in jurisdiction {jurisdiction!r}", binding.rule, known)
            return
        except TemplateParameterError as exc:
            self.error((*path, "rule_parameters"), str(exc))
            return
        problem = (
            check_unit(unit, tmpl.unit, lel_vol_percent=tmpl.lel_vol_percent)
            if unit
            else (f"the point has no unit; rule {binding.rule!r} compares in {tmpl.unit!r}")
        )
        if problem:
            self.error((*path, "unit"), problem, value=unit, has_value=True)
            return
        try:
            rules, records = build_point_rules(
                point_id,
                location,
                tmpl,
                [_limit_override(lim) for lim in binding.limits],
                override_reason=binding.override_reason,
                label=label,
            )
        except ValueError as exc:
            self.error((*path, "limits"), str(exc))
            return
        self.rules.append(rules)
        self.overrides.extend(records)
        for threshold in rules.thresholds:
            for out in threshold.outputs:
                self.output_names_used.setdefault(out, (*path, "rule"))
        for out in rules.malfunction_outputs:
            self.output_names_used.setdefault(out, (*path, "rule"))

    # ---- instruments, outputs, ack -------------------------------------------------------------------
    def _instrument(self, index: int, model: Any) -> InstrumentSpec:
        groups = set(re.compile(model.pattern).groupindex)
        points: list[LinePointSpec] = []
        for group, lp in model.points.items():
            path: tuple[PathPart, ...] = ("instruments", self.at("instruments", index), "points", group)
            if group not in groups:
                self.unknown(path, "named group in 'pattern'", group, sorted(groups))
            label = lp.label or group
            location = model.location
            self._bind_rule(lp.id, label=label, location=location, unit=lp.unit, binding=lp, path=path)
            points.append(
                LinePointSpec(
                    point_id=lp.id,
                    group=group,
                    label=label,
                    location=location,
                    unit=lp.unit,
                    scale=lp.scale,
                    offset=lp.offset,
                    measuring_range=lp.range,
                    stale_after_s=lp.stale_after if lp.stale_after is not None else 3 * model.poll + 2,
                    stuck_after_s=lp.stuck_after,
                    rule=lp.rule,
                    rule_parameters=dict(lp.rule_parameters),
                    rule_overrides=tuple(lim.model_dump() for lim in lp.limits),
                    override_reason=lp.override_reason,
                )
            )
        return InstrumentSpec(
            instrument_id=model.id,
            port=model.port,
            baudrate=model.baudrate,
            data_bits=model.data_bits,
            parity=model.parity,
            stop_bits=model.stop_bits,
            pattern=model.pattern,
            encoding=model.encoding,
            line_terminator=model.terminator,
            poll_command=model.poll_command,
            poll_interval_s=model.poll,
            points=tuple(points),
        )

    def _localization(self) -> LocalizationSpec | None:
        loc = self.config.localization
        if loc is None:
            return None
        model_dir = Path(os.path.normpath(self.base_dir / loc.model_dir))
        if not (model_dir / "manifest.json").is_file():
            self.error(
                ("localization", "model_dir"),
                f"no manifest.json in {model_dir}: train and export a model with `minegate-train localization "
                "train`, or point model_dir at the shipped models/localization",
                value=loc.model_dir,
                has_value=True,
            )
        elif not (model_dir / "layout.json").is_file():
            self.error(
                ("localization", "model_dir"),
                f"no layout.json in {model_dir}: the model must ship the mine layout it was trained on",
            )
        return LocalizationSpec(
            model_dir=str(model_dir),
            source_endpoint=loc.source,
            period_s=loc.period,
            threads=loc.threads,
            file=loc.file,
        )

    def _cameras(self, devices: Sequence[DeviceSpec], instruments: Sequence[InstrumentSpec]) -> CamerasSection | None:
        section = self.config.cameras
        if section is None:
            return None
        points = sorted(
            {p.point_id for d in devices for p in d.points} | {p.point_id for m in instruments for p in m.points}
        )
        detector = section.detector
        if detector is not None:
            model_dir = Path(os.path.normpath(self.base_dir / detector.model_dir))
            if not (model_dir / "manifest.json").is_file():
                self.error(
                    ("cameras", "detector", "model_dir"),
                    f"no manifest.json in {model_dir}: point model_dir at a converted detector "
                    "(e.g. the shipped models/detector/helmet)",
                    value=detector.model_dir,
                    has_value=True,
                )
            detector = detector.model_copy(update={"model_dir": str(model_dir)})
        streams = []
        for i, camera in enumerate(section.streams):
            for j, zone in enumerate(camera.zones):
                for k, point in enumerate(zone.points):
                    if point not in points:
                        self.unknown(("cameras", "streams", i, "zones", j, "points", k), "point", point, points)
            streams.append(camera.model_copy(update={"source": self._camera_source(camera.source)}))
        return CamerasSection(detector=detector, streams=streams)

    def _camera_source(self, source: str) -> str:
        """A recording to replay is found relative to the config file, like every other path in it."""
        if source.isdigit() or "://" in source or source.startswith("/"):
            return source
        return os.path.normpath(self.base_dir / source)

    def _logbook(self, data_dir: Path) -> LogbookSection | None:
        if self.config.logbook is None:
            return None
        section, problems = resolve_section(self.config.logbook, base_dir=self.base_dir, data_dir=data_dir)
        for problem in problems:
            field, _, message = problem.partition(": ")
            self.error(("logbook", field), message)
        return section

    def _hazard(self, devices: Sequence[DeviceSpec], instruments: Sequence[InstrumentSpec]) -> HazardSection | None:
        if self.config.hazard is None:
            return None
        units = {p.point_id: p.unit for d in devices for p in d.points} | {
            p.point_id: p.unit for m in instruments for p in m.points
        }
        cameras = [c.id for c in self.config.cameras.streams] if self.config.cameras is not None else []
        section, problems = resolve_hazard_section(
            self.config.hazard, base_dir=self.base_dir, point_units=units, cameras=cameras
        )
        for problem in problems:
            path = ("hazard", *problem.path)
            if problem.value is not None:
                self.unknown(
                    path,
                    problem.message.removeprefix("no ").removesuffix(" of that name"),
                    problem.value,
                    sorted(problem.allowed),
                )
            else:
                self.error(path, problem.message)
        return section

    def _status_page(
        self, devices: Sequence[DeviceSpec], instruments: Sequence[InstrumentSpec]
    ) -> StatusPageSection | None:
        if self.config.status_page is None:
            return None
        points = {p.point_id for d in devices for p in d.points} | {p.point_id for m in instruments for p in m.points}
        loc = self.config.localization
        section, problems = resolve_status_page_section(
            self.config.status_page,
            base_dir=self.base_dir,
            point_ids=points,
            localization_layout=(
                Path(os.path.normpath(self.base_dir / loc.model_dir)) / "layout.json" if loc is not None else None
            ),
        )
        for problem in problems:
            path = ("status_page", *problem.path)
            if problem.warning:
                self.warn(path, problem.message)
            elif problem.value is not None:
                self.unknown(
                    path,
                    problem.message.removeprefix("no ").removesuffix(" of that name"),
                    problem.value,
                    list(problem.allowed),
                )
            else:
                self.error(path, problem.message)
        return section

    def _dtn(self, data_dir: Path) -> NodeSpec | None:
        section = self.config.dtn
        if section is None:
            return None
        spec, issues = resolve_gateway_section(
            section,
            gateway_id=self.config.gateway.id,
            gateway_data_dir=data_dir,
            base_dir=self.base_dir,
            lines=self.lines,
            localization_source=self.config.localization.source if self.config.localization else None,
        )
        self.issues += issues
        return spec

    def _outputs(self) -> tuple[OutputSpec, ...]:
        device_ids = [d.id for d in self.config.devices] + sorted(self.broken_ids.get("devices", ()))
        used: dict[tuple[str, int], str] = {}
        outputs: list[OutputSpec] = []
        for name, out in self.config.outputs.items():
            path: tuple[PathPart, ...] = ("outputs", name)
            if out.device not in device_ids and not self.is_broken("devices", out.device):
                self.unknown((*path, "device"), "device", out.device, device_ids)
            key = (out.device, out.coil)
            if key in used:
                self.error((*path, "coil"), f"coil {out.coil} of {out.device!r} is already output {used[key]!r}")
            used[key] = name
            fail_safe = out.fail_safe
            if name in ("power_trip", "heartbeat") and not fail_safe:
                self.warn(
                    (*path, "fail_safe"),
                    f"{name!r} is not fail_safe: a dead gateway or a cut cable will not de-energize it",
                )
            outputs.append(
                OutputSpec(name=name, device_id=out.device, coil=out.coil, fail_safe=fail_safe, verify=out.verify)
            )
        return tuple(outputs)

    def _ack(self) -> AckInputSpec | None:
        ack = self.config.acknowledge
        if ack is None:
            return None
        device_ids = [d.id for d in self.config.devices] + sorted(self.broken_ids.get("devices", ()))
        if ack.device not in device_ids and not self.is_broken("devices", ack.device):
            self.unknown(("acknowledge", "device"), "device", ack.device, device_ids)
        return AckInputSpec(device_id=ack.device, table=Table.DISCRETE_INPUT, address=ack.input)


def _merge(base: RegisterFields | None, override: RegisterFields) -> RegisterFields:
    if base is None:
        return override
    values = base.model_dump(exclude_none=True)
    location_fields = {"modicon", "table", "address"}
    given = override.model_dump(exclude_none=True)
    if location_fields & set(given):
        for name in location_fields:
            values.pop(name, None)
    if "raw_range" in given or "scale" in given or "offset" in given:
        for name in ("raw_range", "scale", "offset"):
            values.pop(name, None)
    values.update({k: v for k, v in given.items() if k in RegisterFields.model_fields})
    return RegisterFields.model_validate(values)


def _limit_override(model: LimitOverrideModel) -> LimitOverride:
    return LimitOverride(
        threshold=model.threshold,
        limit=model.limit,
        clear_limit=model.clear_limit,
        on_delay_s=model.on_delay,
        extra_outputs=tuple(model.extra_outputs),
    )


def load_config(path: Path, *, extra_profile_dirs: Sequence[Path] = ()) -> LoadedConfig:
    """Validate ``path`` completely and resolve it; raises ``ConfigError`` listing every problem.

    Schema problems do not stop the reference checks: the valid entries are still resolved, so one run
    reports a typo'd key, an unknown profile and a loosened limit together.
    """
    data, lines = load_yaml(path)
    issues: list[ConfigIssue] = []
    salvaged: Salvaged | None = None
    try:
        config = ConfigModel.model_validate(data)
    except ValidationError as exc:
        issues = issues_from_validation_error(exc, ConfigModel, data, lines)
        salvaged = salvage(data)
        if salvaged is None:
            raise ConfigError(issues) from None
        config = salvaged.config
    dirs = [BUILTIN_PROFILES, *extra_profile_dirs]
    if config.gateway.profiles_dir:
        site_dir = Path(config.gateway.profiles_dir)
        dirs.append(site_dir if site_dir.is_absolute() else path.parent / site_dir)
    profiles, profile_issues = _load_profiles(dirs)
    issues += profile_issues
    resolver = _Resolver(config, lines, profiles, path.parent.resolve())
    if salvaged is not None:
        resolver.positions = salvaged.positions
        resolver.broken_ids = salvaged.broken_ids
    spec = resolver.resolve()
    issues += resolver.issues
    if issues:
        raise ConfigError(issues)
    return LoadedConfig(
        spec=spec,
        rules=tuple(resolver.rules),
        overrides=tuple(resolver.overrides),
        warnings=tuple(resolver.warnings),
        profiles=profiles,
    )
