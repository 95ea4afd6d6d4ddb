"""Authentication, identity, heartbeats and misbehaving peers, against a real link over real sockets."""

from __future__ import annotations

import asyncio
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest
import zmq
import zmq.asyncio
from dtn_link_fixtures import (
    FAST,
    fill,
    hello,
    make_keys,
    raw_dealer,
    receive_message,
    running_node,
    send_message,
)

from edge.aio import within
from edge.clock import SystemClock
from edge.dtn.bundle import SURFACE, Priority, encode
from edge.dtn.committer import GroupCommitter
from edge.dtn.keys import KeyFileError, generate, load_keyring, load_secret
from edge.dtn.link import DialPeer, Link, LinkSettings
from edge.dtn.routing import PeerKind
from edge.dtn.store import Accept, BundleStore
from edge.dtn.wire import BundleFrame, Heartbeat, Hello, Resync, decode_message, encode_message

# Peers here answer ZeroMQ's heartbeats but say nothing on the link: a short stall allowance keeps the tests short.
SILENT = replace(FAST, stall_grace_s=0.5)


async def test_unknown_key_is_refused_and_nothing_is_accepted(tmp_path: Path) -> None:
    keys = make_keys(tmp_path / "keys", "g1", "g2")
    # g9 knows g1's public key, but g1 was never given g9.pub.
    intruder_keys = tmp_path / "intruder"
    generate(intruder_keys, "g9")
    shutil.copy(keys / "g1.pub", intruder_keys / "g1.pub")
    context = zmq.asyncio.Context()
    try:
        async with (
            running_node(tmp_path, "g1", keys=keys, hops=1, listen=["tcp://127.0.0.1:*"]) as rx,
            running_node(
                tmp_path, "g9", keys=intruder_keys, hops=2, dial=[DialPeer("g1", rx.link.endpoints[0])]
            ) as bad,
        ):
            fill(bad.store, 20)
            bad.link.wake()
            # A hand-made client with a fresh key that queues HELLO and a bundle whatever the handshake says.
            public, secret = zmq.curve_keypair()
            raw = raw_dealer(
                context,
                rx.link.endpoints[0],
                server_public=rx.link.keyring.own.public,
                public=public,
                secret=secret,
                immediate=False,
            )
            bundle = bad.store.create(destination=SURFACE, priority=Priority.ALARM, kind="x", body=1, lifetime_s=60)
            await send_message(raw, 1, hello("g7"))
            await send_message(raw, 1, BundleFrame(1, 1, False, encode(bundle)))
            assert await receive_message(raw, 1.0) is None  # no HELLO reply
            await rx.wait_for(lambda: rx.link.counters.auth_refused >= 2, 5)
            assert rx.store.ids() == set()
            assert rx.received == []
            assert rx.events == []
            assert bad.events == []
            assert bad.link.contacts() == {}
            raw.close()
    finally:
        context.destroy(linger=0)


async def test_hello_must_name_the_node_that_owns_the_key(tmp_path: Path) -> None:
    keys = make_keys(tmp_path / "keys", "g1", "g2", "g3")
    g2 = load_secret(keys / "g2.key", "g2")
    context = zmq.asyncio.Context()
    try:
        async with running_node(tmp_path, "g1", keys=keys, hops=1, listen=["tcp://127.0.0.1:*"]) as rx:
            raw = raw_dealer(
                context,
                rx.link.endpoints[0],
                server_public=rx.link.keyring.own.public,
                public=g2.public,
                secret=g2.secret,
            )
            await send_message(raw, 5, hello("g3"))  # g2's key, g3's name
            assert await receive_message(raw, 0.5) is None
            assert rx.link.counters.identity_mismatch == 1
            await send_message(raw, 6, hello("g2"))
            reply = await receive_message(raw, 2.0)
            assert reply is not None
            assert reply[0] == 6
            assert isinstance(reply[1], Hello)
            assert reply[1].node == "g1"
            assert list(rx.link.contacts()) == ["g2"]
            raw.close()
    finally:
        context.destroy(linger=0)


