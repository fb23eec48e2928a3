"""Who may talk to the dashboard (aggregator/web/guard.py) and how long a login lasts:
the Host check against DNS rebinding, the Origin/Referer check on state changes, the
reverse-proxy settings, session revocation at logout and password change, and the
cookies' Secure flag. Through the Flask test client and a real waitress server."""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from websupport import NEWS, entry_id, make_app, seeded_app, storage, text, token

from aggregator.errors import AggregatorError
from aggregator.web import serve
from aggregator.web.guard import AllowedHosts

PASSWORD = "correct horse"


@contextmanager
def served(app, host: str = "127.0.0.1") -> Iterator[int]:
    server = serve(app, host, 0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server.effective_port
    finally:
        server.close()
        thread.join(timeout=5)


def raw_get(port: int, path: str, host: str) -> tuple[int, str]:
    """A GET that says ``Host: host`` while connecting to 127.0.0.1, as a browser does
    once a rebinding DNS answered 127.0.0.1 for ``host``."""
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        con.putrequest("GET", path, skip_host=True)
        con.putheader("Host", host)
        con.endheaders()
        response = con.getresponse()
        return response.status, response.read().decode("utf-8")
    finally:
        con.close()


# --- Host -------------------------------------------------------------------------


def test_forged_host_is_refused_on_pages_api_and_static(app, client):
    for host in ["evil.example", "evil.example:8000", "localhost.evil.example", "127.0.0.1.nip.io"]:
        for path in ["/", "/feeds", "/sent", "/contacts", "/api/entries", "/static/app.css"]:
            r = client.get(path, headers={"Host": host})
            assert r.status_code == 400, (host, path)
            # not even the error page's menu and banners: tab names, counts, folders
            page = text(r)
            assert "Titre piégé" not in page and "Actualités" not in page, (host, path)
            assert str(app.extensions["aggregator"].outbox_dir) not in page, (host, path)
            r.close()
        r = client.get("/", headers={"Host": host})
        assert "ne répond pas au nom « " + host + " »" in text(r)
        assert "AGGREGATOR_ALLOWED_HOSTS" in text(r)
        assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")
        r = client.get("/api/entries", headers={"Host": host})
        assert (
            r.is_json and r.json["status"] == 400 and "AGGREGATOR_ALLOWED_HOSTS" in r.json["error"]
        )
    # the English page says it in English
    r = client.get("/?lang=en", headers={"Host": "evil.example"})
    assert "does not answer to the name “evil.example”" in text(r)


def test_loopback_names_are_accepted_with_or_without_port(client):
    for host in ["localhost", "localhost:8000", "127.0.0.1", "127.0.0.1:8000", "127.3.4.5:81",
                 "[::1]", "[::1]:8000", "LOCALHOST:8000"]:  # fmt: skip
        r = client.get("/api/feeds", headers={"Host": host})
        assert r.status_code == 200, host
    for host in ["", "localhost:99999", "local host", "localhost:0", "[::2]:80", "0.0.0.0:8000"]:
        assert client.get("/api/feeds", headers={"Host": host}).status_code == 400, host


def test_allowed_hosts_setting_admits_a_proxy_name(site):
    app = make_app(site, AGGREGATOR_ALLOWED_HOSTS=" feeds.example.org, .home.example ,[fd00::5]")
    client = app.test_client()
    for host in ["feeds.example.org", "FEEDS.example.org:443", "pi.home.example", "home.example",
                 "[fd00::5]:8000", "localhost"]:  # fmt: skip
        assert client.get("/api/feeds", headers={"Host": host}).status_code == 200, host
    for host in ["example.org", "evil.example", "feeds.example.org.evil.example", "[fd00::6]"]:
        assert client.get("/api/feeds", headers={"Host": host}).status_code == 400, host
    app.extensions["aggregator"].close()


def test_forged_host_on_a_real_waitress_server(site):
    app = seeded_app(site)
    with served(app) as port:
        status, body = raw_get(port, "/api/entries", "evil.example")
        assert status == 400 and "Titre piégé" not in body and "Actualités" not in body
        status, body = raw_get(port, "/", f"rebind.evil.example:{port}")
        assert status == 400 and "ne répond pas au nom" in body
        status, body = raw_get(port, "/api/entries", f"127.0.0.1:{port}")
        assert status == 200 and len(json.loads(body)["entries"]) == 7
    app.extensions["aggregator"].close()


def test_a_password_does_not_turn_a_forged_host_into_a_login_page(site):
    app = make_app(site, AGGREGATOR_PASSWORD=PASSWORD)
    r = app.test_client().get("/feeds", headers={"Host": "evil.example"})
    assert r.status_code == 400 and "Location" not in r.headers
    app.extensions["aggregator"].close()


def test_bound_address_is_allowed_and_a_wildcard_allows_addresses_only():
    hosts = AllowedHosts()
    hosts.add_bound("192.168.1.5")
    assert hosts.allows("192.168.1.5:8000") and hosts.allows("192.168.1.5")
    assert not hosts.allows("192.168.1.6:8000") and not hosts.allows("evil.example")
    hosts = AllowedHosts()
    hosts.add_bound("0.0.0.0")
    assert hosts.allows("192.168.1.6:8000") and hosts.allows("[fe80::1]:8000")
    assert not hosts.allows("evil.example:8000")  # a name could be rebound: never implied
    hosts = AllowedHosts()
    hosts.add_bound("[::]")
    assert hosts.allows("10.0.0.2")
    hosts = AllowedHosts()
    hosts.add_bound("nas.lan")
    assert hosts.allows("nas.lan:8000") and not hosts.allows("other.lan")
    hosts = AllowedHosts()
    hosts.add_bound("127.0.0.2")
    assert hosts.names == [] and hosts.allows("127.0.0.2:80")


def test_serve_adds_the_bound_address(site):
    app = seeded_app(site)
    serve(app, "0.0.0.0", 0).close()
    assert app.test_client().get("/api/feeds", headers={"Host": "10.1.2.3:8000"}).status_code == 200
    assert app.test_client().get("/api/feeds", headers={"Host": "evil.example"}).status_code == 400
    app.extensions["aggregator"].close()


# --- Origin / Referer on state changes -----------------------------------------------


def test_cross_origin_post_is_refused_even_with_session_and_csrf_token(app, client):
    eid = entry_id(app, NEWS, 1)
    csrf = token(client)
    for origin in ["http://evil.example", "http://localhost:3000", "null", "http://127.0.0.1:81",
                   "https://localhost", "file://", "not a url"]:  # fmt: skip
        r = client.post(
            f"/entry/{eid}/read",
            data={"csrf_token": csrf, "read": "1"},
            headers={"Origin": origin, "Host": "localhost"},
        )
        assert r.status_code == 400, origin
        assert "envoyé depuis un autre site" in text(r)
    for referer in ["http://evil.example/page", "http://localhost:3000/"]:
        r = client.post("/mark-all-read", data={"csrf_token": csrf}, headers={"Referer": referer})
        assert r.status_code == 400, referer
    r = client.post(
        "/contacts",
        data={"csrf_token": csrf, "name": "Eve", "email": "eve@evil.example"},
        headers={"Origin": "http://evil.example", "Accept": "application/json"},
    )
    assert r.status_code == 400 and r.is_json and "autre site" in r.json["error"]
    assert storage(app).entry(eid).read is False
    assert storage(app).unread_counts()  # nothing was marked read
    assert client.get("/contacts").get_data(as_text=True).count("eve@evil.example") == 0


def test_same_origin_posts_still_work(app, client):
    eid = entry_id(app, NEWS, 1)
    csrf = token(client)
    # as a browser sends them: Origin of the page (Host of the request)
    r = client.post(
        f"/entry/{eid}/read",
        data={"csrf_token": csrf, "read": "1"},
        headers={"Origin": "http://localhost", "Referer": "http://localhost/"},
    )
    assert r.status_code == 302
    assert storage(app).entry(eid).read is True
    # Referer only (an older browser): same site
    r = client.post(
        f"/entry/{eid}/read",
        data={"csrf_token": csrf, "read": "0"},
        headers={"Referer": "http://localhost/entry/1"},
    )
    assert r.status_code == 302 and storage(app).entry(eid).read is False
    # neither (curl, scripts): the CSRF token still decides
    r = client.post(f"/entry/{eid}/star", data={"csrf_token": csrf})
    assert r.status_code == 302 and storage(app).entry(eid).starred is True
    r = client.post(f"/entry/{eid}/star", data={"starred": "0"})
    assert r.status_code == 400 and storage(app).entry(eid).starred is True


def test_origin_through_a_real_server_and_a_proxy_name(site):
    app = make_app(site, AGGREGATOR_ALLOWED_HOSTS="feeds.example.org")
    st = app.extensions["aggregator"]
    st.storage.sync_feeds(st.config.feeds, now=datetime.now(UTC))
    with served(app) as port:
        con = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        con.request("GET", "/feeds")
        page = con.getresponse()
        cookie = page.getheader("Set-Cookie").split(";")[0]
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.read().decode()).group(1)

        def refresh(origin: str) -> int:
            con.request(
                "POST",
                "/feeds/refresh",
                body=f"csrf_token={csrf}",
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Cookie": cookie,
                    "Origin": origin,
                },
            )
            response = con.getresponse()
            response.read()
            return response.status

        assert refresh("http://evil.example") == 400
        assert refresh(f"http://127.0.0.1:{port}") == 302
        # a reverse proxy that keeps its own Host: the public name is configured
        assert refresh("https://feeds.example.org") == 302
        con.close()
    st.close()


