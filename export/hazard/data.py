"""Episode sets for the evaluation, held out by scenario seed *and* by mine layout, and degraded copies of
episodes (a dead camera, a dead sensor, a modality removed) for the robustness rows.

A split is generated in memory (episodes are cheap: ~0.02 s per 6 h episode, ~0.1 s per day) or read from
directories written by ``python -m edge.sim.hazard generate``. Hazard episodes are drawn kind by kind, the same
number of each ``(hazard, kind)``, spread round-robin over the split's (seed, layout) pairs, so every kind is
scored on the same footing however rare the generator's mixture makes it.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.hazard.contract import CHANNEL_INDEX, CHANNEL_NAMES, HAZARD_TYPES
from edge.sim.hazard.dataset import iter_episodes
from edge.sim.hazard.episode import Episode
from edge.sim.hazard.generator import HAZARD_KINDS, HazardScenarioGenerator


@dataclass(frozen=True)
class SplitSpec:
    seeds: tuple[int, ...]
    layout_seeds: tuple[int, ...]
    per_kind: int  # hazard episodes per (hazard, kind)
    normal_days: int
    jurisdiction: str = "us_msha_coal"
    index_offset: int = 0  # first episode index (lets two splits share seeds without sharing episodes)

    def __post_init__(self) -> None:
        if not self.seeds or not self.layout_seeds:
            raise ValueError("a split needs at least one seed and one layout seed")
        if self.per_kind < 0 or self.normal_days < 0:
            raise ValueError(f"per_kind and normal_days must be >= 0, got {self.per_kind}, {self.normal_days}")

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def check_held_out(train: SplitSpec, test: SplitSpec) -> None:
    """Refuse a test split that shares a scenario seed or a mine layout with the training split."""
    seeds = set(train.seeds) & set(test.seeds)
    layouts = set(train.layout_seeds) & set(test.layout_seeds)
    if seeds or layouts:
        raise ValueError(
            f"test split must be held out by seed and by layout; shared seeds {sorted(seeds)}, "
            f"shared layout seeds {sorted(layouts)}"
        )


def all_kinds() -> list[tuple[str, str]]:
    return [(h.value, kind) for h in HAZARD_TYPES for kind, _ in HAZARD_KINDS[h]]


def generate_split(spec: SplitSpec) -> list[Episode]:
    """Hazard episodes (``per_kind`` of every kind) then normal days, spread over the split's (seed, layout) pairs."""
    generators = [
        HazardScenarioGenerator(seed=s, layout_seed=layout, jurisdiction=spec.jurisdiction)
        for s, layout in itertools.product(spec.seeds, spec.layout_seeds)
    ]
    episodes: list[Episode] = []
    for hazard in HAZARD_TYPES:
        for kind, _ in HAZARD_KINDS[hazard]:
            for i in range(spec.per_kind):
                generator = generators[i % len(generators)]
                episodes.append(generator.hazard_episode(spec.index_offset + i, hazard, kind))
    for i in range(spec.normal_days):
        episodes.append(generators[i % len(generators)].normal_day(spec.index_offset + i))
    return episodes


def load_directories(directories: Iterable[Path]) -> list[Episode]:
    return [episode for directory in directories for episode in iter_episodes(directory)]


def split_by_seed(episodes: Sequence[Episode], validation_seeds: Iterable[int]) -> tuple[list[Episode], list[Episode]]:
    held = set(validation_seeds)
    return [e for e in episodes if e.seed not in held], [e for e in episodes if e.seed in held]


def with_dead_camera(episode: Episode) -> Episode:
    """The same episode with the camera delivering nothing (every frame invalid, features NaN)."""
    return dataclasses.replace(
        episode,
        camera=np.full_like(episode.camera, np.nan),
        camera_valid=np.zeros_like(episode.camera_valid),
    )


def with_dead_channels(episode: Episode, channels: Sequence[str]) -> Episode:
    """The same episode with ``channels`` reporting nothing (NaN, as a transmitter in comm loss)."""
    sensors = episode.sensors.copy()
    for name in channels:
        if name not in CHANNEL_INDEX:
            raise ValueError(f"no sensor channel {name!r}; channels: {', '.join(CHANNEL_INDEX)}")
        sensors[:, CHANNEL_INDEX[name]] = np.nan
    return dataclasses.replace(episode, sensors=sensors)


def without_text(episode: Episode) -> Episode:
    return dataclasses.replace(episode, logs=[])


def without_sensors(episode: Episode) -> Episode:
    return dataclasses.replace(episode, sensors=np.full_like(episode.sensors, np.nan))


def as_site(episode: Episode, channels: Sequence[str], *, camera: bool, logbook: bool) -> Episode:
    """The same episode at a site fitted with only ``channels`` (the others absent, not dead: the site declares
    them, as a gateway's channel mapping does), with or without a camera and a logbook."""
    unknown = sorted(set(channels) - set(CHANNEL_INDEX))
    if unknown:
        raise ValueError(f"no sensor channel {', '.join(map(repr, unknown))}; channels: {', '.join(CHANNEL_INDEX)}")
    out = with_dead_channels(episode, [c for c in CHANNEL_NAMES if c not in channels])
    if not camera:
        out = with_dead_camera(out)
    if not logbook:
        out = without_text(out)
    site = {**episode.site, "channels": list(channels), "camera": camera, "logbook": logbook}
    return dataclasses.replace(out, site=site)
