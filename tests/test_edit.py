"""Semantic edits of feeds.yaml (config/edit.py): each one a locked, checked,
round-trip read-modify-write. Real files; real threads and processes for the
concurrency cases."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregator.config import load_config
from aggregator.config.edit import (
    AlreadyFollowed,
    RemovedFeed,
    _edit,
    _insert_feed,
    add_feed,
    add_tab,
    delete_tab,
    move_feed,
    remove_feed,
    rename_feed,
    rename_tab,
    reorder_tabs,
    restore_feed,
    set_feed_refresh,
)
from aggregator.config.feeds import ConfigSource, parse_config
from aggregator.errors import ConfigError, NotFound

ROOT = Path(__file__).resolve().parents[1]

FEEDS = """\
# My start page
tabs:
  # above A
  - name: A  # eol A
    feeds:
      # about one
      - https://one.example/  # eol one
      # about two
      - url: https://two.example/  # eol two
        title: Two  # eol title
      # after two
  # about B
  - name: B
    feeds:
      - https://three.example/
# the end
"""


def comments(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]


@pytest.fixture
def feeds(tmp_path: Path) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(FEEDS)
    return path


def layout(config: Any) -> list[tuple[str, list[str]]]:
    return [(t.name, [f.url for f in t.feeds]) for t in config.tabs]


# --- each operation ------------------------------------------------------------------


def test_rename_feed_sets_and_removes_the_title(feeds: Path) -> None:
    config = rename_feed(feeds, "HTTPS://ONE.example:443/", "Un: premier")
    assert config.feed("https://one.example/").title == "Un: premier"  # type: ignore[union-attr]
    text = feeds.read_text()
    assert "      - url: https://one.example/ # eol one\n        title: 'Un: premier'\n" in text
    assert comments(text) == comments(FEEDS)
    config = rename_feed(feeds, "https://two.example/", None)
    assert config.feed("https://two.example/").title is None  # type: ignore[union-attr]
    assert "title: Two" not in feeds.read_text()
    assert comments(feeds.read_text()) == [c for c in comments(FEEDS) if c != "# eol title"]
    assert load_config(feeds) == config
    with pytest.raises(NotFound):
        rename_feed(feeds, "https://nowhere.example/", "X")
    before = feeds.read_bytes()
    for bad in ("deux\nlignes", "a\rb"):
        with pytest.raises(ConfigError, match=r"feeds\.yaml:1:1: title: must fit on one line"):
            rename_feed(feeds, "https://one.example/", bad)
        with pytest.raises(ConfigError, match="title: must fit on one line"):
            add_feed(feeds, "A", "https://new.example/", bad)
    with pytest.raises(ConfigError, match="the tab name is empty"):
        add_feed(feeds, "  ", "https://new.example/")
    assert feeds.read_bytes() == before


def test_set_feed_refresh_is_checked_like_the_loader(feeds: Path) -> None:
    config = set_feed_refresh(feeds, "https://three.example/", "15m")
    assert config.feed("https://three.example/").refresh == timedelta(minutes=15)  # type: ignore[union-attr]
    before = feeds.read_bytes()
    with pytest.raises(ConfigError, match="refresh: must be between"):
        set_feed_refresh(feeds, "https://three.example/", "10s")
    with pytest.raises(ConfigError, match="refresh"):
        set_feed_refresh(feeds, "https://three.example/", "soon")
    assert feeds.read_bytes() == before
    config = set_feed_refresh(feeds, "https://three.example/", None)
    assert config.feed("https://three.example/").refresh is None  # type: ignore[union-attr]
    assert "refresh" not in feeds.read_text()


def test_move_feed_keeps_its_title_and_comments(feeds: Path) -> None:
    config = move_feed(feeds, "https://two.example/", "B")
    assert layout(config) == [
        ("A", ["https://one.example/"]),
        ("B", ["https://three.example/", "https://two.example/"]),
    ]
    assert config.feed("https://two.example/").title == "Two"  # type: ignore[union-attr]
    assert comments(feeds.read_text()) == [
        "# My start page",
        "# above A",
        "# about one",
        "# about two",
        "# after two",
        "# about B",
        "# the end",
    ]
    assert (
        "      - url: https://two.example/  # eol two\n        title: Two  # eol title\n# the end"
        in (feeds.read_text())
    )
    config = move_feed(feeds, "https://one.example/", "Nouveau")  # a new tab, at the end
    assert layout(config)[-1] == ("Nouveau", ["https://one.example/"])
    assert "- https://one.example/  # eol one" in feeds.read_text().replace("/ #", "/  #")
    before = feeds.read_bytes()
    move_feed(feeds, "https://one.example/", "nouveau")  # where it already is
    assert feeds.read_bytes() == before
    with pytest.raises(NotFound):
        move_feed(feeds, "https://one.example/", "Absent", create_tab=False)
    assert feeds.read_bytes() == before


def test_add_feed_says_already_followed_with_its_place(feeds: Path) -> None:
    before = feeds.read_bytes()
    with pytest.raises(AlreadyFollowed) as caught:
        add_feed(feeds, "B", "https://TWO.example/")
    assert caught.value.tab == "A" and caught.value.url == "https://TWO.example/"
    problem = caught.value.problems[0]
    assert (problem.file, problem.line) == (str(feeds), 9)
    assert "already followed in the tab 'A'" in str(caught.value)
    assert pickle.loads(pickle.dumps(caught.value)).tab == "A"
    assert feeds.read_bytes() == before
    config = add_feed(feeds, "B", "https://four.example/", "Quatre", refresh="2h")
    four = config.feed("https://four.example/")
    assert four is not None and four.title == "Quatre" and four.refresh == timedelta(hours=2)
    with pytest.raises(NotFound):
        add_feed(feeds, "Absent", "https://five.example/", create_tab=False)


def test_unsubscribe_and_undo_put_the_feed_back(feeds: Path) -> None:
    set_feed_refresh(feeds, "https://two.example/", "30m")
    text = feeds.read_text()
    before = load_config(feeds)
    removed = remove_feed(feeds, "https://two.example/")
    assert removed == RemovedFeed(
        url="https://two.example/",
        tab="A",
        tab_index=0,
        index=1,
        title="Two",
        refresh="30m",
        comments=(("url", "# eol two", 35), ("title", "# eol title", 20)),
        lines_above=1,  # "# about two"
    )
    assert load_config(feeds).feed("https://two.example/") is None
    assert "# about two" in feeds.read_text()  # comment lines stay in the file
    # The dashboard keeps it in a form field or a store: JSON and pickle round trips.
    again = RemovedFeed.from_json(removed.to_json())
    assert again == removed == pickle.loads(pickle.dumps(removed))
    config = restore_feed(feeds, again)
    assert feeds.read_text() == text  # byte for byte, comments where they were
    assert layout(config) == layout(before)
    with pytest.raises(AlreadyFollowed):
        restore_feed(feeds, again)


EXAMPLE = ROOT / "config" / "feeds.yaml"


@pytest.mark.parametrize("text", [FEEDS, FEEDS.replace("# the end\n", ""), EXAMPLE.read_text()])
def test_undo_restores_the_file_byte_for_byte_for_every_feed(tmp_path: Path, text: str) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(text)
    urls = [f.url for f in load_config(path).feeds]
    assert len(urls) >= 3
    for url in urls:
        removed = remove_feed(path, url)
        assert path.read_text() != text
        restore_feed(path, RemovedFeed.from_json(removed.to_json()))
        assert path.read_text() == text, url


def test_undo_recreates_a_deleted_tab_at_its_place(feeds: Path) -> None:
    add_tab(feeds, "C")
    removed = remove_feed(feeds, "https://three.example/")
    delete_tab(feeds, "B")
    assert [t.name for t in load_config(feeds).tabs] == ["A", "C"]
    config = restore_feed(feeds, removed)
    assert layout(config) == [
        ("A", ["https://one.example/", "https://two.example/"]),
        ("B", ["https://three.example/"]),
        ("C", []),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        "{}",
        '{"url": "x"}',
        json.dumps({"url": "u", "tab": "t", "tab_index": -1, "index": 0}),
        json.dumps(
            {
                "url": "u",
                "tab": "t",
                "tab_index": 0,
                "index": True,
                "title": None,
                "refresh": None,
                "comment": None,
            }
        ),
        json.dumps(
            {
                "url": "u",
                "tab": "t",
                "tab_index": 0,
                "index": 0,
                "title": 3,
                "refresh": None,
                "comment": None,
                "extra": 1,
            }
        ),
    ],
)
def test_removed_feed_from_json_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError):
        RemovedFeed.from_json(text)


def test_tabs_add_rename_reorder_delete(feeds: Path) -> None:
    config = add_tab(feeds, "Vide")
    assert layout(config)[-1] == ("Vide", [])
    assert "  - name: Vide\n    feeds: []\n" in feeds.read_text()
    with pytest.raises(ConfigError, match="already a tab named 'a'"):
        add_tab(feeds, "a")
    with pytest.raises(ConfigError, match="already a tab named"):
        rename_tab(feeds, "Vide", "b")
    config = rename_tab(feeds, "b", "Bé")
    assert [t.name for t in config.tabs] == ["A", "Bé", "Vide"]
    config = reorder_tabs(feeds, ["vide", "bé", "a"])
    assert [t.name for t in config.tabs] == ["Vide", "Bé", "A"]
    text = feeds.read_text()
    assert sorted(comments(text)) == sorted(comments(FEEDS))
    # "# about B" moved with B; the file's head and tail stayed.
    assert text.index("# about B") < text.index("- name: Bé") < text.index("- name: A")
    assert text.startswith("# My start page\ntabs:\n  # above A\n  - name: Vide\n")
    assert text.endswith("# the end\n")
    with pytest.raises(ConfigError, match="changed meanwhile"):
        reorder_tabs(feeds, ["Vide", "A"])
    with pytest.raises(ConfigError, match="changed meanwhile"):
        reorder_tabs(feeds, ["Vide", "A", "A"])
    config = reorder_tabs(feeds, ["A", "Bé", "Vide"])
    assert [t.name for t in config.tabs] == ["A", "Bé", "Vide"]
    assert sorted(comments(feeds.read_text())) == sorted(comments(FEEDS))

    before = feeds.read_bytes()
    with pytest.raises(ConfigError, match="holds 2 feeds") as caught:
        delete_tab(feeds, "A")
    assert caught.value.problems[0].line == 4
    assert feeds.read_bytes() == before
    config = delete_tab(feeds, "A", move_feeds_to="Vide")
    assert layout(config) == [
        ("Bé", ["https://three.example/"]),
        ("Vide", ["https://one.example/", "https://two.example/"]),
    ]
    config = delete_tab(feeds, "Bé", drop_feeds=True)
    assert layout(config) == [("Vide", ["https://one.example/", "https://two.example/"])]
    with pytest.raises(NotFound):
        delete_tab(feeds, "Bé")


def test_deleting_every_tab_says_so_on_purpose(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("tabs:\n  - name: A\n    feeds:\n      - https://one.example/\n")
    source = ConfigSource(path)
    delete_tab(path, "A", drop_feeds=True)
    assert path.read_text() == "tabs: []\n"
    # Written by us and explicit: the running app applies it (no "file emptied?" refusal).
    assert source.refresh() is True and source.error is None
    assert source.config is not None and source.config.feeds == ()


# --- an invalid file is never written --------------------------------------------------

BROKEN = FEEDS.replace("- https://three.example/", "- ftp://three.example/")


@pytest.mark.parametrize(
    "operation",
    [
        lambda p: add_feed(p, "A", "https://new.example/"),
        lambda p: rename_feed(p, "https://one.example/", "X"),
        lambda p: move_feed(p, "https://one.example/", "B"),
        lambda p: set_feed_refresh(p, "https://one.example/", "1h"),
        lambda p: remove_feed(p, "https://one.example/"),
        lambda p: restore_feed(p, RemovedFeed("https://new.example/", "A", 0, 0)),
        lambda p: add_tab(p, "C"),
        lambda p: rename_tab(p, "A", "C"),
        lambda p: reorder_tabs(p, ["B", "A"]),
        lambda p: delete_tab(p, "A", drop_feeds=True),
    ],
)
def test_every_operation_refuses_an_invalid_file(tmp_path: Path, operation: Any) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(BROKEN)
    with pytest.raises(ConfigError) as caught:
        operation(path)
    assert str(caught.value).startswith(f"{path}:15:9: ")  # the person's mistake
    assert "got 'ftp:'" in str(caught.value)
    assert path.read_text() == BROKEN
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feeds.yaml"]


# --- a hand edit made meanwhile ---------------------------------------------------------


def test_a_hand_edit_between_read_and_rename_is_kept_and_the_edit_reapplied(
    feeds: Path,
) -> None:
    calls = []

    def change(data: Any) -> Any:
        # Runs after the edit read the file, before it renames: an editor saves now.
        calls.append(1)
        if len(calls) == 1:
            feeds.write_text(FEEDS.replace("# the end\n", "  - name: Main\n    feeds: []\n"))
        _insert_feed(data, "B", "https://new.example/", file=str(feeds))
        return data

    config = _edit(feeds, parse_config, change)
    assert len(calls) == 2
    assert layout(config) == [
        ("A", ["https://one.example/", "https://two.example/"]),
        ("B", ["https://three.example/", "https://new.example/"]),
        ("Main", []),
    ]
    assert load_config(feeds) == config


def test_a_hand_edit_that_breaks_the_file_stops_the_edit(feeds: Path) -> None:
    def change(data: Any) -> Any:
        feeds.write_text(BROKEN)
        _insert_feed(data, "B", "https://new.example/", file=str(feeds))
        return data

    with pytest.raises(ConfigError, match="got 'ftp:'"):
        _edit(feeds, parse_config, change)
    assert feeds.read_text() == BROKEN


def test_a_file_that_never_stops_changing_is_refused(feeds: Path) -> None:
    count = [0]

    def change(data: Any) -> Any:
        count[0] += 1
        feeds.write_text(FEEDS + f"# edit {count[0]}\n")
        return data

    with pytest.raises(ConfigError, match="changed 5 times while being edited"):
        _edit(feeds, parse_config, lambda d: change(_insert(d)))
    assert feeds.read_text() == FEEDS + "# edit 5\n"


def _insert(data: Any) -> Any:
    _insert_feed(data, "B", "https://new.example/", file="feeds.yaml")
    return data


# --- two writers at once -----------------------------------------------------------------


def test_two_threads_subscribing_at_once_lose_nothing(feeds: Path) -> None:
    errors: list[BaseException] = []

    def work(tab: str) -> None:
        try:
            for i in range(15):
                add_feed(feeds, tab, f"https://{tab.lower()}{i}.example/")
                rename_feed(feeds, f"https://{tab.lower()}{i}.example/", f"{tab} {i}")
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(name,)) for name in ("X", "Y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    config = load_config(feeds)
    for tab in ("X", "Y"):
        got = [(f.url, f.title) for f in next(t for t in config.tabs if t.name == tab).feeds]
        assert got == [(f"https://{tab.lower()}{i}.example/", f"{tab} {i}") for i in range(15)]
    assert comments(feeds.read_text()) == comments(FEEDS)


WORKER = """
import sys
from aggregator.config.edit import add_feed, move_feed
path, tab = sys.argv[1], sys.argv[2]
for i in range(12):
    add_feed(path, "Inbox", f"https://{tab}{i}.example/")
    move_feed(path, f"https://{tab}{i}.example/", tab)
