"""Dataset directories and the command line: round trip, manifest, and clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hazard_fixtures import short_params

from edge.hazard.contract import HazardType
from edge.sim.hazard.cli import main
from edge.sim.hazard.dataset import DatasetError, iter_episodes, read_manifest, write_dataset
from edge.sim.hazard.episode import Episode, EpisodeFormatError
from edge.sim.hazard.generator import HazardScenarioGenerator
from edge.sim.mine_layout import MineLayout


def test_write_then_read_gives_the_same_episodes(tmp_path: Path) -> None:
    generator = HazardScenarioGenerator(seed=3, layout_seed=2, params=short_params())
    manifest = write_dataset(tmp_path / "ds", generator, hazard_episodes=2, normal_days=1, hazard=HazardType.FIRE)
    assert [e["kind"].split("/")[0] for e in manifest["episodes"]] == ["fire", "fire", "normal"]
    loaded = list(iter_episodes(tmp_path / "ds"))
    original = generator.hazard_episode(1, HazardType.FIRE)
    again = loaded[1]
    for name in ("sensors", "sensors_clean", "fault_code", "camera", "camera_valid", "hazard_active"):
        np.testing.assert_array_equal(getattr(again, name), getattr(original, name))
    assert again.events == original.events
    assert again.logs == original.logs
    assert again.crossings == original.crossings
    assert MineLayout.load(tmp_path / "ds" / "layout.json").params == generator.layout.params
    assert read_manifest(tmp_path / "ds")["generator"]["layout_seed"] == 2


def test_refuses_to_mix_into_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("x")
    generator = HazardScenarioGenerator(seed=3, params=short_params())
    with pytest.raises(DatasetError, match="not empty; choose a new directory or pass --overwrite"):
        write_dataset(tmp_path, generator, hazard_episodes=1, normal_days=0)


def test_an_episode_file_of_another_format_is_refused(tmp_path: Path) -> None:
    generator = HazardScenarioGenerator(seed=3, params=short_params())
    path = tmp_path / "e.npz"
    generator.normal_day(0).save(path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta_json"]))
    meta["format"] = 99
    arrays["meta_json"] = np.array(json.dumps(meta))
    np.savez_compressed(path, **arrays)
    with pytest.raises(EpisodeFormatError, match="episode format 99"):
        Episode.load(path)


def test_cli_generates_and_summarises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    code = main(
        ["generate", "--episodes", "1", "--normal-days", "1", "--seed", "4", "--hours", "2", "--normal-hours", "2",
         "--hazard", "strata", "--out", str(out), "-q"]
    )  # fmt: skip
    assert code == 0
    assert "wrote 2 episodes" in capsys.readouterr().out
    assert main(["summary", str(out)]) == 0
    summary = capsys.readouterr().out
    assert "strata/" in summary
    assert "normal" in summary


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "--episodes", "-2", "--seed", "1", "--out", "x"], "expected a whole number >= 0, got -2"),
        (["generate", "--seed", "1", "--out", "x"], "nothing to generate"),
        (["generate", "--episodes", "1", "--seed", "1", "--hours", "0.5", "--out", "x"], "between 1 and 168 hours"),
        (["generate", "--episodes", "1", "--seed", "1", "--hazard", "flood", "--out", "x"], "invalid choice: 'flood'"),
        (["summary", "."], "not a hazard dataset: manifest.json is missing"),
    ],
)
def test_cli_refuses_bad_arguments(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
