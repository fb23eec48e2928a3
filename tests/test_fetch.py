"""aggregator.fetch against a real HTTP server on 127.0.0.1 (tests/feedserver.py)."""

from __future__ import annotations

import base64
import ipaddress
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feedserver import FeedServer, _gzipped_zeros

from aggregator.errors import FetchError
from aggregator.fetch import (
    ERROR_CODES,
    MAX_REDIRECTS,
    USER_AGENT,
    Fetcher,
    address_problem,
    parse_retry_after,
)

FEEDS = Path(__file__).parent / "data" / "feeds"
BASIC = (FEEDS / "fetch-basic.xml").read_bytes()
NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
MIB = 1024 * 1024


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(allow_private_networks=True, timeout=5.0) as f:
        yield f


def fetch_error(fetcher: Fetcher, url: str, **kwargs) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetcher.fetch(url, now=NOW, **kwargs)
    err = info.value
    assert err.code in ERROR_CODES, err.code
    assert err.url == url
    return err


# --- what is sent ----------------------------------------------------------------------


def test_sends_user_agent_accept_and_encodings(fetcher, feed_server):
    fetcher.fetch(feed_server.url("/feeds/fetch-basic.xml"))
    [(path, headers)] = feed_server.requests
    assert path == "/feeds/fetch-basic.xml"
    assert headers["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith("aggregator/")
    accept = [part.strip() for part in headers["accept"].split(",")]
    assert accept[:2] == ["application/atom+xml", "application/rss+xml"]
    assert "application/feed+json" in accept
    assert accept[-1] == "*/*;q=0.1"
    encodings = {e.strip() for e in headers["accept-encoding"].split(",")}
    assert {"gzip", "deflate"} <= encodings
    try:
        import brotli  # noqa: F401
    except ImportError:
        assert "br" not in encodings
    assert "if-none-match" not in headers
    assert "if-modified-since" not in headers
    assert "cookie" not in headers


def test_custom_user_agent(feed_server):
    with Fetcher(allow_private_networks=True, user_agent="test-agent/1") as f:
        f.fetch(feed_server.url("/feeds/fetch-basic.xml"))
    assert feed_server.requests[0].headers["user-agent"] == "test-agent/1"


def test_credentials_in_url_are_sent_as_basic_auth(fetcher, feed_server):
    url = feed_server.url("/feeds/fetch-basic.xml").replace("://", "://alex:s3cret@")
    fetcher.fetch(url)
    expected = "Basic " + base64.b64encode(b"alex:s3cret").decode()
    assert feed_server.requests[0].headers["authorization"] == expected


# --- 200 -------------------------------------------------------------------------------


def test_200_returns_decoded_body_and_lowercased_headers(fetcher, feed_server):
    url = feed_server.url("/feeds/fetch-basic.xml")
    result = fetcher.fetch(url, now=NOW)
    assert result.status == 200 and not result.not_modified
    assert result.body == BASIC
    assert result.url == result.final_url == url
    assert result.moved_to is None
    # The server gzipped it because we asked: the body is decoded all the same, and
    # the headers that describe the wire form are dropped so nobody decodes twice.
    assert "gzip" in feed_server.requests[-1].headers["accept-encoding"]
    assert "content-encoding" not in result.headers
    assert "content-length" not in result.headers
    assert result.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert all(name == name.lower() for name in result.headers)
    assert result.etag == result.headers["etag"]
    assert result.last_modified == result.headers["last-modified"]
    assert 0 < result.elapsed < 3


def test_gzip_and_lying_content_type(fetcher, feed_server):
    assert fetcher.fetch(feed_server.url("/gzip/fetch-basic.xml")).body == BASIC
    result = fetcher.fetch(feed_server.url("/ctype/text%2Fhtml/fetch-basic.xml"))
    assert result.body == BASIC
    assert result.headers["content-type"] == "text/html"


def test_deflate_body_is_decoded(fetcher, feed_server):
    import zlib

    url = feed_server.add(
        "/deflate.xml", zlib.compress(BASIC), headers={"Content-Encoding": "deflate"}
    )
    assert fetcher.fetch(url).body == BASIC


def test_200_without_validators(fetcher, feed_server):
    url = feed_server.add("/plain.xml", BASIC, conditional=False)
    result = fetcher.fetch(url)
    assert (result.body, result.etag, result.last_modified) == (BASIC, None, None)


def test_keep_alive_reuses_one_connection(fetcher, feed_server):
    for _ in range(3):
        fetcher.fetch(feed_server.url("/feeds/fetch-basic.xml"))
    assert len(feed_server.requests) == 3
    assert feed_server.connections == 1


# --- conditional GET -------------------------------------------------------------------


def test_conditional_get_with_etag(fetcher, feed_server):
    url = feed_server.url("/feeds/fetch-basic.xml")
    first = fetcher.fetch(url)
    second = fetcher.fetch(url, etag=first.etag, last_modified=first.last_modified)
    assert second.status == 304 and second.not_modified
    assert second.body is None
    assert (second.etag, second.last_modified) == (first.etag, first.last_modified)
    sent = feed_server.requests[1].headers
    assert sent["if-none-match"] == first.etag
    assert sent["if-modified-since"] == first.last_modified


def test_conditional_get_with_last_modified_only(fetcher, feed_server):
    url = feed_server.url("/feeds/fetch-basic.xml")
    first = fetcher.fetch(url)
    second = fetcher.fetch(url, last_modified=first.last_modified)
    assert second.status == 304
    assert "if-none-match" not in feed_server.requests[1].headers


def test_changed_etag_gets_the_body(fetcher, feed_server):
    result = fetcher.fetch(feed_server.url("/feeds/fetch-basic.xml"), etag='"stale"')
    assert result.status == 200 and result.body == BASIC


def test_304_without_validators_keeps_the_old_ones(fetcher, feed_server):
    url = feed_server.add("/bare-304", status=304, conditional=False)
    result = fetcher.fetch(url, etag='"v1"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT")
    assert result.status == 304 and result.body is None
    assert result.etag == '"v1"'
    assert result.last_modified == "Mon, 01 Jan 2024 00:00:00 GMT"


def test_304_with_new_validators_returns_them(fetcher, feed_server):
    url = feed_server.add("/new-304", status=304, headers={"ETag": '"v2"'}, conditional=False)
    result = fetcher.fetch(url, etag='"v1"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT")
    assert result.etag == '"v2"'
    assert result.last_modified == "Mon, 01 Jan 2024 00:00:00 GMT"


def test_304_to_an_unconditional_request_is_an_error(fetcher, feed_server):
    url = feed_server.add("/odd-304", status=304, conditional=False)
    err = fetch_error(fetcher, url)
    assert (err.code, err.status) == ("http_error", 304)


# --- redirects -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "hops", "permanent"),
    [
        (301, 1, True),
        (301, 3, True),
        (308, 2, True),
        (302, 1, False),
        (303, 1, False),
        (307, 2, False),
    ],
)
def test_redirect_chains(fetcher, feed_server, code, hops, permanent):
    url = feed_server.url(f"/redirect/{code}/{hops}/fetch-basic.xml")
    result = fetcher.fetch(url)
    final = feed_server.url(f"/redirect/{code}/0/fetch-basic.xml")
    assert (result.status, result.body) == (200, BASIC)
    assert result.url == url
    assert result.final_url == final
    assert result.moved_to == (final if permanent else None)
    assert len(feed_server.requests) == hops + 1


def test_one_temporary_hop_means_not_moved(fetcher, feed_server):
    # 301 -> 302 -> 301 -> file: only an all-permanent chain is a move.
    inner = "/redirect/301/1/fetch-basic.xml"
    middle = feed_server.add("/middle", status=302, headers={"Location": inner})
    url = feed_server.url(f"/redirect-to?status=301&url={middle}")
    result = fetcher.fetch(url)
    assert result.body == BASIC
    assert result.moved_to is None
    assert result.final_url == feed_server.url("/redirect/301/0/fetch-basic.xml")


def test_permanent_redirect_to_304(fetcher, feed_server):
    url = feed_server.url("/redirect/301/1/fetch-basic.xml")
    first = fetcher.fetch(url)
    second = fetcher.fetch(url, etag=first.etag)
    assert second.status == 304
    assert second.moved_to == first.moved_to == first.final_url
    # Validators go along every hop.
    assert feed_server.requests[-1].headers["if-none-match"] == first.etag


def test_relative_location_is_resolved(fetcher, feed_server):
    url = feed_server.add(
        "/a/b/rel", status=302, headers={"Location": "../../feeds/fetch-basic.xml"}
    )
    result = fetcher.fetch(url)
    assert result.final_url == feed_server.url("/feeds/fetch-basic.xml")


def test_five_redirects_are_fine_six_are_not(fetcher, feed_server):
    ok = fetcher.fetch(feed_server.url(f"/redirect/302/{MAX_REDIRECTS}/fetch-basic.xml"))
    assert ok.body == BASIC
    feed_server.requests.clear()
    url = feed_server.url(f"/redirect/302/{MAX_REDIRECTS + 1}/fetch-basic.xml")
    err = fetch_error(fetcher, url)
    assert err.code == "too_many_redirects"
    assert "more than 5" in str(err)
    assert len(feed_server.requests) == MAX_REDIRECTS + 1


def test_redirect_loop(fetcher, feed_server):
    url = feed_server.add("/loop", status=301, headers={"Location": "/loop"})
    assert fetch_error(fetcher, url).code == "too_many_redirects"


def test_redirect_without_location_is_an_http_error(fetcher, feed_server):
    err = fetch_error(fetcher, feed_server.add("/nowhere", status=302))
    assert (err.code, err.status) == ("http_error", 302)


@pytest.mark.parametrize(
    "target",
    ["file:///etc/passwd", "ftp://example.org/feed.xml", "javascript:alert(1)", "gopher://x/"],
)
def test_redirect_to_another_scheme_is_refused(fetcher, feed_server, target):
    url = feed_server.url("/redirect-to?url=" + target)
    err = fetch_error(fetcher, url)
    assert err.code == "bad_scheme"
    assert target in str(err) and "http" in str(err)
    assert len(feed_server.requests) == 1


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("file:///etc/passwd", "bad_scheme"),
        ("ftp://example.org/feed.xml", "bad_scheme"),
        ("feed://example.org/rss", "bad_scheme"),
        ("example.org/rss", "bad_scheme"),
        ("http://", "bad_url"),
        ("http://example.org:99999/rss", "bad_url"),
        ("http://exa mple.org/rss", "bad_url"),
    ],
)
def test_bad_urls(fetcher, url, code):
    err = fetch_error(fetcher, url)
    assert err.code == code
    assert "feeds.yaml" in str(err)


