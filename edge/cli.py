"""The ``minegate`` command line.

Exit codes: 0 success, 1 runtime failure (e.g. no gateway answering), 2 invalid configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge import __version__
from edge.config.issues import ConfigError
from edge.config.resolve import BUILTIN_PROFILES, LoadedConfig, load_config, load_profiles

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2


def _load(path: str) -> LoadedConfig:
    try:
        loaded = load_config(Path(path))
    except ConfigError as exc:
        count = len(exc.issues)
        print(f"{path}: {count} problem{'s' if count != 1 else ''} found; nothing was started", file=sys.stderr)
        for issue in exc.issues:
            print(issue.render(), file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None
    return loaded


def cmd_check(args: argparse.Namespace) -> int:
    from edge.plan_report import render_plan

    loaded = _load(args.config)
    print(render_plan(loaded))
    print(f"\n{args.config}: configuration is valid")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from edge.app import Gateway
    from edge.clock import SystemClock
    from edge.logs import configure_logging

    configure_logging(args.log_level)
    loaded = _load(args.config)
    for warning in loaded.warnings:
        print(warning.render(), file=sys.stderr)

    async def main() -> None:
        gateway = Gateway(loaded, clock=SystemClock())
        await gateway.run()

    asyncio.run(main())
    return EXIT_OK


def cmd_sim(args: argparse.Namespace) -> int:
    from edge.logs import configure_logging
    from edge.sim.launch import run_simulator

    configure_logging(args.log_level)
    loaded = _load(args.config)
    crew = None
    if args.crew:
        from edge.sim.crew import CrewParams

        # The crew moves in real time whatever --time-scale says: its record timestamps are the gateway's
        # "last seen" times, and a crew running ahead of the wall clock would be seen in the future.
        crew = CrewParams(nodes=args.crew, seed=args.seed, scenario=args.crew_scenario)
    return run_simulator(
        loaded.spec,
        scenario_name=args.scenario,
        seed=args.seed,
        time_scale=args.time_scale,
        wire_baud=args.wire_baud,
        coil_log=Path(args.coil_log) if args.coil_log else None,
        duration_s=args.duration,
        data_path=Path(args.data) if args.data else None,
        crew=crew,
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from edge.demo import run_demo

    return run_demo(Path(args.config), scenario=args.scenario, time_scale=args.time_scale)


def cmd_watch(args: argparse.Namespace) -> int:
    from edge.watch import watch

    loaded = _load(args.config)
    if loaded.spec.publish_endpoint is None:
        print("this gateway publishes nothing: set gateway.publish in the config", file=sys.stderr)
        return EXIT_CONFIG
    watch(loaded.spec.publish_endpoint, duration_s=args.duration, all_points=args.all)
    return EXIT_OK


def _control(args: argparse.Namespace, payload: dict[str, Any]) -> dict[str, Any]:
    from edge.control import ControlError, request

    loaded = _load(args.config)
    try:
        reply = request(loaded.spec.control_endpoint, payload, timeout_s=args.timeout)
    except ControlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_FAILURE) from None
    if not reply.get("ok"):
        print(f"refused: {reply.get('error')}", file=sys.stderr)
        raise SystemExit(EXIT_FAILURE)
    return reply


def _print_alarm(event: dict[str, Any]) -> None:
    flags = "".join(
        [
            " LATCHED" if event.get("latched") else "",
            " SHELVED" if event.get("shelved") else "",
            " CHATTERING" if event.get("chattering") else "",
        ]
    )
    stamp = time.strftime("%H:%M:%S", time.gmtime(float(event["t_wall"])))
    print(f"{stamp}Z #{event['seq']:<5} {event['alarm_id']:<36} {event['state']:<26}{flags}  {event['message']}")


def cmd_alarms(args: argparse.Namespace) -> int:
    if args.action == "list":
        reply = _control(args, {"cmd": "alarms"})
        alarms = reply["alarms"]
        if not alarms:
            print("no standing alarms")
        for event in alarms:
            _print_alarm(event)
        return EXIT_OK
    payload: dict[str, Any] = {"cmd": args.action, "alarm_id": args.alarm_id, "user": args.user}
    if args.action == "shelve":
        if not args.alarm_id or args.duration is None or not args.reason:
            print("shelve needs ALARM_ID, --duration and --reason", file=sys.stderr)
            return EXIT_CONFIG
        from edge.config.units import parse_duration

        payload["duration_s"] = parse_duration(args.duration)
        payload["reason"] = args.reason
    reply = _control(args, payload)
    for event in reply.get("events", []):
        _print_alarm(event)
    if not reply.get("events"):
        print("nothing changed")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    reply = _control(args, {"cmd": "status"})
    reply.pop("ok", None)
    if args.json:
        print(json.dumps(reply, indent=2, sort_keys=True, default=str))
        return EXIT_OK
    print(
        f"gateway {reply['gateway_id']}: up {reply['uptime_s']:.0f} s, healthy={reply['healthy']}, "
        f"{reply['readings_seen']} readings, flood={reply['flood']}"
    )
    for pid, r in reply["points"].items():
        value = "-" if r["value"] is None else f"{r['value']:.3f}"
        print(f"  {pid:<30} {value:>10} {r['unit']:<5} {r['quality']:<9} {r['reason']}")
    for dev, c in reply["devices"].items():
        print(
            f"  device {dev:<12} requests={c.get('requests')} timeouts={c.get('timeouts')} "
            f"crc={c.get('crc_errors')} exceptions={c.get('exception_codes')}"
        )
    for event in reply["alarms"]:
        _print_alarm(event)
    return EXIT_OK


def cmd_scenarios(args: argparse.Namespace) -> int:
    from edge.sim.scenarios import scenarios

    for name, description in scenarios().items():
        print(f"{name:<18} {description}")
    return EXIT_OK


def cmd_muster(args: argparse.Namespace) -> int:
    reply = _control(args, {"cmd": "muster"})
    if args.json:
        reply.pop("ok", None)
        print(json.dumps(reply, indent=2, sort_keys=True))
        return EXIT_OK
    miners = reply["miners"]
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(reply["now_wall"])))
    print(
        f"muster list at {stamp}Z: {len(miners)} miners (model {reply['model']}, {reply['file']}); "
        "longest unheard first"
    )
    print(
        f"{'miner':<10} {'role':<11} {'unheard':>8} {'last pillar':>11} {'predicted':>9} {'conf':>5}  top-3"
        f"{'':<22} last gateway"
    )
    for m in miners:
        conf = "-" if m["confidence"] is None else f"{m['confidence']:.2f}"
        top3 = " ".join(f"{label}:{p:.2f}" for label, p in m["top3"]) or "-"
        since = m["since_contact_s"]
        gateway = "-" if m["last_gateway"] is None else f"{m['last_gateway']} ({since:.0f} s ago)"
        print(
            f"{m['miner_id']:<10} {m['role']:<11} {m['since_seen_s']:>7.0f}s {m['last_pillar']:>11} "
            f"{m['predicted_pillar'] or '-':>9} {conf:>5}  {top3:<27} {gateway}"
        )
    return EXIT_OK


def cmd_profiles(args: argparse.Namespace) -> int:
    profiles = load_profiles([BUILTIN_PROFILES])
    if args.name is None:
        for name, loaded in sorted(profiles.items()):
            print(f"{name:<24} {loaded.model.title}")
        return EXIT_OK
    loaded_profile = profiles.get(args.name)
    if loaded_profile is None:
        print(f"no profile {args.name!r}; known: {', '.join(sorted(profiles))}", file=sys.stderr)
        return EXIT_CONFIG
    print(Path(loaded_profile.lines.file).read_text(encoding="utf-8"))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minegate", description="Edge runtime for underground-mine gateways")
    parser.add_argument("--version", action="version", version=f"minegate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check", help="validate a config without touching hardware and print the plan")
    p.add_argument("config")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("run", help="run the gateway")
    p.add_argument("config")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("sim", help="run the simulated mine (Modbus devices) for a config")
    p.add_argument("config")
    p.add_argument("--scenario", default="normal_shift", help="see `minegate scenarios`")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-scale", type=float, default=1.0, help=">1 runs the scenario faster")
    p.add_argument("--wire-baud", type=int, default=None, help="emulate RS-485 wire time at this baud rate")
    p.add_argument("--coil-log", default=None, help="append every relay coil write to this JSON-lines file")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--data", default=None, help="mine-air CSV for the mine_air_replay scenario")
    p.add_argument("--crew", type=int, default=0, help="also publish N simulated miners' movement records")
    p.add_argument(
        "--crew-scenario", default=None, choices=["blocked_drift", "evacuation", "trapped"], help="crew emergency"
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("demo", help="simulated mine + gateway + live view (what `make demo` runs)")
    p.add_argument("--config", default=str(Path("deploy/examples/demo-mine.yaml")))
    p.add_argument("--scenario", default="methane_buildup")
    p.add_argument("--time-scale", type=float, default=1.0)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("watch", help="live readings and alarms from a running gateway's PUB stream")
    p.add_argument("config")
    p.add_argument("--duration", type=float, default=None)
    p.add_argument("--all", action="store_true", help="also show diagnostic points")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("alarms", help="list, acknowledge, reset, shelve alarms of a running gateway")
    p.add_argument("action", choices=["list", "ack", "reset", "shelve", "unshelve"])
    p.add_argument("config")
    p.add_argument("alarm_id", nargs="?", default=None, help="omit to act on all (ack, reset)")
    p.add_argument("--user", default="cli", help="who is acting (journaled)")
    p.add_argument("--duration", default=None, help="shelving time, e.g. 30min (max 8h)")
    p.add_argument("--reason", default=None, help="why the alarm is shelved (journaled)")
    p.add_argument("--timeout", type=float, default=3.0)
    p.set_defaults(func=cmd_alarms)

    p = sub.add_parser("status", help="readings, device counters and alarms of a running gateway")
    p.add_argument("config")
    p.add_argument("--json", action="store_true")
    p.add_argument("--timeout", type=float, default=3.0)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("muster", help="the rescue list: every miner, last known and predicted pillar, time unheard")
    p.add_argument("config")
    p.add_argument("--json", action="store_true")
    p.add_argument("--timeout", type=float, default=3.0)
    p.set_defaults(func=cmd_muster)

    p = sub.add_parser("scenarios", help="list the simulator's scenarios")
    p.set_defaults(func=cmd_scenarios)

    p = sub.add_parser("profiles", help="list device profiles, or print one")
    p.add_argument("name", nargs="?", default=None)
    p.set_defaults(func=cmd_profiles)

    from edge.dtn.commands import add_dtn_parser

    add_dtn_parser(sub)
    from edge.logbook.commands import add_log_parser

    add_log_parser(sub)
    from edge.doctor import add_doctor_parser

    add_doctor_parser(sub)
    from edge.bench.commands import add_bench_parser

    add_bench_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    raise SystemExit(main())
