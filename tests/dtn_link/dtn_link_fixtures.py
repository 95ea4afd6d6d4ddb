"""Real nodes for link tests: keys in tmp_path, durable SQLite stores, group committers, static routers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import zmq
import zmq.asyncio

from edge.aio import within
from edge.clock import SystemClock
from edge.dtn.bundle import SURFACE, Bundle, Priority
from edge.dtn.committer import GroupCommitter
from edge.dtn.keys import generate, load_keyring
from edge.dtn.link import ContactEvent, DialPeer, Link, LinkSettings
from edge.dtn.routing import PeerInfo, PeerKind, make_router
from edge.dtn.store import Accept, BundleStore
from edge.dtn.wire import Hello, Message, decode_message, encode_message

FAST = LinkSettings(heartbeat_s=0.2, missed_heartbeats=5, reconnect_pause_s=0.05, idle_poll_s=0.2)


def make_keys(directory: Path, *nodes: str) -> Path:
    for node in nodes:
        generate(directory, node)
    return directory


@dataclass
class Node:
    node_id: str
    store: BundleStore
    committer: GroupCommitter
    link: Link
    events: list[ContactEvent] = field(default_factory=list)
    received: list[tuple[str, Bundle, Accept]] = field(default_factory=list)
    sent: list[tuple[str, Bundle, bool]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def contact_up(self, peer: str) -> bool:
        return peer in self.link.contacts()

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():
                self.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await within(self.changed.wait(), 0.05)


@contextlib.asynccontextmanager
async def running_node(
    directory: Path,
    node_id: str,
    *,
    keys: Path,
    hops: int | None,
    kind: PeerKind = PeerKind.FIXED,
    policy: str | None = "static",
    listen: Sequence[str] = (),
    dial: Sequence[DialPeer] = (),
    settings: LinkSettings = FAST,
    capacity_bytes: int = 256 * 1024 * 1024,
) -> AsyncIterator[Node]:
    clock = SystemClock()
    store = BundleStore(directory / f"{node_id}.db", node_id=node_id, capacity_bytes=capacity_bytes, clock=clock)
    committer = GroupCommitter(store)
    await committer.start()
    router = None if policy is None else make_router(policy, node_id=node_id, node_kind=kind, hops_to_surface=hops)
    node: Node | None = None

    def on_contact(event: ContactEvent) -> None:
        assert node is not None
        node.events.append(event)
        node.changed.set()

    def on_received(peer: PeerInfo, bundle: Bundle, accept: Accept) -> None:
        assert node is not None
        node.received.append((peer.node_id, bundle, accept))
        node.changed.set()

    def on_sent(peer: PeerInfo, bundle: Bundle, urgent: bool) -> None:
        assert node is not None
        node.sent.append((peer.node_id, bundle, urgent))

    link = Link(
        node_id,
        kind=kind,
        hops_to_surface=hops,
        keyring=load_keyring(keys, node_id),
        store=store,
        committer=committer,
        router=router,
        clock=clock,
        listen=listen,
        dial=dial,
        settings=settings,
        on_contact=on_contact,
        on_received=on_received,
        on_sent=on_sent,
    )
    node = Node(node_id, store, committer, link)
    await link.start()
    try:
        yield node
    finally:
        await link.stop()
        await committer.close()
        store.close()


def fill(store: BundleStore, count: int, *, priority: Priority = Priority.BULK, body_bytes: int = 200) -> list[Bundle]:
    """``count`` bundles for the surface, stored in one transaction."""
    bundles = [
        store.create(
            destination=SURFACE, priority=priority, kind="test", body={"i": i, "pad": "x" * body_bytes}, lifetime_s=3600
        )
        for i in range(count)
    ]
    results = store.put_many([(b, 1) for b in bundles])
    assert all(r is Accept.STORED for r in results)
    return bundles


def raw_dealer(
    context: zmq.asyncio.Context,
    endpoint: str,
    *,
    server_public: bytes,
    public: bytes,
    secret: bytes,
    immediate: bool = True,
) -> zmq.asyncio.Socket:
    """A bare CurveZMQ client speaking the wire protocol by hand: a peer that misbehaves on purpose."""
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.IMMEDIATE, 1 if immediate else 0)
    sock.curve_serverkey = server_public
    sock.curve_publickey = public
    sock.curve_secretkey = secret
    sock.connect(endpoint)
    return sock


async def send_message(sock: zmq.asyncio.Socket, session: int, message: Message, *, timeout_s: float = 5.0) -> None:
    await within(sock.send_multipart(encode_message(session, message)), timeout_s)


async def receive_message(sock: zmq.asyncio.Socket, timeout_s: float) -> tuple[int, Message] | None:
    """The next message, or None if nothing arrives within ``timeout_s`` (polled: no message is dropped)."""
    if not await sock.poll(timeout=round(timeout_s * 1000)):
        return None
    parts = await sock.recv_multipart()
    return decode_message(parts[1:] if sock.type == zmq.ROUTER else parts)


def hello(node: str, *, kind: str = "fixed", hops: int | None = 2, credit: int = 8) -> Hello:
    return Hello(node, kind, hops, credit, 1, False)
