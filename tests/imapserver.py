"""A real IMAP server for tests: a throwaway Dovecot on 127.0.0.1, plain and TLS.

    with ImapServer(tmp_dir) as server:          # skips (with the reason) without dovecot
        server.deliver("Newsletters", eml_bytes) # a real message file in the maildir
        server.port, server.tls_port, server.ca_file, server.user, server.password
        server.set_uidvalidity("Newsletters", 1234)   # as after a server-side rebuild
        with server.proxy() as proxy:            # a TCP relay that can cut the stream
            proxy.cut_after_fetch(4096)          # drop the connection mid-FETCH

Everything lives under the given folder: the configuration, ``base_dir``,
``state_dir``, the logs, a passwd-file with one user, the maildir and a self-signed
certificate made with the openssl command line. (As root, a private folder of its
own under the system's temporary folder instead, owned by the user Dovecot runs as.) Dovecot runs in the foreground
(``dovecot -F``) as a child process, never as a system service, and is stopped at
the end. It runs as the current user; as root (CI), as the
unprivileged ``dovecot`` user the Debian package creates, since Dovecot refuses mail
access as UID 0.

Messages are delivered the way an MTA's local delivery does it: written to
``tmp/`` and renamed into ``new/`` (the Maildir rules), then Dovecot sees them at the
next SELECT/NOOP and gives them the next UIDs.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from types import TracebackType

import pytest

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
OPENSSL = shutil.which("openssl")


def missing() -> str | None:
    """Why a Dovecot cannot be started here (the skip reason), or None."""
    if not os.path.exists(DOVECOT):
        return "dovecot is not installed (Debian package dovecot-imapd; `make test` installs it)"
    if OPENSSL is None:
        return "the openssl command is not installed (needed for the test certificate)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (its own CA)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    assert OPENSSL is not None
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


class ImapServer:
    user = "alex@example.org"
    password = "s3cret-imap-pass"  # noqa: S105 -- a throwaway test account

    def __init__(self, folder: Path) -> None:
        reason = missing()
        if reason:
            pytest.skip(reason)
        self.account = self._account()
        if os.geteuid() == 0:
            # The unprivileged user must reach every file: pytest's tmp_path sits in
            # folders only root can enter.
            self.folder = Path(tempfile.mkdtemp(prefix="imap-"))
            self._own(self.folder)
            self._cleanup: Path | None = self.folder
        else:
            self.folder = Path(folder)
            self._cleanup = None
        self.port = free_port()
        self.tls_port = free_port()
        self.host = "127.0.0.1"
        self.maildir = self.folder / "mail" / self.user
        self.process: subprocess.Popen[bytes] | None = None

    # --- lifecycle -----------------------------------------------------------------

    def __enter__(self) -> ImapServer:
        self.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if self._cleanup is not None:
            shutil.rmtree(self._cleanup, ignore_errors=True)
            self._cleanup = None

    def _account(self) -> pwd.struct_passwd:
        """Who Dovecot runs as: the current user, or an unprivileged one when root
        (Dovecot refuses mail access as UID 0)."""
        if os.geteuid() != 0:
            return pwd.getpwuid(os.geteuid())
        for name in ("dovecot", "nobody"):
            with contextlib.suppress(KeyError):
                return pwd.getpwnam(name)
        pytest.skip("running as root and there is no 'dovecot' or 'nobody' user for Dovecot")

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            os.chown(path, self.account.pw_uid, self.account.pw_gid)

    def start(self) -> None:
        f = self.folder
        for sub in ("run", "state", "home", "mail"):
            (f / sub).mkdir(parents=True, exist_ok=True)
        self.cert, self.key = make_certificate(f)
        self.ca_file = self.cert
        user = self.account.pw_name
        group = grp.getgrgid(self.account.pw_gid).gr_name
        uid, gid = self.account.pw_uid, self.account.pw_gid
        (f / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}:{uid}:{gid}::{f}/home\n")
        for sub in ("cur", "new", "tmp"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        for path in [f, *f.rglob("*")]:
            self._own(path)
        config = f"""
