"""A directory of generated episodes: one compressed npz per episode, ``layout.json`` and ``manifest.json``.

The manifest records everything needed to regenerate or audit the data (generator version and parameters, site
constants, contract version, channel list) and a summary per episode (file, kind, duration, events with onset
and deadline), so a training job can pick and split episodes without opening them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from edge.hazard.contract import CAMERA_FIELDS, CONTRACT_VERSION, HAZARD_TYPES, SENSOR_CHANNELS, HazardType
from edge.sim.hazard.episode import EPISODE_FORMAT_VERSION, Episode
from edge.sim.hazard.generator import HazardScenarioGenerator

MANIFEST = "manifest.json"
LAYOUT = "layout.json"
DATASET_FORMAT_VERSION = 1


class DatasetError(ValueError):
    """A dataset directory that cannot be written or read as asked."""


def episode_summary(episode: Episode, file_name: str) -> dict[str, Any]:
    return {
        "file": file_name,
        "episode_id": episode.episode_id,
        "kind": episode.kind,
        "duration_s": episode.duration_s,
        "start_tod_s": episode.start_tod_s,
        "events": [
            {
                "hazard": e.hazard.value,
                "kind": e.kind,
                "onset_s": e.onset_s,
                "deadline_s": e.deadline_s,
                "deadline_rule": e.deadline_rule,
            }
            for e in episode.events
        ],
        "log_entries": len(episode.logs),
    }


def write_dataset(
    out: Path,
    generator: HazardScenarioGenerator,
    *,
    hazard_episodes: int,
    normal_days: int,
    hazard: HazardType | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int, Episode], None] | None = None,
) -> dict[str, Any]:
    """Generate and write ``hazard_episodes`` hazard episodes and ``normal_days`` normal days into ``out``."""
    if hazard_episodes < 0 or normal_days < 0:
        raise DatasetError(
            f"episode counts must be >= 0, got hazard_episodes={hazard_episodes}, normal_days={normal_days}"
        )
    if hazard_episodes + normal_days == 0:
        raise DatasetError("nothing to generate: give --episodes and/or --normal-days greater than 0")
    if out.exists() and not out.is_dir():
        raise DatasetError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise DatasetError(f"--out {out} is not empty; choose a new directory or pass --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    generator.layout.save(out / LAYOUT)
    summaries: list[dict[str, Any]] = []
    total = hazard_episodes + normal_days
    plan = [("h", i) for i in range(hazard_episodes)] + [("n", i) for i in range(normal_days)]
    for done, (what, index) in enumerate(plan, start=1):
        episode = generator.hazard_episode(index, hazard) if what == "h" else generator.normal_day(index)
        name = f"{episode.episode_id}.npz"
        episode.save(out / name)
        summaries.append(episode_summary(episode, name))
        if progress is not None:
            progress(done, total, episode)
    manifest = {
        "format": DATASET_FORMAT_VERSION,
        "episode_format": EPISODE_FORMAT_VERSION,
        "contract": CONTRACT_VERSION,
        "generator": generator.describe(),
        "site": generator.site.to_dict(),
        "channels": [{"name": c.name, "unit": c.unit, "location_role": c.location_role} for c in SENSOR_CHANNELS],
        "camera_fields": [f.value for f in CAMERA_FIELDS],
        "hazard_types": [h.value for h in HAZARD_TYPES],
        "episodes": summaries,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        raise DatasetError(f"{directory} is not a hazard dataset: {MANIFEST} is missing")
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != DATASET_FORMAT_VERSION:
        raise DatasetError(
            f"{path}: dataset format {manifest.get('format')!r}; this version reads {DATASET_FORMAT_VERSION}"
        )
    if manifest.get("contract") != CONTRACT_VERSION:
        raise DatasetError(
            f"{path}: made for feature contract {manifest.get('contract')!r}, this is {CONTRACT_VERSION}"
        )
    return manifest


def iter_episodes(directory: Path) -> Iterator[Episode]:
    """Every episode of a dataset directory, in manifest order."""
    for entry in read_manifest(directory)["episodes"]:
        yield Episode.load(directory / entry["file"])
