"""Adding, managing and importing feeds from the dashboard (issue 8), through Flask's
test client against a real feed server on 127.0.0.1 and a real feeds.yaml in tmp_path:
every route, its French messages, and what it leaves in feeds.yaml (comments kept,
nothing written when refused)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from feedserver import FeedServer
from websupport import entry, make_app, storage, token
from websupport import text as raw_text

FEEDS_DIR = Path(__file__).parent / "data" / "feeds"


def rss(title: str, n: int, link: str = "http://127.0.0.1/") -> str:
    items = "".join(
        f"<item><title>{title} — titre {i}</title><link>{link}{i}</link>"
        f"<guid>{link}#{i}</guid><pubDate>Mon, 0{1 + i % 9} Jan 2024 10:00:00 +0000</pubDate>"
        f"<description>Texte {i}</description></item>"
        for i in range(1, n + 1)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}'
        f"</title><link>{link}</link><description>d</description>{items}</channel></rss>"
    )


def site_html(*alternates: tuple[str, str, str]) -> str:
    links = "".join(
        f'<link rel="alternate" type="{kind}" title="{title}" href="{href}">'
        for kind, title, href in alternates
    )
    return f"<!doctype html><html><head><title>Mon site</title>{links}</head><body>Bonjour</body></html>"


RSS_TYPE = {"Content-Type": "application/rss+xml; charset=utf-8"}
HTML_TYPE = {"Content-Type": "text/html; charset=utf-8"}

FEEDS_YAML = """\
# my feeds, by hand
settings:
  allow_private_networks: true  # the test server is on 127.0.0.1
  timeout: 3s

tabs:
  # news first
  - name: Actualités
    feeds:
      - url: {known}
        title: Déjà là  # keep this comment
  - name: Tech
    feeds: []
