"""Gateway events become bundles, and movement bundles from peers feed the muster list.

Three producers, each a bundle class of its own:

- ALARM (kind ``alarm``): alarm journal events, in seq order, and only events the journal has made durable
  (``seq <= JournalWriter.durable_seq``, or already on disk when the gateway started), so a bundle never
  claims an alarm the gateway itself could lose. Exactly once across crashes: the next bundle is written to a
  small state database (fsynced) *before* it is offered to the store, and the cursor advances with the intent
  cleared in one transaction after the store's durable ``STORED``. A crash in between replays the very same
  bundle (same id) at the next start, which the store takes or answers ``DUPLICATE`` -- never a second copy
  under a new id.
- TELEMETRY (kind ``readings``): per point min/max/mean/last/quality over each period. A summary in progress
  lives in memory and dies with the process; it was never acknowledged to anyone.
- MOVEMENT (kind ``movement``): the miner movement and gateway-contact records of the local record feed
  (the ZeroMQ PUB the localization section subscribes to), batched per period.

Movement bundles that arrive from peers (``on_received``) go to the gateway's ``LocalizationTask``, so a
gateway near the surface knows where the miners inby were last seen even when the drift between is cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgpack

from edge.alarms.events import AlarmEvent
from edge.clock import Clock
from edge.dtn.bundle import MAX_PAYLOAD_BYTES, Bundle, BundleError, Priority, decode, encode
from edge.dtn.config import IngestSpec
from edge.dtn.store import Accept
from edge.localization.records import ContactRecord, MovementRecord, RecordError
from edge.readings import Quality, Reading

if TYPE_CHECKING:
    from edge.alarms.journal import AlarmJournal, JournalWriter
    from edge.localization.source import RecordFeed
    from edge.localization.task import LocalizationTask

log = logging.getLogger(__name__)

ALARM_KIND = "alarm"
READINGS_KIND = "readings"
MOVEMENT_KIND = "movement"
MAX_EVENTS_PER_BUNDLE = 200  # an alarm event is ~400 bytes of msgpack: far below the payload limit
MAX_RECORDS_PER_BUNDLE = 1000  # a movement record is ~150 bytes: ~150 kB, under the 256 kB payload limit
ALARM_POLL_S = 0.05  # how often durable_seq is looked at; an alarm bundle follows its fsync within this
_RETRY_S = 1.0

# What a producer needs from the node: create a bundle (id reserved) and offer it durably.
CreateBundle = Callable[..., Bundle]
PutBundle = Callable[[Bundle], Awaitable[Accept]]
_QUALITY_RANK = {Quality.GOOD: 0, Quality.UNCERTAIN: 1, Quality.BAD: 2}


class IngestStateError(Exception):
    """The ingest state database cannot be used; the message names the file and what to do."""


class IngestState:
    """The alarm cursor and the one alarm bundle in flight, in ``ingest_state.sqlite`` (WAL, synchronous=FULL)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS intent (name TEXT PRIMARY KEY, upto INTEGER NOT NULL, frame BLOB NOT NULL)"
            )
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise IngestStateError(
                f"ingest state {path} cannot be opened ({exc}); move it aside to start over (alarm events already "
                "sent may then be sent again)"
            ) from None

    def cursor(self, name: str) -> int | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM cursor WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    def intent(self, name: str) -> tuple[int, Bundle] | None:
        """The bundle written before its put, with the cursor it advances to; None when nothing is in flight."""
        with self._lock:
            row = self._conn.execute("SELECT upto, frame FROM intent WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        try:
            return int(row[0]), decode(bytes(row[1]))
        except BundleError as exc:
            log.error(
                "ingest state %s: the %s bundle in flight is unreadable (%s); it is dropped", self.path, name, exc
            )
            return None

    def write_intent(self, name: str, upto: int, bundle: Bundle) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO intent (name, upto, frame) VALUES (?, ?, ?)", (name, upto, encode(bundle))
            )

    def advance(self, name: str, value: int) -> None:
        """Cursor to ``value`` and the intent cleared, in one transaction."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute("INSERT OR REPLACE INTO cursor (name, value) VALUES (?, ?)", (name, value))
                self._conn.execute("DELETE FROM intent WHERE name = ?", (name,))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()


# ---- alarms ---------------------------------------------------------------------------------------------


class AlarmForwarder:
    """Durable alarm journal events -> ALARM bundles, in seq order, exactly once (see the module docstring)."""

    CURSOR = "alarm_seq"

    def __init__(
        self,
        *,
        gateway_id: str,
        journal: AlarmJournal,
        writer: JournalWriter,
        state: IngestState,
        create: CreateBundle,
        put: PutBundle,
        clock: Clock,
        destination: str,
        lifetime_s: float,
        poll_s: float = ALARM_POLL_S,
    ) -> None:
        self._gateway_id = gateway_id
        self._journal = journal
        self._writer = writer
        self._state = state
        self._create = create
        self._put = put
        self._clock = clock
        self._destination = destination
        self._lifetime_s = lifetime_s
        self._poll_s = poll_s
        # Events on disk when the gateway started are durable although this run's writer has not written them.
        self._durable_at_start = journal.last_seq()
        self.events_sent = 0
        self.bundles_sent = 0
        self.refused = 0
        self.sent_seq = 0

    @property
    def durable_seq(self) -> int:
        return max(self._durable_at_start, self._writer.durable_seq)

    async def run(self) -> None:
        cursor = await asyncio.to_thread(self._state.cursor, self.CURSOR)
        pending = await asyncio.to_thread(self._state.intent, self.CURSOR)
        if pending is not None:  # the previous run crashed between writing the intent and advancing the cursor
            upto, bundle = pending
            await self._deliver(upto, bundle, replay=True)
            cursor = upto
        self.sent_seq = cursor or 0
        first_start = cursor is None
        while True:
            durable = self.durable_seq
            if durable <= self.sent_seq:
                await asyncio.sleep(self._poll_s)
                continue
            events = await asyncio.to_thread(self._journal.events, since_seq=self.sent_seq, limit=MAX_EVENTS_PER_BUNDLE)
            events = [e for e in events if e.seq <= durable]
            if not events:
                await asyncio.sleep(self._poll_s)
                continue
            upto = events[-1].seq
            if first_start:
                # A gateway that joins the DTN sends its recent history, not events already past any lifetime.
                oldest = self._clock.wall() - self._lifetime_s
                events = [e for e in events if e.t_wall >= oldest]
            if events:
                bundle = self._create(
                    destination=self._destination,
                    priority=Priority.ALARM,
                    kind=ALARM_KIND,
                    body=alarm_body(self._gateway_id, events),
                    lifetime_s=self._lifetime_s,
                )
                await asyncio.to_thread(self._state.write_intent, self.CURSOR, upto, bundle)
                await self._deliver(upto, bundle, replay=False)
                self.events_sent += len(events)
            else:
                await asyncio.to_thread(self._state.advance, self.CURSOR, upto)
            self.sent_seq = upto

    async def _deliver(self, upto: int, bundle: Bundle, *, replay: bool) -> None:
        while True:
            result = await self._put(bundle)
            if result in (Accept.STORED, Accept.DUPLICATE, Accept.EXPIRED):
                break
            # REFUSED_FULL: the store is full of alarms. Nothing is skipped: wait for room, keep the order.
            self.refused += 1
            log.error(
                "DTN store is full of alarms; alarm bundle %s waits for room (retry in %.0f s)", bundle.id, _RETRY_S
            )
            await asyncio.sleep(_RETRY_S)
        await asyncio.to_thread(self._state.advance, self.CURSOR, upto)
        if result is Accept.STORED:
            self.bundles_sent += 1
        if replay:
            log.info("alarm bundle %s of the previous run (events up to seq %d): %s", bundle.id, upto, result.value)


def alarm_body(gateway_id: str, events: list[AlarmEvent]) -> dict[str, Any]:
    return {"gateway": gateway_id, "events": [e.to_dict() for e in events]}


# ---- telemetry ------------------------------------------------------------------------------------------


@dataclass
class _PointSummary:
    unit: str
    n: int = 0
    usable: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    last: float | None = None
    last_quality: Quality = Quality.GOOD
    last_reason: str = ""
    worst: Quality = Quality.GOOD
    bad: int = 0

    def add(self, reading: Reading) -> None:
        self.n += 1
        self.unit = reading.unit
        if reading.value is not None and reading.quality is not Quality.BAD and math.isfinite(reading.value):
            self.usable += 1
            self.total += reading.value
            self.low = min(self.low, reading.value)
            self.high = max(self.high, reading.value)
        self.last = reading.value if reading.value is None or math.isfinite(reading.value) else None
        self.last_quality = reading.quality
        self.last_reason = reading.reason.value
        if _QUALITY_RANK[reading.quality] > _QUALITY_RANK[self.worst]:
            self.worst = reading.quality
        if reading.quality is Quality.BAD:
            self.bad += 1

    def to_dict(self) -> dict[str, Any]:
        usable = self.usable > 0
        return {
            "unit": self.unit,
            "n": self.n,
            "min": self.low if usable else None,
            "max": self.high if usable else None,
            "mean": self.total / self.usable if usable else None,
            "last": self.last,
            "quality": self.last_quality.value,
            "reason": self.last_reason,
            "worst": self.worst.value,
            "bad": self.bad,
        }


class TelemetrySummarizer:
    """Per point min/max/mean/last/quality of every reading since the last ``take``. O(1) per reading."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._points: dict[str, _PointSummary] = {}
        self._since = clock.wall()

    def observe(self, reading: Reading) -> None:
        summary = self._points.get(reading.point_id)
        if summary is None:
            summary = self._points[reading.point_id] = _PointSummary(reading.unit)
        summary.add(reading)

    def take(self, gateway_id: str) -> dict[str, Any] | None:
        """The summary body of the period now ending (None when nothing was read), and a new period."""
        now = self._clock.wall()
        points, since = self._points, self._since
        self._points, self._since = {}, now
        if not points:
            return None
        return {
            "gateway": gateway_id,
            "from": since,
            "to": now,
            "points": {pid: s.to_dict() for pid, s in sorted(points.items())},
        }


