"""The hazard early-warning task on the gateway: aligned windows from the live streams, the model off the loop,
warnings into the alarm manager below every statutory alarm.

Every story second the sampler writes one row per channel from the newest readings; every ``decision_period_s``
(once ``min_history_s`` of history exists) a decision cuts the 30-min sensor window, the camera tokens and the log
window, packs them (``edge.hazard.model_input``) and runs the model in the inference worker's thread. Per hazard,
the probability against the manifest's threshold is one decision of the track ``(hazard, "model")``;
``WarningGate`` applies the evaluation's warning policy. An opened warning gets its evidence (the model re-run with
each modality and each measured channel masked, only then, in one batch), its words (``WarningComposer``) and an
alarm condition ``hazard.<hazard>`` of signal ``WARNING`` at priority LOW, never statutory, driving no output, fed
through the same ``apply`` as the camera violations. A closed warning clears it.

Nothing here is on the statutory path: readings reach this task through ``observe`` (two array writes) after the
rule layer has already seen them, and a slow or failed decision only costs warnings.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edge.camera.features import CameraFeatures
from edge.clock import Clock
from edge.hazard.availability import (
    dead_channels,
    decision_thresholds,
    evidenced_hazards,
    fitted_mask,
    missing_in_packed,
    threshold_table,
)
from edge.hazard.camera_rows import CameraRows
from edge.hazard.channels import ChannelMap
from edge.hazard.composer import WarningComposer, time_to_threshold
from edge.hazard.contract import (
    CHANNEL_INDEX,
    FORECAST_CHANNEL,
    HAZARD_TYPES,
    SENSOR_PERIOD_S,
    HazardType,
    LogEntry,
)
from edge.hazard.decision_input import DecisionInput, rank_evidence
from edge.hazard.features import text_window
from edge.hazard.hazard_model import HazardModel, HazardOutputs
from edge.hazard.model_input import HAZARD_OUTPUTS, TEXT_EMBEDDING_DIM
from edge.hazard.sampler import ChannelSampler
from edge.hazard.text_vectors import TextVectors
from edge.hazard.warning_gate import ClosedWarning, Decision, OpenedWarning, WarningGate
from edge.hazard.warning_policy import WARNING_PRIORITY, Evidence, HazardWarning, WarningPolicy
from edge.inference.worker import InferenceOverloaded, InferenceWorker
from edge.readings import Reading
from edge.rules.signals import ConditionChange, SignalClass

log = logging.getLogger(__name__)

TRACK = "model"
CURRENT_CH4_MAX_AGE_S = 60.0  # a face methane sample older than this is no "current value" for the forecast


class LogSource(Protocol):
    def recent(self, since_t_s: float) -> list[LogEntry]: ...


def alarm_id(hazard: HazardType) -> str:
    return f"hazard.{hazard.value}"


@dataclass(frozen=True, slots=True)
class RaisedWarning:
    """A warning the task annunciated: the policy's record plus the words the operator read."""

    warning: HazardWarning
    message: str
    basis: str  # "forecast", "risk" or "" (time to threshold unknown)