def test_cookies_follow_the_redirect_chain_only(fetcher, feed_server):
    url = feed_server.add(
        "/consent",
        status=302,
        headers={"Location": "/feeds/fetch-basic.xml", "Set-Cookie": "consent=yes; Path=/"},
    )
    fetcher.fetch(url)
    assert feed_server.requests[1].headers["cookie"] == "consent=yes"
    fetcher.fetch(feed_server.url("/feeds/fetch-basic.xml"))
    assert "cookie" not in feed_server.requests[2].headers


# --- HTTP errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "http_error"),
        (401, "unauthorized"),
        (403, "forbidden"),
        (404, "not_found"),
        (410, "gone"),
        (418, "http_error"),
        (429, "rate_limited"),
        (500, "server_error"),
        (502, "server_error"),
        (503, "unavailable"),
        (204, "http_error"),
    ],
)
def test_status_codes(fetcher, feed_server, status, code):
    err = fetch_error(fetcher, feed_server.url(f"/status/{status}"))
    assert (err.code, err.status) == (code, status)
    assert str(err).startswith(f"HTTP {status} ")


def test_404_message_says_what_to_do(fetcher, feed_server):
    err = fetch_error(fetcher, feed_server.url("/status/404"))
    assert str(err) == (
        "HTTP 404 Not Found: the feed address no longer exists; check the URL in feeds.yaml"
    )
    assert err.retry_after is None


