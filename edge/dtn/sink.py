"""The surface sink: where bundles leave the DTN. It takes each bundle exactly once into its own durable store and
publishes it to the mine's MQTT broker, alarms first.

Exactly once into the store. Links transfer at least once (a lost acknowledgement means the bundle comes again),
so ``deliver`` dedups by bundle id: the store answers ``DUPLICATE`` for a bundle it holds or has tombstoned.
``deliver`` returns only after the group commit's fsync, so a link may acknowledge ``STORED`` and ``DUPLICATE``
to its peer (custody passes); ``REFUSED_FULL`` must not be acknowledged (the peer keeps it and retries);
``EXPIRED`` bundles are not worth keeping anywhere.

The store holds exactly the unpublished bundles. A bundle is published with QoS 1; once the broker's PUBACK
arrives it is removed from the store with a tombstone (``remove``: one transaction for every PUBACK gathered
meanwhile) -- that tombstone is the durable "published" mark, and it keeps a late duplicate from being
published twice until the bundle's lifetime is over (after which the store refuses the bundle as ``EXPIRED``).
Anything not yet confirmed stays in the store: after a lost connection, a broker restart or a sink restart it is
published again. MQTT consumers therefore see each bundle at least once (more than once when a PUBACK or the
"published" commit was lost to a crash, or after a reconnection, below) and deduplicate on the bundle id.

A broker crash. A broker that acknowledged a message but died before passing it on (Mosquitto without
persistence, killed; seen in the tests) loses it, although the sink has its PUBACK. So after a reconnection the
sink publishes again the last bundles the previous connection confirmed -- at most ``replay_after_loss`` of them,
confirmed within ``replay_window_s`` of that connection's last confirmation -- from memory (they are no longer in
the store). Consumers deduplicate on the id anyway. A broker that loses what it queued for a slow consumer
beyond that window needs persistence; that is the broker's guarantee, not the sink's.

Order. Bundles are published in the store's order -- priority class, then creation time -- with up to
``max_inflight`` awaiting PUBACK, so an alarm waits behind at most that many messages already handed to the
broker, never behind a backlog (measured: behind 10,000 pending bulk bundles, 0 to 43 bulk publishes started
after the alarm was durable -- the store read already in progress -- and none after that one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from edge.clock import Clock, SystemClock
from edge.dtn.bundle import SURFACE, Bundle, BundleId, Priority
from edge.dtn.committer import GroupCommitter
from edge.dtn.mqtt import DEFAULT_TOPIC_PREFIX, MqttPublisher, MqttUnavailable, bundle_message, bundle_topic
from edge.dtn.mqtt import check_topic_prefix as _check_topic_prefix
from edge.dtn.store import Accept

log = logging.getLogger(__name__)

_FAILED_PUBLISH_PAUSE_S = 0.05  # between a refused publish and the next try, while the connection loss registers
_MARK_RETRY_S = 1.0


class WrongDestination(ValueError):
    """A bundle addressed to an endpoint this sink does not serve; the sender keeps custody."""


@dataclass(frozen=True)
class SinkStatus:
    received: int  # stored (first copy) since start
    duplicates: int  # refused as already held or already published
    expired: int  # arrived after their lifetime
    refused_full: int  # not stored: the store was full of bundles at least as urgent
    published: int  # confirmed by PUBACK and marked published, since start
    publish_retries: int  # publishes the broker did not confirm (the bundle stays pending and goes again)
    replayed: int  # published again after a reconnection, in case the broker lost them (see module doc)
    pending: int  # held, not yet published (in the store, so it survives a restart)
    pending_by_priority: dict[Priority, int]
    inflight: int  # handed to the broker, PUBACK or the published mark outstanding
    mqtt_connected: bool


class SurfaceSink:
    """Receive bundles for the surface, keep them durably, publish them to MQTT, mark them published.

    The sink does not own its collaborators: the caller opens the store, starts the committer and the publisher,
    and closes them after ``close()``.
    """

    def __init__(
        self,
        committer: GroupCommitter,
        publisher: MqttPublisher,
        *,
        node_id: str,
        topic_prefix: str = DEFAULT_TOPIC_PREFIX,
        max_inflight: int | None = None,
        expire_interval_s: float = 60.0,
        replay_after_loss: int | None = None,
        replay_window_s: float = 2.0,
        clock: Clock | None = None,
    ) -> None:
        if max_inflight is not None and not 1 <= max_inflight <= publisher.max_inflight:
            raise ValueError(
                f"max_inflight {max_inflight!r} must be within 1..{publisher.max_inflight} (the publisher's window)"
            )
        if not expire_interval_s > 0:
            raise ValueError(f"expire_interval_s must be > 0 seconds, got {expire_interval_s!r}")
        if replay_after_loss is not None and not 0 <= replay_after_loss <= 65535:
            raise ValueError(f"replay_after_loss {replay_after_loss!r} must be within 0..65535 bundles")
        if not replay_window_s >= 0:
            raise ValueError(f"replay_window_s must be >= 0 seconds, got {replay_window_s!r}")
        self.node_id = node_id
        self.endpoints = frozenset({SURFACE, node_id})
        self.topic_prefix = _check_topic_prefix(topic_prefix)
        self._committer = committer
        self._store = committer.store
        self._publisher = publisher
        self._max_inflight = max_inflight if max_inflight is not None else publisher.max_inflight
        self._expire_interval_s = expire_interval_s
        self._clock = clock or SystemClock()
        self._replay_window_s = replay_window_s
        # (connection, confirmed at, bundle) of the latest confirmations: what a crashed broker may have lost.
        self._recent: deque[tuple[int, float, Bundle]] = deque(
            maxlen=self._max_inflight if replay_after_loss is None else replay_after_loss
        )
        self._replay: list[Bundle] = []
        self._replaying = 0
        self._connection_seen = 0
        self._inflight: set[BundleId] = set()  # excluded from pending() until marked published or failed
        # Awaiting PUBACK: the window. A confirmed bundle leaves it at once, before its published mark is
        # committed (an fsync), so an alarm does not wait for the disk behind a full window.
        self._unacked: set[BundleId] = set()
        self._confirmed: list[BundleId] = []  # PUBACK received, published mark not yet committed
        self._publishing: set[asyncio.Task[None]] = set()
        self._wake_pump = asyncio.Event()
        self._wake_marker = asyncio.Event()
        self._publish_failed = False
        self._tasks: list[asyncio.Task[None]] = []
        self._marker: asyncio.Task[None] | None = None
        self._closed = False
        self._received = 0
        self._duplicates = 0
        self._expired = 0
        self._refused_full = 0
        self._published = 0
        self._publish_retries = 0
        self._replayed = 0

    # ---- what the link layer calls ---------------------------------------------------------------------

    async def deliver(self, bundle: Bundle) -> Accept:
        """Take a bundle from a link; returns after it is durable (or known). Ack STORED and DUPLICATE only."""
        if bundle.destination not in self.endpoints:
            raise WrongDestination(
                f"bundle {bundle.id} is addressed to {bundle.destination!r}; sink {self.node_id} serves "
                f"{sorted(self.endpoints)}"
            )
        result = await self._committer.put(bundle)
        if result is Accept.STORED:
            self._received += 1
            self._wake_pump.set()
        elif result is Accept.DUPLICATE:
            self._duplicates += 1
        elif result is Accept.EXPIRED:
            self._expired += 1
        else:
            self._refused_full += 1
        return result

    def has_seen(self, bid: BundleId) -> bool:
        """Held (unpublished) or published and still within its lifetime: a peer need not send it."""
        return self._store.has_seen(bid)

    def seen_ids(self) -> set[BundleId]:
        """The sink's summary vector for epidemic carriers: everything it holds or has published."""
        return self._store.seen_ids()

    def status(self) -> SinkStatus:
        stats = self._store.stats()
        return SinkStatus(
            received=self._received,
            duplicates=self._duplicates,
            expired=self._expired,
            refused_full=self._refused_full,
            published=self._published,
            publish_retries=self._publish_retries,
            replayed=self._replayed,
            pending=sum(stats.count_by_priority.values()),
            pending_by_priority=dict(stats.count_by_priority),
            inflight=len(self._inflight),
            mqtt_connected=self._publisher.connected,
        )

    # ---- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start publishing; whatever a previous run left unpublished in the store goes first (in order)."""
        if self._tasks or self._closed:
            raise RuntimeError("SurfaceSink.start() may be called once")
        self._marker = asyncio.create_task(self._mark_published(), name=f"dtn-sink-mark-{self.node_id}")
        self._tasks = [
            asyncio.create_task(self._pump(), name=f"dtn-sink-pump-{self.node_id}"),
            asyncio.create_task(self._expire_periodically(), name=f"dtn-sink-expire-{self.node_id}"),
            self._marker,
        ]

    async def close(self) -> None:
        """Stop publishing; marks what the broker confirmed. Unconfirmed bundles stay pending. Idempotent."""
        if self._closed:
            return
        self._closed = True
        # The marker goes last: a PUBACK that arrives while the others stop still gets its mark.
        for group in (
            [t for t in self._tasks if t is not self._marker],
            list(self._publishing),
            [self._marker] if self._marker is not None else [],
        ):
            for task in group:
                task.cancel()
            await asyncio.gather(*group, return_exceptions=True)
        if self._confirmed:  # confirmed by the broker: mark now rather than publish them again next start
            with contextlib.suppress(Exception):
                await self._commit_marks()
        log.info("surface sink %s closed: %s", self.node_id, self.status())

    # ---- publishing ------------------------------------------------------------------------------------

    async def _pump(self) -> None:
        """Hand pending bundles to the broker in store order, keeping at most ``max_inflight`` unconfirmed."""
        while True:
            await self._publisher.wait_connected()
            if self._publish_failed:
                self._publish_failed = False
                await asyncio.sleep(_FAILED_PUBLISH_PAUSE_S)
                continue
            self._wake_pump.clear()  # before reading the store, so a delivery during the read is not missed
            connection = self._publisher.connection_number
            if connection != self._connection_seen:
                if self._connection_seen:
                    self._replay.extend(self._at_risk(self._connection_seen))
                self._connection_seen = connection
            free = self._max_inflight - len(self._unacked) - self._replaying
            if self._replay and free > 0:
                self._replay.sort(key=_publish_order)
                for bundle in self._replay[:free]:
                    self._spawn(self._replay_one(bundle), f"dtn-sink-replay-{bundle.id}")
                del self._replay[:free]
                continue
            if free > 0:
                batch = await asyncio.to_thread(self._store.pending, limit=free, exclude=frozenset(self._inflight))
                for stored in batch:
                    bid = stored.bundle.id
                    self._inflight.add(bid)
                    self._unacked.add(bid)
                    self._spawn(self._publish_one(stored.bundle), f"dtn-sink-publish-{bid}")
                if len(batch) == free:
                    continue  # the window is full now; the loop waits for a slot below on the next turn
            await self._wake_pump.wait()

    def _spawn(self, publishing: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(publishing, name=name)
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    def _at_risk(self, connection: int) -> list[Bundle]:
        """What ``connection`` confirmed last (within the replay window): a broker that crashed may have lost it."""
        confirmed = [(at, bundle) for number, at, bundle in self._recent if number == connection]
        if not confirmed:
            return []
        last = max(at for at, _ in confirmed)
        return [bundle for at, bundle in confirmed if at >= last - self._replay_window_s]

    async def _replay_one(self, bundle: Bundle) -> None:
        self._replaying += 1
        try:
            connection = await self._publisher.publish(bundle_topic(self.topic_prefix, bundle), bundle_message(bundle))
        except MqttUnavailable:
            self._replay.append(bundle)  # this connection failed too: still at risk, try on the next
            self._publish_failed = True
        else:
            self._replayed += 1
            self._recent.append((connection, self._clock.monotonic(), bundle))
        finally:
            self._replaying -= 1
            self._wake_pump.set()

    async def _publish_one(self, bundle: Bundle) -> None:
        try:
            connection = await self._publisher.publish(bundle_topic(self.topic_prefix, bundle), bundle_message(bundle))
        except MqttUnavailable as exc:
            log.debug("bundle %s not confirmed by the broker, stays pending: %s", bundle.id, exc)
            self._publish_retries += 1
            self._publish_failed = True
            self._inflight.discard(bundle.id)
            return
        except asyncio.CancelledError:
            self._inflight.discard(bundle.id)
            raise
        finally:
            self._unacked.discard(bundle.id)
            self._wake_pump.set()
        self._confirmed.append(bundle.id)
        self._recent.append((connection, self._clock.monotonic(), bundle))
        self._wake_marker.set()

    async def _mark_published(self) -> None:
        """Commit the published mark for every PUBACK gathered while the previous commit ran (one fsync)."""
        while True:
            await self._wake_marker.wait()
            self._wake_marker.clear()
            try:
                await self._commit_marks()
            except Exception:
                # The bundles stay excluded from publishing (still in flight), so nothing goes out twice while
                # the disk is sick; the marks are retried.
                log.exception("could not mark %d published bundle(s); retrying", len(self._confirmed))
                await asyncio.sleep(_MARK_RETRY_S)
                self._wake_marker.set()

    async def _commit_marks(self) -> None:
        ids = list(self._confirmed)
        if not ids:
            return
        await self._committer.call(lambda: self._store.remove(ids, reason="published to MQTT"))
        del self._confirmed[: len(ids)]
        self._published += len(ids)
        self._inflight.difference_update(ids)
        self._wake_pump.set()

    async def _expire_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._expire_interval_s)
            try:
                dropped = await self._committer.call(self._store.expire)
            except Exception:
                log.exception("sink store expiry failed; retrying in %.0f s", self._expire_interval_s)
                continue
            if dropped:
                log.warning(
                    "surface sink %s: %d bundle(s) expired before they could be published", self.node_id, dropped
                )


def _publish_order(bundle: Bundle) -> tuple[int, int, int]:
    return (int(bundle.priority), bundle.id.created_ms, bundle.id.seq)
