"""DTN node configuration: standalone node files and a gateway's dtn: section, errors with file/line/field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from dtn_node_fixtures import make_keys, node_body, socket_dir, write_node_file

from edge.config.issues import ConfigError
from edge.config.resolve import load_config
from edge.dtn.config import DEFAULT_TOPIC_PREFIX, load_node_config, parse_mqtt_url, parse_size
from edge.dtn.mqtt import DEFAULT_TOPIC_PREFIX as MQTT_DEFAULT_TOPIC_PREFIX
from edge.dtn.routing import PeerKind


def _errors(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_node_config(path)
    return [issue.render() for issue in caught.value.issues]


def test_a_node_file_resolves_paths_roles_and_link_settings(tmp_path: Path) -> None:
    make_keys(tmp_path / "keys", "g2", "g1", "g3")
    with socket_dir() as sockets:
        body = node_body(
            "g2",
            sockets,
            hops=2,
            peers=[{"id": "g1", "endpoint": f"ipc://{sockets}/g1.sock"}, {"id": "g3"}],
            extra={"store": {"capacity": "64MB", "durable": True}, "routing": {"policy": "static"}},
        )
        spec = load_node_config(write_node_file(tmp_path / "g2.yaml", body))
    assert spec.node_id == "g2"
    assert spec.role is PeerKind.FIXED
    assert spec.hops_to_surface == 2
    assert spec.data_dir == str(tmp_path / "data" / "g2")
    assert spec.store_path == tmp_path / "data" / "g2" / "bundles.sqlite"
    assert spec.keys_dir == str(tmp_path / "keys")
    assert spec.capacity_bytes == 64_000_000
    assert [(p.node_id, p.endpoint is not None) for p in spec.peers] == [("g1", True), ("g3", False)]
    assert spec.heartbeat_s == pytest.approx(0.2)
    assert spec.dead_after_s == pytest.approx(1.0)
    assert spec.ingest is None


def test_every_problem_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    make_keys(tmp_path / "keys", "g2")
    text = """\
node:
  id: g2
  role: fixed
  data_dir: data
  keys_dir: keys
  listen: ipc:///tmp/x.sock
  control: ipc:///tmp/x.ctl
peers:
  - {id: g1, endpoint: "ipc:///tmp/g1.sock"}
  - {id: g1}
  - {id: g2}
