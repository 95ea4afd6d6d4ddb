"""Status register values are derived from the quality conditions alone, for any vendor's layout."""

from __future__ import annotations

import pytest
from sim_fixtures import midas_o2, xnx_methane

from edge.config.resolved import ConditionKind, DeviceSpec, QualityCondition
from edge.readings import Quality, QualityReason
from edge.sim.states import DeviceState
from edge.sim.status_registers import StatusDerivationError, healthy_raw, raw_matching, status_raws


def _matching_reasons(spec: DeviceSpec, raws: dict[str, float]) -> set[QualityReason]:
    return {c.reason for c in spec.quality_conditions if c.matches(raws[c.point])}


TRANSMITTERS = (xnx_methane("x", bus_id="b", unit_id=1, point_id="p"), midas_o2("m", bus_id="b", unit_id=2))


@pytest.mark.parametrize("spec", TRANSMITTERS, ids=["xnx", "midas"])
def test_online_status_matches_no_condition(spec: DeviceSpec) -> None:
    assert _matching_reasons(spec, status_raws(spec, DeviceState.ONLINE)) == set()


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (DeviceState.FAULT, QualityReason.FAULT),
        (DeviceState.INHIBIT, QualityReason.INHIBIT),
        (DeviceState.WARM_UP, QualityReason.WARM_UP),
    ],
)
def test_each_state_matches_its_reason_only(state: DeviceState, reason: QualityReason) -> None:
    for spec in TRANSMITTERS:
        assert _matching_reasons(spec, status_raws(spec, state)) == {reason}, spec.profile


def test_xnx_fault_sets_both_fault_registers() -> None:
    spec = xnx_methane("x", bus_id="b", unit_id=1, point_id="p")
    raws = status_raws(spec, DeviceState.FAULT)
    assert int(raws["status"]) & (1 << 6)
    assert 1000 <= raws["fault_number"] <= 1999


def test_midas_healthy_state_field_is_monitoring_not_warm_up() -> None:
    # Bits 0-3 = 0 means warm-up on a Midas, so the healthy search must skip 0.
    spec = midas_o2("m", bus_id="b", unit_id=2)
    assert healthy_raw(spec, "status") == 1


def test_masked_condition_keeps_other_bits() -> None:
    condition = QualityCondition(
        "status", ConditionKind.EQUALS, Quality.BAD, QualityReason.INHIBIT, values=(8,), mask=0x000F
    )
    raw = raw_matching(condition, healthy=0x0801)
    assert int(raw) == 0x0808
    assert condition.matches(raw)


def test_unsatisfiable_condition_is_a_clear_error() -> None:
    condition = QualityCondition("status", ConditionKind.IN_SET, Quality.BAD, QualityReason.FAULT, values=())
    with pytest.raises(StatusDerivationError, match="cannot be made to match"):
        raw_matching(condition, healthy=0)
