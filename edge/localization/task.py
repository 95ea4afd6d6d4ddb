"""The live location table: the latest window of every miner through the model, every few seconds.

Inference runs in the model's worker thread, batched over all miners, never on the event loop. The table
answers the rescue question after a roof fall: for each miner, where were they last seen, where does the
model put them next, how sure is it, and how long has it been since anything was heard from them.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge.clock import Clock
from edge.inference.model import LoadedModel
from edge.inference.worker import InferenceOverloaded, InferenceWorker
from edge.localization.columns import Contacts, Records
from edge.localization.features import FeatureSet, check_timezone, latest_windows
from edge.localization.records import ContactRecord, MovementRecord, TrackStore
from edge.sim.mine_layout import MineLayout

log = logging.getLogger(__name__)

TOP_K = 3


class LocalizationContractError(ValueError):
    """The model and what the gateway can compute for it disagree (features, layout)."""


@dataclass(frozen=True, slots=True)
class MinerEstimate:
    miner_id: str
    role: str
    last_seen_wall: float
    last_pillar: str
    predicted_pillar: str | None  # None until the miner has a full window of history
    confidence: float | None
    top3: tuple[tuple[str, float], ...]
    last_gateway: str | None
    last_contact_wall: float | None
    predicted_at_wall: float | None

    def to_dict(self, now_wall: float) -> dict[str, Any]:
        return {
            "miner_id": self.miner_id,
            "role": self.role,
            "last_seen_wall": self.last_seen_wall,
            "since_seen_s": now_wall - self.last_seen_wall,
            "last_pillar": self.last_pillar,
            "predicted_pillar": self.predicted_pillar,
            "confidence": self.confidence,
            "top3": [list(t) for t in self.top3],
            "last_gateway": self.last_gateway,
            "since_contact_s": None if self.last_contact_wall is None else now_wall - self.last_contact_wall,
            "predicted_at_wall": self.predicted_at_wall,
        }


class LocalizationTask:
    def __init__(
        self,
        model: LoadedModel,
        *,
        layout: MineLayout,
        clock: Clock,
        period_s: float = 5.0,
        max_miners: int = 2000,
    ) -> None:
        self.model = model
        self.layout = layout
        self.clock = clock
        self.period_s = period_s
        params = model.manifest.parameters
        self.window = int(params["window"])
        self.features = FeatureSet(str(params["features"]))
        # Manifests from before the parameter existed were all trained on UTC clocks.
        self.timezone = str(params.get("timezone", "UTC"))
        try:
            check_timezone(self.timezone)
        except ValueError as exc:
            raise LocalizationContractError(f"model {model.manifest.name!r}: {exc}") from None
        self.feature_names = list(model.manifest.normalisation.features)
        self.uses_contacts = any(n.startswith("contact_") for n in self.feature_names)
        unknown = sorted(set(model.labels) - set(layout.pillar_ids))
        if unknown:
            raise LocalizationContractError(
                f"model {model.manifest.name!r} predicts pillars the layout does not have ({unknown[:5]}): "
                "the model was trained for another mine layout"
            )
        self.store = TrackStore(labels=list(model.labels), history=self.window * 2, max_miners=max_miners)
        self.worker = InferenceWorker(self.model.predict_proba, name=model.manifest.name)
        self._estimates: dict[str, MinerEstimate] = {}
        self.cycles = 0
        self.last_cycle_s = 0.0

    # ---- input ------------------------------------------------------------------------------------------
    def add_record(self, record: MovementRecord) -> None:
        self.store.add(record)

    def add_contact(self, contact: ContactRecord) -> None:
        self.store.add_contact(contact)

    # ---- prediction -------------------------------------------------------------------------------------
    def _inputs(self, records: Records, contacts: Contacts | None) -> tuple[list[str], NDArray[np.float32]]:
        live = latest_windows(
            records,
            window=self.window,
            features=self.features,
            labels=list(self.model.labels),
            layout=self.layout,
            contacts=contacts,
            timezone=self.timezone,
        )
        return live.miner_ids, self._align(live.feature_names, live.X)

    def _align(self, names: list[str], X: NDArray[np.float32]) -> NDArray[np.float32]:
        """Columns in the model's order. Role columns depend on which roles are present, so a role the
        current records lack is a column of zeros; any other missing feature breaks the contract."""
        if names == self.feature_names:
            return X
        out = np.zeros((*X.shape[:2], len(self.feature_names)), dtype=np.float32)
        position = {n: i for i, n in enumerate(names)}
        for j, name in enumerate(self.feature_names):
            i = position.get(name)
            if i is not None:
                out[..., j] = X[..., i]
            elif not name.startswith("role_"):
                raise LocalizationContractError(
                    f"the model needs feature {name!r} that the gateway cannot compute from its records"
                )
        return out

    async def update(self) -> int:
        """Predict for every miner with a full window; returns how many were predicted."""
        started = self.clock.monotonic()
        loop = asyncio.get_running_loop()
        # Snapshot the tracks on the loop (records keep arriving on it while a thread reads them), then build
        # the features off the loop.
        records = self.store.columns()
        contacts = self.store.contact_columns() if self.uses_contacts else None
        miner_ids, X = await loop.run_in_executor(None, self._inputs, records, contacts)
        now_wall = self.clock.wall()
        probs: NDArray[np.float32] | None = None
        if miner_ids:
            try:
                probs = np.asarray(await self.worker.predict(X), dtype=np.float32)
            except InferenceOverloaded as exc:
                log.warning("localization: %s; predictions wait for the next cycle", exc)
        predicted: dict[str, tuple[str, float, tuple[tuple[str, float], ...]]] = {}
        if probs is not None:
            for miner, top in zip(miner_ids, self.model.top_k(probs, TOP_K), strict=True):
                label, p = top[0]
                predicted[miner] = (label, float(p), tuple((lab, float(q)) for lab, q in top))
        for miner, track in self.store.tracks.items():
            last = track[-1]
            contact = self.store.last_contact(miner)
            previous = self._estimates.get(miner)
            pred = predicted.get(miner)
            self._estimates[miner] = MinerEstimate(
                miner_id=miner,
                role=last.role,
                last_seen_wall=last.t_wall,
                last_pillar=last.pillar_id,
                predicted_pillar=pred[0] if pred else (previous.predicted_pillar if previous else None),
                confidence=pred[1] if pred else (previous.confidence if previous else None),
                top3=pred[2] if pred else (previous.top3 if previous else ()),
                last_gateway=contact.gateway_id if contact else None,
                last_contact_wall=contact.t_end if contact else None,
                predicted_at_wall=now_wall if pred else (previous.predicted_at_wall if previous else None),
            )
        self.cycles += 1
        self.last_cycle_s = self.clock.monotonic() - started
        return len(predicted)

    async def run(self) -> None:
        try:
            while True:
                await self.update()
                await asyncio.sleep(self.period_s)
        finally:
            await self.worker.close()

    # ---- output -------------------------------------------------------------------------------------------
    def estimates(self) -> list[MinerEstimate]:
        return sorted(self._estimates.values(), key=lambda e: e.miner_id)

    def muster(self) -> list[MinerEstimate]:
        """Rescue order: longest unheard first (they are the ones nobody knows about), then least certain."""
        return sorted(
            self._estimates.values(),
            key=lambda e: (e.last_seen_wall, e.confidence if e.confidence is not None else -math.inf, e.miner_id),
        )
