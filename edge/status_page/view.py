"""What the status page shows, as one JSON-ready dict built from the running gateway (``GET /api/status``).

The server renders the first page from it and the page script re-renders from it every refresh, so both show the
same thing. Only finite numbers leave here (JSON has no NaN): a missing or bad value is ``null``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from edge.alarms.events import AlarmEvent, AlarmState
from edge.config.resolved import LinePointSpec, PointSpec
from edge.control import ControlError
from edge.rules.signals import Priority
from edge.status_page.mine_map import MineMap

if TYPE_CHECKING:
    from edge.app import Gateway

ACKNOWLEDGEABLE = frozenset({AlarmState.UNACK, AlarmState.RTN_UNACK})
STATE_TEXT = {
    AlarmState.UNACK: "active, unacknowledged",
    AlarmState.ACKED: "active, acknowledged",
    AlarmState.RTN_UNACK: "cleared, unacknowledged",
    AlarmState.NORMAL: "cleared, latched",
}


def format_value(value: float | None) -> str:
    """How a value is printed for people (the page script follows the same rule)."""
    if value is None or not math.isfinite(value):
        return "—"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (recursively) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def alarm_view(event: AlarmEvent) -> dict[str, Any]:
    return {
        "alarm_id": event.alarm_id,
        "point_id": event.alarm_id.split(":", 1)[0],
        "signal": event.signal.value,
        "priority": Priority(event.priority).name.lower(),
        "state": event.state.value,
        "state_text": STATE_TEXT[event.state] + (", shelved" if event.shelved else ""),
        "message": event.message,
        "action": event.action,
        "value": event.value,
        "value_text": format_value(event.value),
        "limit": event.limit,
        "unit": event.unit,
        "statutory": event.statutory,
        "latched": event.latched,
        "shelved": event.shelved,
        "since_wall": event.t_wall,
        "acknowledgeable": event.state in ACKNOWLEDGEABLE,
        "user": event.user,
    }


def build_view(gateway: Gateway, *, mine_map: MineMap | None, ack_enabled: bool, map_note: str) -> dict[str, Any]:
    spec = gateway.spec
    now = gateway.clock.wall()
    alarms = gateway.alarms.snapshot()
    worst: dict[str, str] = {}
    for event in alarms:
        if event.state.condition_active:
            worst[event.alarm_id.split(":", 1)[0]] = "alarm"
    points = []
    configured: list[tuple[str, PointSpec | LinePointSpec]] = [
        (d.device_id, p) for d in spec.devices for p in d.points if not p.diagnostic
    ]
    configured += [(ins.instrument_id, p) for ins in spec.instruments for p in ins.points]
    states: dict[str, str] = {}
    for device_id, point in configured:
        reading = gateway.latest.get(point.point_id)
        quality = reading.quality.value if reading is not None else "none"
        states[point.point_id] = worst.get(point.point_id, quality)
        points.append(
            {
                "point_id": point.point_id,
                "label": point.label,
                "location": point.location,
                "device": device_id,
                "unit": reading.unit if reading is not None and reading.unit else point.unit,
                "value": reading.value if reading is not None else None,
                "value_text": format_value(reading.value if reading is not None else None),
                "quality": quality,
                "reason": reading.reason.value if reading is not None else "no reading yet",
                "detail": reading.detail if reading is not None else "",
                "age_s": max(0.0, now - reading.t_wall) if reading is not None else None,
                "in_alarm": point.point_id in worst,
            }
        )
    miners = _miners(gateway, now)
    view: dict[str, Any] = {
        "gateway": {
            "id": spec.gateway_id,
            "site": spec.site,
            "jurisdiction": spec.jurisdiction,
            "now_wall": now,
            "uptime_s": gateway.clock.monotonic() - gateway.started_mono,
            "healthy": not gateway.task_faults,
            "safety_functions_ok": gateway.safety_functions_ok(),
            "task_faults": dict(gateway.task_faults),
            "readings_seen": gateway.readings_seen,
            "flood": gateway.alarms.flood_active,
        },
        "ack_enabled": ack_enabled,
        "points": points,
        "alarms": [alarm_view(e) for e in sorted(alarms, key=lambda e: (e.priority, -e.seq))],
        "outputs": [
            {"name": name, "active": bool(o["active"]), "fault": o["fault"]}
            for name, o in gateway.relays.state().items()
        ],
        "miners": miners,
        "dtn": _dtn(gateway),
        "cameras": _cameras(gateway),
        "hazard": _hazard(gateway),
        "map": {
            "available": mine_map is not None,
            "note": map_note,
            "points": mine_map.point_markers(states) if mine_map is not None else [],
            "miners": mine_map.miner_markers(miners["miners"]) if mine_map is not None else [],
        },
    }
    return dict(finite(view))


def _miners(gateway: Gateway, now: float) -> dict[str, Any]:
    task = gateway.localization
    if task is None:
        fault = gateway.task_faults.get("localization")
        note = f"location model refused: {fault}" if fault else "no location model configured (localization:)"
        return {"configured": False, "note": note, "model": None, "miners": []}
    rows = [e.to_dict(now) for e in task.muster()]
    return {
        "configured": True,
        "note": "" if rows else "no movement records received yet",
        "model": task.model.manifest.name,
        "last_cycle_s": task.last_cycle_s,
        "cycles": task.cycles,
        "miners": rows,
    }


def _dtn(gateway: Gateway) -> dict[str, Any]:
    try:
        status = gateway.dtn_status()
    except ControlError as exc:
        return {"configured": gateway.spec.dtn is not None, "note": str(exc)}
    store = status["store"]
    return {
        "configured": True,
        "note": "",
        "node_id": status["node_id"],
        "hops_to_surface": status["hops_to_surface"],
        "bytes_used": store["bytes_used"],
        "capacity_bytes": store["capacity_bytes"],
        "queue": {name: c["count"] for name, c in store["classes"].items()},
        "queue_bytes": {name: c["bytes"] for name, c in store["classes"].items()},
        "refused_full": store["refused_full"],
        "contacts": [
            {
                "peer": c["peer"],
                "up": c["up"],
                "contacts": c["contacts"],
                "in_flight": c["in_flight"],
                "last_transfer_wall": c["last_transfer_wall"],
            }
            for c in status["contacts"]
        ],
    }


def _cameras(gateway: Gateway) -> dict[str, Any]:
    section = gateway.spec.cameras
    if section is None or gateway.cameras is None:
        return {"configured": False, "note": "no cameras configured (cameras:)", "cameras": []}
    status = gateway.cameras.status()
    locations = {c.id: c.location for c in section.streams}
    cameras = []
    for cam in status["cameras"]:
        conditions = list(cam["conditions"])
        capture = cam["capture"]
        cameras.append(
            {
                "camera_id": cam["camera_id"],
                "location": locations.get(cam["camera_id"], ""),
                "state": capture["state"],
                "healthy": capture["state"] == "streaming" and not conditions,
                "conditions": conditions,
                "frames_analysed": cam["frames_analysed"],
                "latency_p50_s": cam["latency_p50_s"],
                "last_error": capture["last_error"],
            }
        )
    note = f"camera path refused: {status['refused']}" if status["refused"] else ""
    return {"configured": True, "note": note, "detector": status["detector"], "cameras": cameras}


def _hazard(gateway: Gateway) -> dict[str, Any]:
    if gateway.hazard is None:
        fault = gateway.task_faults.get("hazard")
        note = f"hazard model refused: {fault}" if fault else "no early-warning model configured (hazard:)"
        return {"configured": False, "note": note}
    status = gateway.hazard.status()
    return {
        "configured": True,
        "note": "",
        "model": status["model"],
        "decisions": status["decisions"],
        "last_decision_s": status["last_decision_s"],
        "open_warnings": status["open_warnings"],
        "probabilities": status["probabilities"],
    }
