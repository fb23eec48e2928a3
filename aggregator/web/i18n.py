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


MONTHS = {
    "fr": [
        "janvier", "février", "mars", "avril", "mai", "juin",
        "juillet", "août", "septembre", "octobre", "novembre", "décembre",
    ],
    "en": [
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ],
}  # fmt: skip


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


# Problems of feeds.yaml / contacts.yaml (config/, in English for the CLI and the log),
# said in French on the dashboard: the common shapes by pattern, their advice by phrase.
# Anything else stays English (and is marked lang="en" by the template).
CONFIG_RULES_FR: list[tuple[str, str]] = [
    (r"invalid YAML: mapping values are not allowed here; put the title in quotes: (.+)",
     "YAML invalide : « : » suivi d'une espace n'est pas permis ici ; mettez le titre entre guillemets : \\1"),
    (r"invalid YAML: mapping values are not allowed here; put the value of '(.+)' in quotes: (.+)",
     "YAML invalide : « : » suivi d'une espace n'est pas permis ici ; mettez la valeur de '\\1' entre guillemets : \\2"),
    (r"'(.+)' is not a (.+) key \(did you mean '(.+)'\?\)", "'\\1' n'est pas une clé de « \\2 » (vouliez-vous dire '\\3' ?)"),
    (r"'(.+)' is not a (.+) key \(expected one of: (.+)\)", "'\\1' n'est pas une clé de « \\2 » (clés possibles : \\3)"),
    (r"'(.+)' is not a (.+) key; (.+)", "'\\1' n'est pas une clé de « \\2 » ; \\3"),
    (r"duplicate key '(.+)' \(first at line (\d+)\); keep only one of them", "clé '\\1' en double (la première est à la ligne \\2) ; n'en gardez qu'une"),
    (r"the (feed|mail source) '(.+)' is listed twice \(first at line (\d+)\); keep only one", "'\\2' figure deux fois (d'abord à la ligne \\3) ; n'en gardez qu'un"),
    (r"this feed has no 'url:'", "ce flux n'a pas de 'url:'"),
    (r"this tab has no 'name:'", "cet onglet n'a pas de 'name:'"),
    (r"this contact has no '(\w+):'", "ce contact n'a pas de '\\1:'"),
    (r"'(.+)' is not an email address \(expected something like (.+)\)", "'\\1' n'est pas une adresse de courriel (par exemple \\2)"),
    (r"'(.+)' is not an email address \(expected (.+) or (.+)\)", "'\\1' n'est pas une adresse de courriel (par exemple \\2 ou \\3)"),
    (r"'(.+)' has an invalid domain '(.+)'", "'\\1' a un domaine invalide, '\\2'"),
    (r"'(.+)' holds several addresses; write only one", "'\\1' contient plusieurs adresses ; n'en écrivez qu'une"),
    (r"the address '(.+)' is listed twice \(first at line (\d+)\); keep one contact per address", "l'adresse '\\1' figure deux fois (d'abord à la ligne \\2) ; un seul contact par adresse"),
    (r"the name is empty", "le nom est vide"),
    (r"(\w+): must be a whole number from (\d+) to (\d+), got '(.*)'", "\\1 : doit être un nombre entier de \\2 à \\3, et non '\\4'"),
    (r"(\w+): expected true or false, got '(.*)'", "\\1 : true ou false attendu, et non '\\2'"),
    (r"(\w+): '(.+)' is not a time zone \(did you mean '(.+)'\?\)", "\\1 : '\\2' n'est pas un fuseau horaire (vouliez-vous dire '\\3' ?)"),
    (r"(\w+): '(.+)' is not a time zone \((.+)\)", "\\1 : '\\2' n'est pas un fuseau horaire (par exemple America/Montreal, Europe/Paris)"),
    (r"(\w+): must be one of (.+), got '(.*)'", "\\1 : doit être l'une des valeurs \\2, et non '\\3'"),
    (r"(\w+): '(.+)' is not a duration; (.+)", "\\1 : '\\2' n'est pas une durée ; \\3"),
]  # fmt: skip
CONFIG_HINTS_FR = {
    "did you mean 'every'?": "vouliez-vous dire 'every' ?",
    "it belongs under 'settings:'": "elle se place sous 'settings:'",
    "indent with spaces, not tabs": "indentez avec des espaces, pas des tabulations",
    "if a value contains ': ', put it in quotes": "si une valeur contient « : », mettez-la entre guillemets",
    "a value starting with this character must be put in quotes": "une valeur qui commence par ce caractère doit être entre guillemets",
    "check the indentation of this line: items of one list line up": "vérifiez l'indentation de cette ligne : les éléments d'une même liste sont alignés",
    "check the indentation, or put the value in quotes": "vérifiez l'indentation, ou mettez la valeur entre guillemets",
}  # fmt: skip


def config_message(message: str, lang: str | None = None) -> tuple[str, bool]:
    """A config problem's message in the request's language, and whether it was
    translated (False: the English text, to be marked lang="en")."""
    import re

    if (lang or current_language()) != "fr":
        return message, True
    for english, french in CONFIG_HINTS_FR.items():
        message = message.replace(english, french)
    for pattern, template in CONFIG_RULES_FR:
        match = re.fullmatch(pattern, message, flags=re.S)
        if match:
            return match.expand(template), True
    # "email: <problem>": the key as written, then the problem said in French
    label = re.fullmatch(r"(\w+): (.+)", message, flags=re.S)
    if label:
        rest, translated = config_message(label.group(2), "fr")
        if translated:
            return f"{label.group(1)} : {rest}", True
    return message, False
