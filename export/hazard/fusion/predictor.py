"""The fusion model as a ``Predictor``: scored by the same code, on the same episodes and under the same warning
policy as the baselines.

Decisions every ``decision_stride_s`` (30 s) from the first full window. Hazard ``h`` is warned while its
probability is at or above its threshold, chosen on validation normal days within the false-warning budget by the
rule the GBT baseline uses (``export.hazard.thresholds``). Evidence for a warning is what the gateway computes:
the drop in the hazard's probability when each modality, then each sensor channel, is removed as missing data.

The outputs come from a *runner*: the PyTorch module right after training, or a model file through the gateway's
own loader (``from_model_dir``: checksum, tensor contract and reference checks), so the report scores the very
int8 file that ships.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from edge.hazard.availability import (
    MISSING_INPUTS,
    decision_thresholds,
    evidenced_hazards,
    fitted_mask,
    missing_mask,
    threshold_table,
    thresholds_without,
)
from edge.hazard.contract import CHANNEL_NAMES, HAZARD_TYPES, SENSOR_WINDOW_S, HazardType
from edge.hazard.model_input import FORECAST_OUTPUTS, HAZARD_OUTPUTS, OUTPUT_LABELS, RISK_OUTPUTS
from edge.hazard.site_model import is_sparse_site
from edge.inference.model import load_model
from edge.sim.hazard.episode import Episode
from edge.text.encoder import Encoder
from export.hazard.data import with_dead_channels
from export.hazard.fusion.dataset import (
    NO_TEXT,
    DecisionRows,
    TextTable,
    build_rows,
    decision_ends,
    episode_rows,
)
from export.hazard.fusion.train import FusionParams, Normalisation, TrainResult, train
from export.hazard.predictor import Forecast, Predictor
from export.hazard.scoring import DAY_S
from export.hazard.thresholds import DEFAULT_BUDGET, NEVER, choose_thresholds
from export.hazard.warnings import DecisionTrack, Evidence, WarningPolicy

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
Runner = Callable[[F32], F32]  # standardised, finite (N, ROWS, COLUMNS) -> raw outputs (N, OUTPUTS)
_C = len(CHANNEL_NAMES)


def sigmoid(x: F32) -> F64:
    return 1.0 / (1.0 + np.exp(-np.clip(x.astype(np.float64), -40, 40)))


def without_input(episode: Episode, name: str) -> Episode:
    """``episode`` without the input ``name`` of ``MISSING_INPUTS`` (a sensor channel) for its whole length."""
    if name not in MISSING_INPUTS:
        raise ValueError(f"unknown input {name!r}; one of {', '.join(MISSING_INPUTS)}")
    return with_dead_channels(episode, [name.removeprefix("sensors:")])


def fitted_channels(episode: Episode) -> NDArray[np.bool_]:
    """``edge.hazard.availability.fitted_mask`` of the channels ``episode``'s site has transmitters for: the site's
    ``channels`` list (a replayed real record names its few), every channel when it has none (a simulated mine)."""
    channels = episode.site.get("channels")
    return fitted_mask(None if channels is None else [str(c) for c in channels])


def torch_runner(model: torch.nn.Module, batch: int = 512) -> Runner:
    def run(x: F32) -> F32:
        model.eval()
        with torch.no_grad():
            parts = [model(torch.from_numpy(x[i : i + batch])).numpy() for i in range(0, x.shape[0], batch)]
        return np.concatenate(parts).astype(np.float32)

    return run


class FusionPredictor(Predictor):
    """See the module docstring."""

    def __init__(
        self,
        encoder: Encoder,
        *,
        params: FusionParams | None = None,
        budget_per_day: Mapping[HazardType, float] | None = None,
        policy: WarningPolicy | None = None,
        name: str = "fusion",
    ) -> None:
        self.name = name
        self.params = params or FusionParams()
        self.budget = dict(budget_per_day or DEFAULT_BUDGET)
        self.policy = policy or WarningPolicy()
        self.table = TextTable(encoder)
        self.thresholds: dict[HazardType, float] = dict.fromkeys(HAZARD_TYPES, NEVER)
        # per missing input (edge.hazard.availability), thresholds chosen on validation days without that input
        self.thresholds_without: dict[str, dict[HazardType, float]] = {}
        self.normalisation: Normalisation | None = None
        self.runner: Runner | None = None
        self.trained: TrainResult | None = None
        self.info: dict[str, Any] = {}
        self._cache: dict[str, tuple[Episode, NDArray[np.int64], DecisionRows, F32]] = {}
        # the model a sparse site runs instead (edge.hazard.site_model), as a gateway chooses by its channel mapping
        self.sparse_site: FusionPredictor | None = None

    def for_site(self, episode: Episode) -> FusionPredictor:
        """The predictor ``episode``'s site runs: ``sparse_site`` at a sparse site when there is one, else this."""
        if self.sparse_site is not None and is_sparse_site(fitted_channels(episode)):
            return self.sparse_site
        return self

    # -- fitting -----------------------------------------------------------------------------------------------

    def fit(self, train_episodes: Sequence[Episode], validation: Sequence[Episode]) -> None:
        p = self.params
        due = p.due_window_s or None
        train_rows = build_rows(
            train_episodes, self.table, stride_s=p.train_stride_s, normal_stride_s=p.normal_stride_s, due_window_s=due
        )
        validation_rows = build_rows(
            validation, self.table, stride_s=p.train_stride_s, normal_stride_s=p.normal_stride_s, due_window_s=due
        )
        self.trained = train(train_rows, validation_rows, self.table.vectors, p)
        self.normalisation = self.trained.normalisation
        self.runner = torch_runner(self.trained.model)
        self.info = {
            "train_rows": len(train_rows),
            "validation_rows": len(validation_rows),
            "best_epoch": self.trained.best_epoch,
            "train_s": round(self.trained.seconds, 1),
            "history": self.trained.history,
            "pretrain_history": self.trained.pretrain_history,
        }
        self.choose_thresholds(validation)

    def _choose_on_normal_days(
        self, validation: Sequence[Episode], transform: Callable[[Episode], Episode] | None = None
    ) -> tuple[dict[HazardType, float], dict[str, float]]:
        """``choose_thresholds`` on the validation normal days (each passed through ``transform`` first)."""
        normal = [e for e in validation if e.is_normal]
        days = sum(e.duration_s - SENSOR_WINDOW_S for e in normal) / DAY_S
        scores = []
        for episode in normal:
            ends, out = self.outputs(episode if transform is None else transform(episode))
            scores.append((episode.sensor_t[ends], sigmoid(out[:, HAZARD_OUTPUTS])))
        return choose_thresholds(scores, days, self.budget, self.policy)

    def choose_thresholds(self, validation: Sequence[Episode]) -> None:
        self.thresholds, achieved = self._choose_on_normal_days(validation)
        self.info["thresholds"] = {h.value: round(v, 5) for h, v in self.thresholds.items()}
        self.info["validation_false_per_day"] = achieved

    def choose_thresholds_without(self, validation: Sequence[Episode]) -> None:
        """For every input of ``MISSING_INPUTS``, thresholds chosen as ``choose_thresholds`` does, on the
        validation normal days with that input removed for the whole day, within the same budget."""
        achieved_without: dict[str, dict[str, float]] = {}
        for name in MISSING_INPUTS:
            self.thresholds_without[name], achieved_without[name] = self._choose_on_normal_days(
                validation, partial(without_input, name=name)
            )
        self.info["thresholds_without"] = {
            name: {h.value: round(v, 5) for h, v in table.items()} for name, table in self.thresholds_without.items()
        }
        self.info["validation_false_per_day_without"] = achieved_without

    def decision_thresholds(self, rows: DecisionRows, fitted: NDArray[np.bool_] | None = None) -> F64:
        """``(len(rows), len(HAZARD_TYPES))``: each decision's thresholds for the fitted channel it is without."""
        missing = missing_mask(rows.sensor[:, :, 2 * _C : 3 * _C])
        table = threshold_table(self.thresholds, self.thresholds_without)
        return decision_thresholds(missing, self.thresholds, table, fitted)

    @classmethod
    def from_model_dir(
        cls,
        model_dir: Path,
        encoder: Encoder,
        *,
        file: str | None = None,
        policy: WarningPolicy | None = None,
        name: str | None = None,
    ) -> FusionPredictor:
        """The shipped model through the gateway's loader, with the thresholds of its manifest."""
        loaded = load_model(model_dir, file)
        manifest = loaded.manifest
        params = FusionParams(decision_stride_s=int(manifest.parameters.get("decision_period_s", 30)))
        predictor = cls(encoder, params=params, policy=policy, name=name or f"fusion[{loaded.file.path}]")
        predictor.normalisation = Normalisation(
            np.asarray(manifest.normalisation.mean, dtype=np.float32),
            np.asarray(manifest.normalisation.std, dtype=np.float32),
        )
        predictor.thresholds = {h: float(manifest.parameters[f"threshold:{h.value}"]) for h in HAZARD_TYPES}
        predictor.thresholds_without = thresholds_without(manifest.parameters)
        predictor.runner = loaded.backend.run
        predictor.info = {
            "file": loaded.file.path,
            "backend": loaded.backend_name,
            "thresholds": {h.value: v for h, v in predictor.thresholds.items()},
        }
        return predictor

    # -- inference ---------------------------------------------------------------------------------------------

    def _run(self, rows: DecisionRows, chunk: int = 1024) -> F32:
        """Outputs for ``rows``, packed ``chunk`` rows at a time: a packed row is 170 KB, and a 20-day record at
        30 s decisions would be 10 GB at once."""
        if self.runner is None or self.normalisation is None:
            raise RuntimeError(f"{self.name}: fit() or from_model_dir() first")
        norm, vectors, runner = self.normalisation, self.table.vectors, self.runner
        parts = [
            runner(norm.packed(rows.take(np.arange(i, min(i + chunk, len(rows)))), vectors))
            for i in range(0, len(rows), chunk)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, len(OUTPUT_LABELS)), dtype=np.float32)

    def outputs(self, episode: Episode) -> tuple[NDArray[np.int64], F32]:
        chosen = self.for_site(episode)
        if chosen is not self:
            return chosen.outputs(episode)
        cached = self._cache.get(episode.episode_id)
        if cached is not None and cached[0] is episode:
            return cached[1], cached[3]
        ends = decision_ends(episode, self.params.decision_stride_s)
        rows = episode_rows(episode, ends, self.table)
        out = self._run(rows)
        self._cache = {episode.episode_id: (episode, ends, rows, out)}
        return ends, out

    def explain_row(self, rows: DecisionRows, i: int, k: int) -> Evidence:
        """Drop of hazard ``k``'s logit at row ``i`` with each modality, then each channel, removed."""
        one = rows.take(np.array([i]))
        variants: list[tuple[str, DecisionRows]] = [
            ("camera", dataclasses.replace(one, camera=np.zeros_like(one.camera))),
            ("text", dataclasses.replace(one, text_index=np.full_like(one.text_index, NO_TEXT))),
        ]
        no_sensors = one.sensor.copy()
        no_sensors[..., : 2 * _C] = np.nan
        no_sensors[..., 2 * _C :] = 0.0
        variants.append(("sensors", dataclasses.replace(one, sensor=no_sensors)))
        for c, channel in enumerate(CHANNEL_NAMES):
            dead = one.sensor.copy()
            dead[..., [c, _C + c]] = np.nan
            dead[..., 2 * _C + c] = 0.0
            variants.append((f"sensors:{channel}", dataclasses.replace(one, sensor=dead)))
        batch = DecisionRows(
            **{
                f: np.concatenate([getattr(one, f)] + [getattr(v, f) for _, v in variants])
                for f in one.__dataclass_fields__
            }
        )
        # logits: near probability 1 removing one input barely moves the probability (the gateway does the same)
        p = self._run(batch)[:, HAZARD_OUTPUTS.start + k].astype(np.float64)
        drops = [(name, float(p[0] - p[j])) for j, (name, _) in enumerate(variants, start=1)]
        modalities = sorted((d for d in drops if ":" not in d[0]), key=lambda d: -d[1])
        sensors = sorted((d for d in drops if ":" in d[0]), key=lambda d: -d[1])[:3]
        return tuple((name, round(v, 4)) for name, v in modalities + sensors)

    def tracks(self, episode: Episode) -> list[DecisionTrack]:
        chosen = self.for_site(episode)
        if chosen is not self:
            return chosen.tracks(episode)
        ends, out = self.outputs(episode)
        rows = self._cache[episode.episode_id][2]
        t = episode.sensor_t[ends]
        probabilities = sigmoid(out[:, HAZARD_OUTPUTS])
        fitted = fitted_channels(episode)
        # what the site has installed (a dead camera is still a configured one); a simulated mine has everything
        camera, logbook = (bool(episode.site.get(k, True)) for k in ("camera", "logbook"))
        evidenced = evidenced_hazards(fitted, camera=camera, logbook=logbook)
        limits = np.where(evidenced[None, :], self.decision_thresholds(rows, fitted), np.inf)
        tracks = []
        for k, hazard in enumerate(HAZARD_TYPES):
            score = probabilities[:, k]

            def explain(t_s: float, k: int = k) -> Evidence:
                return self.explain_row(rows, min(int(np.searchsorted(t, t_s)), len(rows) - 1), k)

            tracks.append(DecisionTrack(hazard, "model", t, score >= limits[:, k], score, explain=explain))
        return tracks

    def forecast(self, episode: Episode) -> Forecast | None:
        ends, out = self.outputs(episode)
        return Forecast(at=ends, values=out[:, FORECAST_OUTPUTS].astype(np.float64))

    def risk(self, episode: Episode) -> tuple[NDArray[np.int64], F64]:
        ends, out = self.outputs(episode)
        return ends, sigmoid(out[:, RISK_OUTPUTS])

    def describe(self) -> dict[str, object]:
        described: dict[str, object] = {
            **super().describe(),
            "params": dataclasses.asdict(self.params),
            "budget_per_day": {h.value: round(b, 4) for h, b in self.budget.items()},
            "info": self.info,
        }
        if self.sparse_site is not None:
            described["sparse_site"] = self.sparse_site.describe()
        return described
