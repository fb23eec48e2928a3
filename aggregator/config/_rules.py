"""``rules:`` in feeds.yaml: the owner's own keyword rules -> ``models.Rule``.

::

    rules:
      - words: [Montréal, monteur, CDI]   # any of them (each may be a phrase)
        actions: [highlight, notify]
      - phrase: montage vidéo            # one phrase
        tab: Emploi                      # optional scope: a tab or a feed
        actions: [star]
        email: true                      # notify also by email (batched hourly)

Words are matched like contacts' interests and like search (case, accents and
plurals folded: ``forward.matching``). Every problem is reported at its line and
column, with what to write instead.
"""

from __future__ import annotations

import contextlib

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from aggregator.models import Rule, TabConfig

from . import values
from .yamlfile import INVALID, Problems, convert, describe, is_null, mapping, scalar, text_or_none

RULE_KEYS = ("words", "phrase", "name", "tab", "feed", "actions", "email")
ACTIONS = ("highlight", "star", "mark_read", "notify")
RULE_HINTS = {
    "word": "did you mean 'words'?",
    "keywords": "did you mean 'words'?",
    "keyword": "did you mean 'words'?",
    "action": "did you mean 'actions'?",
    "do": "did you mean 'actions'?",
    "url": "did you mean 'feed'?",
    "mail": "did you mean 'email'?",
}
ACTION_HINTS = {
    "mark-read": "mark_read",
    "markread": "mark_read",
    "read": "mark_read",
    "mute": "mark_read",
    "hide": "mark_read",
    "highlight": "highlight",
    "mark": "highlight",
    "favorite": "star",
    "favourite": "star",
    "starred": "star",
    "alert": "notify",
    "notification": "notify",
    "email": "notify",
}


def _word(node: Node) -> str:
    text = text_or_none(node)
    if not text:
        raise ValueError("a word cannot be empty")
    from aggregator.forward.matching import words  # the matcher's own folding

    if not words(text):
        raise ValueError(f"'{text}' has no letter or digit to match")
    return text


def _words(node: Node) -> tuple[str, ...]:
    if isinstance(node, ScalarNode) and not is_null(node):
        items = [w.strip() for w in str(node.value).split(",") if w.strip()]
        raise ValueError(f"must be a list, not a single text; write [{', '.join(items)}]")
    if not isinstance(node, SequenceNode) or not node.value:
        raise ValueError(f"must be a list of words, got {describe(node)}")
    out: list[str] = []
    for item in node.value:
        if not isinstance(item, ScalarNode) or is_null(item):
            raise ValueError(f"each word must be a word or phrase, got {describe(item)}")
        word = _word(item)
        if word not in out:
            out.append(word)
    return tuple(out)


def _actions(node: Node) -> tuple[str, ...]:
    items = [node] if isinstance(node, ScalarNode) else node.value
    if not isinstance(node, ScalarNode | SequenceNode) or not items or is_null(node):
        raise ValueError(f"must be a list such as [highlight, notify], got {describe(node)}")
    out: list[str] = []
    for item in items:
        raw = scalar(item, "an action").strip()
        action = raw.lower()
        if action not in ACTIONS:
            hint = ACTION_HINTS.get(action)
            advice = f" (did you mean '{hint}'?)" if hint else ""
            raise ValueError(f"'{raw}' is not an action{advice}; use {', '.join(ACTIONS)}")
        if action not in out:
            out.append(action)
    return tuple(out)


def parse_rules(node: Node, problems: Problems, tabs: tuple[TabConfig, ...]) -> tuple[Rule, ...]:
    """The ``rules:`` list; a rule with a problem is left out (and reported)."""
    if is_null(node):
        return ()
    if not isinstance(node, SequenceNode):
        problems.add(
            node, f"rules: must be a list, each starting with '- words:', got {describe(node)}"
        )
        return ()
    tab_names = {t.name.casefold(): t.name for t in tabs}
    feed_urls = {f.url for t in tabs for f in t.feeds}
    out: list[Rule] = []
    for item in node.value:
        if not isinstance(item, MappingNode):
            problems.add(item, f"each rule must be a mapping with 'words:', got {describe(item)}")
            continue
        keys = mapping(item, problems, what="rule", known=RULE_KEYS, hints=RULE_HINTS)
        found: dict[str, object] = {}
        if "words" in keys:
            found["words"] = convert(problems, keys["words"][1], _words, "words")
        if "phrase" in keys:
            found["phrase"] = convert(problems, keys["phrase"][1], _word, "phrase")
        if "words" not in keys and "phrase" not in keys:
            problems.add(item, "this rule has no 'words:' (or 'phrase:') to look for")
        if "actions" in keys:
            found["actions"] = convert(problems, keys["actions"][1], _actions, "actions")
        else:
            problems.add(item, "this rule has no 'actions:' (highlight, star, mark_read, notify)")
        for key in ("name", "tab", "feed"):
            if key in keys:
                found[key] = convert(problems, keys[key][1], text_or_none, key)
        if "email" in keys:
            found["email"] = convert(
                problems, keys["email"][1], lambda n: values.parse_bool(scalar(n, "true")), "email"
            )
        tab = found.get("tab")
        if isinstance(tab, str):
            if tab.casefold() not in tab_names:
                known = ", ".join(sorted(tab_names.values())) or "none yet"
                problems.add(keys["tab"][1], f"tab: there is no tab '{tab}' (tabs: {known})")
                found["tab"] = INVALID
            else:
                found["tab"] = tab_names[tab.casefold()]
        feed = found.get("feed")
        if isinstance(feed, str):
            with contextlib.suppress(ValueError):
                feed = found["feed"] = values.normalize_url(feed)
        if isinstance(feed, str) and feed not in feed_urls:
            problems.add(keys["feed"][1], f"feed: '{feed}' is not a feed of this file")
            found["feed"] = INVALID
        actions = found.get("actions")
        if found.get("email") is True and isinstance(actions, tuple) and "notify" not in actions:
            problems.add(keys["email"][1], "email: true needs the 'notify' action")
            found["email"] = INVALID
        if any(v is INVALID for v in found.values()) or "actions" not in found:
            continue
        listed = found.get("words")
        words: tuple[str, ...] = listed if isinstance(listed, tuple) else ()
        phrase = found.get("phrase")
        if isinstance(phrase, str) and phrase not in words:
            words += (phrase,)
        if not words:
            continue
        out.append(
            Rule(
                words=words,
                actions=found["actions"],  # type: ignore[arg-type]
                name=str(found.get("name") or ""),
                tab=found.get("tab"),  # type: ignore[arg-type]
                feed=found.get("feed"),  # type: ignore[arg-type]
                email=bool(found.get("email")),
                line=item.start_mark.line + 1,
            )
        )
    return tuple(out)