def test_error_after_redirect_keeps_the_original_url(fetcher, feed_server):
    url = feed_server.url("/redirect-to?url=/status/410")
    err = fetch_error(fetcher, url)
    assert (err.code, err.url) == ("gone", url)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_delta_seconds(fetcher, feed_server, status):
    err = fetch_error(fetcher, feed_server.url(f"/status/{status}?retry_after=120"))
    assert err.retry_after == NOW + timedelta(seconds=120)
    assert err.retry_after.tzinfo is not None
    assert "2025-03-01 12:02:00 UTC" in str(err)


def test_retry_after_http_date(fetcher, feed_server):
    date = "Sat, 01 Mar 2025 13:30:00 GMT"
    err = fetch_error(fetcher, feed_server.url(f"/status/503?retry_after={date}"))
    assert err.retry_after == datetime(2025, 3, 1, 13, 30, tzinfo=UTC)


def test_retry_after_absent_or_junk(fetcher, feed_server):
    assert fetch_error(fetcher, feed_server.url("/status/429?retry_after=")).retry_after is None
    assert fetch_error(fetcher, feed_server.url("/status/429?retry_after=soon")).retry_after is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", NOW),
        ("3600", NOW + timedelta(hours=1)),
        (" 60 ", NOW + timedelta(minutes=1)),
        # The three HTTP-date forms of RFC 9110 §5.6.7.
        ("Sun, 02 Mar 2025 08:49:37 GMT", datetime(2025, 3, 2, 8, 49, 37, tzinfo=UTC)),
        ("Sunday, 02-Mar-25 08:49:37 GMT", datetime(2025, 3, 2, 8, 49, 37, tzinfo=UTC)),
        ("Sun Mar  2 08:49:37 2025", datetime(2025, 3, 2, 8, 49, 37, tzinfo=UTC)),
        # In the past: retry now, not yesterday.
        ("Fri, 28 Feb 2025 08:00:00 GMT", NOW),
        ("", None),
        (None, None),
        ("-5", None),
        ("1.5", None),
        ("tomorrow", None),
        ("99999999999999999999", None),
    ],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, NOW) == expected


