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
by age, not by an event). So an alarm created while a link is busy waits at most one quantum (or one bundle that
takes longer) behind what is in flight.

A bundle in flight on one link is not offered on another link of the same sender until the batch has arrived
(otherwise custody could pass to two peers at once), nor to a receiver it is already on its way to.

Bookkeeping for speed, not for decisions: each node's held ids and summary vector are mirrored in memory, kept
in step with its store after every operation (a full re-read after an eviction, which the store does not
report id by id), so a contact does not query the store to learn that there is nothing to send; internally a
bundle id is a small integer. The routers still decide from the store, with the mirror's list of the bundles
the peer has not seen as a hint (``Router.select(candidates=...)``). Everything is deterministic for a given
input: the event queue breaks ties by insertion order and no decision iterates over a set.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

from edge.clock import FakeClock
from edge.dtn.bundle import Bundle, BundleId, Priority, encode
from edge.dtn.routing import PeerInfo, PeerKind, Router
from edge.dtn.store import Accept, BundleStore

ACKED = (Accept.STORED, Accept.DUPLICATE, Accept.EXPIRED)
DECLINED_MEMORY_S = 4 * 3600.0


@dataclass(eq=False)
class SimNode:
    id: str
    kind: PeerKind
    store: BundleStore
    router: Router | None  # None: the surface sink, which receives and never forwards
    hops: int | None = None  # advertised hop distance to the surface (gateways; 0 for the sink)
    polls_carriers: bool = False  # a gateway that hands stuck bundles to carriers: re-asked by age
    # The mirror of the store (see the module docstring), by internal bundle number; ``seen`` is the summary
    # vector as the routers take it (held plus tombstoned ids).
    held: set[int] = field(default_factory=set)
    seen_ix: set[int] = field(default_factory=set)
    seen: set[BundleId] = field(default_factory=set)
    links: dict[str, Link] = field(default_factory=dict)  # out-links by peer id, while in contact
    in_links: dict[str, Link] = field(default_factory=dict)  # links towards this node, by sender id
    in_flight: set[int] = field(default_factory=set)  # being sent by this node
    incoming: set[int] = field(default_factory=set)  # being sent to this node
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
    candidates: set[int]
    declined: set[int] = field(default_factory=set)
    # The receiver refused a bundle of this class for want of room: it would refuse this class and less
    # urgent ones too, until it lets go of something (smaller bundles might have fitted: not tried).
    refused_from: Priority | None = None
    refused_size: int = 0
    up: bool = True
    busy: bool = False
    next_service: float = math.inf
    next_poll: float = -math.inf

    def recompute(self) -> None:
        self.candidates = self.src.held - self.dst.seen_ix if self.summary else set(self.src.held)


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
    # Per bundle, for figures over a subset of the bundles (one shift's, when a run covers two): transfers the
    # receiver stored, and those cut off, refused or duplicated; hop count on arrival at the sink.
    relays: Counter[BundleId] = field(default_factory=Counter)
    aborts: Counter[BundleId] = field(default_factory=Counter)
    refusals: Counter[BundleId] = field(default_factory=Counter)
    duplicates: Counter[BundleId] = field(default_factory=Counter)
    hops: dict[BundleId, int] = field(default_factory=dict)
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
        self._now = clock.wall()
        self._observers: list[Callable[[float, BundleId, Accept, SimNode, SimNode], None]] = []
        # Internal bundle numbers: the one BundleId object of each number, its number, class and expiry.
        self._bids: list[BundleId] = []
        self._ix: dict[BundleId, int] = {}
        self._prio: list[Priority] = []
        self._key: list[tuple[int, int, int]] = []  # (priority, created_ms, seq): the store's pending() order
        self._size: list[int] = []  # bytes on the wire (give or take the hop fields)
        self._expiry: list[tuple[float, int]] = []  # heap of (expires, number)
        # What a sender turned down for a peer, kept for a while after their contact ends: people in one
        # section go in and out of range of each other all shift, and the answer would be the same.
        self._declined_memory: dict[tuple[str, str], tuple[float, set[int]]] = {}
        self._sampling = False

    @property
    def now(self) -> float:
        return self._now

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

    def check_mirror(self) -> None:
        """Raise if a node's mirror disagrees with its store (tests: the bookkeeping must not change a thing)."""
        self._expire()
        for node in self.nodes.values():
            held = {self._bids[i] for i in node.held}
            if held != node.store.ids():
                raise AssertionError(f"{node.id}: mirror holds {len(held)}, the store {len(node.store.ids())}")
            if node.seen != node.store.seen_ids() or {self._bids[i] for i in node.seen_ix} != node.seen:
                raise AssertionError(f"{node.id}: mirrored summary vector differs from the store's")

    # ---- the loop --------------------------------------------------------------------------------------------
    def run(self, until: float) -> Tally:
        if self.sample_s > 0 and not self._sampling:  # run() may be called again to go on from ``until``
            self._sampling = True
            self._push(self._now, _Ev.SAMPLE, None)
        queue = self._queue
        while queue and queue[0][0] <= until:
            t, kind, _, payload = heapq.heappop(queue)
            if t > self._now:
                self.clock.advance(t - self._now)
                self._now = self.clock.wall()
            self.tally.events += 1
            if kind == _Ev.SERVICE:
                self._service(payload)  # type: ignore[arg-type]
            elif kind == _Ev.ARRIVAL:
                self._arrival(payload)  # type: ignore[arg-type]
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
        if until > self._now:
            self.clock.advance(until - self._now)
            self._now = self.clock.wall()
        return self.tally

    def _push(self, t: float, kind: _Ev, payload: object) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (t, int(kind), self._seq, payload))

    # ---- the mirror ------------------------------------------------------------------------------------------
    def _gain(self, node: SimNode, i: int) -> None:
        """``node`` now holds bundle ``i`` (created or stored from a peer)."""
        node.held.add(i)
        node.seen_ix.add(i)
        node.seen.add(self._bids[i])
        now = self._now
        for link in node.links.values():
            if not link.summary or i not in link.dst.seen_ix:
                link.candidates.add(i)
                # (already on its way there from another sender: if that fails, the arrival wakes this link)
                if now < link.next_service and i not in link.dst.incoming:
                    self._schedule(link, now)
        for link in node.in_links.values():
            if link.summary:
                link.candidates.discard(i)

    def _lose(self, node: SimNode, i: int) -> None:
        node.held.discard(i)
        for link in node.links.values():
            link.candidates.discard(i)
        self._room_freed(node)

    def _room_freed(self, node: SimNode) -> None:
        """Senders that ``node`` turned away for want of room try again once the refused bundle would fit:
        free bytes plus bytes of less urgent classes (the store's admission rule)."""
        waiting = [link for link in node.in_links.values() if link.refused_from is not None]
        if not waiting:
            return
        stats = node.store.stats()
        free = stats.capacity_bytes - stats.bytes_used
        for link in waiting:
            assert link.refused_from is not None  # noqa: S101
            evictable = sum(v for p, v in stats.bytes_by_priority.items() if p > link.refused_from)
            if free + evictable >= link.refused_size:
                link.refused_from = None
                self._schedule(link, self._now)

    def _resync(self, node: SimNode) -> None:
        ix, bids = self._ix, self._bids
        node.held = {ix[b] for b in node.store.ids()}
        node.seen_ix = {ix[b] for b in node.store.seen_ids()}
        node.seen = {bids[i] for i in node.seen_ix}
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
            remembered = self._declined_memory.pop((src.id, dst.id), None)
            if remembered is not None:
                link.declined = remembered[1] & link.candidates
            src.links[dst.id] = link
            dst.in_links[src.id] = link
            self._schedule(link, self._now)

    def _down(self, a: str, b: str) -> None:
        for src, dst in ((a, b), (b, a)):
            link = self.nodes[src].links.get(dst)
            if link is not None and link.end <= self._now:
                link.up = False
                del self.nodes[src].links[dst]
                del self.nodes[dst].in_links[src]
                if link.declined and not link.src.polls_carriers:
                    self._declined_memory[(src, dst)] = (self._now, link.declined)

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
        i = len(self._bids)
        self._bids.append(bundle.id)
        self._ix[bundle.id] = i
        self._prio.append(bundle.priority)
        self._key.append((int(bundle.priority), bundle.id.created_ms, bundle.id.seq))
        self._size.append(bundle.size)
        heapq.heappush(self._expiry, (bundle.expires_ms / 1000.0, i))
        self.tally.by_class[bundle.priority].created += 1
        self.tally.created[bundle.id] = self._now
        self.tally.priority[bundle.id] = bundle.priority
        accept = node.store.put(bundle, copies=node.router.initial_copies)
        if accept is Accept.STORED:
            self._after_put(node)
            self._gain(node, i)
        else:
            self.tally.refused_at_source += 1

    def _hops(self, hops: dict[str, int | None]) -> None:
        changed = [self.nodes[n] for n, h in hops.items() if n in self.nodes and self.nodes[n].hops != h]
        for node in changed:
            node.hops = hops[node.id]
        for node in changed:  # who talks to a changed node must decide again
            for link in node.in_links.values():
                link.declined.clear()
                self._schedule(link, self._now)
        names = {node.id for node in changed}
        self._declined_memory = {k: v for k, v in self._declined_memory.items() if k[1] not in names}

    def _schedule(self, link: Link, t: float) -> None:
        if link.busy or not link.up or t >= link.next_service:
            return
        link.next_service = t
        self._push(t, _Ev.SERVICE, link)

    def _service(self, link: Link) -> None:
        now = self._now
        if now != link.next_service:
            return  # superseded by an earlier service
        link.next_service = math.inf
        if not link.up or link.busy:
            return
        src, dst = link.src, link.dst
        assert src.router is not None  # noqa: S101
        poll = src.polls_carriers and dst.kind is PeerKind.MOBILE
        if poll and now >= link.next_poll:
            link.declined.clear()  # bundles may have grown old enough to go to carriers
            link.next_poll = now + self.poll_s
        hint = link.candidates - link.declined if link.declined else set(link.candidates)
        hint -= src.in_flight
        hint -= dst.incoming
        if link.refused_from is not None and hint:
            prio, refused_from = self._prio, link.refused_from
            hint = {i for i in hint if prio[i] < refused_from}
        batch: list[tuple[Bundle, int]] = []
        numbers: list[int] = []
        t = now
        bids, ix, keys = self._bids, self._ix, self._key
        peer_seen = dst.seen if link.summary else None
        # About one quantum's worth: a radio link asks for a few bundles at a time, the cable for more.
        limit = max(4, min(self.select_limit, int(link.rate_bps * self.quantum_s / 2000)))
        budget = link.rate_bps * self.quantum_s
        sizes = self._size
        while hint and not batch:
            # The most urgent candidates in the store's order, as many as one quantum can carry: the router
            # reads just these.
            ask = heapq.nsmallest(limit, hint, key=keys.__getitem__)
            total = 0
            for n, i in enumerate(ask):
                total += sizes[i]
                if total > budget:
                    del ask[max(1, n) :]
                    break
            offered = src.router.select(
                src.store, dst.peer_info, peer_seen, limit=limit, candidates=[bids[i] for i in ask]
            )
            chosen = [ix[b.id] for b, _ in offered]
            passed = set(ask).difference(chosen)
            if len(offered) == limit:  # it stopped at its last offer: only what came before was turned down
                last_key = keys[chosen[-1]]
                passed = {i for i in passed if keys[i] < last_key}
            link.declined |= passed
            hint.difference_update(ask)
            for (bundle, copies), i in zip(offered, chosen, strict=True):
                # bundle.forwarded_by(src.id), carrying the one id object of this bundle
                sent = Bundle(
                    bids[i],
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
                    self.tally.aborts[bundle.id] += 1
                    hint.clear()
                    break
                tally.started += 1
                t += duration
                batch.append((sent, copies))
                numbers.append(i)
        if not batch:
            if poll and link.candidates:
                self._schedule(link, link.next_poll)
            return
        link.busy = True
        src.in_flight.update(numbers)
        dst.incoming.update(numbers)
        self._push(t, _Ev.ARRIVAL, (link, batch, numbers))

    def _arrival(self, payload: tuple[Link, list[tuple[Bundle, int]], list[int]]) -> None:
        link, batch, numbers = payload
        link.busy = False
        src, dst = link.src, link.dst
        assert src.router is not None  # noqa: S101
        src.in_flight.difference_update(numbers)
        dst.incoming.difference_update(numbers)
        if not link.up:
            for bundle, _ in batch:
                self.tally.by_class[bundle.priority].aborted += 1
                self.tally.aborts[bundle.id] += 1
            self._wake(src)
            self._wake_senders(dst)
            return
        accepts = dst.store.put_many(batch)
        self._after_put(dst)
        refused = False
        peer = dst.peer_info
        held_before = src.count()
        for (bundle, copies), i, accept in zip(batch, numbers, accepts, strict=True):
            tally = self.tally.by_class[bundle.priority]
            if accept in ACKED:
                src.router.on_delivered(src.store, peer, bundle.id, copies)
                held_now = src.count()
                if held_now < held_before:
                    self._lose(src, i)
                held_before = held_now
            if accept is Accept.STORED:
                tally.relayed += 1
                self.tally.relays[bundle.id] += 1
                self._gain(dst, i)
                if dst.router is None:
                    self._delivered(bundle)
            elif accept is Accept.DUPLICATE:
                tally.duplicate += 1
                self.tally.duplicates[bundle.id] += 1
                link.candidates.discard(i)
            elif accept is Accept.REFUSED_FULL:
                tally.refused += 1
                self.tally.refusals[bundle.id] += 1
                refused = True
                if link.refused_from is None or bundle.priority < link.refused_from:
                    link.refused_from = bundle.priority
                    link.refused_size = self._size[i]
                elif bundle.priority == link.refused_from:
                    link.refused_size = min(link.refused_size, self._size[i])
            else:
                link.candidates.discard(i)  # expired on the way
            for observer in self._observers:
                observer(self._now, bundle.id, accept, src, dst)
        if refused:
            self._wake(src)  # what was in flight here may go elsewhere
        if link.candidates:
            self._schedule(link, self._now)

    def _wake(self, node: SimNode) -> None:
        for link in node.links.values():
            if link.candidates:
                self._schedule(link, self._now)

    def _wake_senders(self, node: SimNode) -> None:
        for link in node.in_links.values():
            if link.candidates:
                self._schedule(link, self._now)

    def _delivered(self, bundle: Bundle) -> None:
        if bundle.id in self.tally.delivered:
            self.tally.sink_redelivered += 1
            return
        self.tally.delivered[bundle.id] = self._now
        tally = self.tally.by_class[bundle.priority]
        tally.delivered += 1
        tally.latencies_s.append(self._now - self.tally.created[bundle.id])
        tally.hop_counts.append(bundle.hop_count)
        self.tally.hops[bundle.id] = bundle.hop_count

    def _expire(self) -> None:
        """Bundles and tombstones past their lifetime leave every store (``expire``) and every mirror."""
        expired: list[int] = []
        while self._expiry and self._expiry[0][0] <= self._now:
            expired.append(heapq.heappop(self._expiry)[1])
        bids = self._bids
        for node in self.nodes.values():
            for i in expired:
                node.held.discard(i)
                node.seen_ix.discard(i)
                node.seen.discard(bids[i])
            if node.store.expire():
                self._room_freed(node)

    def _sample(self) -> None:
        self._expire()
        forget = self._now - DECLINED_MEMORY_S
        self._declined_memory = {k: v for k, v in self._declined_memory.items() if v[0] >= forget}
        for node in self.nodes.values():
            if node.router is not None:
                stats = node.store.stats()
                self.tally.buffers[node.kind].add(stats.bytes_used, stats.bytes_by_priority)
        self._push(self._now + self.sample_s, _Ev.SAMPLE, None)
