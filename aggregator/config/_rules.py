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
from ._text import N_, Invalid
from .yamlfile import INVALID, Problems, convert, describe, is_null, mapping, scalar, text_or_none

RULE_KEYS = ("words", "phrase", "name", "tab", "feed", "actions", "email")
ACTIONS = ("highlight", "star", "mark_read", "notify")
RULE_HINTS = {
    "word": N_("did you mean 'words'?"),
    "keywords": N_("did you mean 'words'?"),
    "keyword": N_("did you mean 'words'?"),
    "action": N_("did you mean 'actions'?"),
    "do": N_("did you mean 'actions'?"),
    "url": N_("did you mean 'feed'?"),
    "mail": N_("did you mean 'email'?"),
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
        raise Invalid(N_("a word cannot be empty"))
    from aggregator.forward.matching import words  # the matcher's own folding

    if not words(text):
        raise Invalid(N_("'%(word)s' has no letter or digit to match"), word=text)
    return text


def _words(node: Node) -> tuple[str, ...]:
    if isinstance(node, ScalarNode) and not is_null(node):
        items = [w.strip() for w in str(node.value).split(",") if w.strip()]
        raise Invalid(
            N_("must be a list, not a single text; write [%(items)s]"), items=", ".join(items)
        )
    if not isinstance(node, SequenceNode) or not node.value:
        raise Invalid(N_("must be a list of words, got %(found)s"), found=describe(node))
    out: list[str] = []
    for item in node.value:
        if not isinstance(item, ScalarNode) or is_null(item):
            raise Invalid(
                N_("each word must be a word or phrase, got %(found)s"), found=describe(item)
            )
        word = _word(item)
        if word not in out:
            out.append(word)
    return tuple(out)


def _actions(node: Node) -> tuple[str, ...]:
    items = [node] if isinstance(node, ScalarNode) else node.value
    if not isinstance(node, ScalarNode | SequenceNode) or not items or is_null(node):
        raise Invalid(
            N_("must be a list such as [highlight, notify], got %(found)s"), found=describe(node)
        )
    out: list[str] = []
    for item in items:
        raw = scalar(item, N_("an action")).strip()
        action = raw.lower()
        if action not in ACTIONS:
            hint = ACTION_HINTS.get(action)
            if hint:
                raise Invalid(
                    N_("'%(raw)s' is not an action (did you mean '%(guess)s'?); use %(actions)s"),
                    raw=raw,
                    guess=hint,
                    actions=", ".join(ACTIONS),
                )
            raise Invalid(
                N_("'%(raw)s' is not an action; use %(actions)s"),
                raw=raw,
                actions=", ".join(ACTIONS),
            )
        if action not in out:
            out.append(action)
    return tuple(out)


def parse_rules(node: Node, problems: Problems, tabs: tuple[TabConfig, ...]) -> tuple[Rule, ...]:
    """The ``rules:`` list; a rule with a problem is left out (and reported)."""
    if is_null(node):
        return ()
    if not isinstance(node, SequenceNode):
        problems.add(
            node,
            N_("rules: must be a list, each starting with '- words:', got %(found)s"),
            found=describe(node),
        )
        return ()
    tab_names = {t.name.casefold(): t.name for t in tabs}
    feed_urls = {f.url for t in tabs for f in t.feeds}
    out: list[Rule] = []
    for item in node.value:
        if not isinstance(item, MappingNode):
            problems.add(
                item,
                N_("each rule must be a mapping with 'words:', got %(found)s"),
                found=describe(item),
            )
            continue
        keys = mapping(item, problems, what="rule", known=RULE_KEYS, hints=RULE_HINTS)
        found: dict[str, object] = {}
        if "words" in keys:
            found["words"] = convert(problems, keys["words"][1], _words, "words")
        if "phrase" in keys:
            found["phrase"] = convert(problems, keys["phrase"][1], _word, "phrase")
        if "words" not in keys and "phrase" not in keys:
            problems.add(item, N_("this rule has no 'words:' (or 'phrase:') to look for"))
        if "actions" in keys:
            found["actions"] = convert(problems, keys["actions"][1], _actions, "actions")
        else:
            problems.add(
                item, N_("this rule has no 'actions:' (highlight, star, mark_read, notify)")
            )
        for key in ("name", "tab", "feed"):
            if key in keys:
                found[key] = convert(problems, keys[key][1], text_or_none, key)
        if "email" in keys:
            found["email"] = convert(
                problems,
                keys["email"][1],
                lambda n: values.parse_bool(scalar(n, N_("true"))),
                "email",
            )
        tab = found.get("tab")
        if isinstance(tab, str):
            if tab.casefold() not in tab_names:
                known = ", ".join(sorted(tab_names.values()))
                if known:
                    problems.add(
                        keys["tab"][1],
                        N_("tab: there is no tab '%(tab)s' (tabs: %(known)s)"),
                        tab=tab,
                        known=known,
                    )
                else:
                    problems.add(
                        keys["tab"][1],
                        N_("tab: there is no tab '%(tab)s' (tabs: none yet)"),
                        tab=tab,
                    )
                found["tab"] = INVALID
            else:
                found["tab"] = tab_names[tab.casefold()]
        feed = found.get("feed")
        if isinstance(feed, str):
            with contextlib.suppress(ValueError):
                feed = found["feed"] = values.normalize_url(feed)
        if isinstance(feed, str) and feed not in feed_urls:
            problems.add(
                keys["feed"][1], N_("feed: '%(feed)s' is not a feed of this file"), feed=feed
            )
            found["feed"] = INVALID
        actions = found.get("actions")
        if found.get("email") is True and isinstance(actions, tuple) and "notify" not in actions:
            problems.add(keys["email"][1], N_("email: true needs the 'notify' action"))
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
