"""The `aggregator` command: the contract other work depends on (names, exit codes, JSON)."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from feedserver import FeedServer

from aggregator.cli import cli

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Offres d'emploi</title><link>https://example.org/</link>
<item><guid isPermaLink="false">job-1</guid><title>Monteur·se vidéo à Montréal</title>
<link>https://example.org/jobs/1</link><pubDate>Mon, 02 Mar 2026 08:00:00 GMT</pubDate>
<description>&lt;p&gt;Post-production, &lt;b&gt;cinéma&lt;/b&gt; documentaire.&lt;/p&gt;</description></item>
</channel></rss>"""


@pytest.fixture
def setup(tmp_path: Path, feed_server: FeedServer):
    good = feed_server.add("/jobs.xml", RSS)
    bad = feed_server.url("/status/500")
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "settings:\n  allow_private_networks: true\ntabs:\n"
        f"  - name: Emploi\n    feeds:\n      - url: {good}\n        title: Jobs\n      - {bad}\n",
        encoding="utf-8",
    )
    db = tmp_path / "data" / "db.sqlite3"
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, ["--config", str(config), "--db", str(db), *args])

    return invoke, config, db, good, bad


def test_check_ok_and_problems(setup):
    invoke, config, *_ = setup
    result = invoke("check")
    assert result.exit_code == 0
    assert result.output.strip().endswith("1 tab, 2 feeds")

    config.write_text("tabs:\n  - name: A\n    feds: []\n", encoding="utf-8")
    result = invoke("check")
    assert result.exit_code == 1
    assert re.search(r"feeds\.yaml:3:5: .*'feds'.*did you mean 'feeds'", result.output)


def test_fetch_list_status(setup):
    invoke, _, db, good, bad = setup
    result = invoke("fetch")
    assert result.exit_code == 0, result.output
    assert re.search(
        r"^1 ok, 0 not modified, 1 failed; 1 new entries in [\d.]+ s$", result.output, re.M
    )
    assert f"failed: {bad}: HTTP 500" in result.output
    assert db.exists()  # folders were created

    again = invoke("fetch", "--feed", good)
    assert again.exit_code == 0
    assert "0 ok, 1 not modified, 0 failed; 0 new entries" in again.output

    listed = invoke("list", "--json")
    assert listed.exit_code == 0
    [entry] = json.loads(listed.output)
    assert entry["title"] == "Monteur·se vidéo à Montréal"
    assert entry["feed_title"] == "Jobs" and entry["tab"] == "Emploi"
    assert entry["published"] == "2026-03-02T08:00:00Z"
    assert entry["summary"] == "Post-production, cinéma documentaire."
    assert entry["read"] is False and entry["starred"] is False
    assert {"id", "feed_url", "link", "author"} <= set(entry)

    text = invoke("list", "--tab", "Emploi", "--unread")
    assert "Monteur·se vidéo" in text.output

    status = json.loads(invoke("status", "--json").output)
    rows = {r["url"]: r for r in status["feeds"]}
    assert rows[good]["last_status"] == 304 and rows[good]["entry_count"] == 1  # the last poll
    assert rows[bad]["last_error_code"] == "server_error"
    assert rows[bad]["consecutive_errors"] == 1
    assert status["config_errors"] == []


def test_fetch_unknown_feed_and_invalid_config(setup):
    invoke, config, *_ = setup
    result = invoke("fetch", "--feed", "https://nowhere.example/feed")
    assert result.exit_code == 2 and "is not in" in result.output
    config.write_text("tabs: nope\n", encoding="utf-8")
    result = invoke("fetch")
    assert result.exit_code == 1 and "feeds.yaml:1:" in result.output
    status = invoke("status", "--json")
    assert status.exit_code == 0
    assert json.loads(status.output)["config_errors"][0].startswith(str(config))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# my feeds, being rewritten\n",
        "settings:\n  allow_private_networks: true\n",
        "settings:\n  allow_private_networks: true\ntabs:\n",
    ],
    ids=["empty", "comments", "settings-only", "tabs-without-value"],
)
def test_a_file_without_feeds_never_deactivates_them_unless_it_says_so(setup, text):
    invoke, config, db, good, bad = setup
    invoke("fetch")  # the database now follows both feeds
    config.write_text(text, encoding="utf-8")

    for command in ("fetch", "status"):
        result = invoke(command)
        assert "tabs: []" in result.output, result.output
        with sqlite3.connect(db) as con:
            active = con.execute("SELECT count(*) FROM feeds WHERE active").fetchone()[0]
        assert active == 2, command

    config.write_text("tabs: []\n", encoding="utf-8")
    assert invoke("fetch").exit_code == 0
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM feeds WHERE active").fetchone()[0] == 0


