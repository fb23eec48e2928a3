"""Addresses that reach an envelope or a header must be exactly what the person sees.

Issue 7, item 7: a contact address holding a NUL or another control character was
accepted, and the envelope (RCPT TO) then differed from the ``To:`` shown. Every
address the YAML files give (contacts, settings.mail from / reply_to, and so the copy
sent to oneself) and the dashboard's « add a contact » form go through
``aggregator.config.values``; these tests walk each path with the characters that
hide or change an address: C0 and C1 controls (NUL, TAB, CR, LF, ESC, DEL, NEL),
U+2028/2029, bidirectional overrides and isolates, zero-width and non-ASCII spaces.
"""

from __future__ import annotations

import unicodedata
from email.utils import parseaddr
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websupport import FEEDS_YAML, make_app, token

from aggregator.config import load_config, load_contacts, save_contact
from aggregator.config.values import check_address, check_mailbox
from aggregator.errors import ConfigError
from aggregator.forward import Forwarder
from aggregator.models import Contact
from aggregator.storage import Storage

# (as written inside a YAML double-quoted string, the character it stands for)
HIDDEN = [
    (r"\0", "\x00"),  # NUL: SMTP servers and C libraries cut the address there
    (r"\t", "\t"),
    (r"\e", "\x1b"),
    (r"\x7f", "\x7f"),  # DEL
    (r"\N", "\x85"),  # NEL, a C1 control
    (r"\x9b", "\x9b"),  # CSI, a C1 control
    (r"\L", "\u2028"),  # LINE SEPARATOR
    (r"\P", "\u2029"),  # PARAGRAPH SEPARATOR
    (r"\u202e", "\u202e"),  # RIGHT-TO-LEFT OVERRIDE: shows another address
    (r"\u2066", "\u2066"),  # LEFT-TO-RIGHT ISOLATE
    (r"\u200f", "\u200f"),  # RIGHT-TO-LEFT MARK
    (r"\u200b", "\u200b"),  # ZERO WIDTH SPACE
    (r"\ufeff", "\ufeff"),  # BYTE ORDER MARK / zero width no-break space
    (r"\u00ad", "\u00ad"),  # SOFT HYPHEN (invisible)
    (r"\_", "\xa0"),  # NO-BREAK SPACE
    (r"\u3000", "\u3000"),  # IDEOGRAPHIC SPACE
]
IDS = [f"U+{ord(c):04X}" for _, c in HIDDEN]


def code(c: str) -> str:
    return f"U+{ord(c):04X}"


# --- contacts.yaml -----------------------------------------------------------------


