"""Contacts at the fastest configured timing (heartbeat 200 ms, dead after 1 s): idle, through event-loop stalls,
and a peer whose whole process stops."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from dtn_link_fixtures import Node, make_keys, running_node

from edge.aio import within
from edge.dtn.link import DialPeer, LinkSettings

# What ``minegate dtn node`` runs with ``heartbeat: 200ms, dead_after: 1s`` (edge.dtn.node.link_settings): every
# other setting at its default, so the idle poll (0.5 s) is longer than the heartbeat.
NODE_200MS = LinkSettings(heartbeat_s=0.2, missed_heartbeats=5)
HERE = Path(__file__).resolve().parent


async def eventually(condition: Callable[[], bool], timeout_s: float) -> None:
    """Poll: the nodes here may live on another thread's loop, whose events this loop cannot wait on."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s:g} s")
        await asyncio.sleep(0.02)


class LoopThread:
    """An event loop in a thread of its own: a node on it can stall while the test's loop (the peer) keeps going."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="dtn-test-peer-loop", daemon=True)
        self._thread.start()

    def stall(self, seconds: float) -> None:
        """Block the loop (not the process: ZeroMQ's I/O thread goes on) as a long synchronous call would."""
        self.loop.call_soon_threadsafe(time.sleep, seconds)

    @contextlib.asynccontextmanager
    async def node(self, directory: Path, node_id: str, **kwargs: Any) -> AsyncIterator[Node]:
        started: concurrent.futures.Future[tuple[Node, asyncio.Event]] = concurrent.futures.Future()

        async def serve() -> None:
            stop = asyncio.Event()
            try:
                async with running_node(directory, node_id, **kwargs) as node:
                    started.set_result((node, stop))
                    await stop.wait()
            except BaseException as exc:
                if not started.done():
                    started.set_exception(exc)
                raise

        served = asyncio.run_coroutine_threadsafe(serve(), self.loop)
        node, stop = await asyncio.wrap_future(started)
        try:
            yield node
        finally:
            self.loop.call_soon_threadsafe(stop.set)
            await asyncio.wrap_future(served)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


async def test_idle_contact_at_200ms_1s_stays_up(tmp_path: Path) -> None:
    keys = make_keys(tmp_path / "keys", "g1", "g2")
    endpoint = f"ipc://{tmp_path}/g1.sock"
    async with (
        running_node(tmp_path, "g1", keys=keys, hops=1, listen=[endpoint], settings=NODE_200MS) as listener,
        running_node(tmp_path, "g2", keys=keys, hops=2, dial=[DialPeer("g1", endpoint)], settings=NODE_200MS) as dialer,
    ):
        await dialer.wait_for(lambda: dialer.contact_up("g1") and listener.contact_up("g2"), 10)
        await asyncio.sleep(5.0)
        assert [e.up for e in listener.events] == [True]
        assert [e.up for e in dialer.events] == [True]


@pytest.mark.parametrize("stalled", ["listener", "dialer"])
async def test_a_stalled_event_loop_does_not_drop_the_contact(tmp_path: Path, stalled: str) -> None:
    # The flapping reported at 200 ms / 1 s: one side's event loop blocked for longer than dead_after (a long
    # synchronous call, a loaded machine). Its process and its ZeroMQ I/O thread live on and answer ZeroMQ's
    # heartbeats, so the peer must not declare the contact dead; before the fix the dialer logged "no message for 5
    # heartbeat intervals" and the listener "send failed: Host unreachable" after every stall of >= ~0.8 s.
    keys = make_keys(tmp_path / "keys", "g1", "g2")
    endpoint = f"ipc://{tmp_path}/g1.sock"
    other = LoopThread()
    try:
        listener_cm = (other.node if stalled == "listener" else running_node)(
            tmp_path, "g1", keys=keys, hops=1, listen=[endpoint], settings=NODE_200MS
        )
        async with listener_cm as listener:
            dialer_cm = (other.node if stalled == "dialer" else running_node)(
                tmp_path, "g2", keys=keys, hops=2, dial=[DialPeer("g1", endpoint)], settings=NODE_200MS
            )
            async with dialer_cm as dialer:
                await eventually(lambda: dialer.contact_up("g1") and listener.contact_up("g2"), 10)
                other.stall(2.0 * NODE_200MS.dead_after_s)
                await asyncio.sleep(2.0 * NODE_200MS.dead_after_s + 1.0)
                assert [(e.up, e.reason) for e in listener.events] == [(True, "hello")]
                assert [(e.up, e.reason) for e in dialer.events] == [(True, "hello")]
                assert listener.contact_up("g2")
                assert dialer.contact_up("g1")
                # The stalled side names the stall (to find what blocks a loop); the other saw none.
                blocked, steady = (listener, dialer) if stalled == "listener" else (dialer, listener)
                assert blocked.link.counters.loop_stalls >= 1
                assert blocked.link.counters.longest_loop_stall_s >= 2.0 * NODE_200MS.dead_after_s - 0.1
                assert steady.link.counters.longest_loop_stall_s < NODE_200MS.dead_after_s
    finally:
        other.close()


@pytest.mark.parametrize("stopped", ["listener", "dialer"])
async def test_a_peer_whose_process_stops_is_down_after_dead_after(tmp_path: Path, stopped: str) -> None:
    # The other half of the fix: a peer whose whole process stops (SIGSTOP here; a partition, a hung machine) no
    # longer answers ZeroMQ's heartbeats either. ZeroMQ drops the connection after dead_after and the contact goes
    # down at the next heartbeat send, not after the longer allowance for a stalled event loop.
    keys = make_keys(tmp_path / "keys", "g1", "g2")
    endpoint = f"ipc://{tmp_path}/g1.sock"
    peer_args = ["g1", str(keys), "1", "listen", endpoint] if stopped == "listener" else ["g2", str(keys), "2", "dial"]
    if stopped == "dialer":
        peer_args += [endpoint, "g1"]
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "dtn_link_peer_process.py"),
        str(tmp_path / "child"),
        *peer_args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")])},
    )
    try:
        assert child.stdout is not None
        line = await within(child.stdout.readline(), 30)
        assert line.strip() == b"ready", line + await within(child.stdout.read(), 5)
        here_args: dict[str, Any] = (
            {"node_id": "g2", "hops": 2, "dial": [DialPeer("g1", endpoint)]}
            if stopped == "listener"
            else {"node_id": "g1", "hops": 1, "listen": [endpoint]}
        )
        peer = "g1" if stopped == "listener" else "g2"
        async with running_node(tmp_path, keys=keys, settings=NODE_200MS, **here_args) as node:
            await eventually(lambda: node.contact_up(peer), 10)
            child.send_signal(signal.SIGSTOP)
            stopped_at = time.monotonic()
            await eventually(lambda: not node.contact_up(peer), NODE_200MS.stall_grace_s)
            took = time.monotonic() - stopped_at
            # ZeroMQ's timeout runs from its last unanswered ping (up to one interval before the stop); the link
            # hears of it at its next send (up to one heartbeat later); plus slack for a loaded machine.
            assert NODE_200MS.dead_after_s - NODE_200MS.heartbeat_s <= took <= NODE_200MS.dead_after_s + 1.0
            assert "send failed" in node.events[-1].reason
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGCONT)
            child.kill()
        await child.wait()


def test_stall_grace_is_checked() -> None:
    with pytest.raises(ValueError, match="stall_grace_s"):
        replace(NODE_200MS, stall_grace_s=-1.0)