# the end
"""


@pytest.fixture
def server():
    with FeedServer(FEEDS_DIR) as srv:
        srv.add("/blog/feed.xml", rss("Le Blog de Léa", 7, srv.url("/blog/")), headers=RSS_TYPE)
        srv.add("/blog/comments.xml", rss("Commentaires", 2), headers=RSS_TYPE)
        srv.add(
            "/blog/",
            site_html(
                ("application/rss+xml", "Articles", "feed.xml"),
                ("application/rss+xml", "Commentaires", "comments.xml"),
            ),
            headers=HTML_TYPE,
        )
        srv.add("/one/feed.xml", rss("Un seul flux", 3), headers=RSS_TYPE)
        srv.add("/one/", site_html(("application/rss+xml", "Flux", "feed.xml")), headers=HTML_TYPE)
        srv.add("/known.xml", rss("Connu", 2), headers=RSS_TYPE)
        srv.add(
            "/nofeed/", "<!doctype html><title>Rien</title><p>Pas de flux</p>", headers=HTML_TYPE
        )
        yield srv


@pytest.fixture
def site(tmp_path: Path, server) -> dict:
    config = tmp_path / "feeds.yaml"
    config.write_text(FEEDS_YAML.format(known=server.url("/known.xml")), encoding="utf-8")
    return {"config": config, "db": tmp_path / "data" / "agg.sqlite3"}


@pytest.fixture
def app(site: dict):
    app = make_app(site)
    st = app.extensions["aggregator"]
    st.storage.sync_feeds(st.config.feeds, now=datetime.now(UTC))
    yield app
    st.close()


@pytest.fixture
def client(app):
    return app.test_client()


def text(response) -> str:
    """The page as read (entities decoded: Jinja writes ' as &#39;)."""
    return html.unescape(raw_text(response))


def post(client, path: str, **data):
    data.setdefault("csrf_token", token(client))
    return client.post(path, data=data)


def flashes(client) -> str:
    return text(client.get("/manage"))


def yaml_of(site: dict) -> str:
    return site["config"].read_text(encoding="utf-8")


def preview_token(response) -> str:
    assert response.status_code == 302, text(response)[:500]
    location = response.headers["Location"]
    assert location.startswith("/add/preview?"), location
    return parse_qs(urlsplit(location).query)["d"][0]


# --- the button and the empty state --------------------------------------------------


def test_header_button_on_every_page(client):
    for path in ("/", "/feeds", "/tab/Tech", "/manage"):
        page = text(client.get(path))
        assert 'href="/add"' in page and "Ajouter du contenu" in page, path


def test_empty_tab_and_empty_dashboard_call_to_action(tmp_path: Path):
    (tmp_path / "feeds.yaml").write_text("tabs:\n  - name: Vide\n    feeds: []\n", "utf-8")
    app = make_app({"config": tmp_path / "feeds.yaml", "db": tmp_path / "db.sqlite3"})
    try:
        client = app.test_client()
        page = text(client.get("/tab/Vide"))
        assert 'href="/add?tab=Vide"' in page
        assert "Ajouter du contenu" in text(client.get("/feeds"))
        assert "Importer (OPML)" in text(client.get("/feeds"))
    finally:
        app.extensions["aggregator"].close()


def test_add_form_in_french_and_english(client):
    page = text(client.get("/add"))
    assert "Adresse d'un site, d'un flux ou d'un profil" in page
    assert "@nom@instance" in page
    page = text(client.get("/add?lang=en"))
    assert "Address of a site, a feed or a profile" in page


# --- the add flow ----------------------------------------------------------------------


def test_site_address_discovered_previewed_added_to_a_new_tab_and_fetched(
    app, client, site, server
):
    before = yaml_of(site)
    token_d = preview_token(post(client, "/add", address=server.url("/blog/")))
    page = text(client.get(f"/add/preview?d={token_d}"))
    assert "2 flux trouvés" in page
    assert "Le Blog de Léa" in page and "Commentaires" in page
    assert "Le Blog de Léa — titre 5" in page or "Le Blog de Léa — titre 3" in page
    shown = re.findall(r"Le Blog de Léa — titre \d", page)
    assert len(shown) == 5  # the last five headlines, not seven
    assert yaml_of(site) == before  # nothing written before confirming
    feed_url = server.url("/blog/feed.xml")
    r = post(client, "/add/confirm", d=token_d, url=feed_url, tab="", new_tab="Veille", title="")
    assert r.status_code == 302 and r.headers["Location"] == "/tab/Veille"
    written = yaml_of(site)
    for comment in ("# my feeds, by hand", "# keep this comment", "# news first", "# the end"):
        assert comment in written
    assert "name: Veille" in written and feed_url in written
    # fetched at once: the entries are there without any scheduler tick
    entries, _ = storage(app).entries(feed_url=feed_url, limit=50)
    assert len(entries) == 7
    page = text(client.get("/tab/Veille"))
    assert "a été ajouté à l'onglet « Veille »" in page
    assert "Le Blog de Léa — titre 7" in page


def test_feed_address_with_existing_tab_and_title(app, client, site, server):
    feed_url = server.url("/one/feed.xml")
    token_d = preview_token(post(client, "/add", address=feed_url))
    page = text(client.get(f"/add/preview?d={token_d}"))
    assert "Un seul flux" in page and "Flux trouvé" in page
    r = post(client, "/add/confirm", d=token_d, url=feed_url, tab="Tech", title="Mon titre")
    assert r.headers["Location"] == "/tab/Tech"
    config = app.extensions["aggregator"].config
    feed = config.feed(feed_url)
    assert feed is not None and feed.tab == "Tech" and feed.title == "Mon titre"
    # the search is used up: the same form again is "too old"
    r = post(client, "/add/confirm", d=token_d, url=feed_url, tab="Tech")
    assert r.status_code == 302 and r.headers["Location"] == "/add"


def test_already_followed_is_said_and_not_added_twice(client, site, server):
    before = yaml_of(site)
    token_d = preview_token(post(client, "/add", address=server.url("/known.xml")))
    page = text(client.get(f"/add/preview?d={token_d}"))
    assert "déjà suivi" in page
    assert "Vous suivez déjà tous les flux trouvés ici." in page
    r = post(client, "/add/confirm", d=token_d, url=server.url("/known.xml"), tab="Tech")
    assert r.status_code == 302
    assert yaml_of(site) == before


def test_confirm_refuses_what_discovery_did_not_find(client, site, server):
    before = yaml_of(site)
    token_d = preview_token(post(client, "/add", address=server.url("/one/")))
    r = post(client, "/add/confirm", d=token_d, url="https://evil.example/feed", tab="Tech")
    assert r.status_code == 400 and "Choisissez l'un des flux trouvés." in text(r)
    r = post(client, "/add/confirm", d=token_d, url=server.url("/one/feed.xml"), tab="Nope")
    assert r.status_code == 400 and "Cet onglet n'existe plus" in text(r)
    r = post(client, "/add/confirm", d=token_d, url=server.url("/one/feed.xml"), tab="")
    assert r.status_code == 400 and "Donnez un nom au nouvel onglet." in text(r)
    assert yaml_of(site) == before


def test_stale_preview_sends_back_to_the_box(client):
    r = client.get("/add/preview?d=nope")
    assert r.status_code == 302 and r.headers["Location"] == "/add"
    assert "Cette recherche est trop ancienne" in text(client.get("/add"))


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("", "Collez d'abord une adresse."),
        ("javascript:alert(1)", None),
        ("ftp://example.org/feed", None),
        ("/nofeed/", "Aucun flux trouvé à cette adresse"),
        ("/status/404", "Cette page n'existe pas (erreur 404)"),
        ("/slow/10/fetch-basic.xml", "n'a pas répondu à temps"),
    ],
)
def test_discovery_failures_are_french_sentences_and_write_nothing(
    client, site, server, address, expected
):
    before = yaml_of(site)
    if address.startswith("/"):
        address = server.url(address)
    r = post(client, "/add", address=address)
    assert r.status_code == 422
    page = text(r)
    assert 'role="alert"' in page
    if expected:
        assert expected in page
    else:  # javascript:, ftp: -> the scheme sentence or "not an address we can read"
        assert (
            "Seules les adresses http:// et https://" in page
            or "Cette adresse n'est pas reconnue" in page
        )
    assert yaml_of(site) == before


