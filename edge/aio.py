"""Small asyncio helpers shared by the runtime."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], timeout_s: float) -> T:
    """``asyncio.wait_for`` without its Python 3.11 race that can swallow a cancellation (gh-86296).

    Seen here: a relay loop waiting with a zero timeout ignored the shutdown's cancel and kept the
    gateway from stopping on SIGTERM. ``asyncio.timeout`` propagates cancellation correctly.
    """
    async with asyncio.timeout(timeout_s):
        return await awaitable
