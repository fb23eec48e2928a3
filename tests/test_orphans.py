"""No process outlives a killed ``aggregator fetch`` or ``run`` (issue 7, item 13).

Every kill -9 of ``fetch`` or ``run`` left the spawned parse workers and the
multiprocessing resource tracker alive forever. These tests start the real command
(and a real process pool), SIGKILL the parent while its workers exist, and check
that every process it had started is gone within a few seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from feedserver import FeedServer

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads the process tree from Linux /proc"
)

FEEDS = 24  # above update.PROCESS_POOL_THRESHOLD, so the process pool is used
RSS = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>F{i}</title>'
    "<link>https://example.org/</link><item><guid>https://example.org/{i}</guid>"
    "<title>Article {i}</title></item></channel></rss>"
)


def proc_info(pid: int) -> tuple[int, str, bytes] | None:
    """(parent pid, state, command line) of a live process; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # a zombie has exited; only its exit status is left
        return None
    return int(fields[1]), fields[0], cmdline


def children(parent: int) -> dict[int, bytes]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := proc_info(int(entry))) and info[0] == parent:
            found[int(entry)] = info[2]
    return found


def wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def survivors(pids: list[int]) -> list[int]:
    return [p for p in pids if proc_info(p) is not None]


def kill_and_check(parent: subprocess.Popen, seconds: float = 10) -> list[int]:
    """SIGKILL ``parent`` once its parse workers exist; return the processes it had
    started (workers and resource tracker), after checking that none survives."""
    workers = wait_for(
        lambda: {p: c for p, c in children(parent.pid).items() if b"spawn_main" in c},
        30,
        "the parse worker processes",
    )
    started = list(children(parent.pid))  # workers, resource tracker
    assert set(workers) <= set(started)
    parent.send_signal(signal.SIGKILL)
    parent.wait(5)
    try:
        wait_for(lambda: not survivors(started), seconds, "the children to exit")
    finally:
        for pid in survivors(started):  # do not leak them into the rest of the run
            os.kill(pid, signal.SIGKILL)
    return started


@pytest.mark.parametrize(
    "command",
    [["fetch", "--processes", "2"], ["run", "--port", "0", "--processes", "2"]],
    ids=["fetch", "run"],
)
def test_killing_the_command_leaves_no_worker_or_resource_tracker(
    tmp_path: Path, command: list[str]
) -> None:
    for i in range(FEEDS):
        (tmp_path / f"f{i}.xml").write_text(RSS.format(i=i), encoding="utf-8")
    config = tmp_path / "feeds.yaml"
    with FeedServer(tmp_path) as server:
        # Slow answers: the batch is still running when the parent is killed.
        urls = [server.url(f"/slow/{0.2 if i < 4 else 5}/f{i}.xml") for i in range(FEEDS)]
        config.write_text(
            "settings:\n  allow_private_networks: true\ntabs:\n  - name: T\n    feeds:\n"
            + "".join(f"      - {u}\n" for u in urls),
            encoding="utf-8",
        )
        argv = [sys.executable, "-m", "aggregator", "--config", str(config)]
        argv += ["--db", str(tmp_path / "db.sqlite3"), *command]
        parent = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            started = kill_and_check(parent)
        finally:
            if parent.poll() is None:
                parent.kill()
            parent.wait()
    assert len(started) >= 2  # at least the workers


# The kernel guard (PR_SET_PDEATHSIG) is Linux only, and tied to the parent *thread*:
# the portable guard must work alone. This pool's initializer runs ours, then clears
# the kernel guard, so only the parent-watching thread is left to do the work.
SCRIPT = """
import concurrent.futures as cf, ctypes, multiprocessing, sys, time

from aggregator.update import PR_SET_PDEATHSIG, init_worker


def init_without_pdeathsig():
    init_worker()
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0)


if __name__ == "__main__":
    ctx = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(2, mp_context=ctx, initializer=init_without_pdeathsig)
    for f in [pool.submit(time.sleep, 0.01) for _ in range(8)]:
        f.result()
    print("ready", flush=True)
    time.sleep(60)
"""


def test_workers_exit_with_their_parent_even_without_pdeathsig(tmp_path: Path) -> None:
    script = tmp_path / "pool_parent.py"
    script.write_text(textwrap.dedent(SCRIPT), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, env=env, cwd=tmp_path
    )
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline() == b"ready\n"
        kill_and_check(parent)
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.wait()
        assert parent.stdout is not None
        parent.stdout.close()
