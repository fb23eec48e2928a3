"""The one error of mail: ``MailError``, and the two refusals made before anything is
sent (``AddressError``, ``HeaderError``). They pickle through AggregatorError."""

from __future__ import annotations

from aggregator.errors import AggregatorError


class MailError(AggregatorError):
    """Sending failed. ``temporary``: try again later (the message stays queued);
    otherwise the server refused this message for good. ``reason`` is what the
    server said (or what went wrong on the way), for the person to read."""

    def __init__(
        self,
        reason: str,
        *,
        temporary: bool,
        code: int | None = None,
        connection_lost: bool = False,
    ) -> None:
        self.reason = reason
        self.temporary = temporary
        self.code = code
        self.connection_lost = connection_lost
        # Set by SmtpClient.send (see there): the server may have the message / the
        # message never reached a server that had closed an idle connection.
        self.uncertain = False
        self.stale = False
        super().__init__(reason)


class AddressError(MailError, ValueError):
    """An address we refuse to put in the envelope or a header (see ``envelope_address``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, temporary=False)


class HeaderError(MailError, ValueError):
    """The composed message does not parse back to the headers we meant."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, temporary=False)
