"""AlarmEvent codec: msgpack round trips for any event, and clear errors for malformed dicts."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.alarms.events import AlarmEvent, AlarmState, EventDecodeError, Transition
from edge.rules.signals import Priority, SignalClass

finite = st.floats(allow_nan=False, allow_infinity=False)

events = st.builds(
    AlarmEvent,
    seq=st.integers(min_value=0, max_value=2**63 - 1),
    alarm_id=st.text(),
    source=st.text(),
    signal=st.sampled_from(SignalClass),
    priority=st.sampled_from(Priority),
    state=st.sampled_from(AlarmState),
    latched=st.booleans(),
    shelved=st.booleans(),
    transition=st.sampled_from(Transition),
    value=st.none() | finite,
    limit=st.none() | finite,
    unit=st.text(),
    message=st.text(),
    action=st.text(),
    statutory=st.booleans(),
    outputs=st.lists(st.text(), max_size=4).map(tuple),
    user=st.text(),
    note=st.text(),
    t_wall=finite,
    t_mono=finite,
    chattering=st.booleans(),
    shelve_expires_wall=st.none() | finite,
)


@given(events)
def test_any_event_survives_a_msgpack_round_trip(event: AlarmEvent) -> None:
    wire = msgpack.packb(event.to_dict(), use_bin_type=True)
    assert AlarmEvent.from_dict(msgpack.unpackb(wire, raw=False)) == event


def sample() -> dict[str, object]:
    return AlarmEvent(
        seq=1,
        alarm_id="ch4:trip",
        source="ch4",
        signal=SignalClass.ALARM,
        priority=Priority.CRITICAL,
        state=AlarmState.UNACK,
        latched=True,
        shelved=False,
        transition=Transition.ACTIVATED,
        value=1.6,
        limit=1.5,
        unit="%CH4",
        message="m",
        action="a",
        statutory=True,
        outputs=("siren",),
        user="",
        note="",
        t_wall=1.0,
        t_mono=2.0,
    ).to_dict()


def test_to_dict_uses_primitives_only() -> None:
    d = sample()
    assert (d["signal"], d["priority"], d["state"], d["outputs"]) == (
        "alarm",
        1,
        "active_unacknowledged",
        ["siren"],
    )
    assert type(d["signal"]) is str
    assert type(d["priority"]) is int


def test_whole_number_floats_decoded_as_int_are_accepted() -> None:
    d = sample() | {"t_wall": 5, "value": 2}
    event = AlarmEvent.from_dict(d)
    assert (event.t_wall, event.value) == (5.0, 2.0)
    assert isinstance(event.t_wall, float)


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ({"state": "confused"}, "invalid value"),
        ({"priority": 9}, "invalid value"),
        ({"latched": 1}, "'latched' must be bool"),
        ({"seq": 1.5}, "'seq' must be int"),
        ({"outputs": "siren"}, "'outputs' must be a list of str"),
        ({"value": "1.6"}, "'value' must be a number"),
    ],
)
def test_malformed_dicts_raise_a_decode_error_naming_the_field(patch: dict[str, object], match: str) -> None:
    with pytest.raises(EventDecodeError, match=match):
        AlarmEvent.from_dict(sample() | patch)


def test_missing_field_is_named() -> None:
    d = sample()
    del d["transition"]
    with pytest.raises(EventDecodeError, match="missing field 'transition'"):
        AlarmEvent.from_dict(d)
