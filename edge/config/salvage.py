"""Keep checking a config whose structure is partly invalid, so that every problem is reported at once.

When the schema rejects some entries, the entries that *are* valid still get their references checked
(unknown bus, profile, rule, device). The invalid entries are dropped from that pass; their ids are
remembered so that a reference to them is not reported a second time as "unknown".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from edge.config.schema import (
    AcknowledgeModel,
    AlarmSettingsModel,
    BusModel,
    ConfigModel,
    DeviceModel,
    GatewaySection,
    InstrumentModel,
    LocalizationModel,
    OutputModel,
)
from edge.dtn.config import DtnSectionModel

_BUS = TypeAdapter[Any](BusModel)


@dataclass
class Salvaged:
    config: ConfigModel
    # Position of each kept entry in the file's list, so errors still point at the right line.
    positions: dict[str, list[int]] = field(default_factory=dict)
    # Ids of entries the schema rejected: references to them are not reported again.
    broken_ids: dict[str, set[str]] = field(default_factory=dict)


def _valid(adapter: Any, value: Any) -> Any | None:
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None


def salvage(data: Any) -> Salvaged | None:
    """The valid part of ``data``; None when too little is valid to check references at all."""
    if not isinstance(data, Mapping) or set(data) - set(ConfigModel.model_fields):
        return None
    gateway = _valid(TypeAdapter(GatewaySection), data.get("gateway"))
    if gateway is None:
        return None
    result = Salvaged(config=ConfigModel(gateway=gateway))
    kept: dict[str, Any] = {}
    for section, adapter in (
        ("buses", _BUS),
        ("devices", TypeAdapter(DeviceModel)),
        ("instruments", TypeAdapter(InstrumentModel)),
    ):
        entries = data.get(section) or []
        if not isinstance(entries, list):
            return None
        good: list[Any] = []
        positions: list[int] = []
        broken: set[str] = set()
        for index, entry in enumerate(entries):
            model = _valid(adapter, entry)
            if model is None:
                if isinstance(entry, Mapping) and isinstance(entry.get("id"), str):
                    broken.add(entry["id"])
                continue
            good.append(model)
            positions.append(index)
        kept[section] = good
        result.positions[section] = positions
        result.broken_ids[section] = broken
    outputs = data.get("outputs") or {}
    if not isinstance(outputs, Mapping):
        return None
    kept["outputs"] = {
        name: model for name, value in outputs.items() if (model := _valid(TypeAdapter(OutputModel), value)) is not None
    }
    kept["acknowledge"] = _valid(TypeAdapter(AcknowledgeModel | None), data.get("acknowledge"))
    kept["localization"] = _valid(TypeAdapter(LocalizationModel | None), data.get("localization"))
    kept["dtn"] = _valid(TypeAdapter(DtnSectionModel | None), data.get("dtn"))
    kept["alarms"] = _valid(TypeAdapter(AlarmSettingsModel), data.get("alarms") or {}) or AlarmSettingsModel()
    result.config = ConfigModel.model_construct(gateway=gateway, **kept)
    return result
