"""The dashboard's pages, state changes, search, feed status and JSON API through
Flask's test client, over a real SQLite file and a real feeds.yaml in tmp_path. CSRF
protection stays on: every POST carries the token the page gave, as a browser would.
Security, login, languages and configuration errors: tests/test_web_security.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from websupport import (
    BLOG,
    NEWS,
    TECH,
    entry,
    entry_id,
    storage,
    text,
    token,
)

from aggregator.web import i18n, items

# --- pages -------------------------------------------------------------------------


def test_river_merges_all_tabs_newest_first_in_french(client):
    r = client.get("/")
    page = text(r)
    assert r.status_code == 200
    assert '<html lang="fr">' in page
    titles = re.findall(r'data-open aria-expanded="false">([^<]*)</a>', page)
    assert titles[:3] == [
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Titre piégé",
        "Article 1",
        "Article 2",
    ]
    assert "il y a 5 min" in page and "il y a 2 h" in page and "hier" in page
    assert "Le Journal" in page and "Tech Weekly" in page
    # the preview is plain text, escaped; the untitled feed's badge uses its host
    assert "L&#39;été arrive &lt;b&gt;bientôt&lt;/b&gt;" in page
    assert '<span class="avatar avatar-' in page and ">B</span>" in page
    assert "Tout marquer comme lu" in page


def test_tabs_follow_config_order_with_unread_counts(client):
    page = text(client.get("/"))
    nav = page[page.index('<nav class="tabs"') :]
    nav = nav[: nav.index("</nav>")]
    assert nav.index("Tous") < nav.index("Actualités") < nav.index("Tech")
    counts = re.findall(r'data-count-tab="([^"]*)"><span data-count>(\d+)</span>', nav)
    assert counts == [("", "7"), ("Actualités", "5"), ("Tech", "2")]


def test_tab_river_and_unknown_tab(client):
    r = client.get("/tab/Tech")
    assert r.status_code == 200
    assert "Tech Weekly" in text(r) and "Le Journal" not in text(r)
    r = client.get("/tab/Nulle%20part")
    assert r.status_code == 404
    assert "Page introuvable" in text(r) and "Onglet inconnu." in text(r)


def test_widgets_view_is_remembered_per_tab(client):
    page = text(client.get("/tab/Actualit%C3%A9s?view=widgets"))
    assert page.count('class="widget"') == 2
    assert "Le Journal" in page and "https://blog.example.org/atom.xml" in page
    assert 'class="headline unread"' in page
    assert "widget" in text(client.get("/tab/Actualit%C3%A9s"))  # remembered
    assert 'class="widget"' not in text(client.get("/tab/Tech"))  # per tab
    client.get("/tab/Actualit%C3%A9s?view=river")
    assert 'class="widget"' not in text(client.get("/tab/Actualit%C3%A9s"))


def test_item_links_point_at_their_own_entry(client):
    """Per-entry URLs are built once per page around a placeholder id (items.MARK):
    each item's links must still name its own entry, even when the page's own URL, which
    they carry back in ``next``, happens to contain the placeholder."""
    for url in ["/", f"/?x={items.MARK}"]:
        page = text(client.get(url))
        ids = re.findall(r'<article class="entry[^"]*" id="entry-(\d+)"', page)
        assert len(ids) == 7
        for n in ids:
            item = page[page.index(f'id="entry-{n}"') :]
            item = item[: item.index("</article>")]
            assert f'<a href="/entry/{n}" data-open' in item
            assert f'action="/entry/{n}/read"' in item and f'action="/entry/{n}/star"' in item
            forward = re.search(r'href="(/entry/\d+/forward\?next=[^"]*)"', item)
            assert forward and forward.group(1).startswith(f"/entry/{n}/forward?next=/")
            assert forward.group(1).endswith(f"%23entry-{n}")
            assert item.count(f'name="next" value="{url}#entry-{n}"') == 2


def test_feed_river_and_unknown_feed(client):
    r = client.get("/feed", query_string={"url": BLOG})
    assert r.status_code == 200
    assert text(r).count('class="entry unread"') == 2
    assert client.get("/feed", query_string={"url": "https://nope.example/"}).status_code == 404


def test_entry_page_renders_sanitized_content_and_escapes_the_rest(app, client):
    page = text(client.get(f"/entry/{entry_id(app, NEWS, 1)}"))
    assert "<p>Contenu <b>1</b></p>" in page  # content_html, sanitized at ingest
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Titre piégé" in page
    assert (
        '<a class="btn btn-small" href="https://site.example/1" target="_blank" '
        'rel="noopener noreferrer">' in page
    )
    # opening the page does not mark it read by itself (app.js POSTs; prefetches must not)
    assert 'data-autoread="1"' in page
    page = text(client.get(f"/entry/{entry_id(app, TECH, 1)}"))
    assert "javascript:" not in page  # an unsafe link is not made clickable
    page = text(client.get(f"/entry/{entry_id(app, TECH, 2)}"))
    assert '<audio controls preload="none" src="https://cdn.example/ep.mp3">' in page


def test_unknown_entry_is_a_french_404(client):
    r = client.get("/entry/99999")
    assert r.status_code == 404
    assert "Article inconnu." in text(r)
    assert client.get("/nothing/here").status_code == 404


def test_pagination_with_keyset_cursor(app, client):
    now = datetime.now(UTC)
    storage(app).upsert_entries(
        TECH, [entry(TECH, 100 + i, now - timedelta(days=2, minutes=i)) for i in range(60)], now=now
    )
    page = text(client.get("/tab/Tech"))
    assert page.count('<article class="entry') == 50
    more = re.search(
        r'<a class="btn" rel="next" href="([^"]+)" data-more>Plus d&#39;articles', page
    )
    assert more, "a 'Plus d'articles' link"
    href = more.group(1).replace("&amp;", "&")
    assert "cursor=" in href and "max_id=" in href
    page2 = text(client.get(href))
    assert page2.count('<article class="entry') == 12
    assert "data-more" not in page2
    r = client.get("/tab/Tech?cursor=garbage")
    assert r.status_code == 400
    assert "recommencez depuis la première page" in text(r)


def test_filters_unread_and_starred(app, client):
    storage(app).set_read([entry_id(app, NEWS, 2), entry_id(app, BLOG, 1)], True)
    storage(app).set_starred(entry_id(app, NEWS, 3))
    unread = text(client.get("/?unread=1"))
    assert unread.count('<article class="entry') == 5
    starred = text(client.get("/?starred=1"))
    assert starred.count('<article class="entry') == 1
    empty = text(client.get("/tab/Tech?starred=1"))
    assert "Aucun article en favori." in empty


# --- state changes -----------------------------------------------------------------


def test_read_unread_and_star_with_forms_and_json(app, client):
    csrf = token(client)
    eid = entry_id(app, TECH, 1)
    r = client.post(f"/entry/{eid}/read", data={"csrf_token": csrf, "next": "/tab/Tech"})
    assert r.status_code == 302 and r.headers["Location"] == "/tab/Tech"
    assert storage(app).entry(eid).read is True
    r = client.post(
        f"/entry/{eid}/read",
        data={"read": "0"},
        headers={"X-CSRFToken": csrf, "Accept": "application/json"},
    )
    assert r.status_code == 200
    assert r.json["read"] is False and r.json["unread_counts"][""] == 7
    assert storage(app).entry(eid).read is False
    r = client.post(f"/entry/{eid}/star", data={"csrf_token": csrf, "next": "//evil.example/"})
    assert r.headers["Location"] == f"/entry/{eid}"  # off-site next is ignored
    assert storage(app).entry(eid).starred is True
    r = client.post(
        f"/entry/{eid}/star",
        data={"starred": "0"},
        headers={"X-CSRFToken": csrf, "Accept": "application/json"},
    )
    assert r.json == {"id": eid, "starred": False}
    assert client.post("/entry/4242/read", data={"csrf_token": csrf}).status_code == 404
    assert client.post("/entry/4242/star", data={"csrf_token": csrf}).status_code == 404


def test_mark_all_read_per_tab_then_undo(app, client):
    csrf = token(client)
    r = client.post(
        "/mark-all-read",
        data={"csrf_token": csrf, "tab": "Actualités", "next": "/tab/Actualit%C3%A9s"},
        follow_redirects=True,
    )
    page = text(r)
    assert "5 articles marqués comme lus." in page
    assert storage(app).unread_counts() == {"Actualités": 0, "Tech": 2, "": 2}
    undo = re.search(r'name="ids" value="([^"]+)"', page)
    assert undo, "the flash offers an undo form"
    r = client.post(
        "/undo-read",
        data={"csrf_token": csrf, "ids": undo.group(1), "next": "/"},
        follow_redirects=True,
    )
    assert "5 articles de nouveau non lus." in text(r)
    assert storage(app).unread_counts()[""] == 7
    assert client.post("/undo-read", data={"csrf_token": csrf, "ids": "x-y"}).status_code == 400


def test_mark_all_read_spares_articles_newer_than_the_page(app, client):
    csrf = token(client)
    page = text(client.get("/tab/Tech"))
    max_id = int(re.search(r'name="max_id" value="(\d+)"', page).group(1))
    now = datetime.now(UTC)
    storage(app).upsert_entries(TECH, [entry(TECH, 9, now)], now=now)  # arrives meanwhile
    r = client.post(
        "/mark-all-read",
        data={"csrf_token": csrf, "tab": "Tech", "max_id": str(max_id)},
        headers={"Accept": "application/json"},
    )
    assert len(r.json["ids"]) == 2
    assert storage(app).unread_counts()["Tech"] == 1
    feed = client.post(
        "/mark-all-read",
        data={"csrf_token": csrf, "feed": BLOG},
        headers={"Accept": "application/json"},
    )
    assert len(feed.json["ids"]) == 2
    assert client.post("/mark-all-read", data={"csrf_token": csrf, "tab": "?"}).status_code == 404
    r = client.post("/mark-all-read", data={"csrf_token": csrf, "feed": "https://x.example/"})
    assert r.status_code == 404


def test_refresh_one_feed_and_all(app, client):
    csrf = token(client)
    storage(app).record_error(
        TECH,
        now=datetime.now(UTC),
        code="timeout",
        message="timed out",
        next_check=datetime.now(UTC) + timedelta(hours=3),
    )
    r = client.post("/feeds/refresh", data={"csrf_token": csrf, "url": TECH}, follow_redirects=True)
    assert "le planificateur récupérera ce flux à son prochain passage" in text(r)
    assert storage(app).feed(TECH).next_check <= datetime.now(UTC)
    r = client.post("/feeds/refresh", data={"csrf_token": csrf}, follow_redirects=True)
    assert "récupérera tous les flux" in text(r)
    r = client.post("/feeds/refresh", data={"csrf_token": csrf, "url": "https://x.example/"})
    assert r.status_code == 404


# --- search, feeds page, API -------------------------------------------------------


def test_search_highlights_words_and_ignores_accents(client):
    r = client.get("/search", query_string={"q": "ETE"})
    page = text(r)
    assert r.status_code == 200
    assert "<mark>été</mark>" in page.lower() or "<mark>Été</mark>" in page
    assert "&lt;b&gt;" in page  # the snippet is escaped apart from <mark>
    assert page.count('<article class="entry') == 1
    page = text(client.get("/search", query_string={"q": "été", "tab": "Tech"}))
    assert page.count('<article class="entry') == 0
    assert "Aucun résultat" in page
    assert client.get("/search", query_string={"q": "x", "tab": "Nope"}).status_code == 404
    assert client.get("/search", query_string={"q": "x", "cursor": "zz"}).status_code == 400
    assert "Tapez des mots" in text(client.get("/search"))


def test_feeds_page_says_errors_in_plain_french(app, client):
    st = storage(app)
    now = datetime.now(UTC)
    st.record_error(
        NEWS,
        now=now,
        code="dns",
        message="Name or service not known",
        next_check=now + timedelta(minutes=30, seconds=30),
    )
    st.record_error(BLOG, now=now, code="gone", message="HTTP 410", status=410, next_check=now)
    st.record_success(
        TECH,
        now=now,
        status=200,
        etag=None,
        last_modified=None,
        body_hash=None,
        next_check=now + timedelta(minutes=30),
        moved_to="https://tech.example.net/new-rss",
    )
    page = text(client.get("/feeds"))
    assert "Le nom du site est introuvable (erreur DNS)" in page
    assert '<p class="muted" lang="en">Name or service not known</p>' in page
    assert "Ce flux n&#39;existe plus : retirez-le de feeds.yaml." in page
    assert "mettez à jour feeds.yaml →" in page and "https://tech.example.net/new-rss" in page
    assert "dans 30 min" in page and "Tout actualiser" in page
    assert page.count(">Actualiser</button>") == 3
    assert '<td data-label="Statut HTTP">410</td>' in page


def test_every_fetch_error_code_has_a_french_sentence():
    from aggregator.web import catalog

    french = catalog.load("fr")[0]
    for code, english in i18n.ERROR_MESSAGES.items():
        assert french.get(english), code
        assert i18n.translate(english, "fr") == french[english] != english, code
    assert i18n.translate(i18n.UNKNOWN_ERROR, "fr") == "Une erreur inattendue s'est produite."


def test_api_entries_shape_and_filters(app, client):
    r = client.get("/api/entries?limit=2")
    assert r.status_code == 200 and r.is_json
    data = r.json
    assert set(data) == {"entries", "next_cursor"}
    first = data["entries"][0]
    assert {
        "id",
        "feed_url",
        "feed_title",
        "tab",
        "title",
        "link",
        "author",
        "published",
        "summary",
        "read",
        "starred",
        "content_html",
    } <= set(first)
    assert first["title"].startswith("<script>")  # JSON is data: escaping is the reader's
    assert first["published"].endswith("Z") and first["tab"] == "Actualités"
    rest = client.get("/api/entries", query_string={"cursor": data["next_cursor"]}).json
    assert len(rest["entries"]) == 5 and rest["next_cursor"] is None
    assert len(client.get("/api/entries?tab=Tech").json["entries"]) == 2
    assert len(client.get("/api/entries", query_string={"feed": BLOG}).json["entries"]) == 2
    found = client.get("/api/entries?q=ete").json["entries"]
    assert len(found) == 1 and "<mark>" in found[0]["snippet"]
    storage(app).set_starred(first["id"])
    assert [e["id"] for e in client.get("/api/entries?starred=1").json["entries"]] == [first["id"]]
    assert len(client.get("/api/entries?unread=1").json["entries"]) == 7
    single = client.get(f"/api/entries/{first['id']}").json
    assert single["starred"] is True


def test_api_errors_are_json(client):
    r = client.get("/api/entries?tab=Nope")
    assert r.status_code == 404 and r.json == {"error": "Onglet inconnu.", "status": 404}
    assert client.get("/api/entries?limit=201").status_code == 400
    assert client.get("/api/entries?limit=0").status_code == 400
    assert client.get("/api/entries?cursor=zz").status_code == 400
    assert client.get("/api/entries?feed=https://x.example/").status_code == 404
    assert client.get("/api/entries/999999").json["status"] == 404


def test_api_feeds(client):
    feeds = client.get("/api/feeds").json["feeds"]
    assert [f["url"] for f in feeds] == [NEWS, BLOG, TECH]
    assert feeds[0]["title"] == "Le Journal" and feeds[0]["unread_count"] == 3
    assert feeds[0]["last_fetch"] is None and feeds[0]["consecutive_errors"] == 0


def test_api_search_applies_feed_and_unread_filters_in_storage(app, client):
    storage(app).set_read([entry_id(app, NEWS, 2)])
    r = client.get("/api/entries", query_string={"q": "resume", "feed": NEWS, "unread": "1"})
    assert r.status_code == 200
    assert [e["id"] for e in r.get_json()["entries"]] == [entry_id(app, NEWS, 3)]
    r = client.get(
        "/api/entries", query_string={"q": "resume", "feed": "https://nowhere.example/x"}
    )
    assert r.status_code == 404
