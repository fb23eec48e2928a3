"""discover: an address a person pasted -> verified feeds.

Every platform is imitated by fixture pages and feeds (tests/data/discover/, routes in
sites.json, expectations in cases.json) served over HTTPS on 127.0.0.1 under the real
host names (mastodon.social, www.youtube.com...): the Fetcher's ``resolve`` hook maps
each name to its local server, and a self-signed certificate made for those names is
the Fetcher's CA bundle. Nothing leaves the machine: a name without a local server
fails as an unknown host.
"""

from __future__ import annotations

import json
import pickle
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from feedserver import FeedServer
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator import discover as disc
from aggregator.discover import Candidate, Discovery, discover
from aggregator.errors import DiscoveryError, FetchError
from aggregator.fetch import Fetcher

NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
DATA = Path(__file__).parent / "data" / "discover"
SITES: dict[str, dict[str, object]] = {
    host: routes
    for host, routes in json.loads((DATA / "sites.json").read_text()).items()
    if not host.startswith("_")
}
CASES = json.loads((DATA / "cases.json").read_text())
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".xml": "application/xml",
    ".json": "application/feed+json",
}
HOSTILE = "hostile.example.org"
# Every host name a test uses; the certificate covers them all.
HOSTS = [*SITES, HOSTILE, "slow.example.org"]


