"""The ``aggregator`` command (click). Thin: every command calls plain functions.

This package owns the click group, the shared paths and error handling; the commands
live by domain in ``feeds`` (config, refresh, river, OPML), ``serving`` (scheduler and
dashboard processes), ``mail`` (forwarding and the outbox) and ``database`` (backup
and restore).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click

from aggregator import __version__
from aggregator.config import load_config
from aggregator.errors import AggregatorError, ConfigError
from aggregator.models import Config

log = logging.getLogger(__name__)

DEFAULT_CONFIG = "config/feeds.yaml"
DEFAULT_DB = "data/aggregator.sqlite3"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Paths:
    config: str
    db: str
    contacts: str | None = None  # None: contacts.yaml next to the feeds file

    @property
    def contacts_file(self) -> str:
        if self.contacts:
            return self.contacts
        return os.path.join(os.path.dirname(self.config), "contacts.yaml")

    @property
    def outbox_dir(self) -> str:
        """Where .eml copies (and the delivery lock) live: next to the database."""
        return os.path.join(os.path.dirname(os.path.abspath(self.db)), "outbox")


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def load_or_exit(path: str) -> Config:
    try:
        return load_config(path)
    except ConfigError as e:
        for p in e.problems:
            click.echo(str(p), err=True)
        raise SystemExit(1) from None


class Group(click.Group):
    """Turns our own errors, and the system's (``OSError``), into one clear line and exit
    status 1, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as e:
            click.echo(str(e), err=True)
            raise SystemExit(1) from None
        except AggregatorError as e:
            click.echo(f"error: {e}", err=True)
            raise SystemExit(1) from None
        except OSError as e:
            # A full disk, a folder we may not write, a port in use... met where no
            # code said it in its own words yet: still one line, not a traceback.
            where = f"{e.filename}: " if e.filename else ""
            click.echo(f"error: {where}{e.strerror or e}", err=True)
            log.debug("details", exc_info=True)
            raise SystemExit(1) from None


@click.group(cls=Group)
@click.version_option(__version__, prog_name="aggregator")
@click.option(
    "--config",
    "config_path",
    envvar="AGGREGATOR_CONFIG",
    default=DEFAULT_CONFIG,
    show_default=True,
    help="The feed list (YAML). Env: AGGREGATOR_CONFIG.",
)
@click.option(
    "--db",
    "db_path",
    envvar="AGGREGATOR_DB",
    default=DEFAULT_DB,
    show_default=True,
    help="The SQLite database (created with its folders). Env: AGGREGATOR_DB.",
)
@click.option(
    "--contacts",
    "contacts_path",
    envvar="AGGREGATOR_CONTACTS",
    default=None,
    help="The contacts (YAML). Default: contacts.yaml next to the feeds file. "
    "Env: AGGREGATOR_CONTACTS.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
@click.pass_context
def cli(
    ctx: click.Context, config_path: str, db_path: str, contacts_path: str | None, verbose: bool
) -> None:
    """A self-hosted, Netvibes-like feed aggregator."""
    ctx.obj = Paths(config_path, db_path, contacts_path)
    ctx.meta["verbose"] = verbose


def main() -> None:
    cli(prog_name="aggregator")


# The commands register themselves on `cli` when their modules are imported; this comes
# last because they import the names above.
from aggregator.cli import apipassword, database, feeds, mail, serving, subscribe  # noqa: E402

__all__ = [
    "Paths",
    "apipassword",
    "cli",
    "database",
    "feeds",
    "load_or_exit",
    "mail",
    "main",
    "serving",
    "setup_logging",
    "subscribe",
]
