"""What ``minegate dtn status`` shows: a node's queue by class, capacity, contacts and transfers, as a plain dict
(it travels over the control socket as msgpack) and as text.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from edge.dtn.bundle import Priority
from edge.dtn.config import NodeSpec
from edge.dtn.link import LinkCounters, PeerStats
from edge.dtn.store import StoreStats


def snapshot(
    *,
    spec: NodeSpec,
    hops_to_surface: int | None,
    stats: StoreStats,
    recovery_s: float,
    committer_queued: int,
    peers: Mapping[str, PeerStats],
    in_flight: Mapping[str, int],
    counters: LinkCounters | None,
    uptime_s: float,
    now_wall: float,
    ingest: Mapping[str, int] | None = None,
    sink: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    classes = {
        p.name.lower(): {
            "count": stats.count_by_priority.get(p, 0),
            "bytes": stats.bytes_by_priority.get(p, 0),
            "evicted": stats.evicted_by_priority.get(p, 0),
        }
        for p in Priority
    }
    contacts = []
    # Configured peers first (in config order), then any other peer that made contact (a passing carrier).
    names = [p.node_id for p in spec.peers] + sorted(set(peers) - {p.node_id for p in spec.peers})
    endpoints = {p.node_id: p.endpoint for p in spec.peers}
    for name in names:
        ps = peers.get(name)
        info = ps.peer if ps is not None else None
        up = bool(ps and ps.up)
        since = None
        if ps is not None:
            since = ps.last_up_wall if up else ps.last_down_wall
        contacts.append(
            {
                "peer": name,
                "endpoint": endpoints.get(name),
                "kind": info.kind.value if info is not None else None,
                "hops_to_surface": info.hops_to_surface if info is not None else None,
                "up": up,
                "since_wall": since,
                "contacts": ps.contacts if ps else 0,
                "last_down_reason": ps.last_down_reason if ps else "",
                "frames_sent": ps.frames_sent if ps else 0,
                "bytes_sent": ps.bytes_sent if ps else 0,
                "acked": ps.acked if ps else 0,
                "refused": ps.refused if ps else 0,
                "received": ps.received if ps else 0,
                "duplicates": ps.duplicates if ps else 0,
                "bytes_received": ps.bytes_received if ps else 0,
                "last_transfer_wall": ps.last_transfer_wall if ps else None,
                "in_flight": in_flight.get(name, 0),
            }
        )
    return {
        "node_id": spec.node_id,
        "role": spec.role.value,
        "hops_to_surface": hops_to_surface,  # advertised now (None: no way to the surface in contact)
        "configured_hops": spec.hops_to_surface,
        "policy": spec.policy,
        "listen": spec.listen,
        "uptime_s": uptime_s,
        "now_wall": now_wall,
        "store": {
            "path": str(spec.store_path),
            "capacity_bytes": stats.capacity_bytes,
            "bytes_used": stats.bytes_used,
            "count": sum(stats.count_by_priority.values()),
            "classes": classes,
            "tombstones": stats.tombstones,
            "refused_full": stats.refused_full,
            "expired_dropped": stats.expired_dropped,
            "recovery_s": recovery_s,
            "commit_queue": committer_queued,
        },
        "contacts": contacts,
        "link": asdict(counters) if counters is not None else None,
        "ingest": dict(ingest) if ingest is not None else None,
        "sink": dict(sink) if sink is not None else None,
    }


def _bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _ago(wall: float | None, now: float) -> str:
    if wall is None:
        return "never"
    stamp = time.strftime("%H:%M:%S", time.gmtime(wall))
    return f"{stamp}Z ({max(0.0, now - wall):.0f} s ago)"


def render(status: Mapping[str, Any]) -> str:
    now = float(status["now_wall"])
    store = status["store"]
    hops, configured = status["hops_to_surface"], status.get("configured_hops")
    if hops is not None:
        way = f", {hops} hop(s) to the surface"
    elif configured is not None:
        way = f", NO WAY TO THE SURFACE in contact (configured {configured} hops)"
    else:
        way = ""
    lines = [
        f"DTN node {status['node_id']} ({status['role']}, {status['policy']} routing{way}), up "
        f"{status['uptime_s']:.0f} s",
        f"store {store['path']}: {store['count']} bundles, {_bytes(store['bytes_used'])} of "
        f"{_bytes(store['capacity_bytes'])} ({100 * store['bytes_used'] / max(1, store['capacity_bytes']):.1f} %), "
        f"{store['tombstones']} tombstones, recovery {store['recovery_s'] * 1000:.0f} ms",
        f"  {'class':<10} {'count':>8} {'bytes':>10} {'evicted':>8}",
    ]
    for name, c in store["classes"].items():
        lines.append(f"  {name:<10} {c['count']:>8} {_bytes(c['bytes']):>10} {c['evicted']:>8}")
    lines.append(
        f"  refused (full of more urgent bundles): {store['refused_full']}, expired: {store['expired_dropped']}, "
        f"waiting to commit: {store['commit_queue']}"
    )
    lines.append("contacts:")
    if not status["contacts"]:
        lines.append("  none configured, none seen")
    for c in status["contacts"]:
        state = "UP  " if c["up"] else "down"
        since = _ago(c["since_wall"], now) if c["since_wall"] is not None else "never up"
        kind = f"{c['kind']}"
        if c["hops_to_surface"] is not None:
            kind += f", {c['hops_to_surface']} hops"
        elif c["kind"] == "fixed":
            kind += ", no way to the surface"
        lines.append(
            f"  {c['peer']:<16} {state} since {since}  [{kind if c['kind'] else 'not met yet'}]"
            + (f" last down: {c['last_down_reason']}" if not c["up"] and c["last_down_reason"] else "")
        )
        lines.append(
            f"    sent {c['frames_sent']} frames ({_bytes(c['bytes_sent'])}), acked {c['acked']}, refused "
            f"{c['refused']}, in flight {c['in_flight']}; received {c['received']} "
            f"({_bytes(c['bytes_received'])}), duplicates {c['duplicates']}; last transfer "
            f"{_ago(c['last_transfer_wall'], now)}"
        )
    link = status.get("link")
    if link and any(link.values()):
        lines.append("link: " + ", ".join(f"{k} {v}" for k, v in link.items() if v))
    ingest = status.get("ingest")
    if ingest:
        lines.append(
            f"gateway ingest: alarm events {ingest['alarm_events_sent']} in {ingest['alarm_bundles_sent']} bundles "
            f"(sent up to seq {ingest['alarm_sent_seq']}, journal durable to {ingest['alarm_durable_seq']}), "
            f"telemetry bundles {ingest['telemetry_bundles']}, movement bundles {ingest['movement_bundles']} "
            f"({ingest['movement_records']} records), movement received from peers "
            f"{ingest['received_movement_bundles']} bundles, not stored {ingest['refused']}"
        )
    sink = status.get("sink")
    if sink:
        lines.append("sink: " + ", ".join(f"{k} {v}" for k, v in sink.items()))
    return "\n".join(lines)
