"""Backup and restore on real SQLite files, and the -wal that does not belong (issue 7,
item 8): the audit's corruption is reproduced first, then refused, then repaired by
`aggregator restore`. Crashes are real (a child process SIGKILLs itself with its
connection open), the CLI runs as a real subprocess."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator import errors
from aggregator.models import Entry, FeedConfig
from aggregator.storage import Storage, _schema, backup, restore

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FEED = "https://a.example/feed"
ROOT = Path(__file__).resolve().parents[1]


def entries(prefix: str, n: int) -> list[Entry]:
    return [
        Entry(
            feed_url=FEED,
            guid=f"{prefix}{i}",
            title=f"Titre {prefix} {i}",
            link=f"https://a.example/{prefix}/{i}",
            author=None,
            published=NOW - timedelta(minutes=i),
            updated=None,
            content_html="<p>Un paragraphe assez long pour remplir des pages.</p>" * 20,
            summary=f"Résumé {prefix} {i} " * 10,
            content_hash=f"hash-{prefix}{i}",
        )
        for i in range(n)
    ]


def make_database(path: Path, prefix: str = "a", n: int = 300) -> None:
    storage = Storage(path)
    try:
        storage.sync_feeds([FeedConfig(FEED, "Tab", "Feed A", position=0)], now=NOW)
        storage.upsert_entries(FEED, entries(prefix, n), now=NOW)
    finally:
        storage.close()


# Writes, checkpoints (the database file moves on from any earlier copy), writes again
# so that the WAL holds frames, then dies like kill -9 with its connection open.
CRASH_AFTER_WRITING = """
import os, signal, sys
sys.path.insert(0, sys.argv[2])
from tests.test_backup import FEED, NOW, entries
from aggregator.storage import Storage
s = Storage(sys.argv[1])
s.upsert_entries(FEED, entries("b", 300), now=NOW)
s._db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
s.upsert_entries(FEED, entries("c", 200), now=NOW)
s.mark_all_read(now=NOW)
os.kill(os.getpid(), signal.SIGKILL)
"""


def crash_after_writing(db: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_WRITING, str(db), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == -9, done.stderr
    assert Path(f"{db}-wal").stat().st_size > 0


def aggregator(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aggregator", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file's sha256. Only the existence of a -shm counts: it is SQLite's index
    of the WAL in shared memory, rebuilt by whoever opens the database first (reading
    it read-only included), never data."""
    return {
        p.name: "exists" if p.name.endswith("-shm") else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def integrity(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as e:
        return str(e)
    finally:
        db.close()


def titles(path: Path) -> set[str]:
    storage = Storage(path)
    try:
        found, cursor = [], None
        while True:
            page, cursor = storage.entries(cursor=cursor, limit=200)
            found += [e.title for e in page]
            if cursor is None:
                return set(found)
    finally:
        storage.close()


@pytest.fixture
def copied_back(tmp_path: Path) -> tuple[Path, Path]:
    """The audit's scenario: a backup made by copying the file, the aggregator goes on
    (and is killed, leaving its -wal), then the copy is put back beside that -wal."""
    data = tmp_path / "data"
    data.mkdir()
    db = data / "aggregator.sqlite3"
    make_database(db)
    saved = tmp_path / "saved.sqlite3"
    shutil.copy(db, saved)  # what "copy the file" used to mean
    crash_after_writing(db)
    shutil.copy(saved, db)
    return db, saved


def test_a_copied_back_file_with_an_old_wal_is_damaged_by_sqlite(copied_back, tmp_path):
    """The bug itself, on a scratch copy of the files: plain SQLite replays the WAL."""
    db, _ = copied_back
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    for suffix in ("", "-wal"):
        shutil.copy(f"{db}{suffix}", scratch / f"db.sqlite3{suffix}")
    assert integrity(scratch / "db.sqlite3") != "ok"


def test_storage_refuses_a_wal_that_does_not_belong_and_changes_nothing(copied_back):
    db, _ = copied_back
    before = fingerprint(db.parent)
    with pytest.raises(errors.CorruptDatabaseError) as info:
        Storage(db)
    message = str(info.value)
    assert str(db) in message
    assert "does not belong" in message and "aggregator restore" in message
    assert fingerprint(db.parent) == before


def test_fetch_refuses_it_too_then_restore_repairs_it(copied_back, tmp_path):
    db, saved = copied_back
    config = tmp_path / "feeds.yaml"
    config.write_text(f"tabs:\n  - name: Tab\n    feeds:\n      - {FEED}\n", encoding="utf-8")
    before = fingerprint(db.parent)
    fetched = aggregator("--config", config, "--db", db, "fetch", cwd=tmp_path)
    assert fetched.returncode == 1
    assert "does not belong" in fetched.stderr and "Traceback" not in fetched.stderr
    assert fingerprint(db.parent) == before

    restored = aggregator("--db", db, "restore", saved, cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert "300 entries, integrity ok" in restored.stdout
    assert f"{db}.before-restore" in restored.stdout
    assert not Path(f"{db}-wal").exists() and not Path(f"{db}-shm").exists()
    # the replaced file and its WAL are kept together, under SQLite's own naming
    assert Path(f"{db}.before-restore-wal").exists()
    assert integrity(db) == "ok"
    assert titles(db) == {f"Titre a {i}" for i in range(300)}
    storage = Storage(db)
    try:
        assert storage.counts() == {"feeds": 1, "entries": 300, "unread": 300, "starred": 0}
    finally:
        storage.close()


def test_a_wal_left_by_a_crash_is_replayed(tmp_path):
    """kill -9 must stay harmless: the WAL of the crashed process is the database's."""
    db = tmp_path / "aggregator.sqlite3"
    make_database(db)
    crash_after_writing(db)
    storage = Storage(db)
    try:
        assert storage.counts()["entries"] == 800
        assert storage.counts()["unread"] == 0
    finally:
        storage.close()
    assert integrity(db) == "ok"


def test_backup_of_a_young_database_whose_header_is_still_in_the_wal(tmp_path):
    """A running aggregator on a new database: nothing checkpointed yet, so the file's
    own header does not carry our application_id; the backup must still work."""
    db = tmp_path / "aggregator.sqlite3"
    storage = Storage(db)  # stays open, like `aggregator run`
    try:
        storage.sync_feeds([FeedConfig(FEED, "Tab", "Feed A", position=0)], now=NOW)
        storage.upsert_entries(FEED, entries("y", 3), now=NOW)
        with open(db, "rb") as f:
            assert int.from_bytes(f.read(100)[68:72], "big") == 0  # the case at hand
        done = backup(str(db), str(tmp_path / "copy.sqlite3"))
    finally:
        storage.close()
    assert done.entries == 3
    assert integrity(tmp_path / "copy.sqlite3") == "ok"


def test_backup_while_another_process_writes(tmp_path):
    """The backup holds everything committed, the WAL's commits included, is one
    self-contained file, and the writer is never blocked."""
    db = tmp_path / "aggregator.sqlite3"
    make_database(db)
    storage = Storage(db)  # a running aggregator: its newest commits are in the WAL
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        n = 0
        while not stop.is_set():
            storage.upsert_entries(FEED, entries(f"w{n}-", 5), now=NOW)
            n += 1
            written.append(n)

    storage.upsert_entries(FEED, entries("wal", 50), now=NOW)
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        done = aggregator("--db", db, "backup", f"{tmp_path}/backups/", cwd=tmp_path)
        assert done.returncode == 1 and "not an existing folder" in done.stderr
        (tmp_path / "backups").mkdir()
        done = aggregator("--db", db, "backup", tmp_path / "backups", cwd=tmp_path)
    finally:
        stop.set()
        thread.join()
    assert done.returncode == 0, done.stderr
    assert written, "the writer never got through"
    [copy] = (tmp_path / "backups").iterdir()
    assert copy.name.startswith("aggregator-") and copy.suffix == ".sqlite3"
    assert f"backed up to {copy}" in done.stdout and "integrity ok" in done.stdout
    assert copy.read_bytes()[18:20] == b"\x01\x01"  # rollback journal: no -wal needed
    assert integrity(copy) == "ok"
    got = titles(copy)
    assert {f"Titre wal {i}" for i in range(50)} <= got
    assert {f"Titre a {i}" for i in range(300)} <= got
    assert storage.counts()["entries"] >= len(got)
    storage.close()


def test_restore_refuses_while_the_database_is_open_elsewhere(tmp_path):
    db = tmp_path / "aggregator.sqlite3"
    make_database(db)
    saved = tmp_path / "saved.sqlite3"
    backup(str(db), str(saved))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sys
                from aggregator.storage import Storage
                s = Storage(sys.argv[1])
                print("open", flush=True)
                sys.stdin.read()
                s.close()
                """
            ),
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        before = fingerprint(tmp_path)
        refused = aggregator("--db", db, "restore", saved, cwd=tmp_path)
        assert refused.returncode == 1
        assert "stop it, then restore" in refused.stderr and str(db) in refused.stderr
        assert fingerprint(tmp_path) == before
    finally:
        holder.communicate("", timeout=30)
    assert aggregator("--db", db, "restore", saved, cwd=tmp_path).returncode == 0


def _foreign(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA application_id = 1234")
    db.execute("CREATE TABLE notes (x)")
    db.commit()
    db.close()


def _newer(path: Path) -> None:
    make_database(path)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {_schema.SCHEMA_VERSION + 1}")
    db.close()


def _damaged(path: Path) -> None:
    make_database(path)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2 // 4096 * 4096
    data[middle : middle + 4096] = b"\xa5" * 4096
    path.write_bytes(bytes(data))


def _not_sqlite(path: Path) -> None:
    path.write_text("not a database at all " * 100)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_foreign, "not an aggregator database"),
        (_newer, "newer version"),
        (_damaged, "integrity check"),
        (_not_sqlite, "not a SQLite database"),
    ],
)
def test_restore_refuses_what_is_not_a_good_backup_and_changes_nothing(tmp_path, make, expected):
    db = tmp_path / "data" / "aggregator.sqlite3"
    make_database(db)
    candidate = tmp_path / "candidate.sqlite3"
    make(candidate)
    before, before_candidate = fingerprint(db.parent), fingerprint(tmp_path)
    with pytest.raises(errors.StorageError, match=expected):
        restore(str(candidate), str(db))
    assert fingerprint(db.parent) == before
    assert fingerprint(tmp_path) == before_candidate  # not even a -shm beside the file


def test_restore_never_replaces_another_applications_file(tmp_path):
    other = tmp_path / "other.sqlite3"
    _foreign(other)
    saved = tmp_path / "saved.sqlite3"
    make_database(tmp_path / "ours.sqlite3")
    backup(str(tmp_path / "ours.sqlite3"), str(saved))
    before = fingerprint(tmp_path)
    with pytest.raises(errors.ForeignDatabaseError):
        restore(str(saved), str(other))
    assert fingerprint(tmp_path) == before


def test_restore_into_a_new_place_and_a_damaged_database(tmp_path):
    saved = tmp_path / "saved.sqlite3"
    make_database(tmp_path / "ours.sqlite3")
    backup(str(tmp_path / "ours.sqlite3"), str(saved))
    fresh = tmp_path / "new" / "folder" / "aggregator.sqlite3"
    done = restore(str(saved), str(fresh))
    assert done.previous is None and done.entries == 300
    assert oct(fresh.stat().st_mode & 0o777) == oct(0o644 & ~_umask())
    damaged = tmp_path / "damaged.sqlite3"
    _damaged(damaged)
    os.chmod(damaged, 0o640)
    done = restore(str(saved), str(damaged))
    assert done.previous == f"{damaged}.before-restore"
    assert integrity(damaged) == "ok"
    assert oct(damaged.stat().st_mode & 0o777) == oct(0o640)  # the replaced file's mode
    assert titles(damaged) == {f"Titre a {i}" for i in range(300)}


def test_backup_refuses_missing_foreign_and_same_file(tmp_path):
    with pytest.raises(errors.StorageError, match="nothing to back up"):
        backup(str(tmp_path / "missing.sqlite3"), str(tmp_path / "b.sqlite3"))
    _foreign(tmp_path / "other.sqlite3")
    with pytest.raises(errors.ForeignDatabaseError):
        backup(str(tmp_path / "other.sqlite3"), str(tmp_path / "b.sqlite3"))
    make_database(tmp_path / "ours.sqlite3")
    with pytest.raises(errors.StorageError, match="the database itself"):
        backup(str(tmp_path / "ours.sqlite3"), str(tmp_path / "ours.sqlite3"))
    assert not (tmp_path / "b.sqlite3").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.sqlite3", "ours.sqlite3"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_backup_onto_a_full_disk_says_so_and_leaves_nothing(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("a real full disk needs a small tmpfs, and mounting one needs root")
    db = tmp_path / "aggregator.sqlite3"
    make_database(db)
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        done = aggregator("--db", db, "backup", disk / "copy.sqlite3", cwd=tmp_path)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert f"error: {disk / 'copy.sqlite3'}: the disk is full" in done.stderr
        assert os.listdir(disk) == []
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
