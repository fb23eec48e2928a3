"""« Ça pourrait t'intéresser » in the dashboard: the forward panel and the outbox actions.

Owns: the panel (``GET /entry/<id>/forward``: a full page without JavaScript, the
dialog's content with ``?fragment=1``), its form (``POST`` the same URL: preview or
send), cancelling inside the undo window (``POST /forwards/cancel``), retrying a failed
forward (``POST /forwards/<id>/retry``), the "mail is not configured" banner and the
small template helpers that say who an item was sent to.

The form only ever names recipients by the address of an existing contact: the
forwarder refuses any other (``UnknownContact``), so nothing typed here becomes a mail
header. Everything is POST + CSRF; fetch() calls (``Accept: application/json``) get
JSON, forms get a redirect with a flash message or the form again with its errors.
Pages about what was sent (``/sent``, contacts) live in ``people``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from types import SimpleNamespace
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from aggregator.errors import AggregatorError, NotFound
from aggregator.export import forward_json
from aggregator.forward import (
    DEFAULT_NOTE,
    FORMAL_NOTE,
    NOTE_MAX,
    UNDO_SECONDS,
    AlreadySent,
    ForwardError,
    PassageNotFound,
    RateLimited,
    UnknownContact,
    default_note_for,
)
from aggregator.forward.matching import fold
from aggregator.mail import Letter
from aggregator.mail.compose import SUBJECT_MAX, subject_for
from aggregator.models import Contact, EntryView, Forward, Need
from aggregator.web import i18n, safe_next, state, wants_json
from aggregator.web.i18n import N_
from aggregator.web.i18n import gettext as _
from aggregator.web.params import id_arg, text_arg

log = logging.getLogger(__name__)

bp = Blueprint("forwarding", __name__)

MAX_RECIPIENTS = 20  # one click; the rate limit counts each recipient anyway
STATE_WORDS = {
    "queued": N_("waiting to be sent"),
    "sending": N_("sending"),
    "sent": N_("sent"),
    "failed": N_("failed"),
    "cancelled": N_("cancelled"),
    "uncertain": N_("maybe sent"),
}
PENDING = ("queued", "sending")


# --- words -------------------------------------------------------------------------


def short_names(names: Iterable[str]) -> list[str]:
    """First names ("Camille Exemple" -> "Camille") for labels on items, unless two
    people of the list share one: then their full names, so the label stays true."""
    names = list(dict.fromkeys(n for n in names if n))
    firsts = [n.split()[0] if n.split() else n for n in names]
    return [f if firsts.count(f) == 1 else n for f, n in zip(firsts, names, strict=True)]


@bp.app_template_global()
def sent_label(names: Sequence[str] | None) -> str:
    """« envoyé à Camille, Sam » (empty for no one)."""
    if not names:
        return ""
    return _("sent to %(names)s", names=", ".join(short_names(names)))


@bp.app_template_global()
def state_word(value: str) -> str:
    return _(STATE_WORDS.get(value, value))


def short_day(when: datetime) -> str:
    """« 3 novembre », with the year only when it is not the current one."""
    day = i18n.absolute_date(when, with_time=False)
    now = g.get("now") or when
    return day.rsplit(" ", 1)[0] if when.year == now.year else day


def previous_sentence(entry: EntryView, forwards: Sequence[Forward]) -> str:
    """« déjà envoyé à Camille le 3 novembre » for the panel's memory."""
    if not forwards:
        return ""
    name = short_names([forwards[0].contact_name])[0]
    done = [f for f in forwards if f.state == "sent"]
    latest = max(done or forwards, key=lambda f: f.sent_at or f.created_at)
    if done:
        text = _(
            "already sent to %(name)s on %(day)s",
            name=name,
            day=short_day(latest.sent_at or latest.created_at),
        )
    else:
        text = _("already waiting to be sent to %(name)s", name=name)
    if latest.entry_id != entry.id and latest.feed_title:
        # The same link reached us through another feed: say which, or it looks wrong.
        text += " " + _("(from %(feed)s)", feed=latest.feed_title)
    return text


def rate_limit_message(err: RateLimited) -> str:
    wait = err.retry_at - g.now
    when = (
        _("in less than a minute")
        if wait < timedelta(minutes=1)
        else i18n.relative_date(err.retry_at, g.now)
    )
    return _(
        "Too many emails in a short time: the sending limit is reached. Try again %(when)s.",
        when=when,
    )


