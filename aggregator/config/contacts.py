"""contacts.yaml: the people items can be forwarded to -> ``models.Contact``.

A top-level list of mappings (name, email, interests, language, formal, needs,
digest). A missing file means "no contacts yet", not an error.

``needs`` are dated: ``- what: appartement 4½ Plateau`` / ``since: 2026-11-03`` /
``until: 2026-12-31`` (optional: ``since`` + 60 days). ``digest: weekly`` (or
``daily``) gathers what is put in the contact's basket into one « Pour toi » letter.
The dashboard adds needs and sets ``formal``/``digest`` through ``add_need`` and
``set_contact_options``, round-trip (comments and order kept, atomic), with the same
machinery as ``edit.save_contact``.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from aggregator.errors import ConfigError, NotFound
from aggregator.models import DIGEST_PERIODS, Contact, Need

from . import values
from .yamlfile import (
    INVALID,
    Problems,
    YamlSource,
    compose,
    convert,
    decode,
    describe,
    fail,
    is_null,
    mapping,
    scalar,
    text_or_none,
)

CONTACT_KEYS = ("name", "email", "interests", "language", "formal", "needs", "digest")
NEED_KEYS = ("what", "since", "until")
NEED_MAX = 200  # characters of a need's text
LANGUAGES = ("fr", "en")
CONTACT_HINTS = {
    "mail": "did you mean 'email'?",
    "address": "did you mean 'email'?",
    "lang": "did you mean 'language'?",
    "topics": "did you mean 'interests'?",
    "tags": "did you mean 'interests'?",
    "vous": "did you mean 'formal'?",
    "tone": "did you mean 'formal: true'?",
    "need": "did you mean 'needs'?",
    "looking_for": "did you mean 'needs'?",
    "letter": "did you mean 'digest'?",
    "newsletter": "did you mean 'digest'?",
}
NEED_HINTS = {
    "text": "did you mean 'what'?",
    "need": "did you mean 'what'?",
    "from": "did you mean 'since'?",
    "to": "did you mean 'until'?",
    "end": "did you mean 'until'?",
}


def load_contacts(path: str | Path) -> tuple[Contact, ...]:
    """Read and validate contacts.yaml; a missing file is an empty tuple."""
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return ()
    except OSError as e:
        raise fail(file, f"cannot read this file: {e.strerror}") from e
    return parse_contacts(decode(data, file), file)


def _name(node: Node) -> str:
    name = text_or_none(node)
    if not name:
        raise ValueError("the name is empty")
    return name


def _email(node: Node) -> str:
    return values.check_address(scalar(node, "an email address"))


def _interests(node: Node) -> tuple[str, ...]:
    if is_null(node):
        return ()
    if isinstance(node, ScalarNode):
        words = [w.strip() for w in str(node.value).split(",") if w.strip()]
        example = ", ".join(words) or "cinéma, emploi"
        raise ValueError(f"must be a list, not a single text; write [{example}]")
    if not isinstance(node, SequenceNode):
        raise ValueError(f"must be a list of words, got {describe(node)}")
    out: list[str] = []
    for item in node.value:
        if not isinstance(item, ScalarNode) or is_null(item):
            raise ValueError(f"each interest must be a word or phrase, got {describe(item)}")
        word = str(item.value).strip()
        if "\n" in word or "\r" in word:
            raise ValueError(f"the interest {word!r} must fit on one line")
        if word and word not in out:
            out.append(word)
    return tuple(out)


def _language(node: Node) -> str:
    raw = scalar(node, "fr or en")
    value = raw.strip().lower()
    if value not in LANGUAGES:
        raise ValueError(f"must be fr or en, got '{raw}'")
    return value


def _formal(node: Node) -> bool:
    return values.parse_bool(scalar(node, "true or false"))


def _digest(node: Node) -> str | None:
    if is_null(node):
        return None
    raw = scalar(node, "weekly or daily")
    value = raw.strip().lower()
    if value in ("none", "no", "false", "off"):
        return None
    if value not in DIGEST_PERIODS:
        raise ValueError(f"must be weekly or daily, got '{raw}'")
    return value


def _date(node: Node) -> date:
    raw = scalar(node, "a date such as 2026-11-03").strip()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"'{raw}' is not a date; write it as 2026-11-03") from None


def _needs(node: Node, problems: Problems) -> tuple[Need, ...] | Any:
    """The ``needs:`` list; every problem is reported at its own line."""
    if is_null(node):
        return ()
    if not isinstance(node, SequenceNode):
        problems.add(
            node, f"needs: must be a list, each starting with '- what:', got {describe(node)}"
        )
        return INVALID
    out: list[Need] = []
    ok = True
    for item in node.value:
        if isinstance(item, ScalarNode) and not is_null(item):
            problems.add(
                item,
                f"needs: each need is a mapping: write '- what: {str(item.value).strip()}' "
                "and 'since: 2026-11-03' under it",
            )
            ok = False
            continue
        if not isinstance(item, MappingNode):
            problems.add(item, f"needs: each need must be a mapping, got {describe(item)}")
            ok = False
            continue
        keys = mapping(item, problems, what="need", known=NEED_KEYS, hints=NEED_HINTS)
        what = convert(problems, keys["what"][1], _what, "what") if "what" in keys else None
        if "what" not in keys:
            problems.add(item, "this need has no 'what:' (what the person is looking for)")
        since = convert(problems, keys["since"][1], _date, "since") if "since" in keys else None
        if "since" not in keys:
            problems.add(
                item, "this need has no 'since:' (the day it was posted, e.g. since: 2026-11-03)"
            )
        until = convert(problems, keys["until"][1], _date, "until") if "until" in keys else None
        if INVALID in (what, since, until) or what is None or since is None:
            ok = False
            continue
        if until is not None and until < since:
            problems.add(keys["until"][1], f"until: {until} is before since: {since}")
            ok = False
            continue
        out.append(Need(what=what, since=since, until=until, line=item.start_mark.line + 1))
    return tuple(out) if ok else INVALID


def _what(node: Node) -> str:
    text = text_or_none(node)
    if not text:
        raise ValueError("is empty; say what the person is looking for")
    if len(text) > NEED_MAX:
        raise ValueError(f"is too long ({len(text)} characters); keep it under {NEED_MAX}")
    return text


def parse_contacts(text: str, file: str) -> tuple[Contact, ...]:
    """Validate the text of a contacts.yaml; ``file`` is used in messages."""
    problems = Problems(file)
    root = compose(text, problems)
    if is_null(root):
        problems.raise_if_any()
        return ()
    assert root is not None
    if not isinstance(root, SequenceNode):
        problems.add(
            root,
            f"the file must be a list of contacts, each starting with '- name:', got {describe(root)}",
        )
        raise problems.error()
    contacts = []
    emails: dict[str, int] = {}
    for node in root.value:
        if not problems.first_visit(node):
            continue
        if not isinstance(node, MappingNode):
            problems.add(
                node,
                f"each contact must be a mapping with 'name:' and 'email:', got {describe(node)}",
            )
            continue
        keys = mapping(node, problems, what="contact", known=CONTACT_KEYS, hints=CONTACT_HINTS)
        checks = {
            "name": _name,
            "email": _email,
            "interests": _interests,
            "language": _language,
            "formal": _formal,
            "digest": _digest,
        }
        found = {}
        for name, check in checks.items():
            if name in keys:
                found[name] = convert(problems, keys[name][1], check, name)
        if "needs" in keys:
            found["needs"] = _needs(keys["needs"][1], problems)
        for required in ("name", "email"):
            if required not in keys:
                problems.add(node, f"this contact has no '{required}:'")
        email = found.get("email", INVALID)
        if email is not INVALID:
            email_node = keys["email"][1]
            folded = email.casefold()
            if folded in emails:
                problems.add(
                    email_node,
                    f"the address '{email}' is listed twice (first at line {emails[folded]});"
                    " keep one contact per address",
                )
            else:
                emails[folded] = email_node.start_mark.line + 1
        if "name" not in found or "email" not in found or any(v is INVALID for v in found.values()):
            continue
        contacts.append(
            Contact(
                name=found["name"],
                email=found["email"],
                interests=found.get("interests", ()),
                language=found.get("language", "fr"),
                line=node.start_mark.line + 1,
                formal=found.get("formal", False),
                needs=found.get("needs", ()),
                digest=found.get("digest"),
            )
        )
    problems.raise_if_any()
    return tuple(contacts)


def says_no_contacts(text: str, file: str) -> ConfigError | None:
    """None if a valid contacts.yaml with no contact says so on purpose (``[]``), else
    the error that refuses to load it over a list that has contacts. An empty or
    comments-only file is what an editor's half-written file looks like."""
    advice = "to remove every contact on purpose, write '[]' or delete the file"
    root = compose(text, Problems(file))
    if isinstance(root, SequenceNode) and root.flow_style and not root.value:
        return None
    if not text.strip():
        return fail(file, f"the file is empty; {advice}")
    return fail(file, f"the file holds no contact, only comments; {advice}")


