"""The status page of a running gateway on the simulated demo mine: HTTP from outside, an acknowledge that lands in
the alarm journal, Prometheus metrics, and what a person sees in headless Chromium (Debian's ``chromium``)."""

from __future__ import annotations

import asyncio
import re
import shutil
import struct
from html import unescape
from pathlib import Path

import pytest
from status_page_fixtures import (
    METHANE,
    METHANE_ALARM,
    DemoSite,
    fetch,
    journal_events,
    new_token,
    parse_prometheus,
    running_demo,
    wait_until,
    write_demo_config,
)

pytestmark = pytest.mark.integration

# methane_buildup at 10x: the 1.5 % alarm about 5 s in; it latches, so it stands after methane clears at ~12 s.
TIME_SCALE = 10.0
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")


async def methane_alarm_standing(site: DemoSite) -> None:
    await wait_until(lambda: METHANE_ALARM in site.standing(), what="the methane alarm of methane_buildup")


async def test_acknowledge_over_http_is_journaled_and_metrics_parse(tmp_path: Path) -> None:
    token = new_token()
    config = write_demo_config(tmp_path, token=token)
    async with running_demo(config, scenario="methane_buildup", time_scale=TIME_SCALE) as site:
        await methane_alarm_standing(site)
        target = f"{config.url}api/alarms/{METHANE_ALARM}/ack"

        refused = await fetch(target, method="POST", headers={"Authorization": "Bearer not-the-token"})
        assert refused.status == 403
        assert refused.headers["content-type"] == "application/json"
        anonymous = await fetch(target, method="POST")
        assert anonymous.status == 401
        assert anonymous.headers["www-authenticate"] == "Bearer"
        unknown = await fetch(
            f"{config.url}api/alarms/nope/ack", method="POST", headers={"Authorization": f"Bearer {token}"}
        )
        assert unknown.status == 404

        acked = await fetch(target, method="POST", headers={"Authorization": f"Bearer {token}"})
        assert acked.status == 200, acked.text
        seq = next(e["seq"] for e in acked.json()["events"] if e["alarm_id"] == METHANE_ALARM)

        def journaled() -> dict[str, object] | None:
            return next((e for e in journal_events(config.journal) if e["seq"] == seq), None)

        await wait_until(lambda: site.gateway.journal_writer.durable_seq >= seq, what="the ack durable", timeout_s=10)
        event = journaled()
        assert event is not None
        assert (event["alarm_id"], event["transition"], event["user"]) == (METHANE_ALARM, "acknowledged", "status-page")

        status = (await fetch(f"{config.url}api/status")).json()
        alarm = next(a for a in status["alarms"] if a["alarm_id"] == METHANE_ALARM)
        assert alarm["acknowledgeable"] is False
        assert alarm["user"] == "status-page"

        metrics = await fetch(f"{config.url}metrics")
        assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
        families = parse_prometheus(metrics.text)
        methane = next(s for s in families["minegate_reading_value"] if s.labels["point"] == METHANE)
        assert methane.labels["unit"] == "%"
        assert families["minegate_readings_total"][0].value > 0
        assert families["minegate_safety_functions_ok"][0].value == 1
        assert {s.labels["task"] for s in families["minegate_inference_seconds"]} == {"localization"}
        codes = {s.labels["code"]: s.value for s in families["minegate_status_page_requests_total"]}
        assert codes["403"] >= 1
        assert codes["401"] >= 1
        for answer in (refused, anonymous, unknown, acked, metrics):
            assert token not in answer.text
            assert answer.headers["cache-control"] == "no-store"


def find_chromium() -> str:
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path is not None:
            return path
    pytest.skip(
        "chromium is not installed: `make debs` installs Debian's chromium package (apt-get install chromium) "
        "for the status page's end-to-end test"
    )


async def run_chromium(binary: str, *args: str, timeout_s: float = 40.0) -> str:
    """Chromium as a subprocess of this loop, so the gateway in the same loop keeps serving it."""
    process = await asyncio.create_subprocess_exec(
        binary,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--metrics-recording-only",
        "--mute-audio",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"chromium did not finish within {timeout_s:g} s") from None
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode("utf-8", errors="replace")


