"""A DTN node's configuration: the ``dtn:`` section of a gateway config, or a standalone node file.

Both forms share the schema below. A gateway's section takes the node id from ``gateway.id`` and its data
directory defaults to ``<gateway data_dir>/dtn``; a standalone file (``minegate dtn node --config F``) has a
``node:`` section with the id, data directory and a control endpoint of its own. Errors are reported like the
rest of ``edge.config``: every problem at once, with file, line, field path, value and what is allowed.

A standalone node file::

    node:
      id: g3
      role: fixed              # fixed gateway, mobile carrier, or surface sink
      hops_to_surface: 3       # fixed gateways on static routing: links to the surface along the chain (1 = next
                               # to the sink); advertised to peers only while a way to the surface is in contact
      data_dir: var/dtn/g3     # bundles.sqlite lives here (relative to this file)
      keys_dir: keys           # g3.key and every peer's .pub (`minegate dtn keygen`)
      listen: tcp://0.0.0.0:7003
      control: tcp://127.0.0.1:7103   # `minegate dtn status --config F` asks here
    peers:
      - {id: g2, endpoint: "tcp://10.0.0.2:7002"}   # dialled by this node
      - {id: g4}                                     # dials this node
    store: {capacity: 256MB}
    routing: {policy: static}
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from edge.config.issues import ConfigError, ConfigIssue, PathPart, did_you_mean
from edge.config.units import Duration
from edge.config.validate import issues_from_validation_error
from edge.config.yaml_lines import LineMap, load_yaml
from edge.dtn.bundle import MAX_LIFETIME_MS, NODE_ID_PATTERN, SURFACE
from edge.dtn.keys import PUBLIC_SUFFIX, SECRET_SUFFIX
from edge.dtn.routing import PeerKind

ROLES = ("fixed", "mobile", "surface")
# edge.dtn.mqtt.DEFAULT_TOPIC_PREFIX (not imported: that pulls the MQTT client into every config load).
DEFAULT_TOPIC_PREFIX = "minegate"
POLICIES = ("static", "epidemic", "spray")
STORE_FILE = "bundles.sqlite"
DELIVERY_LOG_FILE = "deliveries.sqlite"
STATE_FILE = "ingest_state.sqlite"

_SIZE = re.compile(r"^\s*(?P<num>[0-9]*\.?[0-9]+)\s*(?P<unit>[A-Za-z]*)\s*$")
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_ENDPOINT = re.compile(r"^(tcp://(\*|[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:]+\]):[0-9]{1,5}|ipc://.+)$")


def parse_size(value: object) -> int:
    """Bytes from ``64MB``, ``1.5GiB``, ``500kB`` or a bare number of bytes."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as '64MB' or '1GiB', got {value!r}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str):
        match = _SIZE.match(value)
        unit = match["unit"].lower() if match else ""
        if match is None or unit not in _SIZE_UNITS:
            raise ValueError(
                f"{value!r} is not a size: write a number and a unit, one of B, kB, MB, GB, KiB, MiB, GiB (e.g. '64MB')"
            )
        size = round(float(match["num"]) * _SIZE_UNITS[unit])
    else:
        raise ValueError(f"expected a size such as '64MB' or '1GiB', got {value!r}")
    if size <= 0:
        raise ValueError(f"a size must be positive, got {value!r}")
    return size


Size = Annotated[int, BeforeValidator(parse_size)]
NodeId = Annotated[
    str,
    Field(
        pattern=NODE_ID_PATTERN.pattern.join("^$"),
        description="1-64 characters: letters, digits, '_', '.', '-', starting with a letter or digit",
    ),
]


def parse_endpoint(value: object) -> str:
    """A ZeroMQ endpoint the link accepts: ``tcp://HOST:PORT`` (``*`` as HOST to listen everywhere) or ipc://."""
    if not isinstance(value, str) or not _ENDPOINT.match(value.strip()):
        raise ValueError(
            f"{value!r} is not a ZeroMQ endpoint: write tcp://HOST:PORT (HOST may be * when listening) or "
            "ipc:///path/to/socket"
        )
    return value.strip()


Endpoint = Annotated[str, BeforeValidator(parse_endpoint)]


class _Model(BaseModel):
    # The same conventions as edge.config.schema.StrictModel (not imported: that module imports this one).
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class PeerModel(_Model):
    id: NodeId
    endpoint: Endpoint | None = Field(None, description="dial the peer here; omit when the peer dials this node")


