"""The HTML of what a page repeats per entry: river items (river, tab, feed, search and
contact pages), widget headlines, and their parts (avatar, date, « envoyé à »,
forward button, read/star buttons), shared with the single-entry page.

Built in Python rather than as Jinja macros for speed: a river page holds 50 items and a
widgets page 500 headlines, and as nested macros each item cost ~0.6 ms (seven macro
calls, five ``url_for``, two ``csrf_token()``, ten ``_()``): the whole budget of a page.
Here, what is the same for every entry of a page (language, CSRF token, translated
labels, URL patterns) is worked out once per request (:func:`_page`).

Escaping: every text goes through ``markupsafe.escape``; ids and 0/1 flags are ints we
format ourselves. Only two fields are inserted as they are, as in the templates:
``content_html`` (sanitized at ingest by aggregator.sanitize) and ``snippet`` (escaped
by storage, ``<mark>`` added around matches).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from flask import Flask, g, request, url_for
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from aggregator.models import EntryView
from aggregator.web import i18n
from aggregator.web.filters import AVATAR_COLOURS, feed_problem, initial, preview, safe_url
from aggregator.web.forwarding import sent_label
from aggregator.web.i18n import N_

# Stands for the entry id in a URL built once per page: url_for costs ~20 µs and a
# river item has four URLs. Long enough not to occur in a URL by chance; if it does
# (see _cut), the URL is built the slow way.
MARK = 7318046259174630825
_MARK = str(MARK)


# The labels said through _Page.t() inside the f-strings below, marked for the catalog's
# extractor (Python 3.11's tokenizer does not look inside f-strings).
LABELS = (
    N_("Untitled"), N_("never"), N_("This might interest someone"), N_("Read the original"),
    N_("Mark as unread"), N_("Mark as read"), N_("Unstar"), N_("Star"), N_("Unread"),
)  # fmt: skip


@dataclass
class _Page:
    """What every item of one response shares."""

    request: Any
    lang: str
    now: datetime
    token: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    urls: dict[Any, list[str] | None] = field(default_factory=dict)
    feed_urls: dict[str, str] = field(default_factory=dict)
    icons: dict[str, str] | None = None  # feed url -> site icon digest (issue 9)

    def t(self, message: str) -> str:
        """``_(message)``, translated once per page (already escaped)."""
        label = self.labels.get(message)
        if label is None:
            label = self.labels[message] = str(escape(i18n.translate(message, self.lang)))
        return label

    def csrf(self) -> str:
        if self.token is None:
            self.token = str(escape(generate_csrf()))
        return self.token


def _page() -> _Page:
    """This request's _Page. Kept on ``g`` with the request it belongs to: requests made
    inside an outer app context (tests, scripts) share one ``g``."""
    page = g.get("_items_page")
    current = request._get_current_object()  # type: ignore[attr-defined]
    if page is None or page.request is not current:
        now = g.get("now") or datetime.now(UTC)
        page = g._items_page = _Page(current, lang=i18n.current_language(), now=now)
    return page


def _html(text: str) -> Markup:
    """Markup for HTML built in this module, where every piece was escaped or is one of
    the two fields documented as safe (see the module docstring)."""
    return Markup(text)  # noqa: S704


def _cut(url: str, marks: int) -> list[str] | None:
    parts = url.split(_MARK)
    return parts if len(parts) == marks + 1 else None


def _entry_url(page: _Page, endpoint: str, entry_id: int) -> str:
    """url_for(endpoint, entry_id=entry_id), from a pattern made once per page."""
    if endpoint not in page.urls:
        page.urls[endpoint] = _cut(url_for(endpoint, entry_id=MARK), 1)
    parts = page.urls[endpoint]
    if parts is None:
        return url_for(endpoint, entry_id=entry_id)
    return str(entry_id).join(parts)


def _forward_url(page: _Page, entry_id: int, back: str, anchor: bool, to: str | None) -> str:
    """The forward panel's URL; ``next`` is ``back``, plus ``#entry-<id>`` if ``anchor``."""
    key = ("forward", back, anchor, to)
    if key not in page.urls:
        marked = f"{back}#entry-{MARK}" if anchor else back
        url = url_for("forwarding.panel", entry_id=MARK, next=marked, to=to)
        page.urls[key] = _cut(url, 2 if anchor else 1)
    parts = page.urls[key]
    if parts is None:
        after = f"{back}#entry-{entry_id}" if anchor else back
        return url_for("forwarding.panel", entry_id=entry_id, next=after, to=to)
    return str(entry_id).join(parts)


