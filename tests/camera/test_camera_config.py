from __future__ import annotations

import textwrap

import pytest
import yaml
from pydantic import ValidationError

import edge.camera.config as camera_config
from edge.camera.config import CameraConfig


def test_the_documented_example_is_valid_and_durations_read_as_written() -> None:
    doc = camera_config.__doc__
    assert doc is not None
    (example,) = yaml.safe_load(textwrap.dedent(doc.split("::", 1)[1]))
    config = CameraConfig.model_validate(example)
    assert config.zones[0].kind == "unsupported_roof"
    assert config.snapshots.enabled
    defaults = CameraConfig.model_validate({"id": "c", "source": "0", "health": {"frozen_after": "2min"}})
    assert defaults.health.frozen_after == 120
    assert not defaults.snapshots.enabled  # frames stay in memory unless a site asks for snapshots


def test_bad_values_name_the_field() -> None:
    with pytest.raises(ValidationError, match="sample_rate"):
        CameraConfig.model_validate({"id": "c", "source": "0", "sample_rate": 0})
    with pytest.raises(ValidationError, match="dark_clear_above"):
        CameraConfig.model_validate({"id": "c", "source": "0", "health": {"dark_below": 30, "dark_clear_above": 20}})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        CameraConfig.model_validate({"id": "c", "source": "0", "fps": 5})
    with pytest.raises(ValidationError, match=r"reconnect.max"):
        CameraConfig.model_validate({"id": "c", "source": "0", "reconnect": {"initial": "10s", "max": "5s"}})