# --- sessions: revocation and cookie flags -------------------------------------------


def login(client, password: str = PASSWORD) -> None:
    page = text(client.get("/login"))
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/login", data={"csrf_token": csrf, "password": password})
    assert r.status_code == 302, text(r)


def session_cookie(client) -> str:
    cookie = client.get_cookie("aggregator_session")
    assert cookie is not None
    return cookie.value


def test_a_cookie_replayed_after_logout_is_refused(site):
    app = make_app(site, AGGREGATOR_PASSWORD=PASSWORD)
    st = app.extensions["aggregator"]
    st.storage.sync_feeds(st.config.feeds, now=datetime.now(UTC))
    phone, laptop = app.test_client(), app.test_client()
    login(phone)
    login(laptop)
    stolen = session_cookie(phone)
    assert phone.get("/").status_code == 200
    assert phone.post("/logout", data={"csrf_token": token(phone)}).status_code == 302
    thief = app.test_client()
    thief.set_cookie("aggregator_session", stolen)
    r = thief.get("/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    assert thief.get("/api/entries").status_code == 401
    page = text(thief.get("/login"))
    assert "Actualités" not in page and "Se déconnecter" not in page  # nothing leaks
    # logout means every session: the laptop has to log in again too
    assert laptop.get("/api/feeds").status_code == 401
    login(laptop)
    assert laptop.get("/api/feeds").status_code == 200
    # ...and it survives a restart: the epoch is in the database, not in memory
    again = make_app(site, AGGREGATOR_PASSWORD=PASSWORD)
    thief = again.test_client()
    thief.set_cookie("aggregator_session", stolen)
    assert thief.get("/api/feeds").status_code == 401
    fresh = again.test_client()
    fresh.set_cookie("aggregator_session", session_cookie(laptop))
    assert fresh.get("/api/feeds").status_code == 200
    for a in (app, again):
        a.extensions["aggregator"].close()


def test_a_restored_backup_does_not_revive_a_logged_out_cookie(site, tmp_path):
    from click.testing import CliRunner

    from aggregator.cli import cli
    from aggregator.storage import backup

    app = make_app(site, AGGREGATOR_PASSWORD=PASSWORD)
    st = app.extensions["aggregator"]
    st.storage.sync_feeds(st.config.feeds, now=datetime.now(UTC))
    phone = app.test_client()
    login(phone)
    stolen = session_cookie(phone)
    saved = tmp_path / "before-logout.sqlite3"
    backup(str(site["db"]), str(saved))  # its session epoch predates the logout
    assert phone.post("/logout", data={"csrf_token": token(phone)}).status_code == 302
    st.close()

    done = CliRunner().invoke(
        cli, ["--config", str(site["config"]), "--db", str(site["db"]), "restore", str(saved)]
    )
    assert done.exit_code == 0, done.output
    again = make_app(site, AGGREGATOR_PASSWORD=PASSWORD)
    thief = again.test_client()
    thief.set_cookie("aggregator_session", stolen)
    assert thief.get("/api/feeds").status_code == 401
    login(thief)  # the password still works: only sessions were revoked
    assert thief.get("/api/feeds").status_code == 200
    again.extensions["aggregator"].close()


def test_changing_the_password_logs_sessions_out(site):
    app = make_app(site, AGGREGATOR_PASSWORD=PASSWORD)
    client = app.test_client()
    login(client)
    cookie = session_cookie(client)
    app.extensions["aggregator"].close()
    changed = make_app(site, AGGREGATOR_PASSWORD="a new password")
    client = changed.test_client()
    client.set_cookie("aggregator_session", cookie)
    assert client.get("/api/feeds").status_code == 401
    login(client, "a new password")
    assert client.get("/api/feeds").status_code == 200
    changed.extensions["aggregator"].close()


def test_secure_cookies_setting(site):
    app = make_app(site, AGGREGATOR_PASSWORD=PASSWORD, AGGREGATOR_SECURE_COOKIES="1")
    client = app.test_client()
    r = client.get("/login?lang=en")
    cookies = r.headers.getlist("Set-Cookie")
    assert any(c.startswith("aggregator_session=") and "Secure" in c for c in cookies), cookies
    assert any(c.startswith("lang=") and "Secure" in c for c in cookies), cookies
    app.extensions["aggregator"].close()
    plain = make_app(site, AGGREGATOR_PASSWORD=PASSWORD)
    cookies = plain.test_client().get("/login?lang=en").headers.getlist("Set-Cookie")
    assert cookies and not any("Secure" in c for c in cookies), cookies
    plain.extensions["aggregator"].close()


def test_behind_a_tls_proxy_cookies_are_secure_and_the_client_address_is_known(site):
    forwarded = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "feeds.example.org",
        "X-Forwarded-For": "203.0.113.9",
    }
    # Without the setting, anyone could send these headers: they are ignored.
    app = make_app(site, AGGREGATOR_PASSWORD=PASSWORD, AGGREGATOR_ALLOWED_HOSTS="feeds.example.org")
    cookies = app.test_client().get("/login", headers=forwarded).headers.getlist("Set-Cookie")
    assert cookies and not any("Secure" in c for c in cookies)
    app.extensions["aggregator"].close()

    app = make_app(
        site,
        AGGREGATOR_PASSWORD=PASSWORD,
        AGGREGATOR_ALLOWED_HOSTS="feeds.example.org",
        AGGREGATOR_PROXY="1",
    )
    client = app.test_client()
    r = client.get("/login", headers=forwarded)
    assert r.status_code == 200
    cookies = r.headers.getlist("Set-Cookie")
    assert any(c.startswith("aggregator_session=") and "Secure" in c for c in cookies), cookies
    # the forwarded Host is checked like any other
    r = client.get("/login", headers={**forwarded, "X-Forwarded-Host": "evil.example"})
    assert r.status_code == 400
    # the login limiter counts the client, not the proxy
    csrf = re.search(
        r'name="csrf_token" value="([^"]+)"', text(client.get("/login", headers=forwarded))
    ).group(1)
    for _ in range(5):
        client.post("/login", data={"csrf_token": csrf, "password": "x"}, headers=forwarded)
    r = client.post(
        "/login",
        data={"csrf_token": csrf, "password": PASSWORD},
        headers={**forwarded, "X-Forwarded-For": "203.0.113.10"},
    )
    assert r.status_code == 302
    app.extensions["aggregator"].close()


def test_proxy_setting_must_be_a_count(site):
    for bad in ["maybe", "-1", "²", "99"]:
        with pytest.raises(AggregatorError, match="AGGREGATOR_PROXY"):
            make_app(site, AGGREGATOR_PROXY=bad)
