"""The ``aggregator`` command (click). Thin: every command calls plain functions."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from aggregator import __version__
from aggregator.config import ConfigSource, load_config, load_contacts, summarize
from aggregator.errors import AggregatorError, ConfigError, ConfigProblem
from aggregator.export import entry_json, feed_json, forward_json, iso
from aggregator.models import Config, EntryView, Forward
from aggregator.storage import Storage

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
    """Turns our own errors into one clear line and exit status 1, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as e:
            click.echo(str(e), err=True)
            raise SystemExit(1) from None
        except AggregatorError as e:
            click.echo(f"error: {e}", err=True)
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


@cli.command()
@click.pass_obj
def check(paths: Paths) -> None:
    """Validate feeds.yaml and contacts.yaml: print every problem (exit 1) or a summary."""
    problems: list[ConfigProblem] = []
    config = None
    try:
        config = load_config(paths.config)
    except ConfigError as e:
        problems += e.problems
    try:
        contacts = load_contacts(paths.contacts_file)
    except ConfigError as e:
        problems += e.problems
        contacts = ()
    for p in problems:
        click.echo(str(p), err=True)
    if problems or config is None:
        raise SystemExit(1)
    if os.path.exists(paths.contacts_file):
        click.echo(f"{paths.contacts_file}: {len(contacts)} contact{'s' * (len(contacts) != 1)}")
    else:
        click.echo(f"{paths.contacts_file}: no contacts yet")
    mail = config.settings.mail
    if mail is None:
        click.echo("mail: not configured (forwards are written to outbox/ as .eml files)")
    else:
        click.echo(f"mail: {mail.host}:{mail.port} ({mail.security}), from {mail.sender}")
        from aggregator.forward import PASSWORD_ENV

        if mail.username and not os.environ.get(PASSWORD_ENV):
            click.echo(
                f"warning: settings.mail.username is set but {PASSWORD_ENV} is not", err=True
            )
    # the feeds summary comes last: scripts read the last line
    click.echo(summarize(config))


@cli.command()
@click.option("--feed", "feed_url", metavar="URL", help="Refresh only this feed.")
@click.option(
    "--processes",
    type=int,
    default=None,
    help="Worker processes for parsing (default: one per core).",
)
@click.pass_obj
def fetch(paths: Paths, feed_url: str | None, processes: int | None) -> None:
    """Refresh every configured feed now (or one), then print a summary line."""
    from aggregator.update import Updater

    config = load_or_exit(paths.config)
    now = utcnow()
    storage = Storage(paths.db)
    try:
        storage.sync_feeds(config.feeds, now=now)
        feeds = storage.feeds()
        if feed_url is not None:
            feeds = [f for f in feeds if f.url == feed_url]
            if not feeds:
                raise click.UsageError(f"{feed_url} is not in {paths.config}")
        if processes is None:
            processes = os.cpu_count() or 1
        updater = Updater(storage, config.settings, processes=processes)
        failures = []
        try:
            if sys.stderr.isatty() and len(feeds) > 1:
                with click.progressbar(
                    length=len(feeds), label="Refreshing", file=sys.stderr
                ) as bar:
                    summary = updater.update(feeds, now=now, progress=lambda o: bar.update(1))
            else:
                summary = updater.update(feeds, now=now)
        finally:
            updater.close()
        for o in summary.outcomes:
            if o.error is not None:
                failures.append(o)
                click.echo(f"failed: {o.url}: {o.error}", err=True)
            elif o.moved_to:
                click.echo(
                    f"moved: {o.url} now lives at {o.moved_to}; update {paths.config}",
                    err=True,
                )
        click.echo(summary.line())
    finally:
        storage.close()


