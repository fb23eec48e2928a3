"""Worker processes for the CPU stage: a pool that survives its workers' deaths and
workers that never outlive their parent (issue 7, items 2 and 13)."""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import multiprocessing.connection
import queue
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime

from aggregator.cpustage import ProcessedFeed, cpu_stage, init_worker
from aggregator.errors import ParseError

log = logging.getLogger(__name__)

# cpu_stage's arguments: feed URL, body, headers, final URL, now, known entry hashes.
CpuArgs = tuple[str, bytes, dict[str, str], str, datetime, dict[str, str]]


class ParsePool:
    """Worker processes for the CPU stage, which outlive their workers and stay warm
    between batches.

    When a worker process dies (killed, out of memory, a crash inside C code) or a
    result cannot be read back, ``ProcessPoolExecutor`` fails every job it holds
    with ``BrokenProcessPool`` and refuses new ones (CPython gh-80462): one bad feed
    would fail every feed in flight. Here the jobs of a broken pool are innocent until
    proven guilty. The pool is replaced (once per breakage, by whoever notices first)
    and each of its jobs runs again, alone, in a one-process "quarantine" pool: a job
    that kills its worker there too is the culprit, and only that feed fails
    (``parse_crash``); the others get their result.

    Warm (issue 14): starting two workers costs about a second of CPU (an interpreter
    each, importing feedparser and bleach), paid again at every batch when the pool
    lived for one batch. The pool now lives as long as its owner (``Updater``) and
    its processes stop after ``idle`` seconds without work, so an idle aggregator
    still stays small. Every job is submitted, and so every worker process started,
    from the pool's own "keeper" thread, which lives until ``close()``: the kernel's
    parent-death signal follows the parent *thread* (see ``init_worker``), so the
    workers must not belong to a fetch thread that ends with its batch.
    """

    # Past this many breakages, something is wrong with the workers themselves (they
    # cannot start?): every job goes through the quarantine, one at a time, instead
    # of starting new pools again and again.
    MAX_RESTARTS = 3
    # Seconds a worker has to exit once told to stop, before it is terminated.
    STOP_GRACE = 10.0
    # What a worker runs; a class attribute so a test can run a job that crashes.
    job = staticmethod(cpu_stage)

    def __init__(self, processes: int, *, idle: float | None = None) -> None:
        self.processes = processes
        self.idle = idle
        self.restarts = 0
        self.started = 0  # executors created (a test sees warm reuse with it)
        self._lock = threading.Lock()
        self._closed = False
        self._busy = 0  # jobs in flight: an idle stop waits for none
        self._shared: cf.ProcessPoolExecutor | None = None  # started at first use
        self._alone = threading.Lock()  # one quarantine job at a time
        self._quarantine: cf.ProcessPoolExecutor | None = None
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._keeper = threading.Thread(target=self._keep, name="parse-pool", daemon=True)
        self._keeper.start()

    def _new(self, processes: int) -> cf.ProcessPoolExecutor:
        # spawn, not fork: forking a process that runs threads can copy held locks.
        ctx = multiprocessing.get_context("spawn")
        self.started += 1
        return cf.ProcessPoolExecutor(processes, mp_context=ctx, initializer=init_worker)

    # -- the keeper thread --

    def _keep(self) -> None:
        while True:
            try:
                call = self._calls.get(timeout=self.idle)
            except queue.Empty:
                self._stop_idle()
                continue
            if call is None:  # close(): every call put before it has been served
                return
            fn, args, reply = call
            try:
                reply.set_result(fn(*args))
            except BaseException as e:  # noqa: BLE001 - handed to the caller as is
                reply.set_exception(e)

    def _submit(self, pool: cf.ProcessPoolExecutor, args: CpuArgs) -> cf.Future:
        """``pool.submit(job, *args)``, done by the keeper thread (worker processes
        are started by the thread that submits)."""
        reply: cf.Future = cf.Future()
        with self._lock:
            self._check_open()  # under the lock: nothing is queued after close's None
            self._calls.put((pool.submit, (self.job, *args), reply))
        return reply.result()

    def _stop_idle(self) -> None:
        with self._lock:
            if self._busy or self._closed:
                return
            pools = [p for p in (self._shared, self._quarantine) if p is not None]
            self._shared = self._quarantine = None
        for pool in pools:
            log.debug("parse worker processes idle for %s s: stopping them", self.idle)
            stop_pool(pool, grace=self.STOP_GRACE)

    # -- the callers' side --

    def run(self, args: CpuArgs) -> ProcessedFeed:
        """``cpu_stage(*args)`` in a worker process; raises what it raises."""
        with self._lock:
            self._check_open()
            if self._shared is None and self.restarts <= self.MAX_RESTARTS:
                self._shared = self._new(self.processes)  # first use, or after idling
            pool = self._shared
            self._busy += 1
        try:
            if pool is not None:
                try:
                    return self._submit(pool, args).result()
                except BrokenProcessPool:
                    self._replace(pool)
            return self._run_alone(args)
        finally:
            with self._lock:
                self._busy -= 1

    def _replace(self, broken: cf.ProcessPoolExecutor) -> None:
        with self._lock:
            if self._shared is not broken:  # another job noticed first, or closed
                return
            broken.shutdown(wait=False, cancel_futures=True)
            self.restarts += 1
            if self.restarts > self.MAX_RESTARTS:
                self._shared = None
                log.error("parse worker processes keep dying; parsing one feed at a time")
                return
            log.warning("a parse worker process died; starting new ones, its feeds are retried")
            self._shared = self._new(self.processes)

    def _run_alone(self, args: CpuArgs) -> ProcessedFeed:
        url = args[0]
        with self._alone:
            with self._lock:
                self._check_open()
                if self._quarantine is None:
                    self._quarantine = self._new(1)
                pool = self._quarantine
            try:
                return self._submit(pool, args).result()
            except BrokenProcessPool:
                with self._lock:
                    pool.shutdown(wait=False, cancel_futures=True)
                    if self._quarantine is pool:
                        self._quarantine = None
                log.error("%s: the parse worker process died while reading this feed", url)
                raise ParseError(
                    url,
                    "parse_crash",
                    "reading this feed made the parser process crash, twice; this is a bug "
                    "in the aggregator or a library it uses, please report it",
                ) from None

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the parse pool is closed")

    def close(self, *, wait: bool = True) -> None:
        """Stop the worker processes; jobs not started yet are cancelled.

        ``wait=False`` (a refresh aborted by a storage failure): do not wait for the
        jobs in flight, whose results would be dropped anyway; the workers are
        terminated at once. ``wait=True`` gives them ``STOP_GRACE`` seconds to exit.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pools = [p for p in (self._shared, self._quarantine) if p is not None]
            self._shared = self._quarantine = None
            self._calls.put(None)
        for pool in pools:
            stop_pool(pool, grace=self.STOP_GRACE if wait else 0.0)
        if wait and self._keeper is not threading.current_thread():
            self._keeper.join()


def stop_pool(pool: cf.ProcessPoolExecutor, *, grace: float) -> None:
    """Shut ``pool`` down: its workers get ``grace`` seconds to exit, then are
    terminated (then killed). Never ``shutdown(wait=True)``: it joins workers with
    no time limit, and a worker that does not exit (blocked writing a result nobody
    reads, or wedged by the host) hung ``aggregator fetch`` at its end, the keeper
    thread at an idle stop (so every later refresh), and a test run under load.
    Waiting is on each process's sentinel, which becomes readable when it exits
    whichever thread reaps it (the executor's own manager thread joins them too)."""
    # No public way to reach the workers of an executor before Python 3.14
    # (terminate_workers); _processes is the executor's own pid -> Process map.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    left = {p.sentinel: p for p in processes}
    deadline = time.monotonic() + grace
    for force in (False, True):
        while left:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for ready in multiprocessing.connection.wait(list(left), remaining):
                left.pop(ready, None)  # type: ignore[call-overload]
        if not left:
            for process in processes:  # exited: reap them now (their CPU is then
                process.join(1.0)  # counted in RUSAGE_CHILDREN; no zombies left)
            return
        if grace:
            log.warning("%d parse worker process(es) did not stop in %s s", len(left), grace)
        for process in left.values():
            process.kill() if force else process.terminate()
        deadline = time.monotonic() + 5.0
        grace = 0.0
