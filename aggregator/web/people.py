"""Who gets what: the « Envoyés » page, the contacts list and one page per contact,
adding and editing contacts, and the read-only JSON list ``/api/forwards``.

Each contact's page also shows their needs (current first, ended ones greyed; added
and removed here, written to contacts.yaml) and their « Pour toi » basket (reorder,
remove, « Envoyer maintenant »).

Contacts are the person's own words in contacts.yaml: the forms here go through
``Forwarder.add_contact``, which rewrites the file round-trip (comments and order
kept, atomic) and raises ``ConfigError`` with every problem when the result would be
invalid; those problems are shown as they are.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for

from aggregator.errors import ConfigError, NotFound
from aggregator.export import contact_json, forward_json
from aggregator.forward import ForwardError
from aggregator.models import Contact, Rule
from aggregator.web import safe_next, state, wants_json
from aggregator.web.i18n import (
    N_,
    config_message,  # issue 10: form problems in French
    ngettext,
)
from aggregator.web.i18n import gettext as _
from aggregator.web.params import bad_cursor, id_arg, int_arg, parse_int, text_arg

log = logging.getLogger(__name__)

bp = Blueprint("people", __name__)

SENT_PAGE = 100
API_DEFAULT_LIMIT = 50
API_MAX_LIMIT = 200
STATES = ("queued", "sending", "sent", "failed", "cancelled", "uncertain")
MAX_INTERESTS_TEXT = 2000
ALERTS_PAGE = 200
RULE_HITS_MAX = 200  # entry ids per /api/rule-hits request
PERIOD_WORDS = {"weekly": N_("every week"), "daily": N_("every day")}


def _before_id() -> int | None:
    text = request.args.get("before", "")
    if not text:
        return None
    before = parse_int(text)
    if before is None:
        bad_cursor()
    return before


# --- pages -------------------------------------------------------------------------


@bp.get("/sent")
def sent() -> Any:
    """Every forward, newest first: date, contact, note, state, the server's reason."""
    forwards = state().forwarder.sent(limit=SENT_PAGE, before_id=_before_id())
    older = forwards[-1].id if len(forwards) == SENT_PAGE else None
    return render_template(
        "sent.html", title=_("Sent"), current_tab=None, forwards=forwards, older=older
    )


def _contacts_page(status: int = 200, **extra: Any) -> Any:
    st = state()
    contacts = sorted(st.forwarder.contacts, key=lambda c: c.name.casefold())
    context = {
        "title": _("Contacts"),
        "current_tab": None,
        "contacts": contacts,
        "contacts_error": st.contact_source.error,
        "contacts_path": str(st.contact_source.path),
        "problems": [],
        "form": {},
        **extra,
    }
    return render_template("contacts.html", **context), status


@bp.get("/contacts")
def contacts() -> Any:
    return _contacts_page()


@bp.get("/contacts/<path:email>")
def contact(email: str) -> Any:
    """What was sent to one person, and « Pour Camille »: recent items that match
    their interests and were not sent to them yet."""
    forwarder = state().forwarder
    try:
        person, forwards, items = forwarder.for_contact(email, now=g.now)
    except NotFound:
        abort(404, _("Unknown contact."))
    basket = forwarder.basket(person.email)
    next_letter = forwarder.next_letter(person, now=g.now) if basket else None
    return render_template(
        "contact.html",
        title=person.name,
        current_tab=None,
        person=person,
        forwards=forwards,
        items=items,
        first_name=person.name.split()[0] if person.name.split() else person.name,
        needs=[(i, n, n.active(g.now)) for i, n in enumerate(person.needs)],
        basket=basket,
        next_letter=max(next_letter, g.now) if next_letter else None,
        period_words=PERIOD_WORDS,
    )


# --- needs and the « Pour toi » basket, from the contact page ---------------------------


def _person_or_404(email: str) -> Contact:
    try:
        return state().forwarder.contact(email)
    except NotFound:
        abort(404, _("Unknown contact."))


def _back_to(person: Contact, message: str, category: str = "info", status: int = 200) -> Any:
    if wants_json():
        return jsonify({"message": message}), status
    flash(message, category)
    return redirect(url_for("people.contact", email=person.email))


@bp.post("/people/needs")
def add_need() -> Any:
    """« Camille cherche : … » from today (``what``; ``until`` optional, YYYY-MM-DD);
    written to contacts.yaml round-trip."""
    person = _person_or_404(text_arg("email", form=True))
    what = " ".join(text_arg("what", form=True).split())
    until_text = text_arg("until", form=True).strip()
    until = None
    if until_text:
        try:
            until = date.fromisoformat(until_text)
        except ValueError:
            return _back_to(person, _("The end date must look like 2026-12-31."), "error", 400)
    if not what:
        return _back_to(person, _("Say what they are looking for."), "error", 400)
    try:
        state().forwarder.add_need(person.email, what, now=g.now, until=until)
    except ConfigError as e:
        problems = [config_message(p)[0] for p in e.problems] or [str(e)]
        lead = _("This need could not be saved:")
        return _back_to(person, " ".join([lead, *problems]), "error", 400)
    return _back_to(person, _("Need added: %(what)s.", what=what))


