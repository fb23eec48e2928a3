"""OPML import (a Netvibes export) and export: CLI, round trip, hostile files, the route."""

from __future__ import annotations

from pathlib import Path
from xml.parsers import expat

import pytest
from click.testing import CliRunner
from websupport import BLOG, NEWS, TECH, make_app, write_site

from aggregator.cli import cli
from aggregator.config import load_config
from aggregator.errors import AggregatorError, ConfigError
from aggregator.models import Config, FeedConfig, TabConfig
from aggregator.opml import DEFAULT_TAB, Converted, Skipped, read_opml, write_opml

NETVIBES = Path(__file__).parent / "data" / "opml" / "netvibes.opml"

# What tests/data/opml/netvibes.opml holds (see its header comment), in order.
EXPECTED = [
    (DEFAULT_TAB, "https://solo.example.org/rss", "Flux sans onglet"),
    ("Actualités", "HTTPS://News.Example.org:443/feed.xml", "Le Journal (déjà là)"),
    ("Actualités", "https://radio.example.fr/podcast.xml?lang=fr&format=rss", "Radio « Matin »"),
    ("Actualités", "https://legacy.example.org/rss", "Vieux lien"),  # was feed://
    ("Économie & Société", "https://eco.example.com/feed", "Les Échos du marché"),
    ("Économie & Société", "https://data.example.net/atom.xml", "Études: données"),
    ("Économie & Société", "https://plain.example.org/rss", None),
]

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE opml [
  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
  <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
]>
<opml version="2.0"><body>
<outline text="&d;"><outline type="rss" text="x" xmlUrl="https://x.example.org/"/></outline>
</body></opml>
"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE opml SYSTEM "file:///etc/passwd">
<opml version="2.0"><body><outline text="A"/></body></opml>
"""


COMMENTED_YAML = f"""\
# Mes flux : écrit à la main.
settings:
  refresh: 30m  # assez souvent

tabs:
  # les nouvelles d'abord
  - name: Actualités
    feeds:
      - url: {NEWS}
        title: Le Journal  # le quotidien
      - {BLOG}
      # à trier plus tard

  - name: Tech
    feeds:
      - url: {TECH}
        title: Tech Weekly
