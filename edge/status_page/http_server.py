"""A small HTTP/1.1 server on ``asyncio.start_server``: one request per connection, bounded in size and time.

Enough for a read-mostly local page and a Prometheus scraper; it is not a general web server (no keep-alive, no
chunked request bodies, no TLS: put a reverse proxy in front for anything beyond the gateway's own network).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from edge.aio import within

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 4 * 1024
READ_TIMEOUT_S = 10.0
WRITE_TIMEOUT_S = 10.0
SECURITY_HEADERS = {
    # The page loads its script and style from here only and may not be framed (clickjacking an Acknowledge).
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # percent-decoded, without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    peer: str


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(payload, allow_nan=False, separators=(",", ":")).encode()
        return cls(status, body, "application/json", dict(headers or {}))

    @classmethod
    def error(cls, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        return cls.json(status, {"error": message, "status": status}, headers)


Handler = Callable[[Request], Awaitable[Response]]


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def read_request(reader: asyncio.StreamReader, peer: str) -> Request:
    try:
        head = await within(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
    except asyncio.LimitOverrunError:
        raise BadRequest(431, f"request head longer than {MAX_HEAD_BYTES} bytes") from None
    except asyncio.IncompleteReadError:
        raise BadRequest(400, "connection closed before the request head ended") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, f"malformed request line {lines[0][:80]!r}")
    method, target, _ = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(400, f"malformed header line {line[:80]!r}")
        headers[name.lower()] = value.strip()
    if "transfer-encoding" in headers:
        raise BadRequest(501, "chunked request bodies are not accepted; send Content-Length")
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise BadRequest(400, f"Content-Length {length_text!r} is not a number")
    length = int(length_text)
    if length > MAX_BODY_BYTES:
        raise BadRequest(413, f"request body of {length} bytes; at most {MAX_BODY_BYTES}")
    try:
        body = await within(reader.readexactly(length), READ_TIMEOUT_S) if length else b""
    except asyncio.IncompleteReadError:
        raise BadRequest(400, "connection closed before the request body ended") from None
    split = urlsplit(target)
    return Request(method.upper(), unquote(split.path), parse_qs(split.query), headers, body, peer)


def encode_response(response: Response, *, head_only: bool) -> bytes:
    reason = HTTPStatus(response.status).phrase
    headers = {
        "Content-Type": response.content_type,
        "Content-Length": str(len(response.body)),
        "Connection": "close",
        **SECURITY_HEADERS,
        **response.headers,
    }
    head = f"HTTP/1.1 {response.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode("latin-1") + b"\r\n" + (b"" if head_only else response.body)


class HttpServer:
    def __init__(self, host: str, port: int, handler: Handler) -> None:
        self.host = host
        self.port = port  # 0: the kernel chooses; the bound port is here after start()
        self._handler = handler
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_HEAD_BYTES)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await within(self._server.wait_closed(), 2.0)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else str(peername)
        head_only = False
        try:
            try:
                request = await read_request(reader, peer)
                head_only = request.method == "HEAD"
                response = await self._handler(request)
            except BadRequest as exc:
                response = Response.error(exc.status, str(exc))
            except TimeoutError:
                response = Response.error(408, f"no complete request within {READ_TIMEOUT_S:g} s")
            except Exception as exc:
                # A page bug costs one request, never the page or the gateway.
                log.exception("status page: request from %s failed", peer)
                response = Response.error(500, f"internal error: {type(exc).__name__}")
            writer.write(encode_response(response, head_only=head_only))
            await within(writer.drain(), WRITE_TIMEOUT_S)
        except (ConnectionError, TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await within(writer.wait_closed(), 2.0)
