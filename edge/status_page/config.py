"""The ``status_page:`` configuration section (unknown keys refused), embedded in the gateway schema. For example::

    status_page:
      listen: 127.0.0.1:8080              # loopback by default: the page is for the gateway's own screen / ssh -L
      ack_token_file: /etc/minegate/status-page.token   # omit: the page is read-only
      map:
        layout: ../../models/localization/layout.json   # default: the location model's layout
        gateway: e2c25                  # the intersection this gateway hangs at
        points: {ch4_tg_mm12: e3c30, co_belt2: e3c20}   # point id -> intersection or pillar id

Paths are relative to the config file. The token file holds one line (at least 16 characters) and is read when
the gateway starts; it never appears in the config, the spec, a log line or a page.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edge.config.units import Duration

__all__ = [
    "DEFAULT_LISTEN",
    "MIN_TOKEN_CHARS",
    "MapSection",
    "SectionProblem",
    "StatusPageSection",
    "TokenError",
    "parse_listen",
    "read_token",
    "resolve_section",
]

DEFAULT_LISTEN = "127.0.0.1:8080"
MIN_TOKEN_CHARS = 16
_HOW_TO_MAKE_ONE = (
    "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > FILE; chmod 600 FILE"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MapSection(_Strict):
    layout: str | None = Field(None, description="a mine layout.json; default: the location model's layout")
    gateway: str | None = Field(None, description="intersection (e.g. e2c25) where this gateway hangs")
    points: dict[str, str] = Field(default_factory=dict, description="point id -> intersection or pillar id")


class StatusPageSection(_Strict):
    listen: str = Field(DEFAULT_LISTEN, description="HOST:PORT to serve on; loopback unless the mine LAN needs it")
    ack_token_file: str | None = Field(None, description="file holding the bearer token for acknowledging alarms")
    refresh: Duration = Field(2.0, ge=0.5, le=60, description="how often the open page asks for new values")
    map: MapSection = MapSection()

    @field_validator("listen", mode="before")
    @classmethod
    def port_alone_is_loopback(cls, value: object) -> object:
        # YAML reads "listen: 8080" as a number: that is a port on this machine only.
        return f"127.0.0.1:{value}" if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("listen")
    @classmethod
    def host_and_port(cls, value: str) -> str:
        parse_listen(value)
        return value


def parse_listen(value: str) -> tuple[str, int]:
    """``"127.0.0.1:8080"`` -> ("127.0.0.1", 8080); ``"[::1]:8080"`` -> ("::1", 8080)."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"listen {value!r} is not HOST:PORT; write e.g. 127.0.0.1:8080 or [::1]:8080")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"listen {value!r}: port {port} is outside 0-65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(
                f"listen {value!r}: {host!r} is not an IP address; write the address to bind "
                "(127.0.0.1 for this machine only, 0.0.0.0 for every interface)"
            ) from None
    return host, port


def is_loopback(host: str) -> bool:
    return host == "localhost" or ipaddress.ip_address(host).is_loopback


class TokenError(ValueError):
    """The acknowledge token file cannot be used; the message names the file and the fix (never the token)."""


def read_token(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TokenError(
            f"status_page.ack_token_file {path}: cannot read it ({exc.strerror}); {_HOW_TO_MAKE_ONE}"
        ) from None
    except UnicodeDecodeError:
        raise TokenError(f"status_page.ack_token_file {path}: not UTF-8 text; {_HOW_TO_MAKE_ONE}") from None
    token = text.strip()
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise TokenError(
            f"status_page.ack_token_file {path}: the token must be one word of at least {MIN_TOKEN_CHARS} "
            f"characters (found {len(token)} characters{', with spaces' if any(c.isspace() for c in token) else ''}); "
            f"{_HOW_TO_MAKE_ONE}"
        )
    return token


@dataclass(frozen=True)
class SectionProblem:
    path: tuple[str, ...]  # inside the section
    message: str
    value: str | None = None  # the offending name, when the problem is an unknown one
    allowed: tuple[str, ...] = ()
    warning: bool = False


def resolve_section(
    section: StatusPageSection,
    *,
    base_dir: Path,
    point_ids: Collection[str],
    localization_layout: Path | None,
) -> tuple[StatusPageSection, list[SectionProblem]]:
    """The section with every path absolute and the map's layout filled in, and the problems found."""

    def absolute(path: str) -> str:
        return os.path.normpath(base_dir / path) if not Path(path).is_absolute() else path

    problems: list[SectionProblem] = []
    host, _ = parse_listen(section.listen)
    token_file = section.ack_token_file
    if token_file is not None:
        token_file = absolute(token_file)
        try:
            read_token(Path(token_file))
        except TokenError as exc:
            problems.append(SectionProblem(("ack_token_file",), str(exc).split(": ", 1)[1]))
        else:
            mode = Path(token_file).stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                problems.append(
                    SectionProblem(
                        ("ack_token_file",),
                        f"{token_file} can be read by other users (mode {stat.filemode(mode)}): chmod 600 it",
                        warning=True,
                    )
                )
    if not is_loopback(host):
        problems.append(
            SectionProblem(
                ("listen",),
                f"the status page is served without TLS on {host}: anyone on that network sees the mine's "
                "readings"
                + (" and can try the acknowledge token" if token_file else "")
                + "; prefer 127.0.0.1 and an ssh tunnel or a TLS reverse proxy",
                warning=True,
            )
        )
    layout = section.map.layout
    if layout is not None:
        layout = absolute(layout)
        if not Path(layout).is_file():
            problems.append(SectionProblem(("map", "layout"), f"no such layout file: {layout}"))
    elif localization_layout is not None:
        layout = str(localization_layout)
    elif section.map.gateway is not None or section.map.points:
        problems.append(
            SectionProblem(
                ("map",),
                "the map places things on a mine layout but none is known: give map.layout (a layout.json) "
                "or configure localization",
            )
        )
    if layout is not None and Path(layout).is_file():
        problems += _check_places(section.map, Path(layout))
    known = sorted(point_ids)
    for point in section.map.points:
        if point not in point_ids:
            problems.append(SectionProblem(("map", "points", point), "no point of that name", point, tuple(known)))
    resolved = section.model_copy(
        update={"ack_token_file": token_file, "map": section.map.model_copy(update={"layout": layout})}
    )
    return resolved, problems


def _check_places(section: MapSection, layout_path: Path) -> list[SectionProblem]:
    """Every place the map names must be an intersection or a pillar of the layout."""
    from edge.sim.mine_layout import MineLayout  # noqa: PLC0415  (numpy graph code, only when a map is drawn)

    try:
        layout = MineLayout.load(layout_path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [SectionProblem(("map", "layout"), f"{layout_path} is not a mine layout: {exc}")]
    places = set(layout.nodes) | set(layout.pillar_ids)
    hint = (*sorted(layout.nodes)[:3], *layout.pillar_ids[:2], "...")
    problems = []
    if section.gateway is not None and section.gateway not in places:
        problems.append(
            SectionProblem(("map", "gateway"), "no intersection or pillar of that name", section.gateway, hint)
        )
    for point, place in section.points.items():
        if place not in places:
            problems.append(
                SectionProblem(("map", "points", point), "no intersection or pillar of that name", place, hint)
            )
    return problems