# fin du fichier
"""


@pytest.fixture
def site(tmp_path: Path):
    site = write_site(tmp_path)
    site["config"].write_text(COMMENTED_YAML, encoding="utf-8")
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, ["--config", str(site["config"]), "--db", str(site["db"]), *args])

    site["invoke"] = invoke
    return site


def test_reads_a_netvibes_export():
    skipped: list[Skipped] = []
    converted: list[Converted] = []
    items = read_opml(
        NETVIBES.read_bytes(), source="netvibes.opml", skipped=skipped, converted=converted
    )
    assert items == EXPECTED
    assert [(s.line, s.reason) for s in skipped] == [(20, "invalid address"), (27, "not a feed")]
    assert "only http:// and https://" in skipped[0].message
    assert converted == [
        Converted(19, "feed://legacy.example.org/rss", "https://legacy.example.org/rss")
    ]


def test_import_adds_new_feeds_keeps_comments_and_existing_ones(site):
    result = site["invoke"]("import-opml", str(NETVIBES))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        "6 feeds added to 3 tabs, 1 already present, 2 skipped (1 invalid address, 1 not a feed);"
        " 1 feed:// address read as https://"
    )
    # Each skipped outline is named with the file and line, so it can be fixed by hand.
    assert f"skipped: {NETVIBES}:20: only http:// and https://" in result.output
    assert f"skipped: {NETVIBES}:27: this outline has no feed address" in result.output
    assert (
        f"converted: {NETVIBES}:19: feed://legacy.example.org/rss is read as"
        " https://legacy.example.org/rss"
    ) in result.output

    text = site["config"].read_text(encoding="utf-8")
    # Every line the person wrote is still there, in the same order.
    remaining = iter(text.splitlines())
    assert all(line in remaining for line in COMMENTED_YAML.splitlines())  # a subsequence
    assert text.endswith("\n# fin du fichier\n")
    # The new feed of an existing tab goes at its end; the comment closing it stays last.
    assert (
        text.index("- https://blog")
        < text.index("radio.example.fr")
        < text.index("# à trier plus tard")
        < text.index("- name: Tech")
    )
    config = load_config(site["config"])
    tabs = {t.name: [(f.url, f.title) for f in t.feeds] for t in config.tabs}
    assert list(tabs) == ["Actualités", "Tech", DEFAULT_TAB, "Économie & Société"]
    assert tabs["Actualités"] == [
        (NEWS, "Le Journal"),  # the duplicate (other case, explicit port) was not added
        (BLOG, None),
        ("https://radio.example.fr/podcast.xml?lang=fr&format=rss", "Radio « Matin »"),
        ("https://legacy.example.org/rss", "Vieux lien"),
    ]
    assert tabs[DEFAULT_TAB] == [("https://solo.example.org/rss", "Flux sans onglet")]
    assert tabs["Économie & Société"] == [
        ("https://eco.example.com/feed", "Les Échos du marché"),
        ("https://data.example.net/atom.xml", "Études: données"),  # from the nested group
        ("https://plain.example.org/rss", None),
    ]

    again = site["invoke"]("import-opml", str(NETVIBES))
    assert again.exit_code == 0
    assert again.output.splitlines()[-1].startswith("0 feeds added to 0 tabs, 7 already present")
    assert site["config"].read_text(encoding="utf-8") == text


def test_dry_run_writes_nothing(site):
    before = site["config"].read_bytes()
    mtime = site["config"].stat().st_mtime_ns
    result = site["invoke"]("import-opml", str(NETVIBES), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "+ [Économie & Société] Études: données  <https://data.example.net/atom.xml>" in (
        result.output
    )
    assert result.output.splitlines()[-1].startswith(
        "dry run: 6 feeds would be added to 3 tabs, 1 already present, 2 skipped"
    )
    assert site["config"].read_bytes() == before
    assert site["config"].stat().st_mtime_ns == mtime
    assert sorted(p.name for p in site["config"].parent.iterdir()) == ["feeds.yaml"]


def test_import_creates_a_missing_feeds_file(tmp_path):
    config = tmp_path / "conf" / "feeds.yaml"
    result = CliRunner().invoke(cli, ["--config", str(config), "import-opml", str(NETVIBES)])
    assert result.exit_code == 0, result.output
    assert len(load_config(config).feeds) == 7


@pytest.mark.parametrize("data", [BOMB, XXE], ids=["billion-laughs", "external-dtd"])
def test_dtds_are_refused_with_the_file_named(site, tmp_path, data):
    bad = tmp_path / "bombe.opml"
    bad.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        read_opml(data, source=str(bad))
    problem = info.value.problems[0]
    assert (problem.file, problem.line) == (str(bad), 2)
    assert "DTD" in problem.message

    before = site["config"].read_bytes()
    result = site["invoke"]("import-opml", str(bad))
    assert result.exit_code == 1
    assert f"{bad}:2:" in result.output
    assert "the file declares a DTD or entities" in result.output
    assert site["config"].read_bytes() == before


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"<opml><body><outline text='a'></body></opml>", "1:33: not valid XML: mismatched tag"),
        (
            b'<opml><body>\n<outline text="&nbsp;"/></body></opml>',
            "2:1: not valid XML: undefined entity",
        ),
        (b'<?xml version="1.0"?>\n<rss version="2.0"/>', "2:1: this is not an OPML file"),
    ],
    ids=["mismatched", "undefined-entity", "not-opml"],
)
def test_malformed_files_are_located(data, expected):
    with pytest.raises(ConfigError) as info:
        read_opml(data, source="export.opml")
    assert str(info.value).startswith(f"export.opml:{expected}")


def test_unreadable_or_empty_files_name_the_file(site, tmp_path):
    with pytest.raises(AggregatorError, match="empty.opml: the file is empty"):
        read_opml(b"  \n", source="empty.opml")
    result = site["invoke"]("import-opml", str(tmp_path / "absent.opml"))
    assert result.exit_code == 1
    assert f"error: {tmp_path / 'absent.opml'}: cannot read this file" in result.output


def test_export_then_import_gives_the_same_feeds(site, tmp_path):
    site["invoke"]("import-opml", str(NETVIBES))
    original = load_config(site["config"])
    out = tmp_path / "export.opml"
    result = site["invoke"]("export-opml", "-o", str(out))
    assert result.exit_code == 0, result.output
    expat.ParserCreate().Parse(out.read_bytes(), True)  # well-formed

    fresh = tmp_path / "fresh" / "feeds.yaml"
    result = CliRunner().invoke(cli, ["--config", str(fresh), "import-opml", str(out)])
    assert result.exit_code == 0, result.output
    assert "9 feeds added to 4 tabs, 0 already present, 0 skipped" in result.output

    def shape(config):
        return [(t.name, [(f.url, f.title) for f in t.feeds]) for t in config.tabs]

    assert shape(load_config(fresh)) == shape(original)

    stdout = site["invoke"]("export-opml")
    assert stdout.output.encode("utf-8") == out.read_bytes()


def test_export_escapes_everything():
    hostile = 'Tom & "Jerry" <b>\n\x01'
    config = Config(
        path="feeds.yaml",
        tabs=(
            TabConfig(hostile, (FeedConfig("https://x.example.org/?a=1&b=2", hostile, hostile),)),
            TabConfig("Vide"),
        ),
    )
    data = write_opml(config)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">')
    items = read_opml(data, source="out.opml")
    # The control character cannot exist in XML; the newline is folded like any title.
    assert items == [('Tom & "Jerry" <b>', "https://x.example.org/?a=1&b=2", 'Tom & "Jerry" <b>')]


def test_export_route_downloads_the_feeds(tmp_path):
    site = write_site(tmp_path)
    app = make_app(site)
    st = app.extensions["aggregator"]
    with app.test_client() as client:
        page = client.get("/feeds").get_data(as_text=True)
        assert 'href="/export.opml"' in page
        assert "Exporter (OPML)" in page
        assert "Export (OPML)" in client.get("/feeds?lang=en").get_data(as_text=True)

        response = client.get("/export.opml")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/x-opml; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="feeds.opml"'
    items = read_opml(response.data, source="download.opml")
    assert items == [
        ("Actualités", NEWS, "Le Journal"),
        ("Actualités", BLOG, None),
        ("Tech", TECH, "Tech Weekly"),
    ]
    assert st.config is not None

    # Once fetched, a feed untitled in feeds.yaml is named by its own title.
    from datetime import UTC, datetime

    now = datetime(2026, 3, 2, tzinfo=UTC)
    st.storage.sync_feeds(st.config.feeds, now=now)
    st.storage.record_success(
        BLOG,
        now=now,
        status=200,
        etag=None,
        last_modified=None,
        body_hash=None,
        next_check=now,
        feed_title="Le Blog",
    )
    with app.test_client() as client:
        response = client.get("/export.opml")
    items = read_opml(response.data, source="download.opml")
    assert ("Actualités", BLOG, "Le Blog") in items


# --- issue 8: feed:// addresses, bombs without a DTD, the dashboard's plan, titles ------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("feed://example.org/rss", "https://example.org/rss"),
        ("FEED://example.org/rss?a=1", "https://example.org/rss?a=1"),
        ("feed:https://example.org/atom", "https://example.org/atom"),
        ("feed:http://example.org/atom", "http://example.org/atom"),
        ("feed:javascript:alert(1)", None),
        ("https://example.org/rss", None),
    ],
)
def test_feed_scheme_is_read_as_https(written, expected):
    from aggregator.opml import feed_scheme_to_https

    assert feed_scheme_to_https(written) == expected


def test_a_feed_address_that_stays_invalid_once_converted_is_skipped():
    data = b"""<opml version="2.0"><body>
