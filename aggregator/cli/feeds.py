"""Commands about the feed list and what was fetched: check, fetch, list, status, OPML."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from aggregator.cli import Paths, cli, load_or_exit, utcnow
from aggregator.config import load_config, load_contacts, summarize
from aggregator.config.feeds import says_no_feeds
from aggregator.errors import AggregatorError, ConfigError, ConfigProblem, StorageError
from aggregator.export import entry_json, feed_json, iso
from aggregator.models import Config, EntryView
from aggregator.storage import Storage


@cli.command()
@click.option(
    "--resolve",
    is_flag=True,
    help="Also resolve every feed over the network (addresses, handles, site URLs) and"
    " report the ones that give no feed, with FILE:LINE:COL.",
)
@click.pass_obj
def check(paths: Paths, resolve: bool) -> None:
    """Validate feeds.yaml and contacts.yaml: print every problem (exit 1) or a summary.

    Without --resolve nothing touches the network.
    """
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
    if resolve and not _resolve_all(paths.config, config):
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
    _check_imap(config)
    # the feeds summary comes last: scripts read the last line
    click.echo(summarize(config))


def _check_imap(config: Config) -> None:
    """What ``check`` says about settings.imap and the mail sources (no network)."""
    from aggregator.models import MailSource
    from aggregator.newsletters import PASSWORD_ENV

    imap = config.settings.imap
    sources = [MailSource.from_key(f.url) for f in config.feeds]
    folders = [s.folder for s in sources if s is not None]
    if imap is None:
        return
    listed = ", ".join(dict.fromkeys(folders)) or "none yet"
    click.echo(
        f"imap: {imap.username} on {imap.host}:{imap.port} ({imap.security}); "
        f"{len(folders)} mail source{'s' * (len(folders) != 1)} (folders: {listed})"
    )
    if not os.environ.get(PASSWORD_ENV):
        click.echo(
            f"warning: settings.imap is set but {PASSWORD_ENV} is not: mail sources will fail",
            err=True,
        )


def _resolve_all(path: str, config: Config) -> bool:
    """``check --resolve``: discover every feed, as the aggregator will, and print
    what each address stands for; False when one gives no feed (each is reported as
    FILE:LINE:COL on stderr)."""
    import concurrent.futures as cf

    from aggregator.discover import Discovery, discover
    from aggregator.errors import DiscoveryError
    from aggregator.fetch import Fetcher

    settings = config.settings
    now = utcnow()
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []

    def one(address: str) -> Discovery | DiscoveryError:
        try:
            return discover(address, fetcher=fetcher, now=now)
        except DiscoveryError as e:
            return e

    with (
        Fetcher(
            timeout=settings.timeout.total_seconds(),
            max_size=settings.max_size,
            allow_private_networks=settings.allow_private_networks,
        ) as fetcher,
        cf.ThreadPoolExecutor(8, "check") as pool,
    ):
        outcomes = list(pool.map(one, [f.url for f in config.feeds]))
    ok = True
    for feed, outcome in zip(config.feeds, outcomes, strict=True):
        if isinstance(outcome, DiscoveryError):
            ok = False
            line, col = _where(lines, feed.line, feed.url)
            click.echo(f"{path}:{line}:{col}: '{feed.url}' gives no feed: {outcome}", err=True)
            continue
        best = outcome.candidates[0]
        if best.url == feed.url:
            click.echo(f"{feed.url}: a feed ({best.title or 'untitled'})")
        else:
            more = len(outcome.candidates) - 1
            others = f" ({more} other feed{'s' * (more != 1)} found)" if more else ""
            click.echo(f"{feed.url}: resolves to {best.url} ({best.title or 'untitled'}){others}")
    return ok


def _where(lines: list[str], line: int, address: str) -> tuple[int, int]:
    """The line and column of ``address``, written on line ``line`` or just after."""
    for number in range(max(line, 1), min(line + 10, len(lines)) + 1):
        col = lines[number - 1].find(address)
        if col >= 0:
            return number, col + 1
    return max(line, 1), 1


def sync_config(storage: Storage, config: Config, path: str, now: datetime) -> None:
    """Make the database follow a freshly loaded feeds.yaml, as the running worker does.

    The same rule as the hot reload (``ConfigSource.check_change``): a file with no
    feed never deactivates the feeds the database follows unless it says so with
    ``tabs: []``. Half-saved or settings-only files look exactly like that.
    """
    if not config.feeds and storage.feeds():
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        error = says_no_feeds(text, path)
        if error is not None:
            raise error
    storage.sync_feeds(config.feeds, now=now)


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
    config = load_or_exit(paths.config)
    now = utcnow()
    storage = Storage(paths.db)
    try:
        _fetch(paths, storage, config, feed_url, processes, now)
    except StorageError as e:
        # The dashboard shows it on /feeds (it may be another process); the error
        # itself, naming the file and what to do, is printed by the cli group.
        storage.record_problem(e, now=now, source="fetch")
        raise
    else:
        storage.clear_problem()
    finally:
        storage.close()


def _fetch(
    paths: Paths,
    storage: Storage,
    config: Config,
    feed_url: str | None,
    processes: int | None,
    now: datetime,
) -> None:
    """`fetch` once the database is open. A StorageError (damaged file, full disk...)
    stops the batch at once (``Updater.update``) and ends the command with status 1."""
    from aggregator.update import Updater

    sync_config(storage, config, paths.config, now)
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
            with click.progressbar(length=len(feeds), label="Refreshing", file=sys.stderr) as bar:
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
            try:
                sync_config(storage, config, paths.config, utcnow())
            except ConfigError as e:
                config_error = e
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
    from aggregator.opml import apply_import, prepare_import

    try:
        with open(file, "rb") as f:
            data = f.read()
    except OSError as e:
        raise AggregatorError(f"{file}: cannot read this file: {e.strerror}") from e
    # A missing feeds.yaml is created: importing is a natural first step.
    config = load_config(paths.config) if os.path.exists(paths.config) else None
    plan = prepare_import(data, source=file, config=config)
    for s in plan.skipped:
        click.echo(f"skipped: {file}:{s.line}: {s.message}", err=True)
    for c in plan.converted:
        click.echo(f"converted: {file}:{c.line}: {c.original} is read as {c.url}", err=True)
    if dry_run:
        for tab, url, title in plan.add:
            click.echo(f"+ [{tab}] {title or url}  <{url}>")
    elif plan.add:
        apply_import(paths.config, plan)
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
    """Write the tabs and feeds of feeds.yaml as OPML 2.0 (for another reader).

    A feed without a title in feeds.yaml is named by its own title, as last fetched.
    """
    from aggregator.config.yamlfile import atomic_write
    from aggregator.opml import write_opml

    config = load_config(paths.config)
    titles: dict[str, str] = {}
    links: dict[str, str] = {}
    resolved: dict[str, str] = {}  # addresses (handles, sites) -> their feed
    if os.path.exists(paths.db):  # never create a database just to export
        try:
            storage = Storage(paths.db)
            try:
                for address, known in storage.resolutions().items():
                    if known.feed_url:
                        resolved[address] = known.feed_url
                for f in storage.feeds():
                    if f.title:
                        titles[f.url] = f.title
                    if f.site_link:
                        links[f.url] = f.site_link
            finally:
                storage.close()
        except StorageError as e:
            click.echo(f"warning: {e}; feeds without a title are named by their URL", err=True)
    data = write_opml(config, titles=titles, site_links=links, feed_urls=resolved)
    if output == "-":
        click.echo(data.decode("utf-8"), nl=False)
        return
    try:
        atomic_write(Path(output), data.decode("utf-8"))
    except OSError as e:
        raise AggregatorError(f"{output}: cannot write this file: {e.strerror}") from e
    feeds = len(config.feeds)
    click.echo(f"{output}: {feeds} feed{'s' * (feeds != 1)} exported", err=True)
