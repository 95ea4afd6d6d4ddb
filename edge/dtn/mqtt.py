"""MQTT publishing of delivered bundles: the topic and JSON message a bundle becomes, and a publisher that keeps a
connection to the mine's broker and confirms each message at PUBACK.

Topics are ``<prefix>/<source node>/<kind>`` (``minegate/gw-3/alarm``): a SCADA or cloud consumer subscribes per
gateway, per kind or to everything with the usual wildcards. Node ids and kinds cannot contain ``/``, ``+`` or
``#`` (see ``edge.dtn.bundle``), so a topic always has exactly those levels under the prefix.

The message is JSON, because the consumers are not Python and do not speak msgpack. It carries the bundle id:
QoS 1 is at-least-once (a message is republished when its PUBACK was lost to a broken connection), so consumers
deduplicate on ``id``.

The publisher never queues on its own: ``publish`` returns only after the broker's PUBACK and raises
``MqttUnavailable`` when there is no connection or the connection is lost first. Whoever calls it keeps the
message (the sink keeps it in its durable store) and publishes again after ``wait_connected``. A background task
reconnects with exponential back-off and jitter.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import math
import random
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt
import msgpack

from edge.aio import within
from edge.dtn.bundle import Bundle, BundleError

log = logging.getLogger(__name__)

DEFAULT_TOPIC_PREFIX = "minegate"
MESSAGE_VERSION = 1  # of the JSON message below; consumers can refuse versions they do not know


class MqttUnavailable(Exception):
    """The broker did not confirm the message (no connection, or it was lost before PUBACK): publish it again."""


def check_topic_prefix(prefix: str) -> str:
    """A topic prefix is one or more non-empty levels without wildcards: ``minegate``, ``site-7/minegate``."""
    if (
        not isinstance(prefix, str)
        or not prefix
        or any(not level for level in prefix.split("/"))
        or any(ch in prefix for ch in "+#\0")
        or len(prefix.encode()) > 1024
    ):
        raise ValueError(
            f"MQTT topic prefix {prefix!r} must be non-empty levels separated by '/', without '+', '#' or NUL, "
            "no leading, trailing or double '/', at most 1024 bytes (e.g. 'minegate' or 'site-7/minegate')"
        )
    return prefix


def bundle_topic(prefix: str, bundle: Bundle) -> str:
    return f"{prefix}/{bundle.id.source}/{bundle.kind}"


def bundle_message(bundle: Bundle) -> bytes:
    """The JSON a consumer receives. Never raises: a payload that is not valid msgpack is still delivered (as
    base64 with the decoder's error), because the bundle was accepted and must not block the queue."""
    message: dict[str, Any] = {
        "v": MESSAGE_VERSION,
        "id": str(bundle.id),
        "source": bundle.id.source,
        "created_ms": bundle.id.created_ms,
        "seq": bundle.id.seq,
        "destination": bundle.destination,
        "priority": bundle.priority.name.lower(),
        "kind": bundle.kind,
        "hop_count": bundle.hop_count,
        "previous_node": bundle.previous_node,
        "lifetime_ms": bundle.lifetime_ms,
    }
    try:
        message["payload"] = _jsonable(bundle.payload_object())
    except BundleError as exc:
        message["payload"] = None
        message["payload_error"] = str(exc)
        message["payload_base64"] = base64.b64encode(bundle.payload).decode("ascii")
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _jsonable(value: Any) -> Any:
    """msgpack values JSON cannot hold directly: bytes become base64 text, NaN/inf become strings (JSON has no
    such numbers), msgpack timestamps become epoch seconds and other extension types a tagged object."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {
            (key if isinstance(key, str) else base64.b64encode(key).decode("ascii")): _jsonable(item)
            for key, item in value.items()
        }
    if isinstance(value, msgpack.Timestamp):
        return value.to_unix()
    if isinstance(value, msgpack.ExtType):
        return {"ext": value.code, "data": base64.b64encode(value.data).decode("ascii")}
    return repr(value)  # unreachable for msgpack output; kept so this function can never raise


@dataclass(frozen=True)
class PublisherStats:
    connected: bool
    connects: int  # successful connections since start
    connect_failures: int
    connections_lost: int
    published: int  # messages confirmed by PUBACK
    unconfirmed: int  # publish calls that raised MqttUnavailable


@dataclass
class _Session:
    client: aiomqtt.Client
    number: int  # 1 for the first connection, then one more per reconnection
    lost: asyncio.Future[None]  # resolved when this connection ends; fails every publish still waiting


class MqttPublisher:
    """One connection to one broker, kept up by a background task; ``publish`` confirms at PUBACK (QoS 1)."""

    def __init__(
        self,
        host: str,
        port: int = 1883,
        *,
        client_id: str,
        rng: random.Random,
        username: str | None = None,
        password: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        keepalive_s: int = 30,
        connect_timeout_s: float = 10.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_inflight: int = 64,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"MQTT broker port {port!r} must be an integer in 1..65535")
        if not client_id or len(client_id.encode()) > 23 * 8:
            raise ValueError(f"MQTT client id {client_id!r} must be non-empty and short (brokers may cap it)")
        if not 5 <= keepalive_s <= 65535:
            raise ValueError(f"MQTT keepalive_s {keepalive_s!r} must be within 5..65535 seconds")
        if not 0 < backoff_initial_s <= backoff_max_s:
            raise ValueError(
                f"reconnect back-off needs 0 < backoff_initial_s ({backoff_initial_s}) <= backoff_max_s "
                f"({backoff_max_s})"
            )
        if not 1 <= max_inflight <= 65535:
            raise ValueError(f"max_inflight {max_inflight!r} must be within 1..65535 (MQTT packet ids)")
        self.host = host
        self.port = port
        self.client_id = client_id
        self.max_inflight = max_inflight
        self._rng = rng
        self._username = username
        self._password = password
        self._tls_context = tls_context
        self._keepalive_s = keepalive_s
        self._connect_timeout_s = connect_timeout_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._sleep = sleep  # injected so a test can hold reconnection at a chosen moment
        self._session: _Session | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._connects = 0
        self._connect_failures = 0
        self._connections_lost = 0
        self._published = 0
        self._unconfirmed = 0

    @property
    def connection_number(self) -> int:
        """Which connection is (or was last) up: 0 before the first, +1 per (re)connection."""
        return self._connects

    @property
    def connected(self) -> bool:
        return self._session is not None and not self._session.lost.done()

    def stats(self) -> PublisherStats:
        return PublisherStats(
            connected=self.connected,
            connects=self._connects,
            connect_failures=self._connect_failures,
            connections_lost=self._connections_lost,
            published=self._published,
            unconfirmed=self._unconfirmed,
        )

    async def start(self) -> None:
        """Start connecting in the background; returns at once (a dead broker never blocks start-up)."""
        if self._task is not None:
            raise RuntimeError("MqttPublisher.start() called twice")
        self._task = asyncio.create_task(self._keep_connected(), name=f"mqtt-publisher-{self.client_id}")

    async def close(self) -> None:
        """Disconnect and stop reconnecting. Idempotent; bounded by the connect timeout."""
        self._closing = True
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        # aiomqtt waits on futures with asyncio.wait_for inside; cancel again if a cancel was swallowed.
        for _ in range(3):
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await within(asyncio.shield(task), self._connect_timeout_s)
            if task.done():
                break
            task.cancel()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    async def publish(self, topic: str, payload: bytes) -> int:
        """Publish with QoS 1; returns after PUBACK the number of the connection that confirmed it.

        Raises ``MqttUnavailable`` if it cannot be confirmed."""
        session = self._session
        if session is None or session.lost.done():
            self._unconfirmed += 1
            raise MqttUnavailable(f"not connected to the MQTT broker at {self.host}:{self.port}")
        # math.inf: aiomqtt's own timeout would wrap the wait in asyncio.wait_for; the connection's keepalive
        # and the ``lost`` future bound the wait instead.
        sending = asyncio.ensure_future(session.client.publish(topic, payload, qos=1, timeout=math.inf))
        try:
            await asyncio.wait((sending, session.lost), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            sending.cancel()
            raise
        if not sending.done():
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await sending
            self._unconfirmed += 1
            raise MqttUnavailable(f"connection to {self.host}:{self.port} lost before PUBACK of {topic}")
        try:
            sending.result()
        except aiomqtt.MqttError as exc:
            self._unconfirmed += 1
            raise MqttUnavailable(f"broker at {self.host}:{self.port} did not take {topic}: {exc}") from exc
        self._published += 1
        return session.number

    async def _keep_connected(self) -> None:
        attempt = 0
        while not self._closing:
            client = aiomqtt.Client(
                self.host,
                self.port,
                identifier=self.client_id,
                username=self._username,
                password=self._password,
                tls_context=self._tls_context,
                keepalive=self._keepalive_s,
                # The sink republishes whatever was not confirmed, so a broker-side session adds nothing.
                clean_session=True,
                max_inflight_messages=self.max_inflight,
                # Bounds the CONNACK wait and the DISCONNECT on close; publish() passes its own (infinite) one.
                timeout=self._connect_timeout_s,
            )
            client.pending_calls_threshold = self.max_inflight + 1  # a full window is normal, not a warning
            try:
                await self._connect(client)
            except aiomqtt.MqttError as exc:
                self._connect_failures += 1
                delay = self._backoff_s(attempt)
                attempt += 1
                log_at = logging.WARNING if attempt == 1 else logging.DEBUG  # loud once, then quiet
                log.log(
                    log_at, "MQTT broker %s:%d not reachable (%s); retrying in %.1f s", self.host, self.port, exc, delay
                )
                await self._sleep(delay)
                continue
            attempt = 0
            self._connects += 1
            session = _Session(client, self._connects, asyncio.get_running_loop().create_future())
            self._session = session
            self._connected.set()
            log.info("MQTT connected to %s:%d as %s", self.host, self.port, self.client_id)
            try:
                # Nothing is subscribed, so the iterator yields nothing: it ends only by raising when the
                # connection drops (socket error or missed keepalive), which is how aiomqtt reports it.
                async for _ in client.messages:
                    pass
            except aiomqtt.MqttError as exc:
                self._connections_lost += 1
                log.warning("MQTT connection to %s:%d lost: %s", self.host, self.port, exc)
            finally:
                self._connected.clear()
                session.lost.set_result(None)
                with contextlib.suppress(aiomqtt.MqttError, TimeoutError, OSError):
                    await within(client.__aexit__(None, None, None), 2.0)
            if not self._closing:
                await self._sleep(self._backoff_s(0))

    async def _connect(self, client: aiomqtt.Client) -> None:
        """Connect, and if cancelled (``close()``) half-way, leave no socket behind.

        The TCP connect runs in a thread that cannot be cancelled and would open a socket after the cancelled
        caller left (found by a test closing the publisher right after start): so the attempt is shielded, and a
        cancelled one is allowed to end -- bounded by paho's 5 s TCP timeout and the CONNACK timeout -- and then
        hung up before the cancellation goes on.
        """
        connecting = asyncio.ensure_future(client.__aenter__())
        try:
            await asyncio.shield(connecting)
        except asyncio.CancelledError:
            with contextlib.suppress(aiomqtt.MqttError):
                await connecting
            if connecting.done() and not connecting.cancelled() and connecting.exception() is None:
                with contextlib.suppress(aiomqtt.MqttError, TimeoutError, OSError):
                    await within(client.__aexit__(None, None, None), 2.0)
            raise

    def _backoff_s(self, attempt: int) -> float:
        """Exponential with equal jitter, so gateways that lost the broker together do not return together."""
        ceiling = min(self._backoff_max_s, self._backoff_initial_s * 2.0 ** min(attempt, 30))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)
