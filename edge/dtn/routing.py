"""Routing policies: which held bundles to offer a peer in contact, and what custody means after its ack.

Pure decision logic over a ``BundleStore``: no sockets, no threads, no timers. The link layer (or the simulator)
calls ``select`` when a contact has room, sends what it returns in that order, and calls ``on_delivered`` once
the peer has acknowledged a bundle durably. That is the only place a bundle leaves a node or loses copies
(custody rule); the one other deletion is ``on_summary`` with the bundle's destination, whose summary vector is
its durable statement that it holds the bundle. A node creating a bundle stores it with
``router.initial_copies`` tokens.

Peers (``PeerInfo``): a FIXED gateway advertises ``hops_to_surface``, its *current* hop distance to the surface
along the gateway chain, or ``None`` when it knows no way to the surface (its uplink is cut). The SURFACE sink is
the destination of everything sent to the ``surface`` group. MOBILE carriers have no hop distance.

Policies (everything in priority order, ALARM first, as ``BundleStore.pending`` returns it):

- ``static`` on a fixed gateway (its configured ``hops_to_surface``): forward to the SURFACE sink or to a FIXED
  peer advertising a strictly smaller hop distance, and hand custody over (delete after the durable ack). It
  never sends a bundle to a gateway at the same or a greater distance, so nothing travels away from the surface.
  The chain may be cut (a roof fall takes the fibre with it), and then the gateways inby of the cut hold every
  bundle until the cable is spliced. Passing carriers are the only way out, so a gateway can be configured to
  hand them *copies* of what has been stuck longer than ``carrier_handoff_after_s``: the gateway keeps custody
  (a cap lamp may walk further inby, or be lost), a bundle that did get out through a carrier comes back through
  the mended chain once more and the surface drops it as a duplicate. The age test, rather than "is my uplink
  up", needs no extra signal from the link layer and also covers an uplink that is up but too slow. Alarms go
  to carriers at once: a few hundred bytes, rare, and a carrier in range now may be the last one for a while;
  on an intact chain that copy is wasted, and small. It is off by default: on an intact chain nothing waits
  that long and carriers would only be loaded with dead weight.
- ``static`` on a mobile carrier (the baseline): hand custody to the SURFACE sink or to any FIXED gateway that
  knows its way to the surface; never to another carrier.
- ``epidemic``: summary-vector anti-entropy (Vahdat and Becker, 2000): offer every peer what its summary says
  it has not seen, keep the own copy; delete when the bundle reaches its destination (or the destination's
  summary shows it there).
- ``spray`` (binary spray-and-wait, Spyropoulos et al., 2005): the source holds ``spray_copies`` tokens; a
  carrier with ``n > 1`` tokens meeting a carrier that has not seen the bundle gives it ``n // 2``; with one
  token left it waits for the destination. A FIXED gateway that knows its way to the surface counts as the
  destination's doorstep for surface-bound bundles (custody passes, all tokens go); a gateway cut off from the
  surface gets nothing: it cannot move, and the carrier can.
- ``prophet`` is not implemented: ``make_router`` refuses it with a clear error.

Bundles whose destination is a node (not ``surface``) are delivered when that node is met; static routing has
no downward routes, epidemic and spray carry them like any other bundle.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Protocol

from edge.clock import Clock
from edge.dtn.bundle import MAX_HOPS, NODE_ID_PATTERN, SURFACE, Bundle, BundleId, Priority
from edge.dtn.store import BundleStore, StoredBundle

POLICIES = ("static", "epidemic", "spray", "prophet")
_PAGE = 64  # rows per pending() call while filtering: most offers are decided within the first page


class PeerKind(enum.Enum):
    FIXED = "fixed"
    MOBILE = "mobile"
    SURFACE = "surface"


@dataclass(frozen=True)
class PeerInfo:
    node_id: str
    kind: PeerKind
    hops_to_surface: int | None  # None = unknown (a carrier, or a gateway cut off from the surface)

    def __post_init__(self) -> None:
        if not isinstance(self.node_id, str) or not NODE_ID_PATTERN.fullmatch(self.node_id):
            raise ValueError(f"peer node_id {self.node_id!r} is not a node id ({NODE_ID_PATTERN.pattern})")
        if not isinstance(self.kind, PeerKind):
            raise ValueError(f"peer kind {self.kind!r} must be one of {[k.value for k in PeerKind]}")
        hops = self.hops_to_surface
        if hops is not None and (not isinstance(hops, int) or isinstance(hops, bool) or hops < 0):
            raise ValueError(f"peer hops_to_surface {hops!r} must be None or an integer >= 0")

    @property
    def reaches_surface(self) -> bool:
        """The surface itself, or a gateway that currently knows a way to it."""
        return self.kind is PeerKind.SURFACE or (self.kind is PeerKind.FIXED and self.hops_to_surface is not None)


class Router(Protocol):
    name: str
    initial_copies: int  # tokens a bundle created on this node starts with (spray: L, else 1)

    def select(
        self,
        store: BundleStore,
        peer: PeerInfo,
        peer_seen: set[BundleId] | None,
        *,
        limit: int,
        candidates: Collection[BundleId] | None = None,
    ) -> list[tuple[Bundle, int]]:
        """Bundles to offer ``peer`` now, in priority order, each with the copies to hand over. Read-only.

        ``peer_seen`` is the peer's summary vector (ids it holds or held), None if none was exchanged; nothing in
        it is offered, so a caller may add ids it does not want offered now (e.g. in flight on another link).
        ``candidates``, when given, restricts the choice to these ids (those not held are ignored), read one by
        one instead of walking the store in order. A caller that mirrors what the peer has not seen passes those
        ids, or the most urgent of them (then the answer is the first part of the answer without the hint): a
        few reads instead of a walk of the whole store when the peer already has nearly everything.
        """
        ...

    def on_delivered(self, store: BundleStore, peer: PeerInfo, bid: BundleId, copies_given: int) -> None:
        """``peer`` acknowledged ``bid`` durably: delete it (custody passed), keep it, or keep fewer copies."""
        ...

    def on_summary(self, store: BundleStore, peer: PeerInfo, peer_seen: set[BundleId]) -> int:
        """``peer``'s summary vector arrived: drop what it shows delivered to its destination. Returns count."""
        ...

    def wants_summary(self) -> bool:
        """Whether contacts should exchange summary vectors (``BundleStore.seen_ids``) before ``select``."""
        ...


