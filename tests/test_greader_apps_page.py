"""« Applications mobiles » (issue 11) in a real headless Chromium against the real app
served by waitress: reached from the header, French, the addresses and the user name to
type, whether the API is on; at 390×844 (phone) and 1366×768, light and dark, with no
horizontal scrolling and no CSP violation. Screenshots land in test-output/apps-*.png."""

from __future__ import annotations

import re
import threading

import pytest
from conftest import WATCH_CSP, require_browser
from websupport import ROOT, seeded_app, write_site

from aggregator.web import apiauth, serve

pytestmark = pytest.mark.browser

OUTPUT = ROOT / "test-output"
VARIANTS = [
    ("mobile", {"width": 390, "height": 844}, True, "light"),
    ("mobile", {"width": 390, "height": 844}, True, "dark"),
    ("desktop", {"width": 1366, "height": 768}, False, "light"),
    ("desktop", {"width": 1366, "height": 768}, False, "dark"),
]
ENGLISH = re.compile(r"\b(Mobile apps|Sync API|Account type|Server address|User name|enabled)\b")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    require_browser()
    app = seeded_app(write_site(tmp_path_factory.mktemp("apps")))
    server = serve(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(10)
    app.extensions["aggregator"].close()


def test_the_page_says_off_then_on_with_the_addresses_to_type(site, page):
    app, base = site
    page.goto(base + "/feeds")
    assert "désactivée" in page.locator(".api-status").inner_text()
    page.get_by_role("link", name="Applications mobiles").first.click()
    page.wait_for_url("**/apps")
    assert page.locator("[data-api-state]").get_attribute("data-api-state") == "off"
    assert "aggregator api-password" in page.locator("main").inner_text()

    apiauth.store_password(app.extensions["aggregator"].storage, "camille", "secret")
    page.reload()
    assert page.locator("[data-api-state]").get_attribute("data-api-state") == "on"
    assert page.locator("[data-api-user]").inner_text() == "camille"
    urls = {
        name: page.locator(f'[data-app-url="{name}"]').inner_text()
        for name in ("NetNewsWire", "Fluent Reader", "newsboat", "Unread")
    }
    assert urls == {
        "NetNewsWire": f"{base}/api/greader.php",
        "Fluent Reader": f"{base}/api/greader",
        "newsboat": f"{base}/api/greader",
        "Unread": f"{base}/api/fever/",
    }
    assert page.evaluate("window.__csp") == [] and page.events["errors"] == []

    OUTPUT.mkdir(exist_ok=True)
    browser = page.context.browser
    for kind, viewport, mobile, scheme in VARIANTS:
        context = browser.new_context(
            locale="fr-FR", viewport=viewport, is_mobile=mobile, has_touch=mobile,
            device_scale_factor=2 if mobile else 1, color_scheme=scheme,
        )  # fmt: skip
        context.add_init_script(WATCH_CSP)
        try:
            pg = context.new_page()
            pg.set_default_timeout(5000)
            assert pg.goto(base + "/apps").ok
            label = f"apps-{kind}-{scheme}"
            pg.screenshot(path=str(OUTPUT / f"{label}.png"), full_page=True)
            wide = pg.evaluate("document.documentElement.scrollWidth") - viewport["width"]
            assert wide <= 0, f"{label}: {wide}px wider than the screen"
            assert not ENGLISH.findall(pg.locator("main").inner_text()), label
            assert pg.evaluate("window.__csp") == [], label
        finally:
            context.close()