class DtnStoreModel(_Model):
    capacity: Size = Field(256 * 1000**2, description="byte budget of the bundle store, e.g. 256MB")
    durable: bool = Field(True, description="fsync every accepted bundle (false only for tests and simulation)")


class DtnRoutingModel(_Model):
    policy: Literal["static", "epidemic", "spray"] = "static"
    spray_copies: int = Field(8, ge=1, le=1024, description="spray-and-wait tokens per bundle created here")
    carrier_handoff_after: Duration | None = Field(
        None, description="static, fixed gateway: hand carriers copies of bundles held this long (off if unset)"
    )
    carrier_copies: int = Field(1, ge=1, le=1024)


class DtnLinkModel(_Model):
    heartbeat: Duration = Field(1.0, gt=0, le=60, description="a message at least this often on an idle contact")
    dead_after: Duration = Field(
        5.0,
        gt=0,
        le=600,
        description="contact is down after this long without a sign of the peer (ZeroMQ heartbeats; "
        "a peer whose link stays silent gets 5 s more)",
    )
    credit: int = Field(64, ge=1, le=4096, description="bundles a peer may have in flight to this node")
    urgent_credit: int = Field(8, ge=0, le=4096, description="extra in-flight allowance for alarms only")


class DtnSinkModel(_Model):
    mqtt: str | None = Field(None, description="broker URL, mqtt://HOST[:PORT]; omit to only store")
    topic_prefix: str = DEFAULT_TOPIC_PREFIX
    delivery_log: bool = Field(False, description="append every first delivery to deliveries.sqlite (tests)")
    username: str | None = None
    password_env: str | None = Field(None, description="environment variable holding the broker password")


class DtnIngestModel(_Model):
    destination: NodeId = Field(SURFACE, description="endpoint the gateway's bundles go to")
    alarms: bool = Field(True, description="alarm journal events as ALARM bundles")
    alarm_lifetime: Duration = Field(7 * 86400.0, gt=0)
    telemetry_period: Duration | None = Field(60.0, gt=0, description="reading summaries this often; null: none")
    telemetry_lifetime: Duration = Field(86400.0, gt=0)
    movement: bool = Field(True, description="miner movement/contact records as MOVEMENT bundles")
    movement_source: Endpoint | None = Field(
        None, description="ZeroMQ PUB of movement/contact records (default: localization.source)"
    )
    movement_period: Duration = Field(5.0, gt=0, le=3600)
    movement_lifetime: Duration = Field(86400.0, gt=0)


class _NodeCommon(_Model):
    role: Literal["fixed", "mobile", "surface"] = "fixed"
    hops_to_surface: int | None = Field(None, ge=0, le=255, description="fixed gateways: links to the surface")
    keys_dir: str = Field(description="this node's .key and the peers' .pub files (relative to the config file)")
    listen: Endpoint | None = Field(None, description="where peers dial this node; omit for a dial-only carrier")


class DtnSectionModel(_NodeCommon):
    """The ``dtn:`` section of a gateway config: the gateway is a DTN node too."""

    data_dir: str | None = Field(None, description="bundle store directory (default: <gateway data_dir>/dtn)")
    peers: list[PeerModel] = []
    store: DtnStoreModel = DtnStoreModel()
    routing: DtnRoutingModel = DtnRoutingModel()
    link: DtnLinkModel = DtnLinkModel()
    sink: DtnSinkModel | None = None
    ingest: DtnIngestModel = DtnIngestModel()


class NodeSection(_NodeCommon):
    id: NodeId
    data_dir: str = Field(description="bundle store directory (relative to the config file)")
    control: Endpoint = Field(description="control socket for `minegate dtn status` (loopback or ipc)")


class NodeFileModel(_Model):
    """A standalone node file: ``minegate dtn node --config F``."""

    node: NodeSection
    peers: list[PeerModel] = []
    store: DtnStoreModel = DtnStoreModel()
    routing: DtnRoutingModel = DtnRoutingModel()
    link: DtnLinkModel = DtnLinkModel()
    sink: DtnSinkModel | None = None


# ---- resolved form --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerSpec:
    node_id: str
    endpoint: str | None  # None: the peer dials this node


@dataclass(frozen=True, slots=True)
class SinkSpec:
    mqtt_host: str | None  # None: store (and log) only, publish nothing
    mqtt_port: int
    mqtt_tls: bool
    topic_prefix: str
    delivery_log: bool
    username: str | None
    password: str | None


