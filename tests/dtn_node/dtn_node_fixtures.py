"""Helpers for the DTN node tests: keys, node files, in-process nodes on ipc:// sockets, waiting."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import yaml

from edge.clock import SystemClock
from edge.dtn.bundle import Bundle
from edge.dtn.config import NodeSpec, load_node_config
from edge.dtn.keys import generate
from edge.dtn.node import DtnNode

FAST_LINK = {"heartbeat": "200ms", "dead_after": "1s"}


@contextmanager
def socket_dir() -> Iterator[Path]:
    """A short directory for ipc:// endpoints (their paths are limited to ~100 bytes)."""
    with tempfile.TemporaryDirectory(prefix="dtnt-", dir="/tmp") as tmp:
        yield Path(tmp)


def make_keys(keys_dir: Path, *nodes: str) -> Path:
    for node in nodes:
        generate(keys_dir, node)
    return keys_dir


def write_node_file(path: Path, body: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def node_body(
    node_id: str,
    sockets: Path,
    *,
    role: str = "fixed",
    hops: int | None = None,
    peers: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": node_id,
        "role": role,
        "data_dir": f"data/{node_id}",
        "keys_dir": "keys",
        "listen": f"ipc://{sockets}/{node_id}.sock",
        "control": f"ipc://{sockets}/{node_id}.ctl",
    }
    if hops is not None:
        node["hops_to_surface"] = hops
    body: dict[str, Any] = {"node": node, "peers": peers or [], "link": dict(FAST_LINK)}
    if role == "surface":
        body["sink"] = {"delivery_log": True}
    body.update(extra or {})
    return body


def load_spec(root: Path, body: dict[str, Any]) -> NodeSpec:
    return load_node_config(write_node_file(root / f"{body['node']['id']}.yaml", body))


@asynccontextmanager
async def running_node(
    spec: NodeSpec, *, on_received: Callable[[Bundle], None] | None = None
) -> AsyncIterator[DtnNode]:
    node = DtnNode(spec, clock=SystemClock(), on_received=on_received)
    await node.start()
    try:
        yield node
    finally:
        await node.stop()


async def eventually(predicate: Callable[[], bool], *, timeout_s: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        await asyncio.sleep(0.02)


def contact_up(node: DtnNode, peer: str) -> bool:
    return node.link is not None and peer in node.link.contacts()