@bp.app_template_global()
def sent_to_by_entry(entries: Iterable[EntryView]) -> dict[int, list[str]]:
    """entry id -> names it was sent (or is queued) to, for a whole page in one query."""
    ids = [e.id for e in entries]
    return state().forwarder.sent_to_by_entry(ids) if ids else {}


@bp.app_template_global()
def forward_history(entry_id: int) -> SimpleNamespace:
    """Every forward of one item (the entry page's list) and who it went to (its label)."""
    forwards = state().forwarder.history(entry_id)
    names = [f.contact_name for f in forwards if f.state in (*PENDING, "sent")]
    return SimpleNamespace(forwards=forwards, names=names)


@bp.app_context_processor
def _forward_context() -> dict[str, Any]:
    from aggregator.web.auth import is_logged_in

    if request.endpoint == "static" or not is_logged_in():
        return {"mail_banner": False}
    forwarder = state().forwarder
    banner = False
    if not forwarder.mail_configured:
        # Unobtrusive: only where it matters (the sent page), or while mail waits.
        banner = request.endpoint == "people.sent" or any(
            f.state in PENDING for f in forwarder.outbox()
        )
    return {
        "mail_banner": banner,
        "outbox_dir": str(state().outbox_dir),
    }


# --- the panel ---------------------------------------------------------------------


def _entry_or_404(entry_id: int) -> EntryView:
    try:
        return state().storage.entry(entry_id)
    except NotFound:
        abort(404, _("Unknown article."))


def _contacts() -> list[Contact]:
    return sorted(state().forwarder.contacts, key=lambda c: c.name.casefold())


def _folded(text: str) -> str:
    return " ".join(fold(text).split())


def matches(text: str, contacts: Sequence[Contact]) -> list[Contact]:
    """The contacts that what someone typed in the "other contact" box may mean.

    An exact address, name or the ``Name <address>`` the list offers is that one
    contact; otherwise any part of a name or an address, without case or accents
    (« hugo » and « belanger » both find « Hugo Bélanger »). Only contacts come out.
    """
    text = " ".join(text.split())
    if not text:
        return []
    _name, addr = parseaddr(text)
    for wanted in (text, addr):
        key = _folded(wanted)
        exact = [c for c in contacts if key and key in (_folded(c.email), _folded(c.name))]
        if len(exact) == 1:
            return exact
    key = _folded(text)
    return [c for c in contacts if key in _folded(c.name) or key in _folded(c.email)]


def resolve(text: str, contacts: Sequence[Contact]) -> str | None:
    """The address of the one contact ``text`` means, else None (see ``matches``)."""
    found = matches(text, contacts)
    return found[0].email if len(found) == 1 else None


def _recipients(contacts: Sequence[Contact]) -> tuple[list[str], list[str]]:
    """Addresses chosen in the form (``to``, plus the typed ``to_search``) and errors."""
    errors: list[str] = []
    # Recipients are only ever compared with contacts' stored addresses (anything
    # else is "choose among your contacts"), so they need no other check.
    chosen = [" ".join(e.split()) for e in request.values.getlist("to") if e.strip()]
    typed = text_arg("to_search", form=None)
    if typed.strip():
        found = matches(typed, contacts)
        if len(found) == 1:
            chosen.append(found[0].email)
        elif found:
            errors.append(
                _(
                    "“%(text)s” matches several contacts: %(names)s. Choose one.",
                    text=typed.strip()[:100],
                    names=", ".join(c.name for c in found[:10]),
                )
            )
        else:
            errors.append(
                _(
                    "“%(text)s” is not one of your contacts: add it below with a name and an address.",
                    text=typed.strip()[:100],
                )
            )
    seen: dict[str, str] = {}
    for email in chosen:
        seen.setdefault(email.casefold(), email)
    if len(seen) > MAX_RECIPIENTS:
        errors.append(_("Too many recipients at once (%(n)s at most).", n=MAX_RECIPIENTS))
    return list(seen.values())[:MAX_RECIPIENTS], errors


def _note() -> tuple[str | None, list[str]]:
    if "note" not in request.values:
        return None, []
    note = text_arg("note", form=None, multiline=True).replace("\r\n", "\n")
    if len(note) > NOTE_MAX:
        return note[:NOTE_MAX], [
            _("The note is too long: %(max)s characters at most.", max=NOTE_MAX)
        ]
    return note, []


