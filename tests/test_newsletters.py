"""Newsletters from a real IMAP server: a throwaway Dovecot on 127.0.0.1 (tests/imapserver.py),
plain, STARTTLS and TLS, one per module; real newsletter-shaped .eml files delivered
into its maildir (tests/data/mail/); real SQLite files; a real HTTP feed beside the
mail sources (tests/feedserver.py); a real aiosmtpd for the forward; the CLI as a
subprocess. Each test reads its own folder, so they share the server safely.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import ssl
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from imapserver import ImapServer

from aggregator.config import ConfigSource, ContactSource, load_config
from aggregator.forward import Forwarder
from aggregator.models import MailSource
from aggregator.newsletters import PASSWORD_ENV
from aggregator.storage import Storage
from aggregator.update import Updater

MAIL = Path(__file__).parent / "data" / "mail"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
FEED = "/feeds/fetch-basic.xml"


@pytest.fixture(scope="module")
def imap(tmp_path_factory) -> ImapServer:
    with ImapServer(tmp_path_factory.mktemp("dovecot")) as server:
        yield server


@pytest.fixture
def password(monkeypatch, imap):
    monkeypatch.setenv(PASSWORD_ENV, imap.password)
    return imap.password


def eml(name: str) -> bytes:
    return (MAIL / f"{name}.eml").read_bytes()


def trust(imap: ImapServer) -> dict:
    return {"ssl_context": ssl.create_default_context(cafile=str(imap.ca_file))}


class Site:
    """feeds.yaml + database for one test; ``poll()`` runs one refresh of every source."""

    def __init__(self, tmp_path: Path, imap: ImapServer, sources: list[str], *,
                 security: str = "none", port: int | None = None, feed_url: str | None = None,
                 settings: str = "", trusted: bool = True) -> None:  # fmt: skip
        self.tmp = tmp_path
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.imap = imap
        self.config_path = tmp_path / "feeds.yaml"
        self.db = tmp_path / "data" / "agg.sqlite3"
        if port is None:
            port = imap.tls_port if security == "ssl" else imap.port
        feeds = "".join(f"      - {s}\n" for s in sources)
        if feed_url:
            feeds += f"      - {feed_url}\n"
        self.config_path.write_text(
            encoding="utf-8",
            data="settings:\n"
            "  allow_private_networks: true\n"
            f"{settings}"
            "  imap:\n"
            f"    host: {imap.host}\n"
            f"    port: {port}\n"
            f"    security: {security}\n"
            f"    username: {imap.user}\n"
            "tabs:\n"
            "  - name: Bulletins\n"
            "    feeds:\n" + feeds,
        )
        self.config = load_config(self.config_path)
        self.trusted = trusted
        self.storage = Storage(self.db)
        self.storage.sync_feeds(self.config.feeds, now=NOW)

    def updater(self) -> Updater:
        return Updater(
            self.storage,
            self.config.settings,
            mail_options=trust(self.imap) if self.trusted else {},
        )

    def poll(self, now: datetime = NOW):
        updater = self.updater()
        try:
            summary = updater.update(self.storage.feeds(), now=now)
        finally:
            updater.close()
        return {o.url: o for o in summary.outcomes}

    def mail_urls(self) -> list[str]:
        return [f.url for f in self.config.feeds if MailSource.from_key(f.url)]

    def entries(self, url: str | None = None):
        found, _ = self.storage.entries(feed_url=url, limit=500)
        return found

    def restart(self) -> None:
        """A new process: a new Storage (and Updater) on the same file."""
        self.storage.close()
        self.storage = Storage(self.db)

    def close(self) -> None:
        self.storage.close()


@pytest.fixture
def site_factory(tmp_path, imap):
    made: list[Site] = []

    def make(*sources: str, **kw) -> Site:
        site = Site(tmp_path / f"site{len(made)}", imap, list(sources), **kw)
        made.append(site)
        return site

    yield make
    for site in made:
        site.close()


def folder() -> str:
    return f"T{uuid.uuid4().hex[:10]}"


# --- messages become items -----------------------------------------------------------


@pytest.mark.parametrize("security", ["none", "starttls", "ssl"])
def test_a_folder_becomes_items_read_only_and_only_new_messages_are_fetched(
    imap, password, site_factory, security
):
    name = folder()
    for n in ("substack", "festival-latin1", "plain-only"):
        imap.deliver(name, eml(n))
    site = site_factory(f"mail: {name}", security=security)
    (url,) = site.mail_urls()

    outcome = site.poll()[url]
    assert outcome.state == "ok" and outcome.new_entries == 3, outcome.error
    items = {e.title: e for e in site.entries(url)}
    assert set(items) == {
        "Les subventions de décembre 🎭",
        "Programmation de l'été indien",
        "Assemblee generale le 12 decembre",
    }
    letter = items["Les subventions de décembre 🎭"]
    assert letter.link == "https://lettre.substack.example/p/subventions-decembre"
    assert letter.author == "La Lettre des Subventions"
    assert letter.tab == "Bulletins" and letter.feed_title == name
    assert "track.example.net" not in letter.content_html
    assert letter.published == datetime(2026, 11, 24, 7, 30, tzinfo=UTC)
    assert items["Assemblee generale le 12 decembre"].link is None  # the dashboard's page

    # BODY.PEEK on an EXAMINEd folder: nothing marked read, nothing moved or deleted
    flags = imap.flags(name)
    assert len(flags) == 3
    assert not any("\\Seen" in f or "\\Deleted" in f for f in flags), flags
    assert imap.count(name) == 3
    state = site.storage.feed(url)
    assert state.last_error is None and state.next_check > NOW

    # the next poll fetches only what arrived since
    assert site.poll(NOW + timedelta(hours=1))[url].state == "not_modified"
    imap.deliver(name, eml("hostile"))
    again = site.poll(NOW + timedelta(hours=2))[url]
    assert again.new_entries == 1
    assert len(site.entries(url)) == 4
    assert site.storage.mailbox(url)[1] == 4


def test_search_finds_mail_items(imap, password, site_factory):
    name = folder()
    imap.deliver(name, eml("festival-latin1"))
    site = site_factory(f"mail: {name}")
    site.poll()
    found, _ = site.storage.search("halle aux grains", limit=10)
    assert [e.title for e in found] == ["Programmation de l'été indien"]


def test_sender_filter_and_split_links(imap, password, site_factory):
    name = folder()
    imap.deliver(name, eml("substack"))  # another sender: skipped, but passed over
    imap.deliver(name, eml("jobs-digest"))
    imap.deliver(name, eml("festival-latin1"))
    site = site_factory(
        f'{{mail: {name}, from: ["*@cnc.fr", lettre@festival.example], split: links}}'
    )
    (url,) = site.mail_urls()
    assert site.poll()[url].new_entries == 4
    titles = sorted(e.title for e in site.entries(url))
    assert titles == [
        "Chargé·e de production",
        "Médiatrice culturelle",
        "Programmation de l'été indien",  # no entry links: the letter stays whole
        "Régisseur général",
    ]
    assert site.storage.mailbox(url)[1] == 3  # the skipped message is not asked again


def test_a_long_backlog_comes_in_shares_and_the_first_poll_takes_the_newest(
    imap, password, site_factory, monkeypatch
):
    import aggregator.newsletters._imap as imap_module

    monkeypatch.setattr(imap_module, "FIRST_POLL", 4)
    monkeypatch.setattr(imap_module, "PER_POLL", 2)
    name = folder()
    for n in ("substack", "festival-latin1", "jobs-digest", "plain-only", "hostile"):
        imap.deliver(name, eml(n))
    site = site_factory(f"mail: {name}")
    (url,) = site.mail_urls()
    assert site.poll()[url].new_entries == 2  # UIDs 2 and 3: the oldest one is left out
    assert site.storage.feed(url).next_check == NOW  # the rest at the next tick
    assert site.poll(NOW)[url].new_entries == 2
    assert site.storage.feed(url).next_check > NOW
    assert site.poll(NOW + timedelta(hours=1))[url].state == "not_modified"
    titles = {e.title for e in site.entries(url)}
    assert "Les subventions de décembre 🎭" not in titles and len(titles) == 4


def test_the_scheduler_tick_polls_mail_sources_and_feeds_alike(
    imap, password, site_factory, feed_server
):
    from aggregator.update import Worker

    name = folder()
    imap.deliver(name, eml("substack"))
    site = site_factory(f"mail: {name}", feed_url=feed_server.url(FEED))
    worker = Worker(ConfigSource(site.config_path), site.storage, mail_options=trust(imap))
    try:
        summary = worker.tick(now=NOW)
        assert summary.count("error") == 0 and summary.new_entries > 1
        assert worker.tick(now=NOW + timedelta(minutes=1)).outcomes == []  # nothing due
    finally:
        worker.close()
    (url,) = site.mail_urls()
    assert [e.title for e in site.entries(url)] == ["Les subventions de décembre 🎭"]


# --- bad input -----------------------------------------------------------------------


def test_hostile_malformed_and_undated_messages(imap, password, site_factory):
    name = folder()
    for n in ("hostile", "malformed"):
        imap.deliver(name, eml(n))
    # no Date header: the item is dated when the server received the message
    arrived = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    for path in (imap.folder_path(name) / "new").iterdir():
        os.utime(path, (arrived.timestamp(), arrived.timestamp()))
    site = site_factory(f"mail: {name}")
    (url,) = site.mail_urls()
    assert site.poll()[url].new_entries == 2
    items = {e.guid: e for e in site.entries(url)}
    hostile = items["mid:hostile-1@hostile.example"]
    assert hostile.title == "Offre spéciale Bcc: victim@example.org suite"
    for bad in ("<script", "<form", "<input", "javascript:", "onload", "<iframe"):
        assert bad not in hostile.content_html
    assert hostile.published == arrived
    broken = items["mid:broken-1@example.org"]
    assert "Le texte est lisible." in broken.content_html
    assert broken.published == arrived


def test_a_50_mb_message_is_capped_and_the_rest_keeps_flowing(imap, password, site_factory):
    name = folder()
    head = eml("substack").split(b"\r\n--b1--")[0]
    big = head.replace(b'multipart/alternative; boundary="b1"', b'multipart/mixed; boundary="b1"')
    blob = (b"QUJDRA" * 13 + b"\r\n") * (50 * 1024 * 1024 // 80)
    big += b"\r\n--b1\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
    big += b'Content-Disposition: attachment; filename="catalogue.pdf"\r\n\r\n' + blob
    big += b"\r\n--b1--\r\n"
    assert len(big) > 50 * 1024 * 1024
    imap.deliver(name, big)
    imap.deliver(name, eml("plain-only"))
    site = site_factory(f"mail: {name}", settings="  max_size: 1MB\n")
    (url,) = site.mail_urls()
    started = time.monotonic()
    outcome = site.poll()[url]
    assert outcome.new_entries == 2, outcome.error
    assert time.monotonic() - started < 20
    items = {e.title: e for e in site.entries(url)}
    capped = items["Les subventions de décembre 🎭"]
    assert "au-delà de la limite" in capped.content_html
    assert "le fonds pour la création théâtrale" in capped.content_html
    assert len(capped.content_html) < 100_000
    assert "Assemblee generale le 12 decembre" in items


def test_uidvalidity_change_reads_the_folder_again_without_duplicates(imap, password, site_factory):
    name = folder()
    imap.deliver(name, eml("substack"))
    imap.deliver(name, eml("jobs-digest"))
    site = site_factory(f"mail: {name}")
    (url,) = site.mail_urls()
    assert site.poll()[url].new_entries == 2
    old_validity, _ = site.storage.mailbox(url)

    imap.set_uidvalidity(name, old_validity + 1000)  # UIDs restart at 1
    imap.deliver(name, eml("festival-latin1"))  # arrived meanwhile
    outcome = site.poll(NOW + timedelta(hours=1))[url]
    assert outcome.state == "ok" and outcome.new_entries == 1
    guids = [e.guid for e in site.entries(url)]
    assert sorted(guids) == sorted(set(guids)) and len(guids) == 3
    assert site.storage.mailbox(url) == (old_validity + 1000, 3)


def test_connection_dropped_mid_fetch_loses_nothing_and_duplicates_nothing(
    imap, password, site_factory, feed_server
):
    name = folder()
    for n in ("substack", "festival-latin1", "jobs-digest"):
        imap.deliver(name, eml(n))
    with imap.proxy() as proxy:
        site = site_factory(f"mail: {name}", port=proxy.port, feed_url=feed_server.url(FEED))
        (url,) = site.mail_urls()
        proxy.cut_after_fetch(2500)  # in the middle of the first message's body
        outcomes = site.poll()
        assert proxy.cuts == 1
        assert outcomes[url].state == "error"
        assert outcomes[url].error.code == "imap_dropped"
        assert outcomes[feed_server.url(FEED)].state == "ok"  # the other feed kept polling
        assert site.entries(url) == [] and site.storage.mailbox(url) is None
        state = site.storage.feed(url)
        assert state.consecutive_errors == 1 and state.last_error_code == "imap_dropped"
        assert state.next_check > NOW  # the same backoff as a feed

        proxy.cut_after_fetch(None)
        later = NOW + timedelta(hours=1)
        assert site.poll(later)[url].new_entries == 3
        assert site.storage.feed(url).consecutive_errors == 0

        # a restart polls again: nothing twice, and what arrives next exactly once
        site.restart()
        assert site.poll(later + timedelta(hours=1))[url].new_entries == 0
        # a crash between storing the items and recording the UID (the worst moment):
        with sqlite3.connect(site.db) as db:
            db.execute("DELETE FROM mailboxes")
        site.restart()
        imap.deliver(name, eml("plain-only"))
        assert site.poll(later + timedelta(hours=2))[url].new_entries == 1
    guids = [e.guid for e in site.entries(url)]
    assert len(guids) == 4 == len(set(guids))


def test_a_server_that_hangs_mid_fetch_times_out_for_that_source_only(
    imap, password, site_factory, feed_server
):
    name = folder()
    imap.deliver(name, eml("substack"))
    with imap.proxy() as proxy:
        site = site_factory(
            f"mail: {name}",
            port=proxy.port,
            feed_url=feed_server.url(FEED),
            settings="  timeout: 1s\n",
        )
        (url,) = site.mail_urls()
        proxy.cut_after_fetch(1500, stall=True)
        started = time.monotonic()
        outcomes = site.poll()
        assert time.monotonic() - started < 15
    assert outcomes[url].error.code == "imap_timeout"
    assert outcomes[feed_server.url(FEED)].state == "ok"
    assert site.entries(url) == [] and site.storage.mailbox(url) is None


def test_a_server_that_went_away_is_an_error_of_that_source_only(
    tmp_path, monkeypatch, site_factory, feed_server
):
    """Dovecot stopped (its process gone): refused, and the feed beside it is fine."""
    with ImapServer(tmp_path / "doomed") as server:
        name = folder()
        server.deliver(name, eml("substack"))
        monkeypatch.setenv(PASSWORD_ENV, server.password)
        site = site_factory(f"mail: {name}", feed_url=feed_server.url(FEED))
        site.imap = server
        site.config = load_config(_rewrite(site.config_path, site.config_path.read_text(), server))
        (url,) = site.mail_urls()
        assert site.poll()[url].new_entries == 1
        server.stop()
        outcomes = site.poll(NOW + timedelta(hours=1))
    assert outcomes[url].error.code == "imap_unreachable"
    assert outcomes[feed_server.url(FEED)].state in ("ok", "not_modified")
    assert len(site.entries(url)) == 1


def _rewrite(path: Path, text: str, server: ImapServer) -> Path:
    import re

    path.write_text(re.sub(r"port: \d+", f"port: {server.port}", text), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("wrong_password", "imap_login"),
        ("missing_folder", "imap_folder"),
        ("unreachable", "imap_unreachable"),
        ("untrusted_certificate", "imap_tls"),
        ("no_password", "imap_no_password"),
    ],
)
def test_each_failure_is_a_plain_error_of_that_source_only(
    imap, monkeypatch, site_factory, feed_server, case, code
):
    monkeypatch.setenv(PASSWORD_ENV, imap.password)
    name = folder()
    imap.deliver(name, eml("substack"))
    kw: dict = {"feed_url": feed_server.url(FEED)}
    source = f"mail: {name}"
    if case == "wrong_password":
        monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    elif case == "missing_folder":
        source = "mail: NoSuchFolder"
    elif case == "unreachable":
        with __import__("socket").socket() as s:
            s.bind(("127.0.0.1", 0))
            kw["port"] = s.getsockname()[1]
    elif case == "untrusted_certificate":
        kw.update(security="ssl", trusted=False)
    elif case == "no_password":
        monkeypatch.delenv(PASSWORD_ENV)
    site = site_factory(source, f"mail: {name}-other", **kw)
    urls = site.mail_urls()
    outcomes = site.poll()
    for url in urls:
        assert outcomes[url].state == "error"
        assert outcomes[url].error.code in (code, "imap_folder")
    assert outcomes[urls[0]].error.code == code
    assert outcomes[feed_server.url(FEED)].state == "ok"
    assert site.entries(feed_server.url(FEED))
    state = site.storage.feed(urls[0])
    assert state.last_error_code == code and state.consecutive_errors == 1
    first_retry = state.next_check
    site.poll(first_retry)
    assert site.storage.feed(urls[0]).next_check - first_retry > first_retry - NOW  # backs off


def test_the_password_never_reaches_a_log_the_database_or_a_file(
    imap, monkeypatch, site_factory, caplog, tmp_path
):
    name = folder()
    imap.deliver(name, eml("plain-only"))
    caplog.set_level(logging.DEBUG)
    secrets = [imap.password, "Wr0ng-But-Secret-Passw0rd"]
    site = site_factory(f"mail: {name}")
    (url,) = site.mail_urls()
    monkeypatch.setenv(PASSWORD_ENV, secrets[1])
    assert site.poll()[url].error.code == "imap_login"
    monkeypatch.setenv(PASSWORD_ENV, secrets[0])
    assert site.poll(NOW + timedelta(days=1))[url].new_entries == 1
    site.close()
    for secret in secrets:
        assert secret not in caplog.text
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
    state_text = repr(Storage(site.db).feed(url))
    assert not any(s in state_text for s in secrets)


def test_dashboard_shows_mail_items_and_says_the_error_in_french(imap, monkeypatch, site_factory):
    from websupport import make_app

    name = folder()
    imap.deliver(name, eml("plain-only"))
    monkeypatch.setenv(PASSWORD_ENV, imap.password)
    site = site_factory(f"mail: {name}")
    site.poll()
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    site.poll(NOW + timedelta(days=1))
    (item,) = site.entries()
    site.storage.close()
    client = make_app({"config": site.config_path, "db": site.db}).test_client()
    fr = {"Accept-Language": "fr"}
    status = client.get("/feeds", headers=fr).get_data(as_text=True)
    assert "Le serveur de messagerie a refusé l&#39;identifiant" in status
    river = client.get("/", headers=fr).get_data(as_text=True)
    assert "Assemblee generale le 12 decembre" in river
    page = client.get(f"/entry/{item.id}", headers=fr)
    assert page.status_code == 200
    assert "salle des fetes" in page.get_data(as_text=True)


# --- forwarding a mail item ----------------------------------------------------------


def test_forward_points_to_the_online_version_and_never_leaks_the_unsubscribe_link(
    imap, password, site_factory, smtp
):
    name = folder()
    imap.deliver(name, eml("substack"))
    imap.deliver(name, eml("plain-only"))
    site = site_factory(
        f"mail: {name}",
        settings=(
            f"  mail:\n    host: {smtp.host}\n    port: {smtp.port}\n    security: none\n"
            "    from: Alex <alex@example.org>\n"
        ),
    )
    site.poll()
    contacts = site.tmp / "contacts.yaml"
    contacts.write_text("- name: Camille\n  email: camille@example.org\n  interests: [théâtre]\n")
    forwarder = Forwarder(
        site.storage,
        ConfigSource(site.config_path),
        ContactSource(contacts),
        outbox_dir=site.tmp / "outbox",
        password="",
        timeout=5,
    )
    items = {e.title: e for e in site.entries()}
    for title in ("Les subventions de décembre 🎭", "Assemblee generale le 12 decembre"):
        forwarder.queue(items[title].id, ["camille@example.org"], "Pour toi", now=NOW)
    forwarder.deliver_due(now=NOW + timedelta(minutes=1))
    letter, plain = (m.message for m in smtp.wait_for(2))
    for message in (letter, plain):
        raw = message.as_string()
        for personal in ("PERSONAL-TOKEN-42", "unsub-42", "alex-5555", "unsubscribe"):
            assert personal not in raw
    text = letter.get_body(("plain",)).get_content()
    assert "https://lettre.substack.example/p/subventions-decembre" in text
    assert "fonds pour la" in text
    assert "salle des fetes" in plain.get_body(("plain",)).get_content()


# --- the command line ----------------------------------------------------------------


def run(site: Site, *args: str, password: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != PASSWORD_ENV}
    if password is not None:
        env[PASSWORD_ENV] = password
    env["SSL_CERT_FILE"] = str(site.imap.ca_file)
    return subprocess.run(
        [sys.executable, "-m", "aggregator", "--config", str(site.config_path),
         "--db", str(site.db), *args],
        capture_output=True, text=True, env=env, timeout=50,
    )  # fmt: skip


def test_cli_check_fetch_and_mail_test_imap(imap, site_factory):
    name = folder()
    imap.deliver(name, eml("substack"))
    site = site_factory(f"mail: {name}", "mail: Missing", security="ssl")
    site.storage.close()

    checked = run(site, "check")
    assert checked.returncode == 0, checked.stderr
    assert f"imap: {imap.user} on 127.0.0.1:{imap.tls_port} (ssl); 2 mail sources" in checked.stdout
    assert f"{PASSWORD_ENV} is not" in checked.stderr

    listed = run(site, "mail-test", "--imap", password=imap.password)
    assert f"logged in to 127.0.0.1:{imap.tls_port} (ssl) as {imap.user}" in listed.stdout
    assert f"  {name}  (1 messages)  <- read by feeds.yaml" in listed.stdout
    assert "the folder 'Missing' of feeds.yaml does not exist" in listed.stderr
    assert listed.returncode == 1

    refused = run(site, "mail-test", "--imap", password="nope")
    assert refused.returncode == 1
    assert "refused the user name or password" in refused.stderr and "nope" not in refused.stderr

    fetched = run(site, "fetch", password=imap.password)
    assert "1 new entries" in fetched.stdout, fetched.stderr
    assert "failed: imap://" in fetched.stderr and "Missing" in fetched.stderr
    assert imap.password not in fetched.stdout + fetched.stderr
