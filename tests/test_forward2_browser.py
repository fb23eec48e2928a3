"""Issue 13 as a person does it, in a real headless Chromium against the real app
(waitress on 127.0.0.1) and a real aiosmtpd server: the « Autre contact » picker
with « hugo » for « Hugo Bélanger » (one match chosen, several listed, none offers
to add, the error clears), a passage selected with the mouse in an article sent as
« Envoyer cet extrait » and read back at the SMTP server, `f` with a selection, the
« vous » subject, needs and the « Pour toi » basket on the contact page, and a
highlight rule marking an item and its word in the river."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from conftest import require_browser
from smtpserver import SmtpServer
from test_browser import NEWS, OUTPUT, TECH, _entry, served
from test_browser_forward import assert_clean, feeds_yaml

from aggregator.forward import UNDO_SECONDS

pytestmark = pytest.mark.browser

CONTACTS_YAML = """\
# people I send things to
- name: Hugo Bélanger
  email: hugo@example.org
  interests: [vélo]
- name: Camille Exemple
  email: camille@example.org
  interests: [festival]
  digest: weekly
  needs:
    - what: appartement Plateau
      since: 2020-01-01
- name: Sam Exemple
  email: sam@example.com
  interests: [emploi]
- name: Mme Productrice
  email: prod@example.org
  formal: true