def test_private_address_refused_unless_allowed(tmp_path: Path, server):
    (tmp_path / "feeds.yaml").write_text("tabs:\n  - name: A\n    feeds: []\n", "utf-8")
    app = make_app({"config": tmp_path / "feeds.yaml", "db": tmp_path / "db.sqlite3"})
    try:
        client = app.test_client()
        r = post(client, "/add", address=server.url("/one/"))
        assert r.status_code == 422
        assert "réseau privé" in text(r)
    finally:
        app.extensions["aggregator"].close()


def test_every_discovery_code_has_a_french_sentence():
    from aggregator.web.subscriptions import DISCOVERY_MESSAGES, UNKNOWN_DISCOVERY

    codes = {
        "invalid_address", "unsupported_scheme", "private_address", "no_feed",
        "no_public_feed", "unreachable", "timeout", "too_large", "not_found",
    }  # fmt: skip
    assert codes <= set(DISCOVERY_MESSAGES)
    from aggregator.web import catalog

    french = catalog.load("fr")[0]
    for message in [*DISCOVERY_MESSAGES.values(), UNKNOWN_DISCOVERY]:
        assert french.get(message), message


# --- managing feeds -------------------------------------------------------------------


def known_url(server) -> str:
    return server.url("/known.xml")


def test_manage_page_lists_tabs_and_feeds(client, server):
    page = text(client.get("/manage"))
    assert "Gérer les flux et les onglets" in page
    assert "Déjà là" in page and "Actualités" in page and "Tech" in page
    assert known_url(server) in page


def test_rename_move_refresh_keep_comments(app, client, site, server):
    url = known_url(server)
    r = post(client, "/manage/feed", url=url, title="Nouveau nom", tab="Actualités", refresh="")
    assert r.status_code == 302
    written = yaml_of(site)
    assert "Nouveau nom" in written and "Déjà là" not in written
    assert "# my feeds, by hand" in written and "# the end" in written
    post(client, "/manage/feed", url=url, title="Nouveau nom", tab="Tech", refresh="2h")
    config = app.extensions["aggregator"].config
    feed = config.feed(url)
    assert feed.tab == "Tech" and feed.refresh == timedelta(hours=2)
    assert storage(app).feed(url).tab == "Tech"  # the database followed
    assert "# my feeds, by hand" in yaml_of(site) and "# news first" in yaml_of(site)
    r = post(client, "/manage/feed", url=url, title="Nouveau nom", tab="Tech", refresh="3y")
    assert r.status_code == 400