# --- timeouts --------------------------------------------------------------------------


def test_slow_headers_hit_the_read_timeout(feed_server):
    with Fetcher(allow_private_networks=True, read_timeout=0.3) as f:
        started = time.monotonic()
        err = fetch_error(f, feed_server.url("/slow/5/fetch-basic.xml"))
    assert err.code == "timeout"
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("phase", ["body", "headers"])
def test_dripping_server_is_cut_at_the_deadline(feed_server, phase):
    # One byte every 0.1 s never trips the 15 s read timeout: only the deadline can.
    with Fetcher(allow_private_networks=True, timeout=1.5) as f:
        started = time.monotonic()
        err = fetch_error(f, feed_server.url(f"/drip/0.1/fetch-basic.xml?phase={phase}"))
        took = time.monotonic() - started
    assert err.code == "timeout"
    assert "1.5 seconds" in str(err)
    assert 1.4 < took < 3


def test_deadline_also_covers_a_reused_keep_alive_connection(feed_server):
    with Fetcher(allow_private_networks=True, timeout=1.0) as f:
        f.fetch(feed_server.url("/feeds/fetch-basic.xml"))
        started = time.monotonic()
        err = fetch_error(f, feed_server.url("/drip/0.1/fetch-basic.xml"))
        assert err.code == "timeout"
        assert time.monotonic() - started < 2.5
        # The connection cut by the deadline is not reused for the next fetch.
        assert f.fetch(feed_server.url("/feeds/fetch-basic.xml")).body == BASIC
    assert feed_server.connections == 2


def test_a_fast_fetch_is_not_cut_by_an_earlier_deadline(feed_server):
    with Fetcher(allow_private_networks=True, timeout=0.3) as f:
        for _ in range(3):
            assert f.fetch(feed_server.url("/feeds/fetch-basic.xml")).body == BASIC
            time.sleep(0.15)  # longer than half the deadline, so stale timers would fire


# --- size caps -------------------------------------------------------------------------


def test_content_length_over_the_cap_is_refused_early(feed_server):
    with Fetcher(allow_private_networks=True, max_size=MIB) as f:
        err = fetch_error(f, feed_server.url("/big/20"))
    assert err.code == "too_large"
    assert "announced 20,971,520 bytes" in str(err)


def test_stream_without_length_is_cut_at_the_cap(feed_server):
    with Fetcher(allow_private_networks=True, max_size=MIB) as f:
        started = time.monotonic()
        err = fetch_error(f, feed_server.url("/big/20?length=0"))
    assert err.code == "too_large"
    assert time.monotonic() - started < 2