def _feed_url(page: _Page, feed_url: str) -> str:
    href = page.feed_urls.get(feed_url)
    if href is None:
        href = page.feed_urls[feed_url] = str(escape(url_for("views.feed", url=feed_url)))
    return href


def feed_href(feed_url: str) -> Markup:
    """url_for("views.feed", url=feed_url), once per feed per page (already escaped)."""
    return _html(_feed_url(_page(), feed_url))


# --- parts -------------------------------------------------------------------------
# The _functions return plain str (already escaped) and take the page: Markup objects
# and request-context lookups per piece are measurable at 500 headlines a page. The
# public functions, called from templates, return Markup.


@lru_cache(maxsize=4096)
def _avatar(feed_url: str, feed_title: str | None) -> str:
    colour = zlib.crc32(feed_url.encode("utf-8")) % AVATAR_COLOURS  # as filters.avatar_class
    return f'<span class="avatar avatar-{colour}" aria-hidden="true">{escape(initial(feed_title))}</span>'


def avatar(feed_url: str, feed_title: str | None) -> Markup:
    """The feed's site icon, else its coloured initial (colour by class: CSP forbids
    inline styles)."""
    return _html(_visual(_page(), feed_url, feed_title))


# --- pictures (issue 9) ----------------------------------------------------------------
# Site icons come from our own origin (/icons/<digest>, checked and stored by
# aggregator.icons); thumbnails come from the feed's servers, so they load lazily,
# never block the page (decoding="async", fixed box in CSS) and send no Referer.


def _icons(page: _Page) -> dict[str, str]:
    if page.icons is None:
        from aggregator.web import state

        try:
            page.icons = state().storage.feed_icons()
        except Exception:  # an icon is never worth a page: the letters stay
            page.icons = {}
    return page.icons


def _visual(page: _Page, feed_url: str, feed_title: str | None) -> str:
    digest = _icons(page).get(feed_url)
    if digest is None:
        return _avatar(feed_url, feed_title)
    src = escape(url_for("views.site_icon", digest=digest))
    return (
        f'<span class="avatar avatar-icon" aria-hidden="true"><img src="{src}" alt="" '
        'width="20" height="20" decoding="async" referrerpolicy="no-referrer"></span>'
    )


def _thumb(e: EntryView, href: str, css: str, external: bool = False) -> str:
    """The item's thumbnail as a link (to the entry, or to the video itself)."""
    if not e.thumbnail:
        return ""
    src = escape(e.thumbnail)
    target = ' target="_blank" rel="noopener noreferrer"' if external else " data-open"
    return (
        f'<a class="{css}" href="{escape(href)}"{target} tabindex="-1" aria-hidden="true">'
        f'<img src="{src}" alt="" loading="lazy" decoding="async" '
        'referrerpolicy="no-referrer"></a>'
    )


def is_video_page(link: str | None) -> bool:
    """A YouTube (or youtu.be) watch page: its thumbnail links to the video."""
    host = (link or "").split("/")[2:3]
    return bool(host) and host[0].lower().removeprefix("www.").removeprefix("m.") in (
        "youtube.com",
        "youtu.be",
    )


def title_text(page: _Page, e: EntryView) -> str:
    """The title to show, escaped: the feed's, the one made from the text, or
    « Sans titre » -- never a bare « … »."""
    return str(escape(e.title)) if e.title else page.t("Untitled")


def entry_title(e: EntryView) -> Markup:
    """``title_text`` for templates."""
    return _html(title_text(_page(), e))


def _time(page: _Page, when: datetime | None) -> str:
    if when is None:
        return f'<time datetime="" title="">{page.t("never")}</time>'
    iso = when.isoformat().replace("+00:00", "Z")
    full = escape(i18n.absolute_date(when, page.lang))
    words = escape(i18n.relative_date(when, page.now, page.lang))
    return f'<time datetime="{iso}" title="{full}">{words}</time>'


