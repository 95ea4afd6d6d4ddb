"""Fixtures for the sensor tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from modbus_sim_server import SimServer, free_port, sim_device


@pytest.fixture
async def sim_server() -> AsyncIterator[SimServer]:
    server = SimServer([sim_device(1), sim_device(2), sim_device(3, silent=True)], free_port())
    await server.start()
    yield server
    await server.stop()
