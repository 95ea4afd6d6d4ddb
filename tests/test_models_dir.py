"""One answer to "where are the shipped models" for the hazard task, the logbook and doctor."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.models_dir import ENV_VAR, shipped_model, shipped_models_dir

CHECKOUT_MODELS = Path(__file__).resolve().parents[1] / "models"


def test_a_source_checkout_uses_its_own_models_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert shipped_models_dir() == CHECKOUT_MODELS
    assert shipped_model("text", "minilm") == CHECKOUT_MODELS / "text" / "minilm"
    assert (shipped_model("localization") / "manifest.json").is_file()


def test_the_environment_overrides_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert shipped_model("hazard") == tmp_path / "hazard"


def test_every_default_model_path_follows_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib

    from edge.hazard.config import HazardSection
    from edge.hazard.gateway import model_dir_of

    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert model_dir_of(HazardSection(channels={"ch4_face": "ch4_face3"})) == tmp_path / "hazard"
    import edge.logbook.config as logbook_config

    try:
        assert tmp_path / "text" / "minilm" == importlib.reload(logbook_config).DEFAULT_ENCODER_DIR
    finally:
        monkeypatch.delenv(ENV_VAR)
        importlib.reload(logbook_config)


def test_a_sparse_site_gets_the_sparse_site_model_when_it_is_shipped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from edge.hazard.config import HazardSection
    from edge.hazard.contract import CHANNEL_NAMES
    from edge.hazard.gateway import model_dir_of

    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    three = HazardSection(channels={"ch4_face": "m1", "o2_face": "o1", "co_belt": "c1"})
    all_but_one = HazardSection(channels={c: f"p{i}" for i, c in enumerate(CHANNEL_NAMES[1:])})
    assert model_dir_of(three) == tmp_path / "hazard"  # none shipped: the full-section model
    (tmp_path / "hazard_sparse").mkdir()
    (tmp_path / "hazard_sparse" / "manifest.json").write_text("{}")
    assert model_dir_of(three) == tmp_path / "hazard_sparse"
    assert model_dir_of(all_but_one) == tmp_path / "hazard"  # one unmapped channel: the full model covers it
    chosen = HazardSection(channels=three.channels, model_dir=str(tmp_path / "mine"))
    assert model_dir_of(chosen) == tmp_path / "mine"  # a configured model always wins