def test_move_to_a_new_tab(app, client, server):
    url = known_url(server)
    post(client, "/manage/feed", url=url, title="Déjà là", tab="", new_tab="Neuf", refresh="")
    assert app.extensions["aggregator"].config.feed(url).tab == "Neuf"


def test_unsubscribe_then_undo(app, client, site, server):
    url = known_url(server)
    before = yaml_of(site)
    r = post(client, "/manage/unsubscribe", url=url)
    assert r.status_code == 302
    assert url not in yaml_of(site)
    assert "# my feeds, by hand" in yaml_of(site) and "# the end" in yaml_of(site)
    page = text(client.get("/manage"))
    assert "Vous ne suivez plus « Déjà là »." in page
    restore_token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    post(client, "/manage/restore", token=restore_token)
    assert yaml_of(site) == before  # byte for byte, its comments included
    assert storage(app).feed(url).active
    # once only
    post(client, "/manage/restore", token=restore_token)
    assert "Trop tard pour annuler" in text(client.get("/manage"))


def test_unknown_feed_is_a_404(client):
    r = post(client, "/manage/unsubscribe", url="https://nowhere.example/feed")
    assert r.status_code == 404 and "Flux inconnu." in text(r)


# --- managing tabs --------------------------------------------------------------------


def tab_names(app) -> list[str]:
    return [t.name for t in app.extensions["aggregator"].config.tabs]


def test_tabs_create_rename_reorder_delete(app, client, site, server):
    post(client, "/manage/tabs/add", name="Loisirs")
    assert tab_names(app) == ["Actualités", "Tech", "Loisirs"]
    post(client, "/manage/tabs/rename", name="Loisirs", new_name="Sorties")
    assert tab_names(app) == ["Actualités", "Tech", "Sorties"]
    post(client, "/manage/tabs/move", name="Sorties", direction="up")
    assert tab_names(app) == ["Actualités", "Sorties", "Tech"]
    post(client, "/manage/tabs/move", name="Actualités", direction="down")
    assert tab_names(app) == ["Sorties", "Actualités", "Tech"]
    post(client, "/manage/tabs/delete", name="Sorties")
    assert tab_names(app) == ["Actualités", "Tech"]
    assert "# my feeds, by hand" in yaml_of(site) and "# the end" in yaml_of(site)
    r = post(client, "/manage/tabs/move", name="Tech", direction="sideways")
    assert r.status_code == 400
    assert post(client, "/manage/tabs/rename", name="Nope", new_name="X").status_code == 404


def test_a_tab_with_feeds_asks_where_they_go(app, client, server):
    url = known_url(server)
    post(client, "/manage/tabs/delete", name="Actualités")
    assert "Actualités" in tab_names(app)
    assert "choisissez où ils vont" in text(client.get("/manage"))
    post(client, "/manage/tabs/delete", name="Actualités", move_to="Tech", confirm="1")
    assert tab_names(app) == ["Tech"]
    assert app.extensions["aggregator"].config.feed(url).tab == "Tech"


# --- an invalid feeds.yaml is never written -------------------------------------------


def test_invalid_file_refused_with_its_line(app, client, site, server):
    url = known_url(server)
    broken = yaml_of(site).replace("timeout: 3s", "timeout: soon")
    site["config"].write_text(broken, encoding="utf-8")
    r = post(client, "/manage/feed", url=url, title="Autre", tab="Actualités", refresh="")
    assert r.status_code == 302
    assert yaml_of(site) == broken
    page = text(client.get("/manage"))
    assert "feeds.yaml n'a pas été modifié." in page or "ne le modifie donc pas" in page
    assert re.search(r"feeds\.yaml:4:\d+: ", page)  # where the mistake is


# --- removed feeds kept for their history ----------------------------------------------


