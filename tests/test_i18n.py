"""French done properly (issue 10): YAML errors quoted and explained in French, plurals,
local time on pages and in the forwarded email, one word for e-mail (« courriel »),
gender-neutral advice, and a catalog that has every plural the code asks for."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from websupport import NEWS, ROOT, TECH, entry, make_app, storage, token
from websupport import text as raw_text

from aggregator.web import i18n

NOW = datetime(2026, 11, 30, 2, 30, tzinfo=UTC)  # 21:30 on the 29th in Montréal


def text(response) -> str:
    return html.unescape(raw_text(response))


def app_over(tmp_path: Path, yaml: str):
    config = tmp_path / "feeds.yaml"
    config.write_text(yaml, encoding="utf-8")
    return make_app({"config": config, "db": tmp_path / "data" / "agg.sqlite3"})


CLAIRE = f"""\
tabs:
  - name: Lettres
    feeds:
      - url: {NEWS}
        title: Claire : la lettre du court
"""


def test_a_french_title_with_a_colon_gets_the_line_quoted_and_advice_in_french(tmp_path):
    app = app_over(tmp_path, CLAIRE)
    page = text(app.test_client().get("/"))
    assert ":5:23</code> <span>YAML invalide" in page
    assert 'mettez le titre entre guillemets : "Claire : la lettre du court"' in page
    quote = re.search(r'<pre class="problem-quote"[^>]*>(.*?)</pre>', page, re.S).group(1)
    line, caret = quote.split("\n")
    assert line == "        title: Claire : la lettre du court"
    assert caret == " " * 22 + "^" and line[22] == ":"
    english = text(app.test_client().get("/?lang=en"))
    assert 'put the title in quotes: "Claire : la lettre du court"' in english
    app.extensions["aggregator"].close()


def test_validation_problems_are_said_in_french_or_marked_english(tmp_path):
    yaml = f"tabs:\n  - name: A\n    feeds:\n      - url: {NEWS}\n        titel: Le Journal\n"
    app = app_over(tmp_path, yaml)
    page = text(app.test_client().get("/feeds"))
    assert "'titel' n'est pas une clé de « feed » (vouliez-vous dire 'title' ?)" in page
    assert "is not a feed key" not in page
    app.extensions["aggregator"].close()
    message, translated = i18n.config_message("something the rules do not know", "fr")
    assert (message, translated) == ("something the rules do not know", False)


def test_plurals_of_mark_all_read_and_unread_counts(app, client):
    csrf = token(client)
    one = storage(app).entries(feed_url=TECH, limit=1)[0][0].id
    storage(app).set_read([e.id for e in storage(app).entries(limit=100)[0] if e.id != one], True)
    r = client.post("/mark-all-read", data={"csrf_token": csrf, "next": "/"})
    page = text(client.get(r.headers["Location"]))
    assert "1 article marqué comme lu." in page and "1 articles" not in page
    ids = re.search(r'name="ids" value="([^"]+)"', page).group(1)
    r = client.post("/undo-read", data={"csrf_token": csrf, "ids": ids, "next": "/feeds"})
    page = text(client.get(r.headers["Location"]))
    assert "1 article de nouveau non lu." in page
    assert "(1 non lu)" in page and "1 non lus" not in page
    assert i18n.translate_plural("%(n)s unread", "%(n)s unread", 0, "fr") == "0 non lu"
    assert i18n.translate_plural("%(n)s unread", "%(n)s unread", 2, "en") == "2 unread"
    assert i18n.translate_plural("%(n)s new article", "%(n)s new articles", 0, "en") == (
        "0 new articles"
    )


def test_status_page_says_no_problem_in_words_and_folds_english_details(app, client):
    storage(app).record_success(
        TECH, now=NOW, status=200, etag=None, last_modified=None, body_hash=None, next_check=NOW
    )
    storage(app).record_error(
        NEWS, now=NOW, code="timeout", message="ReadTimeout: read timed out", next_check=NOW
    )
    page = text(client.get("/feeds"))
    assert "aucun (il fonctionne)" in page and ">OK<" not in page
    assert "Le site n'a pas répondu à temps." in page
    details = re.search(r'<details class="error-details[^>]*>(.*?)</details>', page, re.S)
    assert "Détails techniques (en anglais)" in details.group(1)
    assert '<p class="muted" lang="en">ReadTimeout' in details.group(1)


def _montreal_app(tmp_path, display: str = ""):
    """A dashboard in Montréal's time zone with one entry dated NOW."""
    yaml = (
        f"settings:\n  display:\n    time_zone: America/Montreal\n{display}"
        f"tabs:\n  - name: A\n    feeds:\n      - url: {NEWS}\n"
    )
    app = app_over(tmp_path, yaml)
    st = app.extensions["aggregator"]
    st.storage.sync_feeds(st.config.feeds, now=NOW)
    st.storage.upsert_entries(NEWS, [entry(NEWS, 1, NOW)], now=NOW)
    return app, st