@bp.post("/people/needs/delete")
def delete_need() -> Any:
    person = _person_or_404(text_arg("email", form=True))
    index = parse_int(request.form.get("index", ""), lo=0)
    try:
        state().forwarder.remove_need(person.email, index if index is not None else -1)
    except NotFound:
        abort(404, _("Unknown need."))
    except ConfigError as e:
        problems = [config_message(p)[0] for p in e.problems] or [str(e)]
        return _back_to(person, " ".join(problems), "error", 400)
    return _back_to(person, _("Need removed."))


@bp.post("/people/basket/move")
def basket_move() -> Any:
    person = _person_or_404(text_arg("email", form=True))
    item = id_arg("item", form=True)
    offset = -1 if request.form.get("direction") == "up" else 1
    state().storage.basket_move(person.email, item or 0, offset)
    return _back_to(person, _("Letter reordered."))


@bp.post("/people/basket/remove")
def basket_remove() -> Any:
    person = _person_or_404(text_arg("email", form=True))
    item = id_arg("item", form=True)
    if not state().storage.basket_remove(person.email, item or 0):
        abort(404, _("Unknown item."))
    return _back_to(person, _("Removed from the letter."))


@bp.post("/people/letter")
def send_letter() -> Any:
    """« Envoyer maintenant »: the basket leaves as one letter, after the undo window."""
    person = _person_or_404(text_arg("email", form=True))
    try:
        rows = state().forwarder.send_letter(person.email, now=g.now)
    except ForwardError as e:
        return _back_to(person, str(e), "error", 400)
    if not rows:
        return _back_to(person, _("The letter is empty: nothing was sent."), "error", 409)
    return _back_to(
        person,
        ngettext(
            "Letter of %(n)s article queued for %(name)s.",
            "Letter of %(n)s articles queued for %(name)s.",
            len(rows),
            name=person.name,
        ),
    )


def _interests(text: str) -> list[str]:
    words = text[:MAX_INTERESTS_TEXT].replace("\n", ",").split(",")
    return [" ".join(w.split()) for w in words if w.strip()]


@bp.post("/contacts")
def save_contact() -> Any:
    """Add a contact (``name``, ``email``, ``interests`` comma-separated, ``language``)
    or edit one (``original_email``). From the forward panel (``entry``), a new
    contact comes back chosen as a recipient."""
    form = request.form
    name = " ".join(text_arg("name", form=True).split())
    email = text_arg("email", form=True).strip()
    original = text_arg("original_email", form=True) or None
    entry = id_arg("entry", form=True)
    problems: list[str] = []
    if not name:
        problems.append(_("Give the contact a name."))
    if not email:
        problems.append(_("Give the contact an email address."))
    language = text_arg("language", "fr", form=True)
    if language not in ("fr", "en"):
        language = "fr"
    saved: Contact | None = None
    # The edit form always carries « vous » (a checkbox: absent is no); the panel's
    # quick form only when ticked. ``digest``: only the edit form has it.
    formal: bool | None = form.get("formal") == "1"
    if original is None and form.get("formal") != "1":
        formal = None
    digest: str | None | bool = False
    if "digest" in form:
        wanted = form.get("digest", "")
        digest = wanted if wanted in PERIOD_WORDS else None
    if not problems:
        try:
            saved = state().forwarder.add_contact(
                name,
                email,
                _interests(text_arg("interests", form=True, multiline=True)),
                language,
                original_email=original,
                formal=formal,
                digest=digest,
            )
        except ConfigError as e:
            problems = [config_message(p)[0] for p in e.problems] or [str(e)]
        except NotFound:
            abort(404, _("Unknown contact."))
    if saved is None:
        lead = _("This contact could not be saved:")
        if wants_json():
            return jsonify({"error": lead, "problems": problems, "status": 400}), 400
        if entry is not None:
            from aggregator.web.forwarding import _entry_or_404, render_panel

            return render_panel(
                _entry_or_404(entry),
                chosen=form.getlist("to"),
                note=form.get("note"),
                errors=[lead, *problems],
                status=400,
            )
        return _contacts_page(400, problems=problems, form=form, editing=original)
    if wants_json():
        return jsonify({"contact": contact_json(saved)}), 200 if original else 201
    if original:
        flash(_("Contact saved: %(name)s.", name=saved.name), "info")
    else:
        flash(_("Contact added: %(name)s.", name=saved.name), "info")
    if entry is not None:
        # Back to the panel without JavaScript, the new contact chosen, the note kept.
        query = [("to", e) for e in [*form.getlist("to"), saved.email]]
        if "note" in form:
            query.append(("note", form.get("note", "")))
        query.append(("next", safe_next(form.get("next"), "/")))
        target = url_for("forwarding.panel", entry_id=entry) + "?" + urlencode(query)
        return redirect(target)
    return redirect(safe_next(form.get("next"), url_for("people.contacts")))