@dataclass(frozen=True, slots=True)
class IngestSpec:
    destination: str
    alarms: bool
    alarm_lifetime_s: float
    telemetry_period_s: float | None
    telemetry_lifetime_s: float
    movement: bool
    movement_source: str | None
    movement_period_s: float
    movement_lifetime_s: float


@dataclass(frozen=True, slots=True)
class NodeSpec:
    node_id: str
    role: PeerKind
    hops_to_surface: int | None
    data_dir: str  # absolute
    keys_dir: str  # absolute
    listen: str | None
    control_endpoint: str | None  # standalone nodes; a gateway's node answers on the gateway's control socket
    peers: tuple[PeerSpec, ...]
    capacity_bytes: int
    durable: bool
    policy: str
    spray_copies: int
    carrier_handoff_after_s: float | None
    carrier_copies: int
    heartbeat_s: float
    dead_after_s: float
    credit: int
    urgent_credit: int
    sink: SinkSpec | None
    ingest: IngestSpec | None
    source_file: str = ""

    @property
    def store_path(self) -> Path:
        return Path(self.data_dir) / STORE_FILE

    @property
    def delivery_log_path(self) -> Path:
        return Path(self.data_dir) / DELIVERY_LOG_FILE

    @property
    def state_path(self) -> Path:
        return Path(self.data_dir) / STATE_FILE


