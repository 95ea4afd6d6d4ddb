"""Synthetic scenes, videos and a real (tiny) ONNX detector for the camera tests.

The detector is an ONNX graph that finds coloured blobs: a worker is drawn as a red body with a blue (bare) head
or a yellow (helmeted) head, and the graph returns the bounding box of each colour in a real YOLO layout. It runs
through the gateway's own backends, manifest checks, letterbox and decode, so the tests exercise the real path;
only the "learning" is replaced by colour thresholds (labels as in the helmet data set: helmet, person, head).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge.camera.detector_manifest import (
    DetectorFile,
    DetectorManifest,
    ImageInput,
    YoloOutput,
    make_reference,
    reference_input,
    write_detector_manifest,
)
from edge.inference.backends import open_backend
from edge.inference.manifest import sha256_of

Image = npt.NDArray[np.uint8]
LABELS = ["helmet", "person", "head"]
# RGB, 0-1: what the graph looks for. Backgrounds are grey, far from all three.
BODY_RGB = (0.9, 0.1, 0.1)
BARE_HEAD_RGB = (0.1, 0.1, 0.9)
HELMET_RGB = (0.95, 0.85, 0.1)
MODEL_SIZE = 320


def background(width: int = 320, height: int = 240, *, seed: int = 0, level: int = 110) -> Image:
    """A grey, textured scene (edges, so it is sharp) that never matches the worker colours."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 40, (height // 8, width // 8)).astype(np.float32)
    texture = cv2.resize(noise, (width, height), interpolation=cv2.INTER_NEAREST)
    grey = np.clip(level + texture, 0, 255).astype(np.uint8)
    for x in range(0, width, 40):
        cv2.line(grey, (x, 0), (x, height - 1), 200, 1)
    return np.ascontiguousarray(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), dtype=np.uint8)


def _bgr(rgb: tuple[float, float, float]) -> tuple[int, int, int]:
    return (round(rgb[2] * 255), round(rgb[1] * 255), round(rgb[0] * 255))