"""
PASSAGE = "Les projections ont lieu au cinéma du Parc, dès dix-neuf heures."
ARTICLE = (
    "<p>Le festival revient cette année avec vingt films.</p>"
    f"<p>{PASSAGE}</p>"
    "<p>La billetterie ouvre lundi.</p>"
)


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[dict]:
    require_browser()
    tmp = tmp_path_factory.mktemp("browser-forward2")
    with SmtpServer() as smtp:
        rules = "rules:\n  - words: [festivals]\n    actions: [highlight, notify]\n"
        (tmp / "feeds.yaml").write_text(feeds_yaml(smtp) + rules, encoding="utf-8")
        (tmp / "contacts.yaml").write_text(CONTACTS_YAML, encoding="utf-8")
        with served(tmp) as (st, base):
            now = datetime.now(UTC)
            st.storage.sync_feeds(st.config.feeds, now=now)
            link = f"{base}static/favicon.svg?fest"
            fest = _entry(
                NEWS, 1, now - timedelta(minutes=5), base, title="Le festival revient",
                html=ARTICLE, link=link,
            )  # fmt: skip
            other = _entry(TECH, 1, now - timedelta(hours=1), base, link=link + "-2")
            third = _entry(TECH, 2, now - timedelta(hours=2), base, link=link + "-3")
            st.storage.upsert_entries(NEWS, [fest], now=now)
            st.storage.upsert_entries(TECH, [other, third], now=now)
            yield {"base": base, "state": st, "smtp": smtp}


def entry_id(live, feed: str, n: int) -> int:
    entries, _ = live["state"].storage.entries(feed_url=feed, limit=50)
    return next(e.id for e in entries if e.guid == f"{feed}#{n}")


def deliver(live) -> None:
    later = datetime.now(UTC) + timedelta(seconds=UNDO_SECONDS + 1)
    live["state"].forwarder.deliver_due(now=later)


def open_panel(page, live, feed: str, n: int):
    from playwright.sync_api import expect

    page.goto(live["base"] + f"entry/{entry_id(live, feed, n)}")
    page.get_by_role("link", name="Ça pourrait t'intéresser").click()
    panel = page.locator("#forward-panel")
    expect(panel.get_by_label("Autre contact")).to_be_visible()
    return panel


def test_picker_hugo_several_none_and_the_error_clears(page, live):
    from playwright.sync_api import expect

    panel = open_panel(page, live, TECH, 1)
    search = panel.get_by_label("Autre contact")
    errors = panel.locator("[data-forward-errors]")
    # several: listed, one click chooses
    search.fill("exemple")
    search.press("Enter")
    expect(errors).to_contain_text("Plusieurs contacts correspondent à « exemple »")
    matches = panel.locator("[data-picker-matches] button")
    expect(matches).to_have_count(2)
    matches.filter(has_text="Sam Exemple").click()
    expect(panel.get_by_role("checkbox", name="Sam Exemple")).to_be_checked()
    expect(errors).to_be_hidden()
    panel.get_by_role("checkbox", name="Sam Exemple").uncheck()
    # none: said, and the new-contact form opens with the text
    search.fill("zoé")
    search.press("Enter")
    expect(errors).to_contain_text("« zoé » ne fait pas partie de vos contacts")
    expect(panel.get_by_label("Nom", exact=True)).to_have_value("zoé")
    # fixing the text clears the error; « hugo » (no accent, lower case) is Hugo Bélanger
    search.fill("hugo")
    expect(errors).to_be_hidden()
    search.press("Enter")
    expect(panel.get_by_role("checkbox", name="Hugo Bélanger")).to_be_checked()
    expect(search).to_have_value("")
    # leftover text no longer blocks « Envoyer »: « belanger » is resolved on send
    panel.get_by_role("checkbox", name="Hugo Bélanger").uncheck()
    search.fill("BELANGER")
    panel.get_by_role("button", name="Envoyer", exact=True).click()
    expect(panel).to_be_hidden()
    deliver(live)
    got = live["smtp"].wait_for(1)[-1]
    assert got.rcpt_tos == ["hugo@example.org"]
    assert_clean(page)


def test_select_a_passage_send_the_excerpt_and_read_the_quote(page, live):
    from playwright.sync_api import expect

    fest = entry_id(live, NEWS, 1)
    page.goto(live["base"] + f"entry/{fest}")
    paragraph = page.locator(".content p", has_text="projections")
    paragraph.click(click_count=3)  # the mouse selects the whole paragraph
    button = page.get_by_role("button", name="Envoyer cet extrait")
    expect(button).to_be_visible()
    button.click()
    panel = page.locator("#forward-panel")
    expect(panel.locator("[data-excerpt-text]")).to_contain_text(PASSAGE)
    # Camille's current need is not about festivals; her interest is: suggested
    panel.get_by_role("checkbox", name="Camille Exemple").check()
    page.screenshot(path=str(OUTPUT / "forward-excerpt.png"))
    before = len(live["smtp"].messages)
    panel.get_by_role("button", name="Envoyer", exact=True).click()
    expect(panel).to_be_hidden()
    deliver(live)
    message = live["smtp"].wait_for(before + 1)[-1].message
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert f"> {PASSAGE}" in text
    assert "La billetterie" not in text
    assert "<blockquote" in html and "dès dix-neuf heures" in html
    # the keyboard: a selection, then "f"
    page.goto(live["base"] + f"entry/{fest}")
    page.locator(".content p", has_text="billetterie").click(click_count=3)
    expect(page.get_by_role("button", name="Envoyer cet extrait")).to_be_visible()
    page.keyboard.press("f")
    expect(panel.locator("[data-excerpt-text]")).to_contain_text("La billetterie ouvre lundi.")
    panel.get_by_role("button", name="Retirer l'extrait").click()
    expect(panel.locator("[data-excerpt-box]")).to_be_hidden()
    assert_clean(page)


def test_vous_subject_and_the_basket_on_the_contact_page(page, live):
    from playwright.sync_api import expect

    panel = open_panel(page, live, TECH, 2)
    search = panel.get_by_label("Autre contact")
    search.fill("productrice")
    search.press("Enter")
    subject = panel.get_by_label("Objet")
    expect(subject).to_have_value("Ceci pourrait vous intéresser : Article 2 de tech.example.net")
    expect(panel.get_by_label("Note personnelle")).to_have_value("Ceci pourrait vous intéresser.")
    panel.get_by_role("checkbox", name="Mme Productrice").uncheck()
    search.fill("camille")
    search.press("Enter")
    expect(subject).to_have_value("Ça pourrait t'intéresser : Article 2 de tech.example.net")
    panel.get_by_role("button", name="Ajouter à la lettre de Camille").click()
    expect(panel).to_be_hidden()
    expect(page.locator("[data-toast]")).to_contain_text(
        "Ajouté à la lettre « Pour toi » de Camille"
    )
    page.goto(live["base"] + "contacts/camille@example.org")
    expect(page.get_by_role("heading", name="Prochaine lettre « Pour toi »")).to_be_visible()
    expect(page.locator(".basket-list li")).to_have_count(1)
    # the expired need is shown, greyed; a new one is added (written to contacts.yaml)
    expect(page.locator(".need-expired")).to_contain_text("appartement Plateau")
    page.get_by_label("Cherche", exact=True).fill("un vélo cargo")
    page.get_by_role("button", name="Ajouter cette recherche").click()
    expect(page.locator(".need-active")).to_contain_text("un vélo cargo")
    path = live["state"].contact_source.path
    assert "what: un vélo cargo" in path.read_text("utf-8")
    assert path.read_text("utf-8").startswith("# people I send things to\n")
    before = len(live["smtp"].messages)
    page.get_by_role("button", name="Envoyer maintenant").click()
    expect(page.locator(".basket-list")).to_have_count(0)
    deliver(live)
    message = live["smtp"].wait_for(before + 1)[-1].message
    assert message["Subject"] == "Pour toi : 1 article"
    page.screenshot(path=str(OUTPUT / "contact-basket.png"), full_page=True)
    assert_clean(page)


def test_highlight_rule_marks_the_item_and_its_word_in_the_river(page, live):
    from playwright.sync_api import expect

    fest = entry_id(live, NEWS, 1)
    page.goto(live["base"])
    item = page.locator(f"#entry-{fest}")
    expect(item).to_have_class(re.compile(r"\brule-hit\b"))
    expect(item.locator(".entry-title mark.rule-word")).to_have_text("festival")
    expect(page.locator(f"#entry-{entry_id(live, TECH, 1)} mark")).to_have_count(0)
    assert page.get_by_role("link", name="Alertes").is_visible()
    assert_clean(page)
