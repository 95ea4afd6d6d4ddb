"""The gateway's status page: a local HTTP server run as an advisory task (``status_page:`` in the config).

Routes: ``GET /`` the page, ``GET /api/status`` its JSON, ``GET /metrics`` Prometheus text, ``GET /static/...``
its script and style, and ``POST /api/alarms/<id>/ack`` (only with ``ack_token_file``; ``Authorization: Bearer``).
An acknowledge goes through the gateway's control path with the user "status-page", so it is journaled, drives
the relays and is published exactly like ``minegate alarms ack``. A page that fails costs the page only.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.alarms.events import AlarmState
from edge.control import ControlError
from edge.status_page.config import StatusPageSection, parse_listen, read_token
from edge.status_page.http_server import HttpServer, Request, Response
from edge.status_page.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from edge.status_page.metrics import ProcessFigures, render_metrics
from edge.status_page.mine_map import MineMap
from edge.status_page.page import render_page
from edge.status_page.view import build_view

if TYPE_CHECKING:
    from edge.app import Gateway

log = logging.getLogger(__name__)

ACK_USER = "status-page"
FAILED_AUTH_DELAY_S = 0.5  # a wrong token costs the guesser time; the page itself never waits on it
_STATIC = {"page.js": "text/javascript; charset=utf-8", "page.css": "text/css; charset=utf-8"}


class StatusPage:
    def __init__(self, section: StatusPageSection, gateway: Gateway) -> None:
        self.section = section
        self.gateway = gateway
        host, port = parse_listen(section.listen)
        # The token is read once, here; a missing or short one refuses the page (Gateway reports the fault).
        self._token: bytes | None = (
            read_token(Path(section.ack_token_file)).encode() if section.ack_token_file is not None else None
        )
        self.mine_map, self.map_note = _load_map(section, gateway)
        self.server = HttpServer(host, port, self.handle)
        self.requests: Counter[str] = Counter()
        self.listening = asyncio.Event()  # set once the port is bound (server.port is then the real one)
        self._static = {
            name: resources.files("edge.status_page").joinpath("static", name).read_bytes() for name in _STATIC
        }

    @property
    def ack_enabled(self) -> bool:
        return self._token is not None

    @property
    def url(self) -> str:
        host = f"[{self.server.host}]" if ":" in self.server.host else self.server.host
        return f"http://{host}:{self.server.port}/"

    def view(self) -> dict[str, Any]:
        return build_view(self.gateway, mine_map=self.mine_map, ack_enabled=self.ack_enabled, map_note=self.map_note)

    async def run(self) -> None:
        await self.server.start()
        self.listening.set()
        log.info("status page on %s (%s)", self.url, "acknowledge with token" if self.ack_enabled else "read-only")
        try:
            await asyncio.Event().wait()
        finally:
            self.listening.clear()
            await self.server.close()

    # ---- routes --------------------------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        response = await self._route(request)
        self.requests[str(response.status)] += 1
        return response

    async def _route(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/api/alarms/") and path.endswith("/ack"):
            if request.method != "POST":
                return Response.error(405, "acknowledge with POST", {"Allow": "POST"})
            return await self._acknowledge(request, path.removeprefix("/api/alarms/").removesuffix("/ack"))
        if request.method not in ("GET", "HEAD"):
            return Response.error(
                405, f"{request.method} is not served here; the page is read with GET", {"Allow": "GET, HEAD"}
            )
        if path in ("/", "/index.html"):
            view = self.view()
            html = render_page(view, mine_map=self.mine_map, refresh_s=self.section.refresh)
            return Response(200, html.encode(), "text/html; charset=utf-8")
        if path == "/api/status":
            return Response.json(200, self.view())
        if path == "/metrics":
            text = render_metrics(self.view(), ProcessFigures.read(), requests=self.requests)
            return Response(200, text.encode(), METRICS_CONTENT_TYPE)
        if path.startswith("/static/") and path.removeprefix("/static/") in _STATIC:
            name = path.removeprefix("/static/")
            return Response(200, self._static[name], _STATIC[name])
        return Response.error(404, f"no page at {path}; try /, /api/status or /metrics")

    async def _acknowledge(self, request: Request, alarm_id: str) -> Response:
        if self._token is None:
            return Response.error(
                403,
                "acknowledging from the status page is off on this gateway: set status_page.ack_token_file, "
                "or acknowledge at the panel or with `minegate alarms ack`",
            )
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return Response.error(
                401, "send the status page token as 'Authorization: Bearer <token>'", {"WWW-Authenticate": "Bearer"}
            )
        if not hmac.compare_digest(presented.strip().encode(), self._token):
            log.warning("status page: acknowledge of %r from %s refused: wrong token", alarm_id, request.peer)
            await asyncio.sleep(FAILED_AUTH_DELAY_S)
            return Response.error(403, "wrong token: acknowledge refused")
        standing = {e.alarm_id: e for e in self.gateway.alarms.snapshot()}
        event = standing.get(alarm_id)
        if event is None:
            listing = ", ".join(sorted(standing)) or "none"
            return Response.error(404, f"no standing alarm {alarm_id!r}; standing alarms: {listing}")
        if event.state not in (AlarmState.UNACK, AlarmState.RTN_UNACK):
            return Response.error(409, f"alarm {alarm_id!r} is already acknowledged ({event.state.value})")
        try:
            reply = self.gateway.handle_control({"cmd": "ack", "alarm_id": alarm_id, "user": ACK_USER})
        except ControlError as exc:
            return Response.error(409, str(exc))
        log.info("status page: %s acknowledged from %s", alarm_id, request.peer)
        return Response.json(200, {"ok": True, "events": reply["events"]})


def _load_map(section: StatusPageSection, gateway: Gateway) -> tuple[MineMap | None, str]:
    from edge.sim.mine_layout import MineLayout  # noqa: PLC0415  (numpy graph code, only for a map)

    path = section.map.layout
    if path is None:
        return None, "no mine layout known: set status_page.map.layout or configure localization"
    try:
        layout = MineLayout.load(Path(path))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"mine layout {path} could not be read: {exc}"
    mine_map = MineMap(
        layout, gateway_id=gateway.spec.gateway_id, gateway_place=section.map.gateway, points=dict(section.map.points)
    )
    unplaced = [
        p.point_id
        for d in gateway.spec.devices
        for p in d.points
        if not p.diagnostic and p.point_id not in mine_map.points
    ]
    note = ""
    if section.map.gateway is None:
        note = "this gateway is not placed: set status_page.map.gateway. "
    if unplaced:
        note += f"{len(unplaced)} sensor(s) not placed on the map (status_page.map.points)."
    return mine_map, note.strip()
