"""``settings.display`` in feeds.yaml and a feed's own ``headlines:`` (issue 10).

How the dashboard shows things, validated like every setting (``FILE:LINE:COL``)::

    settings:
      display:
        unread_only: false        # open rivers on « Non lus seulement » (default: false)
        headlines: 5              # headlines per widget, 1 to 50 (default: 5)
        mark_read_on_scroll: false  # an article scrolled past is read (default: false)
        time_zone: America/Montreal # dates in this zone (default: the machine's zone)
        locale: fr_CA             # fr_CA, fr_FR or en: how dates are written (default: fr_FR)
    tabs:
      - name: Emplois
        feeds:
          - url: https://example.org/jobs.xml
            headlines: 10         # this widget shows 10 headlines

The per-feed counts are gathered here (``with_feed_headlines``) rather than in
``feeds._feeds``: they only concern the dashboard, and land in ``DisplaySettings``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from aggregator.models import DisplaySettings, Settings

from . import values
from ._text import N_, Invalid
from .yamlfile import INVALID, Problems, convert, is_null, scalar, settings_block

DISPLAY_KEYS = ("unread_only", "headlines", "mark_read_on_scroll", "time_zone", "locale")
DISPLAY_HINTS = {
    "timezone": N_("did you mean 'time_zone'?"),
    "tz": N_("did you mean 'time_zone'?"),
    "unread": N_("did you mean 'unread_only'?"),
    "items": N_("did you mean 'headlines'? (headlines per widget)"),
    "items_per_widget": N_("did you mean 'headlines'? (headlines per widget)"),
    "language": N_(
        "the language is chosen in the dashboard (Français / English); "
        "'locale' sets how dates are written"
    ),
}
HEADLINES_RANGE = (1, 50)
LOCALES = ("fr_CA", "fr_FR", "en")


def _bool(node: Node) -> bool:
    return values.parse_bool(scalar(node, N_("true or false")))


def headlines(node: Node) -> int:
    raw = scalar(node, N_("a number of headlines"))
    try:
        n = values.parse_int(raw)
    except ValueError:
        n = 0
    low, high = HEADLINES_RANGE
    if not low <= n <= high:
        raise Invalid(
            N_("must be a whole number from %(low)s to %(high)s, got '%(raw)s'"),
            low=low,
            high=high,
            raw=raw,
        )
    return n


def time_zone(node: Node) -> str:
    raw = scalar(node, N_("a time zone such as America/Montreal")).strip()
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        import difflib

        close = difflib.get_close_matches(raw, sorted(available_timezones()), n=1, cutoff=0.6)
        if close:
            raise Invalid(
                N_("'%(raw)s' is not a time zone (did you mean '%(guess)s'?)"),
                raw=raw,
                guess=close[0],
            ) from None
        raise Invalid(
            N_("'%(raw)s' is not a time zone (e.g. America/Montreal, Europe/Paris)"), raw=raw
        ) from None
    return raw


def locale(node: Node) -> str:
    raw = scalar(node, N_("fr_CA, fr_FR or en")).strip().replace("-", "_")
    if raw not in LOCALES:
        raise Invalid(
            N_("must be one of %(choices)s, got '%(raw)s'"), choices=", ".join(LOCALES), raw=raw
        )
    return raw


def display_settings(node: Node, problems: Problems) -> DisplaySettings:
    """``settings.display``; an empty block means the defaults."""
    checks = {
        "unread_only": _bool,
        "headlines": headlines,
        "mark_read_on_scroll": _bool,
        "time_zone": time_zone,
        "locale": locale,
    }
    found = settings_block(
        node, problems, what="display", description=N_("display settings"),
        known=DISPLAY_KEYS, hints=DISPLAY_HINTS, checks=checks,
    )  # fmt: skip
    return DisplaySettings(**{k: v for k, v in (found or {}).items() if v is not INVALID})


def with_feed_headlines(settings: Settings, tabs: Node | None, problems: Problems) -> Settings:
    """``settings`` with the ``headlines:`` written on feeds (by normalized URL).

    Only well-formed shapes are walked: ``feeds._tabs`` reports the others."""
    per_feed: dict[str, int] = {}
    tab_nodes = tabs.value if isinstance(tabs, SequenceNode) else []
    for tab in tab_nodes:
        if not isinstance(tab, MappingNode):
            continue
        for key, feeds in tab.value:
            if not (isinstance(key, ScalarNode) and key.value == "feeds"):
                continue
            for item in feeds.value if isinstance(feeds, SequenceNode) else []:
                if isinstance(item, MappingNode):
                    _feed_headlines(item, problems, per_feed)
    if not per_feed:
        return settings
    display = dataclasses.replace(settings.display, per_feed=tuple(sorted(per_feed.items())))
    return dataclasses.replace(settings, display=display)


def _feed_headlines(item: MappingNode, problems: Problems, out: dict[str, int]) -> None:
    url = count = None
    for key, value in item.value:
        if not isinstance(key, ScalarNode):
            continue
        if key.value == "url" and isinstance(value, ScalarNode) and not is_null(value):
            url = str(value.value)
        elif key.value == "headlines":
            count = convert(problems, value, headlines, "headlines")
    if url is None or count is None or count is INVALID:
        return
    with contextlib.suppress(ValueError):  # a bad URL: reported by feeds._feeds
        out[values.normalize_url(url)] = count


def zone(display: DisplaySettings | None) -> tzinfo:
    """The configured zone, else the machine's (``TZ``, /etc/localtime), else UTC."""
    if display is not None and display.time_zone:
        try:
            return ZoneInfo(display.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return machine_zone()


def machine_zone() -> tzinfo:
    import os

    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        return _etc_localtime()
    except (ZoneInfoNotFoundError, ValueError, OSError):
        from datetime import UTC

        return UTC


def _etc_localtime() -> tzinfo:
    """/etc/localtime's zone (a symlink into zoneinfo, or a TZif file)."""
    from pathlib import Path

    link = Path("/etc/localtime")
    target = str(link.resolve())
    if "zoneinfo/" in target:
        return ZoneInfo(target.split("zoneinfo/", 1)[1])
    with link.open("rb") as f:
        return ZoneInfo.from_file(f, key="localtime")
