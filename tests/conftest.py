"""Shared fixtures. Module-specific fixtures live in their test modules."""

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from feedserver import FeedServer
from hypothesis import settings

# Property tests draw the same examples on every machine: Hypothesis fixes its seed
# when it sees CI (its "ci" profile), so a local run that drew other examples could
# pass while CI finds a failure (it did, in the mail headers). `make test` uses the
# same fixed seed everywhere; HYPOTHESIS_PROFILE=explore draws new examples (and
# keeps failures in .hypothesis/) when looking for new bugs on purpose.
settings.register_profile("fixed", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fixed"))

FEEDS_DIR = Path(__file__).parent / "data" / "feeds"


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A started FeedServer (tests/feedserver.py) serving tests/data/feeds/."""
    with FeedServer(FEEDS_DIR) as server:
        yield server


@pytest.fixture
def smtp() -> Iterator["SmtpServer"]:  # noqa: F821 - imported below, to append only
    """A started SmtpServer (tests/smtpserver.py): a real aiosmtpd on 127.0.0.1."""
    from smtpserver import SmtpServer

    with SmtpServer() as server:
        yield server


# --- real headless Chromium (Debian's package, driven by Playwright) -----------------

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying to reach Google's
# hosts, which this sandbox refuses; --no-sandbox because CI runs as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Records CSP violations before any page script runs.
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


def require_browser() -> None:
    """Skip (saying why) when Chromium or Playwright is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: `make chromium` (apt-get install chromium) first")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright for Python is not installed (pip install -e '.[dev]')")


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    """A fresh French-speaking page that records dialogs, page errors and console lines
    in ``page.events`` (dialogs are dismissed so a payload's alert() cannot block)."""
    context = browser.new_context(
        locale="fr-FR", viewport={"width": 1200, "height": 900}, color_scheme="light"
    )
    context.add_init_script(WATCH_CSP)
    pg = context.new_page()
    pg.set_default_timeout(5000)
    pg.events = {"dialogs": [], "errors": [], "console": []}
    pg.on("dialog", lambda d: (pg.events["dialogs"].append(d.message), d.dismiss()))
    pg.on("pageerror", lambda e: pg.events["errors"].append(str(e)))
    pg.on("console", lambda m: pg.events["console"].append(f"{m.type}: {m.text}"))
    yield pg
    context.close()


# --- TLS: a self-signed certificate for the HTTPS feed server and the SMTP server ------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (needs the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


# --- the dashboard over a seeded site (tests/websupport.py) ---------------------------
# test_web*.py share these; a module that needs another site defines its own fixtures
# with the same names, which take precedence.


@pytest.fixture
def site(tmp_path: Path) -> dict:
    from websupport import write_site

    return write_site(tmp_path)


@pytest.fixture
def app(site: dict):
    from websupport import seeded_app

    app = seeded_app(site)
    yield app
    app.extensions["aggregator"].close()


@pytest.fixture
def client(app):
    return app.test_client()
