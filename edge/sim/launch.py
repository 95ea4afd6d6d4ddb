"""``minegate sim``: run the simulated mine for a configuration until the scenario ends or SIGTERM/SIGINT.

Each RTU bus whose configured ``port:`` is a path outside ``/dev`` gets a symlink there to its pty's gateway
side, so the gateway started on the same configuration finds its bus (that is how ``make demo`` connects the
two processes). Ports under ``/dev`` name real hardware and are never replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

import zmq.asyncio

from edge.clock import SystemClock
from edge.config.resolved import BusKind, GatewaySpec
from edge.modbus.wire_time import SerialFraming
from edge.sim.crew import CrewParams, CrewPublisher
from edge.sim.mine_layout import MineLayout
from edge.sim.runner import SimulatedMine, SimulationError, describe
from edge.sim.scenario_base import ScenarioError
from edge.sim.scenarios import make_scenario

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
_HARDWARE_PREFIX = "/dev/"


def pty_links_for(spec: GatewaySpec) -> dict[str, Path]:
    """bus_id -> link path for every RTU bus whose configured port is not a hardware device path."""
    links: dict[str, Path] = {}
    for bus in spec.buses:
        if bus.kind is not BusKind.RTU or not bus.port:
            continue
        if bus.port.startswith(_HARDWARE_PREFIX) or "://" in bus.port:
            logger.warning(
                "bus %s: port %s is real hardware or a URL; the simulator leaves it alone (point the "
                "gateway at the pty path logged below, or configure a plain file path to get a link)",
                bus.bus_id,
                bus.port,
            )
            continue
        links[bus.bus_id] = Path(bus.port)
    return links


def wire_framings(spec: GatewaySpec, wire_baud: int | None) -> dict[str, SerialFraming] | None:
    """Per RTU bus, its configured framing at ``wire_baud`` bit/s; ``None`` turns wire-time emulation off."""
    if wire_baud is None:
        return None
    return {
        bus.bus_id: SerialFraming(wire_baud, data_bits=bus.data_bits, parity=bus.parity, stop_bits=bus.stop_bits)
        for bus in spec.buses
        if bus.kind is BusKind.RTU
    }


async def simulate(
    spec: GatewaySpec,
    *,
    scenario_name: str,
    seed: int = 0,
    time_scale: float = 1.0,
    wire_baud: int | None = None,
    coil_log: Path | None = None,
    duration_s: float | None = None,
    data_path: Path | None = None,
    crew: CrewParams | None = None,
    crew_endpoint: str | None = None,
) -> None:
    """Start the mine, play ``scenario_name`` for ``duration_s`` (default: the scenario's own length;
    ``float("inf")``: until cancelled) and stop it again, also when cancelled."""
    scenario = make_scenario(scenario_name, spec, seed=seed, time_scale=time_scale, data_path=data_path)
    mine = SimulatedMine(
        spec,
        scenario,
        clock=SystemClock(),
        wire_framing=wire_framings(spec, wire_baud),
        coil_log_path=coil_log,
        pty_links=pty_links_for(spec),
    )
    until_s = scenario.duration_s if duration_s is None else duration_s
    logger.info("%s", describe(spec))
    try:
        await mine.start()
        for bus in spec.buses:
            if bus.kind is BusKind.RTU:
                logger.info("bus %s: gateway side %s", bus.bus_id, mine.rtu_port(bus.bus_id))
        logger.info(
            "scenario %s (seed %d, time scale %g) for %s",
            scenario.name,
            seed,
            time_scale,
            "ever" if until_s == float("inf") else f"{until_s:.1f} s",
        )
        crew_task = _start_crew(spec, crew, crew_endpoint)
        try:
            await mine.run(until_s=None if until_s == float("inf") else until_s)
        finally:
            if crew_task is not None:
                crew_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await crew_task
        logger.info("scenario %s finished", scenario.name)
    finally:
        await mine.stop()


def _start_crew(spec: GatewaySpec, crew: CrewParams | None, endpoint: str | None) -> asyncio.Task[None] | None:
    """Publish a simulated crew's movement records, walking the layout the gateway's location model knows."""
    if crew is None:
        return None
    if spec.localization is None:
        raise SimulationError("--crew needs a 'localization:' section in the config (its model_dir has the layout)")
    layout = MineLayout.load(Path(spec.localization.model_dir) / "layout.json")
    publisher = CrewPublisher(
        layout,
        crew,
        context=zmq.asyncio.Context.instance(),
        endpoint=endpoint or spec.localization.source_endpoint.replace("tcp://localhost", "tcp://127.0.0.1"),
        clock=SystemClock(),
    )
    logger.info("crew: %d miners publishing movement records on %s", crew.nodes, publisher.endpoint)
    return asyncio.create_task(publisher.run(), name="sim-crew")


def run_simulator(
    spec: GatewaySpec,
    *,
    scenario_name: str,
    seed: int = 0,
    time_scale: float = 1.0,
    wire_baud: int | None = None,
    coil_log: Path | None = None,
    duration_s: float | None = None,
    data_path: Path | None = None,
    crew: CrewParams | None = None,
    crew_endpoint: str | None = None,
) -> int:
    """Blocking entry point for the CLI: runs ``simulate`` on a fresh loop; SIGTERM/SIGINT stop it cleanly.

    Returns 0 when the scenario ended or a signal stopped it, 2 for a scenario that cannot be built for this
    configuration (unknown name, missing data file), 1 when a bus cannot be opened.
    """

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop_requested = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop_requested.set)
        simulation = asyncio.create_task(
            simulate(
                spec,
                scenario_name=scenario_name,
                seed=seed,
                time_scale=time_scale,
                wire_baud=wire_baud,
                coil_log=coil_log,
                duration_s=duration_s,
                data_path=data_path,
                crew=crew,
                crew_endpoint=crew_endpoint,
            ),
            name="minegate-sim",
        )
        stop_wait = asyncio.create_task(stop_requested.wait(), name="minegate-sim-stop-signal")
        try:
            await asyncio.wait({simulation, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if not simulation.done():
                logger.info("stop signal received: stopping the simulated mine")
                simulation.cancel()
            try:
                await simulation
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # this coroutine itself is being cancelled: pass it on
                # Otherwise the CancelledError is the one we sent the simulation task on a stop signal.
        finally:
            stop_wait.cancel()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)

    try:
        asyncio.run(main())
    except (ScenarioError, FileNotFoundError) as exc:
        logger.error("cannot start the simulated mine: %s", exc)
        return EXIT_CONFIG
    except SimulationError as exc:
        logger.error("%s", exc)
        return EXIT_FAILURE
    return EXIT_OK
