"""A link node in a process of its own, for tests that stop the whole process (SIGSTOP) rather than its loop.

``python dtn_link_peer_process.py DIR NODE_ID KEYS HOPS (listen|dial) ENDPOINT [PEER_ID]``: prints ``ready`` once
the link runs, then serves until killed. Runs with heartbeat 200 ms, dead after 1 s and the other settings at their
defaults, like ``minegate dtn node`` with ``heartbeat: 200ms, dead_after: 1s``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from dtn_link_fixtures import running_node

from edge.dtn.link import DialPeer, LinkSettings


async def serve(argv: list[str]) -> None:
    directory, node_id, keys, hops, role, endpoint, *peer = argv
    settings = LinkSettings(heartbeat_s=0.2, missed_heartbeats=5)
    listen = [endpoint] if role == "listen" else []
    dial = [DialPeer(peer[0], endpoint)] if role == "dial" else []
    async with running_node(
        Path(directory), node_id, keys=Path(keys), hops=int(hops), listen=listen, dial=dial, settings=settings
    ):
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1:]))
