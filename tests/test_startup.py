"""Starting on files we must not touch or cannot write (issue 7, items 9 and 12), through
the real processes: `fetch`, `serve`, `run`, `worker` as subprocesses, and create_app.

* Another application's SQLite file is refused with nothing changed: same bytes, no
  new file in its folder (no -wal, no -shm, no secret_key).
* A full disk or a read-only folder at start gives one clear line and exit status 1,
  never a traceback, and leaves no empty secret_key behind; once space is freed, the
  next start works. The full disk is a real small tmpfs, which needs root (mount);
  without it those tests are skipped, saying why.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator import errors
from aggregator.storage import Storage
from aggregator.web import create_app

ROOT = Path(__file__).resolve().parents[1]
READY = re.compile(r"dashboard on http://127\.0\.0\.1:\d+/|worker running")
COMMANDS = {
    "fetch": ["fetch", "--processes", "0"],
    "serve": ["serve", "--port", "0"],
    "run": ["run", "--port", "0", "--processes", "0"],
    "worker": ["worker", "--processes", "0"],
}


def fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@contextlib.contextmanager
def started(config: Path, db: Path, command: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """Start `aggregator COMMAND`; yields the process and what it printed on stderr until
    it said it is ready, or until it exited. Stopped (SIGTERM) at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "--config", str(config), "--db", str(db)]
        + COMMANDS[command],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=config.parent,
    )
    assert proc.stderr is not None
    lines = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break  # it exited
            lines.append(line)
            if READY.search(line):
                break
        yield proc, "".join(lines)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung process
            proc.kill()
            proc.communicate()


def refused(config: Path, db: Path, command: str) -> str:
    """Run COMMAND, which must refuse to start: exit 1, one clear line, no traceback."""
    with started(config, db, command) as (proc, _):
        rest = proc.communicate(timeout=30)[1]
    output = "".join(_) + rest
    assert proc.returncode == 1, output
    assert "Traceback" not in output, output
    assert "error:" in output, output
    return output


