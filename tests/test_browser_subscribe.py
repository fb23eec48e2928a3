"""Subscribing and managing feeds as a person does it, in a real headless Chromium
against the real app (waitress on 127.0.0.1) and a real feed server: paste a website
address, choose the feed found, put it in a new tab, read its entries there, rename it,
move it, unsubscribe and undo; import an OPML file; a hand edit of feeds.yaml made
while a form is open survives the dashboard's change. feeds.yaml is read back after
each step: its comments stay.

Screenshots of every new page, at 390×844 (phone emulation) and 1366×768, light and
dark, land in test-output/ (subscribe-*.png); each is also checked for horizontal
overflow, English words and an ellipsis where a title belongs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import WATCH_CSP, require_browser
from feedserver import FeedServer
from test_browser import OUTPUT, served

pytestmark = pytest.mark.browser

FEEDS_DIR = Path(__file__).parent / "data" / "feeds"

FEEDS_YAML = """\
# my start page, written by hand
settings:
  allow_private_networks: true  # the feed server is on 127.0.0.1
  timeout: 5s

tabs:
  # what I read every morning
  - name: Accueil
    feeds:
      - url: {known}  # the first one
        title: Le Quotidien
# last line
"""
COMMENTS = (
    "# my start page, written by hand",
    "# the feed server is on 127.0.0.1",
    "# what I read every morning",
    "# last line",
)

VARIANTS = [
    ("mobile", {"width": 390, "height": 844}, True, "light"),
    ("mobile", {"width": 390, "height": 844}, True, "dark"),
    ("desktop", {"width": 1366, "height": 768}, False, "light"),
    ("desktop", {"width": 1366, "height": 768}, False, "dark"),
]
# Words of our own English interface that must not show on a French page.
ENGLISH = re.compile(
    r"\b(Add content|Manage|Unsubscribe|Follow|Find feeds|Import|Delete|Rename|Save|Title|"
    r"already followed|New tab|Skipped|feeds found)\b"
)


def rss(title: str, n: int, link: str) -> str:
    items = "".join(
        f"<item><title>{title} — article {i}</title><link>{link}{i}</link><guid>{link}#{i}</guid>"
        f"<pubDate>Mon, 0{i} Jan 2024 10:00:00 +0000</pubDate><description>Texte {i}</description></item>"
        for i in range(1, n + 1)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>{link}</link><description>d</description>{items}</channel></rss>"
    )


RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
HTML = {"Content-Type": "text/html; charset=utf-8"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict]:
    """A feed server with a website (two alternate links, relative) and the app."""
    require_browser()
    with FeedServer(FEEDS_DIR) as srv:
        srv.add("/known.xml", rss("Le Quotidien", 3, srv.url("/known/")), headers=RSS)
        srv.add("/site/feed.xml", rss("Le Blog de Léa", 8, srv.url("/site/")), headers=RSS)
        srv.add("/site/comments.xml", rss("Commentaires du blog", 2, srv.url("/c/")), headers=RSS)
        srv.add(
            "/site/",
            '<!doctype html><html><head><title>Chez Léa</title><base href="/site/">'
            '<link rel="alternate" type="application/rss+xml" title="Articles" href="feed.xml">'
            '<link rel="alternate" type="application/rss+xml" title="Commentaires"'
            ' href="comments.xml"></head><body><h1>Chez Léa</h1></body></html>',
            headers=HTML,
        )
        config = tmp_path / "feeds.yaml"
        config.write_text(FEEDS_YAML.format(known=srv.url("/known.xml")), encoding="utf-8")
        with served(tmp_path) as (st, base):
            from datetime import UTC, datetime

            st.storage.sync_feeds(st.config.feeds, now=datetime.now(UTC))
            yield {"server": srv, "st": st, "base": base, "config": config}


def yaml_text(world: dict) -> str:
    return world["config"].read_text(encoding="utf-8")


def assert_comments_kept(world: dict) -> None:
    written = yaml_text(world)
    for comment in COMMENTS:
        assert comment in written, (comment, written)


def no_csp_violations(page) -> None:
    assert page.evaluate("window.__csp") == []
    assert page.events["errors"] == []


def shots(browser, pages: dict[str, str]) -> None:
    """Each GET page of ``pages`` (name -> url) in the four variants, saved and checked."""
    OUTPUT.mkdir(exist_ok=True)
    for kind, viewport, mobile, scheme in VARIANTS:
        context = browser.new_context(
            locale="fr-FR",
            viewport=viewport,
            is_mobile=mobile,
            has_touch=mobile,
            device_scale_factor=2 if mobile else 1,
            color_scheme=scheme,
        )
        context.add_init_script(WATCH_CSP)
        try:
            pg = context.new_page()
            pg.set_default_timeout(5000)
            for name, url in pages.items():
                response = pg.goto(url)
                assert response is not None and response.ok, (name, url)
                label = f"subscribe-{name}-{kind}-{scheme}"
                pg.screenshot(path=str(OUTPUT / f"{label}.png"), full_page=True)
                # Not innerWidth: on a phone the layout viewport grows with the content.
                wide = pg.evaluate("document.documentElement.scrollWidth") - viewport["width"]
                assert wide <= 0, f"{label}: {wide}px wider than the screen"
                found = ENGLISH.findall(pg.locator("main").inner_text())
                assert not found, f"{label}: English on a French page: {found}"
                assert pg.evaluate("window.__csp") == [], label
                titles = pg.locator("h1, h2, .candidate-title, .feed-title").all_inner_texts()
                assert not [t for t in titles if t.strip().endswith("…")], (label, titles)
        finally:
            context.close()


def test_paste_a_site_choose_new_tab_rename_move_unsubscribe_undo(world, page):
    srv, base = world["server"], world["base"]
    feed_url = srv.url("/site/feed.xml")
    page.goto(base)
    page.get_by_role("link", name="Ajouter du contenu").first.click()
    page.wait_for_url("**/add")
    page.get_by_label("Adresse d'un site, d'un flux ou d'un profil").fill(srv.url("/site/"))
    page.get_by_role("button", name="Trouver les flux").click()
    page.wait_for_url("**/add/preview?**")
    assert "2 flux trouvés" in page.locator("legend").inner_text()
    page.get_by_label(re.compile("Le Blog de Léa")).check()
    headlines = page.locator(".candidate").first.locator(".preview-headlines li")
    assert headlines.count() == 5
    # a NEW tab: the name field appears once « Nouvel onglet… » is chosen
    new_tab = page.get_by_label("Nom du nouvel onglet")
    assert new_tab.is_hidden()
    page.get_by_label("Onglet", exact=True).select_option(label="Nouvel onglet…")
    assert new_tab.is_visible()
    new_tab.fill("Veille")
    page.get_by_role("button", name="Suivre").click()
    page.wait_for_url("**/tab/Veille")
    main = page.locator("main").inner_text()
    assert "Le Blog de Léa — article 8" in main  # fetched at once, no tick waited for
    assert "a été ajouté à l'onglet « Veille »" in page.locator(".flashes").inner_text()
    assert page.get_by_role("link", name=re.compile("^Veille")).count() >= 1
    assert_comments_kept(world)
    assert "name: Veille" in yaml_text(world) and feed_url in yaml_text(world)
    no_csp_violations(page)

    # rename
    page.get_by_role("link", name="Gérer", exact=True).click()
    page.wait_for_url("**/manage")
    feed = page.locator(f'.manage-feed[data-feed-url="{feed_url}"]')
    feed.get_by_label("Titre").fill("Le carnet de Léa")
    feed.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url("**/manage")
    assert "title: Le carnet de Léa" in yaml_text(world)
    assert_comments_kept(world)
    # move
    feed = page.locator(f'.manage-feed[data-feed-url="{feed_url}"]')
    feed.get_by_label("Onglet", exact=True).select_option("Accueil")
    feed.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url("**/manage")
    config = world["st"].config
    assert (
        config.feed(feed_url).tab == "Accueil" and config.feed(feed_url).title == "Le carnet de Léa"
    )
    assert_comments_kept(world)
    # unsubscribe, then « Annuler »
    before = yaml_text(world)
    feed = page.locator(f'.manage-feed[data-feed-url="{feed_url}"]')
    feed.get_by_role("button", name="Se désabonner").click()
    page.wait_for_url("**/manage")
    assert feed_url not in yaml_text(world)
    assert "Vous ne suivez plus « Le carnet de Léa »." in page.locator(".flashes").inner_text()
    assert_comments_kept(world)
    page.locator(".flashes").get_by_role("button", name="Annuler").click()
    page.wait_for_url("**/manage")
    assert yaml_text(world) == before
    assert "est de retour" in page.locator(".flashes").inner_text()
    page.goto(world["base"] + "tab/Accueil")
    assert "Le Blog de Léa — article 8" in page.locator("main").inner_text()
    no_csp_violations(page)


def test_opml_upload_review_and_confirm(world, page, tmp_path):
    known = world["server"].url("/known.xml")
    opml = tmp_path / "netvibes.opml"
    opml.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0"><head><title>Export</title>'
        "</head><body>\n"
        '<outline text="Emploi">\n'
        '  <outline text="Offres freelance" type="rss" xmlUrl="https://jobs.example.org/rss"/>\n'
        f'  <outline text="Le Quotidien" type="rss" xmlUrl="{known}"/>\n'
        '  <outline text="Météo"/>\n'
        "</outline>\n"
        '<outline text="Cinéma" type="rss" xmlUrl="https://cine.example.org/feed"/>\n'
        "</body></opml>\n",
        encoding="utf-8",
    )
    page.goto(world["base"] + "feeds")
    page.get_by_role("link", name="Importer (OPML)").first.click()
    page.wait_for_url("**/import-opml")
    before = yaml_text(world)
    # a bomb first: refused in French, nothing written
    bomb = tmp_path / "bomb.opml"
    bomb.write_text(
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        '<opml version="2.0"><body><outline text="&b;" xmlUrl="https://x.example/"/></body></opml>',
        encoding="utf-8",
    )
    page.get_by_label("Fichier OPML").set_input_files(str(bomb))
    page.get_by_role("button", name="Lire le fichier").click()
    assert "bombes XML" in page.locator(".form-error").inner_text()
    assert yaml_text(world) == before
    page.get_by_label("Fichier OPML").set_input_files(str(opml))
    page.get_by_role("button", name="Lire le fichier").click()
    page.wait_for_url("**/import-opml/review?**")
    summary = page.locator("main").inner_text()
    assert "2 flux à ajouter dans 2 onglets, 1 déjà suivi, 1 ignoré." in summary
    assert "ligne 6 :" in summary
    assert yaml_text(world) == before  # a dry run until confirmed
    page.get_by_role("button", name="Importer 2 flux").click()
    page.wait_for_url("**/feeds")
    assert "2 flux importés dans 2 onglets" in page.locator(".flashes").inner_text()
    written = yaml_text(world)
    assert "https://jobs.example.org/rss" in written and "https://cine.example.org/feed" in written
    assert "name: Emploi" in written and "name: Importés" in written
    assert_comments_kept(world)
    no_csp_violations(page)


def test_hand_edit_while_a_form_is_open_survives(world, page):
    known = world["server"].url("/known.xml")
    page.goto(world["base"] + "manage")
    feed = page.locator(f'.manage-feed[data-feed-url="{known}"]')
    feed.get_by_label("Titre").fill("Mon quotidien")
    # meanwhile, in a text editor: a new tab and a comment
    edited = yaml_text(world).replace(
        "# last line\n",
        "  # added by hand while the page was open\n"
        "  - name: À la main\n"
        "    feeds:\n"
        "      - https://hand.example.org/feed.xml\n"
        "# last line\n",
    )
    world["config"].write_text(edited, encoding="utf-8")
    feed.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url("**/manage")
    written = yaml_text(world)
    assert "title: Mon quotidien" in written
    assert "# added by hand while the page was open" in written
    assert "https://hand.example.org/feed.xml" in written and "name: À la main" in written
    assert_comments_kept(world)


def test_delete_history_of_a_removed_feed(world, page):
    from datetime import UTC, datetime

    from aggregator.models import Entry

    st = world["st"]
    known = world["server"].url("/known.xml")
    now = datetime.now(UTC)
    st.storage.upsert_entries(
        known,
        [
            Entry(
                feed_url=known, guid="g1", title="Un article gardé", link="https://x.example/1",
                author=None, published=now, updated=None, content_html="<p>x</p>", summary="x",
            )
        ],
        now=now,
    )  # fmt: skip
    entries, _ = st.storage.entries(feed_url=known, limit=5)
    st.storage.set_starred(entries[0].id, True)
    page.goto(world["base"] + "manage")
    page.locator(f'.manage-feed[data-feed-url="{known}"]').get_by_role(
        "button", name="Se désabonner"
    ).click()
    page.wait_for_url("**/manage")
    page.goto(world["base"] + "feeds")
    page.get_by_role("link", name="Supprimer l'historique").click()
    page.wait_for_url("**/feeds/forget?**")
    page.get_by_role("button", name="Supprimer l'historique").click()
    page.wait_for_url("**/feeds")
    assert "ont été supprimés" in page.locator(".flashes").inner_text()
    assert known not in page.locator("main").inner_text()
    no_csp_violations(page)


def test_screenshots_of_every_new_page(world, page, browser, tmp_path):
    """The add box, the preview, the manage page, the OPML upload and its review, the
    « Supprimer l'historique » confirmation: 390×844 and 1366×768, light and dark."""
    base, srv = world["base"], world["server"]
    page.goto(base + "add")
    page.get_by_label("Adresse d'un site, d'un flux ou d'un profil").fill(srv.url("/site/"))
    page.get_by_role("button", name="Trouver les flux").click()
    page.wait_for_url("**/add/preview?**")
    preview = page.url
    opml = tmp_path / "export.opml"
    opml.write_text(
        '<opml version="2.0"><body><outline text="Emploi">'
        '<outline text="Offres de missions en production audiovisuelle" xmlUrl="https://jobs.example.org/rss"/>'
        '<outline text="Sans adresse"/></outline></body></opml>',
        encoding="utf-8",
    )
    page.goto(base + "import-opml")
    page.get_by_label("Fichier OPML").set_input_files(str(opml))
    page.get_by_role("button", name="Lire le fichier").click()
    page.wait_for_url("**/import-opml/review?**")
    review = page.url
    # a removed feed kept for a starred article, and a tab with two feeds to manage
    from datetime import UTC, datetime

    from aggregator.config.edit import add_feed, remove_feed
    from aggregator.models import Entry

    st, removed = world["st"], srv.url("/known.xml")
    now = datetime.now(UTC)
    kept = Entry(
        feed_url=removed, guid="g1", title="Gardé", link="https://x.example/1", author=None,
        published=now, updated=None, content_html="<p>x</p>", summary="x",
    )  # fmt: skip
    st.storage.upsert_entries(removed, [kept], now=now)
    st.storage.set_starred(st.storage.entries(feed_url=removed, limit=1)[0][0].id, True)
    remove_feed(world["config"], removed)  # as the CLI's « aggregator remove » does
    add_feed(world["config"], "Veille", srv.url("/site/feed.xml"), "Le Blog de Léa", refresh="2h")
    add_feed(world["config"], "Veille", srv.url("/site/comments.xml"))
    st.config_source.refresh()
    st.storage.sync_feeds(st.config.feeds, now=now)
    forget = base + "feeds/forget?url=" + removed
    shots(
        browser,
        {
            "add": base + "add",
            "preview": preview,
            "manage": base + "manage",
            "import": base + "import-opml",
            "import-review": review,
            "forget": forget,
        },
    )