def is_destination(bundle: Bundle, peer: PeerInfo) -> bool:
    return _reaches(bundle.destination, peer)


def _reaches(destination: str, peer: PeerInfo) -> bool:
    return peer.node_id == destination or (destination == SURFACE and peer.kind is PeerKind.SURFACE)


class _RouterBase:
    """What every policy shares: the priority-ordered scan, and a memory of copies handed to each peer.

    The memory stops a node re-offering a bundle it kept after giving it to a peer that sends no summary vector;
    it is pruned to the bundles still held whenever it grows past ``_MEMORY_PRUNE``.
    """

    name = "base"
    initial_copies = 1
    _MEMORY_PRUNE = 50_000

    def __init__(self, node_id: str) -> None:
        if not NODE_ID_PATTERN.fullmatch(node_id):
            raise ValueError(f"node_id {node_id!r} is not a node id ({NODE_ID_PATTERN.pattern})")
        self.node_id = node_id
        self._given: dict[str, set[BundleId]] = {}
        self._given_count = 0
        # Destination of what was offered lately, so an ack need not read the bundle back from the store.
        self._offered: dict[BundleId, str] = {}

    def _destination(self, store: BundleStore, bid: BundleId) -> str | None:
        """The destination of ``bid`` (None: not offered lately and no longer held). Removing or remembering
        a bundle that has gone meanwhile is harmless, so an offered one is not looked up again."""
        destination = self._offered.pop(bid, None)
        if destination is not None:
            return destination
        stored = store.get(bid)
        return None if stored is None else stored.bundle.destination

    def _note_offered(self, chosen: list[tuple[Bundle, int]]) -> None:
        if len(self._offered) > self._MEMORY_PRUNE:
            self._offered.clear()  # offers never acknowledged (contact lost): forget them
        for bundle, _ in chosen:
            self._offered[bundle.id] = bundle.destination

    def wants_summary(self) -> bool:
        return False

    def on_summary(self, store: BundleStore, peer: PeerInfo, peer_seen: set[BundleId]) -> int:
        """Only the destination's summary proves delivery; a relay's only says it has seen the bundle."""
        if peer.kind is PeerKind.MOBILE and not peer_seen:
            return 0
        delivered = []
        for bid in store.ids() & peer_seen:
            stored = store.get(bid)
            if stored is not None and is_destination(stored.bundle, peer):
                delivered.append(bid)
        return store.remove(delivered, reason=f"delivered to {peer.node_id}") if delivered else 0

    def _remember(self, store: BundleStore, peer: PeerInfo, bid: BundleId) -> None:
        self._given.setdefault(peer.node_id, set()).add(bid)
        self._given_count += 1
        if self._given_count > self._MEMORY_PRUNE:
            held = store.ids()
            pruned = {p: ids & held for p, ids in self._given.items()}
            self._given = {p: ids for p, ids in pruned.items() if ids}
            self._given_count = sum(len(ids) for ids in self._given.values())

    def _scan(
        self,
        store: BundleStore,
        peer: PeerInfo,
        peer_seen: set[BundleId] | None,
        limit: int,
        copies_for: Callable[[StoredBundle], int | None],
        *,
        candidates: Collection[BundleId] | None = None,
    ) -> list[tuple[Bundle, int]]:
        """Walk the store in priority order and keep the bundles ``copies_for`` gives a copy count for."""
        if limit <= 0:
            return []
        given = self._given.get(peer.node_id, set())
        if candidates is not None:
            picked = self._pick(self._candidates(store, peer_seen, given, candidates), peer, given, limit, copies_for)
            self._note_offered(picked)
            return picked
        # Without a summary, what this node gave the peer before is what it knows the peer has seen.
        exclude: set[BundleId] = peer_seen if peer_seen is not None else given
        skipped: set[BundleId] = set()
        page_size = max(_PAGE, 2 * limit)
        chosen: list[tuple[Bundle, int]] = []
        while len(chosen) < limit:
            page = store.pending(limit=page_size, exclude=exclude)
            skipped.update(stored.bundle.id for stored in page)
            chosen += self._pick(page, peer, given, limit - len(chosen), copies_for)
            if len(page) < page_size:
                break
            # Rare (most offers are decided on the first page): the next page must skip what this one saw.
            exclude = (peer_seen if peer_seen is not None else given) | skipped
        self._note_offered(chosen)
        return chosen

    @staticmethod
    def _candidates(
        store: BundleStore, peer_seen: set[BundleId] | None, given: set[BundleId], candidates: Collection[BundleId]
    ) -> list[StoredBundle]:
        seen = peer_seen if peer_seen is not None else given
        held = [stored for bid in candidates if bid not in seen and (stored := store.get(bid)) is not None]
        held.sort(key=lambda s: (s.bundle.priority, s.bundle.id.created_ms, s.bundle.id.seq))
        return held

    @staticmethod
    def _pick(
        stored_bundles: list[StoredBundle],
        peer: PeerInfo,
        given: set[BundleId],
        limit: int,
        copies_for: Callable[[StoredBundle], int | None],
    ) -> list[tuple[Bundle, int]]:
        chosen: list[tuple[Bundle, int]] = []
        for stored in stored_bundles:
            bundle = stored.bundle
            if (
                bundle.id in given
                or peer.node_id in (bundle.previous_node, bundle.id.source)
                or (bundle.hop_count >= MAX_HOPS and not is_destination(bundle, peer))
            ):
                continue
            copies = copies_for(stored)
            if copies is not None:
                chosen.append((bundle, copies))
                if len(chosen) == limit:
                    break
        return chosen