def default_subjects(entry: EntryView) -> dict[str, str]:
    """The subject the panel shows before any edit, per tone (fr, fr-formal, en)."""
    out = {}
    for key, language, formal in (("fr", "fr", False), ("formal", "fr", True), ("en", "en", False)):
        letter = Letter(
            to_name="",
            to_email="",
            note="",
            title=entry.title,
            link=None,
            feed_title="",
            published=None,
            excerpt="",
            language=language,
            formal=formal,
        )
        out[key] = subject_for(letter)
    return out


def _subject(entry: EntryView) -> str | None:
    """The edited subject, or None when it is empty or one of the defaults (the tone
    of the chosen contacts then decides). Control characters are not refused here:
    ``header_text`` makes them spaces when the subject is stored."""
    raw = request.values.get("subject", "")
    text = " ".join(raw.split())
    if not text or text in default_subjects(entry).values():
        return None
    return raw


def _excerpt() -> str | None:
    """The passage selected in the article (markup in it is text)."""
    raw = request.values.get("excerpt", "")
    return raw if raw.strip() else None


def need_sentence(contact: Contact, need: Need) -> str:
    """« Camille cherche : appartement 4½ Plateau, depuis le 3 nov. »"""
    first = contact.name.split()[0] if contact.name.split() else contact.name
    return _(
        "%(name)s is looking for: %(what)s, since %(day)s",
        name=first,
        what=need.what,
        day=short_date(need.since),
    )


SHORT_MONTHS = {
    "fr": ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.",
           "nov.", "déc."),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}  # fmt: skip


@bp.app_template_global()
def short_date(day: date) -> str:
    """« 3 nov. » (« 3 nov. 2025 » when not this year)."""
    lang = i18n.current_language()
    months = SHORT_MONTHS.get(lang, SHORT_MONTHS["fr"])
    text = f"{day.day} {months[day.month - 1]}"
    now = g.get("now")
    return text if now is not None and now.year == day.year else f"{text} {day.year}"


def preview_json(message: EmailMessage) -> dict[str, Any]:
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    return {
        "subject": str(message.get("Subject", "")),
        "from": str(message.get("From", "")),
        "to": str(message.get("To", "")),
        "reply_to": str(message.get("Reply-To", "")),
        "text": text,
    }


def render_panel(
    entry: EntryView,
    *,
    chosen: Sequence[str] = (),
    note: str | None = None,
    errors: Sequence[str] = (),
    preview: dict[str, Any] | None = None,
    confirm: bool = False,
    status: int = 200,
    subject: str | None = None,
    excerpt: str | None = None,
) -> Any:
    forwarder = state().forwarder
    contacts = _contacts()
    by_email = {c.email.casefold(): c for c in contacts}
    suggestions = forwarder.suggestions(entry.id, now=g.now)
    suggested = {s.contact.email.casefold() for s in suggestions}
    # Everything below is keyed by the contact's own address, as the form sends it.
    chosen_contacts = [by_email[e.casefold()] for e in chosen if e.casefold() in by_email]
    extra = [c for c in chosen_contacts if c.email.casefold() not in suggested]
    previous: dict[str, str] = {}
    for email, sends in forwarder.previous_sends(entry.id).items():
        person = by_email.get(email.casefold())
        if person is not None and sends:
            previous[person.email] = previous_sentence(entry, sends)
    chosen_set = {c.email for c in chosen_contacts}
    # Whoever already got it is listed too (unticked), so the memory is always in sight.
    extra += [
        c
        for c in contacts
        if c.email in previous and c.email.casefold() not in suggested and c not in extra
    ]
    auto_note = default_note_for(chosen_contacts)
    defaults = {*DEFAULT_NOTE.values(), FORMAL_NOTE}
    edited = note is not None and note != auto_note and note not in defaults
    mail = forwarder.mail_settings
    copy_default = bool(mail and mail.copy_to_me)
    fragment = request.values.get("fragment") == "1"
    subjects = default_subjects(entry)
    first = chosen_contacts[0] if chosen_contacts else None
    tone = (
        "en" if first and first.language == "en" else "formal" if first and first.formal else "fr"
    )
    context = {
        "subjects": subjects,
        "subject": subject if subject is not None else subjects[tone],
        "subject_edited": subject is not None,
        "subject_max": SUBJECT_MAX,
        "excerpt": excerpt or "",
        "formal_note": FORMAL_NOTE,
        "need_sentence": need_sentence,
        "letters": [c for c in contacts if c.digest],
        "entry": entry,
        "title": _("This might interest someone"),
        "current_tab": entry.tab,
        "suggestions": suggestions,
        "contacts": contacts,
        "extra": extra,
        "chosen": chosen_set,
        "previous": previous,
        "resend_needed": any(e in previous for e in chosen_set),
        "confirm": confirm,
        "note": auto_note if note is None else note,
        "note_edited": edited,
        "note_max": NOTE_MAX,
        "default_notes": DEFAULT_NOTE,
        "errors": list(errors),
        "preview": preview,
        "copy_default": copy_default,
        "mail_configured": forwarder.mail_configured,
        "next": safe_next(request.values.get("next"), url_for("views.entry", entry_id=entry.id)),
        "fragment": fragment,
        "contacts_error": state().contact_source.error,
    }
    template = "_forward_form.html" if fragment else "forward.html"
    return render_template(template, **context), status


