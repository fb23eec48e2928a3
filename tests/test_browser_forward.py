"""« Ça pourrait t'intéresser » as a person uses it, in a real headless Chromium against
the real app (waitress on 127.0.0.1) with settings.mail pointing at a real aiosmtpd
server (tests/smtpserver.py): open the panel from an item's button and with the `f`
key, pick the suggested contact, edit the note, preview, send, watch the countdown,
deliver, and read the message the server received. Also: the autocomplete, the note
switching to English, Esc and the focus trap, « Annuler », the memory of earlier
sends with its required confirmation, a contact added on the fly, and no CSP
violation anywhere. The open panel is saved to test-output/forward-panel.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import require_browser
from smtpserver import SmtpServer
from test_browser import BLOG, NEWS, OUTPUT, TECH, _entry, served

from aggregator.forward import UNDO_SECONDS

pytestmark = pytest.mark.browser

DOC_TITLE = "Un festival de cinéma documentaire à Montréal"
NOTE = "Camille, regarde ce festival : on y va ensemble ?"

INSIDE = "document.getElementById('forward-panel').contains(document.activeElement)"
CONTACTS_YAML = """\
# people I send things to
- name: Camille Exemple
  email: camille@example.org
  interests: [cinéma documentaire, Montréal]
- name: Sam Exemple
  email: sam@example.com
  interests: [emploi]
  language: en
"""


def feeds_yaml(smtp: SmtpServer) -> str:
    return f"""\
tabs:
  - name: Actualités
    feeds:
      - url: {NEWS}
        title: Le Journal
      - url: {BLOG}
        title: Le Blog
  - name: Tech
    feeds:
      - url: {TECH}
        title: Tech Weekly
settings:
  mail:
    host: {smtp.host}
    port: {smtp.port}
    security: none
    from: "Alex Exemple <alex@example.org>"
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[dict]:
    require_browser()
    tmp = tmp_path_factory.mktemp("browser-forward")
    with SmtpServer() as smtp:
        (tmp / "feeds.yaml").write_text(feeds_yaml(smtp), encoding="utf-8")
        (tmp / "contacts.yaml").write_text(CONTACTS_YAML, encoding="utf-8")
        with served(tmp) as (st, base):
            now = datetime.now(UTC)

            def item(feed: str, n: int, published: datetime, **kw) -> object:
                # one link each: the panel's memory also matches items by their link
                link = f"{base}static/favicon.svg?{feed.split('/')[2]}-{n}"
                return _entry(feed, n, published, base, link=link, **kw)

            st.storage.sync_feeds(st.config.feeds, now=now)
            doc = item(
                NEWS,
                1,
                now - timedelta(minutes=2),
                title=DOC_TITLE,
                html="<p>Vingt films documentaires, des rencontres et des ateliers.</p>",
            )
            st.storage.upsert_entries(NEWS, [doc, item(NEWS, 2, now - timedelta(hours=1))], now=now)
            st.storage.upsert_entries(
                BLOG, [item(BLOG, i, now - timedelta(hours=2 + i)) for i in (1, 2)], now=now
            )
            st.storage.upsert_entries(TECH, [item(TECH, 1, now - timedelta(hours=5))], now=now)
            yield {"base": base, "state": st, "smtp": smtp}


def assert_clean(page) -> None:
    assert page.events["errors"] == []
    assert page.evaluate("window.__csp") == [], "a CSP violation"
    # Chromium logs every non-2xx fetch ("Failed to load resource"): the 400 of a bad
    # address on purpose is one; anything else logged as an error is a bug.
    logged = [m for m in page.events["console"] if m.startswith("error")]
    assert not [m for m in logged if "Failed to load resource" not in m]


def entry_id(live, feed: str, n: int) -> int:
    entries, _ = live["state"].storage.entries(feed_url=feed, limit=50)
    return next(e.id for e in entries if e.guid == f"{feed}#{n}")


