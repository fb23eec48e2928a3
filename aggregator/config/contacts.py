"""contacts.yaml: the people items can be forwarded to -> ``models.Contact``.

A top-level list of mappings (name, email, interests, language). A missing file means
"no contacts yet", not an error.
"""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from aggregator.errors import ConfigError
from aggregator.models import Contact

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

CONTACT_KEYS = ("name", "email", "interests", "language")
LANGUAGES = ("fr", "en")
CONTACT_HINTS = {
    "mail": "did you mean 'email'?",
    "address": "did you mean 'email'?",
    "lang": "did you mean 'language'?",
    "topics": "did you mean 'interests'?",
    "tags": "did you mean 'interests'?",
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
        checks = {"name": _name, "email": _email, "interests": _interests, "language": _language}
        found = {}
        for name, check in checks.items():
            if name in keys:
                found[name] = convert(problems, keys[name][1], check, name)
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
