"""The status page's JSON view, HTML, metrics, map and request handling, on a real gateway that is built but not
run (readings go in through its statutory path, ``on_reading``), with a fake clock."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq.asyncio
from status_page_fixtures import LOCALIZATION_MODEL, free_port, new_token, parse_prometheus

from edge.app import Gateway
from edge.clock import FakeClock
from edge.config.issues import ConfigError
from edge.config.resolve import load_config
from edge.readings import Quality, QualityReason, Reading
from edge.sim.mine_layout import MineLayout
from edge.status_page.config import TokenError, read_token
from edge.status_page.http_server import Request
from edge.status_page.metrics import Family, ProcessFigures, render_metrics
from edge.status_page.page import render_page

METHANE = "ch4_mm12"
CO = "co_pump1"


def section_yaml(*, site: str = "3 North", status_page: str = "") -> str:
    return f"""gateway:
  id: gw-page
  site: "{site}"
  jurisdiction: us_msha_coal
  data_dir: data
  publish: null
  control: tcp://127.0.0.1:{free_port()}
buses:
  - {{id: lan, type: tcp, host: 127.0.0.1, port: {free_port()}}}
devices:
  - id: mm12
    bus: lan
    unit: 3
    profile: honeywell_xnx
    location: tailgate MM-12
    points:
      gas: {{id: {METHANE}, label: Methane, unit: "%", range: [0, 5], rule: methane_working_place}}
  - id: pump1
    bus: lan
    unit: 1
    profile: honeywell_midas
    location: pump station
    points:
      gas: {{id: {CO}, label: Carbon monoxide, unit: ppm, range: [0, 200], rule: co_toxic}}
status_page:
  listen: 127.0.0.1:0
{status_page}"""


MAP = f"""  map:
    layout: {LOCALIZATION_MODEL / "layout.json"}
    gateway: e2c29
    points: {{{METHANE}: e5c30}}
