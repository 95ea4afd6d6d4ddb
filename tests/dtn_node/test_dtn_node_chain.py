"""DTN nodes composed in one event loop: a chain to the sink over real CurveZMQ ipc sockets and real stores."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from dtn_node_fixtures import contact_up, eventually, load_spec, make_keys, node_body, running_node, socket_dir

from edge.clock import SystemClock
from edge.control import ControlError, request
from edge.dtn.bundle import SURFACE, Bundle, BundleId, Priority
from edge.dtn.deliveries import read_deliveries
from edge.dtn.node import DtnNode, NodeLocked
from edge.dtn.status import render
from edge.dtn.store import Accept, BundleStore


def _chain_specs(root: Path, sockets: Path) -> dict[str, Any]:
    make_keys(root / "keys", "g2", "g1", "sink")
    return {
        "sink": load_spec(root, node_body("sink", sockets, role="surface", peers=[{"id": "g1"}])),
        "g1": load_spec(
            root,
            node_body(
                "g1",
                sockets,
                hops=1,
                peers=[{"id": "sink", "endpoint": f"ipc://{sockets}/sink.sock"}, {"id": "g2"}],
            ),
        ),
        "g2": load_spec(
            root, node_body("g2", sockets, hops=2, peers=[{"id": "g1", "endpoint": f"ipc://{sockets}/g1.sock"}])
        ),
    }


async def test_bundles_injected_at_the_far_end_reach_the_sink_once_alarm_first(tmp_path: Path) -> None:
    received: list[Bundle] = []
    with socket_dir() as sockets:
        specs = _chain_specs(tmp_path, sockets)
        async with (
            running_node(specs["sink"], on_received=received.append) as sink,
            running_node(specs["g1"]) as g1,
            running_node(specs["g2"]) as g2,
        ):
            await eventually(lambda: contact_up(g2, "g1") and contact_up(g1, "sink"), what="contacts up")
            results = await g2.inject(
                [{"priority": "bulk", "kind": "test", "body": {"i": i}} for i in range(40)]
                + [{"priority": "alarm", "kind": "alarm", "body": {"gas": "ch4"}, "lifetime_s": 600}]
            )
            assert [accept for _, accept in results] == ["stored"] * 41
            ids = {BundleId.parse(text) for text, _ in results}
            await eventually(lambda: len({b.id for b in received}) == 41, what="41 bundles at the sink")
            rows = read_deliveries(specs["sink"].delivery_log_path)
            assert sorted(r.bid for r in rows) == sorted(ids)  # each exactly once
            assert all(r.hop_count == 2 and r.previous_node == "g1" for r in rows)
            alarm = next(b for b in received if b.priority is Priority.ALARM)
            assert alarm.payload_object() == {"gas": "ch4"}
            assert alarm.lifetime_ms == 600_000

            await eventually(lambda: sum(g2.status()["store"]["classes"][c]["count"] for c in ("bulk", "alarm")) == 0)
            status = g2.status()
            assert status["store"]["tombstones"] == 41  # custody passed: deleted, remembered until expiry
            (contact,) = status["contacts"]
            assert contact["peer"] == "g1"
            assert contact["up"]
            assert contact["kind"] == "fixed"
            assert contact["hops_to_surface"] == 1
            assert contact["acked"] == 41
            assert contact["last_transfer_wall"] is not None
            sink_status = sink.status()
            assert sink_status["sink"]["received"] == 41
            assert sink_status["sink"]["delivery_log_rows"] == 41
            text = render(g1.status())
            assert "DTN node g1 (fixed, static routing, 1 hop(s) to the surface)" in text
            assert "sink             UP" in text
            assert "g2               UP" in text


async def test_a_cut_uplink_holds_everything_and_the_alarm_goes_first_when_it_is_restored(tmp_path: Path) -> None:
    received: list[Bundle] = []
    with socket_dir() as sockets:
        specs = _chain_specs(tmp_path, sockets)
        async with running_node(specs["g1"]) as g1:
            bulk = await g1.inject([{"priority": "bulk", "body": i} for i in range(100)])
            (alarm,) = await g1.inject([{"priority": "alarm", "kind": "alarm", "body": "late"}])
            assert {a for _, a in bulk} == {"stored"}
            held = g1.status()["store"]["classes"]
            assert (held["bulk"]["count"], held["alarm"]["count"]) == (100, 1)
            async with running_node(specs["sink"], on_received=received.append):
                await eventually(lambda: len(received) == 101, what="the backlog delivered")
        rows = read_deliveries(specs["sink"].delivery_log_path)
        assert str(rows[0].bid) == alarm[0]  # the alarm stored last is delivered first


async def test_the_sink_dedups_refuses_other_destinations_and_recovers_its_log(tmp_path: Path) -> None:
    with socket_dir() as sockets:
        specs = _chain_specs(tmp_path, sockets)
        spec = specs["sink"]
        clock = SystemClock()
        other = BundleStore(tmp_path / "src.sqlite", node_id="g9", capacity_bytes=1 << 20, clock=clock)
        first = other.create(destination=SURFACE, priority=Priority.TELEMETRY, kind="readings", body=1, lifetime_s=60)
        second = other.create(destination=SURFACE, priority=Priority.BULK, kind="test", body=2, lifetime_s=60)
        elsewhere = other.create(destination="g3", priority=Priority.BULK, kind="test", body=3, lifetime_s=60)
        other.close()

        async with running_node(spec) as sink:
            assert await sink._deliver_sink(first, 1) is Accept.STORED
            assert await sink._deliver_sink(first, 1) is Accept.DUPLICATE
            with pytest.raises(ValueError, match="serves 'surface'"):
                await sink._deliver_sink(elsewhere, 1)
        async with running_node(spec) as sink:  # after a restart the tombstone still answers
            assert await sink._deliver_sink(first, 1) is Accept.DUPLICATE
            assert sink.status()["sink"]["duplicates"] == 1

        # A crash between the store's commit and the log's row: the store has the bundle, the log has not.
        store = BundleStore(spec.store_path, node_id="sink", capacity_bytes=spec.capacity_bytes, clock=clock)
        assert store.put(second) is Accept.STORED
        store.close()
        async with running_node(spec) as sink:
            assert sink.recovered_deliveries == 1
            assert await sink._deliver_sink(second, 1) is Accept.DUPLICATE
        rows = read_deliveries(spec.delivery_log_path)
        assert [(r.bid, r.recovered) for r in rows] == [(first.id, False), (second.id, True)]


async def test_a_standalone_node_answers_on_its_control_socket(tmp_path: Path) -> None:
    with socket_dir() as sockets:
        spec = _chain_specs(tmp_path, sockets)["g1"]
        assert spec.control_endpoint is not None
        node = DtnNode(spec, clock=SystemClock())
        stop = asyncio.Event()
        task = asyncio.create_task(node.run_standalone(stop))
        try:
            await eventually(lambda: node.link is not None, what="the node started")
            endpoint = spec.control_endpoint
            status = await asyncio.to_thread(request, endpoint, {"cmd": "dtn_status"})
            assert status["ok"]
            assert status["node_id"] == "g1"
            assert [c["peer"] for c in status["contacts"]] == ["sink", "g2"]
            reply = await asyncio.to_thread(
                request, endpoint, {"cmd": "dtn_inject", "bundles": [{"priority": "movement", "kind": "movement"}]}
            )
            assert reply["ok"]
            assert reply["results"][0][1] == "stored"
            bad = await asyncio.to_thread(request, endpoint, {"cmd": "dtn_inject", "bundles": [{"priority": "loud"}]})
            assert not bad["ok"]
            assert "bundles[0]: priority 'loud' is not one of alarm (0)" in bad["error"]
            unknown = await asyncio.to_thread(request, endpoint, {"cmd": "ack"})
            assert "a DTN node answers dtn_status, dtn_inject" in unknown["error"]
            assert node.status()["store"]["classes"]["movement"]["count"] == 1
        finally:
            stop.set()
            await task
        with pytest.raises(ControlError, match="no answer"):
            request(endpoint, {"cmd": "dtn_status"}, timeout_s=0.3)


async def test_a_second_node_on_the_same_data_directory_is_refused(tmp_path: Path) -> None:
    with socket_dir() as sockets:
        spec = _chain_specs(tmp_path, sockets)["g1"]
        async with running_node(spec):
            second = DtnNode(spec, clock=SystemClock())
            with pytest.raises(NodeLocked, match=f"in use by another DTN node \\(pid {os.getpid()}\\)"):
                await second.start()
            await second.stop()
        async with running_node(spec) as again:  # released by stop()
            assert again.store is not None
