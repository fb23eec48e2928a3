"""Email: compose the forward message and send it over SMTP. It knows nothing of
storage, contacts or configuration files, and imports nothing outside the standard
library but ``aggregator.errors`` and ``aggregator.models`` (the injection tests run
it under other Python versions, which have no third-party package).

* ``compose``: the message (multipart/alternative, text then HTML, no remote
  resource), from a ``Letter``;
* ``headers``: every header and address, and the proof, by parsing the message back,
  that none can be read otherwise than meant;
* ``smtp``: ``SmtpClient``, the only place that imports smtplib;
* ``errors``: ``MailError`` (``AddressError``, ``HeaderError``).
"""

from .compose import (
    EXCERPT_PARAGRAPHS,
    EXCERPT_WORDS,
    MONTHS,
    TEXTS,
    TITLE_MAX,
    WRAP,
    Letter,
    body_text,
    compose,
    compose_test,
    excerpt,
    format_date,
    safe_link,
)
from .errors import AddressError, HeaderError, MailError
from .headers import (
    LINE_MAX,
    address,
    address_field,
    check_headers,
    envelope_address,
    header_text,
    header_value,
    mailbox,
    make_message_id,
    to_bytes,
)
from .smtp import FINAL_TIMEOUT, SMTP_TIMEOUT, SendResult, SmtpClient

__all__ = [
    "EXCERPT_PARAGRAPHS",
    "EXCERPT_WORDS",
    "FINAL_TIMEOUT",
    "LINE_MAX",
    "MONTHS",
    "SMTP_TIMEOUT",
    "TEXTS",
    "TITLE_MAX",
    "WRAP",
    "AddressError",
    "HeaderError",
    "Letter",
    "MailError",
    "SendResult",
    "SmtpClient",
    "address",
    "address_field",
    "body_text",
    "check_headers",
    "compose",
    "compose_test",
    "envelope_address",
    "excerpt",
    "format_date",
    "header_text",
    "header_value",
    "mailbox",
    "make_message_id",
    "safe_link",
    "to_bytes",
]
