"""« Ça pourrait t'intéresser »: forward an item to a contact by email, thoughtfully.

Owns contacts (through ``config``), suggestions, the forward ledger and the outbox
delivery; ``mail`` composes and sends, ``storage`` keeps the ledger. Layout:
``matching`` (suggestions, default note, link identity) and ``forwarder`` (the
``Forwarder`` that the web, the CLI and the scheduler call; its docstring states
the delivery guarantees).
"""

from .forwarder import (
    BACKOFF_MAX,
    NOTE_MAX,
    PASSWORD_ENV,
    UNDO_SECONDS,
    AlreadySent,
    DeliveryReport,
    Forwarder,
    ForwardError,
    RateLimited,
    UnknownContact,
    backoff,
)
from .matching import DEFAULT_NOTE, default_note, fold, link_key, suggest, words

__all__ = [
    "BACKOFF_MAX",
    "DEFAULT_NOTE",
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
