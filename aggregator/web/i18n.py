"""Interface language: gettext over the catalogs, language choice, dates said in words.

French is the default language of the dashboard, English the other one. Message ids
are the English texts (as with gettext); the translations are the gettext catalogs
``translations/<lang>/LC_MESSAGES/messages.po`` that translators edit (see
``aggregator.web.catalog`` for the workflow: mark, ``make catalog``, translate). A
missing translation shows the English text, and ``tests/test_i18n.py`` fails when a
marked text has no French.

The language is chosen per request (``?lang=en`` stored in a cookie, else the
cookie, else ``Accept-Language``, else French) and kept in ``flask.g.lang``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any

from flask import g, has_request_context, request

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
LANG_COOKIE = "lang"


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it: a text kept in a table
    and translated where it is shown (``gettext(TABLE[code])``)."""
    return message


# Fetch error codes (fetch.py / parse.py) -> a sentence a person can act on.
ERROR_MESSAGES = {
    "timeout": N_("The site did not answer in time."),
    "too_large": N_("The feed is too big (over the maximum size allowed)."),
    "connect": N_("Could not connect to the site."),
    "dns": N_("The site's name could not be found (DNS error): check the address."),
    "tls": N_("The secure connection (HTTPS) failed: invalid or expired certificate."),
    "blocked_address": N_("This address points to a private network: it is blocked for safety."),
    "too_many_redirects": N_("Too many redirections: the site goes round in circles."),
    "bad_scheme": N_("Unsupported address: only http:// and https:// are accepted."),
    "http_error": N_("The site answered with an HTTP error."),
    "not_found": N_("There is no feed at this address (error 404): check the address."),
    "gone": N_("The feed was removed for good (error 410): remove it from feeds.yaml."),
    "rate_limited": N_("The site asks us to slow down (too many requests): it will be tried later."),
    "unavailable": N_("The site is temporarily unavailable (error 503)."),
    "server_error": N_("The site had an internal error (error 5xx)."),
    "forbidden": N_("The site refuses access to the feed (error 403)."),
    "unauthorized": N_("The feed requires a login (error 401)."),
    "not_a_feed": N_("This page is not an RSS or Atom feed: look for the feed's address on the site."),
    "parse_error": N_("The feed could not be read: its content is malformed."),
    # mail sources: an IMAP folder read as a feed (issue 12), aggregator.newsletters' codes
    "imap_login": N_("The mail server refused the user name or password: check settings.imap.username in feeds.yaml and the AGGREGATOR_IMAP_PASSWORD variable."),
    "imap_no_password": N_("The mailbox password is missing: set the AGGREGATOR_IMAP_PASSWORD variable where the aggregator runs."),
    "imap_not_configured": N_("This mail source has no mailbox: add 'imap:' under 'settings:' in feeds.yaml."),
    "imap_folder": N_("This folder does not exist in the mailbox: check the 'mail:' line in feeds.yaml."),
    "imap_unreachable": N_("Could not connect to the mail server: check settings.imap in feeds.yaml."),
    "imap_dns": N_("The mail server's name could not be found: check settings.imap.host in feeds.yaml."),
    "imap_tls": N_("The secure connection to the mail server failed: invalid or expired certificate, or the wrong security setting."),
    "imap_timeout": N_("The mail server did not answer in time: it will be tried later."),
    "imap_dropped": N_("The mail server cut the connection during the transfer: nothing was lost, it will be tried later."),
    "imap_error": N_("The mail server answered with an error: it will be tried later."),
}  # fmt: skip
UNKNOWN_ERROR = N_("An unexpected error occurred.")


def current_language() -> str:
    """The language of the current request (French outside a request)."""
    if has_request_context():
        return g.get("lang", DEFAULT_LANGUAGE)
    return DEFAULT_LANGUAGE


def choose_language() -> tuple[str, bool]:
    """Pick the request's language; the flag says the ``lang`` cookie must be set."""
    asked = request.args.get("lang", "")
    if asked in LANGUAGES:
        return asked, True
    cookie = request.cookies.get(LANG_COOKIE, "")
    if cookie in LANGUAGES:
        return cookie, False
    best = request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE)
    return best or DEFAULT_LANGUAGE, False


def translate(message: str, lang: str, **params: object) -> str:
    """``message`` in ``lang`` from its gettext catalog (an empty or missing
    translation gives the English id), then ``%(x)s`` filled from ``params``."""
    single, plural = _catalog(lang)
    text = single.get(message) or (plural[message][0] if message in plural else message)
    return text % params if params else text


def _catalog(lang: str) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    from aggregator.web import catalog

    return catalog.load(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)


def gettext(message: str, **params: object) -> str:
    """``_()``: translate ``message`` into the request's language, then fill ``%(x)s``."""
    return translate(message, current_language(), **params)


_ = gettext

# Plurals: the English singular is the id; French says the singular for 0 and 1
# (« 0 article marqué », CLDR rule "one": i = 0,1), English for 1 only.


def plural_index(n: int, lang: str) -> int:
    """0 for the singular form of ``lang``, 1 for the plural."""
    if lang == "fr":
        return 0 if n in (0, 1) else 1
    return 0 if n == 1 else 1


def translate_plural(singular: str, plural: str, n: int, lang: str, **params: object) -> str:
    index = plural_index(n, lang)
    forms = _catalog(lang)[1].get(singular)
    text = forms[index] if forms else (singular, plural)[0 if n == 1 else 1]
    return text % {"n": n, **params}


def ngettext(singular: str, plural: str, n: int, **params: object) -> str:
    """``ngettext()``: the form for ``n`` in the request's language; ``%(n)s`` is ``n``."""
    return translate_plural(singular, plural, n, current_language(), **params)