def test_delete_history_of_a_removed_feed(app, client, server):
    url = known_url(server)
    now = datetime.now(UTC)
    storage(app).upsert_entries(url, [entry(url, 1, now)], now=now)
    entries, _ = storage(app).entries(feed_url=url, limit=5)
    storage(app).set_starred(entries[0].id, True)
    post(client, "/manage/unsubscribe", url=url)
    page = text(client.get("/feeds"))
    assert "Supprimer l'historique" in page
    r = client.get("/feeds/forget", query_string={"url": url})
    assert r.status_code == 200 and "C'est définitif." in text(r)
    r = post(client, "/feeds/forget", url=url)
    assert r.status_code == 302
    assert url not in text(client.get("/feeds"))


def test_delete_history_refused_for_a_followed_feed(client, server):
    assert client.get("/feeds/forget", query_string={"url": known_url(server)}).status_code == 400
    assert client.get("/feeds/forget?url=https://x.example/").status_code == 404


# --- OPML ---------------------------------------------------------------------------------

OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Netvibes</title></head>
  <body>
    <outline text="Emploi">
      <outline text="Offres" type="rss" xmlUrl="https://jobs.example.org/rss"/>
      <outline text="Déjà" type="rss" xmlUrl="{known}"/>
      <outline text="Cassé" type="rss" xmlUrl="mailto:x@example.org"/>
      <outline text="Widget météo"/>
    </outline>
    <outline text="Seul" type="rss" xmlUrl="https://solo.example.org/feed"/>
    <outline text="Balado" type="rss" xmlUrl="feed://podcast.example.org/rss"/>
  </body>
</opml>
"""

BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>
<opml version="2.0"><body><outline text="&lol2;" xmlUrl="https://x.example/"/></body></opml>
"""


def upload(client, data: bytes, name: str = "netvibes.opml"):
    import io

    return client.post(
        "/import-opml",
        data={"csrf_token": token(client), "opml": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_opml_upload_review_confirm(app, client, site, server):
    before = yaml_of(site)
    assert "Importer (OPML)" in text(client.get("/feeds"))
    r = upload(client, OPML.format(known=known_url(server)).encode())
    assert r.status_code == 302 and r.headers["Location"].startswith("/import-opml/review?t=")
    page = text(client.get(r.headers["Location"]))
    assert "3 flux à ajouter dans 2 onglets, 1 déjà suivi, 2 ignorés." in page
    assert "Adresses corrigées" in page  # feed:// read as https://, and said so
    assert re.search(
        r"feed://podcast\.example\.org/rss</code> est importée comme <code[^>]*>"
        r"https://podcast\.example\.org/rss",
        page,
    )
    assert "ligne 8 :" in page and "ligne 9 :" in page
    assert "Offres" in page and "https://solo.example.org/feed" in page
    assert yaml_of(site) == before  # a dry run until confirmed
    t = parse_qs(urlsplit(r.headers["Location"]).query)["t"][0]
    r = post(client, "/import-opml/confirm", t=t)
    assert r.status_code == 302 and r.headers["Location"] == "/feeds"
    written = yaml_of(site)
    assert "https://jobs.example.org/rss" in written and "https://solo.example.org/feed" in written
    assert "# my feeds, by hand" in written and "# keep this comment" in written
    assert "3 flux importés dans 2 onglets" in text(client.get("/feeds"))
    assert "https://podcast.example.org/rss" in yaml_of(site)
    assert storage(app).feed("https://jobs.example.org/rss").active


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (BOMB.encode(), "bombes XML"),
        (b"<html><body>nope</body></html>", "n'est pas un fichier OPML"),
        (b"<opml><body>", "n'est pas du XML valide"),
        (b"   ", "Ce fichier est vide."),
        (  # a bomb without a DTD: nested far deeper than any export
            b"<opml><body>" + b'<outline text="x">' * 200 + b"</outline>" * 200 + b"</body></opml>",
            "imbrique ses éléments trop profondément",
        ),
        (
            b"<opml><body>"
            + b"".join(b'<outline xmlUrl="https://f.example/%d"/>' % i for i in range(5001))
            + b"</body></opml>",
            "plus de 5000 flux",
        ),
    ],
)
def test_opml_refusals_are_french_and_write_nothing(client, site, data, expected):
    before = yaml_of(site)
    r = upload(client, data)
    assert r.status_code == 422
    assert expected in text(r)
    assert yaml_of(site) == before


