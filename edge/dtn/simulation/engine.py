"""The discrete-event core: a virtual clock, the real ``BundleStore`` and routers on every node, in-memory links.

Events, in time order (ties: arrivals before contacts go down, before anything else, then by insertion):

- a contact comes up (both directions become links, each with its byte rate and known end) or goes down;
- a node creates a bundle (``BundleStore.create`` + ``put`` with the router's initial copies);
- a link is served: the sender's router ``select``s (with the receiver's summary vector when either side wants
  one), and the bundles that fit into one ``quantum_s`` of the link's rate (at least one bundle) -- and before
  the contact ends -- go out as one batch; a bundle that would not finish before the contact ends is aborted;
- a batch arrives: the receiver ``put_many``s it (one transaction, like the link layer's group commit), the
  sender's router gets ``on_delivered`` for every bundle the receiver acknowledged (stored, duplicate or
  expired: it holds it, held it, or it is dead), then the link is served again;
- a periodic sample: stores drop expired bundles, buffer occupancy is recorded.

A link is served when it comes up, when its sender gains a bundle, after each batch, when a receiver that refused
a bundle for want of room lets go of one (until then it is offered only more urgent classes), and every
``poll_s`` from a gateway to a carrier when the gateway hands stuck bundles to carriers (a bundle becomes stuck
by age, not by an event). So an alarm
created while a link is busy waits at most one quantum behind what is in flight.

A bundle in flight on one link is not offered on another link of the same sender until the batch has arrived
(otherwise custody could pass to two peers at once). Everything is deterministic for a given input: the event
queue breaks ties by insertion order and no decision iterates over a set.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

from edge.clock import FakeClock
from edge.dtn.bundle import Bundle, BundleId, Priority, encode
from edge.dtn.routing import CANDIDATE_HINT_MAX, PeerInfo, PeerKind, Router
from edge.dtn.store import Accept, BundleStore

ACKED = (Accept.STORED, Accept.DUPLICATE, Accept.EXPIRED)


@dataclass
class SimNode:
    id: str
    kind: PeerKind
    store: BundleStore
    router: Router | None  # None: the surface sink, which receives and never forwards
    hops: int | None = None  # advertised hop distance to the surface (gateways; 0 for the sink)
    polls_carriers: bool = False  # a gateway that hands stuck bundles to carriers: re-asked by age
    # Kept in step with the store so that a contact need not query it: what it holds, and its summary vector
    # (held plus tombstoned; it may still list expired ids until the next sample, which changes no decision).
    held: set[BundleId] = field(default_factory=set)
    seen: set[BundleId] = field(default_factory=set)
    links: dict[str, Link] = field(default_factory=dict)  # out-links by peer id, while in contact
    in_links: dict[str, Link] = field(default_factory=dict)  # links towards this node, by sender id
    in_flight: set[BundleId] = field(default_factory=set)  # being sent by this node
    incoming: set[BundleId] = field(default_factory=set)  # being sent to this node
    evicted: int = 0

    @property
    def peer_info(self) -> PeerInfo:
        return PeerInfo(self.id, self.kind, self.hops)

    def wants_summary(self) -> bool:
        return self.router is not None and self.router.wants_summary()

    def count(self) -> int:
        return sum(self.store.stats().count_by_priority.values())


@dataclass(eq=False)
class Link:
    """One direction of a contact. ``candidates`` are the held bundles the receiver has not seen (all held
    bundles when no summary is exchanged); ``declined`` those the router turned down for this peer, which it
    would turn down again until the peer's hop distance changes or (gateway to carrier) a bundle ages."""

    src: SimNode
    dst: SimNode
    rate_bps: float  # bytes per second
    end: float
    summary: bool
    candidates: set[BundleId]
    declined: set[BundleId] = field(default_factory=set)
    # The receiver refused a bundle of this class for want of room: it would refuse this class and less
    # urgent ones too, until it lets go of something (smaller bundles might have fitted: not tried).
    refused_from: Priority | None = None
    up: bool = True
    busy: bool = False
    next_service: float = math.inf
    next_poll: float = -math.inf

    def recompute(self) -> None:
        self.candidates = self.src.held - self.dst.seen if self.summary else set(self.src.held)


@dataclass
class ClassTally:
    created: int = 0
    delivered: int = 0
    relayed: int = 0  # transfers that the receiver stored (the sink included)
    started: int = 0
    aborted: int = 0  # transfers cut off by the end of a contact
    refused: int = 0  # transfers a full receiver refused
    duplicate: int = 0  # transfers of a bundle the receiver had seen (no summary, or crossed in flight)
    latencies_s: list[float] = field(default_factory=list)
    hop_counts: list[int] = field(default_factory=list)