async def test_silent_dialer_is_marked_down_after_missed_heartbeats(tmp_path: Path) -> None:
    keys = make_keys(tmp_path / "keys", "g1", "g2")
    g2 = load_secret(keys / "g2.key", "g2")
    context = zmq.asyncio.Context()
    try:
        async with running_node(tmp_path, "g1", keys=keys, hops=1, listen=["tcp://127.0.0.1:*"], settings=SILENT) as rx:
            raw = raw_dealer(
                context,
                rx.link.endpoints[0],
                server_public=rx.link.keyring.own.public,
                public=g2.public,
                secret=g2.secret,
            )
            await send_message(raw, 9, hello("g2", kind="mobile", hops=None))
            reply = await receive_message(raw, 2.0)
            assert reply is not None
            assert isinstance(reply[1], Hello)
            assert rx.contact_up("g2")
            up_at = time.monotonic()
            assert rx.events[0].peer.kind.value == "mobile"
            # The peer's socket stays connected (its ZeroMQ answers ZeroMQ's heartbeats) but its link says nothing:
            # down after the heartbeats missed plus the allowance for a stalled event loop.
            while True:
                message = await receive_message(raw, 0.05)
                if message is not None:
                    assert isinstance(message[1], Heartbeat)  # the link keeps talking
                if not rx.contact_up("g2"):
                    break
                assert time.monotonic() - up_at < 5
            down_after = time.monotonic() - up_at
            assert (
                SILENT.stuck_after_s * 0.9 <= down_after <= SILENT.stuck_after_s + 2 * SILENT.heartbeat_s + 1.0
            )  # slack for a loaded machine
            assert [e.up for e in rx.events] == [True, False]
            assert "heartbeat" in rx.events[1].reason
            # A message of the forgotten session gets RESYNC, which tells the peer to start again.
            await send_message(raw, 9, Heartbeat())
            reply = await receive_message(raw, 2.0)
            assert reply is not None
            assert isinstance(reply[1], Resync)
            raw.close()
    finally:
        context.destroy(linger=0)


async def test_silent_listener_is_marked_down_and_redialled(tmp_path: Path) -> None:
    keys = make_keys(tmp_path / "keys", "g1", "g2")
    g1 = load_secret(keys / "g1.key", "g1")
    context = zmq.asyncio.Context()
    server = context.socket(zmq.ROUTER)
    server.setsockopt(zmq.LINGER, 0)
    server.curve_server = True
    server.curve_publickey = g1.public
    server.curve_secretkey = g1.secret
    server.bind("tcp://127.0.0.1:*")
    endpoint = server.getsockopt_string(zmq.LAST_ENDPOINT)
    try:
        async with running_node(
            tmp_path, "g2", keys=keys, hops=2, dial=[DialPeer("g1", endpoint)], settings=SILENT
        ) as tx:
            parts = await within(server.recv_multipart(), 5)
            session, message = decode_message(parts[1:])
            assert isinstance(message, Hello)
            assert message.node == "g2"
            await server.send_multipart([parts[0], *encode_message(session, hello("g1", hops=1))])
            await tx.wait_for(lambda: tx.contact_up("g1"), 5)
            up_at = time.monotonic()
            await tx.wait_for(lambda: not tx.contact_up("g1"), 5)
            took = time.monotonic() - up_at
            assert (
                SILENT.stuck_after_s * 0.9 <= took <= SILENT.stuck_after_s + 2 * SILENT.heartbeat_s + 1.0
            )  # slack for a loaded machine
            assert "heartbeat" in tx.events[-1].reason
            async with asyncio.timeout(5):  # the dialer comes back with a new session
                while True:
                    again, message = decode_message((await server.recv_multipart())[1:])
                    if isinstance(message, Hello) and again != session:
                        break
    finally:
        server.close()
        context.destroy(linger=0)


async def test_frames_beyond_the_granted_credit_close_the_contact(tmp_path: Path) -> None:
    keys = make_keys(tmp_path / "keys", "g1", "g2")
    g2 = load_secret(keys / "g2.key", "g2")
    tight = LinkSettings(heartbeat_s=0.2, credit=2, urgent_credit=0)
    context = zmq.asyncio.Context()
    try:
        async with running_node(tmp_path, "g1", keys=keys, hops=1, listen=["tcp://127.0.0.1:*"], settings=tight) as rx:
            raw = raw_dealer(
                context,
                rx.link.endpoints[0],
                server_public=rx.link.keyring.own.public,
                public=g2.public,
                secret=g2.secret,
            )
            await send_message(raw, 3, hello("g2"))
            reply = await receive_message(raw, 2.0)
            assert reply is not None
            assert isinstance(reply[1], Hello)
            assert reply[1].credit == 2
            source = rx.store  # any store can mint ids; these bundles only need to be well formed
            for tag in range(1, 4):
                bundle = source.create(destination=SURFACE, priority=Priority.BULK, kind="x", body=tag, lifetime_s=60)
                await send_message(raw, 3, BundleFrame(tag, 1, False, encode(bundle.forwarded_by("g2"))))
            await rx.wait_for(lambda: not rx.contact_up("g2"), 5)
            assert rx.link.counters.credit_violations == 1
            assert "credit" in rx.events[-1].reason
            raw.close()
    finally:
        context.destroy(linger=0)


