"""The layout holds from a phone to a laptop, in light and dark, in a real Chromium.

At 390×844 (mobile emulation: touch, coarse pointer) and 1366×768, in both colour
schemes, on every page and with the forward panel and the undo toast open:
- nothing is wider than the screen (``scrollWidth <= innerWidth``);
- every visible button (and button-like link) lies inside the viewport's width, and
  inside its height too for fixed things (panel, toast);
- on touch screens, every button is at least 44×44 px (WCAG 2.5.5).
And an in-page audit (axe-core is not available offline): text contrast against its
actual background (WCAG AA: 4.5:1, 3:1 for large text) and a label on every form control.

Screenshots land in test-output/layout-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from conftest import WATCH_CSP, require_browser
from test_browser import OUTPUT, _entry, served
from websupport import BLOG, NEWS, TECH

pytestmark = pytest.mark.browser

LONG_TITLE = "Un titre d'article vraiment très long, " * 4 + "sans_espace_" * 12

FEEDS_YAML = f"""\
tabs:
  - name: Actualités
    feeds:
      - url: {NEWS}
        title: Le Journal
      - url: {BLOG}
        title: Le Blog
  - name: Tech et sciences
    feeds:
      - url: {TECH}
        title: Tech Weekly
  - name: Cinéma documentaire
    feeds: []
  - name: Offres d'emploi
    feeds: []
"""

CONTACTS_YAML = """\
- name: Camille Exemple
  email: camille@example.org
  interests: [article]