def deliver(live) -> None:
    """What the scheduler's outbox job does, once the undo window is over."""
    later = datetime.now(UTC) + timedelta(seconds=UNDO_SECONDS + 1)
    live["state"].forwarder.deliver_due(now=later)


def test_click_pick_the_suggestion_edit_the_note_send_and_receive(page, live):
    from playwright.sync_api import expect

    doc = entry_id(live, NEWS, 1)
    page.goto(live["base"])
    item = page.locator(f"#entry-{doc}")
    item.get_by_role("link", name="Ça pourrait t'intéresser").click()
    panel = page.get_by_role("dialog", name="Ça pourrait t'intéresser")
    expect(panel).to_be_visible()
    camille = panel.get_by_role("checkbox", name="Camille Exemple")
    expect(camille).to_be_focused()  # focus moved into the dialog, on the suggestion
    expect(panel.locator("[data-suggestions] .reason").first).to_have_text("cinéma documentaire")
    note = panel.get_by_label("Note personnelle")
    expect(note).to_have_value("Ça pourrait t'intéresser !")
    camille.check()
    note.fill(NOTE)
    expect(panel.locator("[data-note-count]")).to_have_text(str(len(NOTE)))
    panel.get_by_role("button", name="Aperçu").click()
    expect(panel.locator("[data-preview-subject]")).to_have_text(
        f"Ça pourrait t'intéresser : {DOC_TITLE}"
    )
    expect(panel.locator("[data-preview-text]")).to_contain_text(NOTE)
    expect(panel.locator("[data-preview-text]")).to_contain_text("Vingt films documentaires")
    page.screenshot(path=str(OUTPUT / "forward-panel.png"))
    panel.get_by_role("button", name="Envoyer", exact=True).click()
    expect(panel).to_be_hidden()
    toast = page.locator("[data-toast]")
    expect(toast).to_contain_text("Envoi à Camille dans")
    expect(toast.get_by_role("button", name="Annuler")).to_be_visible()
    expect(item.locator("[data-sent-to]")).to_have_text("envoyé à Camille")
    expect(item.get_by_role("link", name="Ça pourrait t'intéresser")).to_be_focused()

    deliver(live)
    received = live["smtp"].wait_for(1)[0]
    message = received.message
    assert received.rcpt_tos == ["camille@example.org"]
    assert message["Subject"] == f"Ça pourrait t'intéresser : {DOC_TITLE}"
    assert message["To"].addresses[0].display_name == "Camille Exemple"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert text.startswith(NOTE) and "Vingt films documentaires" in text
    assert "regarde ce festival" in html
    page.reload()
    expect(page.locator(f"#entry-{doc} [data-sent-to]")).to_have_text("envoyé à Camille")
    page.goto(live["base"] + "sent")
    expect(page.locator(".forward-row").first).to_contain_text("envoyé")
    expect(page.locator(".forward-row").first).to_contain_text(NOTE)
    page.screenshot(path=str(OUTPUT / "sent.png"), full_page=True)
    assert_clean(page)