# ---- movement -------------------------------------------------------------------------------------------


@dataclass
class MovementBatch:
    records: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records) + len(self.contacts)


class MovementCollector:
    """Batches the local record feed's movement and contact records (already checked by the feed) into
    movement bundles; attached to the gateway's ``RecordFeed`` for as long as the ingest runs."""

    def __init__(self) -> None:
        self.batch = MovementBatch()
        self.full = asyncio.Event()

    def add_record(self, record: MovementRecord) -> None:
        self.batch.records.append(record.to_dict())
        self._check_full()

    def add_contact(self, contact: ContactRecord) -> None:
        self.batch.contacts.append(contact.to_dict())
        self._check_full()

    def _check_full(self) -> None:
        if len(self.batch) >= MAX_RECORDS_PER_BUNDLE:
            self.full.set()

    def take(self) -> MovementBatch:
        batch, self.batch = self.batch, MovementBatch()
        self.full.clear()
        return batch


def movement_body(gateway_id: str, batch: MovementBatch) -> dict[str, Any]:
    return {"gateway": gateway_id, "records": batch.records, "contacts": batch.contacts}


def feed_localization(bundle: Bundle, task: LocalizationTask) -> tuple[int, int]:
    """Records and contacts of a received movement bundle into the task; returns (taken, rejected)."""
    try:
        body = bundle.payload_object()
    except BundleError:
        return 0, 1
    if not isinstance(body, Mapping):
        return 0, 1
    taken = rejected = 0
    for key in ("records", "contacts"):
        items = body.get(key)
        if not isinstance(items, list):
            continue
        for item in items:
            try:
                if not isinstance(item, Mapping):
                    raise RecordError("not a mapping")
                if key == "records":
                    task.add_record(MovementRecord.from_dict(item))
                else:
                    task.add_contact(ContactRecord.from_dict(item))
                taken += 1
            except (RecordError, ValueError):
                rejected += 1
    return taken, rejected