@cli.command("list")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 10000))
@click.option("--tab", help="Only this tab.")
@click.option("--unread", is_flag=True, help="Only unread entries.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def list_(paths: Paths, limit: int, tab: str | None, unread: bool, as_json: bool) -> None:
    """The merged river of news, newest first."""
    storage = Storage(paths.db)
    try:
        entries: list[EntryView] = []
        cursor = None
        while len(entries) < limit:
            page, cursor = storage.entries(
                tab=tab, unread=unread, cursor=cursor, limit=min(200, limit - len(entries))
            )
            entries.extend(page)
            if cursor is None:
                break
    finally:
        storage.close()
    if as_json:
        click.echo(
            json.dumps(
                [entry_json(e, content=False) for e in entries], ensure_ascii=False, indent=2
            )
        )
        return
    for e in entries:
        mark = "*" if e.starred else ("•" if not e.read else " ")
        when = e.published.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
        click.echo(f"{mark} {e.id:>7} {when}  [{e.feed_title}] {e.title}")
        if e.link:
            click.echo(f"{'':>27}{e.link}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def status(paths: Paths, as_json: bool) -> None:
    """One row per feed (last fetch, status, errors, next check) and config errors."""
    config_error: ConfigError | None = None
    try:
        config: Config | None = load_config(paths.config)
    except ConfigError as e:
        config, config_error = None, e
    storage = Storage(paths.db)
    try:
        if config is not None:
            storage.sync_feeds(config.feeds, now=utcnow())
        feeds = storage.feeds()
    finally:
        storage.close()
    problems = [str(p) for p in config_error.problems] if config_error else []
    if as_json:
        out = {"config_errors": problems, "feeds": [feed_json(f) for f in feeds]}
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    for p in problems:
        click.echo(f"configuration error: {p}")
    if problems:
        click.echo("(the feeds below are those of the last good configuration)")
    for f in feeds:
        state = "ok" if not f.last_error else f"ERROR x{f.consecutive_errors}: {f.last_error}"
        if f.last_fetch is None:
            state = "never fetched"
        click.echo(f"{f.display_title}  <{f.url}>  [{f.tab}]")
        click.echo(
            f"    last fetch {iso(f.last_fetch) or '-'}  HTTP {f.last_status or '-'}  "
            f"next check {iso(f.next_check) or 'now'}  {f.entry_count} entries "
            f"({f.unread_count} unread)"
        )
        click.echo(f"    {state}")
        if f.moved_to:
            click.echo(f"    moved permanently to {f.moved_to}: update {paths.config}")


def start_worker(paths: Paths, processes: int | None) -> tuple[Any, Any, Storage]:
    from aggregator.scheduler import build_scheduler
    from aggregator.update import Worker

    source = ConfigSource(paths.config)
    source.refresh()
    if source.config is None and source.error is not None:
        # nothing good to fall back on yet: say what is wrong, keep running so a
        # fix is picked up without a restart
        click.echo(f"configuration error (waiting for a fix):\n{source.error}", err=True)
    storage = Storage(paths.db)
    if processes is None:
        processes = os.cpu_count() or 1
    worker = Worker(source, storage, processes=processes)
    forwarder = open_forwarder(paths, storage, source)
    scheduler = build_scheduler(worker, forwarder=forwarder)
    scheduler.start()
    return scheduler, worker, storage


def wait_for_signal() -> None:
    """Block until Ctrl-C or SIGTERM."""
    done = threading.Event()

    def handler(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    while not done.wait(1.0):
        pass


def _web_options(f: Any) -> Any:
    f = click.option("--host", default="127.0.0.1", show_default=True)(f)
    f = click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))(f)
    return f


@cli.command()
@_web_options
@click.option("--processes", type=int, default=None, help="Parser processes (default: cores).")
@click.pass_obj
@click.pass_context
def run(ctx: click.Context, paths: Paths, host: str, port: int, processes: int | None) -> None:
    """Run the scheduler and the dashboard until Ctrl-C or SIGTERM."""
    setup_logging(ctx.parent.meta.get("verbose", False) if ctx.parent else False)
    web = _web(paths, host, port)
    scheduler, worker, storage = start_worker(paths, processes)
    from aggregator.scheduler import stop

    try:
        _serve_until_signal(web, host, port)
    finally:
        stop(scheduler, worker)
        storage.close()


@cli.command()
@click.option("--processes", type=int, default=None, help="Parser processes (default: cores).")
@click.pass_obj
@click.pass_context
def worker(ctx: click.Context, paths: Paths, processes: int | None) -> None:
    """Run only the scheduler (for split deployments)."""
    setup_logging(ctx.parent.meta.get("verbose", False) if ctx.parent else False)
    scheduler, w, storage = start_worker(paths, processes)
    from aggregator.scheduler import stop

    click.echo("worker running; Ctrl-C to stop", err=True)
    try:
        wait_for_signal()
    finally:
        stop(scheduler, w)
        storage.close()


@cli.command()
@_web_options
@click.pass_obj
@click.pass_context
def serve(ctx: click.Context, paths: Paths, host: str, port: int) -> None:
    """Run only the dashboard (for split deployments; see `worker`)."""
    setup_logging(ctx.parent.meta.get("verbose", False) if ctx.parent else False)
    _serve_until_signal(_web(paths, host, port), host, port)


def _web(paths: Paths, host: str, port: int) -> Any:
    """Check the bind address before anything starts, then build the Flask app."""
    from aggregator.web import check_bind_allowed, create_app

    check_bind_allowed(host, os.environ.get("AGGREGATOR_PASSWORD") or None)
    return create_app(
        {
            "AGGREGATOR_CONFIG": paths.config,
            "AGGREGATOR_DB": paths.db,
            "AGGREGATOR_CONTACTS": paths.contacts_file,
        }
    )


def _serve_until_signal(app: Any, host: str, port: int) -> None:
    from aggregator.web import serve as web_serve

    server = web_serve(app, host, port)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    click.echo(f"dashboard on http://{host}:{server.effective_port}/ ; Ctrl-C to stop", err=True)
    try:
        wait_for_signal()
    finally:
        server.close()
        thread.join(timeout=10)


# --- forwarding (issue 4) ------------------------------------------------------------


def open_forwarder(paths: Paths, storage: Storage, source: ConfigSource | None = None) -> Any:
    """A Forwarder on this database, feeds file and contacts file."""
    from aggregator.config import ContactSource
    from aggregator.forward import Forwarder

    return Forwarder(
        storage,
        source or ConfigSource(paths.config),
        ContactSource(paths.contacts_file),
        outbox_dir=paths.outbox_dir,
    )


def _echo_forward(f: Forward) -> None:
    when = f.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    click.echo(
        f"{f.id:>6}  {f.state:<9} {when}  {f.contact_name} <{f.contact_email}>  « {f.entry_title} »"
    )
    details = []
    if f.attempts:
        details.append(f"{f.attempts} attempt{'s' * (f.attempts != 1)}")
    if f.state == "queued" and f.next_attempt:
        details.append(f"next try {iso(f.next_attempt)}")
    if f.last_error:
        details.append(f.last_error)
    if details:
        click.echo(f"{'':>8}{'; '.join(details)}")


def _config_warning(forwarder: Any) -> None:
    error = forwarder.config_source.error
    if error is not None:
        click.echo(f"warning: {forwarder.config_source.path} has errors:\n{error}", err=True)


@cli.command()
@click.argument("entry_id", type=int)
@click.option(
    "--to", "emails", multiple=True, required=True, metavar="EMAIL", help="A contact's address."
)
@click.option(
    "--note", default=None, help="A personal word (default: « Ça pourrait t'intéresser ! »)."
)
@click.option(
    "--add-contact",
    "add_contact",
    metavar="NAME",
    help="Create the contact NAME for the --to address that is not a contact yet.",
)
@click.option("--yes", is_flag=True, help="Send again without asking if it was already sent.")
@click.pass_obj
def forward(
    paths: Paths, entry_id: int, emails: tuple[str, ...], note: str | None,
    add_contact: str | None, yes: bool,
) -> None:  # fmt: skip
    """Queue ENTRY_ID (see `list`) to be emailed to one or more contacts."""
    from aggregator.forward import UNDO_SECONDS, AlreadySent, UnknownContact

    storage = Storage(paths.db)
    try:
        forwarder = open_forwarder(paths, storage)
        _config_warning(forwarder)
        known = {c.email.casefold() for c in forwarder.contacts}
        unknown = [e for e in emails if e.strip().casefold() not in known]
        if add_contact and len(unknown) > 1:
            raise click.UsageError("--add-contact names one new contact: give one unknown --to")
        if add_contact and unknown:
            contact = forwarder.add_contact(add_contact, unknown[0])
            click.echo(f"added {contact.name} <{contact.email}> to {paths.contacts_file}")
        try:
            queued = forwarder.queue(entry_id, emails, note, now=utcnow(), confirm_resend=yes)
        except UnknownContact as e:
            raise click.ClickException(
                f"{e.email} is not one of your contacts ({paths.contacts_file}); "
                "add --add-contact NAME to create it"
            ) from None
        except AlreadySent as e:
            for sends in e.previous.values():
                for f in sends:
                    click.echo(
                        f"already {'sent' if f.state == 'sent' else f.state} to "
                        f"{f.contact_name} on {f.created_at.astimezone(UTC):%Y-%m-%d}"
                    )
            click.confirm("Send it again?", abort=True)
            queued = forwarder.queue(entry_id, emails, note, now=utcnow(), confirm_resend=True)
        for f in queued:
            click.echo(
                f"queued #{f.id}: « {f.entry_title} » to {f.contact_name} <{f.contact_email}>"
            )
        if forwarder.mail_configured:
            click.echo(
                f"It leaves in about {UNDO_SECONDS} s when the worker runs (`aggregator run` "
                "or `aggregator worker`); `aggregator outbox --send` sends it now."
            )
        else:
            click.echo(
                "Mail is not configured (settings.mail in feeds.yaml): it waits in the outbox, "
                f"and a readable copy is written to {paths.outbox_dir} by the worker or "
                "`aggregator outbox --send`."
            )
    finally:
        storage.close()


@cli.command()
@click.option("--send", is_flag=True, help="Deliver the queued forwards now.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def outbox(paths: Paths, send: bool, as_json: bool) -> None:
    """List queued and failed forwards; with --send, deliver them now."""
    storage = Storage(paths.db)
    try:
        forwarder = open_forwarder(paths, storage)
        _config_warning(forwarder)
        report = None
        if send:
            # The person asked: no undo window, no backoff; wait for a running worker's
            # round to end rather than skip.
            report = forwarder.deliver_due(now=utcnow(), force=True, wait=60)
        remaining = forwarder.outbox()
    finally:
        storage.close()
    if as_json:
        out: dict[str, Any] = {"outbox": [forward_json(f) for f in remaining]}
        if report is not None:
            out["delivery"] = {
                "sent": report.sent,
                "deferred": report.deferred,
                "failed": report.failed,
                "written": [str(p) for p in report.written],
                "errors": {str(k): v for k, v in report.errors.items()},
                "busy": report.busy,
            }
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        if report is not None:
            click.echo(report.line())
            for forward_id, reason in report.errors.items():
                click.echo(f"#{forward_id}: {reason}", err=True)
        if not remaining:
            click.echo("the outbox is empty")
        for f in remaining:
            _echo_forward(f)
    if report is not None and (report.busy or report.failed or report.deferred):
        raise SystemExit(1)


@cli.command("mail-test")
@click.argument("address")
@click.pass_obj
def mail_test(paths: Paths, address: str) -> None:
    """Send a test message to ADDRESS with settings.mail and print the server's answer."""
    from aggregator.config.values import check_address
    from aggregator.mail import MailError

    try:
        check_address(address)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="ADDRESS") from None
    config = load_or_exit(paths.config)
    storage = Storage(paths.db)
    try:
        forwarder = open_forwarder(paths, storage)
        try:
            reply = forwarder.send_test(address, now=utcnow())
        except MailError as e:
            click.echo(f"mail-test failed: {e.reason}", err=True)
            raise SystemExit(1) from None
    finally:
        storage.close()
    mail = config.settings.mail
    assert mail is not None
    click.echo(f"sent to {address} through {mail.host}:{mail.port}; the server answered: {reply}")


# --- OPML (moving from Netvibes or another reader) --------------------------------


@cli.command("import-opml")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Show what would be added; change nothing.")
@click.pass_obj
def import_opml(paths: Paths, file: str, dry_run: bool) -> None:
    """Add the feeds of an OPML FILE (e.g. a Netvibes export) to feeds.yaml.

    Each group of the file becomes a tab (created if needed; nested groups go to their
    outermost group, feeds outside any group to the tab "Importés"). Feeds already in
    feeds.yaml are left alone; comments in feeds.yaml are kept.
    """
    from aggregator.config.edit import add_feeds
    from aggregator.opml import Skipped, plan_import, read_opml

    try:
        with open(file, "rb") as f:
            data = f.read()
    except OSError as e:
        raise AggregatorError(f"{file}: cannot read this file: {e.strerror}") from e
    skipped: list[Skipped] = []
    items = read_opml(data, source=file, skipped=skipped)
    # A missing feeds.yaml is created: importing is a natural first step.
    config = load_config(paths.config) if os.path.exists(paths.config) else None
    plan = plan_import(config, items, skipped)
    for s in plan.skipped:
        click.echo(f"skipped: {file}:{s.line}: {s.message}", err=True)
    if dry_run:
        for tab, url, title in plan.add:
            click.echo(f"+ [{tab}] {title or url}  <{url}>")
    elif plan.add:
        add_feeds(paths.config, plan.add)
    click.echo(("dry run: " if dry_run else "") + plan.summary(dry_run=dry_run))


@cli.command("export-opml")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="Write to this file instead of standard output.",
)
@click.pass_obj
def export_opml(paths: Paths, output: str) -> None:
    """Write the tabs and feeds of feeds.yaml as OPML 2.0 (for another reader)."""
    from aggregator.config.yamlfile import atomic_write
    from aggregator.opml import write_opml

    config = load_config(paths.config)
    data = write_opml(config)
    if output == "-":
        click.echo(data.decode("utf-8"), nl=False)
        return
    try:
        atomic_write(Path(output), data.decode("utf-8"))
    except OSError as e:
        raise AggregatorError(f"{output}: cannot write this file: {e.strerror}") from e
    feeds = len(config.feeds)
    click.echo(f"{output}: {feeds} feed{'s' * (feeds != 1)} exported", err=True)


def main() -> None:
    cli(prog_name="aggregator")
