"""Shared helpers of the hazard simulator tests (imported by bare name; pytest's pythonpath has the repo root)."""

from __future__ import annotations

import functools

from edge.hazard.contract import HazardType
from edge.sim.hazard.episode import Episode
from edge.sim.hazard.generator import GeneratorParams, HazardScenarioGenerator

SEED = 11


@functools.cache
def generator(layout_seed: int = 0, seed: int = SEED) -> HazardScenarioGenerator:
    return HazardScenarioGenerator(seed=seed, layout_seed=layout_seed)


@functools.cache
def normal_day(index: int = 0, layout_seed: int = 0) -> Episode:
    return generator(layout_seed).normal_day(index)


@functools.cache
def hazard(hazard_type: HazardType, kind: str, index: int = 0, layout_seed: int = 0) -> Episode:
    return generator(layout_seed).hazard_episode(index, hazard_type, kind)


def short_params() -> GeneratorParams:
    """Two-hour episodes for tests that only need the machinery."""
    return GeneratorParams(hazard_episode_s=7200, normal_day_s=7200, onset_window_s=(1800.0, 3600.0))
