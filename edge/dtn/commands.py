"""``minegate dtn keygen|node|sink|status|sim``: the DTN subcommands of the ``minegate`` command line.

Exit codes as ``edge.cli``: 0 success, 1 runtime failure (e.g. no node answering), 2 invalid configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import json
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edge.config.issues import ConfigError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
_SIM_MODULES = ("edge.dtn.simulation.cli", "edge.dtn.simulation.__main__", "edge.dtn.simulation")


def _err(text: object) -> None:
    sys.stderr.write(f"{text}\n")


def _out(text: str) -> None:
    sys.stdout.write(f"{text}\n")


def _print_config_error(path: str, exc: ConfigError) -> None:
    count = len(exc.issues)
    _err(f"{path}: {count} problem{'s' if count != 1 else ''} found; nothing was started")
    for issue in exc.issues:
        _err(issue.render())


def _kill_points(values: Sequence[str]) -> dict[str, float]:
    points: dict[str, float] = {}
    for value in values:
        name, sep, prob = value.partition("=")
        try:
            if not sep:
                raise ValueError
            points[name] = float(prob)
        except ValueError:
            raise SystemExit(f"--kill-at {value!r}: write POINT=PROBABILITY, e.g. stored=0.01") from None
    return points


def cmd_keygen(args: argparse.Namespace) -> int:
    from edge.dtn.keys import keygen_command  # noqa: PLC0415

    return keygen_command(args)


def _run_node(args: argparse.Namespace, *, mqtt: str | None = None, must_be_surface: bool = False) -> int:
    from edge.clock import SystemClock  # noqa: PLC0415
    from edge.dtn.config import load_node_config, parse_mqtt_url  # noqa: PLC0415
    from edge.dtn.keys import KeyFileError  # noqa: PLC0415
    from edge.dtn.node import DtnNode, NodeLocked  # noqa: PLC0415
    from edge.dtn.routing import PeerKind  # noqa: PLC0415
    from edge.dtn.store import StoreError  # noqa: PLC0415
    from edge.logs import configure_logging  # noqa: PLC0415

    configure_logging(args.log_level)
    try:
        spec = load_node_config(Path(args.config))
    except ConfigError as exc:
        _print_config_error(args.config, exc)
        return EXIT_CONFIG
    if must_be_surface and spec.role is not PeerKind.SURFACE:
        _err(f"{args.config}: node.role is {spec.role.value!r}; `minegate dtn sink` runs a surface node")
        return EXIT_CONFIG
    if mqtt is not None:
        from edge.dtn.config import SinkSpec  # noqa: PLC0415

        try:
            host, port, tls = parse_mqtt_url(mqtt)
        except ValueError as exc:
            _err(f"--mqtt: {exc}")
            return EXIT_CONFIG
        base = spec.sink or SinkSpec(None, port, tls, "minegate", False, None, None)
        spec = dataclasses.replace(spec, sink=dataclasses.replace(base, mqtt_host=host, mqtt_port=port, mqtt_tls=tls))
    try:
        kill_points = _kill_points(getattr(args, "kill_at", None) or [])
        node = DtnNode(
            spec,
            clock=SystemClock(),
            rng=random.Random(args.seed),  # noqa: S311 -- session ids and jitter; a seed makes test runs repeatable
            kill_points=kill_points,
        )
    except ValueError as exc:
        _err(f"error: {exc}")
        return EXIT_CONFIG
    import zmq  # noqa: PLC0415

    try:
        asyncio.run(node.run_standalone())
    except (KeyFileError, StoreError, NodeLocked) as exc:
        _err(f"error: {exc}")
        return EXIT_FAILURE
    except zmq.ZMQError as exc:  # e.g. the listen or control endpoint is taken by another process
        _err(f"error: node {spec.node_id}: {exc} (listen {spec.listen}, control {spec.control_endpoint})")
        return EXIT_FAILURE
    return EXIT_OK


def cmd_node(args: argparse.Namespace) -> int:
    return _run_node(args)


def cmd_sink(args: argparse.Namespace) -> int:
    return _run_node(args, mqtt=args.mqtt, must_be_surface=True)


def _control_endpoint(path: str) -> str:
    """A standalone node file names its control socket in ``node.control``; a gateway config in ``gateway``."""
    from edge.config.yaml_lines import load_yaml  # noqa: PLC0415

    data, _ = load_yaml(Path(path))
    if isinstance(data, dict) and "node" in data:
        from edge.dtn.config import load_node_config  # noqa: PLC0415

        spec = load_node_config(Path(path), check_keys=False)
        assert spec.control_endpoint is not None  # noqa: S101 -- required in a node file
        return spec.control_endpoint
    from edge.config.resolve import load_config  # noqa: PLC0415

    loaded = load_config(Path(path))
    if loaded.spec.dtn is None:
        raise SystemExit(f"{path}: this gateway has no dtn: section, so it runs no DTN node")
    return loaded.spec.control_endpoint


def request_status(path: str, *, timeout_s: float) -> dict[str, Any]:
    from edge.control import ControlError, request  # noqa: PLC0415

    endpoint = _control_endpoint(path)
    try:
        reply = request(endpoint, {"cmd": "dtn_status"}, timeout_s=timeout_s)
    except ControlError as exc:
        raise SystemExit(f"error: {exc}") from None
    if not reply.get("ok"):
        raise SystemExit(f"refused: {reply.get('error')}")
    reply.pop("ok", None)
    return reply


def cmd_status(args: argparse.Namespace) -> int:
    from edge.dtn.status import render  # noqa: PLC0415

    try:
        status = request_status(args.config, timeout_s=args.timeout)
    except ConfigError as exc:
        _print_config_error(args.config, exc)
        return EXIT_CONFIG
    except SystemExit as exc:
        _err(exc)
        return EXIT_FAILURE
    _out(json.dumps(status, indent=2, sort_keys=True) if args.json else render(status))
    return EXIT_OK


def cmd_sim(args: argparse.Namespace) -> int:
    for name in _SIM_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        main: Callable[[Sequence[str]], int] | None = getattr(module, "main", None)
        if main is not None:
            return int(main(list(args.sim_args)) or 0)
    _err("the DTN simulation has no command-line entry point in this build (edge.dtn.simulation)")
    return EXIT_FAILURE


def add_dtn_parser(sub: Any) -> None:
    """Add ``dtn`` and its subcommands to ``minegate``'s subparsers."""
    from edge.dtn.keys import add_keygen_arguments  # noqa: PLC0415

    dtn = sub.add_parser("dtn", help="delay-tolerant network: keys, nodes, the surface sink, status, simulation")
    commands = dtn.add_subparsers(dest="dtn_command", required=True, metavar="DTN_COMMAND")

    p = commands.add_parser("keygen", help="create CurveZMQ key pairs for DTN nodes (<node>.key, <node>.pub)")
    add_keygen_arguments(p)
    p.set_defaults(func=cmd_keygen)

    for name, func, help_text in (
        ("node", cmd_node, "run a standalone DTN node (fixed gateway, mobile carrier or surface sink)"),
        ("sink", cmd_sink, "run the surface sink node and publish what arrives to an MQTT broker"),
    ):
        p = commands.add_parser(name, help=help_text)
        p.add_argument("--config", required=True, help="node file (see edge/dtn/config.py or the README)")
        p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
        p.add_argument("--seed", type=int, default=None, help="seed the node's session ids and jitter (tests)")
        if name == "sink":
            p.add_argument("--mqtt", default=None, help="broker URL, mqtt://HOST[:PORT] (overrides sink.mqtt)")
        else:
            p.add_argument(
                "--kill-at",
                action="append",
                default=[],
                metavar="POINT=P",
                help="crash tests only: SIGKILL itself with probability P at POINT (stored, custody, removed)",
            )
        p.set_defaults(func=func)

    p = commands.add_parser("status", help="queue depth by class, contacts, last transfer per peer of a running node")
    p.add_argument("config", help="a node file, or a gateway config with a dtn: section")
    p.add_argument("--json", action="store_true")
    p.add_argument("--timeout", type=float, default=3.0)
    p.set_defaults(func=cmd_status)

    # No options of its own (no prefix characters): every argument, --help included, goes to the simulation.
    p = commands.add_parser(
        "sim", help="discrete-event DTN simulation (its own options follow)", add_help=False, prefix_chars="\x00"
    )
    p.add_argument("sim_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_sim)
