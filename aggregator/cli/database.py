"""Commands about the database file itself: `backup` and `restore`.

Both go through SQLite (``aggregator.storage.backup`` / ``restore``), never a file copy:
a copy misses the commits still in the ``-wal`` file, and copying a file back while an
old ``-wal`` sits beside it damages it.
"""

from __future__ import annotations

import click

from aggregator.cli import Paths, cli, utcnow
from aggregator.storage import backup as backup_database
from aggregator.storage import restore as restore_database


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    raise AssertionError  # pragma: no cover


@cli.command()
@click.argument("file", type=click.Path(dir_okay=True, writable=False))
@click.pass_obj
def backup(paths: Paths, file: str) -> None:
    """Copy the database to FILE (or into the folder FILE, as aggregator-DATE.sqlite3).

    Safe while the aggregator runs: SQLite's online backup copies one consistent
    snapshot, including what is still in the -wal file. The copy is checked
    (integrity_check) and written under a temporary name, then renamed.
    """
    done = backup_database(paths.db, file, now=utcnow())
    click.echo(
        f"{paths.db} backed up to {done.path} ({done.entries} entries, {_size(done.size)}, "
        "integrity ok)"
    )


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.pass_obj
def restore(paths: Paths, file: str) -> None:
    """Replace the database with the backup FILE. Stop the aggregator first.

    FILE must be an aggregator database that passes SQLite's integrity check and is
    not newer than this version. The current database is kept as
    DB.before-restore; the old -wal and -shm files are set aside so that they can never
    be replayed onto the restored file.
    """
    done = restore_database(file, paths.db)
    _revoke_sessions(paths.db)
    click.echo(f"restored {file} into {done.path} ({done.entries} entries, integrity ok)")
    if done.previous:
        click.echo(f"the previous database is kept as {done.previous}")


def _revoke_sessions(db: str) -> None:
    """A backup carries the session epoch of its day: restored as it is, it would make
    cookies valid again that a logout since then revoked. Draw a new one: everybody
    logs in again after a restore (web/auth.py)."""
    import secrets

    from aggregator.storage import Storage
    from aggregator.web.auth import EPOCH_KEY

    storage = Storage(db)
    try:
        storage.set_meta(EPOCH_KEY, secrets.token_hex(16))
    finally:
        storage.close()