class ContactSource(YamlSource[tuple[Contact, ...]]):
    """contacts.yaml as last seen valid; a missing file is no contacts. Changes are
    picked up once settled (see ``YamlSource``); every contact disappears only when
    the file says ``[]`` or is deleted."""

    def parse(self, text: str) -> tuple[Contact, ...]:
        return parse_contacts(text, str(self.path))

    def missing(self) -> tuple[Contact, ...]:
        return ()

    def check_change(
        self, old: tuple[Contact, ...], new: tuple[Contact, ...], text: str | None
    ) -> ConfigError | None:
        if new or not old or text is None:  # None: the file was deleted, on purpose
            return None
        return says_no_contacts(text, str(self.path))

    def summary(self, value: tuple[Contact, ...]) -> str:
        return f"{self.path}: {len(value)} contact{'s' if len(value) != 1 else ''}"

    @property
    def contacts(self) -> tuple[Contact, ...] | None:
        return self.value


# --- round-trip edits (the contact page) ----------------------------------------------


def _edit_contact(path: str | Path, email: str, change: Any) -> tuple[Contact, ...]:
    """Apply ``change(item)`` to the contact whose address is ``email``, round-trip
    and atomically (``_writer._edit``: validated before and after, comments kept)."""
    from ._roundtrip import _keeping_tail
    from ._writer import _edit

    wanted = email.strip().casefold()

    def edit(data: Any) -> Any:
        for item in data if isinstance(data, CommentedSeq) else ():
            address = item.get("email") if isinstance(item, CommentedMap) else None
            if isinstance(address, str) and address.strip().casefold() == wanted:
                with _keeping_tail(item):
                    change(item)
                return data
        raise NotFound(f"no contact with address {email!r} in {path}")

    return _edit(path, parse_contacts, edit, flat=True)


