"""Site icons (migration 7): which sites need looking at, what was found, serving it.

A site is ``scheme://host[:port]`` of a feed's home page (``feeds.site_link``), else
of the feed's own URL. ``aggregator.icons`` finds and checks the icons; this module
only remembers them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from ._sqlite import StorageBase, to_ts


def site_of(url: str | None) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, lower-cased; None otherwise."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    netloc = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{netloc}" + (f":{port}" if port and port != default else "")


class IconsMixin(StorageBase):
    def _feed_sites(self, db) -> dict[str, tuple[str, str | None, tuple[str, ...]]]:
        """feed url -> (site, page to read icon links from, the feed's own pictures),
        active feeds only."""
        sites = {}
        rows = db.execute("SELECT url, site_link, feed_icons FROM feeds WHERE active = 1")
        for url, site_link, feed_icons in rows:
            site = site_of(site_link) or site_of(url)
            if site:
                sites[url] = (site, site_link if site_of(site_link) else None, _urls(feed_icons))
        return sites

    def icon_sites_due(
        self, *, now: datetime, older_than: timedelta, limit: int
    ) -> list[tuple[str, str | None, tuple[str, ...]]]:
        """(site, page URL, feed icon URLs) of sites never looked at, then of those
        looked at longest ago, before ``now - older_than``; at most ``limit``."""
        cutoff = to_ts(now - older_than)
        with self._read() as db:
            pages: dict[str, str | None] = {}
            pictures: dict[str, list[str]] = {}
            for site, page, feed_icons in self._feed_sites(db).values():
                if pages.get(site) is None:
                    pages[site] = page
                pictures.setdefault(site, []).extend(feed_icons)
            checked = dict(db.execute("SELECT site, checked_at FROM site_icons").fetchall())
        due = [s for s in pages if s not in checked or checked[s] < cutoff]
        due.sort(key=lambda s: (s in checked, checked.get(s, 0), s))
        return [(s, pages[s], tuple(dict.fromkeys(pictures[s]))) for s in due[:limit]]

    def save_icon(self, site: str, icon, error: str | None, *, now: datetime) -> None:
        """Remember what looking for ``site``'s icon gave (an ``icons.Icon`` or None
        and the reason). A failed refresh keeps an icon found before."""
        data = icon.data if icon is not None else None
        params = {
            "site": site,
            "url": icon.url if icon is not None else None,
            "mime": icon.mime if icon is not None else None,
            "data": data,
            "digest": hashlib.sha256(data).hexdigest()[:32] if data else None,
            "error": (error or "")[:1000] or None,
            "now": to_ts(now),
        }
        with self._write() as db:
            db.execute(
                """
                INSERT INTO site_icons (site, url, mime, data, digest, error, checked_at)
                VALUES (:site, :url, :mime, :data, :digest, :error, :now)
                ON CONFLICT (site) DO UPDATE SET
                    url = coalesce(excluded.url, url),
                    mime = coalesce(excluded.mime, mime),
                    data = coalesce(excluded.data, data),
                    digest = coalesce(excluded.digest, digest),
                    error = excluded.error,
                    checked_at = excluded.checked_at
                """,
                params,
            )

    def icon(self, digest: str) -> tuple[str, bytes] | None:
        """(MIME type, bytes) of a stored icon, by its digest."""
        with self._query() as db:
            row = db.execute(
                "SELECT mime, data FROM site_icons WHERE digest = :d AND data IS NOT NULL",
                {"d": digest},
            ).fetchone()
        return (row[0], row[1]) if row else None

    def feed_icons(self) -> dict[str, str]:
        """feed url -> icon digest, for the feeds whose site has an icon."""
        with self._query() as db:
            digests = dict(
                db.execute("SELECT site, digest FROM site_icons WHERE digest IS NOT NULL")
            )
            if not digests:
                return {}
            sites = self._feed_sites(db)
        return {url: digests[site] for url, (site, _, _) in sites.items() if site in digests}

    def icon_problems(self) -> dict[str, str]:
        """feed url -> why its site has no icon (for the status page)."""
        with self._query() as db:
            errors = dict(
                db.execute(
                    "SELECT site, error FROM site_icons WHERE data IS NULL AND error IS NOT NULL"
                )
            )
            if not errors:
                return {}
            sites = self._feed_sites(db)
        return {url: errors[site] for url, (site, _, _) in sites.items() if site in errors}


def _urls(stored: str | None) -> tuple[str, ...]:
    """The JSON list of URLs stored in ``feeds.feed_icons`` (anything else: none)."""
    try:
        value = json.loads(stored) if stored else []
    except ValueError:
        return ()
    return tuple(u for u in value if isinstance(u, str)) if isinstance(value, list) else ()