def date(when: datetime | None) -> Markup:
    """``<time>``: in words (« il y a 5 min »), the full date as its tooltip."""
    return _html(_time(_page(), when))


def _sent(names: Sequence[str] | None) -> str:
    if not names:
        return '<span class="sent-to" data-sent-to hidden></span>'
    return f'<span class="sent-to" data-sent-to>{escape(sent_label(names))}</span>'


def sent_to(names: Sequence[str] | None) -> Markup:
    """« envoyé à Camille, Sam »; always present (maybe empty) so app.js can fill it in."""
    return _html(_sent(names))


def _forward(
    page: _Page, e: EntryView, back: str, anchor: bool, compact: bool, to: str | None
) -> str:
    href = escape(_forward_url(page, e.id, back, anchor, to))
    if compact:
        hidden = escape(
            i18n.translate(
                "This might interest someone: %(title)s",
                page.lang,
                title=e.title or i18n.translate("Untitled", page.lang),
            )
        )
        return (
            f'<a class="forward-icon" href="{href}" data-forward aria-haspopup="dialog"'
            f' title="{page.t("This might interest someone")}"><span aria-hidden="true">✉</span>'
            f'<span class="visually-hidden">{hidden}</span></a>'
        )
    return (
        f'<a class="btn btn-small btn-forward" href="{href}" data-forward aria-haspopup="dialog"'
        f' aria-keyshortcuts="f"><span aria-hidden="true">✉</span>'
        f" {page.t('This might interest someone')}</a>"
    )


def forward_button(e: EntryView, back: str, compact: bool = False, to: str | None = None) -> Markup:
    """« Ça pourrait t'intéresser »: a link to the panel's own page (works without
    JavaScript); app.js opens it as a dialog instead."""
    return _html(_forward(_page(), e, back, False, compact, to))


def _actions(page: _Page, e: EntryView, back: str, anchor: bool, forward_to: str | None) -> str:
    t, token = page.t, page.csrf()
    nxt = escape(f"{back}#entry-{e.id}" if anchor else back)
    link = safe_url(e.link)
    original = (
        f'\n  <a class="btn btn-small" href="{escape(link)}" target="_blank"'
        f' rel="noopener noreferrer">{t("Read the original")} <span aria-hidden="true">↗</span></a>'
        if link
        else ""
    )
    read_label = t("Mark as unread") if e.read else t("Mark as read")
    star_label = t("Unstar") if e.starred else t("Star")
    return f"""<div class="entry-actions">
  {_forward(page, e, back, anchor, False, forward_to)}
  <form method="post" action="{_entry_url(page, "actions.set_read", e.id)}" data-action="read">
    <input type="hidden" name="csrf_token" value="{token}">
    <input type="hidden" name="read" value="{0 if e.read else 1}">
    <input type="hidden" name="next" value="{nxt}">
    <button type="submit" class="btn btn-small" data-label-on="{t("Mark as unread")}" \
data-label-off="{t("Mark as read")}" aria-keyshortcuts="m">{read_label}</button>
  </form>
  <form method="post" action="{_entry_url(page, "actions.set_starred", e.id)}" data-action="star">
    <input type="hidden" name="csrf_token" value="{token}">
    <input type="hidden" name="starred" value="{0 if e.starred else 1}">
    <input type="hidden" name="next" value="{nxt}">
    <button type="submit" class="btn btn-small btn-star" data-label-on="{t("Unstar")}" \
data-label-off="{t("Star")}" aria-pressed="{"true" if e.starred else "false"}" \
aria-keyshortcuts="s"><span class="star-icon" aria-hidden="true">{"★" if e.starred else "☆"}\
</span> <span class="label">{star_label}</span></button>
  </form>{original}
</div>"""


def entry_actions(e: EntryView, back: str, forward_to: str | None = None) -> Markup:
    """Forward, read/unread, star/unstar (forms that work without JavaScript), original."""
    return _html(_actions(_page(), e, back, False, forward_to))


# --- whole items ---------------------------------------------------------------------