base_dir = {f}/run
state_dir = {f}/state
log_path = {f}/dovecot.log
info_log_path = {f}/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
disable_plaintext_auth = no
auth_mechanisms = plain login
# failed logins answered at once (the default waits 2 s, against guessing)
auth_failure_delay = 0
ssl = yes
ssl_cert = <{self.cert}
ssl_key = <{self.key}
ssl_min_protocol = TLSv1.2
mail_location = maildir:{f}/mail/%u
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = 0
first_valid_gid = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {f}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {f}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  # no growing delay after failed logins (the "auth penalty"): tests log in wrong on purpose
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  chroot =
}}
service pop3-login {{
  chroot =
}}
service auth {{
  unix_listener auth-userdb {{
    mode = 0666
  }}
}}
protocol imap {{
  mail_max_userip_connections = 50
}}
"""
        self.config = f / "dovecot.conf"
        self.config.write_text(config)
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            user=uid if os.geteuid() == 0 else None,
            group=gid if os.geteuid() == 0 else None,
            extra_groups=[] if os.geteuid() == 0 else None,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                out = self.process.stdout.read().decode() if self.process.stdout else ""
                raise RuntimeError(f"dovecot did not start:\n{out}\n{self.log()}")
            if self._listening(self.port) and self._listening(self.tls_port):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dovecot did not listen within 15 s:\n{self.log()}")

    @staticmethod
    def _listening(port: int) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return True
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process is not None and self.process.stdout:
            self.process.stdout.close()
        self.process = None

    def log(self) -> str:
        try:
            return (self.folder / "dovecot.log").read_text(errors="replace")
        except OSError:
            return ""

    # --- mailbox content -----------------------------------------------------------

    def folder_path(self, name: str) -> Path:
        """The maildir of a folder (Maildir++: subfolders are ``.Name``)."""
        return self.maildir if name.upper() == "INBOX" else self.maildir / f".{name}"

    def create_folder(self, name: str) -> Path:
        path = self.folder_path(name)
        for sub in (".", "cur", "new", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)
            self._own(path / sub)
        return path

    def deliver(self, folder: str, data: bytes) -> str:
        """Write one message into ``folder`` (created if needed), as an MTA does."""
        path = self.create_folder(folder)
        name = f"{time.time():.6f}.{uuid.uuid4().hex}.test"
        tmp = path / "tmp" / name
        tmp.write_bytes(data)
        self._own(tmp)
        os.rename(tmp, path / "new" / name)
        return name

    def doveadm(self, *args: str) -> str:
        done = subprocess.run(
            ["doveadm", "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if done.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)}: {done.stderr}")
        return done.stdout

    def flags(self, folder: str) -> list[str]:
        """The flags of every message of ``folder`` (to check nothing was marked read)."""
        out = self.doveadm("fetch", "-u", self.user, "flags", "mailbox", folder, "all")
        return [
            line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("flags:")
        ]

    def count(self, folder: str) -> int:
        out = self.doveadm("mailbox", "status", "-u", self.user, "messages", folder)
        return int(out.split("=")[1])

    def set_uidvalidity(self, folder: str, value: int) -> None:
        """Give ``folder`` a new UIDVALIDITY, as a server-side restore or rebuild does:
        every UID the client knew means nothing any more (RFC 3501 section 2.3.1.1).
        Dovecot renumbers the messages from 1."""
        path = self.folder_path(folder)
        for name in ("dovecot-uidlist", "dovecot.index", "dovecot.index.cache",
                     "dovecot.index.log", "dovecot.index.log.2"):  # fmt: skip
            with contextlib.suppress(FileNotFoundError):
                (path / name).unlink()
        # Messages seen by Dovecot sit in cur/ with their flags; back to new/ so that
        # the rebuilt list gives them fresh UIDs in delivery order.
        for msg in sorted((path / "cur").iterdir()):
            os.rename(msg, path / "new" / msg.name.split(":")[0])
        (path / "dovecot-uidlist").write_text(f"3 V{value} N1 G{uuid.uuid4().hex}\n")
        self._own(path / "dovecot-uidlist")

    # --- a relay that can cut the stream -------------------------------------------

    def proxy(self) -> CuttingProxy:
        return CuttingProxy(self.host, self.port)


class CuttingProxy:
    """A TCP relay in front of the plain IMAP port. ``cut_after_fetch(n)``: once a
    client command asking for message bodies went through, the connection is closed
    after ``n`` more bytes from the server: a server (or a network) dropping the
    connection mid-FETCH; ``stall=True`` keeps it open, silent, instead."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.cut_after: int | None = None
        self.stall = False
        self.cuts = 0
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> CuttingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed = True
        self.listener.close()

    def cut_after_fetch(self, n: int | None, *, stall: bool = False) -> None:
        """Close the connection ``n`` bytes into the FETCH answer; with ``stall``,
        keep it open and send nothing more instead (a server that hangs)."""
        self.cut_after = n
        self.stall = stall

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            state = {"fetching": False, "sent": 0}
            threading.Thread(
                target=self._pipe, args=(client, server, state, True), daemon=True
            ).start()
            threading.Thread(
                target=self._pipe, args=(server, client, state, False), daemon=True
            ).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, state: dict, upstream: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if upstream:
                    if b"BODY.PEEK[]" in data.upper() or b"BODY.PEEK[]<" in data.upper():
                        state["fetching"] = True
                elif state["fetching"] and self.cut_after is not None:
                    room = self.cut_after - state["sent"]
                    if len(data) >= room:
                        dst.sendall(data[: max(room, 0)])
                        self.cuts += 1
                        while self.stall and not self._closed:
                            time.sleep(0.05)
                        break
                    state["sent"] += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    s.close()