def test_local_time_on_pages(tmp_path):
    app, st = _montreal_app(tmp_path)
    page = text(app.test_client().get("/"))
    assert 'title="29 novembre 2026 à 21:30"' in page
    assert "UTC" not in page
    english = text(app.test_client().get("/?lang=en"))
    assert 'title="November 29, 2026 at 9:30 PM"' in english
    st.close()


def test_forwarded_email_date_is_the_senders_day():
    code = (
        "from datetime import datetime, UTC\n"
        "from aggregator.mail.compose import format_date\n"
        f"print(format_date(datetime({NOW.year}, {NOW.month}, {NOW.day}, 2, 30, tzinfo=UTC), 'fr'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"TZ": "America/Montreal", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert out.stdout.strip() == "29 novembre 2026"


# --- gettext catalogs (translations/messages.pot, <lang>/LC_MESSAGES/messages.po) -----


@pytest.fixture(scope="module")
def template():
    """A fresh extraction of the code and templates (Babel's extractors, babel.cfg)."""
    from aggregator.web import catalog

    return catalog.extract()


def fr_po():
    from babel.messages.pofile import read_po

    from aggregator.web import catalog

    with catalog.po_path("fr").open("rb") as f:
        return read_po(f, locale="fr")


def test_one_word_for_email_and_no_gendered_advice():
    values = []
    for message in fr_po():
        forms = message.string if isinstance(message.string, (list, tuple)) else [message.string]
        values += [f for f in forms if f and message.id]
    assert len(values) > 400
    # YAML keys ('email', email: true) and placeholders are names, not words
    words = [re.sub(r"'[^']*'|%\(\w+\)\w|\bemail:", "", v) for v in values]
    assert not [w for w in words if re.search(r"(?i)\be-?mails?\b", w)], "say « courriel »"
    assert not [v for v in values if "ajoutez-le" in v or "ajoutez-la" in v]


def test_the_catalogs_hold_every_marked_text_with_its_french(template):
    """Every _()/gettext/ngettext/N_ text of templates and code is in messages.pot and
    both .po files, with a French translation (plurals: both forms): a text marked
    without running `make catalog`, or left without French, fails here."""
    from aggregator.web import catalog

    ids = catalog.message_ids(template)
    assert len(ids) > 400
    assert {"Unknown feed.", "The site did not answer in time.", "Next article"} <= ids
    assert catalog.problems(template) == []


def test_a_template_string_added_without_the_catalog_command_is_caught(template, tmp_path):
    from aggregator.web import catalog

    root = tmp_path / "project"
    root.mkdir()
    shutil.copytree(
        ROOT / "aggregator", root / "aggregator", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(ROOT / "templates", root / "templates")
    shutil.copy(ROOT / catalog.MAPPING, root / catalog.MAPPING)
    page = root / "templates" / "base.html"
    page.write_text(page.read_text(encoding="utf-8") + '{{ _("New text") }}\n', encoding="utf-8")
    assert catalog.problems(catalog.extract(root)) == [
        "not in messages.pot (run `make catalog`): 'New text'",
        "fr: not in messages.po (run `make catalog`): 'New text'",
        "en: not in messages.po (run `make catalog`): 'New text'",
    ]
    # the catalog command adds it, empty: still caught until a translator fills it in
    written = tmp_path / "translations"
    catalog.write(root, written)
    found = catalog.problems(catalog.extract(root), written)
    assert found == ["fr: no French for 'New text' (fill its msgstr in messages.po)"]


def test_the_committed_catalogs_are_what_the_catalog_command_writes(template, tmp_path):
    """Re-running extraction and update into a temporary folder changes no id and no
    translation of the committed .pot and .po files."""
    from babel.messages.pofile import read_po

    from aggregator.web import catalog

    catalog.write(ROOT, tmp_path)

    def entries(path: Path, lang: str | None):
        with path.open("rb") as f:
            po = read_po(f, locale=lang)
        return {(m.id if isinstance(m.id, str) else tuple(m.id)): m.string for m in po if m.id}

    assert entries(catalog.pot_path(tmp_path), None) == entries(catalog.pot_path(), None)
    for lang in catalog.LANGUAGES:
        fresh = entries(catalog.po_path(lang, tmp_path), lang)
        assert fresh == entries(catalog.po_path(lang), lang), lang


def test_french_plural_entries_have_both_forms(template):
    from aggregator.web import catalog

    asked = {m.id[0]: m.id[1] for m in template if m.id and not isinstance(m.id, str)}
    assert len(asked) >= 9 and "%(n)s unread" in asked
    po = fr_po()
    assert po.num_plurals == 2 and po.plural_expr == "(n > 1)"
    for one, many in asked.items():
        message = po[one]
        assert message is not None and tuple(message.id) == (one, many), one
        fr_one, fr_many = message.string
        assert "%(n)s" in fr_one and "%(n)s" in fr_many, one
    assert catalog.load("fr")[1]["%(n)s unread"] == ("%(n)s non lu", "%(n)s non lus")


def test_mo_files_match_their_po_files():
    from babel.messages.pofile import read_po

    from aggregator.web import catalog

    for lang in catalog.LANGUAGES:
        with catalog.po_path(lang).open("rb") as f:
            po = read_po(f, locale=lang)
        compiled = catalog.mo_bytes(po)
        assert catalog.po_path(lang).with_suffix(".mo").read_bytes() == compiled, lang


def test_i18n_holds_no_translation_dictionary():
    """French lives in the .po files only (issue 10): no FR/FR_PLURALS dicts, no regex
    rules translating English sentences."""
    source = (ROOT / "aggregator" / "web" / "i18n.py").read_text(encoding="utf-8")
    for name in ("FR", "FR_PLURALS", "CONFIG_RULES_FR", "CONFIG_HINTS_FR", "MONTHS"):
        assert not hasattr(i18n, name), name
    assert "FR.update" not in source and "re.fullmatch" not in source


def test_a_translators_edit_of_the_po_file_is_what_the_dashboard_says(tmp_path, monkeypatch):
    from aggregator.web import catalog

    po = catalog.po_path("fr").read_text(encoding="utf-8")
    edited = po.replace('msgstr "Flux inconnu."', 'msgstr "Ce flux est inconnu."')
    assert edited != po
    target = tmp_path / "fr" / "LC_MESSAGES" / "messages.po"
    target.parent.mkdir(parents=True)
    target.write_text(edited, encoding="utf-8")
    monkeypatch.setattr(catalog, "DIRECTORY", tmp_path)
    catalog.load.cache_clear()
    try:
        assert i18n.translate("Unknown feed.", "fr") == "Ce flux est inconnu."
        assert i18n.translate_plural("%(n)s unread", "%(n)s unread", 2, "fr") == "2 non lus"
    finally:
        monkeypatch.undo()
        catalog.load.cache_clear()


def test_dates_are_babels_in_the_configured_locale_and_zone():
    from datetime import timedelta

    when = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)
    assert i18n.relative_date(when - timedelta(days=14), when, "fr") == "il y a 2 semaines"
    assert i18n.relative_date(when - timedelta(hours=3), when, "en") == "3 hr. ago"
    assert i18n.relative_date(when - timedelta(hours=30), when, "fr") == "hier"
    assert i18n.relative_date(when + timedelta(hours=30), when, "en") == "tomorrow"
    assert i18n._format_date(int(when.timestamp() // 60), UTC, "en", False) == "June 15, 2024"


def test_each_locale_writes_dates_its_own_way():
    """The locale's CLDR formats, not one pattern for all: Québec writes « 14 h 05 »,
    France « 14:05 », English its month first and a 12-hour clock."""
    from zoneinfo import ZoneInfo

    minute = int(datetime(2024, 3, 12, 18, 5, tzinfo=UTC).timestamp() // 60)
    montreal = ZoneInfo("America/Montreal")
    said = {loc: i18n._format_date(minute, montreal, loc, True) for loc in ("fr_CA", "fr_FR", "en")}
    assert said == {
        "fr_CA": "12 mars 2024 à 14 h 05",
        "fr_FR": "12 mars 2024 à 14:05",
        "en": "March 12, 2024 at 2:05 PM",
    }
    assert i18n._format_date(minute, montreal, "fr_CA", False) == "12 mars 2024"


def test_a_french_canadian_dashboard_says_its_hours_with_h(tmp_path):
    app, st = _montreal_app(tmp_path, "    locale: fr_CA\n")
    page = text(app.test_client().get("/"))
    assert 'title="29 novembre 2026 à 21 h 30"' in page
    st.close()


def test_forwarded_email_date_is_the_configured_zones_day(tmp_path, smtp):
    """settings.display.time_zone wins over the machine's (UTC here): the preview and
    the email that leaves both say the Montréal day."""
    from datetime import timedelta

    from aggregator.forward import UNDO_SECONDS

    yaml = (
        f"settings:\n  display:\n    time_zone: America/Montreal\n  mail:\n"
        f"    host: {smtp.host}\n    port: {smtp.port}\n    security: none\n"
        f'    from: "Alex <alex@example.org>"\n'
        f"tabs:\n  - name: A\n    feeds:\n      - url: {NEWS}\n"
    )
    (tmp_path / "contacts.yaml").write_text(
        "- name: Camille\n  email: camille@example.org\n", encoding="utf-8"
    )
    app = app_over(tmp_path, yaml)
    st = app.extensions["aggregator"]
    st.storage.sync_feeds(st.config.feeds, now=NOW)
    st.storage.upsert_entries(NEWS, [entry(NEWS, 1, NOW)], now=NOW)
    eid = st.storage.entries(limit=1)[0][0].id
    preview = st.forwarder.preview(eid, ["camille@example.org"], "Regarde")
    assert "29 novembre 2026" in preview.get_body(("plain",)).get_content()
    st.forwarder.queue(eid, ["camille@example.org"], "Regarde", now=NOW)
    st.forwarder.deliver_due(now=NOW + timedelta(seconds=UNDO_SECONDS + 1))
    sent = smtp.wait_for(1)[0].message.get_body(("plain",)).get_content()
    assert "29 novembre 2026" in sent and "30 novembre" not in sent
    st.close()


# --- config problems: gettext templates, said in French through the catalog -----------

BROKEN_FEEDS = {
    "unknown key": f"tabs:\n  - name: A\n    feeds:\n      - url: {NEWS}\n        titel: X\n",
    "hinted key": f"tabs:\n  - name: A\n    feeds:\n      - url: {NEWS}\n        ever: 1h\n",
    "key not known at all": f"tabs:\n  - name: A\n    zzz: 1\n    feeds:\n      - url: {NEWS}\n",
    "setting at the top": f"refresh: 1h\ntabs:\n  - name: A\n    feeds:\n      - url: {NEWS}\n",
    "duplicate key": f"tabs:\n  - name: A\n    name: B\n    feeds:\n      - url: {NEWS}\n",
    "bad duration": f"settings:\n  refresh: soon\ntabs:\n  - name: A\n    feeds:\n      - url: {NEWS}\n",
    "seconds for minutes": f"settings:\n  refresh: 30\ntabs:\n  - name: A\n    feeds:\n      - url: {NEWS}\n",
    "yes for true": (
        f"settings:\n  allow_private_networks: yes\ntabs:\n  - name: A\n    feeds:\n      - url: {NEWS}\n"
    ),
    "no name, no url": "tabs:\n  - feeds:\n      - title: X\n",
    "feed listed twice": f"tabs:\n  - name: A\n    feeds:\n      - {NEWS}\n      - {NEWS}\n",
    "platform without feeds": "tabs:\n  - name: A\n    feeds:\n      - https://www.linkedin.com/in/alice\n",
    "malformed handle": 'tabs:\n  - name: A\n    feeds:\n      - "@alicé@mastodon.social"\n',
    "handle with a space": 'tabs:\n  - name: A\n    feeds:\n      - "@al ice@mastodon.social"\n',
    "url without scheme": "tabs:\n  - name: A\n    feeds:\n      - url: example.org/feed\n",
    "feeds as a list": "tabs:\n  - name: A\n    feeds: [[1]]\n",
    "display": (
        "settings:\n  display:\n    time_zone: Europe/Pariss\n    locale: de\n    headlines: 0\n"
        f"    tz: UTC\ntabs:\n  - name: A\n    feeds:\n      - url: {NEWS}\n"
    ),
    "mail": (
        "settings:\n  mail:\n    host: smtp.example.org\n    security: tls\n    password: x\n"
        f"tabs:\n  - name: A\n    feeds:\n      - url: {NEWS}\n"
    ),
    "imap": f"settings:\n  imap:\n    port: 99999\ntabs:\n  - name: A\n    feeds:\n      - url: {NEWS}\n",
    "rules": (
        f"tabs:\n  - name: A\n    feeds:\n      - url: {NEWS}\n"
        "rules:\n  - words: [emploi]\n    actions: [mute]\n    tab: Nope\n"
    ),
    "a colon in a title": CLAIRE,
    "a tab for indentation": "tabs:\n\t- name: A\n",
    "a tag": "tabs: !!python/object x\n",
}
BROKEN_CONTACTS = {
    "address": "- name: Camille\n  email: camille@@example\n",
    "no name": "- email: sam@example.org\n",
    "interests as text": "- name: Sam\n  email: sam@example.org\n  interests: cinéma, emploi\n",
    "twice": "- name: A\n  email: a@example.org\n- name: B\n  email: a@example.org\n",
    "needs": "- name: A\n  email: a@example.org\n  needs:\n    - cherche appart\n",
    "not a list": "name: Sam\n",
}


def _problems(kind: str, yaml: str, tmp_path: Path):
    from aggregator.config.contacts import parse_contacts
    from aggregator.config.feeds import parse_config
    from aggregator.errors import ConfigError

    parse = parse_config if kind == "feeds" else parse_contacts
    try:
        parse(yaml, str(tmp_path / f"{kind}.yaml"))
    except ConfigError as e:
        return e.problems
    raise AssertionError(f"no problem found in {yaml!r}")


@pytest.mark.parametrize(
    ("kind", "yaml"),
    [("feeds", y) for y in BROKEN_FEEDS.values()]
    + [("contacts", y) for y in BROKEN_CONTACTS.values()],
    ids=[f"feeds: {k}" for k in BROKEN_FEEDS] + [f"contacts: {k}" for k in BROKEN_CONTACTS],
)
def test_config_problems_are_templates_said_in_french(kind, yaml, tmp_path):
    """Every problem carries its gettext template and parameters; the English message
    (CLI, log) is their English rendering, and the dashboard's French comes from the
    catalog, hint and "got ..." parts included."""
    from aggregator.config._text import Text

    for problem in _problems(kind, yaml, tmp_path):
        assert isinstance(problem.text, Text), problem
        assert str(problem.text) == problem.message
        english, translated = i18n.config_message(problem, "en")
        assert (english, translated) == (problem.message, True)
        french, translated = i18n.config_message(problem, "fr")
        if "while parsing" in problem.message:
            assert (french, translated) == (problem.message, False)  # the parser's own words
            continue
        assert translated, problem.message
        assert french != problem.message
        for english_word in ("did you mean", " got ", "must be", "is not a", "expected"):
            assert english_word not in french, french


def test_a_hint_is_said_in_the_language_of_its_sentence(tmp_path):
    problems = _problems("feeds", BROKEN_FEEDS["hinted key"], tmp_path)
    (problem,) = problems
    assert problem.message == "'ever' is not a feed key; did you mean 'refresh'?"
    assert i18n.config_message(problem, "fr") == (
        "'ever' n'est pas une clé de « feed » ; vouliez-vous dire 'refresh' ?",
        True,
    )
    (problem,) = _problems("feeds", BROKEN_FEEDS["bad duration"], tmp_path)
    french = i18n.config_message(problem, "fr")[0]
    assert french == (
        "refresh : 'soon' n'est pas une durée ; écrivez un nombre suivi de s, m, h ou d,"
        " par exemple 90s, 15m, 2h, 1d ou 1h30m"
    )


def test_a_message_the_catalog_cannot_say_stays_english(tmp_path, monkeypatch):
    from aggregator.web import catalog

    (problem,) = _problems("feeds", BROKEN_FEEDS["hinted key"], tmp_path)
    single, plural = catalog.load("fr")
    hint = "did you mean 'refresh'?"
    monkeypatch.setattr(
        catalog, "load", lambda lang: ({k: v for k, v in single.items() if k != hint}, plural)
    )
    assert i18n.config_message(problem, "fr") == (problem.message, False)
    assert i18n.config_message("something the catalog does not know", "fr") == (
        "something the catalog does not know",
        False,
    )


def test_every_config_problem_template_has_a_french_translation(template):
    """The N_() templates of aggregator/config, as Babel's extractor finds them."""
    from aggregator.web import catalog

    marked = {
        m.id
        for m in template
        if m.id and any(path.startswith("aggregator/config/") for path, _line in m.locations)
    }
    assert len(marked) > 150
    assert "'%(key)s' is not a %(section)s key (did you mean '%(guess)s'?)" in marked
    single = catalog.load("fr")[0]
    assert sorted(m for m in marked if not single.get(m)) == []


def test_config_problems_pickle_with_their_template(tmp_path):
    import pickle

    from aggregator.config._text import Invalid
    from aggregator.config.values import parse_duration
    from aggregator.errors import ConfigError

    problems = _problems("feeds", BROKEN_FEEDS["unknown key"], tmp_path)
    again = pickle.loads(pickle.dumps(ConfigError(problems)))
    assert again.problems == problems and again.problems[0].text == problems[0].text
    with pytest.raises(Invalid) as caught:
        parse_duration("soon")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert str(copy) == str(caught.value) and copy.text == caught.value.text


def test_a_refused_edit_lists_the_files_problems_in_french(tmp_path):
    from websupport import token as csrf_token

    yaml = f"tabs:\n  - name: A\n    feeds:\n      - url: {NEWS}\n        titel: X\n"
    app = app_over(tmp_path, yaml)
    client = app.test_client()
    r = client.post("/manage/tabs/add", data={"csrf_token": csrf_token(client), "name": "B"})
    assert r.status_code in (302, 303)
    page = text(client.get("/manage"))
    refusal = re.search(r'config-refusal">.*?<ul class="problems">(.*?)</ul>', page, re.S).group(1)
    assert ":5:9: 'titel' n'est pas une clé de « feed » (vouliez-vous dire 'title' ?)" in refusal
    assert 'lang="en"' not in refusal
    app.extensions["aggregator"].close()


def test_counted_messages_are_plurals():
    """« Lettre de 1 articles », « 1 onglets », "Forwarded 1 times": counts go through
    ngettext, in French (singular for 0 and 1) as in English."""
    say = i18n.translate_plural
    letter = (
        "Letter of %(n)s article queued for %(name)s.",
        "Letter of %(n)s articles queued for %(name)s.",
    )
    assert say(*letter, 1, "fr", name="Sam") == "Lettre de 1 article en partance pour Sam."
    assert say(*letter, 3, "en", name="Sam") == "Letter of 3 articles queued for Sam."
    tabs = say("%(n)s tab", "%(n)s tabs", 1, "fr")
    imported = ("%(n)s feed imported into %(tabs)s: it is fetched within a minute.",
                "%(n)s feeds imported into %(tabs)s: they are fetched within a minute.")  # fmt: skip
    assert say(*imported, 1, "fr", tabs=tabs) == (
        "1 flux importé dans 1 onglet : il sera récupéré d'ici une minute."
    )
    assert say("Forwarded %(n)s time", "Forwarded %(n)s times", 1, "en") == "Forwarded 1 time"
