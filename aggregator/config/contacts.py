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
from ._text import N_, Invalid, Text
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
    "mail": N_("did you mean 'email'?"),
    "address": N_("did you mean 'email'?"),
    "lang": N_("did you mean 'language'?"),
    "topics": N_("did you mean 'interests'?"),
    "tags": N_("did you mean 'interests'?"),
    "vous": N_("did you mean 'formal'?"),
    "tone": N_("did you mean 'formal: true'?"),
    "need": N_("did you mean 'needs'?"),
    "looking_for": N_("did you mean 'needs'?"),
    "letter": N_("did you mean 'digest'?"),
    "newsletter": N_("did you mean 'digest'?"),
}
NEED_HINTS = {
    "text": N_("did you mean 'what'?"),
    "need": N_("did you mean 'what'?"),
    "from": N_("did you mean 'since'?"),
    "to": N_("did you mean 'until'?"),
    "end": N_("did you mean 'until'?"),
}


def load_contacts(path: str | Path) -> tuple[Contact, ...]:
    """Read and validate contacts.yaml; a missing file is an empty tuple."""
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return ()
    except OSError as e:
        raise fail(file, N_("cannot read this file: %(reason)s"), reason=e.strerror) from e
    return parse_contacts(decode(data, file), file)


def _name(node: Node) -> str:
    name = text_or_none(node)
    if not name:
        raise Invalid(N_("the name is empty"))
    return name


def _email(node: Node) -> str:
    return values.check_address(scalar(node, N_("an email address")))


def _interests(node: Node) -> tuple[str, ...]:
    if is_null(node):
        return ()
    if isinstance(node, ScalarNode):
        words = [w.strip() for w in str(node.value).split(",") if w.strip()]
        example = ", ".join(words) or "cinéma, emploi"
        raise Invalid(N_("must be a list, not a single text; write [%(items)s]"), items=example)
    if not isinstance(node, SequenceNode):
        raise Invalid(N_("must be a list of words, got %(found)s"), found=describe(node))
    out: list[str] = []
    for item in node.value:
        if not isinstance(item, ScalarNode) or is_null(item):
            raise Invalid(
                N_("each interest must be a word or phrase, got %(found)s"), found=describe(item)
            )
        word = str(item.value).strip()
        if "\n" in word or "\r" in word:
            raise Invalid(N_("the interest %(word)r must fit on one line"), word=word)
        if word and word not in out:
            out.append(word)
    return tuple(out)


def _language(node: Node) -> str:
    raw = scalar(node, N_("fr or en"))
    value = raw.strip().lower()
    if value not in LANGUAGES:
        raise Invalid(N_("must be fr or en, got '%(raw)s'"), raw=raw)
    return value


def _formal(node: Node) -> bool:
    return values.parse_bool(scalar(node, N_("true or false")))


def _digest(node: Node) -> str | None:
    if is_null(node):
        return None
    raw = scalar(node, N_("weekly or daily"))
    value = raw.strip().lower()
    if value in ("none", "no", "false", "off"):
        return None
    if value not in DIGEST_PERIODS:
        raise Invalid(N_("must be weekly or daily, got '%(raw)s'"), raw=raw)
    return value


def _date(node: Node) -> date:
    raw = scalar(node, N_("a date such as 2026-11-03")).strip()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Invalid(N_("'%(raw)s' is not a date; write it as 2026-11-03"), raw=raw) from None


def _needs(node: Node, problems: Problems) -> tuple[Need, ...] | Any:
    """The ``needs:`` list; every problem is reported at its own line."""
    if is_null(node):
        return ()
    if not isinstance(node, SequenceNode):
        problems.add(
            node,
            N_("needs: must be a list, each starting with '- what:', got %(found)s"),
            found=describe(node),
        )
        return INVALID
    out: list[Need] = []
    ok = True
    for item in node.value:
        if isinstance(item, ScalarNode) and not is_null(item):
            problems.add(
                item,
                N_(
                    "needs: each need is a mapping: write '- what: %(what)s' "
                    "and 'since: 2026-11-03' under it"
                ),
                what=str(item.value).strip(),
            )
            ok = False
            continue
        if not isinstance(item, MappingNode):
            problems.add(
                item, N_("needs: each need must be a mapping, got %(found)s"), found=describe(item)
            )
            ok = False
            continue
        keys = mapping(item, problems, what="need", known=NEED_KEYS, hints=NEED_HINTS)
        what = convert(problems, keys["what"][1], _what, "what") if "what" in keys else None
        if "what" not in keys:
            problems.add(item, N_("this need has no 'what:' (what the person is looking for)"))
        since = convert(problems, keys["since"][1], _date, "since") if "since" in keys else None
        if "since" not in keys:
            problems.add(
                item,
                N_("this need has no 'since:' (the day it was posted, e.g. since: 2026-11-03)"),
            )
        until = convert(problems, keys["until"][1], _date, "until") if "until" in keys else None
        if INVALID in (what, since, until) or what is None or since is None:
            ok = False
            continue
        if until is not None and until < since:
            problems.add(
                keys["until"][1],
                N_("until: %(until)s is before since: %(since)s"),
                until=until,
                since=since,
            )
            ok = False
            continue
        out.append(Need(what=what, since=since, until=until, line=item.start_mark.line + 1))
    return tuple(out) if ok else INVALID


def _what(node: Node) -> str:
    text = text_or_none(node)
    if not text:
        raise Invalid(N_("is empty; say what the person is looking for"))
    if len(text) > NEED_MAX:
        raise Invalid(
            N_("is too long (%(n)s characters); keep it under %(max)s"), n=len(text), max=NEED_MAX
        )
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
            N_("the file must be a list of contacts, each starting with '- name:', got %(found)s"),
            found=describe(root),
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
                N_("each contact must be a mapping with 'name:' and 'email:', got %(found)s"),
                found=describe(node),
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
                problems.add(node, N_("this contact has no '%(key)s:'"), key=required)
        email = found.get("email", INVALID)
        if email is not INVALID:
            email_node = keys["email"][1]
            folded = email.casefold()
            if folded in emails:
                problems.add(
                    email_node,
                    N_(
                        "the address '%(email)s' is listed twice (first at line %(line)s);"
                        " keep one contact per address"
                    ),
                    email=email,
                    line=emails[folded],
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
    advice = Text(N_("to remove every contact on purpose, write '[]' or delete the file"))
    root = compose(text, Problems(file))
    if isinstance(root, SequenceNode) and root.flow_style and not root.value:
        return None
    if not text.strip():
        return fail(file, N_("the file is empty; %(advice)s"), advice=advice)
    return fail(file, N_("the file holds no contact, only comments; %(advice)s"), advice=advice)


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
        raise fail(file, N_("needs: say what the person is looking for"))
    if len(text) > NEED_MAX:
        raise fail(
            file, N_("needs: the text is too long; keep it under %(max)s characters"), max=NEED_MAX
        )
    if until is not None and until < since:
        raise fail(
            file, N_("needs: until %(until)s is before since %(since)s"), until=until, since=since
        )

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
