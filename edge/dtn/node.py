"""A DTN node: the durable store, its group committer, a router and the ZeroMQ link, composed and run.

The same class runs inside the gateway (``minegate run`` with a ``dtn:`` section: the gateway's events become
bundles through ``edge.dtn.ingest``) and standalone (``minegate dtn node --config F``: a relay gateway, a
mobile carrier, or the surface sink). A standalone node answers on its own control socket:

- ``{"cmd": "dtn_status"}`` -> the status snapshot (``edge.dtn.status``)
- ``{"cmd": "dtn_inject", "bundles": [{"priority", "kind", "body", "lifetime_s", "destination"?}, ...]}`` ->
  ``{"results": [[bundle id, accept], ...]}``, sent only after every bundle's put returned, i.e. after its
  fsync: a bundle reported ``stored`` is acknowledged and must reach the surface. (This is how tests and
  ``minegate dtn`` tooling put bundles into a node; the gateway produces its own.)

The surface sink role takes every bundle for ``surface`` (or its own id) exactly once into its store: with an
MQTT broker configured, ``edge.dtn.sink.SurfaceSink`` publishes and then tombstones it; without one the node
"publishes" into its delivery log only. With ``delivery_log: true`` every first delivery (``STORED``) is a row of
``deliveries.sqlite`` (``edge.dtn.deliveries``), which is what the crash tests count.

Fault injection for the crash tests (``kill_points``): the node SIGKILLs itself, with a given probability, at
the points where a crash is most dangerous -- ``stored`` (a received bundle is durable, its ACK not yet sent),
``custody`` (the peer acknowledged, the local copy is not yet removed), ``removed`` (removed, the next one not).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import math
import os
import random
import signal
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, cast

import zmq
import zmq.asyncio

from edge.clock import Clock
from edge.control import ControlError, ControlServer
from edge.dtn.bundle import SURFACE, Bundle, BundleError, BundleId, Priority
from edge.dtn.committer import GroupCommitter
from edge.dtn.config import NodeSpec
from edge.dtn.deliveries import DeliveryLog
from edge.dtn.keys import load_keyring
from edge.dtn.link import ContactEvent, DialPeer, Link, LinkSettings
from edge.dtn.routing import PeerInfo, PeerKind, Router, make_router
from edge.dtn.status import snapshot
from edge.dtn.store import Accept, BundleStore

log = logging.getLogger(__name__)

KILL_POINTS = ("stored", "custody", "removed")
LOCK_FILE = "node.lock"
EXPIRE_EVERY_S = 60.0
MAX_INJECT = 10_000
_MARK_RETRY_S = 1.0

OnReceived = Callable[[Bundle], None]


class NodeLocked(RuntimeError):
    """Another process runs a node on this data directory (two writers would reuse sequence numbers)."""


def lock_data_dir(data_dir: Path) -> int:
    """Hold an exclusive lock on ``data_dir`` for this process; returns the lock file's descriptor.

    ``flock`` dies with the process (kill -9 included), so a crashed node never leaves a stale lock. Without it a
    second node started on the same directory would open the same store and, on ipc://, even take over the
    first one's listen socket.
    """
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise NodeLocked(
            f"data directory {data_dir} is in use by another DTN node (pid {holder}); one store belongs to one process"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


class KillSwitch:
    """SIGKILL this process with probability ``p`` at a named point (crash tests only)."""

    def __init__(self, points: Mapping[str, float], rng: random.Random) -> None:
        unknown = sorted(set(points) - set(KILL_POINTS))
        if unknown:
            raise ValueError(f"unknown kill point(s) {unknown}; allowed: {', '.join(KILL_POINTS)}")
        for name, p in points.items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"kill probability for {name!r} must be within [0, 1], got {p!r}")
        self._points = dict(points)
        self._rng = rng

    @property
    def armed(self) -> bool:
        return any(p > 0.0 for p in self._points.values())

    def __call__(self, point: str) -> None:
        p = self._points.get(point, 0.0)
        if p > 0.0 and self._rng.random() < p:
            log.warning("fault injection: SIGKILL at %s", point)
            os.kill(os.getpid(), signal.SIGKILL)


class _KillingRouter:
    """A router whose custody step can crash the node before or after the store changes (crash tests).

    Everything but ``on_delivered`` is the wrapped router's own (delegated), so the wrapper follows the
    ``Router`` protocol as it evolves.
    """

    def __init__(self, inner: Router, kill: KillSwitch) -> None:
        self._inner = inner
        self._kill = kill

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def on_delivered(self, store: BundleStore, peer: PeerInfo, bid: BundleId, copies_given: int) -> None:
        self._kill("custody")
        self._inner.on_delivered(store, peer, bid, copies_given)
        self._kill("removed")


def link_settings(spec: NodeSpec) -> LinkSettings:
    return LinkSettings(
        heartbeat_s=spec.heartbeat_s,
        missed_heartbeats=max(1, math.ceil(spec.dead_after_s / spec.heartbeat_s)),
        credit=spec.credit,
        urgent_credit=spec.urgent_credit,
    )


class DtnNode:
    """Store + group committer + router + link of one node (see the module docstring)."""

    def __init__(
        self,
        spec: NodeSpec,
        *,
        clock: Clock,
        rng: random.Random | None = None,
        on_received: OnReceived | None = None,
        settings: LinkSettings | None = None,
        kill_points: Mapping[str, float] | None = None,
    ) -> None:
        self.spec = spec
        self.clock = clock
        self._rng = rng or random.Random()  # noqa: S311 -- session ids and back-off jitter, not secrets
        self._on_received = on_received
        self._settings = settings or link_settings(spec)
        self._kill = KillSwitch(kill_points or {}, random.Random(self._rng.getrandbits(64)))  # noqa: S311
        # What this node advertises in HELLO: a fixed gateway on static routing says its configured distance only
        # while an uplink contact is up (see _uplink_changed); the sink is 0 hops from itself.
        self._tracks_uplink = spec.role is PeerKind.FIXED and spec.hops_to_surface is not None
        self.hops_to_surface: int | None = (
            0 if spec.role is PeerKind.SURFACE else None if self._tracks_uplink else spec.hops_to_surface
        )
        self.store: BundleStore | None = None
        self.committer: GroupCommitter | None = None
        self.router: Router | None = None
        self.link: Link | None = None
        self.deliveries: DeliveryLog | None = None
        self._sink: Any = None  # edge.dtn.sink.SurfaceSink when publishing to MQTT
        self._publisher: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._to_mark: list[BundleId] = []
        self._mark_wake = asyncio.Event()
        self._started_mono = clock.monotonic()
        self.sink_received = 0
        self.sink_duplicates = 0
        self.sink_refused = 0
        self.recovered_deliveries = 0
        self._lock_fd: int | None = None
        self._started = False
        self._stopped = False

    # ---- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            raise RuntimeError("DtnNode.start() was already called")
        self._started = True
        spec = self.spec
        await asyncio.to_thread(Path(spec.data_dir).mkdir, parents=True, exist_ok=True)
        self._lock_fd = lock_data_dir(Path(spec.data_dir))
        keyring = load_keyring(spec.keys_dir, spec.node_id)
        # Opening runs the store's recovery (bounded by its size): off the loop, the gateway keeps polling.
        self.store = store = await asyncio.to_thread(
            BundleStore,
            spec.store_path,
            node_id=spec.node_id,
            capacity_bytes=spec.capacity_bytes,
            clock=self.clock,
            durable=spec.durable,
        )
        log.info(
            "DTN node %s (%s): store %s opened in %.0f ms, %d bundles",
            spec.node_id,
            spec.role.value,
            spec.store_path,
            store.recovery_seconds * 1000,
            sum(store.stats().count_by_priority.values()),
        )
        self.committer = committer = GroupCommitter(store)
        await committer.start()
        deliver: Callable[[Bundle, int], Awaitable[Accept]] | None = None
        if spec.role is PeerKind.SURFACE:
            deliver = await self._start_sink()
        else:
            router = make_router(
                spec.policy,
                node_id=spec.node_id,
                node_kind=spec.role,
                hops_to_surface=spec.hops_to_surface,
                spray_copies=spec.spray_copies,
                clock=self.clock,
                carrier_handoff_after_s=spec.carrier_handoff_after_s,
                carrier_copies=spec.carrier_copies,
            )
            self.router = cast("Router", _KillingRouter(router, self._kill)) if self._kill.armed else router
            deliver = self._deliver_relay
        self.link = Link(
            spec.node_id,
            kind=spec.role,
            hops_to_surface=self.hops_to_surface,
            keyring=keyring,
            store=store,
            committer=committer,
            router=self.router,
            clock=self.clock,
            listen=[spec.listen] if spec.listen else [],
            dial=[DialPeer(p.node_id, p.endpoint) for p in spec.peers if p.endpoint],
            settings=self._settings,
            deliver=deliver,
            on_received=self._received,
            on_contact=self._contact_changed,
            rng=random.Random(self._rng.getrandbits(64)),  # noqa: S311
        )
        await self.link.start()
        self._tasks.append(asyncio.create_task(self._expire_loop(), name=f"dtn-expire-{spec.node_id}"))

    async def _start_sink(self) -> Callable[[Bundle, int], Awaitable[Accept]]:
        spec, store, committer = self.spec, self.store, self.committer
        assert spec.sink is not None  # noqa: S101
        assert store is not None  # noqa: S101
        assert committer is not None  # noqa: S101
        if spec.sink.delivery_log:
            self.deliveries = DeliveryLog(spec.delivery_log_path)
            delivered = await asyncio.to_thread(self._delivered_ids)
            self.recovered_deliveries = self.deliveries.reconcile(delivered, self.clock.wall())
            if self.recovered_deliveries:
                log.warning(
                    "sink %s: %d delivered bundle(s) had no delivery-log row (a crash between the store's commit "
                    "and the log's); added as recovered",
                    spec.node_id,
                    self.recovered_deliveries,
                )
        if spec.sink.mqtt_host is not None:
            import ssl  # noqa: PLC0415

            from edge.dtn.mqtt import MqttPublisher  # noqa: PLC0415
            from edge.dtn.sink import SurfaceSink  # noqa: PLC0415

            self._publisher = MqttPublisher(
                spec.sink.mqtt_host,
                spec.sink.mqtt_port,
                client_id=f"minegate-sink-{spec.node_id}",
                rng=random.Random(self._rng.getrandbits(64)),  # noqa: S311
                username=spec.sink.username,
                password=spec.sink.password,
                tls_context=ssl.create_default_context() if spec.sink.mqtt_tls else None,
            )
            self._sink = SurfaceSink(
                committer, self._publisher, node_id=spec.node_id, topic_prefix=spec.sink.topic_prefix, clock=self.clock
            )
            await self._publisher.start()
            await self._sink.start()
        else:
            # No broker: the delivery log is where bundles leave the DTN; tombstone them once logged.
            self._tasks.append(asyncio.create_task(self._mark_loop(), name=f"dtn-sink-mark-{spec.node_id}"))
        return self._deliver_sink

    def _delivered_ids(self) -> list[tuple[BundleId, int, str]]:
        """Every bundle this sink's store says it took: held (not yet published/logged) or tombstoned."""
        store = self.store
        assert store is not None  # noqa: S101
        held = {s.bundle.id: s.bundle for s in store.pending(limit=1 << 40)}
        rows: list[tuple[BundleId, int, str]] = [(bid, int(b.priority), b.kind) for bid, b in held.items()]
        rows += [(bid, -1, "") for bid in store.seen_ids() - set(held)]
        return rows

    async def stop(self) -> None:
        """Close contacts, finish acknowledged custody changes, commit what is queued, close the store."""
        if self._stopped:
            return
        self._stopped = True
        if self.link is not None:
            await self.link.stop()
        if self._sink is not None:
            await self._sink.close()
        if self._publisher is not None:
            await self._publisher.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.committer is not None:
            if self._to_mark:
                with contextlib.suppress(Exception):
                    await self._commit_marks()
            await self.committer.close()
        if self.deliveries is not None:
            self.deliveries.close()
        if self.store is not None:
            self.store.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None
        log.info("DTN node %s stopped", self.spec.node_id)

    async def run(self, stop: asyncio.Event) -> None:
        """Start, serve until ``stop`` is set (or the task is cancelled), then stop cleanly."""
        try:
            await self.start()
            await stop.wait()
        finally:
            await self.stop()

    async def run_standalone(self, stop: asyncio.Event | None = None) -> None:
        """``minegate dtn node``: the node plus its control socket; SIGTERM/SIGINT stop it cleanly."""
        stop = stop or _signal_event()
        context = zmq.asyncio.Context()
        control: asyncio.Task[None] | None = None
        try:
            await self.start()
            if self.spec.control_endpoint:
                server = ControlServer(context, self.spec.control_endpoint, self)
                control = asyncio.create_task(server.run(), name="dtn-control")
            log.info("DTN node %s ready (listen %s)", self.spec.node_id, self.link.endpoints if self.link else [])
            await stop.wait()
        finally:
            if control is not None:
                control.cancel()
                await asyncio.gather(control, return_exceptions=True)
            await self.stop()
            context.destroy(linger=0)

    # ---- receiving -------------------------------------------------------------------------------------

    async def _deliver_relay(self, bundle: Bundle, copies: int) -> Accept:
        assert self.committer is not None  # noqa: S101
        accept = await self.committer.put(bundle, copies=copies)
        if accept is Accept.STORED:
            self._kill("stored")
        return accept

    async def _deliver_sink(self, bundle: Bundle, copies: int) -> Accept:
        del copies  # the surface is the destination: tokens end here
        if bundle.destination not in (SURFACE, self.spec.node_id):
            raise ValueError(f"sink {self.spec.node_id} serves 'surface' and itself, not {bundle.destination!r}")
        if self._sink is not None:
            accept: Accept = await self._sink.deliver(bundle)
        else:
            assert self.committer is not None  # noqa: S101
            accept = await self.committer.put(bundle)
        if accept is Accept.STORED:
            self.sink_received += 1
            if self.deliveries is not None:
                self.deliveries.record(bundle, self.clock.wall())
            if self._sink is None:
                self._to_mark.append(bundle.id)
                self._mark_wake.set()
            self._kill("stored")
        elif accept is Accept.DUPLICATE:
            self.sink_duplicates += 1
        else:
            self.sink_refused += 1
        return accept

    def _contact_changed(self, event: ContactEvent) -> None:
        if not self._tracks_uplink or self.link is None:
            return
        # A gateway knows its way to the surface while it is in contact with the sink or with a gateway closer to
        # the surface that knows its own way. Advertising None while cut off tells the gateways inby to keep
        # their bundles (and hand carriers copies) instead of piling them up here, and tells carriers not to
        # hand custody to a gateway that cannot pass it on. The configured distance is what is advertised when
        # a way exists: a gateway does not route around (static routing follows the one chain).
        mine = self.spec.hops_to_surface
        assert mine is not None  # noqa: S101 -- _tracks_uplink
        up = self.link.contacts().values()
        reachable = any(
            p.kind is PeerKind.SURFACE
            or (p.kind is PeerKind.FIXED and p.hops_to_surface is not None and p.hops_to_surface < mine)
            for p in up
        )
        hops = mine if reachable else None
        if hops != self.hops_to_surface:
            log.info(
                "DTN node %s: %s",
                self.spec.node_id,
                f"way to the surface ({hops} hops)" if hops is not None else "no way to the surface",
            )
            self.hops_to_surface = hops
            self.link.set_hops_to_surface(hops)

    def _received(self, peer: PeerInfo, bundle: Bundle, accept: Accept) -> None:
        if accept is Accept.STORED and self._on_received is not None:
            self._on_received(bundle)

    async def _mark_loop(self) -> None:
        while True:
            await self._mark_wake.wait()
            self._mark_wake.clear()
            try:
                await self._commit_marks()
            except Exception:
                log.exception("sink %s: could not tombstone %d logged bundle(s)", self.spec.node_id, len(self._to_mark))
                await asyncio.sleep(_MARK_RETRY_S)
                self._mark_wake.set()

    async def _commit_marks(self) -> None:
        store, committer = self.store, self.committer
        assert store is not None  # noqa: S101
        assert committer is not None  # noqa: S101
        ids = list(self._to_mark)
        if ids:
            await committer.call(lambda: store.remove(ids, reason="delivered to the surface log"))
            del self._to_mark[: len(ids)]

    async def _expire_loop(self) -> None:
        store, committer = self.store, self.committer
        assert store is not None  # noqa: S101
        assert committer is not None  # noqa: S101
        while True:
            await asyncio.sleep(EXPIRE_EVERY_S)
            try:
                dropped = await committer.call(store.expire)
            except Exception:
                log.exception("DTN store expiry failed; retrying in %.0f s", EXPIRE_EVERY_S)
                continue
            if dropped:
                log.warning(
                    "DTN node %s: %d bundle(s) expired before reaching their destination", self.spec.node_id, dropped
                )

    # ---- producing -------------------------------------------------------------------------------------

    def create(self, *, destination: str, priority: Priority, kind: str, body: Any, lifetime_s: float) -> Bundle:
        """A new bundle from this node (its id reserved, not stored yet: ``submit`` it)."""
        if self.store is None:
            raise RuntimeError("the DTN node is not started")
        return self.store.create(
            destination=destination, priority=priority, kind=kind, body=body, lifetime_s=lifetime_s
        )

    async def submit(self, bundle: Bundle) -> Accept:
        """Store a bundle created here durably and let every contact reconsider; ``STORED`` = acknowledged."""
        if self.link is None:
            raise RuntimeError("the DTN node is not started")
        return await self.link.submit(bundle)

    async def inject(self, items: list[Any]) -> list[tuple[str, str]]:
        """Create and submit bundles described as dicts; returns (id, accept) once every put returned."""
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_INJECT:
            raise ControlError(f"'bundles' must be a list of 1..{MAX_INJECT} bundle descriptions")
        bundles: list[Bundle] = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise ControlError(f"bundles[{index}] must be a mapping")
            try:
                bundles.append(
                    self.create(
                        destination=str(item.get("destination", SURFACE)),
                        priority=Priority.parse(item.get("priority", "bulk")),
                        kind=str(item.get("kind", "test")),
                        body=item.get("body"),
                        lifetime_s=float(item.get("lifetime_s", 86400.0)),
                    )
                )
            except (BundleError, TypeError, ValueError) as exc:
                raise ControlError(f"bundles[{index}]: {exc}") from None
        results = await asyncio.gather(*(self.submit(b) for b in bundles), return_exceptions=True)
        out: list[tuple[str, str]] = []
        for bundle, result in zip(bundles, results, strict=True):
            out.append((str(bundle.id), result.value if isinstance(result, Accept) else f"error: {result}"))
        return out

    # ---- status and control ----------------------------------------------------------------------------

    def status(self, *, ingest: Mapping[str, int] | None = None) -> dict[str, Any]:
        store, link, committer = self.store, self.link, self.committer
        if store is None or link is None or committer is None:
            raise ControlError(f"DTN node {self.spec.node_id} is not running (starting, or failed to start)")
        sink: dict[str, Any] | None = None
        if self.spec.role is PeerKind.SURFACE:
            sink = {
                "received": self.sink_received,
                "duplicates": self.sink_duplicates,
                "refused": self.sink_refused,
                "delivery_log_rows": self.deliveries.count() if self.deliveries is not None else None,
                "recovered_log_rows": self.recovered_deliveries,
            }
            if self._sink is not None:
                s = self._sink.status()
                sink.update(
                    published=s.published,
                    pending=s.pending,
                    inflight=s.inflight,
                    publish_retries=s.publish_retries,
                    mqtt_connected=s.mqtt_connected,
                )
        return snapshot(
            spec=self.spec,
            hops_to_surface=self.hops_to_surface,
            stats=store.stats(),
            recovery_s=store.recovery_seconds,
            committer_queued=committer.queued,
            peers=link.peer_stats(),
            in_flight={p: link.in_flight(p) for p in link.peer_stats()},
            counters=link.counters,
            uptime_s=self.clock.monotonic() - self._started_mono,
            now_wall=self.clock.wall(),
            ingest=ingest,
            sink=sink,
        )

    def handle_control(self, request: dict[str, Any]) -> dict[str, Any] | Awaitable[dict[str, Any]]:
        cmd = request["cmd"]
        if cmd in ("dtn_status", "status"):
            return self.status()
        if cmd == "dtn_inject":
            return self._inject_reply(request.get("bundles"))
        raise ControlError(f"unknown command {cmd!r}; a DTN node answers dtn_status, dtn_inject")

    async def _inject_reply(self, items: Any) -> dict[str, Any]:
        return {"results": [list(r) for r in await self.inject(items)]}


def _signal_event() -> asyncio.Event:
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, event.set)
    return event
