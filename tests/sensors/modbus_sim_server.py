"""Real pymodbus TCP servers on 127.0.0.1 for the bus tests (a plain module: conftest names are ambiguous)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice


async def _never_answer(*_args: object) -> None:
    # A unit that receives requests but never answers, like a powered-down transmitter behind a gateway.
    await asyncio.Event().wait()


def sim_device(unit_id: int, *, silent: bool = False, size: int = 64) -> SimDevice:
    return SimDevice(
        id=unit_id,
        simdata=(
            [SimData(0, count=size, values=False, datatype=DataType.BITS)],
            [SimData(0, count=size, values=False, datatype=DataType.BITS)],
            [SimData(0, count=size, values=0, datatype=DataType.REGISTERS)],
            [SimData(0, count=size, values=0, datatype=DataType.REGISTERS)],
        ),
        action=_never_answer if silent else None,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class SimServer:
    """A Modbus TCP server that can be stopped and started again on the same port."""

    def __init__(self, devices: Sequence[SimDevice], port: int) -> None:
        self.devices = list(devices)
        self.port = port
        self.server: ModbusTcpServer | None = None

    async def start(self) -> None:
        self.server = ModbusTcpServer(self.devices, address=("127.0.0.1", self.port))
        await self.server.serve_forever(background=True)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()  # type: ignore[no-untyped-call]  # pymodbus leaves it unannotated
            self.server = None

    async def set_registers(self, unit_id: int, address: int, values: list[int], *, input_table: bool = False) -> None:
        assert self.server is not None
        await self.server.context.async_setValues(unit_id, 4 if input_table else 16, address, values)

    async def set_bits(self, unit_id: int, address: int, values: list[bool], *, discrete: bool = False) -> None:
        assert self.server is not None
        await self.server.context.async_setValues(unit_id, 2 if discrete else 15, address, values)

    async def get_coils(self, unit_id: int, address: int, count: int) -> list[bool]:
        assert self.server is not None
        bits = await self.server.context.async_getValues(unit_id, 1, address, count)
        assert isinstance(bits, list)
        return [bool(bit) for bit in bits]
