"""The DTN convergence layer over ZeroMQ: contacts, hop-by-hop custody, credit, priority, CurveZMQ.

Sockets. Every node binds one ROUTER socket (its ``listen`` endpoints) and, for each peer it is configured to
dial, connects one DEALER socket. A contact is one DEALER-ROUTER connection and carries traffic both ways: the
dialing side need not be reachable (a carrier, a gateway behind NAT), and a pair needs only one side to know the
other's address. ROUTER lets one listening socket serve any number of peers and address each by its connection
(routing id); a DEALER talks to exactly one peer. If two nodes dial each other anyway, the connection dialled by
the node with the smaller node id is kept and the other is ignored, so a pair never has two contacts.

Security. Every socket runs CurveZMQ. The ROUTER is a CURVE server with the node's key pair; a ZAP handler (an
``AsyncioAuthenticator`` on the link's own context) accepts only client keys in the node's ``KeyRing`` and tags
each connection with the node id that owns the key. A HELLO whose node id differs from its key's owner is
ignored. A DEALER pins the dialled peer's public key (CURVE ``serverkey``), so a node answering with any other
key fails the handshake. An unknown key never gets past the handshake: no HELLO reply, no bundle stored.

Contacts. The dialer sends HELLO (node, kind, hops to surface, the credit it grants, whether it wants a summary
vector) until the listener answers with its own HELLO; then the contact is up on both sides and ``on_contact``
reports the peer's ``PeerInfo``. HEARTBEAT is sent when nothing else was for ``heartbeat_s``; the dialer then
opens a fresh socket and a fresh session whenever a contact ends.

Liveness has two layers, because the two fail differently. ZeroMQ's own heartbeats (ZMQ_HEARTBEAT_IVL =
``heartbeat_s``, TIMEOUT = TTL = ``dead_after_s``) run in libzmq's I/O thread: they stop only when the peer's process
or the path is gone (killed, SIGSTOP, power, a cut cable), and then ZeroMQ drops the connection within
``dead_after_s``; the link learns it at its next send, at most ``heartbeat_s`` later -- the listener's ROUTER
(ROUTER_MANDATORY) refuses a routing id that vanished, the dialer's DEALER (IMMEDIATE) has no connection to queue
on, and a DEALER that reconnected underneath reaches a listener that answers RESYNC. The link's own messages,
sent and read by the event loop, also stop when the peer's event loop merely stalls (a long synchronous call, a
loaded 2-core gateway) while its process and ZeroMQ go on; such a peer is taken for dead only after
``dead_after_s + stall_grace_s`` without a message (its link is stuck, not slow). Counting link messages alone
against ``dead_after_s`` dropped a 200 ms / 1 s contact after every stall of ~0.8 s or more on either side.

Transfer and custody. Each side grants the other ``credit`` BUNDLE frames (and ``urgent_credit`` more usable by
ALARM bundles only). A sender never has more frames unacknowledged than granted. The receiver hands each bundle
to ``deliver`` (the group committer: durable before it resolves) and only then acknowledges it by tag, returning
the credit. STORED and DUPLICATE are acknowledged (the receiver holds it, or held it and passed it on); any other
outcome is a refusal and the sender keeps custody. The sender calls ``Router.on_delivered`` only for acknowledged
tags (on the committer's writer thread, in order). After a broken contact the unacknowledged bundles are simply
still in the sender's store and are offered again on the next contact; the receiver's store answers DUPLICATE
for any it already took, so delivery is at-least-once on the wire and exactly-once into the store.

Priority. Nothing is queued ahead in ZeroMQ beyond the credit window: the sender asks ``Router.select`` for the
best bundles at the moment it sends a frame and sends one frame per event-loop step. ``submit()`` (or ``wake()``
after storing bundles by other means) invalidates every contact's candidate list, so the next frame after an
ALARM is stored is that ALARM -- if bulk has used up the credit, the ALARM goes on the urgent credit. Head-of-line
delay, as measured by ``benchmarks/dtn_transfer.py`` and the tests: the number of bulk frames handed to ZeroMQ
for the peer after the alarm's ``submit()`` returned and before the alarm's frame; it is 0 (at most 1 if a
frame's step was already scheduled). Frames already sent (at most the credit window) are ahead of it on the wire.

Time: heartbeat and back-off decisions read the injected ``Clock``; the waits themselves are real (asyncio) time,
so a link runs with ``SystemClock`` (the simulation uses in-memory links instead of this module).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import zmq
import zmq.asyncio
from zmq.auth.asyncio import AsyncioAuthenticator
from zmq.utils import z85

from edge.aio import within
from edge.clock import Clock
from edge.dtn.bundle import NODE_ID_PATTERN, Bundle, BundleError, BundleId, Priority, decode, encode
from edge.dtn.committer import GroupCommitter
from edge.dtn.keys import KeyRing
from edge.dtn.routing import PeerInfo, PeerKind, Router
from edge.dtn.store import Accept, BundleStore
from edge.dtn.wire import (
    MAX_CREDIT,
    MAX_MESSAGE_BYTES,
    Ack,
    BundleFrame,
    Heartbeat,
    Hello,
    Message,
    Resync,
    Summary,
    WireError,
    decode_message,
    encode_message,
)

log = logging.getLogger(__name__)

ZAP_DOMAIN = "minegate-dtn"

# Refusal reasons in ACK. FULL and ERROR make the sender back off (the peer cannot take the class now); the
# others mean "not this bundle": it is not offered to this peer again during the contact.
REFUSED_FULL = "full"
REFUSED_ERROR = "error"
REFUSED_EXPIRED = "expired"
REFUSED_MALFORMED = "malformed"
REFUSED_NOT_ALARM = "urgent_not_alarm"
REFUSED_DESTINATION = "destination"

Deliver = Callable[[Bundle, int], Awaitable[Accept]]


@dataclass(frozen=True)
class LinkSettings:
    heartbeat_s: float = 1.0  # send HEARTBEAT after this long without sending anything else
    missed_heartbeats: int = 3  # contact down after this many heartbeat intervals without a message
    credit: int = 64  # BUNDLE frames a peer may have unacknowledged toward this node
    urgent_credit: int = 4  # further frames a peer may send for ALARM bundles only
    select_batch: int = 32  # candidates fetched per Router.select (re-fetched whenever the store changes)
    summary_wait_s: float = 2.0  # how long a sender that wants the peer's summary vector waits for it
    idle_poll_s: float = 0.5  # a sender re-checks the store this often even without wake()
    refused_backoff_s: float = 5.0  # after a FULL/ERROR refusal, that class and lower wait this long
    send_hwm: int = 10_000  # ZeroMQ send queue bound (messages); credit keeps BUNDLE frames far below it
    reconnect_pause_s: float = 0.5  # dialer: pause (jittered up to 2x) before a new socket after a contact ends
    # A peer whose ZeroMQ connection lives (its process answers ZeroMQ's heartbeats) but whose link sends nothing
    # is down only after dead_after_s + this: a busy or stalled event loop there is not a lost contact.
    stall_grace_s: float = 5.0

    def __post_init__(self) -> None:
        for name in ("heartbeat_s", "summary_wait_s", "idle_poll_s", "refused_backoff_s", "reconnect_pause_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"link setting {name} must be a positive number of seconds, got {value!r}")
        grace = self.stall_grace_s
        if not isinstance(grace, int | float) or isinstance(grace, bool) or not math.isfinite(grace) or grace < 0:
            raise ValueError(f"link setting stall_grace_s must be a number of seconds >= 0, got {grace!r}")
        for name, low, high in (
            ("missed_heartbeats", 1, 1000),
            ("credit", 1, MAX_CREDIT),
            ("urgent_credit", 0, MAX_CREDIT),
            ("select_batch", 1, 10_000),
            ("send_hwm", 100, 10_000_000),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValueError(f"link setting {name} must be an integer in [{low}, {high}], got {value!r}")
        if self.send_hwm < 4 * (self.credit + self.urgent_credit):
            raise ValueError(
                f"link setting send_hwm ({self.send_hwm}) must be at least 4x credit + urgent_credit "
                f"({self.credit + self.urgent_credit}) so acknowledgements and heartbeats never hit it"
            )

    @property
    def dead_after_s(self) -> float:
        return self.heartbeat_s * self.missed_heartbeats

    @property
    def stuck_after_s(self) -> float:
        """Silence of a peer whose connection still answers ZeroMQ's heartbeats after which its contact is down."""
        return self.dead_after_s + self.stall_grace_s