@pytest.mark.parametrize(("escape", "char"), HIDDEN, ids=IDS)
@pytest.mark.parametrize("where", ["inside", "end"])
def test_contacts_yaml_refuses_hidden_characters_with_file_line_col(
    tmp_path: Path, escape: str, char: str, where: str
) -> None:
    address = (
        f"cam{escape}ille@example.org" if where == "inside" else f"camille@example.org{escape}"
    )
    path = tmp_path / "contacts.yaml"
    path.write_text(
        "# mes contacts\n"
        "- name: Sam\n"
        "  email: sam@example.com\n"
        "- name: Camille\n"
        f'  email: "{address}"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_contacts(path)
    (problem,) = info.value.problems
    assert (problem.file, problem.line, problem.col) == (str(path), 5, 10)
    assert problem.message.startswith("email: ")
    assert f"invisible or control character ({code(char)}" in problem.message


def test_contacts_yaml_refuses_raw_hidden_characters_and_spaces(tmp_path: Path) -> None:
    # Written as they are, not escaped (a paste from a web page or a chat).
    path = tmp_path / "contacts.yaml"
    path.write_text(
        "- name: A\n  email: a\u202egro.elpmaxe@evil.example\n"
        "- name: B\n  email: b\u200b@example.org\n"
        "- name: C\n  email: c d@example.org\n"
        '- name: D\n  email: "d@example.org\\r\\nBcc: x@evil.example"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_contacts(path)
    got = [(p.line, p.col, p.message) for p in info.value.problems]
    assert [g[:2] for g in got] == [(2, 10), (4, 10), (6, 10), (8, 10)]
    assert "U+202E, RIGHT-TO-LEFT OVERRIDE" in got[0][2]
    assert "U+200B, ZERO WIDTH SPACE" in got[1][2]
    assert "'c d@example.org' is not an email address" in got[2][2]
    assert "must fit on one line" in got[3][2]


def test_contacts_yaml_still_takes_ordinary_and_international_addresses(tmp_path: Path) -> None:
    path = tmp_path / "contacts.yaml"
    path.write_text(
        "- name: A\n  email: camille.exemple+films@example.org\n"
        "- name: B\n  email: '  zoé@exemple.fr  '\n"  # spaces around are trimmed
        "- name: C\n  email: 用户@例子.广告\n",
        encoding="utf-8",
    )
    assert [c.email for c in load_contacts(path)] == [
        "camille.exemple+films@example.org",
        "zoé@exemple.fr",
        "用户@例子.广告",
    ]


# --- the dashboard's add-contact path ------------------------------------------------


@pytest.mark.parametrize(("escape", "char"), HIDDEN, ids=IDS)
def test_save_contact_refuses_hidden_characters_and_leaves_the_file(
    tmp_path: Path, escape: str, char: str
) -> None:
    path = tmp_path / "contacts.yaml"
    path.write_text("- name: Sam\n  email: sam@example.com\n", encoding="utf-8")
    before = path.read_bytes()
    for email in (f"cam{char}ille@example.org", f"camille@example.org{char}"):
        with pytest.raises(ConfigError) as info:
            save_contact(path, Contact("Camille", email, ()))
        (problem,) = info.value.problems
        assert problem.file == str(path)
        assert f"invisible or control character ({code(char)}" in problem.message, email
        # editing an existing contact goes the same way
        with pytest.raises(ConfigError):
            save_contact(path, Contact("Sam", email, ()), original_email="sam@example.com")
    assert path.read_bytes() == before


@pytest.fixture
def site(tmp_path: Path) -> dict:
    config = tmp_path / "feeds.yaml"
    config.write_text(FEEDS_YAML, encoding="utf-8")
    (tmp_path / "contacts.yaml").write_text(
        "- name: Sam\n  email: sam@example.com\n", encoding="utf-8"
    )
    return {"config": config, "db": tmp_path / "data" / "agg.sqlite3", "dir": tmp_path}


def test_forwarder_add_contact_refuses_hidden_characters(site: dict) -> None:
    from aggregator.config import ConfigSource, ContactSource

    storage = Storage(site["db"])
    try:
        fw = Forwarder(
            storage,
            ConfigSource(site["config"]),
            ContactSource(site["dir"] / "contacts.yaml"),
            outbox_dir=site["dir"] / "outbox",
            password="",
        )
        for _, char in HIDDEN:
            with pytest.raises(ConfigError, match="invisible or control character"):
                fw.add_contact("Camille", f"cam{char}ille@example.org")
        assert [c.email for c in fw.contacts] == ["sam@example.com"]
        assert fw.add_contact("Camille", " camille@example.org\n").email == "camille@example.org"
    finally:
        storage.close()


def test_dashboard_form_refuses_hidden_characters(site: dict) -> None:
    app = make_app(site, AGGREGATOR_CONTACTS=str(site["dir"] / "contacts.yaml"))
    client = app.test_client()
    csrf = token(client)
    path = site["dir"] / "contacts.yaml"
    before = path.read_bytes()
    try:
        for _, char in HIDDEN:
            r = client.post(
                "/contacts",
                data={"csrf_token": csrf, "name": "Camille", "email": f"cam{char}ille@example.org"},
                headers={"Accept": "application/json"},
            )
            assert r.status_code == 400, code(char)
            if "problems" in r.json:  # refused by the config layer
                (problem,) = r.json["problems"]
                # said in French by the dashboard (issue 10: config problems via the catalog)
                assert f"caractère invisible ou de contrôle ({code(char)}" in problem
            else:  # or before, by the form's own check of control characters (C0, C1)
                assert unicodedata.category(char) == "Cc", r.json
        assert path.read_bytes() == before
        r = client.post(
            "/contacts",
            data={"csrf_token": csrf, "name": "Camille", "email": "camille@example.org"},
            headers={"Accept": "application/json"},
        )
        assert r.status_code == 201 and r.json["contact"]["email"] == "camille@example.org"
        # A dashboard edit shows at once (our own atomic write needs no settling).
        assert "camille@example.org" in client.get("/contacts").get_data(as_text=True)
    finally:
        app.extensions["aggregator"].close()


# --- settings.mail in feeds.yaml ---------------------------------------------------

MAIL = """\
tabs: []
settings:
  mail:
    host: {host}
    username: {username}
    from: {sender}
    reply_to: {reply_to}
    copy_to_me: true
"""
OK = {
    "host": "smtp.example.org",
    "username": "alex",
    "sender": '"Alex Exemple <alex@example.org>"',
    "reply_to": "alex@example.org",
}
LINES = {"host": 4, "username": 5, "sender": 6, "reply_to": 7}


@pytest.mark.parametrize(("escape", "char"), HIDDEN, ids=IDS)
@pytest.mark.parametrize("key", ["host", "username", "sender", "reply_to"])
def test_mail_settings_refuse_hidden_characters(
    tmp_path: Path, key: str, escape: str, char: str
) -> None:
    values = dict(OK)
    if key == "sender":  # in the display name too: the whole value is a header
        values[key] = f'"Al{escape}ex Exemple <alex@example.org>"'
    elif key == "host":
        values[key] = f'"smtp.exa{escape}mple.org"'
    else:
        values[key] = f'"al{escape}ex@example.org"'
    path = tmp_path / "feeds.yaml"
    path.write_text(MAIL.format(**values), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    name = "from" if key == "sender" else key
    assert (problem.line, problem.message.split(":")[0]) == (LINES[key], name)
    assert code(char) in problem.message
    assert "invisible or control character" in problem.message


def test_mail_settings_still_take_ordinary_values(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(MAIL.format(**OK), encoding="utf-8")
    mail = load_config(path).settings.mail
    assert mail is not None
    assert (mail.host, mail.username, mail.sender, mail.reply_to, mail.copy_to_me) == (
        "smtp.example.org",
        "alex",
        "Alex Exemple <alex@example.org>",
        "alex@example.org",
        True,
    )


# --- properties --------------------------------------------------------------------

HIDDEN_CATEGORIES = ("Cc", "Cf", "Zl", "Zp", "Zs")
hidden_chars = st.characters(categories=HIDDEN_CATEGORIES)
local = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789.+_-é"), min_size=1)
domain = st.sampled_from(["example.org", "exemple.fr", "例子.广告", "mail.example.co.uk"])


@settings(max_examples=300, deadline=None)
@given(local=local, domain=domain, char=hidden_chars, data=st.data())
def test_a_hidden_character_anywhere_is_refused(local: str, domain: str, char: str, data) -> None:
    address = f"{local}@{domain}"
    at = data.draw(st.integers(min_value=0, max_value=len(address)))
    spoiled = address[:at] + char + address[at:]
    if spoiled.strip(" ") != spoiled:  # a plain space at either end is trimmed: fine
        return
    assert unicodedata.category(char) in HIDDEN_CATEGORIES
    with pytest.raises(ValueError):
        check_address(spoiled)
    with pytest.raises(ValueError):
        check_mailbox(spoiled)
    with pytest.raises(ValueError):
        check_mailbox(f"Alex <{spoiled}>")


@settings(max_examples=500, deadline=None)
@given(raw=st.text(max_size=40))
def test_an_accepted_address_is_what_the_envelope_uses(raw: str) -> None:
    """Whatever the input, an accepted address is visible characters only, and the
    address a mail library reads from it is that very text."""
    for check in (check_address, check_mailbox):
        try:
            addr = check(raw)
        except ValueError:
            continue
        assert all(c.isprintable() and not c.isspace() for c in addr), repr(addr)
        assert parseaddr(addr) == ("", addr)
        if check is check_address:
            assert addr == raw.strip(" ")


@pytest.mark.parametrize("sender", ["alex @example.org", "Alex <alex@ example.org>"])
def test_a_sender_address_is_used_as_written_or_refused(tmp_path: Path, sender: str) -> None:
    # parseaddr would quietly read 'alex@example.org' out of these.
    path = tmp_path / "feeds.yaml"
    path.write_text(MAIL.format(**{**OK, "sender": f'"{sender}"'}), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert (problem.line, problem.col) == (6, 11)
    assert problem.message == (
        f"from: '{sender}' is not an email address"
        " (expected 'Name <name@example.org>' or name@example.org)"
    )