"""

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 768}

PAGES = [
    "",
    "tab/Actualit%C3%A9s",
    "tab/Tech%20et%20sciences?view=widgets",
    f"feed?url={quote(NEWS, safe='')}",
    "entry/{doc}",
    "search?q=article",
    "feeds",
    "add",
    "manage",
    "import-opml",
    "sent",
    "contacts",
    "contacts/camille@example.org",
    "no-such-page",
]

# What every measured element must satisfy, computed in the page.
MEASURE = """
(touch) => {
  const w = window.innerWidth, h = window.innerHeight;
  const out = {scroll: document.documentElement.scrollWidth, width: w, outside: [], small: []};
  const sel = 'button, .btn, input[type=submit], .tabs a, .topnav a, [data-forward-close], [data-toast-close]';
  for (const el of document.querySelectorAll(sel)) {
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || el.closest('[hidden]')) continue;
    if (el.closest('.visually-hidden')) continue;
    // what must stay on screen while a panel scrolls: its head, its buttons, the toast
    const fixed = el.closest('.forward-panel-head, .forward-buttons, .toast');
    const scroller = el.closest('.tabs');
    const name = (el.innerText || el.getAttribute('aria-label') || el.outerHTML).trim().slice(0, 60);
    if (!scroller && (r.left < -0.5 || r.right > w + 0.5)) out.outside.push(name + ' x=' + r.left + '..' + r.right);
    if (fixed && (r.top < -0.5 || r.bottom > h + 0.5)) out.outside.push(name + ' y=' + r.top + '..' + r.bottom);
    if (touch && (r.height < 43.5 || r.width < 43.5)) out.small.push(name + ' ' + Math.round(r.width) + 'x' + Math.round(r.height));
  }
  for (const box of document.querySelectorAll('dialog[open], .toast:not([hidden])')) {
    const r = box.getBoundingClientRect();
    if (r.left < -0.5 || r.right > w + 0.5 || r.top < -0.5 || r.bottom > h + 0.5)
      out.outside.push(box.className + ' ' + JSON.stringify(r));
  }
  return out;
}
"""

# WCAG contrast of every text node's element against the colour actually behind it
# (walking up until an opaque background), and a name for every form control.
AUDIT = """
() => {
  function rgba(s) {
    const m = s.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  }
  function lum(c) {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  }
  function blend(top, under) {
    const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + under[i] * (1 - a)).concat([1]);
  }
  function background(el) {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    if (matchMedia('(prefers-color-scheme: dark)').matches) bg = [0, 0, 0, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = blend(layers[i], bg);
    return bg;
  }
  const problems = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.textContent.trim()) continue;
    const el = node.parentElement;
    if (!el || seen.has(el)) continue;
    seen.add(el);
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height || el.closest('[hidden], .visually-hidden, template, .skip-link, [aria-hidden=true], [disabled]')) continue;
    const s = getComputedStyle(el);
    if (s.visibility === 'hidden' || parseFloat(s.opacity) === 0) continue;
    let opacity = 1;
    for (let e = el; e; e = e.parentElement) opacity *= parseFloat(getComputedStyle(e).opacity);
    const bg = background(el);
    const fg = blend(rgba(s.color).slice(0, 3).concat([rgba(s.color)[3] * opacity]), bg);
    const l1 = lum(fg), l2 = lum(bg);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight) >= 700;
    const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    if (ratio < need) problems.push('contrast ' + ratio.toFixed(2) + ' < ' + need + ': ' + node.textContent.trim().slice(0, 40) + ' (' + el.className + ')');
  }
  for (const c of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    if (c.closest('[hidden]')) continue;
    const named = c.labels && c.labels.length || c.getAttribute('aria-label') || c.getAttribute('aria-labelledby') || c.title;
    if (!named) problems.push('no label: ' + c.outerHTML.slice(0, 80));
  }
  return problems;
}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[dict]:
    require_browser()
    tmp = tmp_path_factory.mktemp("layout")
    (tmp / "feeds.yaml").write_text(FEEDS_YAML, encoding="utf-8")
    (tmp / "contacts.yaml").write_text(CONTACTS_YAML, encoding="utf-8")
    with served(tmp) as (st, base):
        now = datetime.now(UTC)
        st.storage.sync_feeds(st.config.feeds, now=now)
        st.storage.upsert_entries(
            NEWS,
            [_entry(NEWS, i, now - timedelta(hours=i), base, title=LONG_TITLE) for i in (1, 2)],
            now=now,
        )
        st.storage.upsert_entries(
            TECH, [_entry(TECH, i, now - timedelta(hours=i), base) for i in (1, 2, 3)], now=now
        )
        st.storage.record_error(
            BLOG,
            now=now,
            code="dns",
            # long unbroken words, as real errors quote URLs
            message="HTTPSConnectionPool(host='blog.example.org'): Max retries exceeded with url:"
            " https://blog.example.org/atom.xml?utm_source=aggregator&utm_medium=rss&utm_campaign="
            "a-very-long-campaign-name-without-any-space-in-it (Caused by NameResolutionError)",
            next_check=now + timedelta(minutes=30),
        )
        # an address resolved to a feed: its row gets a second, long button
        st.storage.record_resolution(
            TECH,
            feed_url="https://tech.example.net/feeds/all-articles-in-every-category.atom.xml",
            platform=None,
            candidates=2,
            now=now,
        )
        entries, _ = st.storage.entries(feed_url=NEWS, limit=5)
        yield {"base": base, "state": st, "doc": entries[0].id}


def new_page(browser, viewport: dict, scheme: str):
    phone = viewport["width"] < 500
    context = browser.new_context(
        locale="fr-FR",
        viewport=viewport,
        color_scheme=scheme,
        is_mobile=phone,
        has_touch=phone,
        device_scale_factor=1,
    )
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    page.set_default_timeout(5000)
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


def check(page, where: str, touch: bool) -> None:
    result = page.evaluate(MEASURE, touch)
    # Mobile Chromium widens the layout viewport (innerWidth) to fit wide content:
    # compare with the screen's own width too.
    width = page.viewport_size["width"]
    assert result["width"] == width, f"{where}: the page was zoomed out to {result['width']} px"
    assert result["scroll"] <= width, f"{where}: {result['scroll']} px wide"
    assert result["outside"] == [], f"{where}: buttons outside the screen"
    assert result["small"] == [], f"{where}: tap targets under 44 px"


