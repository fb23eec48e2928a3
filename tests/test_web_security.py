"""The dashboard's safety envelope and its words: CSRF, security headers, templates
without inline code, login and its rate limit, languages, configuration errors, the
secret key, bind checks and the waitress server."""

from __future__ import annotations

import json
import os
import re
import stat
import threading
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from websupport import (
    FEEDS_YAML,
    NEWS,
    ROOT,
    entry_id,
    make_app,
    storage,
    text,
    token,
)

from aggregator.errors import AggregatorError
from aggregator.web import check_bind_allowed, i18n, safe_next, serve
from aggregator.web.actions import decode_ids, encode_ids
from aggregator.web.auth import LoginLimiter
from aggregator.web.filters import initial, preview


def test_posts_without_csrf_token_are_refused(app, client):
    eid = entry_id(app, NEWS, 1)
    for path, data in [
        (f"/entry/{eid}/read", {}),
        (f"/entry/{eid}/star", {}),
        ("/mark-all-read", {}),
        ("/undo-read", {"ids": "1-3"}),
        ("/feeds/refresh", {}),
    ]:
        r = client.post(path, data=data)
        assert r.status_code == 400, path
        assert "Le formulaire a expiré" in text(r)
        r = client.post(path, data={**data, "csrf_token": "forged"})
        assert r.status_code == 400, path
    assert storage(app).entry(eid).read is False


# --- language, security, login, config errors --------------------------------------


def test_language_switch_is_remembered_and_accept_language_works(client):
    r = client.get("/?lang=en")
    assert '<html lang="en">' in text(r) and "Mark all as read" in text(r)
    assert "5 min. ago" in text(r)
    assert "lang=en" in r.headers["Set-Cookie"]
    assert '<html lang="en">' in text(client.get("/feeds"))  # from the cookie
    client.get("/?lang=fr")
    assert '<html lang="fr">' in text(client.get("/"))
    client.delete_cookie("lang")
    r = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert '<html lang="en">' in text(r)
    r = client.get("/", headers={"Accept-Language": "de-DE"})
    assert '<html lang="fr">' in text(r)


def test_security_headers_on_every_kind_of_response(app, client):
    for path in ["/", "/feeds", "/api/entries", "/nope", "/static/app.css", "/?cursor=zz"]:
        r = client.get(path)
        assert r.headers["Content-Security-Policy"].startswith(
            "default-src 'self'; script-src 'self'"
        )
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "same-origin"  # so our own POSTs carry Origin
        assert r.headers["X-Frame-Options"] == "DENY"
        r.close()
    cookie = app.test_client().get("/").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_templates_have_no_inline_script_or_style():
    for path in sorted((ROOT / "templates").glob("*.html")):
        source = path.read_text(encoding="utf-8")
        for tag in re.findall(r"<script\b[^>]*>", source, flags=re.I):
            assert "src=" in tag, f"{path.name}: inline script {tag}"
        assert not re.search(r"\sstyle\s*=", source, flags=re.I), f"{path.name}: style="
        assert not re.search(r"<style\b", source, flags=re.I), f"{path.name}: <style>"
        assert not re.search(r"\son[a-z]+\s*=", source, flags=re.I), f"{path.name}: on*="
        marked = set(re.findall(r"([\w.]+)\s*\|\s*safe\b", source))
        assert {m.rsplit(".", 1)[-1] for m in marked} <= {"content_html", "snippet"}, path.name
        assert not re.search(r"https?://(?!www\.w3\.org)", source), f"{path.name}: external URL"


def test_every_interface_string_has_a_french_translation():
    """Every text Babel's extractors find in templates and code (babel.cfg) has French."""
    from aggregator.web import catalog

    found = catalog.message_ids(catalog.extract())
    single, plural = catalog.load("fr")
    missing = sorted(m for m in found if m not in single and m not in plural)
    assert not missing
    assert len(found) > 400


def test_login_required_then_rate_limited(site):
    app = make_app(site, AGGREGATOR_PASSWORD="correct horse")
    client = app.test_client()
    r = client.get("/tab/Tech")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=/tab/Tech")
    assert client.get("/api/entries").status_code == 401
    page = text(client.get("/login"))
    assert "Mot de passe" in page and "Actualités" not in page  # nothing shown before login
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/login", data={"password": "x"}).status_code == 400  # no CSRF
    for _ in range(5):
        r = client.post("/login", data={"csrf_token": csrf, "password": "wrong"})
        assert r.status_code == 401 and "Mot de passe incorrect." in text(r)
    r = client.post("/login", data={"csrf_token": csrf, "password": "correct horse"})
    assert r.status_code == 429
    assert "Trop de tentatives échouées" in text(r)
    other = app.test_client()  # another address is not blocked
    page = text(other.get("/login"))
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = other.post(
        "/login",
        data={"csrf_token": csrf, "password": "correct horse", "next": "/feeds"},
        environ_base={"REMOTE_ADDR": "127.0.0.2"},
    )
    assert r.status_code == 302 and r.headers["Location"] == "/feeds"
    assert other.get("/").status_code == 200
    assert other.get("/api/feeds").status_code == 200
    csrf = token(other)
    assert other.post("/logout", data={"csrf_token": csrf}).status_code == 302
    assert other.get("/").status_code == 302
    app.extensions["aggregator"].close()


def test_login_limiter_window():
    limiter = LoginLimiter(max_failures=2, window=timedelta(minutes=15))
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    limiter.failed("a", now=t0)
    limiter.failed("a", now=t0 + timedelta(minutes=1))
    assert limiter.blocked("a", now=t0 + timedelta(minutes=14))
    assert not limiter.blocked("b", now=t0)
    assert not limiter.blocked("a", now=t0 + timedelta(minutes=15))
    assert limiter.blocked("a", now=t0 + timedelta(minutes=15, seconds=59)) is False


