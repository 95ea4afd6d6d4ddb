"""Train -> export -> load on the gateway -> live predictions and the muster list, small enough for CI.

A few simulated miners for one shift, a short fit of "ours", ONNX fp32 export with its manifest, then the
gateway's LocalizationTask fed record by record as the DTN would deliver them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.clock import FakeClock
from edge.inference.model import load_model
from edge.localization.columns import Contacts, Records
from edge.localization.features import FeatureSet, build_windows
from edge.localization.records import ContactRecord, MovementRecord
from edge.localization.task import LocalizationContractError, LocalizationTask
from edge.sim.mine_layout import LayoutParams, MineLayout
from edge.sim.mobility import MobilityParams, simulate_days
from edge.sim.tracking import gateway_contacts, sample_records
from export.localization.export_models import ExportRequest, export_all
from export.localization.train import TrainConfig, fit

WINDOW = 12


@pytest.fixture(scope="module")
def crew() -> tuple[MineLayout, Records, Contacts]:
    layout = MineLayout(LayoutParams())
    trajectories = simulate_days(layout, MobilityParams(nodes=8), seed=3, days=1)
    records = sample_records(trajectories, layout, rng=np.random.default_rng(3), period_s=5.0)
    contacts = Contacts.from_list(gateway_contacts(trajectories, layout, step_s=5.0))
    return layout, records, contacts


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, crew: tuple[MineLayout, Records, Contacts]) -> Path:
    layout, records, contacts = crew
    ws = build_windows(
        records, window=WINDOW, horizon=1, features=FeatureSet.EXTENDED, layout=layout, contacts=contacts, stride=6
    )
    miners = np.unique(ws.miner)
    val = np.isin(ws.miner, miners[-2:])
    cfg = TrainConfig(kind="ours", epochs=2, batch_size=256, dropout=0.1, lstm_units=16, filters=16, progress=False)
    fitted = fit(cfg, ws.subset(np.flatnonzero(~val)), ws.subset(np.flatnonzero(val)))
    out = tmp_path_factory.mktemp("localization")
    export_all(
        ExportRequest(
            model=fitted.module,
            name="localization",
            task="localization",
            window=WINDOW,
            n_features=len(ws.feature_names),
            feature_names=ws.feature_names,
            mean=[float(v) for v in fitted.mean],
            std=[float(v) for v in fitted.std],
            labels=ws.labels,
            calibration=fitted.normalise(ws.X[:256]),
            training_data_sha256="0" * 64,
            parameters={"window": WINDOW, "horizon": 1, "features": "extended"},
        ),
        out,
        formats=("onnx_fp32",),
        latency_repeats=5,
    )
    layout.save(out / "layout.json")
    return out


def _feed(task: LocalizationTask, records: Records, contacts: Contacts, until: float) -> None:
    rows = np.flatnonzero(records.t <= until)
    for i in rows[np.argsort(records.t[rows], kind="stable")]:
        task.add_record(
            MovementRecord(
                miner_id=str(records.miner[i]),
                role=str(records.role[i]),
                t_wall=float(records.t[i]),
                speed_mps=float(records.speed[i]),
                direction_deg=float(records.direction_deg[i]),
                pillar_id=records.pillar_labels[int(records.pillar[i])],
                x=float(records.x[i]),
                y=float(records.y[i]),
            )
        )
    for k in np.flatnonzero(contacts.t_start <= until):
        task.add_contact(
            ContactRecord(
                str(contacts.miner[k]),
                str(contacts.gateway[k]),
                float(contacts.t_start[k]),
                float(min(contacts.t_end[k], until)),
            )
        )


async def test_gateway_predicts_every_miner_and_ranks_the_muster_list(
    model_dir: Path, crew: tuple[MineLayout, Records, Contacts]
) -> None:
    layout, records, contacts = crew
    model = load_model(model_dir)  # checksum, contract and reference-output checks
    midday = float(np.median(records.t))
    clock = FakeClock(start_wall=midday)
    task = LocalizationTask(model, layout=layout, clock=clock, period_s=5.0)
    _feed(task, records, contacts, until=midday)
    predicted = await task.update()
    try:
        miners_with_history = {m for m, track in task.store.tracks.items() if len(track) >= WINDOW}
        assert predicted == len(miners_with_history) > 0
        estimates = {e.miner_id: e for e in task.estimates()}
        for miner in miners_with_history:
            e = estimates[miner]
            assert e.predicted_pillar in layout.pillar_ids
            assert e.confidence is not None
            assert 0.0 < e.confidence <= 1.0
            assert e.top3[0][0] == e.predicted_pillar
            assert sum(p for _, p in e.top3) <= 1.0 + 1e-5
        # Muster: the miner heard from longest ago comes first.
        order = [e.last_seen_wall for e in task.muster()]
        assert order == sorted(order)
        table = task.muster()[0].to_dict(clock.wall())
        assert table["since_seen_s"] >= 0
    finally:
        await task.worker.close()


async def test_a_model_for_another_layout_is_refused(model_dir: Path, tmp_path: Path) -> None:
    small = MineLayout(LayoutParams(entries=4, crosscuts=10))
    copy = tmp_path / "m"
    shutil.copytree(model_dir, copy)
    model = load_model(copy)
    with pytest.raises(LocalizationContractError, match="another mine layout"):
        LocalizationTask(model, layout=small, clock=FakeClock())


async def test_the_task_reads_hours_on_the_clock_the_model_was_trained_on(model_dir: Path) -> None:
    layout = MineLayout.load(model_dir / "layout.json")
    model = load_model(model_dir)
    for timezone, expected in ((None, "UTC"), ("Australia/Perth", "Australia/Perth")):
        if timezone is not None:
            model.manifest.parameters["timezone"] = timezone
        task = LocalizationTask(model, layout=layout, clock=FakeClock())
        assert task.timezone == expected  # a manifest without the parameter was trained on UTC
        await task.worker.close()
    model.manifest.parameters["timezone"] = "Mars/Olympus"
    with pytest.raises(LocalizationContractError, match="unknown time zone 'Mars/Olympus'"):
        LocalizationTask(model, layout=layout, clock=FakeClock())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_gateway_muster_over_the_control_socket_from_a_simulated_crew(model_dir: Path, tmp_path: Path) -> None:
    """The real path: crew -> ZeroMQ -> RecordFeed -> task -> `muster` over the control socket."""
    import asyncio

    import zmq.asyncio

    from edge.app import Gateway
    from edge.clock import SystemClock
    from edge.config.resolve import load_config
    from edge.control import request
    from edge.sim.crew import CrewParams, CrewPublisher

    source = f"tcp://127.0.0.1:{_free_port()}"
    control = f"tcp://127.0.0.1:{_free_port()}"
    config = tmp_path / "gw.yaml"
    config.write_text(
        f"""gateway:
  id: gw-loc
  jurisdiction: us_msha_coal
  data_dir: data
  publish: null
  control: {control}