def entry_item(
    e: EntryView,
    back: str,
    show_snippet: bool = False,
    sent: Sequence[str] | None = None,
    forward_to: str | None = None,
) -> Markup:
    """One river item: a closed article whose content app.js reveals on demand."""
    page = _page()
    i = e.id
    classes = "entry" + ("" if e.read else " unread") + (" starred" if e.starred else "")
    classes += " derived" if e.title_derived or not e.title else ""
    title = e.title_html if show_snippet and e.title_html else title_text(page, e)
    entry_href = _entry_url(page, "views.entry", i)
    video = is_video_page(e.link)
    thumb = _thumb(e, (e.link or entry_href) if video else entry_href, "thumb", video)
    author = (
        f'\n    <span class="author">{escape(e.author)}</span>'
        if e.author and e.title_derived
        else ""
    )
    if show_snippet and e.snippet:
        text = f'\n  <p class="preview snippet">{e.snippet}</p>'  # escaped by storage
    elif e.summary:
        text = f'\n  <p class="preview">{escape(preview(e.summary))}</p>'
    else:
        text = ""
    # content_html was sanitized at ingest (aggregator.sanitize). Inert in a <template>
    # until opened: images (and trackers) in a closed article are not loaded.
    return _html(f"""<article class="{classes}" id="entry-{i}" data-entry-id="{i}" \
data-read="{int(e.read)}" data-starred="{int(e.starred)}" aria-labelledby="entry-title-{i}">
  <div class="entry-meta">
    {_visual(page, e.feed_url, e.feed_title)}{feed_problem(e.feed_url)}
    <a class="feed-name" href="{_feed_url(page, e.feed_url)}">{escape(e.feed_title)}</a>{author}
    <span class="dot" aria-hidden="true">·</span>
    {_time(page, e.published)}
    <span class="state-unread">{page.t("Unread")}</span>
    <span class="state-starred" aria-hidden="true">★</span>
    {_sent(sent)}
  </div>
  {thumb}<h2 class="entry-title" id="entry-title-{i}"><a href="{entry_href}" \
data-open aria-expanded="false">{title}</a></h2>{text}
  <div class="entry-body content" hidden></div>
  <template class="entry-content">{e.content_html}</template>
  {_actions(page, e, back, True, forward_to)}
</article>
""")


WIDGET_SNIPPET_CHARS = 120  # « Vue étendue »: a line or two under the headline


def headlines(
    entries: Sequence[EntryView],
    back: str,
    sent: dict[int, list[str]] | None = None,
    extended: bool = False,
) -> Markup:
    """The lines of one widget: title, date, « envoyé à », forward icon; in « Vue
    étendue » (``extended``) also the thumbnail and a short text snippet."""
    page = _page()
    sent = sent or {}
    lines = []
    for e in entries:
        unread = "" if e.read else " unread"
        unread += " derived" if e.title_derived or not e.title else ""
        href = _entry_url(page, "views.entry", e.id)
        thumb = snippet = ""
        if extended:
            video = is_video_page(e.link)
            thumb = _thumb(e, (e.link or href) if video else href, "headline-thumb", video)
            text = preview(e.summary, WIDGET_SNIPPET_CHARS)
            if text and not e.title_derived:  # a derived title already is the text
                snippet = f'\n        <p class="headline-snippet">{escape(text)}</p>'
        lines.append(f"""      <li class="headline{unread}" data-entry-id="{e.id}" \
data-read="{int(e.read)}" data-starred="{int(e.starred)}">
        {thumb}<a href="{href}" data-open>{title_text(page, e)}</a>{snippet}
        <span class="headline-meta">{_time(page, e.published)} {_sent(sent.get(e.id))} \
{_forward(page, e, back, False, True, None)}</span>
      </li>
""")
    return _html("".join(lines))


def install(app: Flask) -> None:
    app.jinja_env.globals.update(
        avatar=avatar,
        date=date,
        sent_to=sent_to,
        forward_button=forward_button,
        entry_actions=entry_actions,
        entry_item=entry_item,
        headlines=headlines,
        entry_title=entry_title,
        is_video_page=is_video_page,
        feed_href=feed_href,
    )
