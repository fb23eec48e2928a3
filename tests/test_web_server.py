"""The dashboard's waitress server (aggregator/web/server.py): the answers waitress
writes itself carry the security headers, and the server stops promptly (requests in
flight finished) when closed, and so do `serve` and `run` on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from websupport import make_app

from aggregator.web import SECURITY_HEADERS, serve


@contextmanager
def running(app) -> Iterator[tuple[object, int]]:
    server = serve(app, "127.0.0.1", 0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server, server.effective_port
    finally:
        server.close()
        thread.join(timeout=5)


def exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes, read the whole answer (waitress closes after its own errors)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def read_one(sock: socket.socket) -> bytes:
    """One whole answer from a kept-alive connection (Content-Length framed)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    length = int(re.search(rb"Content-Length: (\d+)", data).group(1))
    while len(data.split(b"\r\n\r\n", 1)[1]) < length:
        data += sock.recv(65536)
    return data


def headers_of(answer: bytes) -> tuple[int, dict[str, str]]:
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = {}
    for line in head[1:]:
        name, _sep, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


@pytest.fixture
def plain_app(site):
    app = make_app(site)
    yield app
    app.extensions["aggregator"].close()


def test_waitress_own_error_answers_carry_the_security_headers(plain_app):
    # Exactly waitress's max_request_header_size (256 KiB) and no blank line: it reads
    # every byte before refusing, so it closes cleanly instead of resetting.
    start = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
    oversize = start + b"a" * (262_144 - len(start))
    cases = {431: oversize, 400: b"GARBAGE\r\n\r\n"}
    with running(plain_app) as (_server, port):
        for expected, request in cases.items():
            status, headers = headers_of(exchange(port, request))
            assert status == expected
            for name, value in SECURITY_HEADERS.items():
                assert headers.get(name.lower()) == value, (expected, name)
            assert headers["cache-control"] == "no-store"
            assert headers["content-type"].startswith("text/plain")
        # a bad chunked body is another answer waitress writes itself
        status, headers = headers_of(
            exchange(
                port,
                b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"zz\r\n",
            )
        )
        assert status == 400 and headers["x-content-type-options"] == "nosniff"
        # the app's own answers are unchanged (one header each, not two)
        answer = exchange(
            port, b"GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        status, headers = headers_of(answer)
        assert status == 404 and answer.count(b"X-Content-Type-Options") == 1


def test_close_finishes_requests_in_flight_and_drops_idle_connections(site):
    app = make_app(site)
    entered, release = threading.Event(), threading.Event()

    @app.get("/slow")
    def slow() -> str:
        entered.set()
        release.wait(10)
        return "done"

    server = serve(app, "127.0.0.1", 0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    port = server.effective_port
    idle = socket.create_connection(("127.0.0.1", port), timeout=10)  # a browser's keep-alive
    idle.sendall(b"GET /api/feeds HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert read_one(idle).startswith(b"HTTP/1.1 200")
    answers: list[bytes] = []
    client = threading.Thread(
        target=lambda: answers.append(
            exchange(port, b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        )
    )
    client.start()
    assert entered.wait(10)
    closer = threading.Thread(target=server.close)
    started = time.monotonic()
    closer.start()
    time.sleep(0.2)
    assert closer.is_alive(), "close() must wait for the request in flight"
    release.set()
    closer.join(10)
    thread.join(10)
    client.join(10)
    assert not closer.is_alive() and not thread.is_alive()
    assert time.monotonic() - started < 5
    assert answers and answers[0].startswith(b"HTTP/1.1 200") and answers[0].endswith(b"done")
    assert idle.recv(65536) == b""  # the idle connection was closed, not left open
    idle.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    app.extensions["aggregator"].close()


@pytest.mark.parametrize("command", ["serve", "run"])
def test_sigterm_stops_promptly_with_a_keep_alive_connection_open(tmp_path: Path, command):
    """The real process. A browser keeps connections open: they used to keep waitress
    running until the 10-second join gave up."""
    config = tmp_path / "feeds.yaml"
    config.write_text("tabs:\n  - name: T\n    feeds: []\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    args = [sys.executable, "-m", "aggregator", "--config", str(config)]
    args += ["--db", str(tmp_path / "db.sqlite3"), command, "--port", "0"]
    if command == "run":
        args += ["--processes", "0"]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=env)
    try:
        port = None
        deadline = time.monotonic() + 20
        assert proc.stderr is not None
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if m := re.search(r"dashboard on http://127\.0\.0\.1:(\d+)/", line):
                port = int(m.group(1))
        assert port, "the dashboard never said where it listens"
        browser = socket.create_connection(("127.0.0.1", port), timeout=10)
        browser.sendall(b"GET /feeds HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_one(browser).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[1]
        elapsed = time.monotonic() - started
        browser.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, rest
    assert elapsed < 5, f"{command} took {elapsed:.1f} s to stop"