async def test_refused_bundles_stay_with_the_sender(tmp_path: Path) -> None:
    keys = make_keys(tmp_path / "keys", "g1", "g2")
    async with (
        running_node(tmp_path, "g1", keys=keys, hops=1, listen=["tcp://127.0.0.1:*"], capacity_bytes=20_000) as rx,
        running_node(tmp_path, "g2", keys=keys, hops=2, dial=[DialPeer("g1", rx.link.endpoints[0])]) as tx,
    ):
        while True:  # fill g1 with alarms: no room for bulk
            alarm = rx.store.create(
                destination=SURFACE, priority=Priority.ALARM, kind="x", body="a" * 200, lifetime_s=60
            )
            if rx.store.put(alarm) is not Accept.STORED:
                break
        sent = {b.id for b in fill(tx.store, 100)}
        tx.link.wake()
        await tx.wait_for(lambda: tx.link.peer_stats().get("g1") is not None and tx.link.peer_stats()["g1"].refused > 0)
        await asyncio.sleep(0.5)
        stats = tx.link.peer_stats()["g1"]
        assert stats.acked == 0
        assert tx.store.ids() == sent  # custody stays: nothing deleted without a durable ack
        # The sender backs off (refused_backoff_s) instead of re-offering the class in a loop.
        assert stats.frames_sent <= FAST.credit + FAST.select_batch
        assert not any(s.bundle.id in sent for s in rx.store.pending(limit=1000))


async def test_hop_distance_change_reaches_the_peer(tmp_path: Path) -> None:
    keys = make_keys(tmp_path / "keys", "g1", "g2")
    async with (
        running_node(tmp_path, "g1", keys=keys, hops=1, listen=["tcp://127.0.0.1:*"]) as rx,
        running_node(tmp_path, "g2", keys=keys, hops=2, dial=[DialPeer("g1", rx.link.endpoints[0])]) as tx,
    ):
        await tx.wait_for(lambda: tx.contact_up("g1"))
        rx.link.set_hops_to_surface(None)  # g1's uplink is cut: it no longer leads to the surface
        await tx.wait_for(lambda: tx.link.contacts()["g1"].hops_to_surface is None)
        assert tx.events[-1].reason == "updated"
        fill(tx.store, 10)
        tx.link.wake()
        await asyncio.sleep(0.3)
        assert rx.received == []  # static routing sends nothing to a gateway cut off from the surface
        rx.link.set_hops_to_surface(1)
        await rx.wait_for(lambda: len(rx.received) == 10)
        assert all(a is Accept.STORED for _, _, a in rx.received)


def test_configuration_errors_name_the_fix(tmp_path: Path) -> None:
    keys = make_keys(tmp_path / "keys", "g1")
    with pytest.raises(ValueError, match="credit must be an integer"):
        LinkSettings(credit=0)
    with pytest.raises(ValueError, match="heartbeat_s must be a positive number"):
        LinkSettings(heartbeat_s=float("nan"))
    with pytest.raises(ValueError, match="must be tcp://"):
        DialPeer("g2", "udp://10.0.0.2:5555")
    with pytest.raises(KeyFileError, match=r"copy g2\.pub"):
        _link_dialling_unknown_peer(keys, tmp_path)


def _link_dialling_unknown_peer(keys: Path, directory: Path) -> Link:
    store = BundleStore(":memory:", node_id="g1", capacity_bytes=1 << 20, clock=SystemClock())
    try:
        return Link(
            "g1",
            kind=PeerKind.FIXED,
            hops_to_surface=1,
            keyring=load_keyring(keys, "g1"),
            store=store,
            committer=GroupCommitter(store),
            router=None,
            clock=SystemClock(),
            dial=[DialPeer("g2", f"ipc://{directory}/g2.sock")],
        )
    finally:
        store.close()