link: {heartbeat: 2s, dead_after: 1s}
sink: {delivery_log: true}
"""
    path = tmp_path / "node.yaml"
    path.write_text(text, encoding="utf-8")
    errors = _errors(path)
    joined = "\n".join(errors)
    assert f"{path}:3: error: node.hops_to_surface: a fixed gateway on static routing needs" in joined  # role's line
    assert f"{path}:10: error: peers[1].id: duplicate peer (also peers[0])" in joined
    assert f"{path}:11: error: peers[2].id: a node cannot be its own peer" in joined
    assert f"{path}:9: error: peers[0].id: no g1.pub in" in joined
    assert f"{path}:12: error: link.dead_after: must be longer than the heartbeat" in joined
    assert f"{path}:13: error: sink: a 'sink' section needs role: surface" in joined


def test_schema_errors_name_the_key_the_value_and_what_is_allowed(tmp_path: Path) -> None:
    body: dict[str, Any] = {
        "node": {
            "id": "bad id",
            "role": "carrier",
            "data_dir": "d",
            "keys_dir": "k",
            "listen": "tcp://host",
            "control": "ipc:///tmp/c",
        },
        "store": {"capacity": "12 parsecs"},
        "routing": {"policy": "prophett"},
        "ingest": {},
    }
    errors = "\n".join(_errors(write_node_file(tmp_path / "n.yaml", body)))
    assert "node.id: not a valid identifier (got 'bad id')" in errors
    assert "node.role: value not allowed (got 'carrier'); allowed: fixed, mobile, surface" in errors
    assert "node.listen: 'tcp://host' is not a ZeroMQ endpoint: write tcp://HOST:PORT" in errors
    assert "store.capacity: '12 parsecs' is not a size" in errors
    assert "routing.policy: value not allowed (got 'prophett')" in errors
    assert "ingest: unknown key" in errors


def test_keys_missing_say_how_to_make_them(tmp_path: Path) -> None:
    with socket_dir() as sockets:
        path = write_node_file(tmp_path / "g1.yaml", node_body("g1", sockets, hops=1))
    errors = "\n".join(_errors(path))
    assert "keys directory" in errors
    assert "minegate dtn keygen --dir" in errors
    # status reads a node file without needing its keys
    assert load_node_config(path, check_keys=False).node_id == "g1"


def test_a_node_that_can_never_make_contact_is_refused(tmp_path: Path) -> None:
    make_keys(tmp_path / "keys", "c1")
    with socket_dir() as sockets:
        body = node_body("c1", sockets, role="mobile")
        del body["node"]["listen"]
        errors = "\n".join(_errors(write_node_file(tmp_path / "c1.yaml", body)))
    assert "neither listens nor dials a peer" in errors


def test_surface_sink_needs_somewhere_to_put_bundles_and_a_valid_broker_url(tmp_path: Path) -> None:
    make_keys(tmp_path / "keys", "sink")
    with socket_dir() as sockets:
        body = node_body("sink", sockets, role="surface")
        body["sink"] = {"mqtt": "http://broker:1883"}
        errors = "\n".join(_errors(write_node_file(tmp_path / "s.yaml", body)))
        assert "sink.mqtt: unknown scheme 'http'" in errors
        body["sink"] = {}
        errors = "\n".join(_errors(write_node_file(tmp_path / "s.yaml", body)))
        assert "neither 'mqtt' nor 'delivery_log'" in errors
        body["sink"] = {"mqtt": "mqtt://127.0.0.1:1884", "topic_prefix": "mine/dtn"}
        spec = load_node_config(write_node_file(tmp_path / "s.yaml", body))
    assert spec.sink is not None
    assert (spec.sink.mqtt_host, spec.sink.mqtt_port, spec.sink.mqtt_tls) == ("127.0.0.1", 1884, False)
    assert spec.role is PeerKind.SURFACE


def test_sizes_and_broker_urls() -> None:
    assert parse_size("64MB") == 64_000_000
    assert parse_size("1GiB") == 1 << 30
    assert parse_size(4096) == 4096
    assert parse_size("1.5kB") == 1500
    for bad in ("0", "-1MB", "1 XB", True, 1.5):
        with pytest.raises(ValueError, match="size"):
            parse_size(bad)
    assert parse_mqtt_url("mqtts://broker.example") == ("broker.example", 8883, True)
    with pytest.raises(ValueError, match="no host"):
        parse_mqtt_url("mqtt://")
    assert DEFAULT_TOPIC_PREFIX == MQTT_DEFAULT_TOPIC_PREFIX


def _gateway_config(tmp_path: Path, dtn: dict[str, Any]) -> Path:
    body = {
        "gateway": {
            "id": "gw-7",
            "jurisdiction": "us_msha_coal",
            "data_dir": "var",
            "publish": None,
            "control": "ipc:///tmp/gw7.ctl",
        },
        "dtn": dtn,
    }
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def test_a_gateway_dtn_section_becomes_the_gateways_own_node(tmp_path: Path) -> None:
    make_keys(tmp_path / "keys", "gw-7", "gw-6")
    path = _gateway_config(
        tmp_path,
        {
            "hops_to_surface": 3,
            "keys_dir": "keys",
            "listen": "tcp://127.0.0.1:7007",
            "peers": [{"id": "gw-6", "endpoint": "tcp://127.0.0.1:7006"}],
            "ingest": {"telemetry_period": "30s"},
        },
    )
    spec = load_config(path).spec.dtn
    assert spec is not None
    assert spec.node_id == "gw-7"
    assert spec.data_dir == str(tmp_path / "var" / "dtn")
    assert spec.control_endpoint is None
    assert spec.ingest is not None
    assert spec.ingest.telemetry_period_s == 30.0
    assert spec.ingest.alarms
    assert not spec.ingest.movement  # no record feed: no localization section, no movement_source


def test_gateway_dtn_errors_point_into_the_gateway_file(tmp_path: Path) -> None:
    make_keys(tmp_path / "keys", "gw-7")
    path = _gateway_config(
        tmp_path,
        {"role": "surface", "keys_dir": "keys", "listen": "tcp://127.0.0.1:7007", "ingest": {"alarm_lifetime": "90d"}},
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    rendered = [i.render() for i in caught.value.issues]
    assert any(
        r.startswith(f"{path}:") and "dtn.role: a gateway's own node cannot be the surface sink" in r for r in rendered
    )
    assert any("dtn.ingest.alarm_lifetime: a bundle lifetime is at most 30 days" in r for r in rendered)


def test_dtn_problems_are_reported_with_the_rest_of_a_broken_gateway_config(tmp_path: Path) -> None:
    path = _gateway_config(tmp_path, {"hops_to_surface": 1, "keys_dir": "nokeys", "listen": "tcp://*:7001"})
    body = yaml.safe_load(path.read_text(encoding="utf-8"))
    body["buses"] = [{"id": "b1", "type": "tcp", "host": "127.0.0.1", "port": 502, "retries": 9}]
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    rendered = "\n".join(i.render() for i in caught.value.issues)
    assert "buses[0].retries" in rendered
    assert "dtn.keys_dir: keys directory" in rendered