def test_opml_upload_size_cap(client, site):
    boundary = "XyZ"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
            f"{token(client)}\r\n--{boundary}\r\n"
            'Content-Disposition: form-data; name="opml"; filename="big.opml"\r\n'
            "Content-Type: text/x-opml\r\n\r\n"
        ).encode()
        + b"<opml>"
        + b" " * (2 * 1024 * 1024)
        + f"</opml>\r\n--{boundary}--\r\n".encode()
    )
    r = client.post(
        "/import-opml", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert r.status_code in (413, 422)
    assert "trop gros" in text(r)


def test_opml_without_file_and_stale_token(client):
    r = client.post("/import-opml", data={"csrf_token": token(client)})
    assert r.status_code == 422 and "Choisissez d'abord un fichier OPML." in text(r)
    r = client.get("/import-opml/review?t=nope")
    assert r.status_code == 302 and r.headers["Location"] == "/import-opml"
    r = post(client, "/import-opml/confirm", t="nope")
    assert r.status_code == 302


# --- the security envelope ------------------------------------------------------------

NEW_POSTS = [
    "/add",
    "/add/confirm",
    "/manage/feed",
    "/manage/unsubscribe",
    "/manage/restore",
    "/manage/tabs/add",
    "/manage/tabs/rename",
    "/manage/tabs/move",
    "/manage/tabs/delete",
    "/feeds/forget",
    "/import-opml",
    "/import-opml/confirm",
]


@pytest.mark.parametrize("path", NEW_POSTS)
def test_every_new_post_needs_csrf_and_our_origin(client, site, path):
    before = yaml_of(site)
    r = client.post(path, data={"name": "X", "address": "https://example.org"})
    assert r.status_code == 400
    r = client.post(
        path,
        data={"csrf_token": token(client), "name": "X"},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 400 and "depuis un autre site" in text(r)
    assert yaml_of(site) == before


def test_new_pages_have_no_english(client, server):
    for path in ("/add", "/manage", "/import-opml"):
        r = client.get(path)
        assert r.status_code == 200, path
        page = text(r)
        for english in ("Add content", "Manage feeds", "Import (OPML)", "Unsubscribe", "Delete"):
            assert english not in page, (path, english)


def test_two_tabs_subscribing_at_once_keep_both(app, site, server):
    """Two browser tabs confirm at the same moment: both feeds end up in feeds.yaml."""
    import threading

    clients = [app.test_client(), app.test_client()]
    feeds = [server.url("/one/feed.xml"), server.url("/blog/feed.xml")]
    tokens = [preview_token(post(c, "/add", address=f)) for c, f in zip(clients, feeds)]
    forms = [(c, {"csrf_token": token(c), "d": t, "url": f, "tab": "Tech"})
             for c, t, f in zip(clients, tokens, feeds)]  # fmt: skip
    start = threading.Barrier(2)
    codes: list[int] = []

    def confirm(client, data) -> None:
        start.wait()
        codes.append(client.post("/add/confirm", data=data).status_code)

    threads = [threading.Thread(target=confirm, args=form) for form in forms]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert codes == [302, 302]
    written = yaml_of(site)
    assert all(f in written for f in feeds) and "# the end" in written


def test_pages_need_the_login_when_a_password_is_set(site):
    app = make_app(site, AGGREGATOR_PASSWORD="correct horse")
    try:
        client = app.test_client()
        for path in ("/add", "/manage", "/import-opml", "/feeds/forget?url=x"):
            r = client.get(path)
            assert r.status_code == 302 and r.headers["Location"].startswith("/login"), path
        page = text(client.get("/login"))
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        client.post("/login", data={"csrf_token": csrf, "password": "correct horse"})
        r = client.get("/add")
        assert r.status_code == 200 and "Adresse d'un site" in text(r)
    finally:
        app.extensions["aggregator"].close()


def test_a_platform_without_public_feed_suggests_a_bridge(client, site):
    before = yaml_of(site)
    r = post(client, "/add", address="https://www.linkedin.com/in/alice")
    assert r.status_code == 422
    page = text(r)
    assert "ne publie aucun flux public" in page and "RSS-Bridge ou RSSHub" in page
    assert "Plateforme : LinkedIn" in page
    assert yaml_of(site) == before
