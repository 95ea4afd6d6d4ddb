"""`minegate check` and `minegate run` on good and bad configs, as an electrician runs them: real processes.

A bad config must stop both commands with exit code 2 before anything touches a bus, and name the file and
line of the mistake with a suggestion, because the person fixing it is in a drift with a laptop, not a
debugger.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from integration_support import EXAMPLE_CONFIG, REPO_ROOT, run_cli, write_section_config

pytestmark = pytest.mark.integration

# (what is wrong, text in the valid config, replacement, the word the suggestion must offer)
MISTAKES = {
    "typo_key": (
        "    timeout: 300ms\n    retries: 1\n    backoff: 500ms\n\ndevices",
        "    timout: 300ms\n    retries: 1\n    backoff: 500ms\n\ndevices",
        "timeout",
    ),
    "unknown_profile": ("profile: honeywell_midas", "profile: honeywell_midsa", "honeywell_midas"),
    "bad_duration": ("heartbeat_period: 500ms", "heartbeat_period: 500 msec", "500ms"),
}


@pytest.fixture(scope="module")
def good_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_section_config(tmp_path_factory.mktemp("good"), field_kind="rtu").path


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_bad_config_exits_2_naming_file_line_and_suggestion(
    tmp_path: Path, good_config: Path, mistake: str, command: str
) -> None:
    original, broken, suggestion = MISTAKES[mistake]
    text = good_config.read_text(encoding="utf-8")
    assert text.count(original) == 1, f"the {mistake} fixture no longer matches the section config"
    bad_text = text.replace(original, broken)
    bad = tmp_path / "BAD.yaml"
    bad.write_text(bad_text, encoding="utf-8")
    first_changed = broken.splitlines()[0].strip()
    line = next(n for n, content in enumerate(bad_text.splitlines(), start=1) if content.strip() == first_changed)

    result = run_cli(command, "BAD.yaml", cwd=tmp_path)

    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    errors = [row for row in result.stderr.splitlines() if ": error: " in row]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"BAD.yaml:{line}: error: "), f"expected line {line}:\n{result.stderr}"
    assert f"did you mean '{suggestion}'?" in errors[0], errors[0]
    assert "nothing was started" in result.stderr
    assert not (tmp_path / "data").exists(), "a refused config must not create the data directory"
    assert result.stdout == "", "no plan is printed for an invalid config"


def test_check_example_config_prints_plan_and_bus_load() -> None:
    result = run_cli("check", str(EXAMPLE_CONFIG), cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"^\s+read FC03 holding \d+\.\.\d+ \(\d+\) -> .*gas", out, re.MULTILINE), out
    assert re.search(r"^\s+read FC04 input ", out, re.MULTILINE), out
    load_lines = [row for row in out.splitlines() if "estimated load" in row]
    assert len(load_lines) == 1, "one RS-485 bus in the example, one load line"
    assert "bus time per cycle" in load_lines[0]
    load = int(re.search(r"estimated load (\d+)%", load_lines[0])[1])  # type: ignore[index]
    assert load < 70
    assert "WARNING" not in out
    assert out.rstrip().endswith("configuration is valid")


def test_check_warns_about_an_overloaded_rtu_bus(tmp_path: Path) -> None:
    # Six XNX heads at 1200 baud polled every 200 ms: each poll reads 15 registers, about 0.3 s of wire time.
    devices = "\n".join(
        f"""  - id: head{n}
    bus: slow
    unit: {n}
    profile: honeywell_xnx
    poll: 200ms
    points:
      gas: {{id: ch4_head{n}, label: Methane, unit: "%", range: [0, 5], rule: methane_working_place}}"""
        for n in range(1, 7)
    )
    config = tmp_path / "slow.yaml"
    config.write_text(
        f"""gateway:
  id: gw-slow
  jurisdiction: us_msha_coal
  data_dir: data
  control: ipc://{tmp_path}/ctl
buses:
  - id: slow
    type: rtu
    port: /dev/ttyUSB7
    baudrate: 1200
    parity: E
devices:
{devices}
""",
        encoding="utf-8",
    )
    result = run_cli("check", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr  # a warning, not an error: the site may accept the load
    warnings = [row.strip() for row in result.stdout.splitlines() if "WARNING" in row]
    assert len(warnings) == 1, result.stdout
    match = re.match(r"WARNING: bus slow is (\d+)% busy \(above 70%\)", warnings[0])
    assert match, warnings[0]
    assert int(match[1]) > 70
    load_line = next(row for row in result.stdout.splitlines() if "estimated load" in row)
    assert f"estimated load {match[1]}%" in load_line