def test_foreign_database_is_a_clear_error(setup, tmp_path: Path):
    invoke, *_ = setup
    foreign = tmp_path / "other.sqlite3"
    con = sqlite3.connect(foreign)
    con.execute("PRAGMA application_id = 1234")
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    result = CliRunner().invoke(cli, ["--db", str(foreign), "list"])
    assert result.exit_code == 1
    assert str(foreign) in result.output and "another application" in result.output


def test_every_command_has_help():
    for name, command in cli.commands.items():
        assert command.help, f"{name} has no help text"
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0


def test_run_serves_polls_and_stops_cleanly_on_sigterm(tmp_path: Path, feed_server: FeedServer):
    """The real process: scheduler + dashboard, then SIGTERM stops it with exit 0."""
    url = feed_server.add("/jobs.xml", RSS)
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"settings:\n  allow_private_networks: true\ntabs:\n  - name: T\n    feeds: [{url}]\n",
        encoding="utf-8",
    )
    db = tmp_path / "db.sqlite3"
    env = {k: v for k, v in os.environ.items() if k != "AGGREGATOR_PASSWORD"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aggregator",
            "--config",
            str(config),
            "--db",
            str(db),
            "run",
            "--port",
            "0",
            "--processes",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        port = None
        deadline = time.monotonic() + 20
        assert proc.stderr is not None
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if m := re.search(r"dashboard on http://127\.0\.0\.1:(\d+)/", line):
                port = int(m.group(1))
        assert port, "the dashboard never said where it listens"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
            assert resp.status == 200
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
            r.path == "/jobs.xml" for r in feed_server.requests
        ):
            time.sleep(0.05)
        assert any(r.path == "/jobs.xml" for r in feed_server.requests), "the first tick never ran"
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, rest
    assert "scheduler stopped" in rest
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT count(*) FROM entries").fetchone()[0] == 1
    finally:
        con.close()


