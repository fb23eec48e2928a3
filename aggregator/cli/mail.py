"""Forwarding entries by email (issue 4): forward, outbox, mail-test; « Pour toi »
letters and the owner's rules (issue 13): digest, rules."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import click

from aggregator.cli import Paths, cli, load_or_exit, utcnow
from aggregator.config import ConfigSource
from aggregator.errors import NotFound
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
@click.option(
    "--excerpt",
    default=None,
    metavar="PASSAGE",
    help="Quote this passage of the item instead of its start; it must occur in the "
    "item's text (compared without case, accents and white space).",
)
@click.option(
    "--subject", default=None, help="The subject, instead of « Ça pourrait t'intéresser : … »."
)
@click.option(
    "--basket",
    is_flag=True,
    help="Add the item to each contact's « Pour toi » letter instead of sending it now.",
)
@click.pass_obj
def forward(
    paths: Paths, entry_id: int, emails: tuple[str, ...], note: str | None,
    add_contact: str | None, yes: bool, excerpt: str | None, subject: str | None,
    basket: bool,
) -> None:  # fmt: skip
    """Queue ENTRY_ID (see `list`) to be emailed to one or more contacts."""
    from aggregator.forward import UNDO_SECONDS, AlreadySent, ForwardError, UnknownContact

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
        extra = {"subject": subject, "excerpt": excerpt}
        try:
            if basket:
                _to_basket(forwarder, entry_id, emails, note, excerpt)
                return
            queued = forwarder.queue(
                entry_id, emails, note, now=utcnow(), confirm_resend=yes, **extra
            )
        except UnknownContact as e:
            raise click.ClickException(
                f"{e.email} is not one of your contacts ({paths.contacts_file}); "
                "add --add-contact NAME to create it"
            ) from None
        except NotFound as e:
            raise click.ClickException(str(e)) from None
        except AlreadySent as e:
            for sends in e.previous.values():
                for f in sends:
                    click.echo(
                        f"already {'sent' if f.state == 'sent' else f.state} to "
                        f"{f.contact_name} on {f.created_at.astimezone(UTC):%Y-%m-%d}"
                    )
            click.confirm("Send it again?", abort=True)
            queued = forwarder.queue(
                entry_id, emails, note, now=utcnow(), confirm_resend=True, **extra
            )
        except ForwardError as e:
            raise click.ClickException(str(e)) from None
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


def _to_basket(
    forwarder: Any, entry_id: int, emails: tuple[str, ...], note: str | None, excerpt: str | None
) -> None:
    now = utcnow()
    for email in emails:
        item = forwarder.add_to_basket(entry_id, email, note, now=now, excerpt=excerpt)
        contact = forwarder.contact(email)
        due = forwarder.next_letter(contact, now=now)
        when = (
            f"it leaves with the letter of {iso(due)}"
            if due is not None
            else "they have no `digest:` in contacts.yaml: send it with `aggregator digest "
            f"--send --to {contact.email}`"
        )
        click.echo(f"added « {item.entry_title} » to {contact.name}'s letter; {when}")


@cli.command()
@click.option("--send", "send_due", is_flag=True, help="Queue and send the due letters now.")
@click.option(
    "--to",
    "emails",
    multiple=True,
    metavar="EMAIL",
    help="With --send: this contact's letter now, due or not.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def digest(paths: Paths, send_due: bool, emails: tuple[str, ...], as_json: bool) -> None:
    """List the « Pour toi » baskets and when each letter leaves; --send sends the due
    ones (an empty basket sends nothing)."""
    from aggregator.forward import ForwardError, UnknownContact

    storage = Storage(paths.db)
    try:
        forwarder = open_forwarder(paths, storage)
        _config_warning(forwarder)
        now = utcnow()
        queued: list[Forward] = []
        if send_due:
            try:
                for email in emails:
                    queued += forwarder.send_letter(email, now=now, undo=False)
            except (UnknownContact, ForwardError) as e:
                raise click.ClickException(str(e)) from None
            if not emails:
                queued += forwarder.queue_due_letters(now=now)
            # Only what is due (the letters just queued are): a forward still inside
            # its undo window stays there.
            report = forwarder.deliver_due(now=now, wait=60) if queued else None
        rows = []
        baskets = storage.baskets()
        for c in sorted(forwarder.contacts, key=lambda c: c.name.casefold()):
            items = baskets.get(c.email.casefold(), [])
            if c.digest is None and not items:
                continue
            due = forwarder.next_letter(c, now=now)
            rows.append(
                {
                    "name": c.name,
                    "email": c.email,
                    "digest": c.digest,
                    "next": iso(max(due, now)) if due is not None and items else None,
                    "items": [
                        {"id": i.id, "entry_id": i.entry_id, "title": i.entry_title, "note": i.note}
                        for i in items
                    ],
                }
            )
    finally:
        storage.close()
    if as_json:
        out: dict[str, Any] = {"baskets": rows}
        if send_due:
            out["queued"] = [forward_json(f) for f in queued]
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    if send_due:
        letters = len({f.letter_of for f in queued})
        click.echo(f"{letters} letter(s) queued ({len(queued)} item(s))")
        if report is not None:
            click.echo(report.line())
    if not rows:
        click.echo("no « Pour toi » letters: add `digest: weekly` to a contact in contacts.yaml")
    for r in rows:
        period = r["digest"] or "no digest"
        when = f"next letter {r['next']}" if r["next"] else "nothing waiting"
        click.echo(f"{r['name']} <{r['email']}>  {period}; {len(r['items'])} item(s); {when}")
        for i in r["items"]:
            click.echo(f"    #{i['id']}  « {i['title']} »{'  — ' + i['note'] if i['note'] else ''}")


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
@click.argument("address", required=False)
@click.option(
    "--imap",
    "imap",
    is_flag=True,
    help="Instead, log in to settings.imap (password from AGGREGATOR_IMAP_PASSWORD) and"
    " list the mailbox's folders, marking the ones feeds.yaml reads.",
)
@click.pass_obj
def mail_test(paths: Paths, address: str | None, imap: bool) -> None:
    """Send a test message to ADDRESS with settings.mail and print the server's answer.

    With --imap, try the IMAP login of settings.imap and list the folders instead.
    """
    if imap:
        _imap_test(paths)
        return
    if not address:
        raise click.UsageError("give an ADDRESS to send the test message to (or --imap)")
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


def _imap_test(paths: Paths) -> None:
    """``mail-test --imap``: log in, list the folders, say which mail sources lack one."""
    from aggregator import newsletters
    from aggregator.errors import FeedError
    from aggregator.models import MailSource

    config = load_or_exit(paths.config)
    imap = config.settings.imap
    if imap is None:
        click.echo(
            f"mail-test failed: there is no 'imap:' under 'settings:' in {paths.config}", err=True
        )
        raise SystemExit(1)
    where = f"{imap.host}:{imap.port} ({imap.security})"
    options = newsletters.Connection(timeout=config.settings.timeout.total_seconds())
    try:
        folders = newsletters.list_folders(where, imap, newsletters.password(), options)
    except FeedError as e:
        click.echo(f"mail-test failed: {e}", err=True)
        raise SystemExit(1) from None
    wanted = {s.folder for f in config.feeds if (s := MailSource.from_key(f.url))}
    click.echo(f"logged in to {where} as {imap.username}; {len(folders)} folders:")
    names = set()
    for folder in folders:
        names.add(folder.name)
        count = "" if folder.messages is None else f"  ({folder.messages} messages)"
        mark = "  <- read by feeds.yaml" if folder.name in wanted else ""
        click.echo(f"  {folder.name}{count}{mark}")
    missing = sorted(wanted - names)
    for name in missing:
        click.echo(f"warning: the folder '{name}' of feeds.yaml does not exist", err=True)
    if missing:
        raise SystemExit(1)


@cli.command()
@click.option(
    "--apply", "apply_now", is_flag=True, help="Apply the rules to every stored item now."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def rules(paths: Paths, apply_now: bool, as_json: bool) -> None:
    """List your rules (`rules:` in feeds.yaml) and how many stored items each one
    matches; --apply also applies them (highlight, star, mark_read, notify) to every
    stored item. A rule that matches nearly everything is warned about."""
    from aggregator import rules as ruling

    config = load_or_exit(paths.config)
    storage = Storage(paths.db)
    try:
        if apply_now:
            report = ruling.apply_all(storage, config.rules, now=utcnow())
        else:
            report = ruling.count(storage, config.rules)
        hits = storage.rule_counts()
    finally:
        storage.close()
    broad = ruling.too_broad(config.rules, report)
    rows = [
        {
            "rule": r.key,
            "words": list(r.words),
            "actions": list(r.actions),
            "tab": r.tab,
            "feed": r.feed,
            "email": r.email,
            "line": r.line,
            "matches": report.matched.get(r.key, 0),
            "recorded": hits.get(r.key, 0),
            "too_broad": r in broad,
        }
        for r in config.rules
    ]
    for r in broad:
        share = report.matched.get(r.key, 0) * 100 // max(1, report.checked)
        click.echo(
            f"warning: {paths.config}:{r.line}: the rule « {r.key} » matches {share}% of the "
            "items: it marks nearly everything; use more specific words or a tab/feed scope",
            err=True,
        )
    if as_json:
        out: dict[str, Any] = {"checked": report.checked, "rules": rows}
        if apply_now:
            out["applied"] = {
                "new_matches": report.new_hits,
                "starred": report.starred,
                "marked_read": report.marked_read,
            }
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo(f"no rules: add a `rules:` list to {paths.config} (see the README)")
        return
    for r in config.rules:
        scope = f" in tab {r.tab}" if r.tab else f" in {r.feed}" if r.feed else ""
        click.echo(
            f"{report.matched.get(r.key, 0):>6}  « {r.key} »{scope} -> {', '.join(r.actions)}"
            f"{' (+ email)' if r.email else ''}"
        )
    click.echo(f"{report.checked} item(s) checked")
    if apply_now:
        click.echo(
            f"applied: {report.new_hits} new match(es), {report.starred} starred, "
            f"{report.marked_read} marked read"
        )
