"""What the figures were measured on: CPU, cores, memory, OS, Python, the libraries that do the work, and how
busy the machine already was (a benchmark on a loaded box is slower, and the report must say so)."""

from __future__ import annotations

import os
import platform
import socket
from importlib import metadata
from pathlib import Path
from typing import Any

# Distributions whose version changes the figures: the runtimes, the numeric and I/O libraries on the hot paths.
LIBRARIES = (
    "minegate",
    "numpy",
    "onnxruntime",
    "ai-edge-litert",
    "tflite-runtime",
    "opencv-python-headless",
    "tokenizers",
    "pymodbus",
    "pyzmq",
    "msgpack",
    "pydantic",
    "aiomqtt",
)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def cpu_model(cpuinfo: str) -> str:
    """The CPU's name from ``/proc/cpuinfo`` text: x86 ``model name``, else the board's ``Model`` (Raspberry Pi)
    or ``Hardware``, else the ARM part number; ``platform.processor()`` as the last resort."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip():
            fields.setdefault(key.strip(), value.strip())
    for key in ("model name", "Model", "Hardware", "cpu model"):
        if key in fields:
            return fields[key]
    if "CPU part" in fields:
        return f"ARM CPU part {fields['CPU part']} (implementer {fields.get('CPU implementer', '?')})"
    return platform.processor() or platform.machine()


def meminfo_bytes(meminfo: str) -> dict[str, int]:
    """``MemTotal`` and ``MemAvailable`` in bytes from ``/proc/meminfo`` text (absent keys left out)."""
    out: dict[str, int] = {}
    for line in meminfo.splitlines():
        key, _, value = line.partition(":")
        if key in ("MemTotal", "MemAvailable") and value.split():
            out[key] = int(value.split()[0]) * 1024
    return out


def os_name(os_release: str) -> str:
    for line in os_release.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.partition("=")[2].strip().strip('"')
    return platform.system()


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def system_facts() -> dict[str, Any]:
    """The machine, as the report's header shows it."""
    from edge.inference.backends import available_backends  # noqa: PLC0415  (imports the runtimes)

    memory = meminfo_bytes(_read(Path("/proc/meminfo")))
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 0
    try:
        load = list(os.getloadavg())
    except OSError:
        load = []
    return {
        "host": socket.gethostname(),
        "cpu": cpu_model(_read(Path("/proc/cpuinfo"))),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "ram_bytes": memory.get("MemTotal"),
        "ram_available_bytes": memory.get("MemAvailable"),
        "os": os_name(_read(Path("/etc/os-release"))),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "libraries": library_versions(),
        "backends": available_backends(),
        "load_average_1_5_15": load,
    }