<outline type="rss" text="x" xmlUrl="feed://"/>
<outline type="rss" text="y" xmlUrl="feed:javascript:alert(1)"/>
</body></opml>"""
    skipped: list[Skipped] = []
    converted: list[Converted] = []
    assert read_opml(data, source="x.opml", skipped=skipped, converted=converted) == []
    assert [s.line for s in skipped] == [2, 3] and converted == []


def test_deep_nesting_is_refused_quickly():
    depth = 200_000  # 2.6 MB: the walk must not be quadratic in the depth
    data = (
        b"<opml><body>" + b"<outline text='g'>" * depth + b"</outline>" * depth + b"</body></opml>"
    )
    with pytest.raises(ConfigError, match="nested more than 64 levels"):
        read_opml(data, source="deep.opml")


def test_a_million_outlines_are_refused(tmp_path):
    from aggregator.opml import MAX_FEEDS

    feed = b'<outline type="rss" text="f" xmlUrl="https://example.org/%d"/>\n'
    data = b"<opml><body>\n" + b"".join(feed % i for i in range(MAX_FEEDS + 1)) + b"</body></opml>"
    with pytest.raises(ConfigError) as info:
        read_opml(data, source="many.opml")
    problem = info.value.problems[0]
    assert (problem.line, problem.message) == (
        MAX_FEEDS + 2,
        "more than 5000 feeds; split the file",
    )


def test_the_dashboard_plan_is_the_cli_dry_run_then_applied_by_the_writer(site):
    from aggregator.opml import apply_import, prepare_import

    before = site["config"].read_text(encoding="utf-8")
    plan = prepare_import(
        NETVIBES.read_bytes(), source="netvibes.opml", config=load_config(site["config"])
    )
    dry = site["invoke"]("import-opml", str(NETVIBES), "--dry-run")
    assert dry.output.splitlines()[-1] == "dry run: " + plan.summary(dry_run=True)
    assert [(s.line, s.reason) for s in plan.skipped] == [
        (20, "invalid address"),
        (27, "not a feed"),
    ]
    assert [(c.line, c.url) for c in plan.converted] == [(19, "https://legacy.example.org/rss")]
    assert [url for _, url, _ in plan.present] == ["HTTPS://News.Example.org:443/feed.xml"]
    assert site["config"].read_text(encoding="utf-8") == before  # planning writes nothing

    # Meanwhile someone follows one of the planned feeds: it is left out, not refused.
    from aggregator.config.edit import add_feed

    add_feed(site["config"], "Tech", "https://eco.example.com/feed")
    config = apply_import(site["config"], plan)
    urls = [f.url for f in config.feeds]
    assert urls.count("https://eco.example.com/feed") == 1
    assert config.feed("https://eco.example.com/feed").tab == "Tech"  # type: ignore[union-attr]
    assert len(urls) == 3 + 1 + 5
    text = site["config"].read_text(encoding="utf-8")
    remaining = iter(text.splitlines())
    assert all(line in remaining for line in COMMENTED_YAML.splitlines())  # comments kept


def test_export_names_untitled_feeds_by_their_fetched_title(site, tmp_path):
    from datetime import UTC, datetime

    from aggregator.storage import Storage

    now = datetime(2026, 3, 2, tzinfo=UTC)
    storage = Storage(site["db"])
    storage.sync_feeds(load_config(site["config"]).feeds, now=now)
    storage.record_success(
        BLOG,
        now=now,
        status=200,
        etag=None,
        last_modified=None,
        body_hash=None,
        next_check=now,
        feed_title="Le Blog d'à côté",
        site_link="https://blog.example.org/",
    )
    storage.record_success(
        NEWS,
        now=now,
        status=200,
        etag=None,
        last_modified=None,
        body_hash=None,
        next_check=now,
        feed_title="Title from the feed",
    )
    storage.close()
    result = site["invoke"]("export-opml")
    assert result.exit_code == 0, result.output
    items = read_opml(result.output.encode("utf-8"), source="export.opml")
    assert items == [
        ("Actualités", NEWS, "Le Journal"),  # feeds.yaml's title wins
        ("Actualités", BLOG, "Le Blog d'à côté"),
        ("Tech", TECH, "Tech Weekly"),
    ]
    assert 'htmlUrl="https://blog.example.org/"' in result.output
    # No database: URLs as names, and no database created.
    fresh = tmp_path / "none" / "x.sqlite3"
    result = CliRunner().invoke(
        cli, ["--config", str(site["config"]), "--db", str(fresh), "export-opml"]
    )
    assert result.exit_code == 0 and not fresh.exists()
    assert f'text="{BLOG}"' in result.output
