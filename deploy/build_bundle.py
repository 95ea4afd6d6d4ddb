"""Build the offline install bundles: one tar per architecture that installs minegate with no network.

Run on a workshop machine with internet access (from a clone, with `make venv` done)::

    .venv/bin/python deploy/build_bundle.py                       # aarch64 and x86_64, Python 3.11 and 3.12
    .venv/bin/python deploy/build_bundle.py --arch aarch64 --python 3.11 --out dist

Each ``dist/minegate-<version>-<arch>.tar.gz`` holds ``minegate-<version>-<arch>/`` with:

- ``wheels/``: minegate's own wheel and the gateway dependencies (``[project].dependencies``, no torch), binary
  wheels only, fetched by ``pip download --platform`` for every manylinux tag the target systems accept (pip does
  not fall back to older tags by itself), for each Python version; plus pip's own wheel, which bootstraps the
  install into a venv created ``--without-pip`` (Raspberry Pi OS Lite has no python3-venv/ensurepip).
- ``models/``: every model directory under ``models/`` with its manifest and the files it lists (``make models``
  rebuilds the ones too large for git first); a listed file that is absent here is named in ``bundle.json``.
- ``examples/``, ``systemd/`` (the unit and the drop-in example), ``install.sh``, ``README.md``.
- ``bundle.env`` (read by install.sh), ``bundle.json`` (the same plus the file list) and ``SHA256SUMS``
  (``sha256sum -c`` format, every other file), which install.sh checks before touching anything.
"""

# A build script run by hand: it reports on stdout and runs pip/make/git with fixed arguments.
# ruff: noqa: T201, S603, S607
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ARCHES = ("aarch64", "x86_64")
PYTHONS = ("3.11", "3.12")
# glibc of the targets: Raspberry Pi OS / Debian bookworm 2.36, Ubuntu 22.04 (JetPack 6) 2.35, Ubuntu 24.04 2.39.
# A wheel is usable when its manylinux tag is at most the oldest of these: 2.35.
MAX_GLIBC_MINOR = 35
MIN_GLIBC_MINOR = 17
# Files under models/ that only training needs (PyTorch checkpoints, parity windows).
MODEL_EXCLUDE_SUFFIXES = (".pt", ".npz")
# A fixed mtime for every tar member: two builds from the same inputs give the same member metadata.
TAR_MTIME = 1_700_000_000


class BundleError(RuntimeError):
    pass


def manylinux_platforms(arch: str) -> list[str]:
    """Every platform tag a bookworm/jammy/noble gateway of ``arch`` accepts, newest first."""
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(MAX_GLIBC_MINOR, MIN_GLIBC_MINOR - 1, -1)]
    tags.append(f"manylinux2014_{arch}")  # the legacy alias of manylinux_2_17
    return tags