class StaticRouter(_RouterBase):
    """Toward the surface along the gateway chain, custody hop by hop (see the module docstring)."""

    name = "static"

    def __init__(
        self,
        node_id: str,
        *,
        node_kind: PeerKind,
        hops_to_surface: int | None,
        clock: Clock | None = None,
        carrier_handoff_after_s: float | None = None,
        carrier_copies: int = 1,
    ) -> None:
        super().__init__(node_id)
        if node_kind is PeerKind.FIXED and (hops_to_surface is None or hops_to_surface < 0):
            raise ValueError(
                f"static routing on fixed gateway {node_id!r} needs its hops_to_surface (an integer >= 0), "
                f"got {hops_to_surface!r}"
            )
        if carrier_handoff_after_s is not None:
            if node_kind is not PeerKind.FIXED:
                raise ValueError("carrier_handoff_after_s is for fixed gateways; a carrier forwards anyway")
            if not carrier_handoff_after_s >= 0:
                raise ValueError(f"carrier_handoff_after_s must be >= 0 seconds, got {carrier_handoff_after_s!r}")
            if clock is None:
                raise ValueError("carrier_handoff_after_s needs the node's clock (the store's clock)")
        if carrier_copies < 1:
            raise ValueError(f"carrier_copies must be >= 1, got {carrier_copies}")
        self.node_kind = node_kind
        self.hops_to_surface = hops_to_surface
        self._clock = clock
        self._handoff_ms = None if carrier_handoff_after_s is None else round(carrier_handoff_after_s * 1000)
        self._carrier_copies = carrier_copies

    def _is_uplink(self, peer: PeerInfo) -> bool:
        if peer.kind is PeerKind.SURFACE:
            return True
        if peer.kind is not PeerKind.FIXED or peer.hops_to_surface is None:
            return False
        if self.node_kind is not PeerKind.FIXED:
            return True  # a carrier hands to any gateway that knows its way out
        assert self.hops_to_surface is not None  # noqa: S101  (checked in __init__)
        return peer.hops_to_surface < self.hops_to_surface

    def select(
        self,
        store: BundleStore,
        peer: PeerInfo,
        peer_seen: set[BundleId] | None,
        *,
        limit: int,
        candidates: Collection[BundleId] | None = None,
    ) -> list[tuple[Bundle, int]]:
        uplink = self._is_uplink(peer)
        stuck_before: int | None = None
        if peer.kind is PeerKind.MOBILE and self._handoff_ms is not None and self._clock is not None:
            stuck_before = round(self._clock.wall() * 1000) - self._handoff_ms

        def copies_for(stored: StoredBundle) -> int | None:
            bundle = stored.bundle
            if uplink and (bundle.destination == SURFACE or is_destination(bundle, peer)):
                return stored.copies
            if stuck_before is not None and (stored.received_ms <= stuck_before or bundle.priority is Priority.ALARM):
                return self._carrier_copies
            return None

        if not uplink and stuck_before is None:
            return []  # no route down or sideways: static routing only knows the way to the surface
        return self._scan(store, peer, peer_seen, limit, copies_for, candidates=candidates)

    def on_delivered(self, store: BundleStore, peer: PeerInfo, bid: BundleId, copies_given: int) -> None:
        destination = self._destination(store, bid)
        if destination is None:
            return
        if _reaches(destination, peer) or (self._is_uplink(peer) and destination == SURFACE):
            store.remove([bid], reason=f"custody to {peer.node_id}")
        else:
            self._remember(store, peer, bid)  # a carrier's copy: custody stays here