# ---- the gateway's producers together ----------------------------------------------------------------


@dataclass(frozen=True)
class IngestStatus:
    alarm_events_sent: int
    alarm_bundles_sent: int
    alarm_sent_seq: int
    alarm_durable_seq: int
    telemetry_bundles: int
    movement_bundles: int
    movement_records: int
    movement_rejected: int
    received_movement_bundles: int
    received_movement_records: int
    refused: int

    def to_dict(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.__dict__.items()}


class GatewayIngest:
    """Runs the gateway's bundle producers against a node's ``create`` and durable ``put``."""

    def __init__(
        self,
        spec: IngestSpec,
        *,
        gateway_id: str,
        state_path: Path,
        create: CreateBundle,
        put: PutBundle,
        clock: Clock,
        journal: AlarmJournal | None = None,
        writer: JournalWriter | None = None,
        record_feed: RecordFeed | None = None,
        localization: LocalizationTask | None = None,
    ) -> None:
        self.spec = spec
        self.gateway_id = gateway_id
        self._create = create
        self._put = put
        self._clock = clock
        self.localization = localization
        self.state = IngestState(state_path)
        self.alarms: AlarmForwarder | None = None
        if spec.alarms and journal is not None and writer is not None:
            self.alarms = AlarmForwarder(
                gateway_id=gateway_id,
                journal=journal,
                writer=writer,
                state=self.state,
                create=create,
                put=put,
                clock=clock,
                destination=spec.destination,
                lifetime_s=spec.alarm_lifetime_s,
            )
        self.telemetry = TelemetrySummarizer(clock) if spec.telemetry_period_s is not None else None
        self._record_feed = record_feed if spec.movement else None
        self.movement: MovementCollector | None = MovementCollector() if self._record_feed is not None else None
        self.telemetry_bundles = 0
        self.movement_bundles = 0
        self.movement_records = 0
        self.received_movement_bundles = 0
        self.received_movement_records = 0
        self.refused = 0

    def observe(self, reading: Reading) -> None:
        """On the reading path, after the statutory work: one dict update."""
        if self.telemetry is not None:
            self.telemetry.observe(reading)

    def on_received(self, bundle: Bundle) -> None:
        """A bundle a peer handed to this node was stored: movement records go to the muster list."""
        if bundle.kind != MOVEMENT_KIND or self.localization is None:
            return
        taken, _ = feed_localization(bundle, self.localization)
        self.received_movement_bundles += 1
        self.received_movement_records += taken

    def status(self) -> IngestStatus:
        return IngestStatus(
            alarm_events_sent=self.alarms.events_sent if self.alarms else 0,
            alarm_bundles_sent=self.alarms.bundles_sent if self.alarms else 0,
            alarm_sent_seq=self.alarms.sent_seq if self.alarms else 0,
            alarm_durable_seq=self.alarms.durable_seq if self.alarms else 0,
            telemetry_bundles=self.telemetry_bundles,
            movement_bundles=self.movement_bundles,
            movement_records=self.movement_records,
            movement_rejected=self._record_feed.rejected if self._record_feed is not None else 0,
            received_movement_bundles=self.received_movement_bundles,
            received_movement_records=self.received_movement_records,
            refused=self.refused + (self.alarms.refused if self.alarms else 0),
        )

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                if self.alarms is not None:
                    group.create_task(self.alarms.run(), name="dtn-ingest-alarms")
                if self.telemetry is not None:
                    group.create_task(self._telemetry_loop(), name="dtn-ingest-telemetry")
                if self.movement is not None and self._record_feed is not None:
                    self._record_feed.attach(self.movement)
                    group.create_task(self._movement_loop(), name="dtn-ingest-movement")
        finally:
            if self.movement is not None and self._record_feed is not None:
                self._record_feed.detach(self.movement)
            self.state.close()

    async def _offer(self, priority: Priority, kind: str, body: dict[str, Any], lifetime_s: float) -> bool:
        try:
            bundle = self._create(
                destination=self.spec.destination, priority=priority, kind=kind, body=body, lifetime_s=lifetime_s
            )
        except BundleError as exc:
            log.error("DTN ingest: a %s bundle could not be built: %s", kind, exc)
            return False
        result = await self._put(bundle)
        if result is not Accept.STORED:
            self.refused += 1
            log.warning("DTN store did not take %s bundle %s: %s", kind, bundle.id, result.value)
            return False
        return True

    async def _telemetry_loop(self) -> None:
        assert self.telemetry is not None  # noqa: S101
        assert self.spec.telemetry_period_s is not None  # noqa: S101
        while True:
            await asyncio.sleep(self.spec.telemetry_period_s)
            body = self.telemetry.take(self.gateway_id)
            if body is None:
                continue
            for part in _split_points(body):
                if await self._offer(Priority.TELEMETRY, READINGS_KIND, part, self.spec.telemetry_lifetime_s):
                    self.telemetry_bundles += 1

    async def _movement_loop(self) -> None:
        assert self.movement is not None  # noqa: S101
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.spec.movement_period_s):
                    await self.movement.full.wait()
            batch = self.movement.take()
            if not len(batch):
                continue
            if await self._offer(
                Priority.MOVEMENT, MOVEMENT_KIND, movement_body(self.gateway_id, batch), self.spec.movement_lifetime_s
            ):
                self.movement_bundles += 1
                self.movement_records += len(batch)


def _split_points(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A summary too large for one bundle is split by point (a gateway with thousands of points)."""
    points: dict[str, Any] = body["points"]
    if len(msgpack.packb(body, use_bin_type=True)) <= MAX_PAYLOAD_BYTES // 2:
        return [body]
    names = list(points)
    half = len(names) // 2
    if half == 0:
        return [body]
    first = {**body, "points": {n: points[n] for n in names[:half]}}
    second = {**body, "points": {n: points[n] for n in names[half:]}}
    return _split_points(first) + _split_points(second)
