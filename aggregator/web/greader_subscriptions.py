"""Subscriptions through the Google Reader API: ``subscription/quickadd`` and
``subscription/edit`` (subscribe, rename, move to a label, unsubscribe).

They write feeds.yaml through ``config.edit``, the same round-trip writer as the
dashboard (comments and order kept, validated, atomic), then let the database follow
(``subscriptions.apply_config``); quickadd resolves an address with ``discover``, like
« Ajouter du contenu », and fetches the new feed at once. Refusals are short 400 texts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from flask import g, request

from aggregator.errors import ConfigError, DiscoveryError, NotFound
from aggregator.web import params, state
from aggregator.web.greader import (
    _USER_STREAM,
    FEED_PREFIX,
    MAX_STREAM,
    _bad,
    _shown,
    _tags,
    _text,
    as_json,
    parse_stream,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


def _write(change: Callable[[str], T]) -> T:
    """One round-trip edit of feeds.yaml, then the database follows (as the dashboard's
    ``subscriptions.write_config``, with refusals as short 400 texts, not flashes)."""
    from aggregator.config.edit import AlreadyFollowed
    from aggregator.web.subscriptions import apply_config, config_path

    source = state().config_source
    source.refresh()
    if source.error is not None:
        _bad("feeds.yaml has errors, so it is not changed: fix the file first.")
    try:
        result = change(config_path())
    except AlreadyFollowed as e:
        _bad(f"Already followed (tab “{e.tab}”).")
    except ConfigError as e:
        details = "; ".join(str(p) for p in e.problems) or str(e)
        _bad(f"feeds.yaml was not changed: {details}"[:500])
    except NotFound:
        _bad("This feed or label is not in feeds.yaml.")
    apply_config()
    return result


def _feed_in_config(url: str) -> str | None:
    """The URL as written in feeds.yaml for this address (compared normalised)."""
    from aggregator.config.values import normalize_url

    config = state().config
    if config is None:
        return None
    wanted = normalize_url(url)
    return next((f.url for f in config.feeds if normalize_url(f.url) == wanted), None)


def _label_arg(name: str) -> str | None:
    """A tab named by ``a=user/-/label/<tab>`` (created if new), or None."""
    for value in request.values.getlist(name):
        params.clean_text(value, name=name, max_length=MAX_STREAM)
        match = _USER_STREAM.fullmatch(value)
        if match is None or match.group(1) != "label":
            _bad("Unknown label: " + _shown(value))
        tab = " ".join(match.group(2).split())
        if not tab or len(tab) > 100:
            _bad("Unknown label: " + _shown(value))
        existing = next((t for t in state().tabs() if t.casefold() == tab.casefold()), None)
        return existing or tab
    return None


def _default_tab() -> str:
    tabs = state().tabs()
    return tabs[0] if tabs else "Abonnements"


def quickadd() -> Any:
    """``quick=`` an address (a site, a feed, a handle): resolved like the dashboard's
    « Ajouter » (``discover``), the first feed found goes into the first tab."""
    from aggregator.config.edit import add_feed
    from aggregator.discover import discover
    from aggregator.web.subscriptions import fetch_now, make_fetcher, settings

    address = " ".join(params.text_arg("quick", form=None, max_length=2000).split())
    if address.startswith(FEED_PREFIX):
        address = address[len(FEED_PREFIX) :]
    if not address:
        _bad("“quick” is required.")
    fetcher = make_fetcher(settings())
    try:
        found = discover(address, fetcher=fetcher, now=g.now)
    except DiscoveryError as e:
        log.info("quickadd of %r failed: %s", address[:200], e)
        _bad(f"No feed found at this address ({e.code}).")
    finally:
        fetcher.close()
    if not found.candidates:
        _bad("No feed found at this address.")
    candidate = found.candidates[0]
    followed = _feed_in_config(candidate.url)
    if followed is None:
        _write(lambda path: add_feed(path, _default_tab(), candidate.url, None))
        fetch_now(candidate.url)
        followed = candidate.url
    return as_json(
        {
            "query": address,
            "numResults": 1,
            "streamId": FEED_PREFIX + followed,
            "streamName": candidate.title or followed,
        }
    )


def subscription_edit() -> Any:
    """``ac=subscribe|unsubscribe|edit`` on each ``s=feed/<url>``; ``t=`` a title,
    ``a=`` the label to move it to (``r=`` labels are implied: one tab per feed)."""
    from aggregator.config.edit import add_feed, move_feed, remove_feed, rename_feed

    action = request.values.get("ac", "edit")
    if action not in ("subscribe", "unsubscribe", "edit"):
        _bad("“ac” must be subscribe, unsubscribe or edit.")
    streams = [
        parse_stream(params.clean_text(s, name="s", max_length=MAX_STREAM))
        for s in request.values.getlist("s")
    ]
    if not streams or len(streams) > 100 or any(s.kind != "feed" for s in streams):
        _bad("“s” must name feeds (feed/<address>), 100 at most.")
    title = " ".join(params.text_arg("t", form=None, max_length=300).split()) or None
    tab = _label_arg("a")
    _tags("r")  # checked, then implied
    urls = [s.value or "" for s in streams]
    if action == "subscribe":
        for url in urls:
            if not url.startswith(("http://", "https://")) or len(url) > 2000:
                _bad("Only http:// and https:// feed addresses can be followed.")
        target = tab or _default_tab()
        for url in urls:
            if _feed_in_config(url) is None:
                _write(partial(add_feed, tab=target, url=url, title=title))
        return _text("OK")
    written = []
    for url in urls:
        found = _feed_in_config(url)
        if found is None:
            _bad("Not followed: " + _shown(url))
        written.append(found)
    for url in written:
        if action == "unsubscribe":
            _write(partial(remove_feed, url=url))
            continue
        if title is not None:
            _write(partial(rename_feed, url=url, title=title))
        if tab is not None:
            _write(partial(move_feed, url=url, tab=tab))
    return _text("OK")
