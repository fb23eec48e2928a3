"""Sending: ``SmtpClient``, the only place that imports smtplib.

It opens one connection (ssl, starttls or none; certificates verified; a timeout on
every socket operation) and runs the MAIL/RCPT/DATA steps itself rather than
``sendmail``, to keep the server's final answer ("250 2.0.0 Ok: queued as ..."), to
stop after a refused recipient without sending the copy, and to send the end of DATA
(the final ".") on its own, after a caller's hook has recorded that the message is
being handed over (``send(before_end=...)``; forward.outbox says why). It waits 10
minutes for the answer to that end (RFC 5321 section 4.5.3.2.6); no answer is
``uncertain``, never "temporary": the server may have the message.

Every failure becomes a ``MailError`` classified once, in ``_classify``: temporary
(network, timeout, 4xx, authentication and TLS problems, which are fixed by
configuration, not by dropping the message) or permanent (5xx on the message or its
recipient). The password is passed in, never logged, never part of a message.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage

from aggregator.models import MailSettings

from .errors import MailError
from .headers import envelope_address, to_bytes

log = logging.getLogger(__name__)

SMTP_TIMEOUT = 30.0  # seconds, for the connection and for every reply
FINAL_TIMEOUT = 600.0  # seconds, for the answer to the end of DATA (RFC 5321 4.5.3.2.6)


@dataclass(frozen=True)
class SendResult:
    reply: str  # the server's answer to the end of DATA, e.g. "250 2.0.0 Ok: queued as X"
    refused: dict[str, str] = field(default_factory=dict)  # copies refused (not the recipient)


def _stuffed(data: bytes) -> bytes:
    """The message as DATA sends it: every line that starts with "." gets another
    one (RFC 5321 section 4.5.2), and it ends with CRLF."""
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text.split())}".strip()


def _classify(e: BaseException, during: str) -> MailError:
    """One place decides what is temporary (see the module docstring)."""
    if isinstance(e, MailError):
        return e
    if isinstance(e, smtplib.SMTPAuthenticationError):
        reply = _reply(e.smtp_code, e.smtp_error)
        return MailError(
            f"the server refused the user name or password ({reply}); check settings.mail."
            "username and AGGREGATOR_SMTP_PASSWORD",
            temporary=True,
            code=e.smtp_code,
        )
    if isinstance(e, smtplib.SMTPNotSupportedError):
        return MailError(
            f"the server does not support {during} ({e}); check settings.mail.security",
            temporary=True,
        )
    if isinstance(e, smtplib.SMTPServerDisconnected):
        # smtplib reports a read timeout as "Connection unexpectedly closed: timed out"
        if "timed out" in str(e):
            return MailError(
                f"no answer from the server within the timeout during {during}",
                temporary=True,
                connection_lost=True,
            )
        return MailError(
            f"the server closed the connection during {during}",
            temporary=True,
            connection_lost=True,
        )
    if isinstance(e, smtplib.SMTPResponseException):
        code = e.smtp_code
        return MailError(
            _reply(code, e.smtp_error),
            temporary=code < 500 or during == "connection",
            code=code,
            connection_lost=code == 421 or during == "connection",
        )
    if isinstance(e, ssl.SSLCertVerificationError):
        return MailError(
            f"the server's TLS certificate is not trusted ({e.verify_message})",
            temporary=True,
            connection_lost=True,
        )
    if isinstance(e, TimeoutError):
        return MailError(
            f"no answer from the server within the timeout during {during}",
            temporary=True,
            connection_lost=True,
        )
    if isinstance(e, OSError):
        return MailError(
            f"cannot reach the server during {during}: {e.strerror or e}",
            temporary=True,
            connection_lost=True,
        )
    raise e


class SmtpClient:
    """One SMTP connection, used for one or more messages::

    with SmtpClient(settings, password) as smtp:
        result = smtp.send(message, recipients=[...])
    """

    def __init__(
        self,
        settings: MailSettings,
        password: str | None,
        *,
        timeout: float = SMTP_TIMEOUT,
        tls_context: ssl.SSLContext | None = None,
        final_timeout: float = FINAL_TIMEOUT,
    ) -> None:
        self.settings = settings
        self._password = password
        self.timeout = timeout
        self.tls_context = tls_context
        self.final_timeout = final_timeout
        self.transactions = 0  # answered on this connection (reset by open)
        self._smtp: smtplib.SMTP | None = None

    def __repr__(self) -> str:  # never the password
        s = self.settings
        return f"SmtpClient({s.host}:{s.port}, {s.security}, user={s.username!r})"

    def __enter__(self) -> SmtpClient:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Connect, say EHLO, secure, authenticate. Raises a temporary MailError."""
        s = self.settings
        if s.username and not self._password:
            raise MailError(
                "settings.mail.username is set but AGGREGATOR_SMTP_PASSWORD is not",
                temporary=True,
            )
        context = self.tls_context or ssl.create_default_context()
        step = "connection"
        try:
            if s.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=self.timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
            self._smtp = smtp
            self.transactions = 0
            smtp.ehlo()
            if s.security == "starttls":
                step = "STARTTLS"
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.username:
                step = "AUTH"
                smtp.login(s.username, self._password or "")
        except Exception as e:
            self.close()
            raise _classify(e, "connection" if step == "connection" else step) from e
        log.debug("connected to %s:%d (%s)", s.host, s.port, s.security)

    def send(
        self,
        msg: EmailMessage,
        *,
        sender: str,
        recipients: list[str],
        before_end: Callable[[], object] | None = None,
    ) -> SendResult:
        """Send ``msg`` to ``recipients`` (the first is the one that matters: if it is
        refused nothing is sent; later ones are copies, reported in ``refused``).

        The message goes out whole but for the end of DATA ("CRLF . CRLF"), which
        alone makes the server take it (RFC 5321 section 4.1.1.4: a transaction
        whose end never came is discarded). ``before_end`` runs right before it is
        sent: the caller records there that the message is being handed over. If
        it raises, the connection is dropped without the end (nothing is
        delivered) and its exception propagates.

        A MailError with ``uncertain`` means the end was sent and no answer came
        (connection lost, timeout): the server may have taken the message. One
        with ``stale`` means a connection used before was found closed when this
        message started: nothing of it reached the server. When the connection is
        lost it is closed (``connected`` is then False)."""
        smtp = self._smtp
        if smtp is None:
            raise MailError("not connected", temporary=True, connection_lost=True)
        sender = envelope_address(sender)
        recipients = [envelope_address(r) for r in recipients]
        international = not all(a.isascii() for a in (sender, *recipients))
        try:
            data = to_bytes(msg, utf8=international)
        except UnicodeEncodeError:  # a non-ASCII address in a header only (Reply-To)
            international = True
            data = to_bytes(msg, utf8=True)
        reused = self.transactions > 0
        step = "MAIL FROM"
        try:
            if international and not smtp.has_extn("smtputf8"):
                raise MailError(
                    "an address is not ASCII and the server does not support SMTPUTF8",
                    temporary=False,
                )
            options = ["SMTPUTF8", "BODY=8BITMIME"] if international else []
            if smtp.has_extn("size"):
                options.append(f"SIZE={len(data)}")
            code, reply = smtp.mail(sender, options)
            if code != 250:
                raise self._refused(code, reply)
            refused: dict[str, str] = {}
            for i, rcpt in enumerate(recipients):
                step = "RCPT TO"
                code, reply = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    if i == 0:
                        raise self._refused(code, reply)
                    refused[rcpt] = _reply(code, reply)
                    log.warning("copy to %s refused: %s", rcpt, refused[rcpt])
            step = "DATA"
            code, reply = smtp.docmd("DATA")
            if code != 354:
                raise self._refused(code, reply)
            smtp.send(_stuffed(data)[:-2])  # all but the CRLF that starts the end
            if before_end is not None:
                try:
                    before_end()
                except BaseException:
                    self._drop()  # no QUIT: in DATA it would be read as message text
                    raise
            step = "end of DATA"
            smtp.send(b"\r\n.\r\n")
            code, reply = self._final_reply(smtp)
            if code != 250:
                raise self._refused(code, reply)
        except MailError as e:
            raise self._after(e, step, reused) from e
        except (smtplib.SMTPException, OSError) as e:
            raise self._after(_classify(e, step), step, reused) from e
        self.transactions += 1
        return SendResult(_reply(code, reply), refused)

    def _final_reply(self, smtp: smtplib.SMTP) -> tuple[int, bytes]:
        # The answer to the end of DATA may take long (content filters): RFC 5321
        # section 4.5.3.2.6 asks clients to wait 10 minutes. Giving up earlier would
        # turn a delivered message into an uncertain one.
        sock = smtp.sock
        if sock is not None:
            sock.settimeout(self.final_timeout)
        try:
            return smtp.getreply()
        finally:
            if smtp.sock is not None:
                smtp.sock.settimeout(self.timeout)

    def _after(self, error: MailError, step: str, reused: bool) -> MailError:
        """Note what a failure at ``step`` means for the message, and for the connection."""
        if error.connection_lost:
            self._drop()
            if step == "end of DATA" and error.code is None:
                error.uncertain = True
                error.reason = (
                    f"{error.reason}, after the whole message was handed over: "
                    "the server may have accepted it"
                )
                error.args = (error.reason,)
            elif step == "MAIL FROM" and reused:
                error.stale = True
        else:
            self.transactions += 1  # the server answered: the connection works
            self._reset()
        return error

    def _refused(self, code: int, reply: bytes) -> MailError:
        return MailError(
            _reply(code, reply), temporary=code < 500, code=code, connection_lost=code == 421
        )

    def _reset(self) -> None:
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def _drop(self) -> None:
        """Close the socket without a word (the connection is gone or mid-DATA)."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    @property
    def connected(self) -> bool:
        return self._smtp is not None