def add_need(
    path: str | Path, email: str, what: str, since: date, until: date | None = None
) -> tuple[Contact, ...]:
    """Append a need to a contact (``needs:`` created if missing). Raises ConfigError
    (an empty or multi-line text, until before since) or NotFound."""
    from ._roundtrip import _append, _keeping_tail

    text = " ".join(what.split())
    file = str(path)
    if not text:
        raise fail(file, "needs: say what the person is looking for")
    if len(text) > NEED_MAX:
        raise fail(file, f"needs: the text is too long; keep it under {NEED_MAX} characters")
    if until is not None and until < since:
        raise fail(file, f"needs: until {until} is before since {since}")

    def change(item: CommentedMap) -> None:
        need = CommentedMap([("what", text), ("since", since.isoformat())])
        if until is not None:
            need["until"] = until.isoformat()
        needs = item.get("needs")
        if not isinstance(needs, CommentedSeq):
            needs = CommentedSeq()
            item["needs"] = needs
            needs.append(need)
            return
        with _keeping_tail(needs):
            _append(needs, need)

    return _edit_contact(path, email, change)


def remove_need(path: str | Path, email: str, index: int) -> tuple[Contact, ...]:
    """Drop the ``index``-th need of a contact (as listed in the file)."""

    def change(item: CommentedMap) -> None:
        needs = item.get("needs")
        if not isinstance(needs, CommentedSeq) or not 0 <= index < len(needs):
            raise NotFound(f"no need #{index + 1} for {email}")
        del needs[index]
        if not needs:
            del item["needs"]

    return _edit_contact(path, email, change)


def set_contact_options(
    path: str | Path, email: str, *, formal: bool | None = None, digest: str | None | bool = False
) -> tuple[Contact, ...]:
    """Set ``formal`` (None: leave it) and ``digest`` (False: leave it; None: remove
    it; 'weekly' / 'daily'), touching only what changes."""

    def change(item: CommentedMap) -> None:
        if formal is not None:
            current = item.get("formal")
            if bool(current) != formal or (current is not None and not isinstance(current, bool)):
                if formal:
                    item["formal"] = True
                elif "formal" in item:
                    del item["formal"]
        if digest is not False:
            if digest is None:
                if "digest" in item:
                    del item["digest"]
            elif str(item.get("digest", "")).strip().lower() != digest:
                item["digest"] = digest

    return _edit_contact(path, email, change)
