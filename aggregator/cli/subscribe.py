"""Following and unfollowing from the terminal: ``add`` and ``remove``.

The CLI mirrors of the dashboard's « Ajouter du contenu » and « Se désabonner »:
the same discovery (``discover.discover``), the same writer (``config.edit``: locked,
comments kept, re-applied over a hand edit) and, for ``add``, the same first fetch.
"""

from __future__ import annotations

import os

import click

from aggregator.cli import Paths, cli, utcnow
from aggregator.config import load_config, normalize_url
from aggregator.config.edit import add_feed, remove_feed
from aggregator.errors import AggregatorError
from aggregator.models import Config, Settings

DEFAULT_TAB = "Général"


@cli.command()
@click.argument("address")
@click.option("--tab", help="The tab to put it in (created if needed).")
@click.option("--title", help="Its name on the dashboard (default: the feed's own title).")
@click.option(
    "--yes", "-y", is_flag=True, help="Ask nothing: take the first feed found and the first tab."
)
@click.pass_obj
def add(paths: Paths, address: str, tab: str | None, title: str | None, yes: bool) -> None:
    """Follow ADDRESS: a feed, a website, or a profile such as @name@instance.

    Finds the feeds the address stands for (each one checked by fetching it), asks
    which one when there are several (unless --yes), adds it to feeds.yaml (comments
    kept) and fetches it at once.
    """
    from aggregator.discover import discover
    from aggregator.fetch import Fetcher

    # A missing feeds.yaml is created, as by import-opml; an invalid one is refused.
    config = load_config(paths.config) if os.path.exists(paths.config) else None
    settings = config.settings if config is not None else Settings()
    now = utcnow()
    with Fetcher(
        timeout=settings.timeout.total_seconds(),
        max_size=settings.max_size,
        allow_private_networks=settings.allow_private_networks,
    ) as fetcher:
        found = discover(address, fetcher=fetcher, now=now)
    candidates = found.candidates
    platform = f" ({found.platform})" if found.platform else ""
    count = len(candidates)
    click.echo(f"{found.address}{platform}: {count} feed{'s' * (count != 1)} found")
    followed = _followed(config)
    for number, candidate in enumerate(candidates, 1):
        known = followed.get(normalize_url(candidate.url))
        note = f"  (already followed, tab '{known}')" if known else ""
        click.echo(f"  {number}. {candidate.title or 'untitled'}  <{candidate.url}>{note}")
    choice = 1
    if count > 1 and not yes:
        choice = click.prompt("Which one?", type=click.IntRange(1, count), default=1)
    chosen = candidates[choice - 1]
    known = followed.get(normalize_url(chosen.url))
    if known:  # say it before asking for a tab (add_feed would refuse it anyway)
        raise AggregatorError(f"{chosen.url} is already followed in the tab '{known}'")
    for headline in chosen.headlines:
        click.echo(f"    - {headline}")
    if tab is None:
        tab = _default_tab(config)
        if not yes:
            tab = click.prompt("Tab", default=tab)
    new = add_feed(paths.config, tab, chosen.url, title)
    feed = new.feed(chosen.url)
    where = feed.tab if feed is not None else tab
    click.echo(f"added {chosen.url} to the tab '{where}' of {paths.config}")
    _fetch_now(paths, new, chosen.url)


def _followed(config: Config | None) -> dict[str, str]:
    """Normalised URL -> tab, for the feeds of feeds.yaml."""
    return {normalize_url(f.url): f.tab for f in config.feeds} if config is not None else {}


def _default_tab(config: Config | None) -> str:
    return config.tabs[0].name if config is not None and config.tabs else DEFAULT_TAB


def _fetch_now(paths: Paths, config: Config, url: str) -> None:
    """Fetch the new feed now, so its entries are there without waiting for a tick.

    The feed is in feeds.yaml whatever happens here: a failed fetch is reported and
    retried on the usual schedule (the command still succeeds)."""
    from aggregator.cli.feeds import sync_config
    from aggregator.storage import Storage
    from aggregator.update import Updater

    now = utcnow()
    storage = Storage(paths.db)
    try:
        sync_config(storage, config, paths.config, now)
        updater = Updater(storage, config.settings, processes=0)
        try:
            summary = updater.update([storage.feed(url)], now=now)
        finally:
            updater.close()
    finally:
        storage.close()
    for outcome in summary.outcomes:
        if outcome.error is not None:
            click.echo(
                f"fetching it failed: {outcome.error}; it will be tried again later", err=True
            )
        else:
            n = outcome.new_entries
            click.echo(f"fetched: {n} new entr{'ies' if n != 1 else 'y'}")


@cli.command()
@click.argument("url")
@click.pass_obj
def remove(paths: Paths, url: str) -> None:
    """Stop following URL: remove it from feeds.yaml (comments around it are kept).

    Its entries leave the dashboard; unless one is starred or was forwarded, the
    feed and its history are forgotten once the aggregator reloads feeds.yaml.
    """
    removed = remove_feed(paths.config, url)
    click.echo(f"removed {removed.url} from the tab '{removed.tab}' of {paths.config}")