class EpidemicRouter(_RouterBase):
    """Summary-vector anti-entropy: every peer gets what it has not seen; copies stay until delivered."""

    name = "epidemic"

    def wants_summary(self) -> bool:
        return True

    def select(
        self,
        store: BundleStore,
        peer: PeerInfo,
        peer_seen: set[BundleId] | None,
        *,
        limit: int,
        candidates: Collection[BundleId] | None = None,
    ) -> list[tuple[Bundle, int]]:
        def copies_for(stored: StoredBundle) -> int | None:
            if peer.kind is PeerKind.SURFACE and not is_destination(stored.bundle, peer):
                return None  # the sink does not relay bundles addressed to a node
            return 1

        return self._scan(store, peer, peer_seen, limit, copies_for, candidates=candidates)

    def on_delivered(self, store: BundleStore, peer: PeerInfo, bid: BundleId, copies_given: int) -> None:
        destination = self._destination(store, bid)
        if destination is None:
            return
        if _reaches(destination, peer):
            store.remove([bid], reason=f"delivered to {peer.node_id}")
        else:
            self._remember(store, peer, bid)


class SprayRouter(_RouterBase):
    """Binary spray-and-wait with ``copies`` tokens per bundle created here."""

    name = "spray"

    def __init__(self, node_id: str, *, copies: int) -> None:
        super().__init__(node_id)
        if copies < 1:
            raise ValueError(f"spray_copies must be >= 1, got {copies}")
        self.initial_copies = copies

    def wants_summary(self) -> bool:
        return True

    def _hands_over(self, bundle: Bundle, peer: PeerInfo) -> bool:
        """Delivery (all tokens, custody passes) rather than spraying half of them."""
        return is_destination(bundle, peer) or (bundle.destination == SURFACE and peer.reaches_surface)

    def select(
        self,
        store: BundleStore,
        peer: PeerInfo,
        peer_seen: set[BundleId] | None,
        *,
        limit: int,
        candidates: Collection[BundleId] | None = None,
    ) -> list[tuple[Bundle, int]]:
        def copies_for(stored: StoredBundle) -> int | None:
            if self._hands_over(stored.bundle, peer):
                return stored.copies
            if peer.kind is PeerKind.MOBILE and stored.copies > 1:
                return stored.copies // 2
            return None  # wait phase, or a gateway cut off from the surface

        return self._scan(store, peer, peer_seen, limit, copies_for, candidates=candidates)

    def on_delivered(self, store: BundleStore, peer: PeerInfo, bid: BundleId, copies_given: int) -> None:
        stored = store.get(bid)
        if stored is None:
            return
        if self._hands_over(stored.bundle, peer) or copies_given >= stored.copies:
            store.remove([bid], reason=f"custody to {peer.node_id}")
        else:
            store.set_copies(bid, stored.copies - copies_given)
            self._remember(store, peer, bid)


