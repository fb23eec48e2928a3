"""Forwarding entries by email (issue 4): forward, outbox, mail-test."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import click

from aggregator.cli import Paths, cli, load_or_exit, utcnow
from aggregator.config import ConfigSource
from aggregator.export import forward_json, iso
from aggregator.models import Forward
from aggregator.storage import Storage


def open_forwarder(paths: Paths, storage: Storage, source: ConfigSource | None = None) -> Any:
    """A Forwarder on this database, feeds file and contacts file."""
    from aggregator.config import ContactSource
    from aggregator.forward import Forwarder

    return Forwarder(
        storage,
        source or ConfigSource(paths.config),
        ContactSource(paths.contacts_file),
        outbox_dir=paths.outbox_dir,
    )


def _echo_forward(f: Forward) -> None:
    when = f.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    click.echo(
        f"{f.id:>6}  {f.state:<9} {when}  {f.contact_name} <{f.contact_email}>  « {f.entry_title} »"
    )
    details = []
    if f.attempts:
        details.append(f"{f.attempts} attempt{'s' * (f.attempts != 1)}")
    if f.state == "queued" and f.next_attempt:
        details.append(f"next try {iso(f.next_attempt)}")
    if f.last_error:
        details.append(f.last_error)
    if f.state == "uncertain":
        details.append(f"to send it again: aggregator outbox --retry {f.id}")
    if details:
        click.echo(f"{'':>8}{'; '.join(details)}")


def _config_warning(forwarder: Any) -> None:
    error = forwarder.config_source.error
    if error is not None:
        click.echo(f"warning: {forwarder.config_source.path} has errors:\n{error}", err=True)


@cli.command()
@click.argument("entry_id", type=int)
@click.option(
    "--to", "emails", multiple=True, required=True, metavar="EMAIL", help="A contact's address."
)
@click.option(
    "--note", default=None, help="A personal word (default: « Ça pourrait t'intéresser ! »)."
)
@click.option(
    "--add-contact",
    "add_contact",
    metavar="NAME",
    help="Create the contact NAME for the --to address that is not a contact yet.",
)
@click.option("--yes", is_flag=True, help="Send again without asking if it was already sent.")
@click.pass_obj
def forward(
    paths: Paths, entry_id: int, emails: tuple[str, ...], note: str | None,
    add_contact: str | None, yes: bool,
) -> None:  # fmt: skip
    """Queue ENTRY_ID (see `list`) to be emailed to one or more contacts."""
    from aggregator.forward import UNDO_SECONDS, AlreadySent, UnknownContact

    storage = Storage(paths.db)
    try:
        forwarder = open_forwarder(paths, storage)
        _config_warning(forwarder)
        known = {c.email.casefold() for c in forwarder.contacts}
        unknown = [e for e in emails if e.strip().casefold() not in known]
        if add_contact and len(unknown) > 1:
            raise click.UsageError("--add-contact names one new contact: give one unknown --to")
        if add_contact and unknown:
            contact = forwarder.add_contact(add_contact, unknown[0])
            click.echo(f"added {contact.name} <{contact.email}> to {paths.contacts_file}")
        try:
            queued = forwarder.queue(entry_id, emails, note, now=utcnow(), confirm_resend=yes)
        except UnknownContact as e:
            raise click.ClickException(
                f"{e.email} is not one of your contacts ({paths.contacts_file}); "
                "add --add-contact NAME to create it"
            ) from None
        except AlreadySent as e:
            for sends in e.previous.values():
                for f in sends:
                    click.echo(
                        f"already {'sent' if f.state == 'sent' else f.state} to "
                        f"{f.contact_name} on {f.created_at.astimezone(UTC):%Y-%m-%d}"
                    )
            click.confirm("Send it again?", abort=True)
            queued = forwarder.queue(entry_id, emails, note, now=utcnow(), confirm_resend=True)
        for f in queued:
            click.echo(
                f"queued #{f.id}: « {f.entry_title} » to {f.contact_name} <{f.contact_email}>"
            )
        if forwarder.mail_configured:
            click.echo(
                f"It leaves in about {UNDO_SECONDS} s when the worker runs (`aggregator run` "
                "or `aggregator worker`); `aggregator outbox --send` sends it now."
            )
        else:
            click.echo(
                "Mail is not configured (settings.mail in feeds.yaml): it waits in the outbox, "
                f"and a readable copy is written to {paths.outbox_dir} by the worker or "
                "`aggregator outbox --send`."
            )
    finally:
        storage.close()


@cli.command()
@click.option("--send", is_flag=True, help="Deliver the queued forwards now.")
@click.option(
    "--retry",
    "retry_ids",
    multiple=True,
    type=int,
    metavar="ID",
    help="Queue forward ID again: a failed one, or an uncertain one (handed to the "
    "server, no answer: it may have arrived; send it again only if it did not).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def outbox(paths: Paths, send: bool, retry_ids: tuple[int, ...], as_json: bool) -> None:
    """List queued, failed and uncertain forwards; with --send, deliver them now."""
    from aggregator.errors import NotFound

    storage = Storage(paths.db)
    try:
        forwarder = open_forwarder(paths, storage)
        _config_warning(forwarder)
        for forward_id in retry_ids:
            try:
                again = forwarder.retry(forward_id, now=utcnow())
            except NotFound:
                raise click.ClickException(f"no forward #{forward_id}") from None
            if again.state != "queued":
                raise click.ClickException(
                    f"forward #{forward_id} is {again.state}: only a failed or uncertain "
                    "one can be sent again"
                )
            if not as_json:
                click.echo(f"#{forward_id} is queued again")
        report = None
        if send:
            # The person asked: no undo window, no backoff; wait for a running worker's
            # round to end rather than skip.
            report = forwarder.deliver_due(now=utcnow(), force=True, wait=60)
        remaining = forwarder.outbox()
    finally:
        storage.close()
    if as_json:
        out: dict[str, Any] = {"outbox": [forward_json(f) for f in remaining]}
        if report is not None:
            out["delivery"] = {
                "sent": report.sent,
                "deferred": report.deferred,
                "failed": report.failed,
                "written": [str(p) for p in report.written],
                "uncertain": report.uncertain,
                "unrecorded": report.unrecorded,
                "errors": {str(k): v for k, v in report.errors.items()},
                "busy": report.busy,
            }
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        if report is not None:
            click.echo(report.line())
            for forward_id, reason in report.errors.items():
                click.echo(f"#{forward_id}: {reason}", err=True)
            for forward_id in report.unrecorded:
                # This process ends: what it kept in memory goes with it. The next
                # deliverer finds the row mid-delivery (forward.outbox docstring).
                click.echo(
                    f"#{forward_id}: its outcome could not be written to the database; the "
                    "next delivery sends it again if it never reached the server, or marks "
                    "it uncertain if it may have",
                    err=True,
                )
        if not remaining:
            click.echo("the outbox is empty")
        for f in remaining:
            _echo_forward(f)
    if report is not None and (
        report.busy or report.failed or report.deferred or report.uncertain or report.unrecorded
    ):
        raise SystemExit(1)


@cli.command("mail-test")
@click.argument("address")
@click.pass_obj
def mail_test(paths: Paths, address: str) -> None:
    """Send a test message to ADDRESS with settings.mail and print the server's answer."""
    from aggregator.config.values import check_address
    from aggregator.mail import MailError

    try:
        check_address(address)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="ADDRESS") from None
    config = load_or_exit(paths.config)
    storage = Storage(paths.db)
    try:
        forwarder = open_forwarder(paths, storage)
        try:
            reply = forwarder.send_test(address, now=utcnow())
        except MailError as e:
            click.echo(f"mail-test failed: {e.reason}", err=True)
            raise SystemExit(1) from None
    finally:
        storage.close()
    mail = config.settings.mail
    assert mail is not None
    click.echo(f"sent to {address} through {mail.host}:{mail.port}; the server answered: {reply}")