@dataclass(frozen=True)
class DialPeer:
    """A peer this node connects to: its node id (its key must be in the keys directory) and endpoint."""

    node_id: str
    endpoint: str  # "tcp://host:port" or "ipc:///path"

    def __post_init__(self) -> None:
        if not NODE_ID_PATTERN.fullmatch(self.node_id):
            raise ValueError(f"dial peer node_id {self.node_id!r} is not a node id ({NODE_ID_PATTERN.pattern})")
        if not self.endpoint.startswith(("tcp://", "ipc://")):
            raise ValueError(f"dial endpoint {self.endpoint!r} for {self.node_id!r} must be tcp://... or ipc://...")


@dataclass(frozen=True)
class ContactEvent:
    peer: PeerInfo
    up: bool  # True: contact up (or its HELLO data changed, reason "updated"); False: contact down
    reason: str
    wall: float


@dataclass
class PeerStats:
    """Counters per peer node, kept across its contacts (what ``minegate dtn status`` shows)."""

    node_id: str
    peer: PeerInfo | None = None  # from its latest HELLO
    up: bool = False
    contacts: int = 0
    last_up_wall: float | None = None
    last_down_wall: float | None = None
    last_down_reason: str = ""
    frames_sent: int = 0
    bytes_sent: int = 0
    acked: int = 0  # bundles the peer acknowledged as durably held
    refused: int = 0  # bundles the peer refused (custody stays here)
    received: int = 0  # bundles from this peer stored here (first copy)
    duplicates: int = 0  # bundles from this peer this node already held or had passed on
    bytes_received: int = 0
    last_transfer_wall: float | None = None  # last bundle acknowledged by or stored from this peer
    max_in_flight: int = 0  # most frames ever unacknowledged toward this peer (never above its credit)


@dataclass
class LinkCounters:
    auth_refused: int = 0  # connections refused by the ZAP handler: key not in the keyring
    identity_mismatch: int = 0  # HELLO whose node id is not the owner of the connection's key
    protocol_errors: int = 0  # undecodable or out-of-order messages
    credit_violations: int = 0  # BUNDLE frames beyond the credit this node granted (the contact is closed)
    resyncs_sent: int = 0
    stale_messages: int = 0  # messages of a session that has ended (dropped)
    loop_stalls: int = 0  # times the event loop held this link's timers back by a heartbeat interval or more
    longest_loop_stall_s: float = 0.0


@dataclass
class _InFlight:
    bid: BundleId
    copies: int
    priority: Priority
    urgent: bool


class _SendFailed(Exception):
    pass


_HELLO_STATE, _UP, _CLOSED = "hello", "up", "closed"
_STALL_WARN_EVERY_S = 60.0  # at most one warning a minute about a blocked event loop (counted in LinkCounters)


