"""Problem messages that can be said in any language: a template and its parameters.

The config layer speaks English (the CLI and the log print ``ConfigProblem.message``),
but the dashboard says the same problem in French. So a problem is recorded as a
gettext template with named parameters, ``Text(N_("'%(key)s' is not a %(section)s
key"), key="titel", section="feed")``: its English rendering is the message, and
``aggregator.web.i18n.config_message`` renders the translated template with the same
parameters. A parameter that is itself a sentence (a hint, a description of what was
found) is a ``Text`` too, so that it is translated with its sentence.

``N_`` only marks a template for Babel's extractor (``make catalog``); templates use
``%(name)s`` placeholders (``%%`` for a percent sign) and never contain French.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# A template made of placeholders and punctuation only ("'%(value)s'") says nothing
# in any language: without a catalog entry it is used as it is.
_FORMAT_ONLY = re.compile(r"(?:%\(\w+\)[-#0 +]*\d*[a-z]|%%|[^A-Za-z])*")


def N_(message: str) -> str:
    """Mark ``message`` as a template for the gettext catalogs; returns it unchanged."""
    return message


@dataclass(frozen=True, init=False)
class Text:
    """An English gettext template and its named parameters (str, int or Text)."""

    template: str
    params: tuple[tuple[str, Any], ...]

    def __init__(self, template: str, /, **params: Any) -> None:
        object.__setattr__(self, "template", template)
        object.__setattr__(self, "params", tuple(params.items()))

    def render(self, translate: Callable[[str], str | None] | None = None) -> str | None:
        """The sentence with ``translate`` applied to every template (None when one of
        them has no translation); without ``translate``, the English sentence."""
        template: str | None = self.template
        if translate is not None:
            template = translate(self.template)
            if template is None and _FORMAT_ONLY.fullmatch(self.template):
                template = self.template
        if template is None:
            return None
        values: dict[str, Any] = {}
        for name, value in self.params:
            if isinstance(value, Text):
                value = value.render(translate)
                if value is None:
                    return None
            values[name] = value
        return template % values

    def __str__(self) -> str:
        return self.render() or self.template


class English(Text):
    """A sentence only English can say (a library's message, the parser's words):
    rendered as it is, and never translated (the dashboard marks it lang="en")."""

    def __init__(self, message: str) -> None:
        super().__init__("%(message)s", message=message)

    def render(self, translate: Callable[[str], str | None] | None = None) -> str | None:
        return None if translate is not None else str(self.params[0][1])


def as_text(message: str | Text, **params: Any) -> Text:
    """``message`` as a Text (a plain string is a template without parameters)."""
    return message if isinstance(message, Text) else Text(message, **params)


class Invalid(ValueError):
    """A value check failed; ``text`` says why (``str()`` is its English sentence)."""

    def __init__(self, template: str, /, **params: Any) -> None:
        # Pickled as (Invalid, (English sentence,)) plus __dict__, which brings the
        # Text back over the one this constructor makes from the sentence.
        self.text = Text(template, **params)
        super().__init__(str(self.text))


def reason(error: BaseException) -> Text:
    """Why a check failed, as a Text: an Invalid's own, else the exception's English
    message (a template no catalog has, so the dashboard shows it marked English)."""
    said = getattr(error, "text", None)
    return said if isinstance(said, Text) else English(str(error))
