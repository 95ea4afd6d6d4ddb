"""Methane build-up end to end: transmitter registers -> bus owner -> rules -> alarm manager -> relay coils.

The gas transmitter sits on Modbus TCP or on Modbus RTU over a real pty; the relay module is on Modbus TCP in
both cases (as in the demo mine). Every relay assertion reads the simulated relay module's coil log, i.e.
what the module actually received over the wire, not what the gateway believes it wrote.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from integration_support import (
    METHANE,
    METHANE_ALARM,
    METHANE_ALARM_LEVEL,
    METHANE_ALERT,
    METHANE_ALERT_LEVEL,
    METHANE_CLEAN,
    BusKindName,
    Site,
    gateway_started,
    running_site,
    wait_until,
    write_section_config,
)

from edge.alarms.events import AlarmState, Transition
from edge.control import request

pytestmark = pytest.mark.integration


async def control(site: Site, payload: dict[str, Any]) -> dict[str, Any]:
    """One request over the gateway's real control socket, as `minegate alarms` sends it."""
    return await asyncio.to_thread(request, site.config.control_endpoint, payload, timeout_s=5.0)


@pytest.mark.parametrize("field_kind", ["tcp", "rtu"])
async def test_methane_alert_alarm_trip_ack_and_reset(tmp_path: Path, field_kind: BusKindName) -> None:
    config = write_section_config(tmp_path, field_kind=field_kind)
    async with running_site(config) as site:
        await gateway_started(site)
        assert site.standing() == {}, "clean air must not raise anything"
        power_trip_writes_before = len(site.coil_writes("power_trip"))

        # 1.25 %: the alert (beacon) only; power stays on.
        site.set_methane(METHANE_ALERT_LEVEL)
        await wait_until(lambda: METHANE_ALERT in site.standing(), what="methane alert")
        await wait_until(lambda: site.last_coil("beacon") is True, what="beacon coil on at the relay module")
        assert METHANE_ALARM not in site.standing()
        assert all(w.value for w in site.coil_writes("power_trip")[power_trip_writes_before:]), (
            "power must not be tripped by an alert"
        )

        # 2.0 %: the alarm; the fail-safe power_trip coil is written False (de-energized = tripped).
        site.set_methane(METHANE_ALARM_LEVEL)
        alarm = await wait_until(lambda: site.standing().get(METHANE_ALARM), what="methane alarm")
        assert alarm.state is AlarmState.UNACK
        assert alarm.latched
        assert alarm.statutory
        assert alarm.seq > site.standing()[METHANE_ALERT].seq, "the alert must come before the alarm"
        await wait_until(lambda: site.last_coil("power_trip") is False, what="power_trip coil de-energized")
        await wait_until(lambda: site.last_coil("siren") is True, what="siren coil on")
        trip_write = next(w for w in site.coil_writes("power_trip") if not w.value)
        assert trip_write.t_wall >= alarm.t_wall - 0.05, "the trip came from this alarm, not earlier"

        # Acknowledge over the control socket: the siren goes off, the trip stays.
        reply = await control(site, {"cmd": "ack", "alarm_id": None, "user": "foreman"})
        assert reply["ok"], reply
        acked = {e["alarm_id"] for e in reply["events"] if e["transition"] == Transition.ACKNOWLEDGED.value}
        assert {METHANE_ALERT, METHANE_ALARM} <= acked
        await wait_until(lambda: site.last_coil("siren") is False, what="siren coil off after acknowledge")
        assert site.last_coil("power_trip") is False, "acknowledge must not restore power"

        # Reset while methane is still high is refused, and power stays off.
        reply = await control(site, {"cmd": "reset", "alarm_id": METHANE_ALARM, "user": "foreman"})
        assert not reply["ok"]
        assert "still active" in reply["error"]
        assert site.last_coil("power_trip") is False

        # Methane clears below 1.0 %: the alarm stays latched (power still off) until reset.
        site.set_methane(METHANE_CLEAN)
        await wait_until(
            lambda: (e := site.standing().get(METHANE_ALARM)) is not None and not e.state.condition_active,
            what="methane alarm condition cleared",
        )
        assert site.standing()[METHANE_ALARM].latched
        await asyncio.sleep(0.6)  # more than a relay refresh period: nothing may re-energize on its own
        assert site.last_coil("power_trip") is False, "a latched trip must hold until reset"

        reply = await control(site, {"cmd": "reset", "alarm_id": METHANE_ALARM, "user": "foreman"})
        assert reply["ok"], reply
        assert [e["transition"] for e in reply["events"]] == [Transition.RESET.value]
        await wait_until(lambda: site.last_coil("power_trip") is True, what="power_trip re-energized after reset")
        await wait_until(lambda: site.last_coil("beacon") is False, what="beacon off once everything cleared")
        assert METHANE_ALARM not in site.standing()
        assert site.gateway.latest[METHANE].quality.value == "good"
