"""« Ça pourrait t'intéresser » in the dashboard, through Flask's test client: the
button on every item, the panel (suggestions with reasons, memory, preview), the
queue and its undo, retries, the « Envoyés » and contact pages, contacts written back
to contacts.yaml, the rate limit, the "mail is not configured" banner, /api/forwards.

Real parts: a real SQLite file and real YAML files in tmp_path, CSRF on, and a real
aiosmtpd server (tests/smtpserver.py) where delivery matters. Time: the views use the
real clock, so tests that deliver call ``deliver_due(now=... + 11 s)``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from websupport import BLOG, FEEDS_YAML, NEWS, TECH, entry, entry_id, seeded_app, text, token

from aggregator.forward import NOTE_MAX, UNDO_SECONDS

CONTACTS_YAML = """\
# mes contacts : the dashboard must keep this comment
- name: Camille Exemple
  email: camille@example.org
  interests: [cinéma documentaire, financement, Montréal]  # she loves docs
- name: Sam Exemple
  email: sam@example.com
  interests: [emploi, montage vidéo]
  language: en
- name: Alex Autre
  email: alex@example.net
  interests: [jardinage]
"""
DOC_TITLE = "Un festival de cinéma documentaire à Montréal"
JSON = {"Accept": "application/json"}


@pytest.fixture
def site(tmp_path: Path) -> dict:
    config = tmp_path / "feeds.yaml"
    config.write_text(FEEDS_YAML, encoding="utf-8")
    (tmp_path / "contacts.yaml").write_text(CONTACTS_YAML, encoding="utf-8")
    return {"config": config, "db": tmp_path / "data" / "agg.sqlite3", "dir": tmp_path}


@pytest.fixture
def app(site: dict):
    app = seeded_app(site)
    st = app.extensions["aggregator"]
    now = datetime.now(UTC)
    st.storage.upsert_entries(
        NEWS,
        [
            entry(
                NEWS,
                10,
                now - timedelta(minutes=1),
                title=DOC_TITLE,
                summary="Le festival présente vingt films documentaires.",
                content_html="<p>Le festival présente vingt films documentaires.</p>",
            ),
        ],
        now=now,
    )
    yield app
    st.close()


@pytest.fixture
def client(app):
    return app.test_client()


def fw(app):
    return app.extensions["aggregator"].forwarder


def doc_id(app) -> int:
    return entry_id(app, NEWS, 10)


def post_forward(client, eid: int, json: bool = False, **fields):
    data = {"csrf_token": token(client), "note": "Regarde ça !", **fields}
    return client.post(f"/entry/{eid}/forward", data=data, headers=JSON if json else {})


def with_mail(site: dict, smtp) -> None:
    """settings.mail pointing at the test SMTP server, written into feeds.yaml (with
    the app's own atomic writer: complete by construction, so applied at once)."""
    from aggregator.config.yamlfile import atomic_write

    atomic_write(
        site["config"],
        FEEDS_YAML
        + f"""settings:
  mail:
    host: {smtp.host}
    port: {smtp.port}
    security: none
    from: "Alex Exemple <alex@example.org>"
""",
    )


# --- the button --------------------------------------------------------------------


def test_button_on_river_widgets_entry_and_in_the_help(app, client):
    river = text(client.get("/"))
    assert river.count('<article class="entry') == 8
    assert river.count("data-forward aria-haspopup") == 8
    assert "Ça pourrait t&#39;intéresser</a>" in river
    assert f'href="/entry/{doc_id(app)}/forward?next=' in river
    assert '<dialog id="forward-panel"' in river and "/static/forward.js" in river
    assert "<kbd>f</kbd>" in river and "Envoyer à un contact" in river  # help overlay
    widgets = text(client.get("/tab/Actualit%C3%A9s?view=widgets"))
    assert widgets.count('class="forward-icon"') == 6
    assert "Ça pourrait t&#39;intéresser : " + DOC_TITLE in widgets
    page = text(client.get(f"/entry/{doc_id(app)}"))
    assert 'class="btn btn-small btn-forward"' in page and 'aria-keyshortcuts="f"' in page
    english = text(client.get("/?lang=en"))
    assert "This might interest someone</a>" in english
    client.get("/?lang=fr")


# --- the panel ---------------------------------------------------------------------


def test_panel_suggests_contacts_with_reasons_then_all_contacts(app, client):
    r = client.get(f"/entry/{doc_id(app)}/forward?next=/tab/Tech")
    page = text(r)
    assert r.status_code == 200 and "<html" in page  # a full page without JavaScript
    suggestions = page[page.index("data-suggestions") : page.index("data-chosen")]
    assert "Camille Exemple" in suggestions and "Sam Exemple" not in suggestions
    assert '<span class="reason">cinéma documentaire</span>' in suggestions
    assert '<span class="reason">Montréal</span>' in suggestions
    options = re.findall(r'<option value="([^"]+)" data-email', page)
    assert options == [
        "Alex Autre &lt;alex@example.net&gt;",
        "Camille Exemple &lt;camille@example.org&gt;",
        "Sam Exemple &lt;sam@example.com&gt;",
    ]
    assert "Ça pourrait t&#39;intéresser !</textarea>" in page  # the default note
    assert f'maxlength="{NOTE_MAX}"' in page
    assert 'name="next" value="/tab/Tech"' in page
    fragment = text(client.get(f"/entry/{doc_id(app)}/forward?fragment=1"))
    assert "<html" not in fragment and "data-forward-form" in fragment
    assert client.get("/entry/99999/forward").status_code == 404


def test_default_note_is_english_when_every_chosen_contact_reads_english(app, client):
    page = text(client.get(f"/entry/{doc_id(app)}/forward?to=sam@example.com"))
    assert "This might interest you!</textarea>" in page
    assert 'value="sam@example.com" data-name="Sam Exemple" data-language="en" checked' in page
    both = f"/entry/{doc_id(app)}/forward?to=sam@example.com&to=camille@example.org"
    assert "Ça pourrait t&#39;intéresser !</textarea>" in text(client.get(both))


def test_send_queues_one_row_per_contact_and_labels_the_item(app, client, site):
    eid = doc_id(app)
    r = post_forward(
        client, eid, to=["camille@example.org"], to_search="Sam Exemple", next="/#entry-1"
    )
    assert r.status_code == 302 and r.headers["Location"] == "/#entry-1"
    outbox = fw(app).outbox()
    assert [(f.contact_email, f.state, f.note) for f in outbox] == [
        ("camille@example.org", "queued", "Regarde ça !"),
        ("sam@example.com", "queued", "Regarde ça !"),
    ]
    assert outbox[0].batch == outbox[1].batch and outbox[0].entry_id == eid
    page = text(client.get("/"))
    assert "Envoi à Camille, Sam dans 10 s." in page  # the flash, with its undo form
    assert f'name="batch" value="{outbox[0].batch}"' in page
    assert "envoyé à Camille, Sam</span>" in page  # the item's label
    # without settings.mail: a readable .eml after the undo window, still queued
    report = fw(app).deliver_due(now=datetime.now(UTC) + timedelta(seconds=UNDO_SECONDS + 1))
    assert len(report.written) == 2
    eml = (site["db"].parent / "outbox" / f"forward-{outbox[0].id}.eml").read_text("utf-8")
    assert "Regarde ça !" in eml and DOC_TITLE in eml
    assert [f.state for f in fw(app).outbox()] == ["queued", "queued"]


def test_send_as_json_for_the_panel(app, client):
    r = post_forward(client, doc_id(app), json=True, to="camille@example.org")
    assert r.status_code == 201
    data = r.json
    assert data["label"] == "envoyé à Camille" and data["sent_to"] == ["Camille Exemple"]
    assert data["undo_seconds"] == UNDO_SECONDS and data["names"] == "Camille"
    assert data["forwards"][0]["contact"] == {
        "name": "Camille Exemple",
        "email": "camille@example.org",
    }
    assert data["forwards"][0]["state"] == "queued" and data["batch"]


def test_every_forward_post_needs_the_csrf_token(app, client):
    eid = doc_id(app)
    for path, data in [
        (f"/entry/{eid}/forward", {"to": "camille@example.org"}),
        ("/forwards/cancel", {"batch": "x"}),
        ("/forwards/1/retry", {}),
        ("/contacts", {"name": "Eve", "email": "eve@example.org"}),
    ]:
        r = client.post(path, data=data)
        assert r.status_code == 400, path
        assert "Le formulaire a expiré" in text(r)
        assert client.post(path, data={**data, "csrf_token": "forged"}).status_code == 400
    assert fw(app).outbox() == []
    assert "eve@" not in (Path(app.extensions["aggregator"].contact_source.path)).read_text()
    assert client.get(f"/entry/{eid}/forward").status_code == 200  # GET changes nothing


def test_only_contacts_can_be_recipients(app, client):
    eid = doc_id(app)
    for hostile in [
        "intrus@example.org",
        "camille@example.org\r\nBcc: victime@example.org",
        "Camille Exemple <camille@example.org>, intrus@example.org",
    ]:
        r = post_forward(client, eid, json=True, to=hostile)
        assert r.status_code == 400, hostile
        assert r.json["error"] == "Choisissez les destinataires parmi vos contacts."
    r = post_forward(client, eid, to_search="Quelqu'un d'autre")
    assert r.status_code == 400
    assert "« Quelqu&#39;un d&#39;autre » ne fait pas partie de vos contacts" in text(r)
    assert "Regarde ça !</textarea>" in text(r)  # the note is kept
    r = post_forward(client, eid, json=True)
    assert r.status_code == 400 and r.json["error"] == "Choisissez au moins un contact."
    r = post_forward(client, eid, json=True, to="camille@example.org", note="x" * (NOTE_MAX + 1))
    assert r.status_code == 400 and "La note est trop longue" in r.json["error"]
    assert fw(app).outbox() == []
    # typed the way the suggestions list shows them, or by address, any case
    r = post_forward(client, eid, json=True, to_search="camille exemple <CAMILLE@example.org>")
    assert r.status_code == 201


def test_already_sent_asks_for_confirmation(app, client, site, smtp):
    with_mail(site, smtp)
    eid = doc_id(app)
    now = datetime.now(UTC)
    fw(app).queue(eid, ["camille@example.org"], "Premier envoi", now=now)
    fw(app).deliver_due(now=now + timedelta(seconds=UNDO_SECONDS + 1))
    smtp.wait_for(1)
    page = text(client.get(f"/entry/{eid}/forward"))
    day = f"{now.day} {['janvier', 'février', 'mars', 'avril', 'mai', 'juin', 'juillet', 'août', 'septembre', 'octobre', 'novembre', 'décembre'][now.month - 1]}"
    assert f'<span class="already">déjà envoyé à Camille le {day}</span>' in page
    assert 'data-previous="déjà envoyé à Camille le' in page
    r = post_forward(client, eid, to="camille@example.org")
    assert r.status_code == 409
    page = text(r)
    assert "Cochez « Renvoyer quand même »" in page
    assert re.search(
        r'<div class="resend notice" data-resend>\s*<ul data-resend-list><li>déjà envoyé', page
    )
    r = post_forward(client, eid, json=True, to="camille@example.org")
    assert r.status_code == 409 and r.json["previous"]["camille@example.org"].startswith("déjà")
    r = post_forward(client, eid, json=True, to="camille@example.org", confirm_resend="1")
    assert r.status_code == 201
    # the same link from another feed counts too, and says where it came from
    link = app.extensions["aggregator"].storage.entry(eid).link
    st = app.extensions["aggregator"].storage
    st.upsert_entries(BLOG, [entry(BLOG, 77, now, title="Repris", link=link)], now=now)
    page = text(client.get(f"/entry/{entry_id(app, BLOG, 77)}/forward"))
    assert "déjà envoyé à Camille le" in page and "(depuis Le Journal)" in page


def test_cancel_inside_the_undo_window(app, client):
    eid = doc_id(app)
    data = post_forward(client, eid, json=True, to=["camille@example.org"]).json
    csrf = token(client)
    r = client.post(
        "/forwards/cancel",
        data={"csrf_token": csrf, "batch": data["batch"], "entry": str(eid)},
        headers=JSON,
    )
    assert r.status_code == 200
    assert r.json == {
        "cancelled": 1,
        "message": "Annulé : rien n'a été envoyé.",
        "entry_id": eid,
        "sent_to": [],
        "label": "",
    }
    assert [f.state for f in fw(app).history(eid)] == ["cancelled"]
    again = client.post("/forwards/cancel", data={"csrf_token": csrf, "batch": data["batch"]})
    assert again.status_code == 302
    assert "Trop tard pour annuler" in text(client.get("/sent"))
    # after the window it is too late: the scheduler may already be talking to the server
    late = fw(app).queue(
        eid, ["sam@example.com"], None, now=datetime.now(UTC) - timedelta(minutes=1)
    )
    r = client.post(
        "/forwards/cancel", data={"csrf_token": csrf, "batch": late[0].batch}, headers=JSON
    )
    assert r.status_code == 409 and r.json["cancelled"] == 0
    assert "data-sent-to hidden" not in text(client.get(f"/entry/{eid}"))


def test_failed_forward_shows_the_reason_and_can_be_retried(app, client, site, smtp):
    with_mail(site, smtp)
    smtp.refuse("554 5.7.1 message refused: looks like spam here", at="DATA")
    eid = doc_id(app)
    post_forward(client, eid, to="camille@example.org", note="Pour toi")
    now = datetime.now(UTC) + timedelta(seconds=UNDO_SECONDS + 1)
    report = fw(app).deliver_due(now=now)
    assert len(report.failed) == 1
    page = text(client.get("/sent"))
    assert '<span class="state state-failed">échec</span>' in page
    assert "looks like spam here" in page and ">Réessayer</button>" in page
    assert "Pour toi" in page and "Camille Exemple" in page
    forward_id = report.failed[0]
    csrf = token(client)
    r = client.post(
        f"/forwards/{forward_id}/retry", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert "Nouvel essai : le courriel est de retour dans la file." in text(r)
    assert fw(app).outbox()[0].state == "queued"
    smtp.accept()  # the server changed its mind
    assert fw(app).deliver_due(now=now + timedelta(seconds=1)).sent == [forward_id]
    assert smtp.wait_for(1)[0].message["To"].addresses[0].addr_spec == "camille@example.org"
    page = text(client.get("/sent"))
    assert '<span class="state state-sent">envoyé</span>' in page
    r = client.post(f"/forwards/{forward_id}/retry", data={"csrf_token": csrf}, headers=JSON)
    assert r.status_code == 400 and r.json["error"] == "Seul un courriel en échec peut être renvoyé."
    assert client.post("/forwards/999/retry", data={"csrf_token": csrf}).status_code == 404


def test_preview_shows_the_plain_text_part(app, client):
    eid = doc_id(app)
    r = post_forward(
        client, eid, json=True, to="camille@example.org", note="Pense à Lou", action="preview"
    )
    assert r.status_code == 200
    assert r.json["subject"] == f"Ça pourrait t'intéresser : {DOC_TITLE}"
    assert "camille@example.org" in r.json["to"]
    assert r.json["text"].startswith("Pense à Lou")
    assert "vingt films documentaires" in r.json["text"]
    page = text(
        post_forward(client, eid, to="camille@example.org", note="Pense à Lou", action="preview")
    )
    assert re.search(r"<pre data-preview-text>Pense à Lou", page)  # without JavaScript
    assert "Pense à Lou</textarea>" in page
    assert fw(app).outbox() == []  # a preview queues nothing


def test_sent_page_lists_everything_with_french_states(app, client):
    eid = doc_id(app)
    now = datetime.now(UTC)
    cancelled = fw(app).queue(eid, ["sam@example.com"], "Annulé vite", now=now)
    fw(app).cancel(cancelled[0].batch, now=now)
    fw(app).queue(entry_id(app, TECH, 1), ["alex@example.net"], "Pour ton jardin", now=now)
    page = text(client.get("/sent"))
    assert page.count('class="forward-row') == 2
    assert "en attente d&#39;envoi" in page and "annulé" in page
    assert "Pour ton jardin" in page and "Annulé vite" in page
    assert 'href="/contacts/alex@example.net"' in page
    assert '<a href="/sent" aria-current="page">Envoyés</a>' in page
    assert '<a href="/contacts">Contacts</a>' in page
    assert ">Annuler</button>" in page  # the queued one is still inside its window


def test_contact_page_shows_what_was_sent_and_what_is_for_them(app, client):
    eid = doc_id(app)
    page = text(client.get("/contacts/camille@example.org"))
    assert "<h1>Camille Exemple</h1>" in page and "Pour Camille" in page
    pour = page[page.index("Pour Camille") : page.index("Déjà envoyé à Camille")]
    assert DOC_TITLE in pour
    link = re.search(rf'href="(/entry/{eid}/forward\?[^"]+)" data-forward', pour).group(1)
    assert link.endswith("&amp;to=camille@example.org")  # the button preselects them
    assert "Rien ne lui a encore été envoyé." in page
    post_forward(client, eid, to="camille@example.org", note="Le festival !")
    page = text(client.get("/contacts/camille@example.org"))
    pour = page[page.index("Pour Camille") : page.index("Déjà envoyé à Camille")]
    assert DOC_TITLE not in pour and "Rien de nouveau" in pour
    sent = page[page.index("Déjà envoyé à Camille") :]
    assert DOC_TITLE in sent and "Le festival !" in sent
    assert client.get("/contacts/nobody@example.org").status_code == 404
    contacts = text(client.get("/contacts"))
    assert contacts.count('class="contact-card"') == 3
    assert '<span class="reason">montage vidéo</span>' in contacts


def test_add_and_edit_contacts_keep_the_file_comments(app, client, site):
    path = site["dir"] / "contacts.yaml"
    csrf = token(client)
    r = client.post(
        "/contacts",
        data={
            "csrf_token": csrf,
            "name": "Lou Nouvelle",
            "email": "lou@example.org",
            "interests": "photo, cinéma documentaire",
            "language": "en",
        },
        follow_redirects=True,
    )
    assert "Contact ajouté : Lou Nouvelle." in text(r)
    written = path.read_text("utf-8")
    assert written.startswith("# mes contacts : the dashboard must keep this comment")
    assert "# she loves docs" in written and "lou@example.org" in written
    assert [c.email for c in fw(app).contacts][-1] == "lou@example.org"
    assert fw(app).contact("lou@example.org").interests == ("photo", "cinéma documentaire")
    # a bad address, then a duplicate: the problems are shown, the file is unchanged
    for email, problem in [
        # said in French (issue 10: config problems through i18n.config_message)
        ("pas une adresse", "n&#39;est pas une adresse de courriel"),
        ("CAMILLE@example.org", "figure deux fois"),
    ]:
        r = client.post("/contacts", data={"csrf_token": csrf, "name": "X", "email": email})
        assert r.status_code == 400, email
        assert "Ce contact n&#39;a pas pu être enregistré" in text(r) and problem in text(r)
    assert path.read_text("utf-8") == written
    r = client.post("/contacts", data={"csrf_token": csrf, "name": "", "email": ""}, headers=JSON)
    assert r.status_code == 400
    assert r.json["problems"] == [
        "Donnez un nom au contact.",
        "Donnez une adresse de courriel au contact.",
    ]
    # editing keeps the comment on that contact's line
    r = client.post(
        "/contacts",
        data={
            "csrf_token": csrf,
            "original_email": "camille@example.org",
            "name": "Camille Exemple",
            "email": "camille@example.org",
            "interests": "cinéma documentaire, financement, Montréal, radio",
            "language": "fr",
        },
    )
    assert r.status_code == 302
    edited = path.read_text("utf-8")
    assert "# she loves docs" in edited and "radio" in edited
    # from the panel, as JSON: the new contact comes back to be ticked
    r = client.post(
        "/contacts",
        data={"csrf_token": csrf, "name": "Noé", "email": "noe@example.org"},
        headers=JSON,
    )
    assert r.status_code == 201 and r.json["contact"]["email"] == "noe@example.org"


def test_new_contact_from_the_panel_without_javascript(app, client):
    eid = doc_id(app)
    r = client.post(
        "/contacts",
        data={
            "csrf_token": token(client),
            "entry": str(eid),
            "to": "camille@example.org",
            "note": "Ma note",
            "name": "Zoé Neuve",
            "email": "zoe@example.org",
            "next": "/tab/Tech",
        },
    )
    assert r.status_code == 302
    page = text(client.get(r.headers["Location"]))
    assert 'value="zoe@example.org" data-name="Zoé Neuve" data-language="fr" checked' in page
    assert 'value="camille@example.org" data-name="Camille Exemple"' in page
    assert "Ma note</textarea>" in page and 'name="next" value="/tab/Tech"' in page
    r = client.post(
        "/contacts",
        data={"csrf_token": token(client), "entry": str(eid), "name": "Y", "email": "nope"},
    )
    assert r.status_code == 400 and "data-forward-form" in text(r)


def test_rate_limit_says_when_to_try_again(app, client):
    eid = doc_id(app)
    now = datetime.now(UTC)
    for _ in range(15):
        fw(app).queue(
            eid, ["alex@example.net", "sam@example.com"], None, now=now, confirm_resend=True
        )
    r = post_forward(client, eid, json=True, to="camille@example.org")
    assert r.status_code == 429
    assert r.json["error"].startswith(
        "Trop d'envois en peu de temps : la limite d'envoi est atteinte."
    )
    assert "Réessayez dans 59 min." in r.json["error"] or "Réessayez dans 1 h." in r.json["error"]
    r = post_forward(client, eid, to="camille@example.org")
    assert r.status_code == 429 and "Trop d&#39;envois en peu de temps" in text(r)


def test_mail_banner_only_while_mail_waits_or_on_the_sent_page(app, client, site, smtp):
    banner = "L&#39;envoi de courriels n&#39;est pas configuré"
    assert banner not in text(client.get("/"))
    assert banner in text(client.get("/sent"))
    assert str(site["db"].parent / "outbox") in text(client.get("/sent"))
    post_forward(client, doc_id(app), to="camille@example.org")
    page = text(client.get("/tab/Tech"))
    assert banner in page and "AGGREGATOR_SMTP_PASSWORD" in page and "settings.mail" in page
    with_mail(site, smtp)
    assert banner not in text(client.get("/sent"))


def test_entry_page_lists_its_forwards(app, client):
    eid = doc_id(app)
    post_forward(client, eid, to=["camille@example.org", "sam@example.com"])
    page = text(client.get(f"/entry/{eid}"))
    assert "envoyé à Camille, Sam</span>" in page
    assert "Transmis 2 fois" in page and "en attente d&#39;envoi" in page


def test_api_forwards(app, client):
    eid = doc_id(app)
    now = datetime.now(UTC)
    first = fw(app).queue(eid, ["camille@example.org", "sam@example.com"], "Note", now=now)
    fw(app).cancel(first[0].batch, now=now)
    fw(app).queue(entry_id(app, TECH, 2), ["alex@example.net"], None, now=now)
    data = client.get("/api/forwards").json
    assert [f["contact"]["email"] for f in data["forwards"]] == [
        "alex@example.net",
        "sam@example.com",
        "camille@example.org",
    ]
    one = data["forwards"][-1]
    assert one["state"] == "cancelled" and one["note"] == "Note" and one["entry_id"] == eid
    assert one["created_at"].endswith("Z") and one["entry_title"] == DOC_TITLE
    assert data["next_before"] is None
    page = client.get("/api/forwards?limit=2").json
    assert len(page["forwards"]) == 2 and page["next_before"] == page["forwards"][-1]["id"]
    rest = client.get(f"/api/forwards?limit=2&before={page['next_before']}").json
    assert [f["contact"]["name"] for f in rest["forwards"]] == ["Camille Exemple"]
    assert len(client.get(f"/api/forwards?entry={eid}").json["forwards"]) == 2
    queued = client.get("/api/forwards?state=queued").json["forwards"]
    assert [f["contact"]["email"] for f in queued] == ["alex@example.net"]
    mine = client.get("/api/forwards?contact=SAM@example.com").json["forwards"]
    assert [f["contact"]["email"] for f in mine] == ["sam@example.com"]
    assert client.get("/api/forwards?state=lost").status_code == 400
    assert client.get("/api/forwards?limit=0").status_code == 400
    assert client.get("/api/forwards?contact=x@example.org").json["status"] == 404


def test_broken_contacts_file_is_explained_and_the_last_good_one_kept(app, client, site):
    import time

    from aggregator.config.yamlfile import STABLE_SECONDS

    clock = [time.time()]  # a hand edit is applied once left alone: move time, not sleep
    fw(app).contact_source.clock = lambda: clock[0]
    path = site["dir"] / "contacts.yaml"
    path.write_text(CONTACTS_YAML + "- name: Sans adresse\n", encoding="utf-8")
    client.get("/contacts")
    clock[0] += STABLE_SECONDS
    page = text(client.get("/contacts"))
    assert "Le fichier des contacts contient des erreurs" in page
    assert re.search(
        re.escape(str(path)) + r":\d+:\d+</code> <span>ce contact n&#39;a pas de &#39;email:&#39;",
        page,
    )
    assert page.count('class="contact-card"') == 3  # the last valid version
    panel = text(client.get(f"/entry/{doc_id(app)}/forward"))
    assert "la dernière version valide reste utilisée" in panel and "Camille Exemple" in panel
