"""Field failures end to end: a transmitter that vanishes from its bus, and one that reports a fault.

Neither may ever look like clean air: both must turn the methane point BAD and raise its malfunction alarm,
and a dead device must not take its healthy neighbour on the same bus down with it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from integration_support import (
    CO,
    METHANE,
    METHANE_MALFUNCTION,
    POLL_S,
    RETRIES,
    TIMEOUT_S,
    BusKindName,
    gateway_started,
    running_site,
    wait_until,
    write_section_config,
)

from edge.readings import Quality, QualityReason
from edge.rules.signals import SignalClass
from edge.sim.states import DeviceState

pytestmark = pytest.mark.integration

# modbus_bus.py documents that a dead device costs at most (retries + 1) * timeout before it is reported;
# the next poll of it starts within one poll interval, and one more interval covers a poll of its
# neighbour that happens to be on the wire at that moment.
MALFUNCTION_BOUND_S = 2 * POLL_S + TIMEOUT_S * (RETRIES + 1)


@pytest.mark.parametrize("field_kind", ["tcp", "rtu"])
async def test_vanished_device_raises_malfunction_within_bound(tmp_path: Path, field_kind: BusKindName) -> None:
    config = write_section_config(tmp_path, field_kind=field_kind)
    async with running_site(config) as site:
        await gateway_started(site)
        co_good_before = sum(1 for r in site.gateway.readings if r.point_id == CO and r.quality is Quality.GOOD)

        vanished_at = time.monotonic()
        site.mine.set_device_state("mm12", DeviceState.OFFLINE)
        alarm = await wait_until(
            lambda: site.standing().get(METHANE_MALFUNCTION), what="malfunction alarm of the vanished methane head"
        )
        delay_s = time.monotonic() - vanished_at
        print(  # noqa: T201 - the measured delay is a figure the issue asks to see in the test output
            f"\n[{field_kind}] vanished device -> malfunction alarm in {delay_s * 1000:.0f} ms "
            f"(bound {MALFUNCTION_BOUND_S * 1000:.0f} ms)"
        )
        assert delay_s <= MALFUNCTION_BOUND_S, f"malfunction after {delay_s:.3f} s, bound {MALFUNCTION_BOUND_S:.3f} s"
        assert alarm.signal is SignalClass.MALFUNCTION
        assert alarm.statutory
        latest = site.gateway.latest[METHANE]
        assert latest.quality is Quality.BAD
        assert latest.reason is QualityReason.COMM_LOSS

        # The neighbour on the same bus keeps reporting good readings while the dead head is retried.
        observed_from = len(site.gateway.readings)
        await wait_until(
            lambda: sum(1 for r in site.gateway.readings[observed_from:] if r.point_id == CO) >= 4,
            what="four more CO readings while the methane head is gone",
        )
        co_since = [r for r in site.gateway.readings[observed_from:] if r.point_id == CO]
        assert all(r.quality is Quality.GOOD for r in co_since), [(r.quality, r.reason, r.detail) for r in co_since]
        assert co_good_before > 0
        assert f"{CO}:malfunction" not in site.standing()
        # The dead head stays BAD the whole time (its alarm must not flicker off between back-off retries).
        methane_since = [r for r in site.gateway.readings[observed_from:] if r.point_id == METHANE]
        assert methane_since, "a device in back-off still reports COMM_LOSS at its poll interval"
        assert all(r.quality is Quality.BAD for r in methane_since)

        # It comes back: good readings again and the malfunction condition clears.
        site.mine.set_device_state("mm12", None)
        await wait_until(
            lambda: (e := site.standing().get(METHANE_MALFUNCTION)) is not None and not e.state.condition_active,
            what="malfunction cleared after the head answers again",
        )
        assert site.gateway.latest[METHANE].quality is Quality.GOOD


async def test_transmitter_fault_is_bad_reading_and_malfunction(tmp_path: Path) -> None:
    config = write_section_config(tmp_path, field_kind="tcp")
    async with running_site(config) as site:
        await gateway_started(site)
        fault_from = len(site.gateway.readings)
        site.mine.set_device_state("mm12", DeviceState.FAULT)

        alarm = await wait_until(
            lambda: site.standing().get(METHANE_MALFUNCTION), what="malfunction alarm of the faulted methane head"
        )
        assert alarm.signal is SignalClass.MALFUNCTION
        assert "fault" in alarm.message
        latest = site.gateway.latest[METHANE]
        assert latest.quality is Quality.BAD
        assert latest.reason is QualityReason.FAULT
        # Hold the fault for a few more polls: every one of them must stay BAD/fault.
        await wait_until(
            lambda: sum(1 for r in site.gateway.readings[fault_from:] if r.point_id == METHANE) >= 5,
            what="five methane readings during the fault",
        )
        site.mine.set_device_state("mm12", None)
        recovered = await wait_until(
            lambda: next(
                (
                    i
                    for i, r in enumerate(site.gateway.readings[fault_from:], start=fault_from)
                    if r.point_id == METHANE and r.quality is Quality.GOOD
                ),
                None,
            ),
            what="good methane reading after the fault clears",
        )

        during = [r for r in site.gateway.readings[fault_from:recovered] if r.point_id == METHANE]
        # The transmitter forces its concentration register to 0 in fault; the gateway must never pass that
        # on as a good 0 %, which would read as perfectly clean air. At most the readings decoded before
        # the fault reached the registers (still the old, non-zero value) may be good.
        good_zero = [r for r in during if r.quality is Quality.GOOD and r.value == 0.0]
        assert not good_zero, f"a faulted transmitter produced a good 0: {good_zero[0]}"
        bad = [r for r in during if r.quality is Quality.BAD]
        assert len(bad) >= 4
        assert all(r.reason is QualityReason.FAULT for r in bad), {r.reason for r in bad}
        assert all(r.quality is Quality.BAD for r in during if r.value == 0.0)