@pytest.fixture(scope="module")
def platform_tls(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for the platforms' real names (needs openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls-platforms")
    cert, key = folder / "cert.pem", folder / "key.pem"
    names = ",".join(f"DNS:{h}" for h in HOSTS)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", key, "-out", cert, "-subj", "/CN=discover-tests",
         "-addext", f"subjectAltName={names}"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def platforms(platform_tls) -> Iterator[dict[str, FeedServer]]:
    """One HTTPS server per host name, serving that host's routes from sites.json."""
    servers: dict[str, FeedServer] = {}
    try:
        for host, routes in SITES.items():
            server = FeedServer(DATA, tls=platform_tls).start()
            for path, spec in routes.items():
                name, ctype, status, location = _route(spec)
                body = (DATA / name).read_bytes()
                headers = {"Content-Type": ctype or TYPES[Path(name).suffix]}
                if location:
                    headers["Location"] = location
                server.add(path, body, headers=headers, status=status)
            servers[host] = server
        # The FeedServer's own hostile routes (/slow, /big, /redirect...) over the
        # files of tests/data/discover.
        servers[HOSTILE] = servers["slow.example.org"] = FeedServer(DATA, tls=platform_tls).start()
        yield servers
    finally:
        for server in set(servers.values()):
            server.stop()


def _route(spec: str | list) -> tuple[str, str | None, int, str | None]:
    """A sites.json route: "file", [file, content-type] or [file, type, status, Location]."""
    values = [spec] if isinstance(spec, str) else list(spec)
    name, ctype, status, location = values + [None, None, 200, None][len(values) :]
    return name, ctype, status, location


def resolver(servers: dict[str, FeedServer]):
    def resolve(host: str, port: int) -> tuple[str, int]:
        server = servers.get(host.lower())
        if server is None:  # never the real DNS: tests stay on loopback
            raise socket.gaierror(socket.EAI_NONAME, f"{host} is not served by the tests")
        return "127.0.0.1", server.port

    return resolve


@pytest.fixture
def fetcher(platforms, platform_tls) -> Iterator[Fetcher]:
    with Fetcher(
        allow_private_networks=True,
        ca_bundle=str(platform_tls[0]),
        resolve=resolver(platforms),
        timeout=5,
    ) as f:
        yield f


@pytest.fixture
def reset(platforms) -> Iterator[None]:
    for server in set(platforms.values()):
        server.requests.clear()
    yield


def _id(case: dict) -> str:
    return case["address"].strip() or "empty"


@pytest.mark.parametrize("case", CASES["cases"], ids=_id)
def test_each_platform_shape_finds_its_feed(case, fetcher):
    found = discover(case["address"], fetcher=fetcher, now=NOW)
    assert found.address == case["address"].strip()
    assert found.platform == case["platform"]
    assert [c.url for c in found.candidates] == case["urls"]
    first = found.candidates[0]
    if "title" in case:
        assert first.title == case["title"]
    if "headlines" in case:
        assert len(first.headlines) == case["headlines"]
    if "first_headlines" in case:
        assert list(first.headlines) == case["first_headlines"]
    assert all(c.kind for c in found.candidates)
    assert all(len(c.headlines) <= 5 for c in found.candidates)


@pytest.mark.parametrize("case", CASES["errors"], ids=_id)
def test_bad_addresses_get_a_coded_error(case, fetcher):
    with pytest.raises(DiscoveryError) as info:
        discover(case["address"], fetcher=fetcher, now=NOW)
    err = info.value
    assert err.code == case["code"], str(err)
    assert err.code in disc.ERROR_CODES
    assert err.address == case["address"].strip()
    assert str(err)


def test_no_public_feed_suggests_a_bridge(fetcher, platforms, reset):
    with pytest.raises(DiscoveryError) as info:
        discover("https://www.linkedin.com/in/alice", fetcher=fetcher, now=NOW)
    assert "RSS-Bridge" in str(info.value) and "RSSHub" in str(info.value)


def test_wordpress_relative_alternates_and_base(fetcher, platforms, reset):
    found = discover("https://blog.example.org/journal/2026/03/bonjour/", fetcher=fetcher, now=NOW)
    # <base href=".../journal/"> resolves "feed/"; "./feed/" is the same feed (deduped);
    # the post's own comment feed is a 404 here; javascript: is never requested.
    assert found.candidates[0] == Candidate(
        "https://blog.example.org/journal/feed/",
        "Le Carnet",
        "rss20",
        ("Bonjour tout le monde !",),
        "https://blog.example.org/journal",
    )
    paths = platforms["blog.example.org"].paths()
    assert paths.count("/journal/feed/") == 1
    assert not any("javascript" in p or "oembed" in p for p in paths)


def test_fifty_alternates_are_capped_and_deduplicated(fetcher, platforms, reset):
    found = discover("https://many.example.org/", fetcher=fetcher, now=NOW, limit=10)
    assert [c.title for c in found.candidates] == ["Principal", "Second", "Troisième"]
    paths = platforms["many.example.org"].paths()
    assert len(paths) == 1 + 10  # the page, then ten distinct alternates, no more
    assert len(set(paths)) == len(paths)
    assert "/dead/49.xml" not in paths


def test_youtube_handle_page_gives_the_channel_feed_not_a_recommended_one(fetcher):
    found = discover("https://www.youtube.com/@Chaine", fetcher=fetcher, now=NOW)
    assert len(found.candidates) == 1
    assert "UCzzzz" not in found.candidates[0].url


def test_reddit_gets_a_descriptive_user_agent(fetcher, platforms, reset):
    discover("r/python", fetcher=fetcher, now=NOW)
    agent = platforms["www.reddit.com"].requests[0].headers["user-agent"]
    assert agent.startswith("aggregator/") and "feed reader" in agent


def test_private_addresses_are_refused_unless_allowed(platforms, platform_tls):
    f = Fetcher(ca_bundle=str(platform_tls[0]), resolve=resolver(platforms), timeout=5)
    with f, pytest.raises(DiscoveryError) as info:
        discover("https://mastodon.social/@alice", fetcher=f, now=NOW)
    assert info.value.code == "private_address"


def test_a_page_that_never_answers_is_a_timeout_after_the_deadline(platforms, platform_tls):
    with Fetcher(
        allow_private_networks=True,
        ca_bundle=str(platform_tls[0]),
        resolve=resolver(platforms),
        timeout=1,
    ) as f:
        started = time.monotonic()
        with pytest.raises(DiscoveryError) as info:
            discover("https://slow.example.org/slow/30/usual/home.html", fetcher=f, now=NOW)
    assert info.value.code == "timeout"
    assert time.monotonic() - started < 5


def test_a_huge_page_is_too_large(platforms, platform_tls):
    with (
        Fetcher(
            allow_private_networks=True,
            ca_bundle=str(platform_tls[0]),
            resolve=resolver(platforms),
            max_size=1024 * 1024,
        ) as f,
        pytest.raises(DiscoveryError) as info,
    ):
        discover(f"https://{HOSTILE}/big/3", fetcher=f, now=NOW)
    assert info.value.code == "too_large"


def test_redirect_loops_and_redirects_to_other_schemes(fetcher, platforms):
    server = platforms[HOSTILE]
    server.add("/loop", b"", status=302, headers={"Location": "/loop"})
    server.add("/to-file", b"", status=302, headers={"Location": "file:///etc/passwd"})
    with pytest.raises(DiscoveryError) as info:
        discover(f"https://{HOSTILE}/loop", fetcher=fetcher, now=NOW)
    assert info.value.code == "unreachable"
    assert "redirect" in str(info.value)
    with pytest.raises(DiscoveryError) as info:
        discover(f"https://{HOSTILE}/to-file", fetcher=fetcher, now=NOW)
    assert info.value.code == "unsupported_scheme"


def test_unknown_host_is_unreachable(fetcher):
    with pytest.raises(DiscoveryError) as info:
        discover("https://nowhere.example.org/", fetcher=fetcher, now=NOW)
    assert info.value.code == "unreachable"


def test_resolver_hook_still_checks_the_address_connected_to(platforms, platform_tls):
    """The hook maps names only: the guard judges the address it leads to."""
    f = Fetcher(ca_bundle=str(platform_tls[0]), resolve=resolver(platforms))
    with f, pytest.raises(FetchError) as info:
        f.fetch("https://medium.com/feed/@bob", now=NOW)
    assert info.value.code == "blocked_address"


def test_results_and_errors_pickle(fetcher):
    found = discover("@alice@mastodon.social", fetcher=fetcher, now=NOW)
    assert isinstance(found, Discovery)
    assert pickle.loads(pickle.dumps(found)) == found
    err = DiscoveryError("x", "no_feed", "nothing here")
    back = pickle.loads(pickle.dumps(err))
    assert (back.address, back.code, str(back)) == ("x", "no_feed", "nothing here")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("@alice@mastodon.social", True),
        ("@alice.bsky.social", True),
        ("r/python", True),
        ("https://mastodon.social/@alice", True),
        ("https://www.youtube.com/@Chaine", True),
        ("https://www.youtube.com/feeds/videos.xml?channel_id=UCq6VFHwMzcMXbuKyG7SQYIg", False),
        ("https://mastodon.social/@alice.rss", False),
        ("https://example.org/feed.xml", False),
        ("https://example.org/", False),
    ],
)
def test_needs_discovery(address, expected):
    assert disc.needs_discovery(address) is expected