"""


class Built:
    def __init__(self, path: Path) -> None:
        self.clock = FakeClock()
        self.context = zmq.asyncio.Context()
        self.gateway = Gateway(load_config(path), clock=self.clock, zmq_context=self.context)

    def reading(
        self, point: str, value: float | None, unit: str, quality: Quality = Quality.GOOD, **kw: object
    ) -> None:
        self.gateway.on_reading(
            Reading(point, self.clock.monotonic(), self.clock.wall(), value, unit, quality, **kw)  # type: ignore[arg-type]
        )

    def close(self) -> None:
        self.gateway.journal.close()
        self.context.destroy(linger=0)


@pytest.fixture
def built(tmp_path: Path) -> Iterator[Built]:
    path = tmp_path / "gw.yaml"
    path.write_text(section_yaml(status_page=MAP), encoding="utf-8")
    b = Built(path)
    try:
        yield b
    finally:
        b.close()


def raise_methane_alarm(b: Built) -> None:
    for _ in range(4):  # past any on-delay of the statutory rule
        b.reading(METHANE, 2.0, "%")
        b.clock.advance(1.0)
    assert f"{METHANE}:alarm" in {e.alarm_id for e in b.gateway.alarms.snapshot()}


def test_view_lists_every_point_with_value_unit_and_quality(built: Built) -> None:
    built.reading(METHANE, 0.42, "%")
    built.reading(CO, None, "ppm", Quality.BAD, reason=QualityReason.FAULT, detail="fault 12")
    page = built.gateway.status_page
    assert page is not None
    view = page.view()
    json.dumps(view, allow_nan=False)  # what /api/status sends: strict JSON
    points = {p["point_id"]: p for p in view["points"]}
    assert set(points) == {METHANE, CO}, "diagnostic registers stay off the page"
    assert points[METHANE] | {"age_s": 0.0} == points[METHANE]
    assert (points[METHANE]["value_text"], points[METHANE]["unit"], points[METHANE]["quality"]) == ("0.42", "%", "good")
    assert points[METHANE]["label"] == "Methane"
    assert points[METHANE]["location"] == "tailgate MM-12"
    assert (points[CO]["value_text"], points[CO]["quality"]) == ("—", "bad")
    assert points[CO]["reason"] == QualityReason.FAULT.value
    assert view["gateway"]["id"] == "gw-page"
    assert view["ack_enabled"] is False
    assert view["cameras"] == {"configured": False, "note": "no cameras configured (cameras:)", "cameras": []}
    assert view["dtn"]["configured"] is False
    assert view["miners"]["configured"] is False

    html = render_page(view, mine_map=page.mine_map, refresh_s=2.0)
    row = re.search(rf'<tr class="point [^"]*" data-point="{METHANE}">(.*?)</tr>', html)
    assert row is not None
    assert "<td>Methane</td>" in row[1]
    assert '<td class="value">0.42</td><td class="unit">%</td>' in row[1]
    assert "No cameras configured" not in html  # the note says it in the gateway's own words
    assert "no cameras configured (cameras:)" in html


def test_an_alarm_shows_on_the_page_in_the_json_and_in_the_metrics(built: Built) -> None:
    raise_methane_alarm(built)
    page = built.gateway.status_page
    assert page is not None
    view = page.view()
    alarms = {a["alarm_id"]: a for a in view["alarms"]}
    alarm = alarms[f"{METHANE}:alarm"]
    assert alarm["state"] == "active_unacknowledged"
    assert alarm["state_text"] == "active, unacknowledged"
    assert alarm["statutory"]
    assert alarm["latched"]
    assert alarm["acknowledgeable"]
    assert alarm["value_text"] == "2.00"
    assert next(p for p in view["points"] if p["point_id"] == METHANE)["in_alarm"]
    assert next(m for m in view["map"]["points"] if m["id"] == METHANE)["state"] == "alarm"

    html = render_page(view, mine_map=page.mine_map, refresh_s=2.0)
    assert f'data-alarm="{METHANE}:alarm"' in html
    assert 'class="ack"' not in html, "a read-only page offers no Acknowledge button"
    assert "Read-only" in html

    metrics = parse_prometheus(render_metrics(view, ProcessFigures.read(), requests={"200": 3}))
    by_state = {(s.labels["state"], s.labels["priority"]): s.value for s in metrics["minegate_alarms"]}
    assert by_state[("active_unacknowledged", alarm["priority"])] >= 1
    assert len(by_state) == 4 * 4, "every state x priority is exported, zeros included"
    assert metrics["minegate_alarms_statutory_active"][0].value >= 1
    value = next(s for s in metrics["minegate_reading_value"] if s.labels["point"] == METHANE)
    assert value.labels == {"point": METHANE, "unit": "%", "quality": "good"}
    assert value.value == pytest.approx(2.0)
    co = next(s for s in metrics["minegate_reading_value"] if s.labels["point"] == CO)
    assert co.labels["quality"] == "none"
    assert math.isnan(co.value), "no reading yet: NaN"
    assert metrics["process_resident_memory_bytes"][0].value > 10e6
    assert metrics["process_cpu_seconds_total"][0].value > 0
    assert 0 < time.time() - metrics["process_start_time_seconds"][0].value < 3600
    assert metrics["minegate_status_page_requests_total"][0].labels == {"code": "200"}


def test_metric_labels_and_help_are_escaped() -> None:
    family = Family("minegate_test", "gauge", "help with \\ and\nnewline")
    family.add(1.5, point='a "quoted"\\name\nnext')
    family.add(float("nan"), point="b")
    family.add(float("inf"), point="c")
    parsed = parse_prometheus(family.render() + "\n")
    samples = {s.labels["point"]: s.value for s in parsed["minegate_test"]}
    assert samples['a "quoted"\\name\nnext'] == 1.5
    assert samples["c"] == float("inf")
    assert "\\n" in family.render().splitlines()[0], "HELP keeps one line"


def test_text_from_the_config_is_escaped(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(section_yaml(site="<script>alert('x')</script> & co", status_page=MAP), encoding="utf-8")
    b = Built(path)
    try:
        page = b.gateway.status_page
        assert page is not None
        html = render_page(page.view(), mine_map=page.mine_map, refresh_s=2.0)
    finally:
        b.close()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in html


def test_the_map_draws_pillars_gateways_sensors_and_miners(built: Built) -> None:
    page = built.gateway.status_page
    assert page is not None
    assert page.mine_map is not None
    mine_map = page.mine_map
    layout = MineLayout.load(LOCALIZATION_MODEL / "layout.json")
    miners: list[dict[str, Any]] = [
        {"miner_id": "M01", "predicted_pillar": "p140", "last_pillar": "p139", "confidence": 0.8},
        {"miner_id": "M02", "predicted_pillar": "p140", "last_pillar": "p140", "confidence": 0.6},
        {"miner_id": "M03", "predicted_pillar": None, "last_pillar": "p7", "confidence": None},
        {"miner_id": "M04", "predicted_pillar": "nowhere", "last_pillar": "p1", "confidence": 0.5},
    ]
    markers = mine_map.miner_markers(miners)
    assert [m["id"] for m in markers] == ["M01", "M02", "M03"], "a pillar the layout lacks is not drawn"
    assert (markers[0]["x"], markers[0]["y"]) != (markers[1]["x"], markers[1]["y"]), "two miners on p140 both show"
    assert markers[2]["predicted"] is False
    svg = mine_map.svg(points=mine_map.point_markers({METHANE: "good"}), miners=markers)
    assert svg.count('class="pillar"') == len(layout.pillars)
    assert svg.count('class="mesh-gateway"') == len(layout.gateways)
    assert 'class="this-gateway" data-gateway="gw-page"' in svg
    assert f'data-point="{METHANE}"' in svg
    assert svg.count('class="miner"') == 3
    # Inby (mine +y) runs to the right: the face end is right of the portal end.
    assert mine_map.place("f2").x > mine_map.place("e2c0").x  # type: ignore[union-attr]
    view = page.view()
    assert view["map"]["available"]
    assert "1 sensor(s) not placed" in view["map"]["note"]  # CO is not placed


def test_the_token_file_is_checked_and_its_content_never_shown(tmp_path: Path) -> None:
    short = tmp_path / "short.token"
    short.write_text("s3cret-but-short\n"[:10], encoding="utf-8")
    with pytest.raises(TokenError, match="at least 16 characters") as caught:
        read_token(short)
    assert "s3cret" not in str(caught.value)
    with pytest.raises(TokenError, match="cannot read it"):
        read_token(tmp_path / "missing.token")

    config = tmp_path / "gw.yaml"
    config.write_text(section_yaml(status_page="  ack_token_file: missing.token\n"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"status_page\.ack_token_file: cannot read it"):
        load_config(config)

    token = new_token()
    (tmp_path / "open.token").write_text(token, encoding="utf-8")
    (tmp_path / "open.token").chmod(0o644)
    config.write_text(
        section_yaml(status_page="  ack_token_file: open.token\n").replace("127.0.0.1:0", "0.0.0.0:0"),
        encoding="utf-8",
    )
    loaded = load_config(config)
    warnings = "\n".join(w.render() for w in loaded.warnings)
    assert "chmod 600" in warnings
    assert "without TLS on 0.0.0.0" in warnings
    assert token not in warnings
    assert loaded.spec.status_page is not None
    assert loaded.spec.status_page.ack_token_file == str(tmp_path / "open.token")
    assert token not in repr(loaded.spec)


@pytest.mark.parametrize(
    ("listen", "message"),
    [
        ("localhost-8080", "is not HOST:PORT"),
        ("127.0.0.1:99999", "outside 0-65535"),
        ("gateway.local:8080", "is not an IP address"),
    ],
)
def test_a_bad_listen_address_is_refused_with_what_to_write(tmp_path: Path, listen: str, message: str) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(section_yaml().replace("127.0.0.1:0", listen), encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(config)
    assert "status_page.listen" in str(caught.value)


def test_a_port_alone_listens_on_loopback(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(section_yaml().replace("127.0.0.1:0", "8080"), encoding="utf-8")
    spec = load_config(config).spec.status_page
    assert spec is not None
    assert spec.listen == "127.0.0.1:8080"


def _request(method: str, path: str, headers: dict[str, str] | None = None) -> Request:
    return Request(method, path, {}, {k.lower(): v for k, v in (headers or {}).items()}, b"", "127.0.0.1:5")


async def test_a_read_only_page_refuses_to_acknowledge(built: Built) -> None:
    raise_methane_alarm(built)
    page = built.gateway.status_page
    assert page is not None
    answer = await page.handle(_request("POST", f"/api/alarms/{METHANE}:alarm/ack", {"Authorization": "Bearer x"}))
    assert answer.status == 403
    assert "acknowledging from the status page is off" in json.loads(answer.body)["error"]
    assert (await page.handle(_request("GET", "/nowhere"))).status == 404
    assert (await page.handle(_request("DELETE", "/"))).status == 405
    assert (await page.handle(_request("GET", f"/api/alarms/{METHANE}:alarm/ack"))).status == 405
    static = await page.handle(_request("GET", "/static/page.js"))
    assert static.status == 200
    assert static.content_type.startswith("text/javascript")


def _token_config(tmp_path: Path, token: str) -> str:
    token_file = tmp_path / "page.token"
    token_file.write_text(token, encoding="utf-8")
    token_file.chmod(0o600)
    return section_yaml(status_page=f"  ack_token_file: {token_file}\n")


async def test_acknowledge_needs_the_right_bearer_token_and_a_standing_alarm(tmp_path: Path) -> None:
    token = new_token()
    path = tmp_path / "gw.yaml"
    path.write_text(_token_config(tmp_path, token), encoding="utf-8")
    b = Built(path)
    try:
        raise_methane_alarm(b)
        page = b.gateway.status_page
        assert page is not None
        assert page.ack_enabled
        target = f"/api/alarms/{METHANE}:alarm/ack"
        answers = []
        no_auth = await page.handle(_request("POST", target))
        answers.append(no_auth)
        assert no_auth.status == 401
        assert no_auth.headers["WWW-Authenticate"] == "Bearer"
        basic = await page.handle(_request("POST", target, {"Authorization": f"Basic {token}"}))
        answers.append(basic)
        assert basic.status == 401
        wrong = await page.handle(_request("POST", target, {"Authorization": f"Bearer {token[:-1]}x"}))
        answers.append(wrong)
        assert wrong.status == 403
        assert json.loads(wrong.body)["error"] == "wrong token: acknowledge refused"
        unknown = await page.handle(
            _request("POST", "/api/alarms/nope:alarm/ack", {"Authorization": f"Bearer {token}"})
        )
        answers.append(unknown)
        assert unknown.status == 404
        assert f"{METHANE}:alarm" in json.loads(unknown.body)["error"], "the 404 lists what is standing"
        assert b.gateway.alarms.snapshot()[-1].state.value == "active_unacknowledged", "nothing acknowledged yet"
        ok = await page.handle(_request("POST", target, {"Authorization": f"Bearer {token}"}))
        answers.append(ok)
        assert ok.status == 200
        events = json.loads(ok.body)["events"]
        assert [(e["alarm_id"], e["transition"], e["user"]) for e in events] == [
            (f"{METHANE}:alarm", "acknowledged", "status-page")
        ]
        again = await page.handle(_request("POST", target, {"Authorization": f"Bearer {token}"}))
        answers.append(again)
        assert again.status == 409
        for answer in [
            *answers,
            await page.handle(_request("GET", "/")),
            await page.handle(_request("GET", "/metrics")),
        ]:
            assert token.encode() not in answer.body
    finally:
        b.close()