localization:
  model_dir: {model_dir}
  source: {source}
  period: 500ms
""",
        encoding="utf-8",
    )
    loaded = load_config(config)
    gateway = Gateway(loaded, clock=SystemClock())
    assert gateway.localization is not None
    layout = MineLayout.load(model_dir / "layout.json")
    crew = CrewPublisher(
        layout,
        CrewParams(nodes=6, seed=5, time_scale=20.0, backfill_s=200.0),
        context=zmq.asyncio.Context.instance(),
        endpoint=source,
        clock=SystemClock(),
    )
    stop = asyncio.Event()
    gateway_task = asyncio.create_task(gateway.run(stop), name="gateway")
    crew_task = asyncio.create_task(crew.run(duration_s=30.0), name="crew")
    loop = asyncio.get_running_loop()
    try:
        reply: dict[str, object] = {}
        async with asyncio.timeout(40.0):
            while True:
                await asyncio.sleep(0.5)
                reply = await loop.run_in_executor(None, lambda: request(control, {"cmd": "muster"}))
                miners = reply.get("miners")
                if isinstance(miners, list) and miners and all(m["predicted_pillar"] for m in miners):
                    break
        miners = reply["miners"]
        assert isinstance(miners, list)
        assert len(miners) == 6
        assert all(m["predicted_pillar"] in layout.pillar_ids for m in miners)
        feed = gateway.record_feeds[source]
        assert feed.consumers == (gateway.localization,)
        assert feed.received > 0
        assert feed.rejected == 0
    finally:
        crew_task.cancel()
        stop.set()
        await gateway_task


def test_a_refused_location_model_degrades_status_but_keeps_the_heartbeat_relay(
    model_dir: Path, tmp_path: Path
) -> None:
    """Losing the muster list must not make a watchdog PLC treat a working gateway as dead."""
    import zmq.asyncio

    from edge.app import Gateway
    from edge.clock import SystemClock
    from edge.config.resolve import load_config

    broken = tmp_path / "model"
    shutil.copytree(model_dir, broken)
    onnx = sorted(broken.glob("*.onnx"))[0]
    onnx.write_bytes(onnx.read_bytes() + b"tampered")
    config = tmp_path / "gw.yaml"
    config.write_text(
        f"""gateway:
  id: gw-loc
  jurisdiction: us_msha_coal
  data_dir: data
  publish: null
localization:
  model_dir: {broken}
  source: tcp://127.0.0.1:1
""",
        encoding="utf-8",
    )
    # The gateway is built, never run: its control socket and journal are closed here, not by run().
    context = zmq.asyncio.Context()
    gateway = Gateway(load_config(config), clock=SystemClock(), zmq_context=context)
    try:
        assert gateway.localization is None
        assert "localization" in gateway.task_faults
        status = gateway.status()
        assert status["healthy"] is False
        assert status["safety_functions_ok"] is True
        assert gateway.safety_functions_ok()
        assert gateway.record_feeds == {}  # no model, no consumer: no subscription
        gateway.task_faults["record-feed:tcp://127.0.0.1:1"] = "ZMQError: feed gone"  # advisory, like the model
        assert gateway.safety_functions_ok()
        gateway.task_faults["bus:rtu1"] = "SerialException: port gone"
        assert not gateway.safety_functions_ok()
    finally:
        gateway.journal.close()
        context.destroy(linger=0)