# --- the owner's alerts (rules: in feeds.yaml) -------------------------------------------


def _rules() -> tuple[Rule, ...]:
    config = state().config_source.config
    return config.rules if config is not None else ()


@bp.app_context_processor
def _alerts_context() -> dict[str, Any]:
    from aggregator.web.auth import is_logged_in

    if request.endpoint == "static" or not is_logged_in():
        return {"alerts_unseen": 0, "has_alert_rules": False, "has_highlight_rules": False}
    rules = _rules()
    notify = any("notify" in r.actions for r in rules)
    unseen = state().storage.unseen_alerts() if notify else 0
    return {
        "alerts_unseen": unseen,
        "has_alert_rules": notify,
        "has_highlight_rules": any("highlight" in r.actions for r in rules),
    }


@bp.get("/alerts")
def alerts() -> Any:
    """« Alertes »: the items your notify rules matched, newest first; the new ones
    are marked, and seen once shown."""
    st = state()
    hits = st.storage.alerts(limit=ALERTS_PAGE)
    rules_of: dict[int, list[str]] = {}
    new: set[int] = set()
    for entry_id, rule, seen in hits:
        rules_of.setdefault(entry_id, []).append(rule)
        if not seen:
            new.add(entry_id)
    entries = []
    for entry_id in rules_of:
        try:
            entries.append(st.storage.entry(entry_id))
        except NotFound:
            continue
    page = render_template(
        "alerts.html",
        title=_("Alerts"),
        current_tab=None,
        entries=entries,
        rules_of=rules_of,
        new=new,
        rules=_rules(),
    )
    if new:
        st.storage.mark_alerts_seen(sorted(new))
    return page


@bp.get("/api/rule-hits")
def api_rule_hits() -> Any:
    """``ids`` (comma-separated entry ids of a page) -> for each one your highlight
    rules match, the words to mark (as written in the rules). For forward.js."""
    ids = [parse_int(x) for x in request.args.get("ids", "").split(",")[:RULE_HITS_MAX]]
    rules = [r for r in _rules() if "highlight" in r.actions]
    out: dict[str, list[str]] = {}
    if rules:
        from aggregator.rules import matched_words

        for entry_id in {i for i in ids if i is not None}:
            try:
                entry = state().storage.entry(entry_id)
            except NotFound:
                continue
            words = [w for r in rules for w in matched_words(r, entry)]
            if words:
                out[str(entry_id)] = list(dict.fromkeys(words))
    return jsonify({"hits": out})


# --- JSON --------------------------------------------------------------------------


@bp.get("/api/forwards")
def api_forwards() -> Any:
    """Read-only. Filters: ``entry`` (id), ``contact`` (address), ``state``;
    newest first, ``limit`` (1-200, default 50) and ``before`` (an id) to page."""
    forwarder = state().forwarder
    wanted = request.args.get("state") or None
    if wanted is not None and wanted not in STATES:
        abort(400, f"state must be one of {', '.join(STATES)}")
    limit = int_arg("limit", API_DEFAULT_LIMIT, hi=API_MAX_LIMIT) or API_DEFAULT_LIMIT
    before = _before_id()
    entry = id_arg("entry")
    email = text_arg("contact")
    paged = False
    if entry is not None:
        rows = forwarder.history(entry)
    elif email:
        try:
            _person, rows, _items = forwarder.for_contact(email)
        except NotFound:
            abort(404, _("Unknown contact."))
    else:
        rows = forwarder.sent(limit=limit, before_id=before)
        paged = True
    if not paged:
        rows = sorted(rows, key=lambda f: f.id, reverse=True)
        if before is not None:
            rows = [f for f in rows if f.id < before]
        more = len(rows) > limit
        rows = rows[:limit]
    else:
        more = len(rows) == limit
    next_before = rows[-1].id if rows and more else None
    if wanted:
        # After paging, so "before" stays right; a page may hold fewer rows.
        rows = [f for f in rows if f.state == wanted]
    return jsonify({"forwards": [forward_json(f) for f in rows], "next_before": next_before})