@bp.get("/entry/<int:entry_id>/forward")
def panel(entry_id: int) -> Any:
    """The panel; ``to`` (repeatable) preselects contacts, ``note`` refills the note."""
    entry = _entry_or_404(entry_id)
    contacts = _contacts()
    known = {c.email.casefold() for c in contacts}
    chosen = [e for e in request.args.getlist("to") if e.casefold() in known]
    note, _errors = _note()
    return render_panel(entry, chosen=chosen, note=note, excerpt=_excerpt())


def _fail(entry: EntryView, status: int, errors: list[str], **extra: Any) -> Any:
    if wants_json():
        data = {"error": " ".join(errors), "errors": errors, "status": status, **extra}
        return jsonify(data), status
    # Without JavaScript: the form again, as it was sent, with the errors on top.
    chosen, _e = _recipients(_contacts())
    note, _e = _note()
    return render_panel(
        entry,
        chosen=chosen,
        note=note,
        errors=errors,
        confirm=request.form.get("confirm_resend") == "1",
        status=status,
        subject=_subject(entry),
        excerpt=_excerpt(),
    )


@bp.post("/entry/<int:entry_id>/forward")
def send(entry_id: int) -> Any:
    """``to`` (contact addresses, repeatable), ``to_search`` (a typed contact),
    ``note``, ``confirm_resend=1``, ``copy_to_me``; ``action=preview`` only previews."""
    entry = _entry_or_404(entry_id)
    forwarder = state().forwarder
    emails, errors = _recipients(_contacts())
    note, note_errors = _note()
    errors += note_errors
    previewing = request.form.get("action") == "preview"
    to_basket = request.form.get("action") == "basket"
    subject, excerpt = _subject(entry), _excerpt()
    if not emails and not errors and not previewing:
        errors.append(_("Choose at least one contact."))
    if errors:
        return _fail(entry, 400, errors)
    try:
        if previewing:
            shown = preview_json(
                forwarder.preview(entry.id, emails, note, subject=subject, excerpt=excerpt)
            )
            if wants_json():
                return jsonify(shown)
            return render_panel(
                entry, chosen=emails, note=note, preview=shown, subject=subject, excerpt=excerpt
            )
        if to_basket:
            return _add_to_baskets(entry, emails, note, excerpt)
        copy: bool | None = None
        if request.form.get("copy_shown") == "1":
            copy = request.form.get("copy_to_me") == "1"
        queued = forwarder.queue(
            entry.id,
            emails,
            note,
            now=g.now,
            confirm_resend=request.form.get("confirm_resend") == "1",
            copy_to_me=copy,
            subject=subject,
            excerpt=excerpt,
        )
    except PassageNotFound as e:
        log.info("forward refused: %s", e)
        return _fail(entry, 400, [passage_message(e)])
    except UnknownContact as e:
        log.info("forward refused: %s", e)
        return _fail(entry, 400, [_("Choose recipients among your contacts.")])
    except AlreadySent as e:
        sentences = [previous_sentence(entry, sends) for sends in e.previous.values() if sends]
        message = _("Tick “Send again anyway” to send it once more.")
        return _fail(
            entry,
            409,
            [*sentences, message],
            previous={k.casefold(): previous_sentence(entry, v) for k, v in e.previous.items()},
        )
    except RateLimited as e:
        return _fail(entry, 429, [rate_limit_message(e)], retry_at=e.retry_at.isoformat())
    except ForwardError as e:
        log.info("forward refused: %s", e)
        return _fail(entry, 400, [_("This email could not be queued:"), str(e)])
    names = [f.contact_name for f in queued]
    batch = queued[0].batch if queued else ""
    message = _(
        "Sending to %(names)s in %(n)s s.", names=", ".join(short_names(names)), n=UNDO_SECONDS
    )
    if wants_json():
        sent_to = forwarder.sent_to_by_entry([entry.id]).get(entry.id, [])
        return jsonify(
            {
                "batch": batch,
                "entry_id": entry.id,
                "names": ", ".join(short_names(names)),
                "undo_seconds": UNDO_SECONDS,
                "send_after": queued[0].send_after.isoformat() if queued else None,
                "forwards": [forward_json(f) for f in queued],
                "sent_to": sent_to,
                "label": sent_label(sent_to),
                "message": message,
            }
        ), 201
    flash(message, f"cancel:{batch}:{entry.id}")
    return redirect(safe_next(request.form.get("next"), url_for("views.entry", entry_id=entry.id)))


