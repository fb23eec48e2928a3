"""A real HTTP server on 127.0.0.1 for tests and benchmarks: friendly and hostile feeds.

    with FeedServer(Path("tests/data/feeds")) as server:   # tls=(cert, key) for HTTPS
        url = server.url("/feeds/fetch-basic.xml")
        server.add("/custom.xml", b"<rss/>", headers={"Content-Type": "application/rss+xml"})
        ...
        assert server.requests[0].headers["user-agent"].startswith("aggregator/")

Routes (every ``<name>`` is a file under ``root``; a ``<content-type>`` segment is
percent-encoded, e.g. ``text%2Fhtml``):

    /feeds/<name>                  the file, with ETag, Last-Modified and 304 handling;
                                   gzip-encoded when the request accepts gzip
    /gzip/<name>                   the file, always gzip-encoded
    /ctype/<content-type>/<name>   the file with that (possibly lying) Content-Type
    /redirect/<code>/<n>/<name>    n hops of <code> (301/302/303/307/308), then /feeds/<name>
    /redirect-to?url=U&status=302  one redirect to an arbitrary Location U
    /status/<code>[?retry_after=V] an error status; 429 and 503 send Retry-After
                                   (V, default 120; empty V sends none)
    /slow/<seconds>/<name>         waits before sending anything, then /feeds/<name>
    /drip/<interval>/<name>        headers at once, then the body one byte per interval;
                                   ?phase=headers drips the status line and headers too
    /bomb/<MB>[?chunked=1]         <MB> MiB of zeros, gzip-compressed (a few KiB on the wire)
    /big/<MB>[?length=0]           <MB> MiB of plain bytes (length=0: no Content-Length)
    /hangup                        closes the connection without answering
    /truncated/<name>              announces 100 more bytes than it sends, then closes
    /garbage                       answers with something that is not HTTP

Routes added with ``add()`` take precedence; they match the path with its query
first, then without. Every request that reaches a handler is appended to
``requests`` as ``Request(path, headers)`` with lower-cased header names;
``connections`` counts accepted TCP connections (keep-alive reuse shows as fewer
connections than requests).
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import gzip
import hashlib
import socket
import ssl
import sys
import threading
import time
import zlib
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

MIB = 1024 * 1024
FEED_TYPES = {
    ".xml": "application/rss+xml; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".json": "application/feed+json",
    ".html": "text/html; charset=utf-8",
}


class Request(NamedTuple):
    """One request as received: the raw path (with query) and lower-cased headers."""

    path: str
    headers: dict[str, str]


class Route(NamedTuple):
    body: bytes
    status: int
    headers: dict[str, str]
    conditional: bool


class FeedServer:
    """A ThreadingHTTPServer on ``host`` (127.0.0.1), port 0, in a daemon thread."""

    def __init__(
        self,
        root: Path | None = None,
        *,
        host: str = "127.0.0.1",
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        """``tls=(certfile, keyfile)`` serves HTTPS instead of HTTP."""
        self.root = Path(root) if root is not None else None
        self.host = host
        self.tls = tls
        self.requests: list[Request] = []
        self.connections = 0
        self._routes: dict[str, Route] = {}
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    def start(self) -> FeedServer:
        self._stopping.clear()
        httpd = _Server((self.host, 0), _Handler)
        httpd.owner = self
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            # Handshake in the handler thread (on first read), not in accept().
            httpd.socket = context.wrap_socket(
                httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FeedServer:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, cut open connections, and join every thread."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes /slow and /drip handlers
        httpd.shutdown()
        httpd.cut_connections()  # wakes handlers waiting for a keep-alive request
        httpd.server_close()  # joins handler threads (daemon_threads is False)
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- API for tests --

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    def url(self, path: str = "/") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}/{path.lstrip('/')}"

    def add(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        headers: Mapping[str, str] | None = None,
        status: int = 200,
        conditional: bool = True,
    ) -> str:
        """Serve ``body`` at ``path`` (replacing any earlier body); returns its URL
        (or the path, before ``start()``).

        With ``conditional`` (the default) a 200 also gets an ETag and a
        Last-Modified unless ``headers`` set them, and If-None-Match /
        If-Modified-Since get a 304 when they match.
        """
        data = body.encode() if isinstance(body, str) else body
        path = "/" + path.lstrip("/")
        self._routes[path] = Route(data, status, dict(headers or {}), conditional)
        return self.url(path) if self._httpd is not None else path

    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        return [r.path for r in self.requests]

    # -- used by the handler --

    def route(self, path: str) -> Route | None:
        return self._routes.get(path) or self._routes.get(urlsplit(path).path)

    def file(self, name: str) -> Path | None:
        if self.root is None:
            return None
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root.resolve()) or not path.is_file():
            return None
        return path

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep, returning True early when the server is stopping."""
        return self._stopping.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() joins handler threads
    owner: FeedServer

    def __init__(self, *args, **kwargs) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address) -> None:
        with self._open_lock:
            self._open.add(request)
            self.owner.connections += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        with self._open_lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    # The plain socket method, even for TLS: SSLSocket.shutdown()
                    # would unwrap under the feet of the handler thread.
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def handle_error(self, request, client_address) -> None:
        # A client that hangs up mid-response (size caps, deadlines) is expected.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers
    disable_nagle_algorithm = True  # headers and body are separate writes
    server: _Server
    timeout = 10  # a safety net: no handler waits forever on a silent client

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # keep test output clean; tests read FeedServer.requests instead

    def do_GET(self) -> None:
        owner = self.server.owner
        owner.requests.append(Request(self.path, {k.lower(): v for k, v in self.headers.items()}))
        try:
            self._dispatch(owner)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _dispatch(self, owner: FeedServer) -> None:
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        parts = [unquote(p) for p in split.path.split("/")[1:]]
        route = owner.route(self.path)
        if route is not None:
            return self._serve_route(route)
        kind, args = parts[0], parts[1:]
        if kind == "feeds" and args:
            return self._serve_file("/".join(args))
        if kind == "gzip" and args:
            return self._serve_file("/".join(args), gzip_mode="always")
        if kind == "ctype" and len(args) >= 2:
            return self._serve_file("/".join(args[1:]), content_type=args[0])
        if kind == "redirect" and len(args) >= 3:
            code, hops, name = int(args[0]), int(args[1]), "/".join(args[2:])
            if hops <= 0:
                return self._serve_file(name)
            return self._redirect(code, f"/redirect/{code}/{hops - 1}/{name}")
        if kind == "redirect-to":
            return self._redirect(int(query.get("status", "302")), query["url"])
        if kind == "status" and args:
            return self._status(int(args[0]), query.get("retry_after", "120"))
        if kind == "slow" and len(args) >= 2:
            if owner.wait(float(args[0])):
                self.close_connection = True
                return
            return self._serve_file("/".join(args[1:]))
        if kind == "drip" and len(args) >= 2:
            return self._drip(float(args[0]), "/".join(args[1:]), query.get("phase", "body"))
        if kind == "bomb" and args:
            return self._bomb(int(args[0]), chunked=query.get("chunked") == "1")
        if kind == "big" and args:
            return self._big(int(args[0]), with_length=query.get("length") != "0")
        if kind == "hangup":
            self.close_connection = True
            return None
        if kind == "truncated" and args:
            return self._truncated("/".join(args))
        if kind == "garbage":
            self.close_connection = True
            self.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
            return None
        return self._plain(404, b"no such route\n")

    # -- responses --

    def _send(
        self, status: int, headers: Mapping[str, str], body: bytes = b"", *, length: bool = True
    ) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if length and status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and status != 304:
            self.wfile.write(body)

    def _plain(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self._send(status, {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}, body)

    def _not_modified(self, etag: str | None, last_modified: str | None) -> bool:
        """RFC 9110 §13.1: If-None-Match wins; If-Modified-Since only without it."""
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            if etag is None:
                return False
            tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
            return "*" in tags or etag.removeprefix("W/") in tags
        ims = self.headers.get("If-Modified-Since")
        if ims is None or last_modified is None:
            return False
        try:
            return email.utils.parsedate_to_datetime(
                last_modified
            ) <= email.utils.parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False

    def _serve_body(
        self,
        body: bytes,
        headers: dict[str, str],
        *,
        status: int = 200,
        conditional: bool = True,
        gzip_mode: str = "negotiate",
    ) -> None:
        lower = {k.lower() for k in headers}
        if status == 200 and conditional:
            if "etag" not in lower:
                headers["ETag"] = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            if "last-modified" not in lower:
                headers["Last-Modified"] = "Mon, 01 Jan 2024 00:00:00 GMT"
            etag = next((v for k, v in headers.items() if k.lower() == "etag"), None)
            modified = next((v for k, v in headers.items() if k.lower() == "last-modified"), None)
            if self._not_modified(etag, modified):
                keep = ("etag", "last-modified", "cache-control", "vary")
                return self._send(304, {k: v for k, v in headers.items() if k.lower() in keep})
        accepts_gzip = "gzip" in self.headers.get("Accept-Encoding", "")
        if gzip_mode == "always" or (gzip_mode == "negotiate" and accepts_gzip):
            body = gzip.compress(body, mtime=0)
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
        self._send(status, headers, body)

    def _serve_route(self, route: Route) -> None:
        self._serve_body(
            route.body,
            dict(route.headers),
            status=route.status,
            conditional=route.conditional,
            gzip_mode="never",
        )

    def _serve_file(
        self, name: str, *, content_type: str | None = None, gzip_mode: str = "negotiate"
    ) -> None:
        path = self.server.owner.file(name)
        if path is None:
            return self._plain(404, f"no file {name!r}\n".encode())
        body = path.read_bytes()
        headers = {
            "Content-Type": content_type or FEED_TYPES.get(path.suffix, "application/xml"),
            "ETag": '"' + hashlib.sha1(body).hexdigest()[:16] + '"',
            "Last-Modified": email.utils.formatdate(path.stat().st_mtime, usegmt=True),
        }
        self._serve_body(body, headers, gzip_mode=gzip_mode)

    def _redirect(self, code: int, location: str) -> None:
        self._plain(code, b"moved\n", {"Location": location})

    def _status(self, code: int, retry_after: str) -> None:
        headers = {}
        if code in (429, 503) and retry_after:
            headers["Retry-After"] = retry_after
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Unknown"
        self._plain(code, f"{code} {phrase}\n".encode(), headers)

    def _drip(self, interval: float, name: str, phase: str) -> None:
        path = self.server.owner.file(name)
        body = path.read_bytes() if path else b"x" * 1000
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        self.close_connection = True
        if phase == "body":
            self.wfile.write(head)
            self.wfile.flush()
            dripped = body
        else:
            dripped = head + body
        for i in range(len(dripped)):
            self.wfile.write(dripped[i : i + 1])
            self.wfile.flush()
            if self.server.owner.wait(interval):
                return

    def _truncated(self, name: str) -> None:
        path = self.server.owner.file(name)
        body = path.read_bytes() if path else b"x" * 1000
        self.close_connection = True
        headers = {"Content-Type": "application/rss+xml", "Content-Length": str(len(body) + 100)}
        self._send(200, headers, length=False)
        self.wfile.write(body)

    def _bomb(self, mib: int, *, chunked: bool) -> None:
        body = _gzipped_zeros(mib)
        headers = {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"}
        if not chunked:
            return self._send(200, headers, body)
        headers["Transfer-Encoding"] = "chunked"
        self._send(200, headers, length=False)
        for i in range(0, len(body), 4096):
            piece = body[i : i + 4096]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def _big(self, mib: int, *, with_length: bool) -> None:
        headers = {"Content-Type": "application/rss+xml"}
        if with_length:
            headers["Content-Length"] = str(mib * MIB)
        else:
            headers["Connection"] = "close"
            self.close_connection = True
        self._send(200, headers, length=False)
        block = b"<!-- padding -->" * (64 * 1024 // 16)
        deadline = time.monotonic() + 10
        for _ in range(mib * MIB // len(block)):
            if self.server.owner.stopping or time.monotonic() > deadline:
                self.close_connection = True
                return
            self.wfile.write(block)


@functools.cache
def _gzipped_zeros(mib: int) -> bytes:
    """gzip of ``mib`` MiB of zeros, built 1 MiB at a time (never held uncompressed)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MIB)
    parts = [compressor.compress(zeros) for _ in range(mib)]
    return b"".join(parts) + compressor.flush()
