"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests: accepting, refusing, down.

    with SmtpServer() as server:            # tls=(cert, key): STARTTLS; implicit_tls=True: SMTPS
        settings = MailSettings(host=server.host, port=server.port, security="none", ...)
        ...                                 # the code under test sends mail
        server.wait_for(1)
        msg = server.messages[0].message    # parsed with policy.default
        raw = server.messages[0].data       # the bytes received after DATA

Behaviours, changeable at any time:

    server.reject("bad@example.org", "550 5.1.1 <bad@example.org>: no such user")
                                       RCPT TO that address gets this answer
    server.refuse("451 4.3.0 try later", at="MAIL")
                                       every MAIL / RCPT / DATA gets this answer
                                       (421 included: the client should hang up)
    server.accept()                    back to accepting everything (refusals and
                                       rejected addresses forgotten)
    server.down() / server.up()        stop listening (connections refused) / listen
                                       again on the same port
    server.hold("RCPT")                clients stop at that step (the server does not
                                       answer) until server.release(); server.held
                                       is set once a client is waiting there. Steps:
                                       MAIL, RCPT; CONTENT (the first line after 354
                                       arrived); DATA (the whole message and its final
                                       dot arrived, not accepted yet: a client that
                                       hangs up meanwhile leaves nothing); REPLY (the
                                       message is accepted, in ``messages``, its 250
                                       not sent yet)
    server.content_seen                an Event: a client sent a line of message content
    server.on_message = fn             fn(received) runs when a message is accepted,
                                       before its 250 goes out (in the server's loop)
    server.hang_up_after_message = True  close the connection right after each 250
    server.hang_up_on_connect = True   close every new connection at once (a server
                                       that went away between two messages)
    auth=("user", "secret")            advertise AUTH PLAIN/LOGIN and check these
                                       (also on a plain connection, for tests)

aiosmtpd cannot bind port 0, so a free port is picked first (bind to port 0, read
the port, close). Everything received is kept in ``messages`` (``Received``) in
order; ``logins`` lists the user names that authenticated; ``connections`` counts
the client connections (at their EHLO); ``message_ids()`` counts deliveries per
Message-ID.
"""

from __future__ import annotations

import asyncio
import email
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes  # as received, CRLF line ends, dot-stuffing removed
    smtp_utf8: bool = False
    mail_options: list[str] = field(default_factory=list)

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def _wait(self, step: str) -> None:
        s = self.server
        while s._hold == step and not s._released.is_set():
            s.held.set()
            await asyncio.sleep(0.02)

    def _refusal(self, step: str) -> str | None:
        s = self.server
        with s._lock:
            if s._refuse is not None and s._refuse[1] == step:
                return s._refuse[0]
        return None

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        await self._wait("MAIL")
        refusal = self._refusal("MAIL")
        if refusal:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        await self._wait("RCPT")
        refusal = self._refusal("RCPT")
        if refusal:
            return refusal
        with self.server._lock:
            rejected = self.server._rejects.get(address.casefold())
        if rejected:
            return rejected
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await self._wait("DATA")
        refusal = self._refusal("DATA")
        if refusal:
            return refusal
        s = self.server
        received = Received(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(envelope.original_content),
            smtp_utf8=bool(envelope.smtp_utf8),
            mail_options=list(envelope.mail_options),
        )
        with s._cond:
            s.messages.append(received)
            number = len(s.messages)
            s._cond.notify_all()
        if s.on_message is not None:
            s.on_message(received)
        # Accepted: from here on, the message is delivered whatever the client does.
        await self._wait("REPLY")
        if s.hang_up_after_message:
            # Runs after the 250 below is written: close() flushes it first.
            asyncio.get_running_loop().call_soon(server.transport.close)
        return f"250 2.0.0 Ok: queued as TEST{number}"


class _Protocol(SMTP):
    """aiosmtpd's SMTP session, watched: counts connections, sees message content."""

    def __init__(self, server: SmtpServer, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.test_server = server

    counted = False

    def connection_made(self, transport: Any) -> None:
        first = self.transport is None  # not the second call of STARTTLS
        super().connection_made(transport)
        if first and self.test_server.hang_up_on_connect:
            transport.close()

    async def smtp_EHLO(self, hostname: str) -> None:
        # Counted at EHLO: Controller.start() opens a connection of its own to check
        # that the server is up, and says nothing on it.
        if not self.counted:
            self.counted = True
            with self.test_server._lock:
                self.test_server.connections += 1
        await super().smtp_EHLO(hostname)

    async def smtp_DATA(self, arg: str) -> None:
        # Lines read after the 354 are the message: watch them (the content_seen
        # event, a hold at CONTENT). The instance attribute shadows the method.
        reader = self._reader
        read = reader.readuntil
        handler = self.event_handler
        first = True

        async def watched(separator: bytes = b"\n") -> bytes:
            nonlocal first
            line = await read(separator)
            if first and line != b".\r\n":
                first = False
                self.test_server.content_seen.set()
                await handler._wait("CONTENT")
            return line

        reader.readuntil = watched  # type: ignore[method-assign]
        try:
            await super().smtp_DATA(arg)
        finally:
            del reader.readuntil


class _Controller(Controller):
    def __init__(self, server: SmtpServer, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.test_server = server

    def factory(self) -> SMTP:
        return _Protocol(self.test_server, self.handler, **self.SMTP_kwargs)


class _Authenticator:
    def __init__(self, server: SmtpServer, user: str, password: str) -> None:
        self.server, self.user, self.password = server, user, password

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == self.user
            and data.password.decode() == self.password
        )
        if ok:
            with self.server._lock:
                self.server.logins.append(self.user)
        # handled=False: aiosmtpd answers 535 itself (True would leave the client waiting)
        return AuthResult(success=ok, handled=False)


class SmtpServer:
    def __init__(
        self,
        *,
        tls: tuple[Path, Path] | None = None,
        implicit_tls: bool = False,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.tls = tls
        self.implicit_tls = implicit_tls
        self.auth = auth
        self.messages: list[Received] = []
        self.logins: list[str] = []
        self.connections = 0
        self.content_seen = threading.Event()
        self.on_message: Callable[[Received], None] | None = None
        self.hang_up_after_message = False
        self.hang_up_on_connect = False
        self.held = threading.Event()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._rejects: dict[str, str] = {}
        self._refuse: tuple[str, str] | None = None
        self._hold: str | None = None
        self._released = threading.Event()
        self._controller: Controller | None = None

    # --- lifecycle -------------------------------------------------------------------

    def _make_controller(self) -> Controller:
        kwargs: dict[str, Any] = {"hostname": self.host, "port": self.port}
        context = None
        if self.tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.tls)
        if context is not None and self.implicit_tls:
            kwargs["ssl_context"] = context
        elif context is not None:
            kwargs["tls_context"] = context
            kwargs["require_starttls"] = True
        if self.auth is not None:
            kwargs["authenticator"] = _Authenticator(self, *self.auth)
            # Tests may authenticate on a plain connection; never do this for real.
            # (aiosmtpd 1.4 only counts STARTTLS as TLS: implicit TLS needs False too.)
            kwargs["auth_require_tls"] = self.tls is not None and not self.implicit_tls
        return _Controller(self, _Handler(self), **kwargs)

    def up(self) -> None:
        """Start listening (again, on the same port)."""
        if self._controller is None:
            self._controller = self._make_controller()
            self._controller.start()

    def down(self) -> None:
        """Stop listening: connections are refused until ``up()``."""
        controller, self._controller = self._controller, None
        if controller is not None:
            self._released.set()  # a held client must not keep the loop busy
            controller.stop()

    def __enter__(self) -> SmtpServer:
        self.up()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()

    # --- behaviours ------------------------------------------------------------------

    def reject(self, address: str, reply: str = "550 5.1.1 no such user") -> None:
        with self._lock:
            self._rejects[address.casefold()] = reply

    def refuse(self, reply: str, *, at: str = "MAIL") -> None:
        assert at in ("MAIL", "RCPT", "DATA"), at
        with self._lock:
            self._refuse = (reply, at)

    def accept(self) -> None:
        with self._lock:
            self._refuse = None
            self._rejects.clear()

    def hold(self, step: str) -> None:
        assert step in ("MAIL", "RCPT", "CONTENT", "DATA", "REPLY"), step
        self.held.clear()
        self._released.clear()
        self._hold = step

    def release(self) -> None:
        self._released.set()
        self._hold = None

    # --- looking -----------------------------------------------------------------------

    def message_ids(self) -> Counter[str]:
        """How many times each Message-ID was delivered."""
        with self._lock:
            return Counter(str(m.message["Message-ID"]) for m in self.messages)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Wait until at least ``count`` messages arrived; returns them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} messages, got {len(self.messages)}")
                self._cond.wait(left)
            return list(self.messages)

    def settings(self, **overrides: Any) -> Any:
        """MailSettings pointing here (security none unless tls was given)."""
        from aggregator.models import MailSettings

        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "security": "none"
            if self.tls is None
            else ("ssl" if self.implicit_tls else "starttls"),
            "sender": "Alex Exemple <alex@example.org>",
            "reply_to": "Alex Exemple <alex@example.org>",
        }
        values.update(overrides)
        return MailSettings(**values)
