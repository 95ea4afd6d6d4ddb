"""The DTN examples under deploy/examples/dtn are valid configurations (with keys made as their comments say)."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from edge.config.resolve import load_config
from edge.dtn.config import load_node_config
from edge.dtn.keys import generate
from edge.dtn.routing import PeerKind

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


def test_surface_sink_example_is_valid(tmp_path: Path) -> None:
    config = tmp_path / "surface-sink.yaml"
    shutil.copy(EXAMPLES / "dtn" / "surface-sink.yaml", config)
    for node in ("sink", "g1"):
        generate(tmp_path / "keys", node)
    spec = load_node_config(config)
    assert spec.node_id == "sink"
    assert spec.role is PeerKind.SURFACE
    assert spec.sink is not None
    assert spec.sink.mqtt_host == "127.0.0.1"
    assert spec.sink.mqtt_port == 1883
    assert [p.node_id for p in spec.peers] == ["g1"]


def test_gateway_dtn_section_example_fits_the_demo_gateway(tmp_path: Path) -> None:
    demo = (EXAMPLES / "demo-mine.yaml").read_text(encoding="utf-8")
    section = (EXAMPLES / "dtn" / "gateway-dtn-section.yaml").read_text(encoding="utf-8")
    config = tmp_path / "gateway.yaml"
    # The demo points at the repository's model directory with a relative path; this copy lives elsewhere.
    demo = demo.replace("../../models/localization", str(EXAMPLES.parents[1] / "models" / "localization"))
    config.write_text(demo + "\n" + section, encoding="utf-8")
    gateway_id = yaml.safe_load(demo)["gateway"]["id"]
    for node in (gateway_id, "g2", "sink"):
        generate(tmp_path / "keys", node)
    loaded = load_config(config)
    dtn = loaded.spec.dtn
    assert dtn is not None
    assert dtn.node_id == loaded.spec.gateway_id
    assert dtn.hops_to_surface == 1
    assert dtn.policy == "static"
    assert dtn.carrier_handoff_after_s == 600.0
    assert [p.node_id for p in dtn.peers] == ["sink", "g2"]
