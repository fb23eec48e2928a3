"""Issue 13 in the dashboard without a browser (Flask test client over real YAML
files and a real SQLite file): « vous » and the letter's period in the contact
form, needs added and removed from the contact page (contacts.yaml rewritten
round-trip, comments kept), the basket's reorder/remove/« Envoyer maintenant »,
the panel's picker on the server side (several matches, none), a passage that is
not in the item, and the basket button."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from websupport import FEEDS_YAML, TECH, entry_id, seeded_app, text, token

CONTACTS = """\
# my people
- name: Hugo Bélanger
  email: hugo@example.org
  interests: [vélo]   # he rides
- name: Camille Exemple
  email: camille@example.org
  interests: [Tech]
  digest: weekly
  needs:
    - what: un appart
      since: 2020-01-01
- name: Sam Exemple
  email: sam@example.com
  interests: []
"""


@pytest.fixture
def site(tmp_path: Path) -> dict:
    config = tmp_path / "feeds.yaml"
    config.write_text(FEEDS_YAML, encoding="utf-8")
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(CONTACTS, encoding="utf-8")
    return {"config": config, "db": tmp_path / "data" / "agg.sqlite3", "contacts": contacts}


@pytest.fixture
def app(site: dict):
    app = seeded_app(site)
    yield app
    app.extensions["aggregator"].close()


def post(client, url: str, **form):
    return client.post(url, data={"csrf_token": token(client), **form})


def test_contact_form_sets_vous_and_the_letter_then_removes_them(client, site):
    form = {"name": "Hugo Bélanger", "email": "hugo@example.org", "interests": "vélo",
            "language": "fr", "original_email": "hugo@example.org"}  # fmt: skip
    assert post(client, "/contacts", **form, formal="1", digest="daily").status_code == 302
    written = site["contacts"].read_text("utf-8")
    assert "  formal: true\n" in written and "  digest: daily\n" in written
    assert "interests: [vélo]   # he rides" in written  # comments kept
    assert post(client, "/contacts", **form, digest="").status_code == 302
    written = site["contacts"].read_text("utf-8")
    assert "formal" not in written and "digest: daily" not in written
    assert written.startswith("# my people\n")


def test_needs_from_the_contact_page(client, site):
    page = text(client.get("/contacts/sam@example.com"))
    assert "Aucune recherche notée" in page
    missing = post(client, "/people/needs", email="sam@example.com", what="  ")
    assert missing.status_code == 302  # back to the page with the message
    assert "Dites ce que la personne cherche." in text(client.get("/contacts/sam@example.com"))
    bad = post(client, "/people/needs", email="sam@example.com", what="x", until="31/12")
    assert "La date de fin doit ressembler à 2026-12-31." in text(client.get(bad.location))
    post(client, "/people/needs", email="sam@example.com", what="un lift pour Québec")
    post(client, "/people/needs", email="sam@example.com", what="vélo", until="2099-01-31")
    page = text(client.get("/contacts/sam@example.com"))
    assert 'class="need-active"' in page and "un lift pour Québec" in page
    written = site["contacts"].read_text("utf-8")
    assert "what: un lift pour Québec" in written and "until: '2099-01-31'" in written
    # an ended need is kept, shown greyed
    camille = text(client.get("/contacts/camille@example.org"))
    assert 'class="need-expired"' in camille and "un appart" in camille
    post(client, "/people/needs", email="sam@example.com", what="x", until="2020-01-01")
    # said in French (issue 10: config problems through the catalog)
    assert "until 2020-01-01 est avant since" in text(client.get("/contacts/sam@example.com"))
    assert (
        post(client, "/people/needs/delete", email="sam@example.com", index="0").status_code == 302
    )
    assert "un lift pour Québec" not in site["contacts"].read_text("utf-8")
    assert post(client, "/people/needs", email="nobody@example.org", what="x").status_code == 404


def test_picker_on_the_server_and_the_basket(app, client):
    tech = entry_id(app, TECH, 1)
    several = post(client, f"/entry/{tech}/forward", to_search="exemple", action="preview")
    assert several.status_code == 400
    assert "« exemple » correspond à plusieurs contacts : Camille Exemple, Sam Exemple" in text(
        several
    )
    none = post(client, f"/entry/{tech}/forward", to_search="zoé", action="preview")
    assert "« zoé » ne fait pas partie de vos contacts" in text(none)
    one = post(client, f"/entry/{tech}/forward", to_search="BELANGER", action="preview")
    assert one.status_code == 200 and "hugo@example.org" in text(one)
    absent = post(client, f"/entry/{tech}/forward", to="hugo@example.org", excerpt="inventé")
    assert absent.status_code == 400
    assert "Ce passage n'est pas dans le texte de l'article" in html.unescape(text(absent))
    assert "inventé</blockquote>" in text(absent)  # the form comes back with the passage
    for n in (1, 2):
        added = post(
            client, f"/entry/{entry_id(app, TECH, n)}/forward", to="camille@example.org",
            action="basket", note=f"note {n}",
        )  # fmt: skip
        assert added.status_code == 302
    storage = app.extensions["aggregator"].storage
    items = storage.basket("camille@example.org")
    assert [i.note for i in items] == ["note 1", "note 2"]
    post(
        client, "/people/basket/move", email="camille@example.org", item=items[1].id, direction="up"
    )
    assert [i.note for i in storage.basket("camille@example.org")] == ["note 2", "note 1"]
    post(client, "/people/basket/remove", email="camille@example.org", item=items[0].id)
    page = text(client.get("/contacts/camille@example.org"))
    assert "Prochaine lettre « Pour toi »" in page and "note 2" in page and "note 1" not in page
    sent = post(client, "/people/letter", email="camille@example.org")
    assert sent.status_code == 302
    assert storage.basket("camille@example.org") == []
    [row] = storage.forwards_to("camille@example.org")
    assert (row.kind, row.note, row.state) == ("digest", "note 2", "queued")
    empty = post(client, "/people/letter", email="camille@example.org")
    assert "La lettre est vide : rien n'a été envoyé." in html.unescape(
        text(client.get(empty.location))
    )