def test_keyboard_autocomplete_english_note_escape_and_undo(page, live):
    from playwright.sync_api import expect

    page.goto(live["base"] + "tab/Tech")
    tech = entry_id(live, TECH, 1)
    page.keyboard.press("j")
    page.keyboard.press("f")
    panel = page.locator("#forward-panel")
    expect(panel).to_be_visible()
    search = panel.get_by_label("Autre contact")
    expect(search).to_be_visible()
    # Esc closes and gives the focus back; f opens it again
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    page.keyboard.press("f")
    expect(search).to_be_visible()
    assert page.evaluate(INSIDE)
    for _ in range(25):  # Tab never leaves the dialog
        page.keyboard.press("Tab")
        assert page.evaluate(INSIDE), page.evaluate("document.activeElement.outerHTML")
    search.fill("Sam Exemple <sam@example.com>")  # what picking from the datalist does
    sam = panel.get_by_role("checkbox", name="Sam Exemple")
    expect(sam).to_be_checked()
    expect(search).to_have_value("")
    note = panel.get_by_label("Note personnelle")
    expect(note).to_have_value("This might interest you!")  # every chosen contact reads English
    sam.uncheck()
    expect(note).to_have_value("Ça pourrait t'intéresser !")
    sam.check()
    # a new contact on the fly: a bad address is explained, a good one is ticked
    panel.get_by_text("Pas dans la liste ? Nouveau contact").click()
    panel.get_by_label("Nom", exact=True).fill("Lou Nouvelle")
    panel.get_by_label("Adresse de courriel").fill("pas une adresse")
    panel.get_by_role("button", name="Ajouter ce contact").click()
    errors = panel.locator("[data-new-contact-errors]")
    expect(errors).to_contain_text("Ce contact n'a pas pu être enregistré")
    expect(errors).to_contain_text("n'est pas une adresse de courriel")
    panel.get_by_label("Adresse de courriel").fill("lou@example.org")
    panel.get_by_role("button", name="Ajouter ce contact").click()
    expect(panel.get_by_role("checkbox", name="Lou Nouvelle")).to_be_checked()
    expect(note).to_have_value("Ça pourrait t'intéresser !")  # Lou reads French
    assert "lou@example.org" in Path(live["state"].contact_source.path).read_text("utf-8")
    with page.expect_response(lambda r: r.url.endswith(f"/entry/{tech}/forward")):
        panel.get_by_role("button", name="Envoyer", exact=True).click()
    item = page.locator(f"#entry-{tech}")
    expect(item.locator("[data-sent-to]")).to_have_text("envoyé à Sam, Lou")
    toast = page.locator("[data-toast]")
    expect(toast).to_contain_text("Envoi à Sam, Lou dans")
    toast.get_by_role("button", name="Annuler").click()
    expect(toast).to_contain_text("Annulé : rien n'a été envoyé.")
    expect(item.locator("[data-sent-to]")).to_be_hidden()
    states = [f.state for f in live["state"].forwarder.history(tech)]
    assert states == ["cancelled", "cancelled"]
    assert_clean(page)


def test_already_sent_needs_an_explicit_confirmation(page, live):
    from playwright.sync_api import expect

    blog = entry_id(live, BLOG, 1)
    forwarder = live["state"].forwarder
    before = len(live["smtp"].messages)
    forwarder.queue(blog, ["camille@example.org"], "La première fois", now=datetime.now(UTC))
    deliver(live)
    live["smtp"].wait_for(before + 1)
    page.goto(live["base"] + f"entry/{blog}")
    page.get_by_role("link", name="Ça pourrait t'intéresser").click()
    panel = page.locator("#forward-panel")
    camille = panel.get_by_role("checkbox", name="Camille Exemple")
    expect(panel.locator(".already")).to_contain_text("déjà envoyé à Camille le")
    camille.check()
    confirm = panel.get_by_role("checkbox", name="Renvoyer quand même")
    expect(confirm).to_be_visible()
    panel.get_by_role("button", name="Envoyer", exact=True).click()
    expect(panel).to_be_visible()  # the required confirmation stops the form
    assert len(forwarder.history(blog)) == 1
    confirm.check()
    panel.get_by_role("button", name="Envoyer", exact=True).click()
    expect(panel).to_be_hidden()
    expect(page.locator("[data-toast]")).to_contain_text("Envoi à Camille dans")
    assert [f.state for f in forwarder.history(blog)] == ["sent", "queued"]
    page.goto(live["base"] + "contacts/camille@example.org")
    expect(page.get_by_role("heading", name="Pour Camille")).to_be_visible()
    page.screenshot(path=str(OUTPUT / "contact.png"), full_page=True)
    assert_clean(page)
