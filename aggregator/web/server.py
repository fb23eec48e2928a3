"""The dashboard's HTTP server: waitress, plus two things it does not do on its own.

1. **Its own answers carry our security headers.** Waitress answers some requests
   without calling the application: a malformed request line (400), headers over
   ``max_request_header_size`` (431), a body over ``max_request_body_size`` (413), a
   bad chunked encoding... It writes them in ``waitress.task.ErrorTask``, so no WSGI
   middleware ever sees them, and it has no setting for extra headers. The hook it
   does offer is the class attributes ``BaseWSGIServer.channel_class`` and
   ``HTTPChannel.error_task_class``: a channel subclass names an ``ErrorTask``
   subclass that adds the headers before waitress builds the status line. Raising the
   limits instead, so that our app sees the request, would not cover a request line
   that cannot be parsed at all.

2. **A prompt, graceful stop from another thread.** Waitress's loop runs until its
   socket map is empty, and ``close()`` only closes the listening socket: an idle
   keep-alive connection (every browser keeps some) kept the loop, hence ``serve``,
   alive until the caller gave up (10 s). :meth:`Server.close` stops accepting, waits
   for the requests in flight (up to a deadline), closes idle connections, then
   empties the map so the loop returns. Socket work happens in the loop's own thread
   (waitress's trigger runs callables there), as waitress's structures expect.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from waitress import create_server, wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, MultiSocketServer
from waitress.task import ErrorTask

log = logging.getLogger(__name__)

T = TypeVar("T")

LOOP_CALL_TIMEOUT = 2.0  # a loop that does not run a callable by then is gone or stuck
POLL = 0.02


def _with_headers(headers: Mapping[str, str]) -> type[HTTPChannel]:
    extra = list(headers.items())

    class SecureErrorTask(ErrorTask):  # type: ignore[misc]
        def build_response_header(self) -> Any:
            present = {name.lower() for name, _value in self.response_headers}
            self.response_headers.extend(
                (name, value) for name, value in extra if name.lower() not in present
            )
            return super().build_response_header()

    class Channel(HTTPChannel):  # type: ignore[misc]
        error_task_class = SecureErrorTask

    return Channel


class Server:
    """A bound waitress server: ``run()`` blocks (run it in a thread), ``close()``
    stops it from any other thread, ``effective_port`` is the bound port."""

    def __init__(self, app: Any, host: str, port: int, *, threads: int, headers: Mapping[str, str]):
        self._waitress = create_server(
            app, host=host, port=port, threads=threads, ident="aggregator"
        )
        # A MultiSocketServer (a name with several addresses) holds one TcpWSGIServer
        # per address in its map; a single TcpWSGIServer is in its own _map.
        if isinstance(self._waitress, MultiSocketServer):
            self._map: dict[int, Any] = self._waitress.map
        else:
            self._map = self._waitress._map
        channel = _with_headers(headers)
        for listener in self._listeners():
            listener.channel_class = channel
        self._trigger = next(iter(self._listeners())).trigger
        self._running = False
        self._closed = False

    @property
    def effective_port(self) -> int:
        return int(next(iter(self._listeners())).effective_port)

    @property
    def effective_host(self) -> str:
        return str(next(iter(self._listeners())).effective_host)

    def _listeners(self) -> list[BaseWSGIServer]:
        return [d for d in list(self._map.values()) if isinstance(d, BaseWSGIServer)]

    def _channels(self) -> list[HTTPChannel]:
        return [d for d in list(self._map.values()) if isinstance(d, HTTPChannel)]

    def run(self) -> None:
        self._running = True
        try:
            self._waitress.run()
        finally:
            self._running = False

    def _in_loop(self, fn: Callable[[], T]) -> T:
        """``fn()`` in the loop's thread (waitress's trigger), or here if none runs."""
        if not self._running:
            return fn()
        done = threading.Event()
        result: list[T] = []

        def thunk() -> None:
            try:
                result.append(fn())
            finally:
                done.set()

        try:
            self._trigger.pull_trigger(thunk)
        except OSError:  # the trigger is closed: the loop is ending
            return fn()
        if done.wait(LOOP_CALL_TIMEOUT) and result:
            return result[0]
        return fn()

    def _stop_accepting(self) -> None:
        for listener in self._listeners():
            # dispatcher.close, not listener.close: that would also close the trigger
            wasyncore.dispatcher.close(listener)

    def _close_idle(self) -> int:
        """Close connections with nothing in flight; return how many are busy."""
        busy = 0
        for channel in self._channels():
            if channel.requests or channel.total_outbufs_len:
                busy += 1
            else:
                channel.handle_close()
        return busy

    def _close_all(self) -> None:
        for dispatcher in list(self._map.values()):
            try:
                if isinstance(dispatcher, HTTPChannel):
                    dispatcher.handle_close()
                else:
                    dispatcher.close()
            except OSError:  # already closed
                pass
        self._map.clear()

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, let requests in flight finish (at most ``timeout`` seconds),
        close every connection; ``run()`` returns shortly after."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        self._in_loop(self._stop_accepting)
        while self._in_loop(self._close_idle) and time.monotonic() < deadline:
            time.sleep(POLL)
        self._in_loop(self._close_all)
        # Its threads are idle by now (or past the deadline): they exit at once.
        self._waitress.task_dispatcher.shutdown(
            cancel_pending=True, timeout=max(0.1, deadline - time.monotonic())
        )
