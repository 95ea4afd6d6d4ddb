"""deploy/install.sh: --dry-run prints every action and changes nothing, unsupported systems and damaged bundles are
refused before anything is touched, and (when a bundle was built with deploy/build_bundle.py) a real install into a
temporary root: idempotent second run, `minegate check` from the installed release, rollback and return.

The operating system and architecture are faked through MINEGATE_OS_RELEASE / MINEGATE_ARCH, and everything is
installed under --root, so none of this needs root or touches the machine."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALLER = REPO / "deploy" / "install.sh"
PY_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
HOST_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(platform.machine())

OS_RELEASES = {
    "bookworm": 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
    "raspios": 'ID=raspbian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nPRETTY_NAME="Raspbian GNU/Linux 12"\n',
    "jammy": 'ID=ubuntu\nVERSION_ID="22.04"\nVERSION_CODENAME=jammy\nPRETTY_NAME="Ubuntu 22.04.4 LTS"\n',
    "focal": 'ID=ubuntu\nVERSION_ID="20.04"\nVERSION_CODENAME=focal\nPRETTY_NAME="Ubuntu 20.04.6 LTS"\n',
    "bullseye": 'ID=debian\nVERSION_ID="11"\nVERSION_CODENAME=bullseye\nPRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\n',
    "fedora": 'ID=fedora\nVERSION_ID=39\nPRETTY_NAME="Fedora Linux 39 (Workstation Edition)"\n',
}


def _fake_bundle(tmp_path: Path, arch: str = "x86_64") -> Path:
    """A bundle with the real installer, unit and example config, and a placeholder wheel (dry runs never use it)."""
    bundle = tmp_path / f"minegate-0.1.0-{arch}"
    (bundle / "wheels").mkdir(parents=True)
    (bundle / "wheels" / "pip-26.3-py3-none-any.whl").write_bytes(b"placeholder")
    (bundle / "models" / "localization").mkdir(parents=True)
    (bundle / "models" / "localization" / "manifest.json").write_text("{}", encoding="utf-8")
    shutil.copytree(REPO / "deploy" / "examples", bundle / "examples")
    (bundle / "systemd").mkdir()
    shutil.copy(REPO / "systemd" / "minegate.service", bundle / "systemd" / "minegate.service")
    shutil.copy(REPO / "systemd" / "minegate.service.d" / "site.conf.example", bundle / "systemd" / "site.conf.example")
    shutil.copy(INSTALLER, bundle / "install.sh")
    for name in ("README.md", "INSTALL.md", "bundle.json"):
        (bundle / name).write_text(name, encoding="utf-8")
    (bundle / "bundle.env").write_text(
        f"BUNDLE_VERSION=0.1.0\nBUNDLE_ARCH={arch}\nBUNDLE_PYTHONS='{PY_VERSION}'\n", encoding="utf-8"
    )
    _write_sums(bundle)
    return bundle


def _write_sums(bundle: Path) -> None:
    files = sorted(p for p in bundle.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(bundle).as_posix()}" for p in files]
    (bundle / "SHA256SUMS").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _install(
    tmp_path: Path, bundle: Path, *args: str, os_name: str = "bookworm", arch: str = "x86_64"
) -> subprocess.CompletedProcess[str]:
    os_release = tmp_path / f"os-release-{os_name}"
    os_release.write_text(OS_RELEASES[os_name], encoding="utf-8")
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "MINEGATE_OS_RELEASE": str(os_release),
        "MINEGATE_ARCH": arch,
        "MINEGATE_PYTHON": sys.executable,
    }
    return subprocess.run(
        ["bash", str(INSTALLER), "--bundle", str(bundle), "--root", str(root), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_dry_run_prints_every_action_and_changes_nothing(tmp_path: Path) -> None:
    bundle = _fake_bundle(tmp_path)
    result = _install(tmp_path, bundle, "--dry-run")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    root = tmp_path / "root"
    assert _tree(root) == []
    assert "dry run: nothing will be changed" in out
    assert "platform: Debian 12 bookworm (debian) on x86_64" in out
    assert f"would run: {sys.executable} -m venv --without-pip {root}/opt/minegate/releases/0.1.0" in out
    assert f"--no-index --no-cache-dir --disable-pip-version-check --find-links {bundle}/wheels minegate==0.1.0" in out
    assert f"would run: install -m 0644 {bundle}/examples/gateway.yaml {root}/etc/minegate/gateway.yaml" in out
    assert f"would run: ln -sfn releases/0.1.0 {root}/opt/minegate/current.new" in out
    assert (
        f"would run: install -m 0644 {bundle}/systemd/minegate.service {root}/etc/systemd/system/minegate.service"
        in out
    )
    assert "skipping systemctl" in out
    assert "action(s) would be taken" in out
    assert "+ " not in out  # nothing was executed


@pytest.mark.parametrize(
    ("os_name", "arch", "message"),
    [
        ("fedora", "x86_64", "unsupported OS 'Fedora Linux 39 (Workstation Edition)'"),
        ("bullseye", "aarch64", "unsupported OS 'Debian GNU/Linux 11 (bullseye)'"),
        ("focal", "aarch64", "JetPack 5 (Ubuntu 20.04) has Python 3.8"),
        ("raspios", "armv7l", "32-bit Raspberry Pi OS cannot run minegate"),
        ("bookworm", "riscv64", "unsupported architecture riscv64"),
        ("jammy", "aarch64", "this bundle is for x86_64 but this machine is aarch64"),
    ],
)
def test_unsupported_systems_are_refused_before_any_change(
    tmp_path: Path, os_name: str, arch: str, message: str
) -> None:
    bundle = _fake_bundle(tmp_path)
    result = _install(tmp_path, bundle, os_name=os_name, arch=arch)
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stderr.startswith("install.sh: error: ")
    assert _tree(tmp_path / "root") == []


def test_supported_systems_pass_the_platform_check(tmp_path: Path) -> None:
    for os_name, arch in (("raspios", "aarch64"), ("jammy", "aarch64"), ("bookworm", "arm64")):
        bundle = _fake_bundle(tmp_path / os_name, arch="aarch64")
        result = _install(tmp_path / os_name, bundle, "--dry-run", os_name=os_name, arch=arch)
        assert result.returncode == 0, result.stderr
        assert "on aarch64" in result.stdout


def test_a_damaged_bundle_is_refused(tmp_path: Path) -> None:
    bundle = _fake_bundle(tmp_path)
    (bundle / "examples" / "gateway.yaml").write_text("truncated", encoding="utf-8")
    result = _install(tmp_path, bundle)
    assert result.returncode == 1
    assert "do not match SHA256SUMS" in result.stderr
    assert "copy minegate-0.1.0-x86_64.tar.gz again" in result.stderr
    assert _tree(tmp_path / "root") == []


def test_rollback_without_a_previous_release_is_refused(tmp_path: Path) -> None:
    result = _install(tmp_path, _fake_bundle(tmp_path), "--rollback")
    assert result.returncode == 1
    assert "nothing to roll back to" in result.stderr


def _built_bundle() -> Path:
    found = sorted((REPO / "dist").glob(f"minegate-*-{HOST_ARCH}/bundle.env"))
    if not found:
        pytest.skip(f"no {HOST_ARCH} bundle in dist/: build one with `.venv/bin/python deploy/build_bundle.py`")
    bundle = found[-1].parent
    if (
        f"'{PY_VERSION}" not in (bundle / "bundle.env").read_text()
        and f" {PY_VERSION}" not in (bundle / "bundle.env").read_text()
    ):
        pytest.skip(f"the bundle in dist/ has no wheels for Python {PY_VERSION}")
    return bundle


def test_real_install_into_a_temporary_root_is_idempotent_and_rolls_back(tmp_path: Path) -> None:
    bundle = _built_bundle()
    version = bundle.name.split("-")[1]
    root = tmp_path / "root"
    first = _install(tmp_path, bundle, arch=HOST_ARCH or "x86_64")
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"done: minegate {version} is current" in first.stdout
    minegate = root / "opt" / "minegate" / "current" / "bin" / "minegate"
    check = subprocess.run(
        [str(minegate), "check", str(root / "etc" / "minegate" / "gateway.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert "configuration is valid" in check.stdout
    assert (root / "opt" / "minegate" / "models" / "localization" / "manifest.json").is_file()

    before = {p: p.stat().st_mtime_ns for p in root.rglob("*") if not p.is_symlink()}
    second = _install(tmp_path, bundle, arch=HOST_ARCH or "x86_64")
    assert second.returncode == 0, second.stderr
    assert f"nothing to do: minegate {version} is installed and current" in second.stdout
    assert "+ " not in second.stdout
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if not p.is_symlink()} == before

    # An upgrade keeps the release it replaced as `previous`: stand one in and roll back to it and forth again.
    old = root / "opt" / "minegate" / "releases" / "0.0.9"
    (old / "bin").mkdir(parents=True)
    (old / "bin" / "minegate").write_text("#!/bin/sh\n", encoding="utf-8")
    (old / "bin" / "minegate").chmod(0o755)
    (root / "opt" / "minegate" / "previous").symlink_to("releases/0.0.9")
    back = _install(tmp_path, bundle, "--rollback", arch=HOST_ARCH or "x86_64")
    assert back.returncode == 0, back.stderr
    assert os.readlink(root / "opt" / "minegate" / "current") == "releases/0.0.9"
    assert os.readlink(root / "opt" / "minegate" / "previous") == f"releases/{version}"
    again = _install(tmp_path, bundle, arch=HOST_ARCH or "x86_64")
    assert again.returncode == 0, again.stderr
    assert f"ok: release {version} already installed from this bundle" in again.stdout
    assert os.readlink(root / "opt" / "minegate" / "current") == f"releases/{version}"
    assert os.readlink(root / "opt" / "minegate" / "previous") == "releases/0.0.9"
    assert old.is_dir()  # kept for the next rollback
