"""The gateway runs a DTN node: its alarms, reading summaries and movement records reach the surface sink, movement
bundles from an inby peer reach its muster list, and `minegate dtn status` reads it over the control socket."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import msgpack
import yaml
import zmq
import zmq.asyncio
from dtn_node_fixtures import (
    FAST_LINK,
    contact_up,
    eventually,
    load_spec,
    make_keys,
    node_body,
    running_node,
    socket_dir,
)

from edge.app import Gateway
from edge.clock import SystemClock
from edge.config.resolve import load_config
from edge.control import request
from edge.dtn.bundle import Bundle, Priority
from edge.dtn.commands import request_status
from edge.dtn.status import render
from edge.localization.records import MovementRecord
from edge.localization.source import MOVEMENT_TOPIC
from edge.readings import Quality, Reading

REPO = Path(__file__).resolve().parents[2]


def _gateway_config(root: Path, sockets: Path) -> Path:
    body: dict[str, Any] = {
        "gateway": {
            "id": "gw-1",
            "jurisdiction": "us_msha_coal",
            "data_dir": "var",
            "publish": None,
            "control": f"ipc://{sockets}/gw.ctl",
        },
        "localization": {
            "model_dir": str(REPO / "models" / "localization"),
            "source": f"ipc://{sockets}/records.sock",
            "period": "5s",
        },
        "dtn": {
            "hops_to_surface": 1,
            "keys_dir": "keys",
            "listen": f"ipc://{sockets}/gw-1.sock",
            "peers": [{"id": "sink", "endpoint": f"ipc://{sockets}/sink.sock"}, {"id": "g2"}],
            "link": dict(FAST_LINK),
            "ingest": {"telemetry_period": "300ms", "movement_period": "200ms"},
        },
    }
    path = root / "gw.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def _of_kind(received: list[Bundle], kind: str) -> list[Bundle]:
    return [b for b in received if b.kind == kind]


async def test_gateway_events_travel_as_bundles_and_peer_movement_feeds_the_muster_list(tmp_path: Path) -> None:
    received: list[Bundle] = []
    make_keys(tmp_path / "keys", "gw-1", "g2", "sink")
    with socket_dir() as sockets:
        config = _gateway_config(tmp_path, sockets)
        sink_spec = load_spec(tmp_path, node_body("sink", sockets, role="surface", peers=[{"id": "gw-1"}]))
        g2_spec = load_spec(
            tmp_path, node_body("g2", sockets, hops=2, peers=[{"id": "gw-1", "endpoint": f"ipc://{sockets}/gw-1.sock"}])
        )
        context = zmq.asyncio.Context()
        records = context.socket(zmq.PUB)
        records.setsockopt(zmq.LINGER, 0)
        records.bind(f"ipc://{sockets}/records.sock")
        gateway = Gateway(load_config(config), clock=SystemClock())
        stop = asyncio.Event()
        async with running_node(sink_spec, on_received=received.append), running_node(g2_spec) as g2:
            run = asyncio.create_task(gateway.run(stop))
            try:
                await eventually(
                    lambda: gateway.dtn is not None and contact_up(gateway.dtn, "sink") and contact_up(g2, "gw-1"),
                    what="the gateway's node in contact with the sink and g2",
                )
                assert gateway.localization is not None

                # An alarm event, once the journal has it durably, is an ALARM bundle at the surface.
                gateway._apply_changes([gateway._gateway_malfunction("dtn-test", "test malfunction")])
                await eventually(lambda: bool(_of_kind(received, "alarm")), what="an alarm bundle at the sink")
                (alarm,) = _of_kind(received, "alarm")
                assert alarm.priority is Priority.ALARM
                events = alarm.payload_object()["events"]
                assert events[0]["alarm_id"] == "gateway.dtn-test:malfunction"
                assert events[0]["seq"] <= gateway.journal_writer.durable_seq

                # Readings: a per-point summary of the period.
                for value in (0.4, 0.8, 0.6):
                    gateway.on_reading(Reading("ch4_tg", time.monotonic(), time.time(), value, "%", Quality.GOOD))
                await eventually(lambda: bool(_of_kind(received, "readings")), what="a readings summary")
                summary = _of_kind(received, "readings")[0]
                assert summary.priority is Priority.TELEMETRY
                point = summary.payload_object()["points"]["ch4_tg"]
                assert (point["n"], point["min"], point["max"], point["last"]) == (3, 0.4, 0.8, 0.6)

                # Movement records of the local feed.
                record = MovementRecord("m1", "cutter", time.time(), 0.5, 10.0, "p3").to_dict()
                while not _of_kind(received, "movement"):
                    await records.send_multipart([MOVEMENT_TOPIC, msgpack.packb(record)])
                    await asyncio.sleep(0.05)
                movement = _of_kind(received, "movement")[0]
                assert movement.priority is Priority.MOVEMENT
                assert movement.payload_object()["records"][0]["miner_id"] == "m1"
                # One subscription to the shared feed, decoded once, serves the muster list and the bundles.
                (feed,) = gateway.record_feeds.values()
                assert gateway.dtn_ingest is not None
                assert feed.consumers == (gateway.localization, gateway.dtn_ingest.movement)
                assert "m1" in gateway.localization.store.tracks

                # A movement bundle from the inby gateway g2 passes through gw-1: its muster list learns of m9.
                inby = MovementRecord("m9", "fitter", time.time(), 0.0, 0.0, "p5").to_dict()
                (result,) = await g2.inject(
                    [{"priority": "movement", "kind": "movement", "body": {"gateway": "g2", "records": [inby]}}]
                )
                assert result[1] == "stored"
                localization = gateway.localization
                await eventually(lambda: "m9" in localization.store.tracks, what="m9 in gw-1's tracks")
                await eventually(
                    lambda: any(str(b.id) == result[0] for b in received), what="g2's bundle at the surface"
                )

                # `minegate dtn status` over the gateway's control socket.
                status = await asyncio.to_thread(request, f"ipc://{sockets}/gw.ctl", {"cmd": "dtn_status"})
                assert status["ok"]
                assert {c["peer"]: c["up"] for c in status["contacts"]} == {"sink": True, "g2": True}
                ingest = status["ingest"]
                assert ingest["alarm_events_sent"] >= 1
                assert ingest["telemetry_bundles"] >= 1
                assert ingest["movement_bundles"] >= 1
                assert ingest["received_movement_bundles"] == 1
                shown = render(await asyncio.to_thread(request_status, str(config), timeout_s=3.0))
                assert "DTN node gw-1 (fixed, static routing, 1 hop(s) to the surface)" in shown
                assert "gateway ingest: alarm events" in shown
            finally:
                stop.set()
                await run
        records.close(linger=0)
        context.term()