@dataclass
class BufferTally:
    samples: int = 0
    bytes_sum: float = 0.0
    bytes_max: int = 0
    by_priority_sum: dict[Priority, float] = field(default_factory=lambda: dict.fromkeys(Priority, 0.0))

    def add(self, used: int, by_priority: dict[Priority, int]) -> None:
        self.samples += 1
        self.bytes_sum += used
        self.bytes_max = max(self.bytes_max, used)
        for priority, value in by_priority.items():
            self.by_priority_sum[priority] += value


@dataclass
class Tally:
    """Raw counts of one run; ``report`` turns them into the ONE simulator's metrics."""

    by_class: dict[Priority, ClassTally] = field(default_factory=lambda: {p: ClassTally() for p in Priority})
    buffers: dict[PeerKind, BufferTally] = field(default_factory=dict)
    created: dict[BundleId, float] = field(default_factory=dict)  # id -> creation time (epoch s)
    priority: dict[BundleId, Priority] = field(default_factory=dict)
    delivered: dict[BundleId, float] = field(default_factory=dict)  # id -> first arrival at the sink
    sink_redelivered: int = 0  # the sink stored an id twice: must stay 0
    refused_at_source: int = 0
    events: int = 0


class _Ev(IntEnum):  # tie-break order at equal times
    ARRIVAL = 0
    DOWN = 1
    UP = 2
    CREATE = 3
    HOPS = 4
    SERVICE = 5
    SAMPLE = 6


@dataclass(frozen=True)
class Creation:
    node: str
    priority: Priority
    kind: str
    body: object
    lifetime_s: float