def test_body_exactly_at_the_cap_is_accepted(feed_server):
    with Fetcher(allow_private_networks=True, max_size=len(BASIC)) as f:
        assert f.fetch(feed_server.url("/feeds/fetch-basic.xml")).body == BASIC
    with Fetcher(allow_private_networks=True, max_size=len(BASIC) - 1) as f:
        assert fetch_error(f, feed_server.url("/feeds/fetch-basic.xml")).code == "too_large"


@pytest.mark.parametrize("chunked", ["0", "1"])
def test_gzip_bomb_is_stopped_without_using_much_memory(feed_server, chunked):
    _gzipped_zeros(50)  # built before tracing: the server's memory is not ours
    with Fetcher(allow_private_networks=True, max_size=MIB) as f:
        tracemalloc.start()
        try:
            err = fetch_error(f, feed_server.url(f"/bomb/50?chunked={chunked}"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert err.code == "too_large"
    assert peak < 6 * MIB, f"peak {peak:,} bytes"


# --- private networks ------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "[::1]", "0.0.0.0", "[::ffff:127.0.0.1]"]
)
def test_private_addresses_are_refused_before_connecting(feed_server, host):
    url = feed_server.url("/feeds/fetch-basic.xml").replace("127.0.0.1", host)
    with Fetcher() as f:
        err = fetch_error(f, url)
    assert err.code == "blocked_address"
    assert "allow_private_networks" in str(err)
    assert feed_server.requests == []
    assert feed_server.connections == 0


def test_redirect_to_a_private_address_is_refused(feed_server):
    # The first server is trusted by address; the redirect target is not.
    with FeedServer(FEEDS, host="127.0.0.2") as inner:
        target = inner.url("/feeds/fetch-basic.xml")
        with Fetcher(allowed_networks=["127.0.0.1/32"]) as f:
            assert f.fetch(feed_server.url("/feeds/fetch-basic.xml")).body == BASIC
            err = fetch_error(f, feed_server.url("/redirect-to?url=" + target))
        assert err.code == "blocked_address"
        assert "127.0.0.2" in str(err) and "loopback" in str(err)
        assert inner.requests == []
        assert inner.connections == 0


def test_allow_private_networks(feed_server):
    with Fetcher(allow_private_networks=True) as f:
        assert f.fetch(feed_server.url("/feeds/fetch-basic.xml")).body == BASIC


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("100.127.255.254", "shared (carrier-grade NAT)"),
        ("169.254.169.254", "link-local"),  # cloud metadata endpoints
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "private"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "private"),
        ("255.255.255.255", "private"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("2002:a00:1::", "private"),  # 6to4 of 10.0.0.1
        ("2001:db8::1", "private"),  # documentation
        ("8.8.8.8", None),
        ("93.184.215.14", None),
        ("172.32.0.1", None),
        ("100.128.0.1", None),
        ("2606:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),
    ],
)
def test_address_problem(address, problem):
    assert address_problem(ipaddress.ip_address(address)) == problem


# --- transport failures ----------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused(fetcher):
    err = fetch_error(fetcher, f"http://127.0.0.1:{_closed_port()}/feed.xml")
    assert err.code == "connect"
    assert "refused" in str(err)


def test_unknown_host(fetcher):
    # .invalid never resolves (RFC 6761 §6.4).
    err = fetch_error(fetcher, "http://no-such-host.invalid/feed.xml")
    assert err.code == "dns"
    assert "no-such-host.invalid" in str(err)


def test_tls_failure(fetcher, feed_server):
    # Speaking TLS to a plain HTTP server fails the handshake.
    url = feed_server.url("/feeds/fetch-basic.xml").replace("http://", "https://")
    err = fetch_error(fetcher, url)
    assert err.code == "tls"
    assert "TLS" in str(err)


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/hangup", "connect"),
        ("/truncated/fetch-basic.xml", "connect"),
        ("/garbage", "bad_response"),
    ],
)
def test_broken_responses(fetcher, feed_server, path, code):
    assert fetch_error(fetcher, feed_server.url(path)).code == code