class HazardTask:
    def __init__(
        self,
        model: HazardModel,
        channel_map: ChannelMap,
        *,
        composer: WarningComposer,
        clock: Clock,
        apply: Callable[[Iterable[ConditionChange]], None],
        time_scale: float = 1.0,
        policy: WarningPolicy | None = None,
        camera: Callable[[], CameraFeatures | None] | None = None,
        logbook: Callable[[], LogSource | None] | None = None,
        text: TextVectors | None = None,
        source: str = "",
    ) -> None:
        self.model = model
        self.params = model.parameters
        self.map = channel_map
        self.composer = composer
        self.clock = clock
        self._apply = apply
        self.sampler = ChannelSampler(channel_map, start_mono=clock.monotonic(), time_scale=time_scale)
        self.gate = WarningGate(policy)
        for hazard in HAZARD_TYPES:
            self.gate.register(hazard, TRACK)
        self._camera = camera
        self._logbook = logbook
        self.text = text
        self.camera_rows = CameraRows()
        self._last_camera_t: float | None = None
        self.source = source or f"minegate hazard model {model.name}"
        self.worker = InferenceWorker(model.run, name=f"hazard-{model.name}", max_batch_rows=64, max_pending_rows=64)
        self._start_wall = clock.wall()
        self._next_decision_index = 0
        self._inflight: asyncio.Task[None] | None = None
        self.decisions = 0
        self.skipped = 0  # decisions dropped because the previous one was still running
        self.last_decision_s: float | None = None  # wall seconds one decision took (pack + run)
        self.last_outputs: HazardOutputs | None = None
        # A channel this site has no transmitter for is its normal state, not a failure (edge.hazard.availability)
        self._fitted = fitted_mask([m.role for m in self.map.channels])
        # a hazard this site has no source of evidence for never warns here (edge.hazard.availability)
        self._evidenced = evidenced_hazards(
            self._fitted, camera=camera is not None, logbook=logbook is not None and text is not None
        )
        # per dead channel, the thresholds in force (the manifest's, never above the intact ones): fixed per model
        self._dead_channel_table = threshold_table(self.params.thresholds, self.params.thresholds_without)
        self.last_missing: list[str] = []  # the mapped channels the last decision's window had no reading of
        self.last_limits: dict[HazardType, float] = {}  # the thresholds of the last decision (what it was without)
        self.raised: list[RaisedWarning] = []
        self.suppressed: list[OpenedWarning] = []
        self.text_note = "" if text is not None else "no text encoder: log entries are not read"

    # ---- input (on the loop) -------------------------------------------------------------------------
    def observe(self, reading: Reading) -> None:
        self.sampler.observe(reading)

    def story_time(self, t_mono: float) -> float:
        return self.sampler.story_time(t_mono)

    def _poll_camera(self) -> None:
        if self._camera is None:
            return
        frame = self._camera()
        if frame is None or (self._last_camera_t is not None and frame.t_s <= self._last_camera_t):
            return
        self._last_camera_t = frame.t_s
        self.camera_rows.add(self.story_time(frame.t_s), frame.vector(), frame.camera_valid)

    # ---- the loop ------------------------------------------------------------------------------------
    def restart_clock(self) -> None:
        """Start the story clock now (the sampler's history starts empty)."""
        self.sampler = ChannelSampler(self.map, start_mono=self.clock.monotonic(), time_scale=self.sampler.time_scale)
        self._start_wall = self.clock.wall()
        self._next_decision_index = 0

    def due_decision(self) -> float | None:
        """Story second of the decision due now (the newest row), if any: one per ``decision_period_s`` rows,
        counted from the first row, once ``min_history_s`` of history exists."""
        samples = self.sampler.samples
        if samples == 0 or samples < self.params.min_history_s / SENSOR_PERIOD_S:
            return None
        index = samples // self.params.decision_period_s
        if index < 1 or index < self._next_decision_index:
            return None
        self._next_decision_index = index + 1
        return float(samples - 1) * SENSOR_PERIOD_S

    async def run(self) -> None:
        self.restart_clock()
        try:
            while True:
                now = self.clock.monotonic()
                self.sampler.advance(now)
                self._poll_camera()
                if self._inflight is not None and self._inflight.done():
                    finished, self._inflight = self._inflight, None
                    finished.result()  # a failed decision fails the task: the supervisor records and restarts it
                due = self.due_decision()
                if due is not None:
                    if self._inflight is None:
                        self._inflight = asyncio.create_task(self.decide(due), name="hazard-decision")
                    else:
                        self.skipped += 1
                next_row = self.sampler.wall_of_story(self.sampler.samples * SENSOR_PERIOD_S)
                await asyncio.sleep(max(0.0, next_row - self.clock.monotonic()))
        finally:
            if self._inflight is not None:
                self._inflight.cancel()
                await asyncio.gather(self._inflight, return_exceptions=True)
                self._inflight = None
            await self.worker.close()
            self.worker = InferenceWorker(
                self.model.run, name=f"hazard-{self.model.name}", max_batch_rows=64, max_pending_rows=64
            )

    # ---- one decision --------------------------------------------------------------------------------
    async def _text(self, t_story: float) -> tuple[np.ndarray, np.ndarray]:
        empty = np.zeros((0, TEXT_EMBEDDING_DIM), np.float32), np.zeros(0, np.float32)
        source = self._logbook() if self._logbook is not None else None
        if source is None or self.text is None:
            return empty
        scale = self.sampler.time_scale
        now_wall = self.clock.wall()
        since_wall = now_wall - 8 * 3600.0 / scale - 1.0
        loop = asyncio.get_running_loop()
        entries = await loop.run_in_executor(None, source.recent, since_wall)
        # Log times are wall seconds; the model's window is in story seconds (equal unless simulating).
        story_entries = [
            LogEntry(t_story - (now_wall - e.t_s) * scale, e.text, e.equipment, e.location, e.kind) for e in entries
        ]
        window = text_window(sorted(story_entries, key=lambda e: e.t_s), t_story)
        if not window:
            return empty
        text = self.text
        return await loop.run_in_executor(None, text.vectors, window)

    def current_ch4(self, window: np.ndarray) -> float | None:
        column = window[-int(CURRENT_CH4_MAX_AGE_S / SENSOR_PERIOD_S) :, CHANNEL_INDEX[FORECAST_CHANNEL]]
        finite = column[np.isfinite(column)]
        return float(finite[-1]) if finite.size else None

    async def decide(self, t_story: float) -> None:
        started = self.clock.monotonic()
        loop = asyncio.get_running_loop()
        window = self.sampler.ring.window()
        camera = self.camera_rows.tokens(t_story)
        vectors, ages = await self._text(t_story)
        decision_input = DecisionInput(window, camera, vectors, ages)
        packed = await loop.run_in_executor(None, decision_input.packed)
        # the thresholds for a mapped transmitter silent for the whole window
        missing = missing_in_packed(packed[None])
        self.last_missing = dead_channels(missing[0], self._fitted)
        in_force = decision_thresholds(missing, self.params.thresholds, self._dead_channel_table, self._fitted)[0]
        limits = np.where(self._evidenced, in_force, np.inf)
        self.last_limits = {h: float(limits[k]) for k, h in enumerate(HAZARD_TYPES)}
        try:
            raw = await self.worker.predict(packed[None])
        except InferenceOverloaded as exc:
            log.warning("hazard: %s; decision at story %.0f s skipped", exc, t_story)
            self.skipped += 1
            return
        outputs = HazardOutputs.from_row(np.asarray(raw[0], dtype=np.float32))
        self.last_outputs = outputs
        self.decisions += 1
        self.last_decision_s = self.clock.monotonic() - started
        current = self.current_ch4(window)
        decisions = []
        bases: dict[HazardType, str] = {}
        for hazard in HAZARD_TYPES:
            p = outputs.probability[hazard]
            ttt, bases[hazard] = time_to_threshold(
                outputs, hazard, current_ch4=current, alarm_level=self.composer.alarm_level
            )
            decisions.append(Decision(hazard, TRACK, p >= self.last_limits[hazard], p, ttt))
        step = self.gate.decide(t_story, decisions)
        self._apply_closed(step.closed)
        for opened in (o for o in step.opened if o.suppressed):
            self.suppressed.append(opened)
            log.info(
                "hazard warning %s suppressed by the flood limit (p=%.2f at story %.0f s)",
                opened.hazard.value,
                opened.score,
                t_story,
            )
        raised = [o for o in step.opened if not o.suppressed]
        # One evidence pass per decision, shared by every warning it opens (two hazards opening together used to
        # build and run the whole masked batch twice).
        evidence_pass = await self._evidence_pass(decision_input) if raised else None
        for opened in raised:
            evidence = () if evidence_pass is None else self._evidence(*evidence_pass, opened.hazard)
            self._raise(opened, evidence, bases[opened.hazard])

    async def _evidence_pass(self, decision_input: DecisionInput) -> tuple[list[str], np.ndarray] | None:
        """The evidence batch's group names and raw outputs; None when the worker is overloaded."""
        loop = asyncio.get_running_loop()
        groups, batch = await loop.run_in_executor(None, decision_input.evidence_batch)
        try:
            raw = await self.worker.predict(batch)
        except InferenceOverloaded as exc:
            log.warning("hazard: evidence pass skipped: %s", exc)
            return None
        return groups, np.asarray(raw, dtype=np.float32)

    @staticmethod
    def _evidence(groups: list[str], raw: np.ndarray, hazard: HazardType) -> Evidence:
        # Logits, not probabilities: a confident warning sits near probability 1, where removing any one input
        # barely moves the probability and the ranking would be noise; the logit still moves.
        column = HAZARD_OUTPUTS.start + HAZARD_TYPES.index(hazard)
        return rank_evidence(groups, [float(r[column]) for r in raw])

    # ---- alarm conditions ----------------------------------------------------------------------------
    def _raise(self, opened: OpenedWarning, evidence: Evidence, basis: str) -> None:
        message = self.composer.message(
            opened.hazard, time_to_threshold_s=opened.time_to_threshold_s, basis=basis, evidence=evidence
        )
        warning = opened.warning(opened.t_s, evidence)
        self.raised.append(RaisedWarning(warning, message, basis))
        del self.raised[:-50]
        log.warning("hazard warning %s (p=%.2f): %s", opened.hazard.value, opened.score, message)
        self._apply([self._change(opened, active=True, message=message)])

    def _apply_closed(self, closed: Sequence[ClosedWarning]) -> None:
        changes = []
        for c in closed:
            if c.opened.suppressed:
                continue
            headline = self.composer.headline(c.opened.hazard, ())
            place = self.composer.place(c.opened.hazard, ())
            changes.append(self._change(c.opened, active=False, message=f"{headline} at {place}: condition cleared"))
        if changes:
            self._apply(changes)

    def _change(self, opened: OpenedWarning, *, active: bool, message: str) -> ConditionChange:
        hazard = opened.hazard
        return ConditionChange(
            condition_id=alarm_id(hazard),
            point_id=alarm_id(hazard),
            signal=SignalClass.WARNING,
            priority=WARNING_PRIORITY,
            active=active,
            statutory=False,
            latch=False,
            value=round(opened.score, 4),
            limit=self.last_limits.get(hazard, self.params.thresholds[hazard]),
            unit="probability",
            message=message,
            action=opened.warning(opened.t_s).action,
            source=self.source,
            outputs=(),
            t_mono=self.clock.monotonic(),
            t_wall=self.clock.wall(),
        )

    # ---- status --------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        out = self.last_outputs
        return {
            "model": self.model.name,
            "file": self.model.loaded.file.path,
            "model_dir": str(self.model.loaded.path.parent),  # a sparse site runs models/hazard_sparse
            "backend": self.model.loaded.backend_name,
            "time_scale": self.sampler.time_scale,
            "samples": self.sampler.samples,
            "readings_seen": self.sampler.readings_seen,
            "decisions": self.decisions,
            "skipped": self.skipped,
            "last_decision_s": self.last_decision_s,
            "probabilities": {h.value: round(p, 4) for h, p in out.probability.items()} if out else None,
            "open_warnings": [h.value for h in self.gate.open_warnings()],
            "deciding_without": self.last_missing,
            # None: the site has nothing to decide that hazard on (JSON has no infinity)
            "thresholds": {h.value: round(v, 4) if math.isfinite(v) else None for h, v in self.last_limits.items()},
            "raised": [r.message for r in self.raised[-5:]],
            "suppressed": len(self.suppressed),
            "text": self.text_note or "log entries read",
            "channels": {m.role: m.point_id for m in self.map.channels},
            "min_history_s": self.params.min_history_s,
            "history_s": self.sampler.samples * SENSOR_PERIOD_S,
            "nan_share": _nan_share(self.sampler.ring.window()) if self.sampler.samples else math.nan,
        }


def _nan_share(window: np.ndarray) -> float:
    return float(np.isnan(window).mean())
