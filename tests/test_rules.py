"""Your own rules (issue 13): ``rules:`` in feeds.yaml validated at file:line:col,
applied at ingest by the worker's tick to entries fetched from a real HTTP server on
127.0.0.1 (highlight, star, mark_read, notify), the « Alertes » view with its
unread count, the hourly alert email through the outbox to a real aiosmtpd server,
and ``aggregator rules [--apply] [--json]`` as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feedserver import FeedServer
from test_forward import ROOT

from aggregator import errors
from aggregator.config import ConfigSource, ContactSource, parse_config
from aggregator.forward import Forwarder
from aggregator.storage import Storage
from aggregator.update import Worker

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def rss(items: list[tuple[str, str, str]]) -> str:
    body = "".join(
        f"<item><guid>{g}</guid><title>{t}</title><link>https://example.org/{g}</link>"
        f"<description>{d}</description><pubDate>Mon, 30 Nov 2026 08:00:00 GMT</pubDate></item>"
        for g, t, d in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Jobs</title>{body}</channel></rss>'


JOBS = [
    ("1", "Monteur vidéo recherché", "Un poste de monteur à Montréal."),
    ("2", "CDI de comptable", "Un emploi stable en CDI."),
    ("3", "Stage au Québec", "Rien pour moi."),
    ("4", "Soirée cinéma", "Une projection gratuite, publicité incluse."),
]


def feeds_yaml(jobs: str, news: str, smtp=None) -> str:
    mail = ""
    if smtp is not None:
        mail = (
            f"  mail:\n    host: {smtp.host}\n    port: {smtp.port}\n    security: none\n"
            '    from: "Alex Exemple <alex@example.org>"\n'
        )
    return f"""\
settings:
  allow_private_networks: true
{mail}tabs:
  - name: Emploi
    feeds:
      - url: {jobs}
  - name: Sorties
    feeds:
      - url: {news}
rules:
  - words: [monteurs, Montreal]
    actions: [highlight, notify]
    email: true
  - phrase: en CDI
    tab: Emploi
    actions: [star]
  - words: [publicité]
    actions: [mark_read]
