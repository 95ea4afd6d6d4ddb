"""The status page as HTML, rendered on the server from the view (``edge.status_page.view``).

The first response already shows everything (it works with scripts off); ``page.js`` then asks ``/api/status``
every refresh and redraws the same sections from the JSON. Element ids and classes here are what the script
and the tests look for. Every text from the gateway goes through ``html.escape``.
"""

from __future__ import annotations

import time
from html import escape
from typing import Any

from edge.status_page.mine_map import MineMap


def _t(value: object) -> str:
    return escape("" if value is None else str(value))


def _clock(wall: float | None) -> str:
    return "—" if wall is None else time.strftime("%H:%M:%S", time.gmtime(wall)) + "Z"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _table(table_id: str, headers: list[str], rows: list[str], empty: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(rows) if rows else f'<tr class="empty"><td colspan="{len(headers)}">{escape(empty)}</td></tr>'
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _alarm_row(a: dict[str, Any], ack_enabled: bool) -> str:
    value = f"{a['value_text']} {a['unit']}".strip() if a["value"] is not None else ""
    limit = f" (limit {a['limit']:g} {a['unit']})" if isinstance(a["limit"], float | int) else ""
    button = (
        f'<button class="ack" data-alarm="{_t(a["alarm_id"])}">Acknowledge</button>'
        if ack_enabled and a["acknowledgeable"]
        else ""
    )
    flags = " ".join(f for f, on in (("statutory", a["statutory"]), ("latched", a["latched"])) if on)
    return (
        f'<tr class="alarm prio-{_t(a["priority"])} state-{_t(a["state"])}" data-alarm="{_t(a["alarm_id"])}">'
        f"<td>{_t(a['priority'])}</td><td>{_t(a['alarm_id'])}</td><td>{_t(a['state_text'])}</td>"
        f"<td>{_t(value)}{_t(limit)}</td><td>{_t(a['message'])}</td><td>{_t(flags)}</td>"
        f"<td>{_clock(a['since_wall'])}</td><td>{button}</td></tr>"
    )


def _point_row(p: dict[str, Any]) -> str:
    cls = "in-alarm" if p["in_alarm"] else f"q-{p['quality']}"
    why = "" if p["quality"] == "good" else f" ({p['reason']}{': ' + p['detail'] if p['detail'] else ''})"
    return (
        f'<tr class="point {cls}" data-point="{_t(p["point_id"])}"><td>{_t(p["point_id"])}</td>'
        f"<td>{_t(p['label'])}</td><td>{_t(p['location'])}</td>"
        f'<td class="value">{_t(p["value_text"])}</td><td class="unit">{_t(p["unit"])}</td>'
        f'<td class="quality">{_t(p["quality"])}{_t(why)}</td><td>{_age(p["age_s"])}</td></tr>'
    )


def _miner_row(m: dict[str, Any]) -> str:
    conf = f"{100 * m['confidence']:.0f} %" if m["confidence"] is not None else "—"
    return (
        f'<tr data-miner="{_t(m["miner_id"])}"><td>{_t(m["miner_id"])}</td><td>{_t(m["role"])}</td>'
        f"<td>{_t(m['last_pillar'])}</td><td>{_t(m['predicted_pillar'] or '—')}</td><td>{conf}</td>"
        f"<td>{_age(m['since_seen_s'])}</td><td>{_t(m['last_gateway'] or '—')}</td></tr>"
    )


def _camera_row(c: dict[str, Any]) -> str:
    health = "healthy" if c["healthy"] else ", ".join(c["conditions"]) or c["state"]
    latency = f"{1000 * c['latency_p50_s']:.0f} ms" if c["latency_p50_s"] is not None else "—"
    return (
        f'<tr class="camera {"ok" if c["healthy"] else "fault"}" data-camera="{_t(c["camera_id"])}">'
        f"<td>{_t(c['camera_id'])}</td><td>{_t(c['location'])}</td><td>{_t(c['state'])}</td>"
        f"<td>{_t(health)}</td><td>{c['frames_analysed']}</td><td>{latency}</td>"
        f"<td>{_t(c['last_error'] or '')}</td></tr>"
    )


def _contact_row(c: dict[str, Any]) -> str:
    return (
        f'<tr data-peer="{_t(c["peer"])}"><td>{_t(c["peer"])}</td><td>{"up" if c["up"] else "down"}</td>'
        f"<td>{c['contacts']}</td><td>{c['in_flight']}</td><td>{_clock(c['last_transfer_wall'])}</td></tr>"
    )


def _section(section_id: str, title: str, body: str, note: str = "") -> str:
    note_html = f'<p class="note" id="{section_id}-note">{_t(note)}</p>'
    return f'<section id="{section_id}"><h2>{escape(title)}</h2>{note_html}{body}</section>'


def render_alarms(view: dict[str, Any]) -> str:
    rows = [_alarm_row(a, view["ack_enabled"]) for a in view["alarms"]]
    headers = ["Priority", "Alarm", "State", "Value", "Message", "", "Since", ""]
    return _table("alarms-table", headers, rows, "No standing alarms")


def render_points(view: dict[str, Any]) -> str:
    headers = ["Point", "Measures", "Location", "Value", "Unit", "Quality", "Age"]
    return _table("points-table", headers, [_point_row(p) for p in view["points"]], "No points configured")


def render_miners(view: dict[str, Any]) -> str:
    headers = ["Miner", "Role", "Last seen at", "Predicted", "Confidence", "Unheard for", "Last gateway"]
    return _table("miners-table", headers, [_miner_row(m) for m in view["miners"]["miners"]], "No miners")


def render_dtn(view: dict[str, Any]) -> str:
    dtn = view["dtn"]
    if dtn.get("queue") is None:
        return ""
    queue = ", ".join(f"{cls} {n}" for cls, n in dtn["queue"].items())
    summary = (
        f'<p id="dtn-summary">Node {_t(dtn["node_id"])}: queue {_t(queue)}; {dtn["bytes_used"]} of '
        f"{dtn['capacity_bytes']} bytes; hops to the surface: {_t(dtn['hops_to_surface'])}</p>"
    )
    headers = ["Peer", "Contact", "Contacts", "In flight", "Last transfer"]
    return summary + _table("dtn-table", headers, [_contact_row(c) for c in dtn["contacts"]], "No peers")


def render_cameras(view: dict[str, Any]) -> str:
    cams = view["cameras"]
    if not cams["configured"]:
        return ""
    headers = ["Camera", "Location", "Capture", "Health", "Frames analysed", "Latency p50", "Last error"]
    return _table("cameras-table", headers, [_camera_row(c) for c in cams["cameras"]], "No camera streams")


def render_outputs(view: dict[str, Any]) -> str:
    items = [
        f'<li data-output="{_t(o["name"])}" class="{"on" if o["active"] else "off"}{" fault" if o["fault"] else ""}">'
        f"{_t(o['name'])}: {'ON' if o['active'] else 'off'}{_t(' — fault: ' + o['fault'] if o['fault'] else '')}</li>"
        for o in view["outputs"]
    ]
    return f'<ul id="outputs-list">{"".join(items)}</ul>'


def render_header(view: dict[str, Any]) -> str:
    gw = view["gateway"]
    if gw["healthy"]:
        health = "healthy"
    elif gw["safety_functions_ok"]:
        health = "degraded: " + "; ".join(f"{k}: {v}" for k, v in gw["task_faults"].items())
    else:
        health = "SAFETY FUNCTION DOWN: " + "; ".join(f"{k}: {v}" for k, v in gw["task_faults"].items())
    return (
        f'<span id="gateway-id">{_t(gw["id"])}</span> <span id="site">{_t(gw["site"])}</span> '
        f'<span id="health" class="{"ok" if gw["healthy"] else "bad"}">{_t(health)}</span> '
        f'<span id="clock">{_clock(gw["now_wall"])}</span>'
    )


def render_page(view: dict[str, Any], *, mine_map: MineMap | None, refresh_s: float) -> str:
    gw = view["gateway"]
    map_body = (
        mine_map.svg(points=view["map"]["points"], miners=view["map"]["miners"])
        if mine_map is not None
        else '<svg id="mine-map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 1"></svg>'
    )
    legend = (
        '<p class="legend"><span class="key this-gateway-key"></span> this gateway '
        '<span class="key mesh-gateway-key"></span> DTN gateways <span class="key sensor-key"></span> sensors '
        '<span class="key miner-key"></span> miners (predicted pillar)</p>'
    )
    ack_note = (
        "Acknowledging needs the status page token."
        if view["ack_enabled"]
        else "Read-only: acknowledge at the panel or with `minegate alarms ack`."
    )
    hazard = view["hazard"]
    hazard_text = (
        f"Model {hazard['model']}: {hazard['decisions']} decisions; open warnings: "
        + (", ".join(hazard["open_warnings"]) or "none")
        if hazard["configured"]
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_t(gw["id"])} status</title>
<link rel="stylesheet" href="/static/page.css">
</head>
<body data-refresh-ms="{int(refresh_s * 1000)}" data-ack="{"on" if view["ack_enabled"] else "off"}">
<header><h1>minegate status</h1><div id="header">{render_header(view)}</div>
<p id="poll-state" class="stale">Snapshot at {_clock(gw["now_wall"])}; live updates need the page script.</p></header>
<main>
{_section("alarms", "Active alarms", render_alarms(view), ack_note)}
{_section("points", "Sensors", render_points(view))}
{_section("map", "Mine map", legend + map_body, view["map"]["note"])}
{_section("miners", "Miners", render_miners(view), view["miners"]["note"])}
{_section("dtn", "DTN (getting data to the surface)", render_dtn(view), view["dtn"]["note"])}
{_section("cameras", "Cameras", render_cameras(view), view["cameras"]["note"])}
{_section("hazard", "Early warnings", "", hazard["note"] or hazard_text)}
{_section("outputs", "Outputs", render_outputs(view))}
</main>
<script src="/static/page.js"></script>
</body></html>
"""
