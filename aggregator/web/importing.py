"""« Importer (OPML) » on the status page: upload, see what would change, confirm.

The upload is read with ``opml.read_opml`` (a DTD or entity declaration, which XML
bombs need, is refused outright) and planned with ``opml.plan_import`` against the
current feeds.yaml: the same dry-run report as ``aggregator import-opml --dry-run``
(added, already followed, skipped with line numbers). The plan waits server-side in a
small bounded ``Stash`` until the person confirms; then one ``add_feeds`` write adds
everything (all or nothing). Uploads are capped at ``MAX_UPLOAD`` bytes.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from aggregator.errors import AggregatorError, ConfigError
from aggregator.opml import MAX_DEPTH, MAX_FEEDS
from aggregator.web import state
from aggregator.web.i18n import N_, ngettext
from aggregator.web.i18n import gettext as _
from aggregator.web.params import text_arg
from aggregator.web.subscriptions import stashes, write_config

log = logging.getLogger(__name__)

bp = Blueprint("importing", __name__)

# The app refuses request bodies over 1 MiB (MAX_CONTENT_LENGTH): a Netvibes export
# of a thousand feeds is about 200 KB.
MAX_UPLOAD = 1024 * 1024


def opml_problem(error: AggregatorError) -> str:
    """What was wrong with the file, in the reader's language (the English detail,
    with its line and column, is shown beside it)."""
    text = str(error)
    if "DTD" in text or "ENTITY" in text:
        return _(
            "This file declares entities (<!DOCTYPE, <!ENTITY): an OPML file needs none, and they are how “XML bombs” work, so it was refused."  # noqa: E501
        )
    if "nested more than" in text:
        return _(
            "This file nests its elements too deep (more than %(n)s levels): an OPML file uses two or three, so it was refused.",  # noqa: E501
            n=MAX_DEPTH,
        )
    if "feeds; split the file" in text:
        return _("This file holds more than %(n)s feeds: split it into several files.", n=MAX_FEEDS)
    if "not valid XML" in text:
        return _("This file is not valid XML: it cannot be an OPML file.")
    if "not an OPML file" in text:
        return _("This file is not an OPML file.")
    if "empty" in text:
        return _("This file is empty.")
    if "too large" in text:
        return _("This file is too big for an OPML file.")
    return _("This file could not be read as OPML.")


def _error(message: str, detail: str | None = None) -> Any:
    return (
        render_template(
            "import.html",
            title=_("Import (OPML)"),
            current_tab=None,
            plan=None,
            error=message,
            detail=detail,
        ),
        422,
    )


@bp.get("/import-opml")
def form() -> Any:
    return render_template(
        "import.html", title=_("Import (OPML)"), current_tab=None, plan=None, error=None
    )


@bp.post("/import-opml")
def upload() -> Any:
    """Read the file, plan the import, keep the plan, show it (PRG)."""
    from aggregator.opml import prepare_import

    try:
        upload = request.files.get("opml")
    except RequestEntityTooLarge:
        return _error(_("This file is too big for an OPML file (1 MB at most)."))
    if upload is None or not upload.filename:
        return _error(_("Choose an OPML file first."))
    data = upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return _error(_("This file is too big for an OPML file (1 MB at most)."))
    source = "".join(ch for ch in upload.filename if ch.isprintable())[:100] or "upload.opml"
    try:
        plan = prepare_import(data, source=source, config=state().config)
    except ConfigError as e:
        return _error(opml_problem(e), "\n".join(str(p) for p in e.problems))
    except AggregatorError as e:
        return _error(opml_problem(e), str(e))
    token = stashes().imports.put((source, plan))
    return redirect(url_for("importing.review", t=token))


@bp.get("/import-opml/review")
def review() -> Any:
    stored = stashes().imports.get(text_arg("t", max_length=64))
    if stored is None:
        flash(_("This import is too old: upload the file again."), "info")
        return redirect(url_for("importing.form"))
    source, plan = stored
    return render_template(
        "import.html",
        title=_("Import (OPML)"),
        current_tab=None,
        plan=plan,
        source=source,
        token=text_arg("t", max_length=64),
        error=None,
    )


@bp.post("/import-opml/confirm")
def confirm() -> Any:
    from aggregator.opml import apply_import, plan_import

    token = text_arg("t", form=True, max_length=64)
    stored = stashes().imports.get(token)
    if stored is None:
        flash(_("This import is too old: upload the file again."), "info")
        return redirect(url_for("importing.form"))
    source, plan = stored
    # Planned again against the file as it is now: a feed added meanwhile (by hand or
    # in another browser tab) is "already followed", not a refused duplicate.
    plan = plan_import(state().config, [*plan.add, *plan.present], plan.skipped, plan.converted)
    if not plan.add:
        stashes().imports.pop(token)
        flash(_("Nothing to import: you already follow every feed of this file."), "info")
        return redirect(url_for("views.feeds"))
    if write_config(lambda path: apply_import(path, plan)) is None:
        return redirect(url_for("importing.review", t=token))
    stashes().imports.pop(token)
    # New feeds are due at once (sync_feeds): the scheduler's next tick fetches them.
    flash(
        ngettext(
            "%(n)s feed imported into %(tabs)s: it is fetched within a minute.",
            "%(n)s feeds imported into %(tabs)s: they are fetched within a minute.",
            len(plan.add),
            tabs=ngettext("%(n)s tab", "%(n)s tabs", len(plan.tabs)),
        ),
        "info",
    )
    return redirect(url_for("views.feeds"))


SKIPPED_REASONS = {"invalid address": N_("invalid address"), "not a feed": N_("not a feed")}


@bp.app_template_global()
def skipped_reason(reason: str) -> str:
    """An outline's reason for being skipped (``opml.Skipped.reason``), translated."""
    return _(SKIPPED_REASONS.get(reason, reason))