def draw_worker(image: Image, x: int, y_feet: int, *, helmet: bool, body: tuple[int, int] = (28, 80)) -> Image:
    """A worker standing at ``(x, y_feet)`` (bottom-centre): body box and a head on top. Returns a new image."""
    out = image.copy()
    w, h = body
    head = w * 2 // 3
    cv2.rectangle(out, (x - w // 2, y_feet - h), (x + w // 2, y_feet), _bgr(BODY_RGB), -1)
    colour = HELMET_RGB if helmet else BARE_HEAD_RGB
    cv2.rectangle(out, (x - head // 2, y_feet - h - head), (x + head // 2, y_feet - h - 1), _bgr(colour), -1)
    return out


def write_video(path: Path, frames: list[Image], fps: float = 10.0) -> Path:
    """An MJPG .avi (works with headless OpenCV, no external codecs)."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write {path}")
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


@dataclass(frozen=True)
class BlobModel:
    directory: Path
    layout: str


def _blob_graph(layout: str, size: int) -> bytes:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    xs = np.broadcast_to(np.arange(size, dtype=np.float32)[None, None, None, :], (1, 1, size, size)).copy()
    ys = np.broadcast_to(np.arange(size, dtype=np.float32)[None, None, :, None], (1, 1, size, size)).copy()
    const("xg", xs)
    const("yg", ys)
    const("xg1", xs + 1)
    const("yg1", ys + 1)
    const("big", np.array(size, dtype=np.float32))
    const("axis1", np.array([1], dtype=np.int64))
    const("thr", np.array(0.45, dtype=np.float32))
    const("shape1", np.array([1], dtype=np.int64))
    const("half", np.array(0.5, dtype=np.float32))

    def mask(tag: str, rgb: tuple[float, float, float]) -> str:
        const(f"c_{tag}", np.array(rgb, dtype=np.float32).reshape(1, 3, 1, 1))
        nodes.extend(
            [
                helper.make_node("Sub", ["images", f"c_{tag}"], [f"d_{tag}"]),
                helper.make_node("Abs", [f"d_{tag}"], [f"a_{tag}"]),
                helper.make_node("ReduceSum", [f"a_{tag}", "axis1"], [f"s_{tag}"], keepdims=1),
                helper.make_node("Less", [f"s_{tag}", "thr"], [f"b_{tag}"]),
                helper.make_node("Cast", [f"b_{tag}"], [f"m_{tag}"], to=TensorProto.FLOAT),
            ]
        )
        return f"m_{tag}"

    def scalar(op: str, inputs: list[str], out: str) -> str:
        nodes.append(helper.make_node(op, inputs, [out]))
        return out

    def box(tag: str, m: str) -> list[str]:
        """[cx, cy, w, h, score] as 1-element tensors, from the mask's extent."""
        parts = []
        for axis, grid, grid1 in (("x", "xg", "xg1"), ("y", "yg", "yg1")):
            scalar("Mul", [m, grid1], f"{tag}_{axis}m1")
            nodes.append(helper.make_node("ReduceMax", [f"{tag}_{axis}m1"], [f"{tag}_{axis}2"], keepdims=0))
            scalar("Sub", ["big", grid], f"{tag}_{axis}inv")
            scalar("Mul", [m, f"{tag}_{axis}inv"], f"{tag}_{axis}minv")
            nodes.append(helper.make_node("ReduceMax", [f"{tag}_{axis}minv"], [f"{tag}_{axis}r"], keepdims=0))
            scalar("Sub", ["big", f"{tag}_{axis}r"], f"{tag}_{axis}1")
            scalar("Add", [f"{tag}_{axis}1", f"{tag}_{axis}2"], f"{tag}_{axis}sum")
            scalar("Mul", [f"{tag}_{axis}sum", "half"], f"{tag}_c{axis}")
            scalar("Sub", [f"{tag}_{axis}2", f"{tag}_{axis}1"], f"{tag}_{axis}len")
            parts.append((f"{tag}_c{axis}", f"{tag}_{axis}len"))
        nodes.append(helper.make_node("ReduceMax", [m], [f"{tag}_score"], keepdims=0))
        names = [parts[0][0], parts[1][0], parts[0][1], parts[1][1], f"{tag}_score"]
        out = []
        for name in names:
            scalar("Reshape", [name, "shape1"], f"{name}_1")
            out.append(f"{name}_1")
        return out

    red, blue, yellow = mask("red", BODY_RGB), mask("blue", BARE_HEAD_RGB), mask("yellow", HELMET_RGB)
    scalar("Max", [red, blue, yellow], "m_person")
    anchors = []
    for k, (tag, m) in enumerate((("helmet", yellow), ("person", "m_person"), ("head", blue))):
        cx, cy, w, h, score = box(tag, m)
        onehot = np.zeros(3, dtype=np.float32)
        onehot[k] = 1.0
        const(f"onehot_{tag}", onehot)
        if layout == "yolov8":
            scalar("Mul", [score, f"onehot_{tag}"], f"{tag}_cls")
            nodes.append(helper.make_node("Concat", [cx, cy, w, h, f"{tag}_cls"], [f"{tag}_anchor"], axis=0))
        else:
            nodes.append(helper.make_node("Concat", [cx, cy, w, h, score, f"onehot_{tag}"], [f"{tag}_anchor"], axis=0))
        anchors.append(f"{tag}_anchor")
    width = 7 if layout == "yolov8" else 8
    nodes.append(helper.make_node("Concat", anchors, ["stacked"], axis=0))
    const("shape_rows", np.array([3, width], dtype=np.int64))
    scalar("Reshape", ["stacked", "shape_rows"], "rows")
    if layout == "yolov8":
        nodes.append(helper.make_node("Transpose", ["rows"], ["cols"], perm=[1, 0]))
        const("shape_out", np.array([1, width, 3], dtype=np.int64))
        scalar("Reshape", ["cols", "shape_out"], "output0")
        out_shape = [1, width, 3]
    else:
        const("shape_out", np.array([1, 3, width], dtype=np.int64))
        scalar("Reshape", ["rows", "shape_out"], "output0")
        out_shape = [1, 3, width]
    graph = helper.make_graph(
        nodes,
        "blob_detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, out_shape)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="minegate-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def build_blob_detector(directory: Path, *, layout: str = "yolov8", size: int = MODEL_SIZE) -> BlobModel:
    """A model directory (ONNX file + detection manifest) whose model finds the coloured workers."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "blob.onnx"
    path.write_bytes(_blob_graph(layout, size))
    backend = open_backend(path, prefer=("onnxruntime",))
    shape = [1, 3, size, size]
    out = backend.run(reference_input(shape))
    manifest = DetectorManifest(
        name="blob-detector",
        description="test double: colour-blob finder with a real YOLO head layout",
        licence="Apache-2.0",
        created_utc=datetime.datetime.now(datetime.UTC).isoformat(),
        labels=LABELS,
        input=ImageInput(name="images", shape=shape, layout="nchw"),
        output=YoloOutput(name="output0", shape=list(out.shape), layout="auto"),
        files=[
            DetectorFile(
                path=path.name,
                sha256=sha256_of(path),
                bytes=path.stat().st_size,
                format="onnx",
                precision="fp32",
                reference=make_reference(out),
            )
        ],
    )
    write_detector_manifest(directory, manifest)
    return BlobModel(directory, layout)