def passage_message(err: PassageNotFound) -> str:
    if "too long" in str(err):
        return _("The selected passage is too long: select a shorter one.")
    return _(
        "This passage is not in the article's text: select it again in the article, or remove the excerpt."
    )


def _add_to_baskets(
    entry: EntryView, emails: Sequence[str], note: str | None, excerpt: str | None
) -> Any:
    """« Ajouter à la lettre de Camille »: into each chosen contact's basket."""
    forwarder = state().forwarder
    names = []
    try:
        for email in emails:
            forwarder.add_to_basket(entry.id, email, note, now=g.now, excerpt=excerpt)
            names.append(forwarder.contact(email).name)
    except PassageNotFound as e:
        return _fail(entry, 400, [passage_message(e)])
    except UnknownContact:
        return _fail(entry, 400, [_("Choose recipients among your contacts.")])
    except ForwardError as e:
        return _fail(entry, 400, [_("This email could not be queued:"), str(e)])
    message = _(
        "Added to the « Pour toi » letter of %(names)s.", names=", ".join(short_names(names))
    )
    if wants_json():
        return jsonify({"basket": True, "entry_id": entry.id, "message": message}), 201
    flash(message, "info")
    return redirect(safe_next(request.form.get("next"), url_for("views.entry", entry_id=entry.id)))


# --- the outbox --------------------------------------------------------------------


@bp.post("/forwards/cancel")
def cancel() -> Any:
    """``batch`` (from the send answer); ``entry`` (its id) to get the item's new label."""
    forwarder = state().forwarder
    batch = text_arg("batch", form=True)
    if not batch or len(batch) > 100:
        abort(400, _("The request could not be understood."))
    count = forwarder.cancel(batch, now=g.now)
    if count:
        message = _("Cancelled: nothing was sent.")
    else:
        message = _("Too late to cancel: the email has already left (see “Sent”).")
    entry_id = id_arg("entry", form=True)
    if wants_json():
        data: dict[str, Any] = {"cancelled": count, "message": message}
        if entry_id is not None:
            names = forwarder.sent_to_by_entry([entry_id]).get(entry_id, [])
            data.update(entry_id=entry_id, sent_to=names, label=sent_label(names))
        return jsonify(data), 200 if count else 409
    flash(message, "info" if count else "error")
    return redirect(safe_next(request.form.get("next"), url_for("people.sent")))


@bp.post("/forwards/<int:forward_id>/retry")
def retry(forward_id: int) -> Any:
    """A failed forward (or one waiting for its next attempt) goes back to the queue,
    due now: the scheduler's next tick sends it."""
    try:
        forward = state().forwarder.retry(forward_id, now=g.now)
    except NotFound:
        abort(404, _("Unknown email."))
    except (AggregatorError, ValueError) as e:
        log.info("retry refused for %s: %s", forward_id, e)
        abort(400, _("Only a failed email can be retried."))
    if forward.state != "queued":
        abort(400, _("Only a failed email can be retried."))
    message = _("Trying again: the email is back in the queue.")
    if wants_json():
        return jsonify({"forward": forward_json(forward), "message": message})
    flash(message, "info")
    return redirect(safe_next(request.form.get("next"), url_for("people.sent")))