VIEWPORTS = [
    pytest.param(PHONE, "light", id="phone-light"),
    pytest.param(PHONE, "dark", id="phone-dark"),
    pytest.param(LAPTOP, "light", id="laptop-light"),
    pytest.param(LAPTOP, "dark", id="laptop-dark"),
]
# Audited for contrast and labels (at laptop size: colours do not depend on width).
MAIN_PAGES = ("", "tab/Tech%20et%20sciences?view=widgets", "feeds", "add", "manage", "sent")
SHOTS = ("", "feeds", "tab/Tech%20et%20sciences?view=widgets")


@pytest.mark.parametrize(("viewport", "scheme"), VIEWPORTS)
def test_every_page_fits_the_screen_with_contrast_and_labels(browser, site, viewport, scheme):
    page = new_page(browser, viewport, scheme)
    touch = viewport is PHONE
    name = f"{'phone' if touch else 'laptop'}-{scheme}"
    problems = []
    # every page in light; the colour scheme changes colours, not widths: dark on the
    # main pages only
    for path in PAGES if scheme == "light" else MAIN_PAGES:
        page.goto(site["base"] + path.format(doc=site["doc"]))
        check(page, f"/{path} ({name})", touch)
        if path == "feeds" and not touch:
            # the status table needs no sideways scrolling at 1366 px, titles stay legible
            wrap = page.evaluate(
                "(() => { const w = document.querySelector('.table-wrap');"
                " const t = document.querySelector('.cell-title');"
                " return [w.scrollWidth, w.clientWidth, t.getBoundingClientRect().width]; })()"
            )
            assert wrap[0] <= wrap[1], f"the status table scrolls sideways: {wrap}"
            assert wrap[2] >= 180, f"the title column is squeezed: {wrap}"
        if not touch and path in MAIN_PAGES:
            problems += [f"/{path} ({scheme}): {p}" for p in page.evaluate(AUDIT)]
        if path in SHOTS:
            slug = path.split("?")[0].replace("/", "-").replace("%20", "-") or "river"
            page.screenshot(path=str(OUTPUT / f"layout-{slug}-{name}.png"), full_page=touch)
    assert problems == [], "\n".join(problems)
    assert page.errors == []
    page.context.close()


@pytest.mark.parametrize(("viewport", "scheme"), VIEWPORTS)
def test_forward_panel_and_undo_toast_fit_the_screen(browser, site, viewport, scheme):
    from playwright.sync_api import expect

    page = new_page(browser, viewport, scheme)
    touch = viewport is PHONE
    name = f"{'phone' if touch else 'laptop'}-{scheme}"
    page.goto(site["base"])
    item = page.locator(f"#entry-{site['doc']}")
    item.get_by_role("link", name="Ça pourrait t'intéresser").click()
    panel = page.get_by_role("dialog", name="Ça pourrait t'intéresser")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("checkbox", name="Camille Exemple")).to_be_visible()
    check(page, f"forward panel ({name})", touch)
    close = panel.get_by_role("button", name="Fermer")
    box = close.bounding_box()
    assert box and box["x"] + box["width"] <= viewport["width"]
    page.screenshot(path=str(OUTPUT / f"layout-forward-panel-{name}.png"))
    panel.get_by_role("checkbox", name="Camille Exemple").check()
    panel.get_by_role("button", name="Envoyer", exact=True).click()
    toast = page.locator("[data-toast]")
    expect(toast.get_by_role("button", name="Annuler")).to_be_visible()
    check(page, f"undo toast ({name})", touch)
    page.screenshot(path=str(OUTPUT / f"layout-toast-{name}.png"))
    toast.get_by_role("button", name="Annuler").click()  # nothing leaves
    expect(toast).to_contain_text("Annulé")
    assert page.errors == []
    page.context.close()