def test_bare_international_domain_gets_https():
    assert disc.to_url("café.example.org/blog") == ("https://xn--caf-dma.example.org/blog", None)


def test_the_resolver_hook_does_not_weaken_tls(platforms, platform_tls):
    """A name mapped to a server whose certificate does not cover it fails TLS."""
    servers = {"evil.example.net": platforms["medium.com"]}
    f = Fetcher(
        allow_private_networks=True, ca_bundle=str(platform_tls[0]), resolve=resolver(servers)
    )
    with f, pytest.raises(FetchError) as info:
        f.fetch("https://evil.example.net/feed/@bob", now=NOW)
    assert info.value.code == "tls"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_is_a_url_or_a_coded_error(text):
    try:
        url, platform = disc.to_url(text)
    except DiscoveryError as e:
        assert e.code in ("invalid_address", "unsupported_scheme")
        assert e.address == text.strip()
        return
    assert url.split(":", 1)[0].lower() in ("http", "https")
    assert platform in (None, "mastodon", "bluesky", "reddit")
    assert not any(ch.isspace() for ch in url)
    disc.needs_discovery(text)  # never raises either


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"@[A-Za-z0-9_]{1,12}@[a-z]{1,10}\.[a-z]{2,5}", fullmatch=True))
def test_well_formed_mastodon_handles_map_to_their_profile_feed(handle):
    url, platform = disc.to_url(handle)
    user, host = handle[1:].split("@")
    assert (url, platform) == (f"https://{host}/@{user}", "mastodon")
    [guess] = disc._guesses(url)
    assert guess.url == f"https://{host}/@{user}.rss"


def test_a_silent_host_costs_one_deadline_not_one_per_guess(platforms, platform_tls):
    """A Mastodon-shaped address on a host that accepts connections and never
    answers: the guessed feed times out, and the page is not asked again."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # never accepted: the TLS handshake never gets an answer
    port = silent.getsockname()[1]

    def resolve(host: str, _port: int) -> tuple[str, int]:
        return "127.0.0.1", port

    f = Fetcher(
        allow_private_networks=True, ca_bundle=str(platform_tls[0]), resolve=resolve, timeout=1
    )
    started = time.monotonic()
    with silent, f, pytest.raises(DiscoveryError) as info:
        discover("https://slow.example.org/@alice", fetcher=f, now=NOW)
    assert info.value.code == "timeout"
    assert time.monotonic() - started < 1.9