class Link:
    """One node's DTN convergence layer. See the module docstring for the protocol and its guarantees.

    ``store`` is read (``Router.select``, summary vectors) on the event loop; every write goes through
    ``committer`` (received bundles via ``deliver``, custody changes via ``committer.call``). The link does not own
    the store, the committer or the router: start the committer before ``start()``, and stop the link before
    closing them.
    """

    def __init__(
        self,
        node_id: str,
        *,
        kind: PeerKind,
        hops_to_surface: int | None,
        keyring: KeyRing,
        store: BundleStore,
        committer: GroupCommitter,
        router: Router | None,
        clock: Clock,
        listen: Sequence[str] = (),
        dial: Sequence[DialPeer] = (),
        settings: LinkSettings | None = None,
        deliver: Deliver | None = None,
        on_contact: Callable[[ContactEvent], None] | None = None,
        on_received: Callable[[PeerInfo, Bundle, Accept], None] | None = None,
        on_sent: Callable[[PeerInfo, Bundle, bool], None] | None = None,
        on_acked: Callable[[PeerInfo, list[BundleId]], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if keyring.own.node_id != node_id:
            raise ValueError(f"keyring belongs to {keyring.own.node_id!r}, not to this node {node_id!r}")
        for peer in dial:
            keyring.public_key(peer.node_id)  # raises KeyFileError naming the missing .pub
        if len({p.node_id for p in dial}) != len(dial):
            raise ValueError("dial lists a peer twice; give each peer one endpoint")
        for endpoint in listen:
            if not endpoint.startswith(("tcp://", "ipc://")):
                raise ValueError(f"listen endpoint {endpoint!r} must be tcp://... or ipc://...")
        self.node_id = node_id
        self.info = PeerInfo(node_id, kind, hops_to_surface)
        self.keyring = keyring
        self.store = store
        self.committer = committer
        self.router = router
        self.clock = clock
        self.settings = settings or LinkSettings()
        self._listen = list(listen)
        self._dial = list(dial)
        self._deliver: Deliver = deliver or (lambda bundle, copies: committer.put(bundle, copies=copies))
        self._on_contact = on_contact
        self._on_received = on_received
        self._on_sent = on_sent
        self._on_acked = on_acked
        self._rng = rng or random.Random()  # noqa: S311 -- session ids must differ, not be secret
        self.counters = LinkCounters()
        self.endpoints: list[str] = []  # bound endpoints, with the port the kernel chose for "tcp://host:*"
        self.generation = 0  # bumped whenever the store may hold something new to send
        self._stats: dict[str, PeerStats] = {}
        self._sessions: dict[str, _Session] = {}  # peer node id -> its one session (any state)
        self._inbound: dict[bytes, _Session] = {}  # ROUTER routing id -> session
        self._next_tag = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._custody_queue: deque[tuple[PeerInfo, list[tuple[BundleId, int]]]] = deque()
        self._custody_wake = asyncio.Event()
        self._ctx: zmq.asyncio.Context | None = None
        self._auth: _PeerAuthenticator | None = None
        self._router_sock: zmq.asyncio.Socket | None = None
        self._resync_sent: dict[bytes, float] = {}
        self._warned: set[str] = set()
        self._started = False
        self._stopped = False

    # ---- lifecycle -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            raise RuntimeError("Link.start() was already called")
        self._started = True
        # A context of its own: the ZAP handler is per context, and this one must see only this node's sockets.
        self._ctx = zmq.asyncio.Context()
        self._auth = _PeerAuthenticator(self._ctx, self)
        self._auth.start()  # before any bind: a CURVE server without a ZAP handler would accept any key
        self._auth.configure_curve_callback(ZAP_DOMAIN, credentials_provider=self._auth)
        if self._listen:
            sock = self._socket(zmq.ROUTER)
            sock.curve_server = True
            sock.curve_publickey = self.keyring.own.public
            sock.curve_secretkey = self.keyring.own.secret
            sock.zap_domain = ZAP_DOMAIN.encode()
            sock.setsockopt(zmq.ROUTER_MANDATORY, 1)  # a send to a vanished peer fails instead of vanishing
            self._router_sock = sock
            for endpoint in self._listen:
                sock.bind(endpoint)
                self.endpoints.append(sock.getsockopt_string(zmq.LAST_ENDPOINT))
            self._spawn(self._listen_loop(sock), "dtn-link-listen")
        self._spawn(self._keeper_loop(), "dtn-link-keeper")
        self._spawn(self._custody_loop(), "dtn-link-custody")
        for peer in self._dial:
            self._spawn(self._dial_loop(peer), f"dtn-link-dial-{peer.node_id}")

    async def stop(self) -> None:
        """Close every contact, finish custody changes already acknowledged, close the sockets. Idempotent."""
        if self._stopped or not self._started:
            self._stopped = True
            return
        self._stopped = True
        for session in list(self._sessions.values()) + list(self._inbound.values()):
            session.close("link stopped")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        pending = [t for t in self._background if not t.done()]
        if pending:
            # Bundles already with the committer: let their puts finish (the acks go nowhere; the peer re-offers).
            with contextlib.suppress(TimeoutError):
                await within(asyncio.gather(*pending, return_exceptions=True), 5.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._apply_custody_queue()
        if self._auth is not None:
            self._auth.stop()
        if self._ctx is not None:
            self._ctx.destroy(linger=0)

    # ---- what the node calls -------------------------------------------------------------------------------

    async def submit(self, bundle: Bundle, *, copies: int | None = None) -> Accept:
        """Store a bundle created on this node (durably, via the committer) and let every contact reconsider."""
        if copies is None:
            copies = self.router.initial_copies if self.router is not None else 1
        accept = await self.committer.put(bundle, copies=copies)
        self.wake()
        return accept

    def wake(self) -> None:
        """The store may hold something new: every contact re-selects before its next frame."""
        self.generation += 1
        for session in self._sessions.values():
            session.wakeup.set()

    def set_hops_to_surface(self, hops: int | None) -> None:
        """This gateway's distance to the surface changed (uplink cut or mended): tell every peer in contact."""
        self.info = replace(self.info, hops_to_surface=hops)
        for session in list(self._sessions.values()):
            if session.state == _UP:
                session.send(self._hello())

    def contacts(self) -> dict[str, PeerInfo]:
        return {node: s.peer for node, s in self._sessions.items() if s.state == _UP and s.peer is not None}

    def peer_stats(self) -> dict[str, PeerStats]:
        return {node: replace(stats) for node, stats in self._stats.items()}

    def in_flight(self, node_id: str) -> int:
        session = self._sessions.get(node_id)
        return len(session.in_flight) if session is not None else 0

    # ---- internals shared by sessions --------------------------------------------------------------------

    def _hello(self) -> Hello:
        return Hello(
            self.node_id,
            self.info.kind.value,
            self.info.hops_to_surface,
            self.settings.credit,
            self.settings.urgent_credit,
            self.router is not None and self.router.wants_summary(),
        )

    def _stats_for(self, node_id: str) -> PeerStats:
        stats = self._stats.get(node_id)
        if stats is None:
            stats = self._stats[node_id] = PeerStats(node_id)
        return stats

    def _tag(self) -> int:
        self._next_tag += 1
        return self._next_tag

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        self._tasks.append(asyncio.create_task(cast("Any", coro), name=name))

    def _background_task(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.create_task(cast("Any", coro), name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _socket(self, kind: int) -> zmq.asyncio.Socket:
        assert self._ctx is not None  # noqa: S101 -- only called after start()
        sock = self._ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, self.settings.send_hwm)
        sock.setsockopt(zmq.RCVHWM, self.settings.send_hwm)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        # The dead-peer detector (see "Liveness"): libzmq's I/O thread pings whatever the event loops are doing.
        sock.setsockopt(zmq.HEARTBEAT_IVL, round(self.settings.heartbeat_s * 1000))
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, round(self.settings.dead_after_s * 1000))
        sock.setsockopt(zmq.HEARTBEAT_TTL, round(self.settings.dead_after_s * 1000))
        return sock

    def _event(self, peer: PeerInfo, up: bool, reason: str) -> None:
        stats = self._stats_for(peer.node_id)
        stats.peer = peer
        wall = self.clock.wall()
        if up and reason != "updated":
            stats.up = True
            stats.contacts += 1
            stats.last_up_wall = wall
        elif not up:
            stats.up = False
            stats.last_down_wall = wall
            stats.last_down_reason = reason
        log.info("dtn link %s: contact %s %s (%s)", self.node_id, peer.node_id, "up" if up else "down", reason)
        if self._on_contact is not None:
            try:
                self._on_contact(ContactEvent(peer, up, reason, wall))
            except Exception:
                log.exception("dtn link %s: on_contact callback failed", self.node_id)

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)

    def _forget(self, session: _Session) -> None:
        if self._sessions.get(session.peer_id) is session:
            del self._sessions[session.peer_id]
        if session.rid is not None and self._inbound.get(session.rid) is session:
            del self._inbound[session.rid]

    def _custody(self, peer: PeerInfo, delivered: list[tuple[BundleId, int]]) -> None:
        self._custody_queue.append((peer, delivered))
        self._custody_wake.set()

    async def _custody_loop(self) -> None:
        while True:
            await self._custody_wake.wait()
            self._custody_wake.clear()
            await self._apply_custody_queue()

    async def _apply_custody_queue(self) -> None:
        if not self._custody_queue or self.router is None:
            return
        batch = list(self._custody_queue)
        self._custody_queue.clear()
        router, store = self.router, self.store

        def apply() -> None:
            # On the writer thread, in order with the committer's batches: the store writes of on_delivered
            # never stall the event loop behind an fsync. Its removals are gathered and committed together.
            view = _DeferredRemovals(store)
            for peer, delivered in batch:
                for bid, copies in delivered:
                    try:
                        router.on_delivered(cast("BundleStore", view), peer, bid, copies)
                    except Exception:
                        log.exception("dtn link: on_delivered(%s, %s) failed; the bundle stays here", peer.node_id, bid)
            view.commit()

        try:
            await self.committer.call(apply)
        except Exception:
            log.exception("dtn link %s: custody changes for %d ack(s) failed", self.node_id, len(batch))

    # ---- listening side ----------------------------------------------------------------------------------

    async def _listen_loop(self, sock: zmq.asyncio.Socket) -> None:
        while True:
            frames = await sock.recv_multipart(copy=False)
            try:
                self._on_router_message(sock, frames)
            except Exception:
                self.counters.protocol_errors += 1
                log.exception("dtn link %s: failed to handle a message", self.node_id)

    def _on_router_message(self, sock: zmq.asyncio.Socket, frames: list[zmq.Frame]) -> None:
        rid = frames[0].bytes
        try:
            session_id, message = decode_message([f.bytes for f in frames[1:]])
        except WireError as exc:
            self.counters.protocol_errors += 1
            self._warn_once(f"wire:{exc}", "dtn link %s: undecodable message from a peer: %s", self.node_id, exc)
            return
        if isinstance(message, Hello):
            user = frames[1].get("User-Id")  # set by the ZAP handler: the node id owning the connection's key
            self._inbound_hello(sock, rid, user if isinstance(user, str) else None, session_id, message)
            return
        session = self._inbound.get(rid)
        if session is None or session.session_id != session_id:
            self.counters.stale_messages += 1
            now = self.clock.monotonic()
            if now - self._resync_sent.get(rid, -math.inf) >= self.settings.heartbeat_s:
                # The peer still believes in a session this side has closed: tell it to start a new one.
                self._resync_sent[rid] = now
                self.counters.resyncs_sent += 1
                with contextlib.suppress(_SendFailed):
                    _send_now(sock, [rid, *encode_message(session_id, Resync())])
            return
        session.on_message(message)

    def _inbound_hello(
        self, sock: zmq.asyncio.Socket, rid: bytes, user: str | None, session_id: int, hello: Hello
    ) -> None:
        if not user or hello.node != user:
            self.counters.identity_mismatch += 1
            self._warn_once(
                f"identity:{user}:{hello.node}",
                "dtn link %s: a peer holding the key of %r says it is %r; ignored",
                self.node_id,
                user,
                hello.node,
            )
            return
        existing = self._sessions.get(hello.node)
        if existing is not None:
            if existing.dialed:
                if self.node_id < hello.node:
                    return  # both dial: the connection dialled by the smaller node id is the contact
                existing.close("the peer dialled this node as well; its connection is kept")
            elif existing.rid == rid and existing.session_id == session_id:
                existing.on_message(hello)  # a repeated HELLO (sent before our reply arrived) or an update
                return
            else:
                existing.close("replaced by a new session from the same peer")
        self._resync_sent.pop(rid, None)

        def send(parts: list[bytes]) -> None:
            _send_now(sock, [rid, *parts])

        session = _Session(self, peer_id=hello.node, session_id=session_id, dialed=False, rid=rid, send=send)
        self._sessions[hello.node] = session
        self._inbound[rid] = session
        session.on_message(hello)

    # ---- dialling side ---------------------------------------------------------------------------------

    async def _dial_loop(self, peer: DialPeer) -> None:
        server_key = self.keyring.public_key(peer.node_id)
        while True:
            current = self._sessions.get(peer.node_id)
            if current is not None and not current.dialed:
                await current.closed.wait()  # the peer reached us first; dial again when that contact ends
                continue
            sock = self._socket(zmq.DEALER)
            sock.curve_serverkey = server_key
            sock.curve_publickey = self.keyring.own.public
            sock.curve_secretkey = self.keyring.own.secret
            sock.setsockopt(zmq.IMMEDIATE, 1)  # queue only on a connection whose handshake completed
            sock.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
            sock.connect(peer.endpoint)

            def send(parts: list[bytes], sock: zmq.asyncio.Socket = sock) -> None:
                _send_now(sock, parts)

            session = _Session(
                self, peer_id=peer.node_id, session_id=self._rng.getrandbits(64), dialed=True, rid=None, send=send
            )
            self._sessions[peer.node_id] = session
            session.send(self._hello())
            reader = asyncio.create_task(self._dealer_loop(sock, session), name=f"dtn-link-read-{peer.node_id}")
            try:
                await session.closed.wait()
            finally:
                session.close("link stopped")
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
                sock.close(linger=0)
            await asyncio.sleep(self.settings.reconnect_pause_s * (1.0 + self._rng.random()))

    async def _dealer_loop(self, sock: zmq.asyncio.Socket, session: _Session) -> None:
        while session.state != _CLOSED:
            parts = await sock.recv_multipart()
            try:
                session_id, message = decode_message(parts)
            except WireError as exc:
                self.counters.protocol_errors += 1
                self._warn_once(
                    f"wire:{exc}", "dtn link %s: undecodable message from %s: %s", self.node_id, session.peer_id, exc
                )
                continue
            if session_id != session.session_id:
                self.counters.stale_messages += 1
                continue
            if isinstance(message, Resync):
                session.close("the peer has no such session (it restarted or timed the contact out)")
                return
            if isinstance(message, Hello) and message.node != session.peer_id:
                self.counters.identity_mismatch += 1
                session.close(f"the peer at this address says it is {message.node!r}")
                return
            session.on_message(message)

    # ---- timers ----------------------------------------------------------------------------------------

    async def _keeper_loop(self) -> None:
        settings = self.settings
        tick = settings.heartbeat_s / 4
        warned_at = -math.inf
        while True:
            due = self.clock.monotonic() + tick
            await asyncio.sleep(tick)
            now = self.clock.monotonic()
            late = now - due
            if late >= settings.heartbeat_s:
                # No heartbeat went out meanwhile: the peers heard nothing. Name it, so that whatever blocks the
                # loop can be found; the contacts survive it up to stall_grace_s (see "Liveness").
                counters = self.counters
                counters.loop_stalls += 1
                counters.longest_loop_stall_s = max(counters.longest_loop_stall_s, late)
                if now - warned_at >= _STALL_WARN_EVERY_S:
                    warned_at = now
                    log.warning(
                        "dtn link %s: the event loop was blocked for %.2f s (no heartbeat could go out; %d such "
                        "stalls so far, longest %.2f s; a peer's contact is dropped after %.1f s of silence)",
                        self.node_id,
                        late,
                        counters.loop_stalls,
                        counters.longest_loop_stall_s,
                        settings.stuck_after_s,
                    )
            for session in list(self._sessions.values()):
                if session.state == _HELLO_STATE:
                    if session.dialed:
                        if now - session.opened >= settings.dead_after_s:
                            session.close("no HELLO reply")
                        elif now - session.last_tx >= settings.heartbeat_s:
                            session.send(self._hello())
                elif session.state == _UP:
                    # A dead peer or path is found by ZeroMQ's heartbeats (a send fails); a peer silent this long
                    # while its connection lives has a stuck link.
                    silent = now - session.last_rx
                    if silent >= settings.stuck_after_s:
                        session.close(
                            f"no message for {silent:.1f} s although its connection answers ZeroMQ heartbeats "
                            f"(limit {settings.missed_heartbeats} heartbeat intervals + {settings.stall_grace_s:g} s)"
                        )
                    elif now - session.last_tx >= settings.heartbeat_s:
                        session.send(Heartbeat())
            stale = [rid for rid, t in self._resync_sent.items() if now - t > settings.dead_after_s]
            for rid in stale:
                del self._resync_sent[rid]


class _Session:
    """One contact attempt with one peer: the HELLO handshake, then both directions of transfer."""

    def __init__(
        self,
        link: Link,
        *,
        peer_id: str,
        session_id: int,
        dialed: bool,
        rid: bytes | None,
        send: Callable[[list[bytes]], None],
    ) -> None:
        self.link = link
        self.peer_id = peer_id
        self.session_id = session_id
        self.dialed = dialed
        self.rid = rid
        self._transport = send
        self.state = _HELLO_STATE
        self.peer: PeerInfo | None = None
        now = link.clock.monotonic()
        self.opened = now
        self.last_rx = now
        self.last_tx = -math.inf
        self.closed = asyncio.Event()
        self.wakeup = asyncio.Event()
        # sending side
        self.credit = 0
        self.urgent_credit = 0
        self.in_flight: dict[int, _InFlight] = {}
        self.offered: set[BundleId] = set()  # the peer's summary vector + everything offered in this contact
        self.summary_received = asyncio.Event()
        self.blocked_from: Priority | None = None  # after a FULL/ERROR refusal: this class and lower wait
        self.blocked_until = -math.inf
        self.cache: deque[tuple[Bundle, int]] = deque()
        self.cache_generation = -1
        self.cache_time = -math.inf
        self.cache_dry = False
        self.sender: asyncio.Task[None] | None = None
        # receiving side
        self.grant = link.settings.credit
        self.grant_urgent = link.settings.urgent_credit
        self.ack_stored: list[int] = []
        self.ack_refused: list[tuple[int, str]] = []
        self.ack_credit = 0
        self.ack_urgent = 0
        self.ack_scheduled = False
        self.stored_since_flush = False

    # ---- plumbing ----

    def send(self, message: Message) -> bool:
        if self.state == _CLOSED:
            return False
        try:
            self._transport(encode_message(self.session_id, message))
        except _SendFailed as exc:
            if self.state == _HELLO_STATE and self.dialed:
                return False  # not connected yet: the keeper resends HELLO
            self.close(f"send failed: {exc}")
            return False
        self.last_tx = self.link.clock.monotonic()
        return True

    def close(self, reason: str) -> None:
        if self.state == _CLOSED:
            return
        was_up = self.state == _UP
        self.state = _CLOSED
        self.closed.set()
        if self.sender is not None and self.sender is not asyncio.current_task():
            self.sender.cancel()
        self.in_flight.clear()  # still in the store: offered again on the next contact
        self.cache.clear()
        self.link._forget(self)
        if was_up and self.peer is not None:
            self.link._event(self.peer, False, reason)
        else:
            log.debug(
                "dtn link %s: session with %s closed before it was up: %s", self.link.node_id, self.peer_id, reason
            )

    def on_message(self, message: Message) -> None:
        if self.state == _CLOSED:
            return
        self.last_rx = self.link.clock.monotonic()
        match message:
            case Hello():
                self._on_hello(message)
            case BundleFrame():
                self._on_bundle(message)
            case Ack():
                self._on_ack(message)
            case Summary(ids):
                self._on_summary(set(ids))
            case Heartbeat():
                pass
            case Resync():  # only the listening side sends it; a listener ignores one
                self.link.counters.protocol_errors += 1

    def _on_hello(self, hello: Hello) -> None:
        link = self.link
        try:
            peer = PeerInfo(hello.node, PeerKind(hello.kind), hello.hops_to_surface)
        except ValueError as exc:
            link.counters.protocol_errors += 1
            self.close(f"bad HELLO: {exc}")
            return
        if self.state == _UP:
            if peer != self.peer:
                self.peer = peer
                link._event(peer, True, "updated")
                self.cache_generation = -1
                self.wakeup.set()
            return
        self.peer = peer
        self.credit = hello.credit
        self.urgent_credit = hello.urgent_credit
        if not self.dialed and not self.send(link._hello()):
            return
        self.state = _UP
        link._event(peer, True, "hello")
        if hello.wants_summary:
            link._background_task(self._send_summary(), f"dtn-link-summary-{self.peer_id}")
        if link.router is not None:
            self.sender = asyncio.create_task(self._send_loop(link.router), name=f"dtn-link-send-{self.peer_id}")

    async def _send_summary(self) -> None:
        ids = await asyncio.to_thread(self.link.store.seen_ids)  # can be large: off the loop
        if self.state == _UP:
            self.send(Summary(frozenset(ids)))

    # ---- receiving bundles ----

    def _on_bundle(self, frame: BundleFrame) -> None:
        link = self.link
        if self.state != _UP:
            link.counters.protocol_errors += 1
            return
        if frame.urgent:
            if self.grant_urgent <= 0:
                self._credit_violation()
                return
            self.grant_urgent -= 1
        else:
            if self.grant <= 0:
                self._credit_violation()
                return
            self.grant -= 1
        try:
            bundle = decode(frame.data)
        except BundleError as exc:
            link._warn_once(
                f"bundle:{self.peer_id}", "dtn link %s: malformed bundle from %s: %s", link.node_id, self.peer_id, exc
            )
            self._queue_ack(frame, REFUSED_MALFORMED)
            return
        if frame.urgent and bundle.priority is not Priority.ALARM:
            link.counters.protocol_errors += 1
            self._queue_ack(frame, REFUSED_NOT_ALARM)
            return
        link._background_task(self._take(frame, bundle), f"dtn-link-take-{self.peer_id}")

    def _credit_violation(self) -> None:
        self.link.counters.credit_violations += 1
        self.close("the peer sent beyond the credit granted")

    async def _take(self, frame: BundleFrame, bundle: Bundle) -> None:
        link = self.link
        try:
            accept = await link._deliver(bundle, frame.copies)
        except ValueError as exc:  # e.g. the sink's WrongDestination: not for this node, the sender keeps it
            link._warn_once(
                f"refuse:{self.peer_id}:{type(exc).__name__}",
                "dtn link %s: refused a bundle from %s: %s",
                link.node_id,
                self.peer_id,
                exc,
            )
            self._queue_ack(frame, REFUSED_DESTINATION)
            return
        except Exception:
            log.exception(
                "dtn link %s: storing bundle %s from %s failed; not acknowledged", link.node_id, bundle.id, self.peer_id
            )
            self._queue_ack(frame, REFUSED_ERROR)
            return
        stats = link._stats_for(self.peer_id)
        if accept is Accept.STORED:
            stats.received += 1
            stats.bytes_received += len(frame.data)
            stats.last_transfer_wall = link.clock.wall()
            self.stored_since_flush = True
            self._queue_ack(frame, None)
        elif accept is Accept.DUPLICATE:
            stats.duplicates += 1
            self._queue_ack(frame, None)
        else:
            self._queue_ack(frame, REFUSED_EXPIRED if accept is Accept.EXPIRED else REFUSED_FULL)
        if link._on_received is not None and self.peer is not None:
            try:
                link._on_received(self.peer, bundle, accept)
            except Exception:
                log.exception("dtn link %s: on_received callback failed", link.node_id)

    def _queue_ack(self, frame: BundleFrame, refusal: str | None) -> None:
        if refusal is None:
            self.ack_stored.append(frame.tag)
        else:
            self.ack_refused.append((frame.tag, refusal))
        if frame.urgent:
            self.ack_urgent += 1
        else:
            self.ack_credit += 1
        if not self.ack_scheduled:
            # One ACK per group commit: every put of a batch resolves in the same loop iteration, before this.
            self.ack_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_acks)

    def _flush_acks(self) -> None:
        self.ack_scheduled = False
        ack = Ack(tuple(self.ack_stored), tuple(self.ack_refused), self.ack_credit, self.ack_urgent)
        self.ack_stored, self.ack_refused = [], []
        self.grant += self.ack_credit
        self.grant_urgent += self.ack_urgent
        self.ack_credit = self.ack_urgent = 0
        if self.state == _UP:
            self.send(ack)
        if self.stored_since_flush:
            self.stored_since_flush = False
            self.link.wake()  # new bundles here may be for other contacts

    # ---- sending bundles ----

    def _on_ack(self, ack: Ack) -> None:
        link = self.link
        self.credit += ack.credit
        self.urgent_credit += ack.urgent_credit
        stats = link._stats_for(self.peer_id)
        delivered: list[tuple[BundleId, int]] = []
        for tag in ack.stored:
            entry = self.in_flight.pop(tag, None)
            if entry is None:
                link.counters.protocol_errors += 1
                continue
            delivered.append((entry.bid, entry.copies))
        now = link.clock.monotonic()
        for tag, reason in ack.refused:
            entry = self.in_flight.pop(tag, None)
            if entry is None:
                link.counters.protocol_errors += 1
                continue
            stats.refused += 1
            if reason in (REFUSED_FULL, REFUSED_ERROR):
                # The peer cannot take this class now: offer it (and everything less urgent) again later.
                self.offered.discard(entry.bid)
                floor = Priority.ALARM if reason == REFUSED_ERROR else entry.priority
                if self.blocked_from is None or floor < self.blocked_from:
                    self.blocked_from = floor
                self.blocked_until = now + link.settings.refused_backoff_s
                self.cache_generation = -1
        if delivered:
            stats.acked += len(delivered)
            stats.last_transfer_wall = link.clock.wall()
            if self.peer is not None:
                link._custody(self.peer, delivered)
                if link._on_acked is not None:
                    try:
                        link._on_acked(self.peer, [bid for bid, _ in delivered])
                    except Exception:
                        log.exception("dtn link %s: on_acked callback failed", link.node_id)
        self.wakeup.set()

    def _on_summary(self, ids: set[BundleId]) -> None:
        link = self.link
        self.offered |= ids
        self.summary_received.set()
        self.cache_generation = -1
        self.wakeup.set()
        router, peer = link.router, self.peer
        if router is not None and peer is not None:
            store = link.store

            def apply() -> None:
                router.on_summary(store, peer, ids)

            async def run() -> None:
                try:
                    await link.committer.call(apply)
                except Exception:
                    log.exception("dtn link %s: on_summary for %s failed", link.node_id, peer.node_id)

            link._background_task(run(), f"dtn-link-on-summary-{self.peer_id}")

    async def _send_loop(self, router: Router) -> None:
        settings = self.link.settings
        if router.wants_summary():
            with contextlib.suppress(TimeoutError):
                await within(self.summary_received.wait(), settings.summary_wait_s)
        while self.state == _UP:
            self.wakeup.clear()
            pick = self._next(router)
            if pick is None:
                with contextlib.suppress(TimeoutError):
                    await within(self.wakeup.wait(), self._idle_wait())
                continue
            self._send_bundle(*pick)
            # One frame per loop step: a wake() (an alarm just stored) is seen before the next frame goes.
            await asyncio.sleep(0)

    def _idle_wait(self) -> float:
        wait = self.link.settings.idle_poll_s
        if self.blocked_from is not None:
            wait = min(wait, max(0.001, self.blocked_until - self.link.clock.monotonic()))
        return wait

    def _next(self, router: Router) -> tuple[Bundle, int, bool] | None:
        if self.credit <= 0 and self.urgent_credit <= 0:
            return None
        link = self.link
        now = link.clock.monotonic()
        if self.blocked_from is not None and now >= self.blocked_until:
            self.blocked_from = None
            self.cache_generation = -1
        stale = self.cache_generation != link.generation or now - self.cache_time > link.settings.idle_poll_s
        for _ in range(2):
            if stale or (not self.cache and not self.cache_dry):
                self._refill(router, now)
                stale = False
            while self.cache:
                bundle, copies = self.cache[0]
                if bundle.id in self.offered or (
                    self.blocked_from is not None and bundle.priority >= self.blocked_from
                ):
                    self.cache.popleft()
                    continue
                if self.credit > 0:
                    self.cache.popleft()
                    return bundle, copies, False
                if bundle.priority is Priority.ALARM and self.urgent_credit > 0:
                    self.cache.popleft()
                    return bundle, copies, True
                return None  # the best candidate must wait for credit
            if self.cache_dry:
                return None
        return None

    def _refill(self, router: Router, now: float) -> None:
        link = self.link
        limit = link.settings.select_batch
        assert self.peer is not None  # noqa: S101 -- a sender runs only once the contact is up
        try:
            items = router.select(link.store, self.peer, self.offered, limit=limit)
        except Exception:
            log.exception("dtn link %s: Router.select for %s failed", link.node_id, self.peer_id)
            items = []
        self.cache = deque(items)
        self.cache_generation = link.generation
        self.cache_time = now
        self.cache_dry = len(items) < limit

    def _send_bundle(self, bundle: Bundle, copies: int, urgent: bool) -> None:
        link = self.link
        self.offered.add(bundle.id)
        try:
            data = encode(bundle.forwarded_by(link.node_id))
        except BundleError as exc:  # the hop limit: routers filter it, so this is a safety net
            link._warn_once(f"hops:{bundle.id}", "dtn link %s: not forwarding %s: %s", link.node_id, bundle.id, exc)
            return
        tag = link._tag()
        if not self.send(BundleFrame(tag, copies, urgent, data)):
            return
        if urgent:
            self.urgent_credit -= 1
        else:
            self.credit -= 1
        self.in_flight[tag] = _InFlight(bundle.id, copies, bundle.priority, urgent)
        stats = link._stats_for(self.peer_id)
        stats.frames_sent += 1
        stats.bytes_sent += len(data)
        stats.max_in_flight = max(stats.max_in_flight, len(self.in_flight))
        if link._on_sent is not None and self.peer is not None:
            try:
                link._on_sent(self.peer, bundle, urgent)
            except Exception:
                log.exception("dtn link %s: on_sent callback failed", link.node_id)


class _DeferredRemovals:
    """The store as ``Router.on_delivered`` sees it during one batch of acknowledgements.

    Reads and ``set_copies`` go straight to the store; ``remove`` calls are gathered and committed by ``commit()``
    in one transaction -- one fsync per batch of acks instead of one per bundle, which would otherwise cap a
    sender at a few hundred bundles/s on a disk whose fsync takes milliseconds. Custody is unchanged: every
    removal is of an acknowledged bundle, and one lost to a crash before the commit only means the bundle is
    offered again and the peer answers DUPLICATE.
    """

    def __init__(self, store: BundleStore) -> None:
        self._store = store
        self._removals: list[BundleId] = []
        self._reasons: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def remove(self, bids: Iterable[BundleId], *, reason: str) -> int:
        gathered = list(bids)
        self._removals.extend(gathered)
        self._reasons.add(reason)
        return len(gathered)

    def commit(self) -> int:
        if not self._removals:
            return 0
        return self._store.remove(self._removals, reason="; ".join(sorted(self._reasons)))


class _PeerAuthenticator(AsyncioAuthenticator):
    """ZAP handler: a client key must be in the keyring; the connection's User-Id is the key's node id."""

    def __init__(self, context: zmq.asyncio.Context, link: Link) -> None:
        super().__init__(context)
        self._link = link

    def callback(self, domain: str, key: bytes) -> bool:  # the credentials provider interface of zmq.auth
        if self._link.keyring.node_for_key(key) is not None:
            return True
        self._link.counters.auth_refused += 1
        self._link._warn_once(
            f"auth:{key!r}",
            "dtn link %s: refused a connection from unknown public key %s (not in the keys directory)",
            self._link.node_id,
            key.decode("ascii", "replace"),
        )
        return False

    def curve_user_id(self, client_public_key: bytes) -> str:
        return self._link.keyring.node_for_key(z85.encode(client_public_key)) or ""


def _send_now(sock: zmq.asyncio.Socket, parts: list[bytes]) -> None:
    """Send without waiting; raise ``_SendFailed`` if ZeroMQ cannot take the message now (no peer, queue full)."""
    future = cast("asyncio.Future[Any]", sock.send_multipart(parts, flags=zmq.DONTWAIT))
    if not future.done():  # only when blocking sends were queued before, which this module never does
        future.add_done_callback(_retrieve)
        return
    exc = future.exception()
    if exc is not None:
        raise _SendFailed(str(exc))


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


__all__ = [
    "ContactEvent",
    "DialPeer",
    "Link",
    "LinkCounters",
    "LinkSettings",
    "PeerStats",
]
