"""Mapping configured points onto the model's channel roles: unknown roles, points and units are refused with
what is allowed; the config section resolves against a real gateway configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.config.issues import ConfigError
from edge.config.resolve import load_config
from edge.hazard.channel_units import ChannelUnitError, unit_converter
from edge.hazard.channels import ChannelMap, ChannelMapError
from edge.hazard.config import HazardSection

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Point:
    point_id: str
    unit: str
    location: str = "face 3"
    stale_after_s: float = 5.0


POINTS = [Point("ch4_f3", "%"), Point("co_b2", "ppm", "belt 2"), Point("temp_fan", "°F", "aux fan 2")]


def test_unknown_role_point_and_unit_are_refused_with_the_allowed_names() -> None:
    with pytest.raises(ChannelMapError, match=r"unknown hazard channel role 'ch4_tailgate'.*ch4_face, ch4_return"):
        ChannelMap.build({"ch4_tailgate": "ch4_f3"}, POINTS)
    with pytest.raises(ChannelMapError, match=r"unknown point 'ch4_f9'; points: ch4_f3, co_b2, temp_fan"):
        ChannelMap.build({"ch4_face": "ch4_f9"}, POINTS)
    with pytest.raises(ChannelMapError, match=r"unit '°F' cannot be converted to o2_face's unit '%vol'") as err:
        ChannelMap.build({"o2_face": "temp_fan"}, POINTS)
    assert "allowed: %lel, %vol, ppm" in str(err.value)
    with pytest.raises(ChannelMapError, match="unknown location role"):
        ChannelMap.build({"ch4_face": "ch4_f3"}, POINTS, locations={"tailgate": "MM-12"})


def test_units_convert_to_the_channel_unit_and_places_come_from_points_or_config() -> None:
    m = ChannelMap.build({"ch4_face": "ch4_f3", "bearing_temp_fan": "temp_fan"}, POINTS, locations={"face": "face 3"})
    fan = m.for_role("bearing_temp_fan")
    assert fan is not None
    assert fan.to_canonical(185.0) == pytest.approx(85.0)
    assert m.place("face") == "face 3"
    assert m.place("fan") == "aux fan 2"
    assert m.place("roof") == "roof"
    assert m.for_point("co_b2") is None
    assert unit_converter("airflow_face", "fpm")(196.85) == pytest.approx(1.0, abs=1e-4)
    assert unit_converter("rock_pressure", "bar")(100.0) == pytest.approx(10.0)
    assert unit_converter("ch4_face", "")(1.0) == 1.0  # a bare point is taken to be in the channel's unit
    with pytest.raises(ChannelUnitError, match=r"allowed: bar, hpa, kpa, mbar, pa"):
        unit_converter("barometric_pressure", "psi")


def test_section_validation_names_roles_and_duplicates() -> None:
    with pytest.raises(ValidationError, match=r"unknown hazard channel role\(s\) \['methane'\]; allowed: ch4_face"):
        HazardSection(channels={"methane": "ch4_f3"})
    with pytest.raises(ValidationError, match="mapped to more than one channel role"):
        HazardSection(channels={"ch4_face": "p", "ch4_return": "p"})
    with pytest.raises(ValidationError, match="time_scale"):
        HazardSection(channels={"ch4_face": "p"}, time_scale=0)


def test_the_demo_config_resolves_and_a_wrong_point_is_a_config_error(tmp_path: Path) -> None:
    loaded = load_config(REPO / "deploy" / "examples" / "hazard-demo.yaml")
    section = loaded.spec.hazard
    assert section is not None
    assert section.time_scale > 1
    assert section.model_dir == str(REPO / "models" / "hazard")
    assert set(section.channels) >= {"ch4_face", "airflow_face", "co_belt", "vib_fan"}
    text = (REPO / "deploy" / "examples" / "hazard-demo.yaml").read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("ch4_face: ch4_face3", "ch4_face: ch4_face33").replace("../../", str(REPO) + "/"))
    with pytest.raises(ConfigError) as err:
        load_config(broken)
    assert "hazard.channels.ch4_face" in str(err.value)
    assert "ch4_face3" in str(err.value)


def test_a_lel_methane_head_is_read_on_its_own_rules_basis() -> None:
    """A head calibrated on the older 5 %vol basis: 20 %LEL is 1.0 %vol, as the rule layer reads it, not 0.88."""
    points = [Point("ch4_f3", "%LEL")]
    iec = ChannelMap.build({"ch4_face": "ch4_f3"}, points)
    older = ChannelMap.build({"ch4_face": "ch4_f3"}, points, lel_basis={"ch4_f3": 5.0})
    iec_face = iec.for_role("ch4_face")
    older_face = older.for_role("ch4_face")
    assert iec_face is not None
    assert older_face is not None
    assert iec_face.to_canonical(20.0) == pytest.approx(0.88)
    assert older_face.to_canonical(20.0) == pytest.approx(1.0)