def test_corrupt_gzip_is_a_bad_response(fetcher, feed_server):
    url = feed_server.add("/fake.gz", b"not gzip at all", headers={"Content-Encoding": "gzip"})
    assert fetch_error(fetcher, url).code == "bad_response"


# --- HTTPS -----------------------------------------------------------------------------


@pytest.fixture
def tls_server(tls_files) -> Iterator[FeedServer]:
    with FeedServer(FEEDS, tls=tls_files) as server:
        yield server


def test_https_with_a_trusted_certificate(tls_server, tls_files):
    url = tls_server.url("/feeds/fetch-basic.xml")
    assert url.startswith("https://")
    with Fetcher(allow_private_networks=True, ca_bundle=str(tls_files[0])) as f:
        result = f.fetch(url)
        assert (result.status, result.body) == (200, BASIC)
        assert f.fetch(url, etag=result.etag).status == 304


def test_https_with_an_untrusted_certificate(tls_server):
    with Fetcher(allow_private_networks=True) as f:
        err = fetch_error(f, tls_server.url("/feeds/fetch-basic.xml"))
    assert err.code == "tls"
    assert "certificate verify failed" in str(err)


def test_https_dripping_server_is_cut_at_the_deadline(tls_server, tls_files):
    with Fetcher(allow_private_networks=True, timeout=1.0, ca_bundle=str(tls_files[0])) as f:
        started = time.monotonic()
        err = fetch_error(f, tls_server.url("/drip/0.1/fetch-basic.xml?phase=headers"))
    assert err.code == "timeout"
    assert time.monotonic() - started < 2.5


def test_silent_server_during_the_tls_handshake():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with Fetcher(allow_private_networks=True, timeout=1.0) as f:
            started = time.monotonic()
            err = fetch_error(f, f"https://127.0.0.1:{port}/feed.xml")
    assert err.code == "timeout"
    assert time.monotonic() - started < 2.5


# --- threads and lifecycle ---------------------------------------------------------------


def test_concurrent_fetches_from_many_threads(feed_server):
    feed_server.add("/other.xml", b"<rss>other</rss>")
    results: list[tuple[str, bytes | None]] = []
    errors: list[BaseException] = []

    def work(f: Fetcher, n: int) -> None:
        try:
            for i in range(5):
                path = "/feeds/fetch-basic.xml" if (n + i) % 2 else "/other.xml"
                results.append((path, f.fetch(feed_server.url(path)).body))
            err = fetch_error(f, feed_server.url("/status/404"))
            assert err.code == "not_found"
        except BaseException as e:
            errors.append(e)

    with Fetcher(allow_private_networks=True, timeout=1.0) as f:
        threads = [threading.Thread(target=work, args=(f, n)) for n in range(8)]
        for t in threads:
            t.start()
        # A dripping feed in the middle must not slow the others down.
        started = time.monotonic()
        assert fetch_error(f, feed_server.url("/drip/0.05/fetch-basic.xml")).code == "timeout"
        assert time.monotonic() - started < 2.5
        for t in threads:
            t.join()
    assert errors == []
    assert len(results) == 40
    for path, body in results:
        assert body == (BASIC if path.startswith("/feeds") else b"<rss>other</rss>")


def test_sessions_of_finished_threads_are_closed(feed_server):
    with Fetcher(allow_private_networks=True) as f:
        for _ in range(3):
            t = threading.Thread(target=f.fetch, args=(feed_server.url("/feeds/fetch-basic.xml"),))
            t.start()
            t.join()
        f.fetch(feed_server.url("/feeds/fetch-basic.xml"))
        assert len(f._sessions) == 1


def test_fetch_after_close_is_a_programming_error(feed_server):
    f = Fetcher(allow_private_networks=True)
    f.close()
    f.close()  # idempotent
    with pytest.raises(RuntimeError):
        f.fetch(feed_server.url("/feeds/fetch-basic.xml"))


def test_now_must_be_aware(fetcher, feed_server):
    with pytest.raises(ValueError):
        fetcher.fetch(feed_server.url("/feeds/fetch-basic.xml"), now=datetime(2025, 1, 1))


def test_error_codes_are_plain_sentences():
    for code, text in ERROR_CODES.items():
        assert code.isidentifier() and code.islower()
        assert text and text[0].islower() and not text.endswith(".")
        assert "{" not in text
