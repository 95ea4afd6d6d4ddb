"""Routing policies against real in-memory bundle stores: what is offered, in what order, and custody."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edge.clock import FakeClock
from edge.dtn.bundle import SURFACE, Bundle, BundleId, Priority
from edge.dtn.routing import PeerInfo, PeerKind, Router, make_router
from edge.dtn.store import Accept, BundleStore

SINK = PeerInfo("surface", PeerKind.SURFACE, 0)
CARRIER = PeerInfo("m001", PeerKind.MOBILE, None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _store(clock: FakeClock, node: str = "g5", capacity: int = 10_000_000) -> BundleStore:
    return BundleStore(":memory:", node_id=node, capacity_bytes=capacity, clock=clock, durable=False)


@pytest.fixture
def store(clock: FakeClock) -> Iterator[BundleStore]:
    s = _store(clock)
    yield s
    s.close()


def _add(store: BundleStore, priority: Priority, *, copies: int = 1, destination: str = SURFACE) -> Bundle:
    bundle = store.create(
        destination=destination, priority=priority, kind="test", body={"p": int(priority)}, lifetime_s=3600
    )
    assert store.put(bundle, copies=copies) is Accept.STORED
    return bundle


def _deliver(router: Router, store: BundleStore, peer: PeerInfo, offered: list[tuple[Bundle, int]]) -> None:
    for bundle, copies in offered:
        router.on_delivered(store, peer, bundle.id, copies)


def _gateway(hops: int = 3, **kw: object) -> Router:
    return make_router("static", node_id="g5", node_kind=PeerKind.FIXED, hops_to_surface=hops, **kw)  # type: ignore[arg-type]


def test_static_offers_in_priority_order_alarm_first(store: BundleStore) -> None:
    bulk = _add(store, Priority.BULK)
    telemetry = _add(store, Priority.TELEMETRY)
    alarm = _add(store, Priority.ALARM)
    movement = _add(store, Priority.MOVEMENT)
    offered = _gateway().select(store, PeerInfo("g3", PeerKind.FIXED, 2), None, limit=10)
    assert [b.id for b, _ in offered] == [alarm.id, movement.id, telemetry.id, bulk.id]
    assert [b.id for b, _ in _gateway().select(store, SINK, None, limit=2)] == [alarm.id, movement.id]


def test_static_never_sends_away_from_the_surface(store: BundleStore) -> None:
    _add(store, Priority.ALARM)
    router = _gateway(hops=3)
    for peer in (
        PeerInfo("g7", PeerKind.FIXED, 3),  # same distance
        PeerInfo("g9", PeerKind.FIXED, 4),  # further in
        PeerInfo("g1", PeerKind.FIXED, None),  # a gateway cut off from the surface
        CARRIER,  # no carrier hand-off configured
    ):
        assert router.select(store, peer, None, limit=10) == [], peer
    assert len(router.select(store, PeerInfo("g3", PeerKind.FIXED, 2), None, limit=10)) == 1


def test_custody_nothing_deleted_before_on_delivered(store: BundleStore) -> None:
    bundles = [_add(store, p) for p in (Priority.ALARM, Priority.BULK)]
    uplink = PeerInfo("g3", PeerKind.FIXED, 2)
    router = _gateway()
    offered = router.select(store, uplink, None, limit=10)
    offered_again = router.select(store, uplink, None, limit=10)
    assert offered == offered_again  # select is read-only: nothing moved, nothing deleted
    assert store.ids() == {b.id for b in bundles}
    router.on_delivered(store, uplink, bundles[0].id, 1)
    assert store.ids() == {bundles[1].id}
    assert store.has_seen(bundles[0].id)  # tombstoned: it will be refused as a duplicate if it comes back


def test_static_carrier_hands_custody_to_any_gateway_that_reaches_the_surface(clock: FakeClock) -> None:
    store = _store(clock, "m001")
    alarm = _add(store, Priority.ALARM)
    router = make_router("static", node_id="m001", node_kind=PeerKind.MOBILE, hops_to_surface=None)
    assert router.select(store, PeerInfo("m002", PeerKind.MOBILE, None), None, limit=10) == []
    assert router.select(store, PeerInfo("g9", PeerKind.FIXED, None), None, limit=10) == []
    gateway = PeerInfo("g9", PeerKind.FIXED, 7)
    offered = router.select(store, gateway, None, limit=10)
    assert [b.id for b, _ in offered] == [alarm.id]
    _deliver(router, store, gateway, offered)
    assert store.ids() == set()


def test_gateway_hands_stuck_bundles_to_carriers_as_copies_and_keeps_custody(
    store: BundleStore, clock: FakeClock
) -> None:
    router = _gateway(clock=clock, carrier_handoff_after_s=120.0)
    readings = _add(store, Priority.TELEMETRY)
    assert router.select(store, CARRIER, None, limit=10) == []  # not stuck yet: the chain may still take it
    clock.advance(121)
    fresh = _add(store, Priority.TELEMETRY)
    offered = router.select(store, CARRIER, None, limit=10)
    assert offered == [(readings, 1)]
    _deliver(router, store, CARRIER, offered)
    assert store.ids() == {readings.id, fresh.id}  # custody stays at the gateway
    assert router.select(store, CARRIER, None, limit=10) == []  # this carrier already has it
    other = PeerInfo("m002", PeerKind.MOBILE, None)
    assert [b.id for b, _ in router.select(store, other, None, limit=10)] == [readings.id]
    assert router.select(store, other, {readings.id}, limit=10) == []  # its summary says it has it


def test_gateway_hands_alarms_to_carriers_at_once(store: BundleStore, clock: FakeClock) -> None:
    router = _gateway(clock=clock, carrier_handoff_after_s=120.0)
    _add(store, Priority.BULK)
    alarm = _add(store, Priority.ALARM)
    assert router.select(store, CARRIER, None, limit=10) == [(alarm, 1)]
    assert _gateway().select(store, CARRIER, None, limit=10) == []  # hand-off not configured: nothing


def test_epidemic_never_reoffers_what_the_peer_has_seen(clock: FakeClock) -> None:
    store = _store(clock, "m001")
    a, b, c = (_add(store, p) for p in (Priority.ALARM, Priority.MOVEMENT, Priority.BULK))
    router = make_router("epidemic", node_id="m001", node_kind=PeerKind.MOBILE, hops_to_surface=None)
    assert router.wants_summary()
    peer = PeerInfo("m002", PeerKind.MOBILE, None)
    offered = router.select(store, peer, {b.id}, limit=10)
    assert [x.id for x, _ in offered] == [a.id, c.id]
    _deliver(router, store, peer, offered)
    assert store.ids() == {a.id, b.id, c.id}  # epidemic keeps its copies
    # without a summary: only what it was not given already
    assert [x.id for x, _ in router.select(store, peer, None, limit=10)] == [b.id]
    assert router.select(store, peer, {b.id}, limit=10) == []
    # the destination takes it for good: the copy goes
    offered = router.select(store, SINK, set(), limit=10)
    _deliver(router, store, SINK, offered[:1])
    assert store.ids() == {b.id, c.id}


def test_epidemic_drops_what_the_destination_summary_shows_delivered(clock: FakeClock) -> None:
    store = _store(clock, "m001")
    a, b = _add(store, Priority.ALARM), _add(store, Priority.BULK)
    router = make_router("epidemic", node_id="m001", node_kind=PeerKind.MOBILE, hops_to_surface=None)
    assert router.on_summary(store, PeerInfo("m002", PeerKind.MOBILE, None), {a.id}) == 0  # a relay proves nothing
    assert router.on_summary(store, SINK, {a.id, BundleId("x", 1, 1)}) == 1
    assert store.ids() == {b.id}


def test_spray_halves_copies_then_waits(clock: FakeClock) -> None:
    store = _store(clock, "m001")
    router = make_router("spray", node_id="m001", node_kind=PeerKind.MOBILE, hops_to_surface=None, spray_copies=8)
    assert router.initial_copies == 8
    bundle = _add(store, Priority.MOVEMENT, copies=router.initial_copies)
    held = 8
    for n in range(2, 6):
        peer = PeerInfo(f"m{n:03d}", PeerKind.MOBILE, None)
        offered = router.select(store, peer, set(), limit=10)
        if held == 1:
            assert offered == []  # wait phase: only the destination (or a gateway that reaches it)
            break
        assert offered == [(bundle, held // 2)]
        _deliver(router, store, peer, offered)
        held -= held // 2
        stored = store.get(bundle.id)
        assert stored is not None
        assert stored.copies == held
    assert held == 1
    assert router.select(store, PeerInfo("g9", PeerKind.FIXED, None), set(), limit=10) == []  # cut-off gateway
    gateway = PeerInfo("g9", PeerKind.FIXED, 4)
    offered = router.select(store, gateway, set(), limit=10)
    assert offered == [(bundle, 1)]
    _deliver(router, store, gateway, offered)
    assert store.get(bundle.id) is None


def test_spray_does_not_spray_to_a_peer_that_has_seen_it(clock: FakeClock) -> None:
    store = _store(clock, "m001")
    router = make_router("spray", node_id="m001", node_kind=PeerKind.MOBILE, hops_to_surface=None, spray_copies=4)
    bundle = _add(store, Priority.ALARM, copies=4)
    assert router.select(store, PeerInfo("m002", PeerKind.MOBILE, None), {bundle.id}, limit=10) == []


def test_never_offered_back_to_where_it_came_from(clock: FakeClock) -> None:
    store = _store(clock, "m001")
    source = _store(clock, "m002")
    bundle = source.create(destination=SURFACE, priority=Priority.ALARM, kind="t", body=1, lifetime_s=60)
    assert store.put(bundle.forwarded_by("m002")) is Accept.STORED
    router = make_router("epidemic", node_id="m001", node_kind=PeerKind.MOBILE, hops_to_surface=None)
    assert router.select(store, PeerInfo("m002", PeerKind.MOBILE, None), None, limit=5) == []
    assert len(router.select(store, PeerInfo("m003", PeerKind.MOBILE, None), None, limit=5)) == 1
    source.close()
    store.close()


def test_limit_and_many_bundles_page_through_the_store(store: BundleStore) -> None:
    for _ in range(150):
        _add(store, Priority.TELEMETRY)
    alarm = _add(store, Priority.ALARM)
    offered = _gateway().select(store, SINK, None, limit=100)
    assert len(offered) == 100
    assert offered[0][0].id == alarm.id


@pytest.mark.parametrize(
    ("policy", "kwargs", "message"),
    [
        ("flood", {}, "not one of"),
        ("prophet", {}, "not implemented"),
        ("static", {"node_kind": PeerKind.FIXED, "hops_to_surface": None}, "hops_to_surface"),
        ("static", {"carrier_handoff_after_s": 60.0}, "clock"),
        ("epidemic", {"carrier_handoff_after_s": 60.0}, "static"),
        ("spray", {"spray_copies": 0}, "spray_copies"),
    ],
)
def test_bad_configuration_is_refused_with_a_clear_error(policy: str, kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"node_id": "g1", "node_kind": PeerKind.FIXED, "hops_to_surface": 2}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        make_router(policy, **args)  # type: ignore[arg-type]


def test_peer_info_is_validated() -> None:
    with pytest.raises(ValueError, match="hops_to_surface"):
        PeerInfo("g1", PeerKind.FIXED, -1)
    with pytest.raises(ValueError, match="node_id"):
        PeerInfo("no spaces", PeerKind.FIXED, 1)


@pytest.mark.parametrize("policy", ["static", "epidemic", "spray"])
def test_a_candidate_hint_gives_the_same_answer(clock: FakeClock, policy: str) -> None:
    store = _store(clock, "m001")
    bundles = [_add(store, p, copies=4) for p in (Priority.BULK, Priority.ALARM, Priority.TELEMETRY, Priority.ALARM)]
    router = make_router(policy, node_id="m001", node_kind=PeerKind.MOBILE, hops_to_surface=None)
    seen = {bundles[0].id}
    unseen = [b.id for b in bundles[1:]] + [BundleId("elsewhere", 5, 5)]  # ids not held are ignored
    for peer in (SINK, PeerInfo("g2", PeerKind.FIXED, 1), PeerInfo("m009", PeerKind.MOBILE, None)):
        plain = router.select(store, peer, seen, limit=10)
        hinted = router.select(store, peer, seen, limit=10, candidates=unseen)
        assert plain == hinted, peer
        assert router.select(store, peer, seen, limit=1, candidates=unseen) == plain[:1]
