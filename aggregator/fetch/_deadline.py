"""The whole-fetch deadline of ``aggregator.fetch``: ``_Deadline`` and ``_Watchdog``.

Connect and read timeouts bound single socket operations only; this module owns
the bound on a whole fetch (all redirects, the whole body), enforced by one
watchdog thread per Fetcher that shuts down the sockets of a fetch whose deadline
has passed. The connection classes in ``_guard`` register sockets here.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time


class _Deadline:
    """Enforces the whole-fetch deadline by shutting down sockets when it passes.

    Socket timeouts only bound each recv(), and urllib3/http.client loop over
    recv() until they have what they want (a header line, ``amt`` bytes), so a
    server dripping a byte per second never trips them. A timer thread therefore
    calls shutdown() on every socket of the fetch at the deadline, which wakes the
    blocked recv() with EOF. It shuts down its own dup() of each socket: the fetch
    thread may close the original at any moment, and a dup can never be a reused
    file descriptor belonging to someone else.
    """

    def __init__(self, seconds: float, watchdog: _Watchdog) -> None:
        self.expires = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.fired = False
        self.done = False
        watchdog.add(self)

    def remaining(self) -> float:
        return max(0.0, self.expires - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        try:
            dup = socket.fromfd(sock.fileno(), sock.family, sock.type)
        except OSError:  # already closed
            return
        with self._lock:
            if not self.done:
                self._sockets.append(dup)
                if self.fired:
                    _shutdown(dup)
                return
        dup.close()

    def fire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.fired = True
            for sock in self._sockets:
                _shutdown(sock)

    def finish(self) -> bool:
        """Stop watching; True when the deadline fired (the fetch must fail)."""
        with self._lock:
            self.done = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()
        return self.fired


class _Watchdog:
    """One thread fires every deadline of a Fetcher, in expiry order.

    A threading.Timer per fetch started (and tore down) a thread for every poll,
    which was most of the CPU of a warm refresh where every feed answers 304
    (benchmarks/ingest.py). Finished deadlines stay in the heap until they reach the
    top; firing one is then a no-op.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, deadline: _Deadline) -> None:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="fetch-deadlines", daemon=True
                )
                self._thread.start()
            heapq.heappush(self._heap, (deadline.expires, next(self._seq), deadline))
            if self._heap[0][2] is deadline:  # the new earliest: re-arm the wait
                self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                if not self._heap:
                    self._cond.wait()
                    continue
                expires, _, deadline = self._heap[0]
                wait = expires - time.monotonic()
                if deadline.done or wait <= 0:
                    heapq.heappop(self._heap)
                    deadline.fire()  # takes only the deadline's own lock
                else:
                    self._cond.wait(wait)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # not connected (yet), or already closed
        sock.shutdown(socket.SHUT_RDWR)