def resolve_node(
    model: DtnSectionModel | NodeSection,
    *,
    peers: Sequence[PeerModel],
    store: DtnStoreModel,
    routing: DtnRoutingModel,
    link: DtnLinkModel,
    sink: DtnSinkModel | None,
    ingest: DtnIngestModel | None,
    node_id: str,
    data_dir: Path,
    control: str | None,
    base_dir: Path,
    lines: LineMap,
    prefix: tuple[PathPart, ...],
    node_prefix: tuple[PathPart, ...],
    default_movement_source: str | None = None,
    check_keys: bool = True,
) -> tuple[NodeSpec, list[ConfigIssue]]:
    """Cross-field checks the schema cannot make, and the absolute paths; returns the spec and every issue."""
    issues: list[ConfigIssue] = []

    def error(
        path: tuple[PathPart, ...],
        message: str,
        *,
        value: object = None,
        allowed: str = "",
        line_of: tuple[PathPart, ...] | None = None,
    ) -> None:
        issues.append(
            ConfigIssue(
                lines.file,
                lines.line_of(line_of or path),
                path,
                message,
                value=value,
                has_value=value is not None,
                allowed=allowed,
            )
        )

    role = PeerKind(model.role)
    here = (*prefix, *node_prefix)
    if role is PeerKind.FIXED and routing.policy == "static" and model.hops_to_surface is None:
        error(
            (*here, "hops_to_surface"),
            "a fixed gateway on static routing needs its hop distance to the surface (1 = next to the sink)",
            line_of=(*here, "role"),
        )
    if role is not PeerKind.FIXED and model.hops_to_surface is not None:
        error(
            (*here, "hops_to_surface"),
            f"only fixed gateways have a hop distance; a {role.value} node must not set it",
            value=model.hops_to_surface,
        )
    if routing.carrier_handoff_after is not None and (role is not PeerKind.FIXED or routing.policy != "static"):
        error(
            (*prefix, "routing", "carrier_handoff_after"),
            "carrier hand-off is an option of static routing on a fixed gateway",
        )
    if sink is not None and role is not PeerKind.SURFACE:
        error((*prefix, "sink"), f"a 'sink' section needs role: surface (this node is {role.value})")
    if role is PeerKind.SURFACE and ingest is not None:
        error(
            (*here, "role"), "a gateway's own node cannot be the surface sink; run `minegate dtn sink`", value="surface"
        )
    if model.listen is None and not any(p.endpoint for p in peers):
        error(
            (*here, "listen"),
            "this node neither listens nor dials a peer, so it can never have a contact: set 'listen' or give a "
            "peer an 'endpoint'",
        )
    seen: dict[str, int] = {}
    for index, peer in enumerate(peers):
        if peer.id == node_id:
            error((*prefix, "peers", index, "id"), "a node cannot be its own peer", value=peer.id)
        if peer.id in seen:
            error((*prefix, "peers", index, "id"), f"duplicate peer (also peers[{seen[peer.id]}])", value=peer.id)
        seen.setdefault(peer.id, index)
        if peer.endpoint is not None and peer.endpoint.startswith("tcp://*"):
            error((*prefix, "peers", index, "endpoint"), "a dial endpoint needs a host, not '*'", value=peer.endpoint)

    keys_dir = Path(os.path.normpath(base_dir / model.keys_dir))
    if check_keys:
        if not keys_dir.is_dir():
            error(
                (*here, "keys_dir"),
                f"keys directory {keys_dir} does not exist: create it with "
                f"`minegate dtn keygen --dir {keys_dir} {node_id}`",
                value=model.keys_dir,
            )
        else:
            if not (keys_dir / f"{node_id}{SECRET_SUFFIX}").is_file():
                error(
                    (*here, "keys_dir"),
                    f"no {node_id}{SECRET_SUFFIX} in {keys_dir}: run `minegate dtn keygen --dir {keys_dir} {node_id}`",
                    value=model.keys_dir,
                )
            for index, peer in enumerate(peers):
                if not (keys_dir / f"{peer.id}{PUBLIC_SUFFIX}").is_file():
                    error(
                        (*prefix, "peers", index, "id"),
                        f"no {peer.id}{PUBLIC_SUFFIX} in {keys_dir}: copy the peer's public key there (unknown "
                        "peers are refused)",
                        value=peer.id,
                    )

    sink_spec: SinkSpec | None = None
    if sink is not None:
        host, port, tls = None, 1883, False
        if sink.mqtt is not None:
            parsed = _mqtt_url(sink.mqtt)
            if isinstance(parsed, str):
                error((*prefix, "sink", "mqtt"), parsed, value=sink.mqtt, allowed="mqtt://HOST[:PORT], mqtts://...")
            else:
                host, port, tls = parsed
        password = None
        if sink.password_env is not None:
            password = os.environ.get(sink.password_env)
            if password is None:
                error(
                    (*prefix, "sink", "password_env"),
                    "the environment variable is not set in this process",
                    value=sink.password_env,
                )
        if host is None and not sink.delivery_log:
            error(
                (*prefix, "sink"),
                "a sink with neither 'mqtt' nor 'delivery_log' passes bundles nowhere: set at least one",
            )
        sink_spec = SinkSpec(host, port, tls, sink.topic_prefix, sink.delivery_log, sink.username, password)

    ingest_spec: IngestSpec | None = None
    if ingest is not None:
        for name in ("alarm_lifetime", "telemetry_lifetime", "movement_lifetime"):
            seconds = getattr(ingest, name)
            if seconds * 1000 > MAX_LIFETIME_MS:
                error(
                    (*prefix, "ingest", name),
                    f"a bundle lifetime is at most {MAX_LIFETIME_MS // 86_400_000} days",
                    value=seconds,
                )
        # Without a record feed (no movement_source and no localization section) there is nothing to bundle.
        movement_source = ingest.movement_source or default_movement_source
        ingest_spec = IngestSpec(
            destination=ingest.destination,
            alarms=ingest.alarms,
            alarm_lifetime_s=ingest.alarm_lifetime,
            telemetry_period_s=ingest.telemetry_period,
            telemetry_lifetime_s=ingest.telemetry_lifetime,
            movement=ingest.movement and movement_source is not None,
            movement_source=movement_source,
            movement_period_s=ingest.movement_period,
            movement_lifetime_s=ingest.movement_lifetime,
        )

    spec = NodeSpec(
        node_id=node_id,
        role=role,
        hops_to_surface=model.hops_to_surface,
        data_dir=str(data_dir),
        keys_dir=str(keys_dir),
        listen=model.listen,
        control_endpoint=control,
        peers=tuple(PeerSpec(p.id, p.endpoint) for p in peers),
        capacity_bytes=store.capacity,
        durable=store.durable,
        policy=routing.policy,
        spray_copies=routing.spray_copies,
        carrier_handoff_after_s=routing.carrier_handoff_after,
        carrier_copies=routing.carrier_copies,
        heartbeat_s=link.heartbeat,
        dead_after_s=link.dead_after,
        credit=link.credit,
        urgent_credit=link.urgent_credit,
        sink=sink_spec,
        ingest=ingest_spec,
        source_file=lines.file,
    )
    if link.dead_after <= link.heartbeat:
        error(
            (*prefix, "link", "dead_after"),
            f"must be longer than the heartbeat ({link.heartbeat:g} s), or every idle contact looks dead",
            value=link.dead_after,
        )
    return spec, issues


