"""Build the default helmet detector (``models/detector/helmet``) from its PyPI package: ``make detector``.

The ONNX files are not in git (the checkpoint's licence stamps conflict: ``models/detector/helmet/README.md``), so
every site builds them, and gets the very bytes the committed manifest pins. The route:

1. ``.venv-detector`` (beside ``.venv``, never part of minegate's dependencies): the exporter's environment from
   ``export/detector/detector-venv.txt``, installed with ``--no-deps`` (nothing resolved: exactly the set that
   produced the manifest's sha256; ultralytics is AGPL-3.0, torch is the CPU build). Re-created only when that
   file changes.
2. ``pip download helmet-detector==2.1.0 --no-deps``; its sha256 must be ``upstream.json``'s.
3. ``convert_helmet.py`` in ``.venv-detector`` (``YOLO_OFFLINE=1``: no hub, no downloads): ``best.pt`` -> fp32 ONNX.
4. ``export.detector.build_helmet`` in minegate's venv: int8 quantization on the calibration photos.
5. Both files must have the committed manifest's sha256; then they are moved into the model directory (the
   committed ``manifest.json`` and ``upstream.json`` are left as they are). A different sha256 stops the build,
   naming both, unless ``--regenerate``, which installs the new files with their new manifest and upstream.json
   (then re-run ``python -m export.detector.evaluate`` for the metrics, and commit the manifest).

Idempotent: nothing runs when every file the manifest lists is present with its sha256. Work files go to
``var/detector/``. Not run by ``make test``: it installs torch and the AGPL exporter (a 1.6 GB venv).

    .venv/bin/python -m export.detector.make_detector [--torch-index URL] [--force] [--regenerate]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from edge.camera.detector_manifest import DetectorManifest, load_detector_manifest
from edge.inference.manifest import sha256_of
from export.detector.convert_helmet import PROVENANCE_NAME

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "models" / "detector" / "helmet"
VENV = ROOT / ".venv-detector"
WORK = ROOT / "var" / "detector"
LOCK = Path(__file__).with_name("detector-venv.txt")
CONVERTER = Path(__file__).with_name("convert_helmet.py")
PACKAGE = "helmet-detector==2.1.0"
WHEEL_NAME = "helmet_detector-2.1.0-py3-none-any.whl"
_STAMP = ".minegate-detector-lock"


class BuildError(RuntimeError):
    pass


def _say(message: str) -> None:
    sys.stderr.write(f"make detector: {message}\n")
    sys.stderr.flush()


def _run(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    _say("$ " + " ".join(cmd))
    done = subprocess.run(cmd, env=env, cwd=cwd, check=False)  # noqa: S603 -- our own fixed commands
    if done.returncode != 0:
        raise BuildError(f"command failed (exit {done.returncode}): {' '.join(cmd)}")


def stale_files(model_dir: Path, manifest: DetectorManifest) -> list[str]:
    """The manifest's files that are missing or whose sha256 is not the manifest's (empty: up to date)."""
    return [
        f.path
        for f in manifest.files
        if not (model_dir / f.path).is_file() or sha256_of(model_dir / f.path) != f.sha256
    ]


def ensure_venv(venv: Path, *, torch_index: str | None) -> Path:
    python = venv / "bin" / "python"
    lock_text = LOCK.read_text(encoding="utf-8")
    stamp = venv / _STAMP
    if python.is_file() and stamp.is_file() and stamp.read_text(encoding="utf-8") == lock_text:
        _say(f"{venv.name} is up to date with {LOCK.name}")
        return python
    # From the base interpreter (sys.executable may itself be a venv's): a clean venv, no minegate in it.
    base = getattr(sys, "_base_executable", sys.executable)
    _run([base, "-m", "venv", "--clear", str(venv)])
    pip = [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "-r", str(LOCK)]
    if torch_index:
        pip += ["--extra-index-url", torch_index]
    try:
        _run(pip)
    except BuildError as exc:
        raise BuildError(
            f"{exc}\nIf torch==2.13.0+cpu was not found: the CPU build is not on pip's indexes here; run "
            "`make detector DETECTOR_TORCH_INDEX=https://download.pytorch.org/whl/cpu`"
        ) from exc
    stamp.write_text(lock_text, encoding="utf-8")
    return python


def fetch_wheel(work: Path, expected_sha256: str) -> Path:
    wheel = work / "wheel" / WHEEL_NAME
    if not (wheel.is_file() and sha256_of(wheel) == expected_sha256):
        _run([sys.executable, "-m", "pip", "download", PACKAGE, "--no-deps", "--quiet", "-d", str(wheel.parent)])
    actual = sha256_of(wheel)
    if actual != expected_sha256:
        raise BuildError(f"{wheel}: sha256 {actual}, upstream.json's wheel.sha256 is {expected_sha256}")
    return wheel


def convert(python: Path, wheel: Path, out: Path, work: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    env = dict(os.environ)
    # No hub, no telemetry, no automatic installs; ultralytics' settings file stays in var/, not in ~/.config.
    env.update({"YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(work / "ultralytics-config"), "PYTHONNOUSERSITE": "1"})
    env.pop("PYTHONPATH", None)
    _run([str(python), str(CONVERTER), "--wheel", str(wheel), "--out", str(out)], env=env, cwd=work)


def quantize(converted: Path, out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    # A child process: the quantizer's memory (fp32 graph + calibration) is returned when it ends.
    _run([sys.executable, "-m", "export.detector.build_helmet", "--onnx", str(converted), "--out", str(out)], cwd=ROOT)


def _install(src: Path, dst: Path) -> None:
    partial = dst.with_name(dst.name + ".partial")
    shutil.copyfile(src, partial)
    os.replace(partial, dst)


def make(
    *,
    model_dir: Path = MODEL_DIR,
    venv: Path = VENV,
    work: Path = WORK,
    torch_index: str | None = None,
    force: bool = False,
    regenerate: bool = False,
) -> list[Path]:
    """Build (when needed) and install the detector files; returns the files now in ``model_dir``."""
    manifest = load_detector_manifest(model_dir)
    stale = stale_files(model_dir, manifest)
    if not stale and not force:
        _say(f"{model_dir}: every file has the manifest's sha256; nothing to do")
        return [model_dir / f.path for f in manifest.files]
    _say(f"{model_dir}: building {', '.join(stale) or 'everything (--force)'}")
    upstream = json.loads((model_dir / PROVENANCE_NAME).read_text(encoding="utf-8"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    python = ensure_venv(venv, torch_index=torch_index)
    wheel = fetch_wheel(work, upstream["wheel"]["sha256"])
    converted, built = work / "converted", work / "built"
    convert(python, wheel, converted, work)
    quantize(converted, built)
    new = load_detector_manifest(built)
    differs = [
        f"{f.path}: built {new.file(f.path).sha256}, manifest {f.sha256}"
        for f in manifest.files
        if new.file(f.path).sha256 != f.sha256
    ]
    if differs and not regenerate:
        raise BuildError(
            "the rebuilt files are not the ones the manifest pins:\n  "
            + "\n  ".join(differs)
            + f"\n(a different exporter or onnxruntime version?). The new files are in {built}; "
            "`python -m export.detector.make_detector --regenerate` installs them with their manifest"
        )
    for f in new.files if differs else manifest.files:
        _install(built / f.path, model_dir / f.path)
    if differs:
        _install(built / "manifest.json", model_dir / "manifest.json")
        _install(built / PROVENANCE_NAME, model_dir / PROVENANCE_NAME)
        _say(
            "new sha256 installed with a new manifest.json and upstream.json (metrics reset): run "
            "`python -m export.detector.evaluate` and commit the manifest"
        )
    _say(f"done in {time.monotonic() - started:.0f} s")
    return [model_dir / f.path for f in (new if differs else manifest).files]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR)
    parser.add_argument("--venv", type=Path, default=VENV, help="the exporter's venv (created if needed)")
    parser.add_argument("--work", type=Path, default=WORK, help="downloads and intermediate files")
    parser.add_argument(
        "--torch-index", default=os.environ.get("DETECTOR_TORCH_INDEX") or None, help="extra index with torch +cpu"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even when the files match the manifest")
    parser.add_argument("--regenerate", action="store_true", help="accept new sha256: install a new manifest")
    args = parser.parse_args(argv)
    try:
        make(
            model_dir=args.model_dir,
            venv=args.venv,
            work=args.work,
            torch_index=args.torch_index,
            force=args.force,
            regenerate=args.regenerate,
        )
    except BuildError as exc:
        _say(f"failed: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
