"""The simulation going on into the next shift: who is in the mine, both horizons, the stranded alarms."""

from __future__ import annotations

from dataclasses import replace

import pytest

from edge.dtn.bundle import Priority
from edge.dtn.simulation.cli import main, tiny_config
from edge.dtn.simulation.contacts import mobile_contacts
from edge.dtn.simulation.report import metrics
from edge.dtn.simulation.scenario import PRESHIFT_WINDOW_S, SimConfig, World, build_world, run
from edge.dtn.simulation.traffic import TrafficParams
from edge.sim.mine_layout import LayoutParams


def _config(policy: str = "epidemic", seed: int = 1) -> SimConfig:
    """A small mine with a fall 200 s before the shift ends: alarms raised inby of it are stranded when the crew is
    out. 16 crosscuts, not the tiny mine's 11: there the parked machines hear a gateway outby of the fall."""
    base = tiny_config(policy=policy, scenario="incident", mobile_nodes=6, seed=seed)
    return replace(
        base,
        layout=LayoutParams(entries=3, crosscuts=16, refuge_crosscuts_outby=2),
        incident_after_s=7000.0,
        traffic=TrafficParams(alarm_per_gateway_per_h=300.0, bulk_every_s=600.0),
        next_shift_s=3600.0,
    )


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(_config())


def test_the_next_shift_has_an_examiner_other_people_and_the_same_machines(world: World) -> None:
    ns = world.next_shift
    assert ns is not None
    first = world.trajectories[: world.first_shift]
    first_ids = {t.miner_id for t in first}
    assert ns.examiner is not None
    assert ns.examiner not in first_ids
    assert ns.crew
    assert not first_ids & set(ns.crew)
    assert set(ns.machines) <= first_ids  # the same nodes (and stores) work on
    assert len({t.miner_id for t in world.trajectories}) == len(world.trajectories)
    # the examination: within the 3 hours before the shift, after the first crew is out, done before the crew enters
    assert ns.start - PRESHIFT_WINDOW_S <= ns.examiner_enters < ns.examiner_out < ns.start
    assert ns.examiner_enters >= world.drain_end
    people = [t for t in first if t.role in ("worker", "supervisor")]
    assert max(float(t.t[-1]) for t in people) <= world.shift_end
    crew = [t for t in world.trajectories if t.miner_id in ns.crew]
    assert min(float(t.t[0]) for t in crew) >= ns.start
    assert world.horizon == ns.horizon == ns.start + 3600.0


def test_split_contacts_are_the_contacts_of_one_pass(world: World) -> None:
    whole = mobile_contacts(world.layout, world.positions, 5.0, range_m=50.0)
    mid_shift = world.start + 3000.0
    assert any(c.start < mid_shift < c.end for c in whole)  # so a join across a boundary is tested
    split = mobile_contacts(world.layout, world.positions, 5.0, range_m=50.0, split_at=[mid_shift, world.drain_end])
    assert sorted(whole, key=repr) == sorted(split, key=repr)


@pytest.mark.parametrize("policy", ["static", "epidemic", "spray"])
def test_alarms_stranded_at_the_shift_change_leave_with_the_next_shift(world: World, policy: str) -> None:
    result = run(replace(_config(policy)), world, keep_open=True)
    try:
        result.engine.check_mirror()
        tally, drained = result.tally, result.drain_tally
        assert tally.sink_redelivered == 0
        assert set(drained.delivered) <= set(tally.delivered)
        assert all(tally.delivered[b] == t for b, t in drained.delivered.items())
        inby = {g for g, h in world.network.hops(world.blocked).items() if h is None}
        assert world.t_cut is not None
        stranded = [
            b
            for b, t in tally.created.items()
            if tally.priority[b] is Priority.ALARM and b.source in inby and world.t_cut <= t < world.shift_end
        ]
        assert len(stranded) >= 4
        at_drain = sum(b in drained.delivered for b in stranded)
        at_end = sum(b in tally.delivered for b in stranded)
        assert at_drain <= 3  # the fall came as the crew walked out
        if policy == "static":
            assert at_end == 0  # nobody gives a carrier anything
        else:
            assert at_end == len(stranded)  # the examiner or the crew carried them out
            assert all(
                tally.delivered[b] > world.drain_end
                for b in stranded
                if b in tally.delivered and b not in drained.delivered
            )
        m = metrics(result)
        assert m.next_shift is not None
        alarm_drain = next(c for c in m.by_class if c.priority == "alarm")
        alarm_end = next(c for c in m.next_shift.by_class if c.priority == "alarm")
        assert alarm_end.created == alarm_drain.created  # the first shift's alarms, counted twice
        assert alarm_end.delivered == alarm_drain.delivered + at_end - at_drain
        assert m.next_shift.own_by_class  # the next shift's traffic is there, reported apart
        assert m.at_work == world.first_shift
    finally:
        result.close()


def test_without_a_next_shift_the_run_ends_after_the_drain() -> None:
    config = tiny_config(policy="spray", scenario="incident", mobile_nodes=4, seed=2)
    result = run(config)
    assert result.world.next_shift is None
    assert result.drain_tally is result.tally
    assert result.engine.now == result.world.drain_end
    assert metrics(result).next_shift is None


def test_bad_next_shift_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="next_shift_s"):
        replace(tiny_config(policy="spray", scenario="normal", mobile_nodes=2, seed=1), next_shift_s=-1.0)
    with pytest.raises(ValueError, match="shift_gap_s"):
        replace(
            tiny_config(policy="spray", scenario="normal", mobile_nodes=2, seed=1), next_shift_s=60.0, shift_gap_s=0
        )
    with pytest.raises(ValueError, match="length of a shift"):
        replace(tiny_config(policy="spray", scenario="normal", mobile_nodes=2, seed=1), next_shift_s=3 * 3600.0)
    assert main(["--tiny", "--nodes", "2", "--next-shift-h", "-1"]) == 2
    assert main(["--tiny", "--nodes", "2", "--next-shift-h", "1", "--shift-gap-h", "0"]) == 2