def text_of(html: str) -> str:
    """Roughly what a person reads: tags dropped, entities decoded, whitespace collapsed."""
    html = re.sub(r"<(script|style|title)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def row_text(html: str, attribute: str, key: str) -> str:
    match = re.search(rf'<tr [^>]*{attribute}="{re.escape(key)}"[^>]*>(.*?)</tr>', html, flags=re.S)
    assert match is not None, f"no row with {attribute}={key!r} on the page"
    return text_of(match[1])


async def test_chromium_shows_values_alarm_map_miners_and_cameras(tmp_path: Path) -> None:
    chromium = find_chromium()
    config = write_demo_config(tmp_path)
    async with running_demo(config, scenario="methane_buildup", time_scale=TIME_SCALE, crew=6) as site:
        await methane_alarm_standing(site)
        localization = site.gateway.localization
        assert localization is not None
        await wait_until(
            lambda: len(localization.estimates()) == 6 and all(e.predicted_pillar for e in localization.estimates()),
            what="predicted pillars for the 6 miners",
        )
        profile = tmp_path / "chromium-profile"
        common = (f"--user-data-dir={profile}", "--virtual-time-budget=5000")
        dom = await run_chromium(chromium, *common, "--dump-dom", config.url)
        screenshot = tmp_path / "page.png"
        await run_chromium(chromium, *common, f"--screenshot={screenshot}", "--window-size=1280,2000", config.url)

    # The page script ran and redrew from /api/status (the server's own render says it is a snapshot).
    poll = re.search(r'<p id="poll-state" class="(\w+)">(.*?)</p>', dom)
    assert poll is not None
    assert poll[1] == "live", poll[2]
    assert poll[2].startswith("Live: updated ")

    # Sensors: names, live values with units and quality.
    methane = row_text(dom, "data-point", METHANE)
    assert re.search(r"ch4_tg_mm12 Methane tailgate MM-12 \d+\.\d\d % (good|uncertain)", methane), methane
    co = row_text(dom, "data-point", "co_belt2")
    assert re.search(r"co_belt2 Carbon monoxide belt drive 2 \d+\.\d+ ppm good", co), co
    air = row_text(dom, "data-point", "air_face3")
    assert " m/s " in air

    # The methane alarm from the scenario, with its state and message.
    alarm = row_text(dom, "data-alarm", METHANE_ALARM)
    assert METHANE_ALARM in alarm
    assert "statutory latched" in alarm
    assert "critical" in alarm or "high" in alarm
    assert "Acknowledge" not in alarm, "no token configured: read-only"
    assert "Read-only" in text_of(dom)

    # The map: pillars, this gateway, DTN gateways, placed sensors (the methane head in alarm colour), miners.
    svg = re.search(r'<svg id="mine-map".*?</svg>', dom, flags=re.S)
    assert svg is not None
    assert svg[0].count('class="pillar"') == 150
    assert 'class="this-gateway" data-gateway="gw-demo-1"' in svg[0]
    assert 'class="mesh-gateway"' in svg[0]
    assert f'class="sensor sensor-alarm" data-point="{METHANE}"' in svg[0]
    assert svg[0].count('class="miner"') == 6

    # Miners, cameras, DTN as a person reads them.
    text = text_of(dom)
    miners = re.findall(r'<tr data-miner="([^"]+)"', dom)
    assert len(miners) == 6
    for miner in miners:
        cells = row_text(dom, "data-miner", miner).split()  # id role last predicted confidence % unheard unit gateway
        assert re.fullmatch(r"p\d+", cells[3]), cells
        assert re.fullmatch(r"\d+", cells[6]), f"time unheard {cells[6]} {cells[7]}"
    assert "no cameras configured (cameras:)" in text
    assert "this gateway runs no DTN node" in text
    assert "siren: ON" in text or "siren: off" in text

    # A real picture came out (a PNG of the requested size, not an empty file).
    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1280, 2000)
    assert len(png) > 50_000, f"screenshot of {len(png)} bytes: the page did not render"


def write_recording(path: Path, frames: int = 60) -> None:
    """A short textured video to replay as a camera (frames vary, so it is neither frozen nor dark)."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(3)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (160, 120))
    try:
        for _ in range(frames):
            writer.write(rng.integers(40, 220, size=(120, 160, 3), dtype=np.uint8))
    finally:
        writer.release()


async def test_camera_health_is_shown_per_camera(tmp_path: Path) -> None:
    write_recording(tmp_path / "xc7.avi")

    def with_cameras(config: dict[str, object]) -> None:
        config["cameras"] = {
            "streams": [
                {"id": "cam-xc7", "source": "xc7.avi", "location": "XC-7 belt entry", "replay_loop": True},
                {"id": "cam-face", "source": "gone.avi", "location": "face 3", "health": {"no_frames_after": "1s"}},
            ]
        }

    config = write_demo_config(tmp_path, extra=with_cameras)
    async with running_demo(config, scenario="normal_shift", time_scale=1.0) as site:
        cameras = site.gateway.cameras
        assert cameras is not None

        def camera_states() -> bool:
            by_id = {c["camera_id"]: c for c in cameras.status()["cameras"]}
            return by_id["cam-xc7"]["capture"]["state"] == "streaming" and bool(by_id["cam-face"]["conditions"])

        await wait_until(camera_states, what="one camera streaming and one without frames")
        html = (await fetch(config.url)).text
    good = row_text(html, "data-camera", "cam-xc7")
    assert good.startswith("cam-xc7 XC-7 belt entry streaming healthy"), good
    bad = row_text(html, "data-camera", "cam-face")
    assert bad.startswith("cam-face face 3 "), bad
    assert "healthy" not in bad
    assert "no_frames" in bad
    assert 'class="camera fault" data-camera="cam-face"' in html