def test_config_error_banner_until_the_file_is_fixed(app, client, site):
    import time

    from aggregator.config.yamlfile import STABLE_SECONDS

    clock = [time.time()]  # a hand edit is applied once left alone: move time, not sleep
    app.extensions["aggregator"].config_source.clock = lambda: clock[0]
    assert "banner-error" not in text(client.get("/"))
    site["config"].write_text(FEEDS_YAML + "  - nme: Oops\n", encoding="utf-8")
    assert "banner-error" not in text(client.get("/"))  # maybe half-written: not yet
    clock[0] += STABLE_SECONDS
    for path in ["/", "/tab/Tech", "/search", "/entry/1"]:
        page = text(client.get(path))
        assert "banner-error" in page, path
        assert "la dernière configuration valide reste utilisée" in page
        assert re.search(re.escape(str(site["config"])) + r":\d+:\d+</code> ", page)
    feeds = text(client.get("/feeds"))
    assert "Problèmes de configuration" in feeds
    assert "Tech" in text(client.get("/tab/Tech"))  # the last good config still serves
    site["config"].write_text(FEEDS_YAML + "\n", encoding="utf-8")
    client.get("/")
    clock[0] += STABLE_SECONDS
    assert "banner-error" not in text(client.get("/"))


def test_broken_config_at_start_still_shows_stored_feeds(site):
    first = make_app(site)
    st = first.extensions["aggregator"]
    st.storage.sync_feeds(st.config.feeds, now=datetime.now(UTC))
    st.close()
    site["config"].write_text("tabs: [\n", encoding="utf-8")
    app = make_app(site)
    page = text(app.test_client().get("/"))
    assert "Le fichier de configuration contient des erreurs." in page
    assert "Actualités" in page and "Tech" in page  # tabs from the database
    app.extensions["aggregator"].close()


# --- building blocks ---------------------------------------------------------------


def test_check_bind_allowed():
    for host in ["127.0.0.1", "127.3.4.5", "::1", "[::1]", "localhost", "LOCALHOST"]:
        check_bind_allowed(host, None)
    check_bind_allowed("0.0.0.0", "secret")
    for host in ["0.0.0.0", "::", "192.168.1.5", "example.org"]:
        with pytest.raises(AggregatorError, match="set AGGREGATOR_PASSWORD"):
            check_bind_allowed(host, None)


def test_secret_key_is_generated_once_next_to_the_database(site):
    app = make_app(site, AGGREGATOR_SECRET_KEY=None)
    key_file = site["db"].parent / "secret_key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert app.secret_key == key_file.read_text().strip() and len(app.secret_key) == 64
    again = make_app(site, AGGREGATOR_SECRET_KEY=None)
    assert again.secret_key == app.secret_key
    for a in (app, again):
        a.extensions["aggregator"].close()


def test_relative_and_absolute_dates(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")  # dates are local (issue 10): the machine's zone here
    now = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)
    cases = [
        (timedelta(seconds=20), "à l'instant", "just now"),
        # minutes, hours and days: Babel's format_timedelta (CLDR's words)
        (timedelta(minutes=5), "il y a 5 min", "5 min. ago"),
        (timedelta(hours=3), "il y a 3 h", "3 hr. ago"),
        (timedelta(hours=30), "hier", "yesterday"),
        (timedelta(days=3), "il y a 3 jours", "3 days ago"),
        (timedelta(minutes=-10), "dans 10 min", "in 10 min."),
        (timedelta(days=-1, hours=-2), "demain", "tomorrow"),
        (timedelta(days=45), "1 mai 2024", "May 1, 2024"),
    ]
    for ago, fr, en in cases:
        assert i18n.relative_date(now - ago, now, "fr") == fr
        assert i18n.relative_date(now - ago, now, "en") == en
    assert i18n.absolute_date(now, "fr") == "15 juin 2024 à 12:00"
    monkeypatch.setenv("TZ", "America/Montreal")
    assert i18n.absolute_date(now, "fr") == "15 juin 2024 à 08:00"


def test_small_helpers():
    assert encode_ids([5, 1, 2, 3, 9, 10]) == "1-3,5,9-10"
    assert decode_ids("1-3,5,9-10") == [1, 2, 3, 5, 9, 10]
    for bad in ["3-1", "0", "a", "1-999999999"]:
        with pytest.raises(ValueError):
            decode_ids(bad)
    assert safe_next("/tab/x?y=1") == "/tab/x?y=1"
    for bad in ["//evil.example", "/\\evil.example", "https://evil.example/", "", None, "/a\r\nb"]:
        assert safe_next(bad) == "/"
    assert initial("https://www.lemonde.fr/rss") == "L" and initial("  « Zut »") == "Z"
    assert initial(None) == "#"
    assert initial("Le Journal") == "J" and initial("L’Équipe") == "É" and initial("The") == "T"
    assert preview("mot " * 200).endswith("…") and len(preview("mot " * 200)) <= 281
    # Only the beginning of a long summary is split, with the same result.
    assert preview("mot" + " " * 1000 + "fin") == "mot fin"
    assert preview("  début" + "\n" * 500 + "suite " * 100) == preview("début " + "suite " * 100)


def test_serve_runs_waitress_until_closed(app):
    server = serve(app, "127.0.0.1", 0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.effective_port}/api/feeds") as r:
            assert r.status == 200 and len(json.load(r)["feeds"]) == 3
    finally:
        server.close()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_static_assets_are_served_locally(client):
    for name in ["app.css", "app.js", "favicon.svg"]:
        r = client.get(f"/static/{name}")
        assert r.status_code == 200, name
        r.close()