def error_sentence(code: str | None) -> str:
    """A fetch error code said as a sentence in the request's language."""
    return gettext(ERROR_MESSAGES.get(code or "", UNKNOWN_ERROR))


def _display() -> Any:
    """settings.display of the running app (None outside a request or before a valid
    feeds.yaml): its time zone and locale."""
    if not has_request_context():
        return None
    from flask import current_app

    state = current_app.extensions.get("aggregator")
    config = state.config if state is not None else None
    return config.settings.display if config is not None else None


def local_zone() -> tzinfo:
    """settings.display.time_zone, else the machine's zone (config/display.py); read
    once per request."""
    from aggregator.config.display import zone

    if not has_request_context():
        return zone(None)
    cached = g.get("_local_zone")
    if cached is None:
        cached = g._local_zone = zone(_display())
    return cached


def babel_locale(lang: str | None = None) -> str:
    """How dates are written: settings.display.locale (fr_CA, fr_FR) for French,
    ``en`` for English."""
    lang = lang or current_language()
    if lang != "fr":
        return "en"
    display = _display()
    locale = display.locale if display is not None else "fr_FR"
    return locale if locale.startswith("fr") else "fr_FR"


def _joined(locale: Any) -> str:
    """How ``locale`` joins a date and a time: CLDR's "at" pattern (« {1} 'à' {0} »,
    moved to the relative patterns in CLDR 48, Babel 2.19), else its long date-time
    pattern (« {1}, {0} »)."""
    relative = getattr(locale, "datetime_formats_relative", None) or {}
    return str(relative.get("long") or locale.datetime_formats["long"])


@lru_cache(maxsize=8192)
def _format_date(minute: int, zone: tzinfo, locale: str, with_time: bool) -> str:
    """The locale's own CLDR formats: its "long" date, and with ``with_time`` its
    "short" time joined by its pattern (fr_CA « 12 mars 2024 à 14 h 05 », fr_FR
    « 12 mars 2024 à 14:05 », en « March 12, 2024 at 2:05 PM »)."""
    from babel import Locale
    from babel.dates import format_date, format_time

    when = datetime.fromtimestamp(minute * 60, tz=zone)
    parsed = Locale.parse(locale)
    day = format_date(when, "long", locale=parsed)
    if not with_time:
        return _spaces(day)
    time = format_time(when, "short", tzinfo=zone, locale=parsed)
    text = _joined(parsed).replace("'", "").replace("{1}", day).replace("{0}", time)
    return _spaces(text)


def absolute_date(when: datetime, lang: str | None = None, *, with_time: bool = True) -> str:
    """``12 mars 2024 à 14:05`` / ``March 12, 2024 at 2:05 PM``: Babel's CLDR formats
    in local time (local_zone) and the configured locale; cached per minute (a widgets
    page has 500 dates)."""
    minute = int(when.timestamp() // 60)
    return _format_date(minute, local_zone(), babel_locale(lang), with_time)


def _spaces(text: str) -> str:
    """CLDR's no-break spaces as plain ones, like every other sentence of the catalog
    (the templates never break inside a date: white-space rules are CSS's)."""
    return text.replace("\xa0", " ").replace("\u202f", " ")


def relative_date(when: datetime, now: datetime, lang: str | None = None) -> str:
    """How long ago (or how soon) ``when`` is, in words: ``il y a 5 min``, ``hier``.

    Minutes, hours and days are Babel's format_timedelta in the request's locale;
    « à l'instant », « hier » and « demain » are ours. Older than 30 days, the date
    itself says more than a count of days.
    """
    from babel.dates import format_timedelta

    lang = lang or current_language()
    delta = when - now
    future = delta > timedelta(0)
    minutes = int(abs(delta).total_seconds() // 60)
    locale = babel_locale(lang)
    sign = 1 if future else -1
    if minutes < 1:
        return translate("just now", lang)
    if minutes < 60:
        step = timedelta(minutes=sign * minutes)
        return _spaces(
            format_timedelta(step, threshold=1, add_direction=True, format="short", locale=locale)
        )
    hours = minutes // 60
    if hours < 24:
        step = timedelta(hours=sign * hours)
        return _spaces(
            format_timedelta(step, threshold=1, add_direction=True, format="short", locale=locale)
        )
    if hours < 48:
        return translate("tomorrow", lang) if future else translate("yesterday", lang)
    days = hours // 24
    if days <= 30:
        step = timedelta(days=sign * days)
        return _spaces(format_timedelta(step, threshold=1, add_direction=True, locale=locale))
    return absolute_date(when, lang, with_time=False)


def config_message(problem: Any, lang: str | None = None) -> tuple[str, bool]:
    """A config problem's message in the request's language, and whether it was
    translated (False: the English text, to be marked lang="en").

    ``problem`` is a ConfigProblem (or its message): the config layer records each
    message as a gettext template with named parameters (``problem.text``, see
    aggregator/config/_text.py), rendered here from the catalog, every part of it (a
    hint, "got a list") in the same language. A message with a part the catalog
    cannot say stays English as a whole."""
    from aggregator.config._text import Text

    english = problem if isinstance(problem, str) else problem.message
    said = getattr(problem, "text", None)
    if not isinstance(said, Text):
        said = Text(english.replace("%", "%%"))
    lang = lang or current_language()
    if lang not in LANGUAGES or lang == "en":
        return english, True
    single = _catalog(lang)[0]
    rendered = said.render(single.get)
    return (english, False) if rendered is None else (rendered, True)