"""


@pytest.fixture
def site(tmp_path):
    with FeedServer() as server:
        jobs = server.add("/jobs.xml", rss(JOBS[:3]))
        news = server.add("/news.xml", rss(JOBS[3:]))
        config = tmp_path / "feeds.yaml"
        config.write_text(feeds_yaml(jobs, news), encoding="utf-8")
        storage = Storage(tmp_path / "agg.sqlite3")
        yield {"server": server, "config": config, "storage": storage, "jobs": jobs, "news": news}
        storage.close()


def by_title(storage: Storage) -> dict:
    entries, _ = storage.entries(limit=100)
    return {e.title: e for e in entries}


def test_rules_apply_at_ingest_and_alerts_count(site):
    storage = site["storage"]
    worker = Worker(ConfigSource(site["config"]), storage, processes=0)
    try:
        worker.tick(now=NOW)
    finally:
        worker.close()
    got = by_title(storage)
    assert got["CDI de comptable"].starred and not got["Monteur vidéo recherché"].starred
    assert got["Soirée cinéma"].read  # muted by « publicité »
    assert not got["Stage au Québec"].read
    hits = storage.rule_hits(list(e.id for e in got.values()))
    assert hits[got["Monteur vidéo recherché"].id] == ["monteurs, Montreal"]
    assert storage.unseen_alerts() == 1
    assert got["Stage au Québec"].id not in hits
    # the person unstars it: applying again does not star it twice
    storage.set_starred(got["CDI de comptable"].id, False)
    from aggregator import rules

    config = ConfigSource(site["config"]).config
    report = rules.apply_all(storage, config.rules, now=NOW)
    assert report.matched == {"monteurs, Montreal": 1, "en CDI": 1, "publicité": 1}
    assert report.new_hits == 0 and report.starred == 0
    assert not by_title(storage)["CDI de comptable"].starred


def test_rule_scope_keeps_a_tab_rule_inside_its_tab(site):
    site["server"].add("/news.xml", rss(JOBS[3:] + [("5", "Concert", "Payé en CDI, dit-on.")]))
    worker = Worker(ConfigSource(site["config"]), site["storage"], processes=0)
    try:
        worker.tick(now=NOW)
    finally:
        worker.close()
    got = by_title(site["storage"])
    assert not got["Concert"].starred  # « en CDI » is scoped to the tab Emploi


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("  - words: [x]\n    action: [star]\n", "12:5: 'action' is not a rule key; did you mean 'actions'?"),
        ("  - actions: [star]\n", "11:5: this rule has no 'words:' (or 'phrase:') to look for"),
        ("  - words: CDI, stage\n    actions: [star]\n", "11:12: words: must be a list, not a single text; write [CDI, stage]"),
        ("  - words: [x]\n    actions: [mute]\n", "12:14: actions: 'mute' is not an action (did you mean 'mark_read'?)"),
        ("  - words: [x]\n    tab: Nope\n    actions: [star]\n", "12:10: tab: there is no tab 'Nope' (tabs: Emploi, Sorties)"),
        ("  - words: ['!!']\n    actions: [star]\n", "11:12: words: '!!' has no letter or digit to match"),
        ("  - words: [x]\n    actions: [star]\n    email: true\n", "13:12: email: true needs the 'notify' action"),
    ],
)  # fmt: skip
def test_bad_rules_are_refused_at_their_line(rule, message):
    text = feeds_yaml("https://a.example/f", "https://b.example/f").split("rules:")[0]
    with pytest.raises(errors.ConfigError) as caught:
        parse_config(text + "rules:\n" + rule, "feeds.yaml")
    assert f"feeds.yaml:{message}" in str(caught.value)


def cli(config: Path, db: Path, *args):
    return subprocess.run(
        [sys.executable, "-m", "aggregator", "--config", str(config), "--db", str(db), *args],
        capture_output=True, text=True, cwd=ROOT, timeout=30, check=False,
    )  # fmt: skip


def test_cli_rules_counts_applies_and_warns_about_a_rule_matching_everything(site, tmp_path):
    many = [(str(i), f"Offre {i}", "Un emploi pour vous.") for i in range(25)]
    site["server"].add("/jobs.xml", rss(many))
    config = site["config"]
    config.write_text(
        config.read_text("utf-8") + "  - words: [emplois]\n    actions: [highlight]\n", "utf-8"
    )
    worker = Worker(ConfigSource(config), site["storage"], processes=0)
    try:
        worker.tick(now=NOW)
    finally:
        worker.close()
    db = tmp_path / "agg.sqlite3"
    listed = cli(config, db, "rules", "--json")
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    counts = {r["rule"]: r["matches"] for r in data["rules"]}
    assert counts["emplois"] == 25 and counts["publicité"] == 1
    assert "warning:" in listed.stderr and "« emplois » matches 96% of the items" in listed.stderr
    applied = cli(config, db, "rules", "--apply")
    assert applied.returncode == 0, applied.stderr
    assert "applied: 0 new match(es)" in applied.stdout  # the tick did it already


def test_alert_email_is_batched_at_most_hourly_through_the_outbox(site, smtp, tmp_path):
    config = site["config"]
    config.write_text(feeds_yaml(site["jobs"], site["news"], smtp), encoding="utf-8")
    (tmp_path / "contacts.yaml").write_text("[]\n", encoding="utf-8")
    storage = site["storage"]
    worker = Worker(ConfigSource(config), storage, processes=0)
    forwarder = Forwarder(
        storage,
        ConfigSource(config),
        ContactSource(tmp_path / "contacts.yaml"),
        outbox_dir=tmp_path / "outbox",
        password="",
        timeout=5,
    )
    try:
        worker.tick(now=NOW)
        forwarder.deliver_due(now=NOW)
        (first,) = smtp.wait_for(1)
        assert first.rcpt_tos == ["alex@example.org"]
        assert first.message["Subject"] == "Alertes : 1 nouvel article"
        assert "Monteur vidéo recherché" in first.message.get_body(("plain",)).get_content()
        # a second match 10 minutes later waits for the hour
        site["server"].add("/jobs.xml", rss([*JOBS[:3], ("9", "Monteurs à Montréal", "Deux postes.")]))
        worker.tick(now=NOW + timedelta(minutes=40))
        forwarder.deliver_due(now=NOW + timedelta(minutes=41))
        assert len(smtp.messages) == 1
        forwarder.deliver_due(now=NOW + timedelta(minutes=61))
        assert len(smtp.wait_for(2)) == 2
        forwarder.deliver_due(now=NOW + timedelta(hours=3))
        assert len(smtp.messages) == 2  # nothing twice
        assert storage.forwards_to("alex@example.org")[0].kind == "alert"
        # an alert to oneself is not « sent to Alex » on the item
        entry = by_title(storage)["Monteurs à Montréal"]
        assert forwarder.sent_to_by_entry([entry.id]) == {}
    finally:
        worker.close()


def test_alerts_view_counts_new_ones_and_rule_hits_mark_words(site):
    from aggregator.web import create_app

    worker = Worker(ConfigSource(site["config"]), site["storage"], processes=0)
    try:
        worker.tick(now=NOW)
    finally:
        worker.close()
    app = create_app(
        {
            "AGGREGATOR_CONFIG": str(site["config"]),
            "AGGREGATOR_DB": str(site["storage"].path),
            "AGGREGATOR_SECRET_KEY": "rules-test",
            "AGGREGATOR_PASSWORD": None,
        }
    )
    try:
        client = app.test_client()
        home = client.get("/").get_data(as_text=True)
        assert 'href="/alerts" data-alerts-link>Alertes <span class="count">1<' in home
        assert "data-rules-highlight" in home
        page = client.get("/alerts").get_data(as_text=True)
        assert "Monteur vidéo recherché" in page and "nouveau" in page
        assert "CDI de comptable" not in page  # starred by its rule, no alert
        again = client.get("/").get_data(as_text=True)
        assert 'data-alerts-link>Alertes</a>' in again  # seen: the count is gone
        ids = ",".join(str(e.id) for e in by_title(site["storage"]).values())
        hits = client.get(f"/api/rule-hits?ids={ids},x,").get_json()["hits"]
        monteur = str(by_title(site["storage"])["Monteur vidéo recherché"].id)
        assert hits == {monteur: ["monteurs", "Montreal"]}
    finally:
        app.extensions["aggregator"].close()