def resolve_gateway_section(
    section: DtnSectionModel,
    *,
    gateway_id: str,
    gateway_data_dir: Path,
    base_dir: Path,
    lines: LineMap,
    localization_source: str | None,
) -> tuple[NodeSpec, list[ConfigIssue]]:
    """The node a gateway runs for its ``dtn:`` section (node id = gateway id)."""
    if not NODE_ID_PATTERN.fullmatch(gateway_id):
        return _placeholder(gateway_id), [
            ConfigIssue(
                lines.file,
                lines.line_of(("gateway", "id")),
                ("gateway", "id"),
                "a gateway with a dtn: section needs an id that is also a DTN node id",
                value=gateway_id,
                has_value=True,
                allowed="1-64 characters: letters, digits, '_', '.', '-'",
            )
        ]
    data_dir = Path(os.path.normpath(base_dir / section.data_dir)) if section.data_dir else gateway_data_dir / "dtn"
    return resolve_node(
        section,
        peers=section.peers,
        store=section.store,
        routing=section.routing,
        link=section.link,
        sink=section.sink,
        ingest=section.ingest,
        node_id=gateway_id,
        data_dir=data_dir,
        control=None,
        base_dir=base_dir,
        lines=lines,
        prefix=("dtn",),
        node_prefix=(),
        default_movement_source=localization_source,
    )


def load_node_config(path: Path, *, check_keys: bool = True) -> NodeSpec:
    """Validate a standalone node file completely; raises ``ConfigError`` listing every problem."""
    data, lines = load_yaml(path)
    try:
        model = NodeFileModel.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(issues_from_validation_error(exc, NodeFileModel, data, lines)) from None
    base_dir = path.parent.resolve()
    spec, issues = resolve_node(
        model.node,
        peers=model.peers,
        store=model.store,
        routing=model.routing,
        link=model.link,
        sink=model.sink,
        ingest=None,
        node_id=model.node.id,
        data_dir=Path(os.path.normpath(base_dir / model.node.data_dir)),
        control=model.node.control,
        base_dir=base_dir,
        lines=lines,
        prefix=(),
        node_prefix=("node",),
        check_keys=check_keys,
    )
    if issues:
        raise ConfigError(issues)
    return spec


def _mqtt_url(url: str) -> tuple[str, int, bool] | str:
    """(host, port, tls) of ``mqtt://host[:port]`` / ``mqtts://host[:port]``, or the problem as text."""
    parts = urlsplit(url)
    schemes = {"mqtt": (1883, False), "tcp": (1883, False), "mqtts": (8883, True), "ssl": (8883, True)}
    if parts.scheme not in schemes:
        suggestion = did_you_mean(parts.scheme, schemes)
        return f"unknown scheme {parts.scheme!r}" + (f"; did you mean {suggestion!r}?" if suggestion else "")
    if not parts.hostname:
        return "the broker URL has no host"
    if parts.path not in ("", "/") or parts.query or parts.username:
        return "the broker URL is only scheme://host[:port]; put credentials in username / password_env"
    try:
        port = parts.port
    except ValueError:
        return "the port must be a number in 1..65535"
    default_port, tls = schemes[parts.scheme]
    return parts.hostname, port or default_port, tls


def parse_mqtt_url(url: str) -> tuple[str, int, bool]:
    """For the CLI: ``minegate dtn sink --mqtt URL``; raises ValueError naming the problem."""
    parsed = _mqtt_url(url)
    if isinstance(parsed, str):
        raise ValueError(f"MQTT broker URL {url!r}: {parsed}")
    return parsed


def _placeholder(node_id: str) -> NodeSpec:
    return NodeSpec(
        node_id=node_id,
        role=PeerKind.FIXED,
        hops_to_surface=None,
        data_dir="",
        keys_dir="",
        listen=None,
        control_endpoint=None,
        peers=(),
        capacity_bytes=1,
        durable=True,
        policy="static",
        spray_copies=1,
        carrier_handoff_after_s=None,
        carrier_copies=1,
        heartbeat_s=1.0,
        dead_after_s=5.0,
        credit=1,
        urgent_credit=0,
        sink=None,
        ingest=None,
    )
