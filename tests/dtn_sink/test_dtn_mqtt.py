"""The MQTT side of the surface sink: topic and JSON mapping, and the publisher against a real Mosquitto broker."""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgpack
import pytest
from mosquitto_broker import MosquittoBroker, Subscriber, free_port, require_mosquitto

from edge.aio import within
from edge.dtn.bundle import Bundle, BundleId, Priority, make_bundle
from edge.dtn.mqtt import MqttPublisher, MqttUnavailable, bundle_message, bundle_topic, check_topic_prefix


def _bundle(kind: str = "alarm", body: object = None, *, seq: int = 1, source: str = "gw-3") -> Bundle:
    return make_bundle(
        source=source,
        created_ms=1_767_225_600_000,
        seq=seq,
        destination="surface",
        priority=Priority.ALARM,
        lifetime_s=3600,
        kind=kind,
        body={"gas": "ch4", "ppm": 12500} if body is None else body,
    ).forwarded_by("gw-2")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    broker = MosquittoBroker(require_mosquitto(), tmp_path)
    broker.start()
    yield broker
    broker.kill()


@pytest.fixture
async def publisher(broker: MosquittoBroker) -> AsyncIterator[MqttPublisher]:
    publisher = MqttPublisher(
        "127.0.0.1", broker.port, client_id="test-sink", rng=random.Random(1), backoff_initial_s=0.05
    )
    await publisher.start()
    yield publisher
    await publisher.close()


def test_topic_is_prefix_source_kind() -> None:
    assert bundle_topic("minegate", _bundle()) == "minegate/gw-3/alarm"
    assert bundle_topic("site-7/minegate", _bundle("readings")) == "site-7/minegate/gw-3/readings"


@pytest.mark.parametrize("prefix", ["", "/minegate", "minegate/", "a//b", "mine/+", "mine/#"])
def test_bad_topic_prefix_is_refused_with_the_rule(prefix: str) -> None:
    with pytest.raises(ValueError, match="must be non-empty levels separated by '/'"):
        check_topic_prefix(prefix)


def test_message_carries_id_metadata_and_decoded_payload() -> None:
    message = json.loads(bundle_message(_bundle()))
    assert message == {
        "v": 1,
        "id": "gw-3/1767225600000/1",
        "source": "gw-3",
        "created_ms": 1_767_225_600_000,
        "seq": 1,
        "destination": "surface",
        "priority": "alarm",
        "kind": "alarm",
        "hop_count": 1,
        "previous_node": "gw-2",
        "lifetime_ms": 3_600_000,
        "payload": {"gas": "ch4", "ppm": 12500},
    }


def test_message_turns_what_json_cannot_hold_into_text() -> None:
    body = {"raw": b"\x00\xff", "nan": math.nan, "inf": -math.inf, "when": msgpack.Timestamp(5, 0), "list": [1.5]}
    payload = json.loads(bundle_message(_bundle("readings", body)))["payload"]
    assert payload == {"raw": "AP8=", "nan": "nan", "inf": "-inf", "when": 5.0, "list": [1.5]}


def test_message_with_an_undecodable_payload_is_still_delivered_with_the_error() -> None:
    good = _bundle("bulk")
    broken = Bundle(good.id, good.destination, good.priority, good.lifetime_ms, good.kind, b"\xc1")
    message = json.loads(bundle_message(broken))
    assert message["payload"] is None
    assert message["payload_base64"] == "wQ=="
    assert "not valid msgpack" in message["payload_error"]


async def test_publish_reaches_a_real_subscriber_with_topic_and_json(
    broker: MosquittoBroker, publisher: MqttPublisher
) -> None:
    await within(publisher.wait_connected(), 10)
    async with Subscriber(broker.port) as subscriber:
        bundles = [_bundle("alarm", {"n": n}, seq=n) for n in range(20)]
        await asyncio.gather(*(publisher.publish(bundle_topic("minegate", b), bundle_message(b)) for b in bundles))
        await subscriber.wait_for(lambda s: len(s.received) >= 20)
    assert {topic for topic, _ in subscriber.received} == {"minegate/gw-3/alarm"}
    assert sorted(body["payload"]["n"] for _, body in subscriber.received) == list(range(20))
    assert subscriber.ids() == [str(BundleId("gw-3", 1_767_225_600_000, n)) for n in range(20)]  # in order
    assert publisher.stats().published == 20


async def test_publish_without_a_broker_raises_and_connects_once_the_broker_is_up(tmp_path: Path) -> None:
    broker = MosquittoBroker(require_mosquitto(), tmp_path, free_port())
    publisher = MqttPublisher(
        "127.0.0.1", broker.port, client_id="test-late", rng=random.Random(2), backoff_initial_s=0.05
    )
    await publisher.start()
    try:
        await asyncio.sleep(0.2)
        assert publisher.stats().connect_failures >= 1
        with pytest.raises(MqttUnavailable, match="not connected"):
            await publisher.publish("minegate/gw-3/alarm", b"{}")
        broker.start()
        await within(publisher.wait_connected(), 10)
        assert await publisher.publish("minegate/gw-3/alarm", b"{}") == publisher.connection_number == 1
        broker.kill()
        with pytest.raises(MqttUnavailable):
            await _publish_until_refused(publisher)
        assert publisher.stats().connections_lost == 1
    finally:
        await publisher.close()
        broker.kill()


async def _publish_until_refused(publisher: MqttPublisher) -> None:
    for _ in range(200):  # the loss is seen when the socket reports it, within a few loop turns
        await publisher.publish("minegate/gw-3/alarm", b"{}")
        await asyncio.sleep(0.01)