@pytest.fixture
def config(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    path = folder / "feeds.yaml"
    path.write_text("tabs:\n  - name: T\n    feeds: [https://a.example/feed]\n", encoding="utf-8")
    return path


# --- item 9: another application's database -----------------------------------------


def _no_application_id(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    db.executemany("INSERT INTO notes (body) VALUES (?)", [(f"note {i}",) for i in range(50)])
    db.commit()
    db.close()


def _own_application_id(path: Path) -> None:
    _no_application_id(path)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA application_id = {int.from_bytes(b'MYAP', 'big')}")
    db.close()


def _wal_mode_no_application_id(path: Path) -> None:
    _no_application_id(path)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")
    db.close()  # the last connection removes the -wal and -shm


FOREIGN = {
    "no-application-id": _no_application_id,
    "its-own-application-id": _own_application_id,
    "wal-mode-no-application-id": _wal_mode_no_application_id,
}


@pytest.fixture(params=sorted(FOREIGN))
def foreign(request, tmp_path: Path) -> Path:
    folder = tmp_path / "otherapp"
    folder.mkdir()
    path = folder / "notes.db"
    FOREIGN[request.param](path)
    if request.param != "wal-mode-no-application-id":
        assert path.read_bytes()[18:20] == b"\x01\x01"  # rollback journal
    assert sorted(os.listdir(folder)) == ["notes.db"]
    return path


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_another_applications_database_is_refused_untouched(config, foreign, command):
    before = fingerprint(foreign.parent)
    output = refused(config, foreign, command)
    assert str(foreign) in output and "another application" in output
    assert fingerprint(foreign.parent) == before


def test_create_app_refuses_it_untouched_and_writes_no_secret_key(config, foreign):
    before = fingerprint(foreign.parent)
    with pytest.raises(errors.ForeignDatabaseError):
        create_app({"AGGREGATOR_CONFIG": str(config), "AGGREGATOR_DB": str(foreign)})
    with pytest.raises(errors.ForeignDatabaseError):
        Storage(foreign)
    assert fingerprint(foreign.parent) == before


# --- item 12: the secret key --------------------------------------------------------


@pytest.mark.parametrize("leftover", [b"", b"\n", b"0f3a", b"\x00" * 64])
def test_an_empty_or_cut_secret_key_is_replaced(tmp_path, config, caplog, leftover):
    db = tmp_path / "data" / "aggregator.sqlite3"
    db.parent.mkdir()
    key_file = db.parent / "secret_key"
    key_file.write_bytes(leftover)
    with caplog.at_level(logging.WARNING, logger="aggregator.web"):
        app = create_app({"AGGREGATOR_CONFIG": str(config), "AGGREGATOR_DB": str(db)})
    app.extensions["aggregator"].close()
    assert re.fullmatch(r"[0-9a-f]{64}", app.secret_key)
    assert key_file.read_text(encoding="ascii") == app.secret_key + "\n"
    assert oct(key_file.stat().st_mode & 0o777) == oct(0o600)
    assert "not a valid secret key" in caplog.text
    assert sorted(os.listdir(db.parent)) == ["aggregator.sqlite3", "secret_key"]  # no temp


def test_processes_starting_together_agree_on_one_key(tmp_path):
    """Each writes its own temporary file and links it to the name: one wins, the
    others read the winner's key (threads here, the same calls as processes)."""
    from aggregator.web import _secret_key

    barrier = threading.Barrier(8)
    keys: list[str] = []

    def start() -> None:
        barrier.wait()
        keys.append(_secret_key(None, tmp_path / "aggregator.sqlite3"))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert (tmp_path / "secret_key").read_text() == keys[0] + "\n"
    assert os.listdir(tmp_path) == ["secret_key"]


def test_a_valid_secret_key_is_kept(tmp_path, config):
    db = tmp_path / "aggregator.sqlite3"
    (tmp_path / "secret_key").write_text("my-own-long-secret-key-of-40-characters!\n")
    app = create_app({"AGGREGATOR_CONFIG": str(config), "AGGREGATOR_DB": str(db)})
    app.extensions["aggregator"].close()
    assert app.secret_key == "my-own-long-secret-key-of-40-characters!"


# --- item 12: a full disk, a read-only folder ---------------------------------------


def _require_root_mounts() -> None:
    if os.geteuid() != 0:
        pytest.skip("a real full disk needs a small tmpfs, and mounting one needs root")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs: big enough for a new database, small enough to fill at once."""
    _require_root_mounts()
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
        if os.path.ismount(disk):  # pragma: no cover - something still holds a file
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC
    return filler


def serves_a_page(proc: subprocess.Popen, output: str) -> None:
    """The process started: it is running and its dashboard answers."""
    assert proc.poll() is None, output
    port = re.search(r"dashboard on http://127\.0\.0\.1:(\d+)/", output)
    assert port, output
    with urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/", timeout=10) as resp:
        assert resp.status == 200


def assert_no_bad_key(folder: Path) -> None:
    key_file = folder / "secret_key"
    if key_file.exists():
        assert re.fullmatch(r"[0-9a-f]{64}\n", key_file.read_text()), "a broken key was left"
    assert not [p for p in os.listdir(folder) if p.endswith(".tmp")], os.listdir(folder)


@pytest.mark.parametrize("command", ["run", "serve"])
def test_full_disk_at_first_start(small_disk, config, command):
    db = small_disk / "data" / "aggregator.sqlite3"
    filler = fill(small_disk)
    output = refused(config, db, command)
    assert str(db) in output and "disk" in output
    assert_no_bad_key(db.parent)
    filler.unlink()
    with started(config, db, command) as (proc, output):
        serves_a_page(proc, output)
    assert proc.returncode == 0
    assert_no_bad_key(db.parent)
    assert (db.parent / "secret_key").exists()


@pytest.mark.parametrize("command", ["run", "serve"])
def test_full_disk_while_the_worker_runs(small_disk, config, command):
    """The audit's case: the database opens (a worker has it open), but the disk is full
    when the dashboard writes its secret key: one clear line, no empty key left."""
    db = small_disk / "data" / "aggregator.sqlite3"
    worker = Storage(db)  # holds it open, as a running `aggregator worker` does
    try:
        filler = fill(small_disk)
        output = refused(config, db, command)
        assert "secret_key" in output and "No space left on device" in output
        assert not (db.parent / "secret_key").exists()
        assert_no_bad_key(db.parent)
        filler.unlink()
        with started(config, db, command) as (proc, output):
            serves_a_page(proc, output)
        assert proc.returncode == 0
        assert_no_bad_key(db.parent)
    finally:
        worker.close()


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder holding a database, then made read-only: a tmpfs remounted read-only
    when root (root ignores chmod), else chmod 0555."""
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        Storage(folder / "aggregator.sqlite3").close()
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)
        return
    folder = tmp_path / "ro"
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        Storage(folder / "aggregator.sqlite3").close()
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_read_only_folder_at_start(read_only_folder, config, command):
    db = read_only_folder / "aggregator.sqlite3"
    before = fingerprint(read_only_folder)
    output = refused(config, db, command)
    assert str(db) in output and "not writable" in output
    assert fingerprint(read_only_folder) == before