class Engine:
    def __init__(
        self,
        clock: FakeClock,
        *,
        quantum_s: float = 1.0,
        select_limit: int = 64,
        poll_s: float = 30.0,
        sample_s: float = 300.0,
    ) -> None:
        for name, value in (("quantum_s", quantum_s), ("poll_s", poll_s)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        self.clock = clock
        self.quantum_s = quantum_s
        self.select_limit = select_limit
        self.poll_s = poll_s
        self.sample_s = sample_s
        self.nodes: dict[str, SimNode] = {}
        self.tally = Tally()
        self._queue: list[tuple[float, int, int, object]] = []
        self._seq = 0
        self._observers: list[Callable[[float, BundleId, Accept, SimNode, SimNode], None]] = []
        # One object per bundle id: set operations then match by identity instead of comparing dataclasses.
        self._canon: dict[BundleId, BundleId] = {}
        self._priority = self.tally.priority

    @property
    def now(self) -> float:
        return self.clock.wall()

    # ---- set-up --------------------------------------------------------------------------------------------
    def add_node(self, node: SimNode) -> None:
        if node.id in self.nodes:
            raise ValueError(f"node {node.id!r} added twice")
        self.nodes[node.id] = node
        self.tally.buffers.setdefault(node.kind, BufferTally())

    def contact(self, a: str, b: str, start: float, end: float, rate_bps: float) -> None:
        if end <= start:
            return
        for node in (a, b):
            if node not in self.nodes:
                raise KeyError(f"contact with unknown node {node!r}")
        self._push(start, _Ev.UP, (a, b, end, rate_bps))
        if math.isfinite(end):
            self._push(end, _Ev.DOWN, (a, b))

    def create_at(self, t: float, creation: Creation) -> None:
        if creation.node not in self.nodes:
            raise KeyError(f"traffic for unknown node {creation.node!r}")
        self._push(t, _Ev.CREATE, creation)

    def set_hops_at(self, t: float, hops: dict[str, int | None]) -> None:
        self._push(t, _Ev.HOPS, hops)

    def observe(self, callback: Callable[[float, BundleId, Accept, SimNode, SimNode], None]) -> None:
        """``callback(t, bundle id, accept, sender, receiver)`` after every completed transfer (for tests)."""
        self._observers.append(callback)

    # ---- the loop --------------------------------------------------------------------------------------------
    def run(self, until: float) -> Tally:
        if self.sample_s > 0:
            self._push(self.now, _Ev.SAMPLE, None)
        while self._queue and self._queue[0][0] <= until:
            t, kind, _, payload = heapq.heappop(self._queue)
            if t > self.now:
                self.clock.advance(t - self.now)
            self.tally.events += 1
            if kind == _Ev.ARRIVAL:
                self._arrival(payload)  # type: ignore[arg-type]
            elif kind == _Ev.SERVICE:
                self._service(payload)  # type: ignore[arg-type]
            elif kind == _Ev.UP:
                self._up(*payload)  # type: ignore[misc]
            elif kind == _Ev.DOWN:
                self._down(*payload)  # type: ignore[misc]
            elif kind == _Ev.CREATE:
                self._create(payload)  # type: ignore[arg-type]
            elif kind == _Ev.HOPS:
                self._hops(payload)  # type: ignore[arg-type]
            else:
                self._sample()
        if until > self.now:
            self.clock.advance(until - self.now)
        return self.tally

    def _push(self, t: float, kind: _Ev, payload: object) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (t, int(kind), self._seq, payload))

    # ---- bookkeeping of what nodes hold and have seen ------------------------------------------------------
    def _gain(self, node: SimNode, bid: BundleId) -> None:
        """``node`` now holds ``bid`` (created or stored from a peer)."""
        node.held.add(bid)
        node.seen.add(bid)
        for link in node.links.values():
            if not link.summary or bid not in link.dst.seen:
                link.candidates.add(bid)
                self._schedule(link, self.now)
        for link in node.in_links.values():
            if link.summary:
                link.candidates.discard(bid)

    def _lose(self, node: SimNode, bid: BundleId) -> None:
        node.held.discard(bid)
        for link in node.links.values():
            link.candidates.discard(bid)
        self._room_freed(node)

    def _room_freed(self, node: SimNode) -> None:
        for link in node.in_links.values():
            if link.refused_from is not None:
                link.refused_from = None
                self._schedule(link, self.now)

    def _resync(self, node: SimNode) -> None:
        canon = self._canon
        node.held = {canon.get(b, b) for b in node.store.ids()}
        node.seen = {canon.get(b, b) for b in node.store.seen_ids()}
        node.evicted = sum(node.store.stats().evicted_by_priority.values())
        for link in node.links.values():
            link.recompute()
            link.declined &= link.candidates
        for link in node.in_links.values():
            link.recompute()
        self._room_freed(node)

    def _after_put(self, node: SimNode) -> None:
        """An eviction takes ids out of the store's summary (evicted bundles get no tombstone): follow it."""
        if sum(node.store.stats().evicted_by_priority.values()) != node.evicted:
            self._resync(node)

    # ---- handlers ------------------------------------------------------------------------------------------
    def _up(self, a: str, b: str, end: float, rate_bps: float) -> None:
        na, nb = self.nodes[a], self.nodes[b]
        summary = na.wants_summary() or nb.wants_summary()
        for src, dst in ((na, nb), (nb, na)):
            if src.router is None or dst.id in src.links:
                continue  # the sink sends nothing; a contact already up (overlapping radio and cable) stays
            # what the sink already has goes now
            if (
                dst.kind is PeerKind.SURFACE
                and src.wants_summary()
                and src.router.on_summary(src.store, dst.peer_info, dst.seen)
            ):
                self._resync(src)
            link = Link(src, dst, rate_bps, end, summary, set())
            link.recompute()
            src.links[dst.id] = link
            dst.in_links[src.id] = link
            self._schedule(link, self.now)

    def _down(self, a: str, b: str) -> None:
        for src, dst in ((a, b), (b, a)):
            link = self.nodes[src].links.get(dst)
            if link is not None and link.end <= self.now:
                link.up = False
                del self.nodes[src].links[dst]
                del self.nodes[dst].in_links[src]

    def _create(self, creation: Creation) -> None:
        node = self.nodes[creation.node]
        assert node.router is not None  # noqa: S101  (the sink creates nothing)
        bundle = node.store.create(
            destination="surface",
            priority=creation.priority,
            kind=creation.kind,
            body=creation.body,
            lifetime_s=creation.lifetime_s,
        )
        self._canon[bundle.id] = bundle.id
        self._priority[bundle.id] = bundle.priority
        self.tally.by_class[bundle.priority].created += 1
        self.tally.created[bundle.id] = self.now
        accept = node.store.put(bundle, copies=node.router.initial_copies)
        if accept is Accept.STORED:
            self._after_put(node)
            self._gain(node, bundle.id)
        else:
            self.tally.refused_at_source += 1

    def _hops(self, hops: dict[str, int | None]) -> None:
        changed = [self.nodes[n] for n, h in hops.items() if n in self.nodes and self.nodes[n].hops != h]
        for node in changed:
            node.hops = hops[node.id]
        for node in changed:  # who talks to a changed node must decide again
            for link in node.in_links.values():
                link.declined.clear()
                self._schedule(link, self.now)

    def _schedule(self, link: Link, t: float) -> None:
        if link.busy or not link.up or t >= link.next_service:
            return
        link.next_service = t
        self._push(t, _Ev.SERVICE, link)

    def _service(self, link: Link) -> None:
        if self.now != link.next_service:
            return  # superseded by an earlier service
        link.next_service = math.inf
        if not link.up or link.busy:
            return
        src, dst = link.src, link.dst
        assert src.router is not None  # noqa: S101
        poll = src.polls_carriers and dst.kind is PeerKind.MOBILE
        if poll and self.now >= link.next_poll:
            link.declined.clear()  # bundles may have grown old enough to go to carriers
            link.next_poll = self.now + self.poll_s
        hint = link.candidates - link.declined if link.declined else set(link.candidates)
        hint -= src.in_flight
        hint -= dst.incoming
        if link.refused_from is not None:
            priority, refused_from = self._priority, link.refused_from
            hint = {b for b in hint if priority[b] < refused_from}
        batch: list[tuple[Bundle, int]] = []
        t = now = self.now
        if hint:
            peer_seen = dst.seen if link.summary else None
            canon = self._canon
            if len(hint) > CANDIDATE_HINT_MAX and (src.in_flight or dst.incoming):
                # the router walks the store: it must skip what is on its way elsewhere too
                peer_seen = (peer_seen if peer_seen is not None else set()) | src.in_flight | dst.incoming
            offered = src.router.select(src.store, dst.peer_info, peer_seen, limit=self.select_limit, candidates=hint)
            if len(offered) < self.select_limit:
                link.declined |= hint.difference(canon[b.id] for b, _ in offered)
            for bundle, copies in offered:
                # bundle.forwarded_by(src.id), carrying the one id object of this bundle (see _canon)
                sent = Bundle(
                    canon[bundle.id],
                    bundle.destination,
                    bundle.priority,
                    bundle.lifetime_ms,
                    bundle.kind,
                    bundle.payload,
                    bundle.hop_count + 1,
                    src.id,
                )
                duration = len(encode(sent)) / link.rate_bps
                if batch and t + duration - now > self.quantum_s:
                    break  # a batch is one quantum long, or one bundle when a bundle takes longer
                tally = self.tally.by_class[bundle.priority]
                if t + duration > link.end:
                    tally.aborted += 1
                    break
                tally.started += 1
                t += duration
                batch.append((sent, copies))
        if not batch:
            if poll and link.candidates:
                self._schedule(link, link.next_poll)
            return
        link.busy = True
        ids = [b.id for b, _ in batch]
        src.in_flight.update(ids)
        dst.incoming.update(ids)
        self._push(t, _Ev.ARRIVAL, (link, batch))

    def _arrival(self, payload: tuple[Link, list[tuple[Bundle, int]]]) -> None:
        link, batch = payload
        link.busy = False
        src, dst = link.src, link.dst
        assert src.router is not None  # noqa: S101
        ids = [b.id for b, _ in batch]
        src.in_flight.difference_update(ids)
        dst.incoming.difference_update(ids)
        if not link.up:
            for bundle, _ in batch:
                self.tally.by_class[bundle.priority].aborted += 1
            self._wake(src)
            return
        accepts = dst.store.put_many(batch)
        self._after_put(dst)
        refused = False
        peer = dst.peer_info
        held_before = src.count()
        for (bundle, copies), accept in zip(batch, accepts, strict=True):
            tally = self.tally.by_class[bundle.priority]
            if accept in ACKED:
                src.router.on_delivered(src.store, peer, bundle.id, copies)
                held_now = src.count()
                if held_now < held_before:
                    self._lose(src, bundle.id)
                held_before = held_now
            if accept is Accept.STORED:
                tally.relayed += 1
                self._gain(dst, bundle.id)
                if dst.router is None:
                    self._delivered(bundle)
            elif accept is Accept.DUPLICATE:
                tally.duplicate += 1
                link.candidates.discard(bundle.id)
            elif accept is Accept.REFUSED_FULL:
                tally.refused += 1
                refused = True
                if link.refused_from is None or bundle.priority < link.refused_from:
                    link.refused_from = bundle.priority
            else:
                link.candidates.discard(bundle.id)  # expired on the way
            for observer in self._observers:
                observer(self.now, bundle.id, accept, src, dst)
        if refused:
            self._wake(src)  # what was in flight here may go elsewhere
        self._schedule(link, self.now)

    def _wake(self, node: SimNode) -> None:
        for link in node.links.values():
            if link.candidates:
                self._schedule(link, self.now)

    def _delivered(self, bundle: Bundle) -> None:
        if bundle.id in self.tally.delivered:
            self.tally.sink_redelivered += 1
            return
        self.tally.delivered[bundle.id] = self.now
        tally = self.tally.by_class[bundle.priority]
        tally.delivered += 1
        tally.latencies_s.append(self.now - self.tally.created[bundle.id])
        tally.hop_counts.append(bundle.hop_count)

    def _sample(self) -> None:
        for node in self.nodes.values():
            if node.store.expire():
                self._resync(node)
            if node.router is None:
                continue
            stats = node.store.stats()
            self.tally.buffers[node.kind].add(stats.bytes_used, stats.bytes_by_priority)
        self._push(self.now + self.sample_s, _Ev.SAMPLE, None)