def make_router(
    policy: str,
    *,
    node_id: str,
    node_kind: PeerKind,
    hops_to_surface: int | None,
    spray_copies: int = 8,
    clock: Clock | None = None,
    carrier_handoff_after_s: float | None = None,
    carrier_copies: int = 1,
) -> Router:
    """The router of ``policy`` for one node.

    ``clock``, ``carrier_handoff_after_s`` and ``carrier_copies`` only concern ``static`` on a fixed gateway:
    hand passing carriers ``carrier_copies`` tokens of a copy of each bundle held longer than
    ``carrier_handoff_after_s`` (None: never), by the node's ``clock`` (the one its store uses).
    """
    if policy == "static":
        return StaticRouter(
            node_id,
            node_kind=node_kind,
            hops_to_surface=hops_to_surface,
            clock=clock,
            carrier_handoff_after_s=carrier_handoff_after_s,
            carrier_copies=carrier_copies,
        )
    if carrier_handoff_after_s is not None:
        raise ValueError(f"carrier_handoff_after_s is an option of static routing, not of {policy!r}")
    if policy == "epidemic":
        return EpidemicRouter(node_id)
    if policy == "spray":
        return SprayRouter(node_id, copies=spray_copies)
    if policy == "prophet":
        raise ValueError("routing policy 'prophet' is not implemented yet; use 'static', 'epidemic' or 'spray'")
    raise ValueError(f"routing policy {policy!r} is not one of {', '.join(POLICIES)}")


__all__ = [
    "POLICIES",
    "Bundle",
    "BundleId",
    "EpidemicRouter",
    "PeerInfo",
    "PeerKind",
    "Priority",
    "Router",
    "SprayRouter",
    "StaticRouter",
    "is_destination",
    "make_router",
]
