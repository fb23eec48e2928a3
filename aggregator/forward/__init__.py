"""« Ça pourrait t'intéresser »: forward an item to a contact by email, thoughtfully.

Owns contacts (through ``config``), suggestions, the forward ledger and the outbox
delivery; ``mail`` composes and sends, ``storage`` keeps the ledger. Layout:
``matching`` (suggestions, default note, link identity), ``forwarder`` (the
``Forwarder`` that the web, the CLI and the scheduler call) and ``outbox`` (its
delivery rounds; its docstring states the delivery guarantees).
"""

from .forwarder import (
    FORMAL_NOTE,
    NOTE_MAX,
    PASSWORD_ENV,
    UNDO_SECONDS,
    AlreadySent,
    Forwarder,
    ForwardError,
    PassageNotFound,
    RateLimited,
    UnknownContact,
    default_note_for,
    suggest_with_needs,
)
from .matching import DEFAULT_NOTE, default_note, fold, link_key, suggest, words
from .outbox import BACKOFF_MAX, DeliveryReport, backoff

__all__ = [
    "BACKOFF_MAX",
    "DEFAULT_NOTE",
    "FORMAL_NOTE",
    "PassageNotFound",
    "default_note_for",
    "suggest_with_needs",
    "NOTE_MAX",
    "PASSWORD_ENV",
    "UNDO_SECONDS",
    "AlreadySent",
    "DeliveryReport",
    "ForwardError",
    "Forwarder",
    "RateLimited",
    "UnknownContact",
    "backoff",
    "default_note",
    "fold",
    "link_key",
    "suggest",
    "words",
]
