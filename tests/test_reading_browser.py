"""The unread flow and the widgets in a real Chromium (issue 10): the keys Esc, v, A
(with « Annuler ») and r, « N nouveaux articles » from the /counts poll, the unread
count in the title, mark-as-read on scroll, and a headline opened in place under its
widget with « Ça pourrait t'intéresser » there."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from conftest import require_browser
from test_browser import OUTPUT, _entry, served
from websupport import BLOG, NEWS, TECH

pytestmark = pytest.mark.browser

FEEDS_YAML = f"""\
settings:
  display:
    mark_read_on_scroll: true
    headlines: 3
tabs:
  - name: Actualités
    feeds:
      - url: {NEWS}
        title: Le Journal
      - url: {BLOG}
        title: Le Blog
  - name: Tech
    feeds:
      - url: {TECH}
        title: Tech Weekly
"""
CONTACTS_YAML = "- name: Camille Exemple\n  email: camille@example.org\n  interests: [article]\n"


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[dict]:
    require_browser()
    tmp = tmp_path_factory.mktemp("reading")
    (tmp / "feeds.yaml").write_text(FEEDS_YAML, encoding="utf-8")
    (tmp / "contacts.yaml").write_text(CONTACTS_YAML, encoding="utf-8")
    with served(tmp) as (st, base):
        now = datetime.now(UTC)
        st.storage.sync_feeds(st.config.feeds, now=now)
        for feed, n in ((NEWS, 4), (BLOG, 2), (TECH, 30)):
            st.storage.upsert_entries(
                feed,
                [_entry(feed, i, now - timedelta(hours=i), base) for i in range(1, n + 1)],
                now=now,
            )
        yield {"base": base, "storage": st.storage}


def unread(live, feed: str) -> int:
    return sum(1 for e in live["storage"].entries(feed_url=feed, limit=100)[0] if not e.read)


def test_escape_closes_v_opens_the_original_A_marks_all_with_undo(page, live):
    from playwright.sync_api import expect

    page.goto(live["base"] + "tab/Actualit%C3%A9s")
    first = page.locator("article.entry").first
    page.keyboard.press("j")
    page.keyboard.press("o")
    expect(first.locator(".entry-body")).to_be_visible()
    page.keyboard.press("Escape")
    expect(first.locator(".entry-body")).to_be_hidden()
    expect(first.locator("[data-open]")).to_be_focused()
    with page.context.expect_page() as opened:
        page.keyboard.press("v")
    assert opened.value.url.startswith(live["base"] + "static/favicon.svg")
    opened.value.close()
    page.keyboard.press("Shift+A")
    expect(page.locator(".flash")).to_contain_text("articles marqués comme lus")
    assert unread(live, NEWS) == 0 and unread(live, BLOG) == 0
    page.locator(".flash").get_by_role("button", name="Annuler").click()
    expect(page.locator(".flash")).to_contain_text("de nouveau non lus")
    # the one opened with « o » was read before: it stays read
    assert unread(live, NEWS) + unread(live, BLOG) == 6 - 1
    assert page.events["errors"] == []


def test_new_articles_appear_without_reload_and_r_shows_them(page, live):
    from playwright.sync_api import expect

    page.goto(live["base"] + "tab/Actualit%C3%A9s")
    before = page.title()
    assert before.startswith("(") and "Actualités" in before
    bar = page.locator("[data-new-articles]")
    expect(bar).to_be_hidden()
    now = datetime.now(UTC)
    fresh = _entry(BLOG, 99, now, live["base"], title="Tout frais sorti")
    live["storage"].upsert_entries(BLOG, [fresh], now=now)
    page.evaluate("window.Aggregator.pollNow()")  # what the 60 s timer does
    expect(bar).to_have_text("1 nouvel article")
    n = int(before[1 : before.index(")")])
    expect(page).to_have_title(before.replace(f"({n})", f"({n + 1})"))
    page.keyboard.press("r")
    expect(page.locator("article.entry").first).to_contain_text("Tout frais sorti")
    expect(bar).to_be_hidden()


def test_scrolled_past_articles_are_marked_read(browser, live):
    from playwright.sync_api import expect

    context = browser.new_context(locale="fr-FR", viewport={"width": 800, "height": 600})
    page = context.new_page()
    page.goto(live["base"] + "tab/Tech")
    items = page.locator("article.entry")
    expect(items).to_have_count(30)
    assert unread(live, TECH) == 30
    items.nth(20).scroll_into_view_if_needed()
    expect(items.first).to_have_attribute("data-read", "1")
    expect(items.nth(5)).to_have_attribute("data-read", "1")
    expect(items.nth(29)).to_have_attribute("data-read", "0")  # never reached
    page.wait_for_load_state("networkidle")
    assert unread(live, TECH) < 30
    context.close()


def test_a_headline_opens_in_place_with_this_might_interest_someone(page, live):
    from playwright.sync_api import expect

    page.goto(live["base"] + "tab/Actualit%C3%A9s?view=widgets")
    widget = page.locator("section.widget").first
    expect(widget.locator("li.headline")).to_have_count(3)  # settings.display.headlines
    first_unread = widget.locator('li.headline:not([data-read="1"])').first
    line = widget.locator(f'li.headline[data-entry-id="{first_unread.get_attribute("data-entry-id")}"]')
    title = line.locator("[data-open]").inner_text()
    badge = widget.locator("[data-widget-count]")
    before = int(badge.locator("[data-count]").inner_text())
    assert before >= 2, before
    line.locator("[data-open]").click()
    preview = widget.locator("[data-widget-preview]")
    expect(preview).to_be_visible()
    expect(preview.locator(".entry-title")).to_have_text(title)
    assert page.url.endswith("view=widgets")  # still on the dashboard
    expect(line).to_have_attribute("data-read", "1")
    # the widget's own count follows, without a reload, with its plural said right
    expect(badge.locator("[data-count]")).to_have_text(str(before - 1))
    label = "non lu" if before - 1 == 1 else "non lus"
    expect(badge.locator("[data-count-label]")).to_have_text(f"{before - 1} {label}")
    page.screenshot(path=str(OUTPUT / "widget-preview.png"))
    preview.get_by_role("link", name="Ça pourrait t'intéresser").click()
    panel = page.get_by_role("dialog", name="Ça pourrait t'intéresser")
    expect(panel).to_be_visible()
    panel.get_by_role("button", name="Fermer").click()
    expect(panel).to_be_hidden()
    page.keyboard.press("Escape")
    expect(preview).to_be_hidden()
    assert page.events["errors"] == []
