"""A real third-party client end to end (issue 11): newsboat (Debian's 2.21) in its
``urls-source "feedhq"`` mode, pointed at our Google Reader endpoint served by the real
waitress server, driven in tmux like a person (send-keys, capture-pane).

newsboat logs in (accounts/ClientLogin), lists the feeds (subscription/list), downloads
the items through the Atom output (reader/atom/feed/<url>), and when the person opens
an article or flags it, posts edit-tag. Its own debug log (``-d FILE -l 6``) is read
to see every request it made. The dashboard's storage then shows what was done on the
"phone", and a change made in the dashboard shows in newsboat after a reload.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from websupport import NEWS, entry_id, seeded_app, storage, token, write_site

from aggregator.web import serve

PASSWORD = "app-password-for-newsboat"
WAIT = 25.0  # seconds newsboat may take for one step on a loaded 2-core machine


def _require() -> None:
    for tool in ("newsboat", "tmux"):
        if shutil.which(tool) is None:
            pytest.skip(
                f"{tool} is not installed (`make test` installs it: apt-get install {tool})"
            )


class Tmux:
    """One tmux server of our own (its own socket), one window running ``command``."""

    def __init__(self, folder: Path, command: list[str], env: dict[str, str]) -> None:
        self.socket = str(folder / "tmux.sock")
        self.env = env
        self._run(
            "new-session", "-d", "-s", "nb", "-x", "160", "-y", "40",
            " ".join(_quote(c) for c in command),
        )  # fmt: skip

    def _run(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-S", self.socket, *args],
            capture_output=True, text=True, env=self.env, timeout=10, check=True,
        )  # fmt: skip
        return result.stdout

    def keys(self, *keys: str) -> None:
        self._run("send-keys", "-t", "nb", *keys)

    def screen(self) -> str:
        return self._run("capture-pane", "-p", "-t", "nb")

    def wait_for(self, predicate: Callable[[str], bool], what: str) -> str:
        """Polls the screen: newsboat is another process, there is no clock to pass.

        On a loaded machine curses can leave a partly repainted screen in tmux (the
        feed list drawn over the start-up lines): after a while without a match, Ctrl-L
        (newsboat's "redraw", what a person would press) asks for a full repaint."""
        started = time.monotonic()
        deadline, next_redraw = started + WAIT, started + 3.0
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            now = time.monotonic()
            if now > deadline:
                raise AssertionError(f"newsboat never showed {what}; the screen:\n{screen}")
            if now > next_redraw:
                self.keys("C-l")
                next_redraw = now + 3.0
            time.sleep(0.2)

    def close(self) -> None:
        subprocess.run(
            ["tmux", "-S", self.socket, "kill-server"],
            capture_output=True,
            env=self.env,
            timeout=10,
        )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple]:
    _require()
    folder = tmp_path_factory.mktemp("newsboat")
    app = seeded_app(write_site(folder))
    app.config["AGGREGATOR_API_PASSWORD"] = PASSWORD
    server = serve(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.effective_port}", folder
    finally:
        server.close()
        thread.join(10)
        app.extensions["aggregator"].close()


def test_newsboat_reads_marks_and_stars_through_the_greader_api(served):
    app, base, folder = served
    home = folder / "home"
    home.mkdir()
    config, urls, cache, log = (home / n for n in ("config", "urls", "cache.db", "newsboat.log"))
    urls.write_text("", encoding="utf-8")
    # No trailing slash: newsboat appends "/accounts/ClientLogin" itself (README).
    config.write_text(
        f'urls-source "feedhq"\n'
        f'feedhq-url "{base}/api/greader"\n'
        f'feedhq-login "aggregator"\n'
        f'feedhq-password "{PASSWORD}"\n'
        "feedhq-show-special-feeds no\n"  # they point at feedhq.org itself
        'feedhq-flag-star "s"\n'
        "refresh-on-startup yes\n"
        "show-read-feeds yes\n"
        "confirm-exit no\n"
        'feedlist-format "%4i %n %11u %t"\n',
        encoding="utf-8",
    )
    env = {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TERM": "screen",
        "LANG": "C.UTF-8",
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local"),
    }
    command = ["newsboat", "-C", str(config), "-u", str(urls), "-c", str(cache),
               "-d", str(log), "-l", "6"]  # fmt: skip
    tmux = Tmux(folder, command, env)
    try:
        # 1. logs in, lists the feeds, downloads the items: "(unread/total)" per feed
        screen = tmux.wait_for(lambda s: "Le Journal" in s and "(3/3)" in s, "the feed list")
        assert "Tech Weekly" in screen
        # 2. opens the first feed and its first article (newsboat marks it read), then
        #    flags the second one "s" (starred through feedhq-flag-star)
        tmux.keys("Enter")
        tmux.wait_for(lambda s: "Article 2" in s, "the article list")
        tmux.keys("Enter")
        tmux.wait_for(lambda s: "Contenu 1" in s or "Titre piégé" in s, "the article")
        tmux.keys("q")
        tmux.wait_for(lambda s: "Article 2" in s, "the article list again")
        tmux.keys("Down", "C-e")
        tmux.wait_for(lambda s: "Flags:" in s, "the flags prompt")
        tmux.keys("s", "Enter")
        first, second = entry_id(app, NEWS, 1), entry_id(app, NEWS, 2)
        _until(lambda: storage(app).entry(first).read, "the article read in the dashboard")
        _until(lambda: storage(app).entry(second).starred, "the article starred in the dashboard")
        assert not storage(app).entry(second).read and storage(app).unread_counts()[""] == 6

        # 3. the dashboard marks the third article read: newsboat shows it after a reload
        client = app.test_client()
        third = entry_id(app, NEWS, 3)
        r = client.post(f"/entry/{third}/read", data={"csrf_token": token(client)})
        assert r.status_code < 400 and storage(app).entry(third).read
        tmux.keys("q")
        tmux.wait_for(lambda s: "Tech Weekly" in s, "the feed list again")
        tmux.keys("R")
        tmux.wait_for(lambda s: re.search(r"\(1/3\)\s+Le Journal", s), "Le Journal at 1 unread")
    finally:
        tmux.keys("q")
        tmux.close()

    # 4. every request newsboat made, from its own debug log
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "FeedHqApi::retrieve_auth" in text
    assert re.search(r"get_subscribed_urls: document = \{\"subscriptions\"", text)
    assert "/api/greader/reader/atom/feed%2F" in text
    edits = re.findall(r"post_content: url = \S+/edit-tag postdata = (\S+)", text)
    assert any("a=user/-/state/com.google/read" in e for e in edits), edits
    assert any("a=user/-/state/com.google/starred" in e for e in edits), edits
    assert all("tag:google.com,2005:reader/item/" in e for e in edits)
    assert re.findall(r"result = OK", text)


def _until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"never saw {what}")
        time.sleep(0.1)
