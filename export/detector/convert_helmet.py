"""Convert the ``helmet-detector`` package's YOLO weights to ONNX fp32 -- a separate command in its own venv.

NOT part of minegate and never imported by it: this script drives the upstream exporter (``ultralytics``,
AGPL-3.0, plus a full PyTorch), which must never become a dependency of minegate. It runs once, by hand, in a
throw-away virtual environment outside the repository; only its output (an ONNX file and ``upstream.json``)
enters the repository, and ``export/detector/build_helmet.py`` (minegate's own venv, onnxruntime only) turns
that into the shipped int8 model and manifest.

What the package holds (helmet-detector 2.1.0, PyPI, "License-Expression: MIT", source gitee.com/xie-zl/open):
``helmet_detector_pkg/weights/best.pt``, an ultralytics checkpoint written by ultralytics 8.3.63 as patched by
the YOLOv12 authors' fork: a YOLOv12-m ``DetectionModel`` (19.6 M parameters, fp16 tensors) fine-tuned from
``yolov12m.pt`` on a data set its train args call ``datasets/bike_helmets`` at 640 px, two classes
``0: With Helmet``, ``1: Without Helmet``. The checkpoint's own ``license`` field is the ultralytics default
string (AGPL-3.0); the package metadata says MIT. Both are recorded in ``upstream.json`` and the manifest.

One incompatibility is bridged here: the fork's area-attention block (``AAttn``) has separate ``qk`` and ``v``
convolutions, while ultralytics' own YOLO12 ``AAttn`` has one ``qkv`` convolution, so the released ultralytics
cannot run this checkpoint as is. ``_area_attention`` is an independent implementation of the published
area attention (YOLOv12 paper, arXiv:2502.12524) over the checkpoint's ``qk``/``v``/``pe``/``proj`` layers,
installed on ``AAttn`` only for modules that have ``qk``.

Run (the conversion itself takes under a minute; CPU-only torch -- an unpinned torch pulls a multi-GB CUDA build)::

    python3.11 -m venv /tmp/exportenv
    /tmp/exportenv/bin/pip install torch==2.13.0+cpu          # the CPU wheel (here: /opt/wheels, via pip's find-links)
    /tmp/exportenv/bin/pip install --no-deps torchvision==0.28.0
    /tmp/exportenv/bin/pip install ultralytics==8.4.190 onnx onnxslim onnxruntime
    pip download helmet-detector==2.1.0 --no-deps -d /tmp/hd
    YOLO_OFFLINE=1 nice -n 10 /tmp/exportenv/bin/python export/detector/convert_helmet.py \\
        --wheel /tmp/hd/helmet_detector-2.1.0-py3-none-any.whl --out /tmp/helmet_export

PyPI's torchvision is linked against CUDA torch, so its operators do not load beside the CPU torch; ultralytics
only reads its version at import and the ONNX export never calls it (``--no-deps`` keeps pip from replacing the
CPU torch). Then, in minegate's venv: ``python -m export.detector.build_helmet --onnx /tmp/helmet_export``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import sys
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

WEIGHTS_MEMBER = "helmet_detector_pkg/weights/best.pt"
METADATA_MEMBER = "helmet_detector-2.1.0.dist-info/METADATA"
FP32_NAME = "helmet_yolov12m_fp32.onnx"
PROVENANCE_NAME = "upstream.json"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _metadata_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the long description follows the headers
        key, _, value = line.partition(": ")
        if key in ("Name", "Version", "License-Expression", "License", "Home-page", "Author-email"):
            fields[key] = value
        elif key == "Project-URL":
            label, _, url = value.partition(", ")
            fields[f"Project-URL {label}"] = url
    return fields


def _area_attention(self: Any, x: Any) -> Any:
    """Multi-head self-attention within ``self.area`` horizontal strips of the map, plus a depthwise positional
    convolution of the values (``pe``), projected back (``proj``): the YOLOv12 area attention as the fork's
    checkpoint lays out its weights (``qk`` -> queries then keys, head-major channels; ``v`` -> values)."""
    import torch  # noqa: PLC0415 -- runs in the export venv only

    b, c, h, w = x.shape
    n = h * w
    heads, head_dim = self.num_heads, self.head_dim
    qk = self.qk(x).flatten(2).transpose(1, 2)  # [B, N, 2C]
    v_map = self.v(x)
    positional = self.pe(v_map)
    v = v_map.flatten(2).transpose(1, 2)  # [B, N, C]
    groups = b * self.area if self.area > 1 else b
    tokens = n // self.area if self.area > 1 else n
    qk = qk.reshape(groups, tokens, 2 * c)
    v = v.reshape(groups, tokens, c)
    q, k = qk.split([c, c], dim=2)
    q = q.reshape(groups, tokens, heads, head_dim).transpose(1, 2)  # [G, heads, T, d]
    k = k.reshape(groups, tokens, heads, head_dim).transpose(1, 2)
    v = v.reshape(groups, tokens, heads, head_dim).transpose(1, 2)
    attn = torch.softmax((q @ k.transpose(-2, -1)) * (head_dim**-0.5), dim=-1)
    out = (attn @ v).transpose(1, 2).reshape(b, n, c)  # back to [B, N, C], channels head-major
    out = out.reshape(b, h, w, c).permute(0, 3, 1, 2)
    return self.proj(out + positional)


def _install_fork_attention() -> None:
    from ultralytics.nn.modules import block  # type: ignore[import-not-found]  # noqa: PLC0415

    original = block.AAttn.forward

    def forward(self: Any, x: Any) -> Any:
        return _area_attention(self, x) if hasattr(self, "qk") else original(self, x)

    block.AAttn.forward = forward


def convert(wheel: Path, out_dir: Path, *, imgsz: int, opset: int) -> Path:
    # Imported here, not at the top: minegate's venv imports this module's constants and has no ultralytics.
    import onnx  # noqa: PLC0415
    import torch  # noqa: PLC0415
    import ultralytics  # type: ignore[import-not-found]  # noqa: PLC0415
    from ultralytics import YOLO  # noqa: PLC0415

    wheel_bytes = wheel.read_bytes()
    with zipfile.ZipFile(wheel) as zf:
        weights = zf.read(WEIGHTS_MEMBER)
        metadata = zf.read(METADATA_MEMBER).decode("utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)
    _install_fork_attention()
    with tempfile.TemporaryDirectory() as tmp:
        pt = Path(tmp) / "best.pt"
        pt.write_bytes(weights)
        model = YOLO(str(pt), task="detect")
        ckpt = torch.load(pt, map_location="cpu", weights_only=False)
        detection_model = model.model
        if not isinstance(detection_model, torch.nn.Module):
            raise TypeError(f"{pt}: not a PyTorch detection model ({type(detection_model).__name__})")
        n_attn_fork = sum(1 for m in detection_model.modules() if type(m).__name__ == "AAttn" and hasattr(m, "qk"))
        exported = Path(model.export(format="onnx", imgsz=imgsz, opset=opset, simplify=True, dynamic=False, batch=1))
        target = out_dir / FP32_NAME
        shutil.move(str(exported), target)
    graph = onnx.load(str(target))
    # The exporter stamps the export time into the file's metadata; the checkpoint's own date instead makes the
    # conversion byte-for-byte reproducible (same sha256 on every run), so a rebuild can be checked against the
    # manifest. The export time is kept in upstream.json.
    for prop in graph.metadata_props:
        if prop.key == "date":
            prop.value = str(ckpt.get("date"))
    onnx.save(graph, str(target))
    train_args = ckpt.get("train_args") or {}
    provenance = {
        "package": _metadata_fields(metadata),
        "wheel": {"file": wheel.name, "sha256": _sha256(wheel_bytes), "bytes": len(wheel_bytes)},
        "weights": {"member": WEIGHTS_MEMBER, "sha256": _sha256(weights), "bytes": len(weights)},
        "checkpoint": {
            "written_by_ultralytics": ckpt.get("version"),
            "license_field": ckpt.get("license"),
            "date": ckpt.get("date"),
            "names": {int(k): v for k, v in model.names.items()},
            "architecture": "YOLOv12-" + str((ckpt["model"].yaml or {}).get("scale", "?")),
            "parameters": sum(p.numel() for p in detection_model.parameters()),
            "fork_area_attention_blocks": n_attn_fork,
            "train_args": {k: train_args.get(k) for k in ("model", "data", "imgsz", "epochs", "batch")},
            "train_metrics": ckpt.get("train_metrics"),
        },
        "export": {
            "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "exporter": f"ultralytics {ultralytics.__version__} (AGPL-3.0), separate venv",
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "python": platform.python_version(),
            "imgsz": imgsz,
            "opset": opset,
            "input": [(i.name, [d.dim_value for d in i.type.tensor_type.shape.dim]) for i in graph.graph.input],
            "output": [(o.name, [d.dim_value for d in o.type.tensor_type.shape.dim]) for o in graph.graph.output],
            "file": target.name,
            "sha256": _sha256(target.read_bytes()),
        },
    }
    (out_dir / PROVENANCE_NAME).write_text(json.dumps(provenance, indent=1) + "\n", encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--wheel", type=Path, required=True, help="helmet_detector-2.1.0-py3-none-any.whl")
    parser.add_argument("--out", type=Path, required=True, help="directory for the fp32 ONNX and upstream.json")
    parser.add_argument("--imgsz", type=int, default=640, help="input size (the checkpoint was trained at 640)")
    parser.add_argument("--opset", type=int, default=17)
    args = parser.parse_args(argv)
    path = convert(args.wheel, args.out, imgsz=args.imgsz, opset=args.opset)
    sys.stderr.write(f"wrote {path} and {args.out / PROVENANCE_NAME}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
