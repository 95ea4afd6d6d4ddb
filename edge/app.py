"""The composition root: builds every gateway component from the resolved config and runs them.

The statutory path is ``Gateway.on_reading``: a plain synchronous call chain health -> rules -> alarm
manager -> desired relay states, made by the bus owner the moment a device's registers are decoded.
Nothing queues, drops or overrides it; publishing and journaling happen after the relays are told.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zmq
import zmq.asyncio

from edge.alarms.events import AlarmEvent
from edge.alarms.journal import AlarmJournal, JournalWriter
from edge.alarms.manager import AlarmCommandError, AlarmManager
from edge.clock import Clock
from edge.config.resolve import LoadedConfig
from edge.config.resolved import LocalizationSpec
from edge.control import ControlError, ControlServer
from edge.outputs.ack_button import AckButton
from edge.outputs.publisher import LocalPublisher, reading_to_dict
from edge.outputs.relays import RelayDriver
from edge.readings import Reading
from edge.rules.signals import ConditionChange, Priority, SignalClass
from edge.rules.thresholds import RuleEngine
from edge.sensors.health import HealthMonitor
from edge.sensors.modbus_bus import ModbusBus
from edge.sensors.serial_line import SerialInstrument
from edge.systemd import SystemdNotifier
from edge.watchdog import CriticalTask, bus_allowed_silence_s, overdue, relay_allowed_silence_s

if TYPE_CHECKING:
    from edge.camera.capture import FrameSource
    from edge.camera.config import CameraConfig, CamerasSection
    from edge.camera.gateway import GatewayCameras
    from edge.dtn.bundle import Bundle
    from edge.dtn.config import NodeSpec
    from edge.dtn.ingest import GatewayIngest
    from edge.dtn.node import DtnNode
    from edge.hazard.config import HazardSection
    from edge.hazard.task import HazardTask
    from edge.localization.source import RecordFeed
    from edge.localization.task import LocalizationTask
    from edge.logbook.config import LogbookSection
    from edge.logbook.service import GatewayLogbook
    from edge.logbook.store import LogStore
    from edge.status_page.config import StatusPageSection
    from edge.status_page.service import StatusPage

log = logging.getLogger(__name__)

TICK_S = 0.25
# The alarm journal writer may take this long over one batch before the watchdog calls it hung (SD-card fsync).
JOURNAL_ALLOWED_SILENCE_S = 60.0
RESTART_BACKOFF_S = (1.0, 30.0)
# Tasks whose failure degrades the gateway without touching its local safety functions (see safety_functions_ok).
# Tasks whose failure costs earlier warnings or reach to the surface, never sensing or statutory alarms. A
# task named "kind:detail" (e.g. "record-feed:tcp://...") is classed by its kind.
ADVISORY_TASKS = frozenset({"localization", "dtn", "record-feed", "cameras", "logbook", "hazard", "status-page"})


class Gateway:
    def __init__(
        self,
        loaded: LoadedConfig,
        *,
        clock: Clock,
        notifier: SystemdNotifier | None = None,
        zmq_context: zmq.asyncio.Context | None = None,
        camera_sources: Callable[[CameraConfig], FrameSource] | None = None,
    ) -> None:
        spec = loaded.spec
        self.spec = spec
        self._camera_sources = camera_sources  # None: OpenCV opens each camera's configured source
        self.clock = clock
        self.notifier = notifier or SystemdNotifier()
        self.started_mono = clock.monotonic()
        self._zmq = zmq_context or zmq.asyncio.Context()
        self._owns_zmq = zmq_context is None

        data_dir = Path(spec.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.journal = AlarmJournal(data_dir / "alarms.sqlite")
        self.journal_writer = JournalWriter(self.journal)
        self.alarms = AlarmManager(
            clock=clock,
            chatter_count=spec.alarms.chatter_count,
            chatter_window_s=spec.alarms.chatter_window_s,
            flood_on_count=spec.alarms.flood_on_count,
            flood_off_count=spec.alarms.flood_off_count,
            flood_window_s=spec.alarms.flood_window_s,
            start_seq=self.journal.last_seq(),
        )
        # Alarms that were standing when the gateway last stopped (or was killed) stand again.
        self.alarms.restore(self.journal.events())
        self.rules = RuleEngine(loaded.rules)
        self.rule_count = len(loaded.rules)
        points: list[Any] = [p for d in spec.devices for p in d.points]
        points += [p for ins in spec.instruments for p in ins.points]
        self.health = HealthMonitor(points)
        self.latest: dict[str, Reading] = {}
        self.readings_seen = 0

        self.publisher = (
            LocalPublisher(zmq.Context.instance(), spec.publish_endpoint) if spec.publish_endpoint else None
        )
        self.buses: dict[str, ModbusBus] = {
            bus.bus_id: ModbusBus(bus, spec.devices_on(bus.bus_id), clock=clock, sink=self.on_reading)
            for bus in spec.buses
        }
        self.instruments = [SerialInstrument(ins, clock=clock, sink=self.on_reading) for ins in spec.instruments]
        bus_for_device = {d.device_id: (self.buses[d.bus_id], d.unit_id) for d in spec.devices}
        self.relays = RelayDriver(
            spec.outputs,
            bus_for_device=bus_for_device,
            clock=clock,
            on_fault=self.on_output_fault,
            refresh_s=spec.alarms.heartbeat_period_s,
        )
        self.ack_button: AckButton | None = None
        if spec.ack_input is not None:
            bus, unit_id = bus_for_device[spec.ack_input.device_id]
            self.ack_button = AckButton(spec.ack_input, bus=bus, unit_id=unit_id, on_press=self._ack_pressed)
        self.control = ControlServer(self._zmq, spec.control_endpoint, self)
        self.task_faults: dict[str, str] = {}
        self.localization: LocalizationTask | None = None
        # One subscription per record-feed endpoint, shared by the location model and the DTN's movement
        # bundles (by default both read localization.source).
        self.record_feeds: dict[str, RecordFeed] = {}
        if spec.localization is not None:
            self._start_localization(spec.localization)
        ingest_spec = spec.dtn.ingest if spec.dtn is not None else None
        if ingest_spec is not None and ingest_spec.movement and ingest_spec.movement_source is not None:
            self._record_feed(ingest_spec.movement_source)
        self.cameras: GatewayCameras | None = None
        if spec.cameras is not None:
            self._start_cameras(spec.cameras)
        # The operation/maintenance logbook: the hazard task reads self.logbook.recent().
        self.logbook: LogStore | None = None
        self._logbook: GatewayLogbook | None = None
        if spec.logbook is not None:
            self._start_logbook(spec.logbook)
        # Early warnings from the hazard model: fed by on_reading, the cameras and the logbook above.
        self.hazard: HazardTask | None = None
        if spec.hazard is not None:
            self._start_hazard(spec.hazard, loaded)
        # The gateway's DTN node and its bundle producers; built afresh by each (re)start of the "dtn" task.
        self.dtn: DtnNode | None = None
        self.dtn_ingest: GatewayIngest | None = None
        # The local status page (read-only unless a token file is configured); it reads everything above.
        self.status_page: StatusPage | None = None
        if spec.status_page is not None:
            self._start_status_page(spec.status_page)
        for record in loaded.overrides:
            (log.warning if record.loosens else log.info)("site override %s", record.describe())
        self.relays.set_desired(self.alarms.desired_outputs())
        self.relays.healthy = True  # until a supervised task crashes
        self.critical_tasks = self._critical_tasks()
        self._journal_progress = (self.journal_writer.durable_seq, clock.monotonic())
        self._reported_overdue: frozenset[str] = frozenset()

    def _critical_tasks(self) -> list[CriticalTask]:
        """The tasks that must check in for systemd's watchdog to be fed (see edge/watchdog.py)."""
        commands = len(self.spec.outputs) + (1 if self.spec.ack_input is not None else 0)

        def last_round_of(bus: ModbusBus) -> Callable[[], float]:
            return lambda: bus.last_round_mono

        tasks = [
            CriticalTask(
                f"bus:{bus_id}",
                last_round_of(bus),
                bus_allowed_silence_s(bus.spec, self.spec.devices_on(bus_id), commands),
            )
            for bus_id, bus in self.buses.items()
        ]
        tasks.append(
            CriticalTask(
                "relays",
                lambda: self.relays.last_round_mono,
                relay_allowed_silence_s(
                    self.spec.alarms.heartbeat_period_s, len(self.spec.outputs), self.relays.command_timeout_s()
                ),
            )
        )
        tasks.append(CriticalTask("alarm-journal", self._journal_last_progress, JOURNAL_ALLOWED_SILENCE_S))
        return tasks

    def _journal_last_progress(self) -> float:
        """Now while the journal has nothing to write, else when its durable sequence last moved."""
        now = self.clock.monotonic()
        seq = self.journal_writer.durable_seq
        if self.journal_writer.backlog == 0 or seq != self._journal_progress[0]:
            self._journal_progress = (seq, now)
        return self._journal_progress[1]

    def overdue_tasks(self) -> list[str]:
        """Critical tasks that have not checked in within their allowed silence (empty when all is well)."""
        return [o.describe() for o in overdue(self.critical_tasks, self.clock.monotonic(), self.task_faults)]

    def _feed_watchdog(self) -> None:
        late = overdue(self.critical_tasks, self.clock.monotonic(), self.task_faults)
        names = frozenset(o.name for o in late)
        if names != self._reported_overdue:
            if late:
                text = "; ".join(o.describe() for o in late)
                log.error("watchdog withheld: %s; systemd restarts the gateway at WatchdogSec", text)
                self.notifier.notify(f"STATUS=hung task: {text}")
            else:
                log.info("watchdog: every critical task checks in again")
                self.notifier.notify(f"STATUS=polling {len(self.spec.devices)} devices")
            self._reported_overdue = names
        if not late:
            self.notifier.watchdog()

    def _start_localization(self, loc: LocalizationSpec) -> None:
        """Load the location model; a refused model costs the muster list, never the statutory functions."""
        # Imported here: onnxruntime and the feature code cost ~30 MB that a gateway without a model keeps.
        from edge.inference.manifest import ManifestError  # noqa: PLC0415
        from edge.inference.model import ModelRefused, load_model  # noqa: PLC0415
        from edge.localization.task import LocalizationContractError, LocalizationTask  # noqa: PLC0415
        from edge.sim.mine_layout import MineLayout  # noqa: PLC0415

        model_dir = Path(loc.model_dir)
        try:
            model = load_model(model_dir, loc.file, threads=loc.threads)
            layout = MineLayout.load(model_dir / "layout.json")
            self.localization = LocalizationTask(model, layout=layout, clock=self.clock, period_s=loc.period_s)
        except (ModelRefused, ManifestError, LocalizationContractError, OSError, ValueError) as exc:
            log.error("localization disabled: %s", exc)
            self.task_faults["localization"] = str(exc)
            self._apply_changes([self._gateway_malfunction("localization", f"location model refused: {exc}")])
            return
        self._record_feed(loc.source_endpoint).attach(self.localization)
        log.info(
            "localization: model %s (%s on %s), %d pillars, records from %s",
            model.manifest.name,
            model.file.path,
            model.backend_name,
            len(model.labels),
            loc.source_endpoint,
        )

    def _start_cameras(self, section: CamerasSection) -> None:
        """Cameras, helmet and zone checks: warnings and malfunctions below the statutory alarms, never in
        their way (their own threads, one detection thread, conditions that are never statutory)."""
        from edge.camera.gateway import GatewayCameras  # noqa: PLC0415  (OpenCV only on gateways with cameras)

        self.cameras = GatewayCameras(
            section,
            clock=self.clock,
            data_dir=Path(self.spec.data_dir),
            apply=self._apply_changes,
            alarms=self.alarms.snapshot,
            source_factory=self._camera_sources,
        )
        if self.cameras.refused is not None:
            self.task_faults["cameras"] = self.cameras.refused
            self._apply_changes([self._gateway_malfunction("cameras", f"camera {self.cameras.refused}")])

    def _start_logbook(self, section: LogbookSection) -> None:
        """The logbook's store, watched folder and endpoint; a logbook that cannot open costs the text entries."""
        from edge.logbook.service import GatewayLogbook  # noqa: PLC0415  (the text encoder loads onnxruntime)
        from edge.logbook.store import LogStoreError  # noqa: PLC0415

        try:
            self._logbook = GatewayLogbook(section, clock=self.clock, zmq_context=self._zmq)
        except (LogStoreError, OSError, ValueError) as exc:
            log.error("logbook disabled: %s", exc)
            self.task_faults["logbook"] = str(exc)
            return
        self.logbook = self._logbook.store

    def _start_hazard(self, section: HazardSection, loaded: LoadedConfig) -> None:
        """The early-warning model; a refused model costs earlier warnings, never the statutory functions."""
        from edge.hazard.gateway import HazardTaskRefused, build_hazard_task  # noqa: PLC0415  (onnxruntime)

        camera_id = section.camera
        try:
            self.hazard = build_hazard_task(
                section,
                jurisdiction=self.spec.jurisdiction,
                devices=self.spec.devices,
                instruments=self.spec.instruments,
                rules=loaded.rules,
                clock=self.clock,
                apply=self._apply_changes,
                camera=(
                    (lambda: self.cameras.latest_features.get(camera_id) if self.cameras is not None else None)
                    if camera_id is not None
                    else None
                ),
                logbook=lambda: self.logbook,
                with_text=self.logbook is not None,
                text_encoder=self._logbook.encoder if self._logbook is not None else None,
            )
        except HazardTaskRefused as exc:
            log.error("hazard early warning disabled: %s", exc)
            self.task_faults["hazard"] = str(exc)
            self._apply_changes([self._gateway_malfunction("hazard", str(exc))])

    def _start_status_page(self, section: StatusPageSection) -> None:
        """The status page; one that cannot start costs the page, never anything it shows."""
        from edge.status_page.config import TokenError  # noqa: PLC0415
        from edge.status_page.service import StatusPage  # noqa: PLC0415

        try:
            self.status_page = StatusPage(section, self)
        except (TokenError, OSError, ValueError) as exc:
            log.error("status page disabled: %s", exc)
            self.task_faults["status-page"] = str(exc)

    def _record_feed(self, endpoint: str) -> RecordFeed:
        from edge.localization.source import RecordFeed  # noqa: PLC0415

        feed = self.record_feeds.get(endpoint)
        if feed is None:
            feed = self.record_feeds[endpoint] = RecordFeed(self._zmq, endpoint)
        return feed

    def _gateway_malfunction(self, component: str, message: str) -> ConditionChange:
        return ConditionChange(
            condition_id=f"gateway.{component}:malfunction",
            point_id=f"gateway.{component}",
            signal=SignalClass.MALFUNCTION,
            priority=Priority.MEDIUM,
            active=True,
            statutory=False,
            latch=False,
            value=None,
            limit=None,
            unit="",
            message=message,
            action="re-export or restore the model files; statutory monitoring is unaffected",
            source="minegate self-check",
            outputs=(),
            t_mono=self.clock.monotonic(),
            t_wall=self.clock.wall(),
        )

    # ---- the reading path (synchronous, statutory) -------------------------------------------------
    def on_reading(self, reading: Reading) -> None:
        reading = self.health.check(reading)
        changes = self.rules.evaluate(reading)
        if changes:
            self._apply_changes(changes)
        self.latest[reading.point_id] = reading
        self.readings_seen += 1
        if self.publisher is not None:
            self.publisher.reading(reading)
        if self.dtn_ingest is not None:
            self.dtn_ingest.observe(reading)
        if self.hazard is not None:
            self.hazard.observe(reading)

    def _apply_changes(self, changes: Iterable[ConditionChange]) -> None:
        events: list[AlarmEvent] = []
        for change in changes:
            events += self.alarms.apply(change)
        self._after_alarm_events(events)

    def _after_alarm_events(self, events: list[AlarmEvent]) -> None:
        if not events:
            return
        # Relays first: the journal and displays can wait a millisecond, a power trip cannot.
        self.relays.set_desired(self.alarms.desired_outputs())
        self.journal_writer.submit(events)
        for event in events:
            level = logging.WARNING if event.priority <= Priority.HIGH else logging.INFO
            log.log(
                level,
                "alarm %s %s state=%s priority=%s value=%s limit=%s: %s",
                event.alarm_id,
                event.transition.value,
                event.state.value,
                event.priority.name,
                event.value,
                event.limit,
                event.message,
            )
            if self.publisher is not None:
                self.publisher.alarm(event)

    def on_output_fault(self, name: str, detail: str | None) -> None:
        now_mono, now_wall = self.clock.monotonic(), self.clock.wall()
        output = next(o for o in self.spec.outputs if o.name == name)
        change = ConditionChange(
            condition_id=f"output.{name}:malfunction",
            point_id=f"output.{name}",
            signal=SignalClass.MALFUNCTION,
            priority=Priority.HIGH,
            active=detail is not None,
            statutory=True,  # a relay that cannot trip power is as serious as the gas it guards
            latch=False,
            value=None,
            limit=None,
            unit="",
            message=(
                f"Output {name} (device {output.device_id} coil {output.coil}) failed: {detail}: "
                "check the relay module, its supply and the bus"
                if detail is not None
                else f"Output {name} (device {output.device_id} coil {output.coil}) works again"
            ),
            action="check the relay module, its supply and the bus",
            source="minegate output self-check",
            outputs=(),
            t_mono=now_mono,
            t_wall=now_wall,
        )
        self._apply_changes([change])

    def _ack_pressed(self) -> None:
        self._after_alarm_events(self.alarms.acknowledge(None, user="ack-button"))

    # ---- control -----------------------------------------------------------------------------------
    def handle_control(self, request: dict[str, Any]) -> dict[str, Any]:
        cmd = request["cmd"]
        user = str(request.get("user") or "cli")
        alarm_id = request.get("alarm_id")
        try:
            if cmd == "status":
                return self.status()
            if cmd == "muster":
                return self.muster()
            if cmd == "dtn_status":
                return self.dtn_status()
            if cmd == "alarms":
                return {"alarms": [e.to_dict() for e in self.alarms.snapshot()]}
            if cmd == "ack":
                events = self.alarms.acknowledge(alarm_id, user=user)
            elif cmd == "reset":
                events = self.alarms.reset(alarm_id, user=user)
            elif cmd == "shelve":
                events = self.alarms.shelve(
                    str(alarm_id),
                    duration_s=float(request["duration_s"]),
                    user=user,
                    reason=str(request.get("reason", "")),
                )
            elif cmd == "unshelve":
                events = self.alarms.unshelve(str(alarm_id), user=user)
            else:
                raise ControlError(
                    f"unknown command {cmd!r}; allowed: status, alarms, muster, dtn_status, ack, reset, shelve, "
                    "unshelve"
                )
        except AlarmCommandError as exc:
            raise ControlError(str(exc)) from None
        self._after_alarm_events(events)
        return {"events": [e.to_dict() for e in events]}

    def muster(self) -> dict[str, Any]:
        if self.localization is None:
            raise ControlError(
                "this gateway runs no location model: add a 'localization:' section to its config"
                + (
                    f" (the model was refused: {self.task_faults['localization']})"
                    if "localization" in self.task_faults
                    else ""
                )
            )
        now = self.clock.wall()
        task = self.localization
        return {
            "now_wall": now,
            "model": task.model.manifest.name,
            "file": task.model.file.path,
            "cycles": task.cycles,
            "miners": [e.to_dict(now) for e in task.muster()],
        }

    def dtn_status(self) -> dict[str, Any]:
        if self.spec.dtn is None:
            raise ControlError("this gateway runs no DTN node: add a 'dtn:' section to its config")
        if self.dtn is None:
            fault = self.task_faults.get("dtn")
            raise ControlError("the DTN node is not running" + (f" ({fault})" if fault else " yet"))
        ingest = self.dtn_ingest.status().to_dict() if self.dtn_ingest is not None else None
        return self.dtn.status(ingest=ingest)

    async def _run_dtn(self, spec: NodeSpec) -> None:
        """The gateway's DTN node and its producers; a failure costs the DTN, never the statutory path."""
        from edge.dtn.ingest import GatewayIngest  # noqa: PLC0415
        from edge.dtn.node import DtnNode  # noqa: PLC0415

        node = DtnNode(spec, clock=self.clock, on_received=self._dtn_received)
        try:
            await node.start()
            self.dtn = node
            if spec.ingest is None:
                await asyncio.Event().wait()
                return
            self.dtn_ingest = GatewayIngest(
                spec.ingest,
                gateway_id=self.spec.gateway_id,
                state_path=spec.state_path,
                create=node.create,
                put=node.submit,
                clock=self.clock,
                journal=self.journal,
                writer=self.journal_writer,
                record_feed=(
                    self.record_feeds.get(spec.ingest.movement_source) if spec.ingest.movement_source else None
                ),
                localization=self.localization,
            )
            await self.dtn_ingest.run()
        finally:
            self.dtn_ingest = None
            self.dtn = None
            await node.stop()

    def _dtn_received(self, bundle: Bundle) -> None:
        if self.dtn_ingest is not None:
            self.dtn_ingest.on_received(bundle)

    def status(self) -> dict[str, Any]:
        return {
            "gateway_id": self.spec.gateway_id,
            "site": self.spec.site,
            "uptime_s": self.clock.monotonic() - self.started_mono,
            "healthy": not self.task_faults,
            "safety_functions_ok": self.safety_functions_ok(),
            "task_faults": dict(self.task_faults),
            "readings_seen": self.readings_seen,
            "points": {pid: reading_to_dict(r) for pid, r in sorted(self.latest.items())},
            "alarms": [e.to_dict() for e in self.alarms.snapshot()],
            "flood": self.alarms.flood_active,
            "outputs": self.relays.state(),
            "devices": {dev: c.to_dict() for bus in self.buses.values() for dev, c in bus.counters.items()},
            "buses": {bid: {"connected": b.connected} for bid, b in self.buses.items()},
            "journal": {
                "durable_seq": self.journal_writer.durable_seq,
                "backlog": self.journal_writer.backlog,
            },
            "publisher": ({"sent": self.publisher.sent, "dropped": self.publisher.dropped} if self.publisher else None),
            "cameras": self.cameras.status() if self.cameras is not None else None,
            "logbook": self._logbook.status() if self._logbook is not None else None,
            "hazard": self.hazard.status() if self.hazard is not None else None,
        }

    # ---- lifecycle ---------------------------------------------------------------------------------
    def safety_functions_ok(self) -> bool:
        """Whether every task the local safety functions depend on is running. The heartbeat relay follows this,
        not overall health: a refused location model or a crashed DTN node loses earlier warnings and reach to the
        surface, which status reports, but sensing, statutory alarms and trips still work, and dropping the
        heartbeat would make a watchdog PLC treat a working gateway as dead."""
        return all(name.split(":", 1)[0] in ADVISORY_TASKS for name in self.task_faults)

    async def _supervise(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Restart a crashed component with back-off; the heartbeat relay drops while a safety task is down."""
        delay = RESTART_BACKOFF_S[0]
        while True:
            try:
                await factory()
                return
            except Exception as exc:
                self.task_faults[name] = f"{type(exc).__name__}: {exc}"
                self.relays.healthy = self.safety_functions_ok()
                log.exception("task %s crashed; restarting in %.0f s", name, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_BACKOFF_S[1])
            self.task_faults.pop(name, None)
            self.relays.healthy = self.safety_functions_ok()

    async def _tick(self) -> None:
        watchdog_every = self.notifier.watchdog_interval_s
        last_watchdog = self.clock.monotonic()
        while True:
            await asyncio.sleep(TICK_S)
            self._after_alarm_events(self.alarms.tick())
            now_mono, now_wall = self.clock.monotonic(), self.clock.wall()
            for reading in self.health.stale(now_mono, now_wall):
                self.on_reading(reading)
            self.relays.healthy = self.safety_functions_ok()
            if watchdog_every is not None and now_mono - last_watchdog >= watchdog_every:
                self._feed_watchdog()
                last_watchdog = now_mono

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set (or SIGTERM/SIGINT when ``stop`` is None), then leave outputs safe."""
        stop = stop or _signal_event()
        log.info(
            "gateway %s starting: %d buses, %d devices, %d instruments, %d rules, jurisdiction %s",
            self.spec.gateway_id,
            len(self.spec.buses),
            len(self.spec.devices),
            len(self.spec.instruments),
            self.rule_count,
            self.spec.jurisdiction,
        )
        try:
            async with asyncio.TaskGroup() as group:
                # Bus owners first: relay writes and the ack button are served by them.
                tasks = [
                    group.create_task(self._supervise(f"bus:{bus_id}", bus.run), name=f"bus:{bus_id}")
                    for bus_id, bus in self.buses.items()
                ]
                tasks += [
                    group.create_task(self.journal_writer.run(), name="alarm-journal"),
                    group.create_task(self.control.run(), name="control"),
                    group.create_task(self._supervise("tick", self._tick), name="tick"),
                    group.create_task(self._supervise("relays", self.relays.run), name="relays"),
                ]
                for ins in self.instruments:
                    name = f"instrument:{ins.spec.instrument_id}"
                    tasks.append(group.create_task(self._supervise(name, ins.run), name=name))
                if self.localization is not None:
                    tasks.append(
                        group.create_task(self._supervise("localization", self.localization.run), name="localization")
                    )
                for endpoint, feed in self.record_feeds.items():
                    name = "record-feed" if len(self.record_feeds) == 1 else f"record-feed:{endpoint}"
                    tasks.append(group.create_task(self._supervise(name, feed.run), name=name))
                if self.ack_button is not None:
                    tasks.append(
                        group.create_task(self._supervise("ack-button", self.ack_button.run), name="ack-button")
                    )
                dtn_spec = self.spec.dtn
                if dtn_spec is not None:
                    tasks.append(group.create_task(self._supervise("dtn", lambda: self._run_dtn(dtn_spec)), name="dtn"))
                if self.cameras is not None:
                    tasks.append(group.create_task(self._supervise("cameras", self.cameras.run), name="cameras"))
                if self._logbook is not None:
                    tasks.append(group.create_task(self._supervise("logbook", self._logbook.run), name="logbook"))
                if self.hazard is not None:
                    tasks.append(group.create_task(self._supervise("hazard", self.hazard.run), name="hazard"))
                if self.status_page is not None:
                    page = self.status_page
                    tasks.append(group.create_task(self._supervise("status-page", page.run), name="status-page"))
                self.notifier.ready(f"polling {len(self.spec.devices)} devices")
                await stop.wait()
                self.notifier.stopping()
                log.info("stopping: putting outputs in their safe state")
                try:
                    async with asyncio.timeout(5.0):
                        await self.relays.safe_state()
                except (TimeoutError, Exception) as exc:
                    log.error("could not confirm the safe state of every output: %s", exc)
                for task in tasks:
                    task.cancel()
        finally:
            with contextlib.suppress(Exception):
                await self.journal_writer.close()
            self.journal.close()
            if self._logbook is not None:
                self._logbook.close()
            if self.publisher is not None:
                self.publisher.close()
            if self._owns_zmq:
                self._zmq.term()
            self.notifier.close()
            log.info("gateway %s stopped", self.spec.gateway_id)


def _signal_event() -> asyncio.Event:
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, event.set)
    return event