def gateway_requirements() -> list[str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    deps: list[str] = data["project"]["dependencies"]
    return deps


def project_version() -> str:
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    version: str = data["project"]["version"]
    return version


def _run(cmd: Sequence[str], *, cwd: Path = REPO) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(list(cmd), cwd=cwd, check=True)


def build_models() -> None:
    """`make models`: the model files too large for git, rebuilt byte for byte (the manifests pin their sha256)."""
    _run(["make", "models"])


def build_own_wheel(dest: Path, python: str) -> Path:
    _run([python, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(dest), str(REPO)])
    wheels = sorted(dest.glob(f"minegate-{project_version()}-*.whl"))
    if not wheels:
        raise BundleError(f"pip wheel wrote no minegate-{project_version()} wheel into {dest}")
    return wheels[-1]


def download_wheels(dest: Path, arch: str, py: str, requirements: Sequence[str], python: str) -> None:
    cmd = [python, "-m", "pip", "download", "--only-binary=:all:", "--dest", str(dest)]
    cmd += ["--implementation", "cp", "--python-version", py, "--abi", "cp" + py.replace(".", "")]
    cmd += ["--abi", "abi3", "--abi", "none"]
    for platform in manylinux_platforms(arch):
        cmd += ["--platform", platform]
    cmd += ["pip", *requirements]
    _run(cmd)


def copy_models(dest: Path) -> list[str]:
    """Each model directory's manifest, support files and listed model files; returns the listed files absent."""
    missing: list[str] = []
    for manifest in sorted((REPO / "models").rglob("manifest.json")):
        src_dir = manifest.parent
        rel_dir = src_dir.relative_to(REPO / "models")
        listed = {entry["path"] for entry in json.loads(manifest.read_text(encoding="utf-8")).get("files", [])}
        out_dir = dest / rel_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(src_dir.iterdir()):
            if path.is_file() and not path.name.startswith(".") and not path.name.endswith(MODEL_EXCLUDE_SUFFIXES):
                shutil.copy2(path, out_dir / path.name)
        missing += [f"models/{rel_dir}/{name}" for name in sorted(listed) if not (src_dir / name).is_file()]
    shutil.copy2(REPO / "models" / "README.md", dest / "README.md")
    return missing


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(root: Path) -> list[str]:
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    lines = [f"{sha256_of(root / name)}  {name}" for name in files]
    (root / "SHA256SUMS").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return files


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = TAR_MTIME
    return info


def write_tar(src: Path, tar_path: Path) -> None:
    tmp = tar_path.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
        tar.add(src, arcname=src.name, filter=_normalise)
    tmp.replace(tar_path)


def build_bundle(arch: str, pythons: Sequence[str], out: Path, own_wheel: Path, python: str) -> dict[str, Any]:
    version = project_version()
    name = f"minegate-{version}-{arch}"
    root = out / name
    if root.exists():
        shutil.rmtree(root)
    wheels = root / "wheels"
    wheels.mkdir(parents=True)
    shutil.copy2(own_wheel, wheels / own_wheel.name)
    requirements = gateway_requirements()
    for py in pythons:
        download_wheels(wheels, arch, py, requirements, python)
    missing = copy_models(root / "models")
    shutil.copytree(REPO / "deploy" / "examples", root / "examples")
    (root / "systemd").mkdir()
    shutil.copy2(REPO / "systemd" / "minegate.service", root / "systemd" / "minegate.service")
    shutil.copy2(REPO / "systemd" / "minegate.service.d" / "site.conf.example", root / "systemd" / "site.conf.example")
    shutil.copy2(REPO / "deploy" / "install.sh", root / "install.sh")
    (root / "install.sh").chmod(0o755)
    shutil.copy2(REPO / "README.md", root / "README.md")
    shutil.copy2(REPO / "deploy" / "README.md", root / "INSTALL.md")
    (root / "bundle.env").write_text(
        f"BUNDLE_VERSION={version}\nBUNDLE_ARCH={arch}\nBUNDLE_PYTHONS='{' '.join(pythons)}'\n", encoding="utf-8"
    )
    info: dict[str, Any] = {
        "name": name,
        "version": version,
        "arch": arch,
        "pythons": list(pythons),
        "platforms": manylinux_platforms(arch),
        "requirements": requirements,
        "git_commit": _git_commit(),
        "built_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "missing_model_files": missing,
    }
    (root / "bundle.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    files = write_checksums(root)
    tar_path = out / f"{name}.tar.gz"
    write_tar(root, tar_path)
    info["files"] = len(files)
    info["wheels"] = sorted(p.name for p in wheels.iterdir())
    info["tar"] = str(tar_path)
    info["tar_bytes"] = tar_path.stat().st_size
    return info


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--arch", nargs="+", choices=ARCHES, default=list(ARCHES))
    parser.add_argument("--python", nargs="+", choices=PYTHONS, default=list(PYTHONS), dest="pythons")
    parser.add_argument("--out", type=Path, default=REPO / "dist")
    parser.add_argument("--skip-models-build", action="store_true", help="do not run `make models` first")
    args = parser.parse_args(argv)
    started = time.monotonic()
    python = sys.executable
    if not args.skip_models_build:
        build_models()
    args.out.mkdir(parents=True, exist_ok=True)
    wheel_dir = args.out / "own-wheel"
    if wheel_dir.exists():
        shutil.rmtree(wheel_dir)
    own_wheel = build_own_wheel(wheel_dir, python)
    results = []
    for arch in args.arch:
        arch_started = time.monotonic()
        info = build_bundle(arch, args.pythons, args.out, own_wheel, python)
        info["build_s"] = round(time.monotonic() - arch_started, 1)
        results.append(info)
    shutil.rmtree(wheel_dir)
    print()
    for info in results:
        missing = info["missing_model_files"]
        print(
            f"{info['tar']}: {info['tar_bytes'] / 1e6:.1f} MB, {info['files']} files, "
            f"{len(info['wheels'])} wheels (built in {info['build_s']} s)"
        )
        if missing:
            print(f"  not in this bundle (absent here): {', '.join(missing)}")
    print(f"total {time.monotonic() - started:.0f} s")
    (args.out / "bundles.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
