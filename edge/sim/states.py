"""What a simulated field device is doing, as a scenario or a test sets it."""

from __future__ import annotations

import enum


class DeviceState(enum.StrEnum):
    """Behaviour of one simulated device on its bus.

    The non-``ONLINE`` states reproduce what a gateway meets in the field, each of which must end in a reading
    of bad quality rather than a plausible number.
    """

    ONLINE = "online"  # answers, values follow the scenario, heartbeat moves
    OFFLINE = "offline"  # sends no response at all: the gateway's request times out
    FAULT = "fault"  # answers, status registers report a fault, measured values forced to raw 0
    INHIBIT = "inhibit"  # answers, status registers report inhibit/maintenance, values forced to raw 0
    WARM_UP = "warm_up"  # answers, status registers report warm-up, values forced to raw 0
    FROZEN = "frozen"  # answers with the last register image: values and heartbeat stop moving