"""


def test_two_processes_subscribing_at_once_lose_nothing(feeds: Path) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(feeds), tab], cwd=ROOT)
        for tab in ("p", "q")
    ]
    for proc in procs:
        assert proc.wait(timeout=50) == 0
    config = load_config(feeds)
    for tab in ("p", "q"):
        got = [f.url for f in next(t for t in config.tabs if t.name == tab).feeds]
        assert got == [f"https://{tab}{i}.example/" for i in range(12)]
    assert next(t for t in config.tabs if t.name == "Inbox").feeds == ()
    assert comments(feeds.read_text()) == comments(FEEDS)


# --- any sequence of operations: valid file, the person's comment lines kept ------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

URLS = [f"https://f{i}.example/" for i in range(6)]
TABS = ["A", "B", "Cé", "D"]
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(TABS), st.sampled_from(URLS)),
        st.tuples(st.just("move"), st.sampled_from(URLS), st.sampled_from(TABS)),
        st.tuples(st.just("rename"), st.sampled_from(URLS), st.sampled_from(["", "Titre: x"])),
        st.tuples(st.just("refresh"), st.sampled_from(URLS), st.sampled_from(["", "15m"])),
        st.tuples(st.just("remove"), st.sampled_from(URLS + ["https://one.example/"])),
        st.tuples(st.just("undo")),
        st.tuples(st.just("add_tab"), st.sampled_from(TABS)),
        st.tuples(st.just("delete_tab"), st.sampled_from(TABS)),
        st.tuples(st.just("reorder"), st.randoms(use_true_random=False)),
    ),
    max_size=8,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=OPERATIONS)
def test_any_sequence_keeps_a_valid_file_and_its_comment_lines(
    tmp_path: Path, operations: list[tuple[Any, ...]]
) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(FEEDS)
    # The model: tab -> urls, in order.
    model: dict[str, list[str]] = {t: [f.url for f in tab.feeds] for t, tab in _tabs(path)}
    undo: list[RemovedFeed] = []
    for op in operations:
        kind = op[0]
        where = {u: t for t, urls in model.items() for u in urls}
        try:
            if kind == "add":
                add_feed(path, op[1], op[2])
                model.setdefault(op[1], []).append(op[2])
            elif kind == "move":
                move_feed(path, op[1], op[2])
                if where.get(op[1]) != op[2]:
                    model[where[op[1]]].remove(op[1])
                    model.setdefault(op[2], []).append(op[1])
            elif kind == "rename":
                rename_feed(path, op[1], op[2] or None)
            elif kind == "refresh":
                set_feed_refresh(path, op[1], op[2] or None)
            elif kind == "remove":
                undo.append(remove_feed(path, op[1]))
                model[where[op[1]]].remove(op[1])
            elif kind == "undo" and undo:
                removed = undo.pop()
                restore_feed(path, removed)
                if removed.tab not in model:  # recreated at its place
                    items = list(model.items())
                    items.insert(min(removed.tab_index, len(items)), (removed.tab, []))
                    model = dict(items)
                urls = model[removed.tab]
                urls.insert(min(removed.index, len(urls)), removed.url)
            elif kind == "add_tab":
                add_tab(path, op[1])
                model[op[1]] = []
            elif kind == "delete_tab":
                delete_tab(path, op[1], drop_feeds=True)
                del model[op[1]]
            elif kind == "reorder":
                names = list(model)
                op[1].shuffle(names)
                reorder_tabs(path, names)
                model = {n: model[n] for n in names}
        except AlreadyFollowed:
            # add: the URL is already in the file; undo: it was added again since it
            # was removed (restore_feed then refuses rather than list it twice)
            assert kind in ("add", "undo")
            assert (op[2] if kind == "add" else removed.url) in where
        except NotFound:
            assert kind in ("move", "rename", "refresh", "remove", "delete_tab")
        except ConfigError as e:
            assert kind == "add_tab" and "already a tab" in str(e), e
        assert {t: urls for t, urls in _tabs_urls(path)} == model, op
    # Full comment lines are never dropped, except the ones inside a deleted tab (A's).
    kept = sorted(comments(path.read_text()))
    if any(op[0] == "delete_tab" and op[1] == "A" for op in operations):
        inside_a = {"# about one", "# about two", "# after two"}
        assert set(comments(FEEDS)) - inside_a <= set(kept) <= set(comments(FEEDS))
    else:
        assert kept == sorted(comments(FEEDS))


def _tabs(path: Path) -> list[tuple[str, Any]]:
    return [(t.name, t) for t in load_config(path).tabs]


def _tabs_urls(path: Path) -> list[tuple[str, list[str]]]:
    return [(t.name, [f.url for f in t.feeds]) for t in load_config(path).tabs]