def test_bind_beyond_loopback_needs_a_password(tmp_path: Path):
    config = tmp_path / "feeds.yaml"
    config.write_text("tabs: []\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "AGGREGATOR_PASSWORD"}
    result = CliRunner(env=env).invoke(
        cli, ["--config", str(config), "--db", str(tmp_path / "db"), "run", "--host", "0.0.0.0"]
    )
    assert result.exit_code == 1
    assert "AGGREGATOR_PASSWORD" in result.output


def test_every_command_is_documented_in_the_readme():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    missing = [name for name in cli.commands if f"`aggregator {name}" not in readme]
    assert missing == [], f"commands missing from README.md: {missing}"


# --- add and remove (issue 8): discovery, the shared writer, a first fetch ----------------

SECOND = RSS.replace("Offres d'emploi", "Offres (anglais)").replace("job-1", "job-en")

SUBSCRIBE_YAML = """\
# Mes flux
settings:
  allow_private_networks: true  # the test server is on 127.0.0.1

tabs:
  - name: Emploi
    feeds: []  # rien pour l'instant
# fin
"""


def load_config(path: Path):
    from aggregator.config import load_config

    return load_config(path)


def _run(config: Path, db: Path, *args: str, input: str | None = None):
    return subprocess.run(
        [sys.executable, "-m", "aggregator", "--config", str(config), "--db", str(db), *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=50,
        cwd=Path(__file__).resolve().parents[1],
    )


@pytest.fixture
def site(tmp_path: Path, feed_server: FeedServer):
    jobs = feed_server.add("/jobs.xml", RSS)
    english = feed_server.add("/en.xml", SECOND)
    page = (
        "<html><head><title>Le site</title>"
        '<link rel="alternate" type="application/rss+xml" title="FR" href="/jobs.xml">'
        '<link rel="alternate" type="application/rss+xml" title="EN" href="../en.xml">'
        "</head><body>Bonjour</body></html>"
    )
    home = feed_server.add("/site/", page, headers={"Content-Type": "text/html; charset=utf-8"})
    config = tmp_path / "feeds.yaml"
    config.write_text(SUBSCRIBE_YAML, encoding="utf-8")
    return config, tmp_path / "data" / "db.sqlite3", home, jobs, english


def test_add_a_website_asks_which_feed_then_fetches_it(site):
    config, db, home, jobs, english = site
    result = _run(config, db, "add", home, "--title", "Offres EN", input="2\nAnglais\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"{home} (website): 2 feeds found" in out
    assert f"1. Offres d'emploi  <{jobs}>" in out and f"2. Offres (anglais)  <{english}>" in out
    assert "Which one?" in out and "Tab [Emploi]" in out
    assert f"added {english} to the tab 'Anglais'" in out
    assert "fetched: 1 new entry" in out
    loaded = load_config(config)
    assert [(f.tab, f.url, f.title) for f in loaded.feeds] == [("Anglais", english, "Offres EN")]
    text = config.read_text(encoding="utf-8")
    assert all(c in text for c in ("# Mes flux", "# the test server is on", "# fin"))
    # Its entries are there without waiting for the scheduler.
    listed = json.loads(_run(config, db, "list", "--json").stdout)
    assert [e["title"] for e in listed] == ["Monteur·se vidéo à Montréal"]
    assert listed[0]["feed_url"] == english

    again = _run(config, db, "add", english, "--yes")
    assert again.returncode == 1
    assert "already followed in the tab 'Anglais'" in again.stderr
    assert config.read_text(encoding="utf-8") == text
    # The list says which ones are followed; choosing one stops before asking a tab.
    again = _run(config, db, "add", home, input="2\n")
    assert f"2. Offres (anglais)  <{english}>  (already followed, tab 'Anglais')" in again.stdout
    assert again.returncode == 1 and "Tab [" not in again.stdout
    assert f"error: {english} is already followed in the tab 'Anglais'" in again.stderr
    assert config.read_text(encoding="utf-8") == text


def test_add_yes_takes_the_first_feed_and_tab_and_remove_undoes_it(site):
    config, db, home, jobs, _english = site
    result = _run(config, db, "add", home, "--yes")
    assert result.returncode == 0, result.stderr
    assert "Which one?" not in result.stdout
    assert f"added {jobs} to the tab 'Emploi'" in result.stdout
    assert [(f.tab, f.url) for f in load_config(config).feeds] == [("Emploi", jobs)]

    removed = _run(config, db, "remove", jobs.upper().replace("HTTP://", "http://"))
    assert removed.returncode == 1  # the path is case-sensitive: not the same feed
    removed = _run(config, db, "remove", jobs)
    assert removed.returncode == 0, removed.stderr
    assert f"removed {jobs} from the tab 'Emploi'" in removed.stdout
    assert load_config(config).feeds == ()
    assert config.read_text(encoding="utf-8") == SUBSCRIBE_YAML  # comments and all
    missing = _run(config, db, "remove", jobs)
    assert missing.returncode == 1 and "no feed" in missing.stderr


def test_add_refuses_what_is_not_a_feed_and_writes_nothing(site, feed_server: FeedServer):
    config, db, *_ = site
    nothing = feed_server.add(
        "/plain/", "<html><body>pas de flux</body></html>", headers={"Content-Type": "text/html"}
    )
    before = config.read_bytes()
    for address in (nothing, "javascript:alert(1)", "https://www.linkedin.com/in/someone"):
        result = _run(config, db, "add", address, "--yes")
        assert result.returncode == 1, (address, result.stdout)
        assert result.stderr.startswith("error: "), result.stderr
        assert "Traceback" not in result.stderr
    assert config.read_bytes() == before

    config.write_text("tabs:\n  - name: A\n    feeds:\n      - ftp://x.example/\n")
    result = _run(config, db, "add", nothing, "--yes")
    assert result.returncode == 1 and "feeds.yaml:4:9:" in result.stderr
