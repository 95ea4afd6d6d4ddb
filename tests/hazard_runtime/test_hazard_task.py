"""The hazard task on a real ONNX model with known weights: windows from readings, decisions on the period grid,
a gas warning with its words and evidence as a LOW WARNING condition; refusals raise a gateway malfunction."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import numpy as np
import pytest
import zmq.asyncio
from hazard_runtime_fixtures import DEFAULT_PARAMETERS, build_tiny_hazard_model, expected_outputs

from edge.app import Gateway
from edge.clock import FakeClock, SystemClock
from edge.config.resolve import LoadedConfig, load_config
from edge.hazard.contract import HazardType
from edge.hazard.gateway import HazardTaskRefused, build_hazard_task
from edge.hazard.hazard_model import HazardModel, HazardOutputs
from edge.hazard.task import HazardTask
from edge.inference.model import load_model
from edge.readings import Quality, Reading
from edge.rules.signals import ConditionChange, Priority, SignalClass

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "deploy" / "examples" / "hazard-demo.yaml"


def config(tmp_path: Path, model_dir: Path, *, time_scale: float = 1.0) -> LoadedConfig:
    text = DEMO.read_text()
    text = text.replace("model_dir: ../../models/hazard", f"model_dir: {model_dir}")
    text = text.replace("time_scale: 30 ", f"time_scale: {time_scale} ")
    text = text.replace("data_dir: ../../var/hazard-demo", f"data_dir: {tmp_path / 'data'}")
    text = text.replace("publish: tcp://127.0.0.1:5621", "publish: null")
    text = text.replace("control: tcp://127.0.0.1:5622", f"control: ipc://{tmp_path / 'control'}")
    path = tmp_path / "hazard.yaml"
    path.write_text(text)
    return load_config(path)


def build(loaded: LoadedConfig, clock: FakeClock | SystemClock, changes: list[ConditionChange]) -> HazardTask:
    section = loaded.spec.hazard
    assert section is not None
    return build_hazard_task(
        section,
        jurisdiction=loaded.spec.jurisdiction,
        devices=loaded.spec.devices,
        instruments=loaded.spec.instruments,
        rules=loaded.rules,
        clock=clock,
        apply=changes.extend,
    )


def methane(t: float) -> float:
    """Quiet for 300 s, then a fan stop: +0.002 %/s."""
    return 0.3 if t < 300 else 0.3 + 0.002 * (t - 300)


def airflow(t: float) -> float:
    return 2.0 if t < 300 else 0.4


def feed(task: HazardTask, clock: FakeClock, t: float) -> None:
    now = clock.monotonic()
    task.observe(Reading("ch4_face3", now, clock.wall(), methane(t), "%", Quality.GOOD))
    task.observe(Reading("air_face3", now, clock.wall(), airflow(t), "m/s", Quality.GOOD))


async def run_until_warning(task: HazardTask, clock: FakeClock, changes: list[ConditionChange]) -> list[float]:
    """Feed the fan stop second by second, deciding when due, until the first condition change; the decision
    times. The worker is closed afterwards."""
    task.restart_clock()
    decided: list[float] = []
    try:
        for second in range(700):
            feed(task, clock, second)
            task.sampler.advance(clock.monotonic())
            due = task.due_decision()
            if due is not None:
                decided.append(due)
                await task.decide(due)
            if changes:
                break
            clock.advance(1.0)
    finally:
        await task.worker.close()
    return decided


async def test_gas_warning_from_a_real_model(tmp_path: Path) -> None:
    model_dir = build_tiny_hazard_model(tmp_path / "model")
    clock = FakeClock()
    changes: list[ConditionChange] = []
    task = build(config(tmp_path, model_dir), clock, changes)
    decided = await run_until_warning(task, clock, changes)
    assert decided[0] == 119.0, "first decision once min_history_s (120 s) of rows exist"
    assert np.diff(decided).tolist() == [20.0] * (len(decided) - 1)
    (change,) = changes
    assert change.condition_id == "hazard.gas_accumulation"
    assert change.signal is SignalClass.WARNING
    assert change.priority is Priority.LOW
    assert change.active
    assert not change.statutory
    assert change.outputs == ()
    # The newest token's methane mean crossed p = 0.5: gas logit 20 (ch4 - 0.8) - (0.4 - 2) = 0 at ch4 = 0.72 %
    t_warn = decided[-1]
    assert methane(t_warn - 30) < 0.72 <= methane(t_warn) + 0.03
    assert change.value is not None
    assert change.value >= 0.5
    message = change.message
    assert message.startswith(
        "Methane concentration rising with inadequate ventilation at face 3: predicted 1.5 % in ~"
    )
    minutes = int(re.search(r"in ~(\d+) min", message).group(1))  # type: ignore[union-attr]
    assert 9 <= minutes <= 13  # forecast 1.5/2.0/2.5 x ch4 crosses 1.5 % between +10 and +15 min
    assert "evidence: sensors (ch4_face3, air_face3)" in message
    (raised,) = task.raised
    assert raised.warning.hazard is HazardType.GAS_ACCUMULATION
    assert [name for name, _ in raised.warning.evidence][:1] == ["sensors"]
    # The decision's outputs are exactly the model's known weights applied to the packed input
    packed = task.sampler.ring.window()
    assert task.last_outputs is not None
    assert packed.shape[0] == 1800
    assert task.status()["open_warnings"] == ["gas_accumulation"]


def test_expected_outputs_match_the_onnx_file(tmp_path: Path) -> None:
    model = HazardModel(load_model(build_tiny_hazard_model(tmp_path / "model")))
    rng = np.random.default_rng(3)
    packed = rng.normal(0, 1, size=(3, 98, 434)).astype(np.float32)
    packed[0, 59, 0] = np.nan
    got = model.run(packed)
    assert np.allclose(got, expected_outputs(packed), atol=1e-4)
    out = HazardOutputs.from_row(got[1])
    assert set(out.probability) == set(HazardType)


async def test_the_run_loop_samples_story_seconds_and_decides(tmp_path: Path) -> None:
    model_dir = build_tiny_hazard_model(tmp_path / "model")
    changes: list[ConditionChange] = []
    task = build(config(tmp_path, model_dir, time_scale=200.0), SystemClock(), changes)
    runner = asyncio.create_task(task.run())
    try:
        async with asyncio.timeout(10.0):
            while task.decisions < 3:  # noqa: ASYNC110  (the task has no event to wait on; polling a counter)
                await asyncio.sleep(0.05)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert task.sampler.samples >= 120 + 2 * 20
    assert task.status()["nan_share"] == 1.0  # nothing was read: every channel missing, still decided


@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        ({k: v for k, v in DEFAULT_PARAMETERS.items() if k != "decision_period_s"}, "'decision_period_s'"),
        ({**DEFAULT_PARAMETERS, "threshold:fire": "high"}, "threshold:fire must be a number"),
        ({k: v for k, v in DEFAULT_PARAMETERS.items() if k != "threshold:strata"}, "'threshold:strata'"),
    ],
)
def test_a_model_without_its_decision_parameters_is_refused(
    tmp_path: Path, parameters: dict[str, float | int | str | bool], problem: str
) -> None:
    model_dir = build_tiny_hazard_model(tmp_path / "model", parameters=parameters)
    with pytest.raises(HazardTaskRefused, match=re.escape(problem)):
        build(config(tmp_path, model_dir), FakeClock(), [])


async def test_a_missing_model_raises_a_gateway_malfunction_not_a_safety_fault(tmp_path: Path) -> None:
    loaded = config(tmp_path, tmp_path / "no-model-here")
    context = zmq.asyncio.Context()
    try:
        gateway = Gateway(loaded, clock=FakeClock(), zmq_context=context)
        try:
            assert gateway.hazard is None
            assert "no hazard model" in gateway.task_faults["hazard"]
            standing = {e.alarm_id: e for e in gateway.alarms.snapshot()}
            assert "gateway.hazard:malfunction" in standing
            assert standing["gateway.hazard:malfunction"].signal is SignalClass.MALFUNCTION
            assert gateway.safety_functions_ok(), "early warnings are advisory: the heartbeat relay stays up"
        finally:
            gateway.journal.close()
    finally:
        context.destroy(linger=0)


def test_the_logbooks_encoder_is_shared_when_it_is_the_one_the_model_was_trained_with(tmp_path: Path) -> None:
    from edge.hazard.config import HazardSection
    from edge.hazard.gateway import load_text_vectors
    from edge.text.hashed import HashedNgramEncoder

    model = HazardModel(load_model(build_tiny_hazard_model(tmp_path / "model")))
    section = HazardSection(channels={"ch4_face": "ch4_f3"}, text_encoder="hashed:384")
    logbooks = HashedNgramEncoder(384)
    text, note = load_text_vectors(section, model, logbooks)
    assert note == ""
    assert text is not None
    assert text.encoder is logbooks  # not a second copy of the encoder
    other, _ = load_text_vectors(section, model, HashedNgramEncoder(512))
    assert other is not None
    assert other.encoder is not logbooks
    assert other.encoder.name == logbooks.name


async def test_two_warnings_opened_by_one_decision_share_one_evidence_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hazard_runtime_fixtures

    from edge.hazard.model_input import OUTPUT_LABELS

    plain = hazard_runtime_fixtures.weights

    def gas_and_fire() -> tuple[np.ndarray, np.ndarray]:
        w, b = plain()
        gas, fire = OUTPUT_LABELS.index("hazard:gas_accumulation"), OUTPUT_LABELS.index("hazard:fire")
        w[:, fire], b[fire] = w[:, gas], b[gas]  # fire's logit is gas's: both open at the same decision
        return w, b

    monkeypatch.setattr(hazard_runtime_fixtures, "weights", gas_and_fire)
    model_dir = build_tiny_hazard_model(tmp_path / "model")
    clock = FakeClock()
    changes: list[ConditionChange] = []
    task = build(config(tmp_path, model_dir), clock, changes)
    batches: list[int] = []
    predict = task.worker.predict

    async def counting(batch: np.ndarray) -> np.ndarray:
        batches.append(batch.shape[0])
        return await predict(batch)

    monkeypatch.setattr(task.worker, "predict", counting)
    await run_until_warning(task, clock, changes)
    assert sorted(c.condition_id for c in changes) == ["hazard.fire", "hazard.gas_accumulation"]
    evidence_batches = [n for n in batches if n > 1]
    assert len(evidence_batches) == 1, batches
    evidence = {r.warning.hazard: r.warning.evidence for r in task.raised}
    assert evidence[HazardType.GAS_ACCUMULATION] == evidence[HazardType.FIRE]
