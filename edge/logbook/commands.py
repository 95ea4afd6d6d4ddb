"""``minegate log add|similar|list|mark``: the logbook from the command line.

They work on the logbook file directly, with the gateway running or stopped (SQLite serialises the writers), so a
technician can log an entry even when the gateway is down. The file is the config's ``logbook.path`` (default
``<data_dir>/logbook.sqlite``) or ``--data-dir DIR``'s ``logbook.sqlite``.

Exit codes as ``edge.cli``: 0 success, 1 runtime failure (the file cannot be opened), 2 invalid input or usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from edge.clock import SystemClock
from edge.config.issues import ConfigError
from edge.hazard.contract import LogKind
from edge.logbook.config import DEFAULT_ENCODER_DIR, LOGBOOK_FILE, LogbookSection
from edge.logbook.records import LogInputError, parse_time
from edge.logbook.store import LogStore, LogStoreError, StoredEntry
from edge.logbook.tags import Tagger

__all__ = ["add_log_parser"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def _err(text: object) -> None:
    sys.stderr.write(f"{text}\n")


def _out(text: str) -> None:
    sys.stdout.write(f"{text}\n")


@dataclass(frozen=True, slots=True)
class _Target:
    path: Path
    section: LogbookSection | None  # resolved, when a config was given and has a logbook: section


def _target(args: argparse.Namespace) -> _Target:
    if args.config is not None:
        from edge.config.resolve import load_config  # noqa: PLC0415

        try:
            spec = load_config(Path(args.config)).spec
        except ConfigError as exc:
            _err(f"{args.config}: {len(exc.issues)} problem(s) found")
            for issue in exc.issues:
                _err(issue.render())
            raise SystemExit(EXIT_USAGE) from None
        if spec.logbook is not None and spec.logbook.path is not None:
            return _Target(Path(spec.logbook.path), spec.logbook)
        return _Target(Path(spec.data_dir) / LOGBOOK_FILE, None)
    if args.data_dir is not None:
        return _Target(Path(args.data_dir) / LOGBOOK_FILE, None)
    _err("say which gateway's logbook: --config CONFIG.yaml or --data-dir DIR")
    raise SystemExit(EXIT_USAGE)


def _tagger(target: _Target) -> Tagger:
    if target.section is None:
        return Tagger()
    return Tagger(target.section.vocabulary.equipment, target.section.vocabulary.locations)


def _open(target: _Target, *, with_encoder: bool, encoder_spec: str | None = None) -> LogStore:
    encoder = None
    if with_encoder:
        from edge.logbook.service import open_logbook_encoder  # noqa: PLC0415

        spec = encoder_spec or (target.section.encoder if target.section is not None else None)
        encoder, fallback = open_logbook_encoder(spec or str(DEFAULT_ENCODER_DIR))
        if fallback is not None:
            _err(f"note: using the hashed text encoder ({fallback})")
    try:
        return LogStore.open(target.path, encoder=encoder, clock=SystemClock(), tagger=_tagger(target))
    except (LogStoreError, OSError) as exc:
        _err(f"error: {exc}")
        raise SystemExit(EXIT_FAILURE) from None


def _stamp(t_s: float) -> str:
    return dt.datetime.fromtimestamp(t_s, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _line(entry: StoredEntry) -> str:
    tags = " ".join(t for t in (entry.equipment, f"@ {entry.location}" if entry.location else "") if t)
    flags = " INCIDENT" if entry.incident else ""
    alarm = f" alarm={entry.related_alarm}" if entry.related_alarm else ""
    return (
        f"#{entry.id:<5} {_stamp(entry.t_s)}Z {entry.kind.value:<11} [{tags}]{flags}{alarm}  {entry.text}"
        f"  ({entry.source})"
    )


def cmd_add(args: argparse.Namespace) -> int:
    target = _target(args)
    default_kind = target.section.default_kind if target.section is not None else LogKind.OPERATION
    try:
        t_s = None if args.time is None else parse_time(args.time, now_wall=time.time())
    except LogInputError as exc:
        _err(f"refused, nothing stored: {exc}")
        return EXIT_USAGE
    store = _open(target, with_encoder=False)
    try:
        stored = store.add(
            args.text,
            kind=args.kind or default_kind,
            source="cli",
            t_s=t_s,
            related_alarm=args.alarm,
            incident=args.incident,
        )
    except LogInputError as exc:
        _err(f"refused, nothing stored: {exc}")
        return EXIT_USAGE
    finally:
        store.close()
    _out(f"stored in {target.path}:")
    _out(_line(stored))
    return EXIT_OK


def cmd_similar(args: argparse.Namespace) -> int:
    target = _target(args)
    store = _open(target, with_encoder=True, encoder_spec=args.encoder)
    try:
        results = store.similar(args.text, args.k, incidents_only=args.incidents)
    except LogInputError as exc:
        _err(f"refused: {exc}")
        return EXIT_USAGE
    finally:
        store.close()
    if not results:
        _out("the logbook has no " + ("incidents" if args.incidents else "entries") + " yet")
        return EXIT_OK
    _out(f"most similar {'incidents' if args.incidents else 'entries'} to {args.text!r}:")
    for entry, score in results:
        _out(f"{score:5.2f}  {_line(entry)}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    target = _target(args)
    since = None
    if args.since is not None:
        try:
            since = _since(args.since)
        except LogInputError as exc:
            _err(f"refused: {exc}")
            return EXIT_USAGE
    store = _open(target, with_encoder=False)
    try:
        entries = store.entries(since_t_s=since, limit=args.limit)
    finally:
        store.close()
    if not entries:
        _out("no entries")
    for entry in entries:
        _out(_line(entry))
    return EXIT_OK


def _since(value: str) -> float:
    """``8h``/``30min`` ago, or a time (epoch or ISO-8601)."""
    from edge.config.units import parse_duration  # noqa: PLC0415

    now = time.time()
    try:
        return now - parse_duration(value)
    except ValueError:
        return parse_time(value, now_wall=now, field="since")


def cmd_mark(args: argparse.Namespace) -> int:
    target = _target(args)
    if args.incident is None and args.alarm is None:
        _err("say what to mark: --incident, --not-incident and/or --alarm ID")
        return EXIT_USAGE
    store = _open(target, with_encoder=False)
    try:
        entry = store.mark(args.id, incident=args.incident, related_alarm=args.alarm)
    except LogInputError as exc:
        _err(f"refused: {exc}")
        return EXIT_USAGE
    finally:
        store.close()
    _out(_line(entry))
    return EXIT_OK


def _where(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--config", default=None, help="the gateway's config (its logbook: path or data_dir)")
    group.add_argument("--data-dir", default=None, help="the gateway's data directory (DIR/logbook.sqlite)")


def add_log_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    log_parser = sub.add_parser("log", help="the operation/maintenance logbook: add entries, find similar incidents")
    actions = log_parser.add_subparsers(dest="log_command", required=True, metavar="ACTION")
    kinds = [k.value for k in LogKind]

    p = actions.add_parser("add", help="add an entry (works with the gateway stopped)")
    p.add_argument("text", help="what happened, one line, at most 160 characters")
    p.add_argument("--kind", choices=kinds, default=None, help="default: operation (or the config's default_kind)")
    p.add_argument("--incident", action="store_true", help="keep it in the case base of past incidents")
    p.add_argument("--alarm", default=None, help="the alarm/warning id this entry is about")
    p.add_argument("--time", default=None, help="when it happened (ISO-8601 or epoch seconds); default now")
    _where(p)
    p.set_defaults(func=cmd_add)

    p = actions.add_parser("similar", help="the most similar past entries, with the alarm/warning they relate to")
    p.add_argument("text")
    p.add_argument("-k", type=int, default=5, help="how many (default 5)")
    p.add_argument("--incidents", action="store_true", help="only entries marked as incidents")
    p.add_argument("--encoder", default=None, help="'hashed' or a model directory (default: the config's)")
    _where(p)
    p.set_defaults(func=cmd_similar)

    p = actions.add_parser("list", help="entries in time order")
    p.add_argument("--since", default=None, help="e.g. 8h, 30min, or a time (ISO-8601 / epoch)")
    p.add_argument("--limit", type=int, default=50, help="at most this many, the newest (default 50)")
    _where(p)
    p.set_defaults(func=cmd_list)

    p = actions.add_parser("mark", help="put an entry in the case base or link it to an alarm/warning")
    p.add_argument("id", type=int)
    flag = p.add_mutually_exclusive_group()
    flag.add_argument("--incident", dest="incident", action="store_const", const=True, default=None)
    flag.add_argument("--not-incident", dest="incident", action="store_const", const=False)
    p.add_argument("--alarm", default=None, help="the alarm/warning id this entry is about")
    _where(p)
    p.set_defaults(func=cmd_mark)
