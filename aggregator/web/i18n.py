"""Interface language: the message catalog, language choice, dates said in words.

French is the default language of the dashboard, English the other one. Message ids
are the English texts (as with gettext), so the English "catalog" is the identity
and ``FR`` maps every id to its French translation. There is no compile step: a
missing translation shows the English text and ``tests/test_web.py`` fails when a
``_()`` call in a template or a view has no French entry.

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

# Fetch error codes (fetch.py / parse.py) -> a sentence a person can act on.
ERROR_MESSAGES = {
    "timeout": "The site did not answer in time.",
    "too_large": "The feed is too big (over the maximum size allowed).",
    "connect": "Could not connect to the site.",
    "dns": "The site's name could not be found (DNS error): check the address.",
    "tls": "The secure connection (HTTPS) failed: invalid or expired certificate.",
    "blocked_address": "This address points to a private network: it is blocked for safety.",
    "too_many_redirects": "Too many redirections: the site goes round in circles.",
    "bad_scheme": "Unsupported address: only http:// and https:// are accepted.",
    "http_error": "The site answered with an HTTP error.",
    "not_found": "There is no feed at this address (error 404): check the address.",
    "gone": "The feed was removed for good (error 410): remove it from feeds.yaml.",
    "rate_limited": "The site asks us to slow down (too many requests): it will be tried later.",
    "unavailable": "The site is temporarily unavailable (error 503).",
    "server_error": "The site had an internal error (error 5xx).",
    "forbidden": "The site refuses access to the feed (error 403).",
    "unauthorized": "The feed requires a login (error 401).",
    "not_a_feed": "This page is not an RSS or Atom feed: look for the feed's address on the site.",
    "parse_error": "The feed could not be read: its content is malformed.",
}
UNKNOWN_ERROR = "An unexpected error occurred."

FR: dict[str, str] = {
    # layout
    "Skip to content": "Aller au contenu",
    "Feed aggregator": "Agrégateur de flux",
    "Main navigation": "Navigation principale",
    "Tabs": "Onglets",
    "All": "Tous",
    "Feeds": "Flux",
    "Feed status": "État des flux",
    "Search": "Rechercher",
    "Search the articles": "Rechercher dans les articles",
    "Keyboard shortcuts": "Raccourcis clavier",
    "Log out": "Se déconnecter",
    "Language": "Langue",
    "Close": "Fermer",
    "unread": "non lus",
    "%(n)s unread": "%(n)s non lus",
    "The configuration file has errors; the last valid configuration is still in use.": "Le fichier de configuration contient des erreurs ; la dernière configuration valide reste utilisée.",
    "The configuration file has errors.": "Le fichier de configuration contient des erreurs.",
    "Fix the file: the dashboard notices the change by itself.": "Corrigez le fichier : le tableau de bord remarque la modification tout seul.",
    # river
    "River": "Fil",
    "Widgets": "Widgets",
    "View": "Affichage",
    "Unread only": "Non lus seulement",
    "Starred": "Favoris",
    "Everything": "Tout",
    "Filter": "Filtre",
    "Mark all as read": "Tout marquer comme lu",
    "More articles": "Plus d'articles",
    "No articles here yet.": "Aucun article ici pour l'instant.",
    "No unread articles.": "Aucun article non lu.",
    "No starred articles.": "Aucun article en favori.",
    "Open": "Ouvrir",
    "Close article": "Refermer",
    "Read the original": "Lire l'original",
    "Mark as read": "Marquer comme lu",
    "Mark as unread": "Marquer comme non lu",
    "Star": "Ajouter aux favoris",
    "Unstar": "Retirer des favoris",
    "by %(author)s": "par %(author)s",
    "Back to the list": "Retour à la liste",
    "Unread": "Non lu",
    "Read": "Lu",
    "Attachments": "Pièces jointes",
    "All articles of this feed": "Tous les articles de ce flux",
    "No headlines yet.": "Aucun titre pour l'instant.",
    # mark all / undo
    "%(n)s articles marked as read.": "%(n)s articles marqués comme lus.",
    "Nothing to mark as read.": "Rien à marquer comme lu.",
    "Undo": "Annuler",
    "%(n)s articles marked as unread again.": "%(n)s articles de nouveau non lus.",
    "This undo has expired.": "Cette annulation a expiré.",
    # search
    "Search results": "Résultats de la recherche",
    "Search in": "Chercher dans",
    "All tabs": "Tous les onglets",
    "Results for “%(q)s”": "Résultats pour « %(q)s »",
    "No results for “%(q)s”.": "Aucun résultat pour « %(q)s ».",
    "Type words to search; accents and case are ignored.": "Tapez des mots à chercher ; les accents et la casse sont ignorés.",
    "More results": "Plus de résultats",
    # feeds page
    "Refresh": "Actualiser",
    "Refresh all": "Tout actualiser",
    "Export (OPML)": "Exporter (OPML)",
    "Download the tabs and feeds as an OPML file, for another reader": "Télécharger les onglets et les flux dans un fichier OPML, pour un autre lecteur",
    "Title": "Titre",
    "Address": "Adresse",
    "Tab": "Onglet",
    "Last fetch": "Dernière récupération",
    "Last success": "Dernier succès",
    "HTTP status": "Statut HTTP",
    "Problem": "Problème",
    "Consecutive errors": "Erreurs consécutives",
    "Next check": "Prochaine vérification",
    "Articles": "Articles",
    "never": "jamais",
    "as soon as possible": "dès que possible",
    "OK": "OK",
    "Configuration problems": "Problèmes de configuration",
    "No feeds yet: add some to feeds.yaml.": "Aucun flux pour l'instant : ajoutez-en dans feeds.yaml.",
    "The address changed for good: update feeds.yaml →": "L'adresse a changé définitivement : mettez à jour feeds.yaml →",
    "This feed no longer exists: remove it from feeds.yaml.": "Ce flux n'existe plus : retirez-le de feeds.yaml.",
    "Removed from feeds.yaml: kept for its history.": "Retiré de feeds.yaml : conservé pour son historique.",
    "Refresh requested: the scheduler will fetch this feed at its next tick (within a minute).": "Actualisation demandée : le planificateur récupérera ce flux à son prochain passage (dans la minute).",
    "Refresh requested: the scheduler will fetch every feed at its next tick (within a minute).": "Actualisation demandée : le planificateur récupérera tous les flux à son prochain passage (dans la minute).",
    # login
    "Log in": "Se connecter",
    "Password": "Mot de passe",
    "Wrong password.": "Mot de passe incorrect.",
    "Too many failed attempts: wait 15 minutes before trying again.": "Trop de tentatives échouées : patientez 15 minutes avant de réessayer.",
    "This dashboard is protected by a password.": "Ce tableau de bord est protégé par un mot de passe.",
    "Log in required.": "Connexion requise.",
    # errors
    "Page not found": "Page introuvable",
    "This page does not exist, or no longer exists.": "Cette page n'existe pas, ou plus.",
    "Bad request": "Requête invalide",
    "The request could not be understood.": "La requête n'a pas pu être comprise.",
    "The form expired or was sent from elsewhere: reload the page and try again.": "Le formulaire a expiré ou vient d'ailleurs : rechargez la page et réessayez.",
    "This page link is invalid or too old: start again from the first page.": "Ce lien de page est invalide ou trop ancien : recommencez depuis la première page.",
    "Too many requests": "Trop de requêtes",
    "Server error": "Erreur du serveur",
    "Something went wrong on our side; the details are in the server log.": "Un problème est survenu de notre côté ; les détails sont dans le journal du serveur.",
    "Back to the home page": "Retour à l'accueil",
    "Unknown tab.": "Onglet inconnu.",
    "Unknown article.": "Article inconnu.",
    "Unknown feed.": "Flux inconnu.",
    # keyboard help
    "Next article": "Article suivant",
    "Previous article": "Article précédent",
    "Open or close the article": "Ouvrir ou refermer l'article",
    "Toggle read / unread": "Basculer lu / non lu",
    "Star or unstar": "Ajouter ou retirer des favoris",
    "Focus the search box": "Aller au champ de recherche",
    "Go to tab number N (0: all)": "Aller à l'onglet numéro N (0 : tous)",
    "Show this help": "Afficher cette aide",
    "then": "puis",
    # forwarding (« Ça pourrait t'intéresser »)
    "This might interest someone": "Ça pourrait t'intéresser",
    "This might interest someone: %(title)s": "Ça pourrait t'intéresser : %(title)s",
    "Send to a contact (“This might interest someone”)": "Envoyer à un contact (« Ça pourrait t'intéresser »)",
    "Sent": "Envoyés",
    "Contacts": "Contacts",
    "Loading…": "Chargement…",
    "To": "À",
    "Suggested: their interests match this article.": "Suggestions : leurs centres d'intérêt correspondent à cet article.",
    "Another contact": "Autre contact",
    "Type a name or an address": "Tapez un nom ou une adresse",
    "No contacts yet: add one below.": "Aucun contact pour l'instant : ajoutez-en un ci-dessous.",
    "Personal note": "Note personnelle",
    "characters": "caractères",
    "Send again anyway": "Renvoyer quand même",
    "Send me a copy": "M'envoyer une copie",
    "Sending email is not configured yet: the message will wait in the queue and be written to the outbox folder.": "L'envoi de courriels n'est pas encore configuré : le message attendra dans la file et sera écrit dans le dossier outbox.",
    "Preview": "Aperçu",
    "Subject": "Objet",
    "Send": "Envoyer",
    "Back": "Retour",
    "Cancel": "Annuler",
    "Not in the list? New contact": "Pas dans la liste ? Nouveau contact",
    "Name": "Nom",
    "Email address": "Adresse de courriel",
    "Interests (optional, separated by commas)": "Centres d'intérêt (facultatif, séparés par des virgules)",
    "Add this contact": "Ajouter ce contact",
    "sent to %(names)s": "envoyé à %(names)s",
    "waiting to be sent": "en attente d'envoi",
    "sending": "envoi en cours",
    "sent": "envoyé",
    "failed": "échec",
    "cancelled": "annulé",
    "already sent to %(name)s on %(day)s": "déjà envoyé à %(name)s le %(day)s",
    "already waiting to be sent to %(name)s": "déjà en attente d'envoi à %(name)s",
    "(from %(feed)s)": "(depuis %(feed)s)",
    "in less than a minute": "dans moins d'une minute",
    "Too many emails in a short time: the sending limit is reached. Try again %(when)s.": "Trop d'envois en peu de temps : la limite d'envoi est atteinte. Réessayez %(when)s.",
    "“%(text)s” is not one of your contacts: add it below with a name and an address.": "« %(text)s » ne fait pas partie de vos contacts : ajoutez ce contact ci-dessous avec un nom et une adresse.",
    "Too many recipients at once (%(n)s at most).": "Trop de destinataires d'un coup (%(n)s au plus).",
    "The note is too long: %(max)s characters at most.": "La note est trop longue : %(max)s caractères au plus.",
    "Choose at least one contact.": "Choisissez au moins un contact.",
    "This email could not be queued:": "Ce courriel n'a pas pu être mis dans la file :",
    "Choose recipients among your contacts.": "Choisissez les destinataires parmi vos contacts.",
    "Tick “Send again anyway” to send it once more.": "Cochez « Renvoyer quand même » pour l'envoyer une nouvelle fois.",
    "Sending to %(names)s in %(n)s s.": "Envoi à %(names)s dans %(n)s s.",
    "Sent to the outbox: it leaves now.": "Parti dans la file d'envoi : il s'en va maintenant.",
    "Could not reach the server: try again.": "Impossible de joindre le serveur : réessayez.",
    "Cancelled: nothing was sent.": "Annulé : rien n'a été envoyé.",
    "Too late to cancel: the email has already left (see “Sent”).": "Trop tard pour annuler : le courriel est déjà parti (voir « Envoyés »).",
    "Unknown email.": "Courriel inconnu.",
    "Only a failed email can be retried.": "Seul un courriel en échec peut être renvoyé.",
    "Trying again: the email is back in the queue.": "Nouvel essai : le courriel est de retour dans la file.",
    "Forwarded %(n)s times": "Transmis %(n)s fois",
    "Sending email is not configured: forwards stay in the queue and are written as .eml files in the outbox folder.": "L'envoi de courriels n'est pas configuré : les messages restent dans la file et sont écrits en fichiers .eml dans le dossier outbox.",
    "Folder:": "Dossier :",
    "To send them, add settings.mail to feeds.yaml and set AGGREGATOR_SMTP_PASSWORD in the environment; queued mail leaves as soon as it is.": "Pour les envoyer, ajoutez settings.mail dans feeds.yaml et définissez AGGREGATOR_SMTP_PASSWORD dans l'environnement ; les messages en attente partiront dès que ce sera fait.",
    # sent page, contacts
    "Date": "Date",
    "Article": "Article",
    "Note": "Note",
    "Status": "État",
    "next attempt": "prochain essai",
    "%(n)s attempts": "%(n)s tentatives",
    "Try again": "Réessayer",
    "Older emails": "Courriels plus anciens",
    "Nothing sent yet: press “This might interest someone” on an article.": "Rien d'envoyé pour l'instant : appuyez sur « Ça pourrait t'intéresser » sous un article.",
    "Your contacts live in": "Vos contacts sont dans",
    "You can edit that file by hand too: comments are kept when the dashboard writes it.": "Vous pouvez aussi modifier ce fichier à la main : ses commentaires sont conservés quand le tableau de bord l'écrit.",
    "The contacts file has errors": "Le fichier des contacts contient des erreurs",
    "The contacts file has errors: the last valid version is still in use.": "Le fichier des contacts contient des erreurs : la dernière version valide reste utilisée.",
    "This contact could not be saved:": "Ce contact n'a pas pu être enregistré :",
    "Edit": "Modifier",
    "Save": "Enregistrer",
    "No contacts yet: add the people you like to send articles to.": "Aucun contact pour l'instant : ajoutez les personnes à qui vous aimez envoyer des articles.",
    "Add a contact": "Ajouter un contact",
    "Give the contact a name.": "Donnez un nom au contact.",
    "Give the contact an email address.": "Donnez une adresse de courriel au contact.",
    "Contact added: %(name)s.": "Contact ajouté : %(name)s.",
    "Contact saved: %(name)s.": "Contact enregistré : %(name)s.",
    "Unknown contact.": "Contact inconnu.",
    "Interests:": "Centres d'intérêt :",
    "For %(name)s": "Pour %(name)s",
    "Recent articles that match their interests and were not sent to them yet.": "Articles récents qui correspondent à ses centres d'intérêt et ne lui ont pas encore été envoyés.",
    "Nothing new for them right now.": "Rien de nouveau pour cette personne en ce moment.",
    "Already sent to %(name)s": "Déjà envoyé à %(name)s",
    "Nothing sent to them yet.": "Rien ne lui a encore été envoyé.",
    # dates
    "just now": "à l'instant",
    "%(n)s min ago": "il y a %(n)s min",
    "%(n)s h ago": "il y a %(n)s h",
    "yesterday": "hier",
    "%(n)s days ago": "il y a %(n)s jours",
    "in %(n)s min": "dans %(n)s min",
    "in %(n)s h": "dans %(n)s h",
    "tomorrow": "demain",
    "in %(n)s days": "dans %(n)s jours",
    # feed errors (ERROR_MESSAGES above)
    "The site did not answer in time.": "Le site n'a pas répondu à temps.",
    "The feed is too big (over the maximum size allowed).": "Le flux est trop volumineux (il dépasse la taille maximale autorisée).",
    "Could not connect to the site.": "Impossible de se connecter au site.",
    "The site's name could not be found (DNS error): check the address.": "Le nom du site est introuvable (erreur DNS) : vérifiez l'adresse.",
    "The secure connection (HTTPS) failed: invalid or expired certificate.": "La connexion sécurisée (HTTPS) a échoué : certificat invalide ou expiré.",
    "This address points to a private network: it is blocked for safety.": "Cette adresse pointe vers un réseau privé : elle est bloquée par sécurité.",
    "Too many redirections: the site goes round in circles.": "Trop de redirections : le site tourne en rond.",
    "Unsupported address: only http:// and https:// are accepted.": "Adresse non prise en charge : seules les adresses http:// et https:// sont acceptées.",
    "The site answered with an HTTP error.": "Le site a répondu par une erreur HTTP.",
    "There is no feed at this address (error 404): check the address.": "Il n'y a pas de flux à cette adresse (erreur 404) : vérifiez l'adresse.",
    "The feed was removed for good (error 410): remove it from feeds.yaml.": "Le flux a été supprimé définitivement (erreur 410) : retirez-le de feeds.yaml.",
    "The site asks us to slow down (too many requests): it will be tried later.": "Le site demande de ralentir (trop de requêtes) : nouvel essai plus tard.",
    "The site is temporarily unavailable (error 503).": "Le site est temporairement indisponible (erreur 503).",
    "The site had an internal error (error 5xx).": "Le site a rencontré une erreur interne (erreur 5xx).",
    "The site refuses access to the feed (error 403).": "Le site refuse l'accès au flux (erreur 403).",
    "The feed requires a login (error 401).": "Le flux demande une identification (erreur 401).",
    "This page is not an RSS or Atom feed: look for the feed's address on the site.": "Cette page n'est pas un flux RSS ou Atom : cherchez l'adresse du flux sur le site.",
    "The feed could not be read: its content is malformed.": "Le flux n'a pas pu être lu : son contenu est mal formé.",
    "An unexpected error occurred.": "Une erreur inattendue s'est produite.",
    # request envelope (guard, params)
    "This dashboard does not answer to the name “%(host)s”. If it is served under this name (behind a reverse proxy), add the name to AGGREGATOR_ALLOWED_HOSTS.": "Ce tableau de bord ne répond pas au nom « %(host)s ». S'il est servi sous ce nom (derrière un proxy inverse), ajoutez ce nom à AGGREGATOR_ALLOWED_HOSTS.",
    "This form was sent from another site, so it was refused: reload the page here and try again.": "Ce formulaire a été envoyé depuis un autre site, il a donc été refusé : rechargez la page ici et réessayez.",
    "“%(name)s” must be a whole number (%(lo)s or more).": "« %(name)s » doit être un nombre entier (%(lo)s ou plus).",
    "“%(name)s” must be a whole number from %(lo)s to %(hi)s.": "« %(name)s » doit être un nombre entier de %(lo)s à %(hi)s.",
    "“%(name)s” contains control characters.": "« %(name)s » contient des caractères de contrôle.",
    "“%(name)s” is too long (%(max)s characters at most).": "« %(name)s » est trop long (%(max)s caractères au plus).",
}

# storage problems (issue 7, item 14): which database file, and what to do
FR.update(
    {
        "Database problem": "Problème de base de données",
        "Since": "Depuis",
        "The database %(path)s is damaged.": "La base de données %(path)s est endommagée.",
        "Stop the aggregator, then restore your last backup with “aggregator restore BACKUP_FILE” (see “Backup and restore” in the README).": "Arrêtez l'agrégateur, puis restaurez votre dernière sauvegarde avec « aggregator restore FICHIER_DE_SAUVEGARDE » (voir « Backup and restore » dans le README).",
        "The disk holding the database %(path)s is full.": "Le disque qui contient la base de données %(path)s est plein.",
        "Free some space: the aggregator carries on by itself once it can write again.": "Libérez de la place : l'agrégateur reprend de lui-même dès qu'il peut de nouveau écrire.",
        "The database %(path)s cannot be written.": "La base de données %(path)s ne peut pas être modifiée.",
        "Check the permissions of the file and of its folder, then restart the aggregator.": "Vérifiez les droits du fichier et de son dossier, puis redémarrez l'agrégateur.",
        "The database %(path)s stayed locked by another program for too long.": "La base de données %(path)s est restée trop longtemps verrouillée par un autre programme.",
        "If this lasts, look for another program using the file.": "Si cela dure, cherchez quel autre programme utilise le fichier.",
        "The database %(path)s cannot be used.": "La base de données %(path)s est inutilisable.",
        "The details are in the server log.": "Les détails sont dans le journal du serveur.",
    }
)  # fmt: skip

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
    """The gettext catalog first (translations/fr/LC_MESSAGES/messages.po, which
    translators edit), then the entries added in this module since the last sweep
    into it (``python -m aggregator.web.catalog``), else the English id."""
    text = message
    if lang == "fr":
        text = _catalog_fr()[0].get(message) or FR.get(message, message)
    return text % params if params else text


def _catalog_fr() -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    from aggregator.web import catalog

    return catalog.load("fr")


def gettext(message: str, **params: object) -> str:
    """``_()``: translate ``message`` into the request's language, then fill ``%(x)s``."""
    return translate(message, current_language(), **params)


_ = gettext

# Plurals: the English singular is the id; French says the singular for 0 and 1
# (« 0 article marqué », CLDR rule "one": i = 0,1), English for 1 only.
FR_PLURALS: dict[str, tuple[str, str]] = {}


def plural_index(n: int, lang: str) -> int:
    """0 for the singular form of ``lang``, 1 for the plural."""
    if lang == "fr":
        return 0 if n in (0, 1) else 1
    return 0 if n == 1 else 1


def translate_plural(singular: str, plural: str, n: int, lang: str, **params: object) -> str:
    index = plural_index(n, lang)
    forms = _catalog_fr()[1].get(singular) or FR_PLURALS.get(singular) if lang == "fr" else None
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


_DATE_PATTERNS = {
    ("fr", True): "d MMMM y 'à' HH:mm",
    ("fr", False): "d MMMM y",
    ("en", True): "d MMMM y, HH:mm",
    ("en", False): "d MMMM y",
}


@lru_cache(maxsize=8192)
def _format_date(minute: int, zone: tzinfo, locale: str, with_time: bool) -> str:
    from babel.dates import format_datetime

    when = datetime.fromtimestamp(minute * 60, tz=zone)
    pattern = _DATE_PATTERNS[("fr" if locale.startswith("fr") else "en", with_time)]
    return _spaces(format_datetime(when, pattern, tzinfo=zone, locale=locale))


def absolute_date(when: datetime, lang: str | None = None, *, with_time: bool = True) -> str:
    """``12 mars 2024 à 14:05`` / ``12 March 2024, 14:05``: Babel's format_datetime in
    local time (local_zone) and the configured locale; cached per minute (a widgets
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
        return translate("tomorrow" if future else "yesterday", lang)
    days = hours // 24
    if days <= 30:
        step = timedelta(days=sign * days)
        return _spaces(format_timedelta(step, threshold=1, add_direction=True, locale=locale))
    return absolute_date(when, lang, with_time=False)


# forwards handed to the server without an answer (issue 7, item 10)
FR.update(
    {
        "maybe sent": "peut-être envoyé",
        "Send again": "Renvoyer",
        "Handed to the mail server, but its answer never came: it may have been delivered. Check with the recipient before sending it again.": "Remis au serveur de messagerie, mais sa réponse n'est jamais arrivée : il a peut-être été distribué. Vérifiez auprès du destinataire avant de le renvoyer.",
    }
)


# adding, managing and importing feeds from the dashboard (issue 8)
FR.update(
    {
        "Add content": "Ajouter du contenu",
        "Manage": "Gérer",
        "Manage feeds and tabs": "Gérer les flux et les onglets",
        "Address of a site, a feed or a profile": "Adresse d'un site, d'un flux ou d'un profil",
        "Find feeds": "Trouver les flux",
        "https://… or @name@instance": "https://… ou @nom@instance",
        "Searching…": "Recherche…",
        "Adding…": "Ajout…",
        "Platform:": "Plateforme :",
        "What you can paste": "Ce que vous pouvez coller",
        "a website:": "un site :",
        "a feed (RSS, Atom, JSON Feed):": "un flux (RSS, Atom, JSON Feed) :",
        "a Mastodon account:": "un compte Mastodon :",
        "a Bluesky, YouTube, Reddit, PeerTube, Substack or Medium page:": "une page Bluesky, YouTube, Reddit, PeerTube, Substack ou Medium :",
        "Or import the feeds of another reader:": "Ou importez les flux d'un autre lecteur :",
        "Paste an address first.": "Collez d'abord une adresse.",
        "Another address": "Une autre adresse",
        "Found for": "Trouvé pour",
        "website": "site web",
        "feed address": "adresse de flux",
        "%(n)s feeds found: choose one": "%(n)s flux trouvés : choisissez-en un",
        "Feed found": "Flux trouvé",
        "already followed": "déjà suivi",
        "Latest headlines": "Derniers titres",
        "New tab…": "Nouvel onglet…",
        "Name of the new tab": "Nom du nouvel onglet",
        "Title (optional)": "Titre (facultatif)",
        "The feed’s own title": "Le titre du flux lui-même",
        "Follow": "Suivre",
        "You already follow every feed found here.": "Vous suivez déjà tous les flux trouvés ici.",
        "You already follow this feed (tab “%(tab)s”).": "Vous suivez déjà ce flux (onglet « %(tab)s »).",
        "You already follow this feed.": "Vous suivez déjà ce flux.",
        "This search is too old: paste the address again.": "Cette recherche est trop ancienne : collez l'adresse à nouveau.",
        "Choose one of the feeds found.": "Choisissez l'un des flux trouvés.",
        "Give the new tab a name.": "Donnez un nom au nouvel onglet.",
        "Give the tab a name.": "Donnez un nom à l'onglet.",
        "This tab no longer exists: reload the page.": "Cet onglet n'existe plus : rechargez la page.",
        "“%(title)s” was added to the tab “%(tab)s”.": "« %(title)s » a été ajouté à l'onglet « %(tab)s ».",
        "“%(title)s” was added to the tab “%(tab)s”, but its first fetch failed: the status page says why.": "« %(title)s » a été ajouté à l'onglet « %(tab)s », mais sa première récupération a échoué : la page d'état des flux dit pourquoi.",
        "This is not an address we can read: paste a website or feed address (https://…) or a handle such as @name@instance.": "Cette adresse n'est pas reconnue : collez l'adresse d'un site ou d'un flux (https://…) ou un identifiant comme @nom@instance.",
        "Only http:// and https:// addresses can be followed.": "Seules les adresses http:// et https:// peuvent être suivies.",
        "This address points to a private network: it is blocked for safety (allow_private_networks in feeds.yaml allows it).": "Cette adresse pointe vers un réseau privé : elle est bloquée par sécurité (le réglage allow_private_networks de feeds.yaml l'autorise).",
        "No feed was found at this address: the site may not publish one. Try the address of its blog or news page.": "Aucun flux trouvé à cette adresse : le site n'en publie peut-être pas. Essayez l'adresse de son blog ou de sa page d'actualités.",
        "This platform publishes no public feed. You can run a bridge such as RSS-Bridge or RSSHub yourself and paste here the feed address it gives.": "Cette plateforme ne publie aucun flux public. Vous pouvez installer vous-même une passerelle comme RSS-Bridge ou RSSHub et coller ici l'adresse du flux qu'elle fournit.",
        "The site could not be reached: check the address, or try again later.": "Le site est injoignable : vérifiez l'adresse, ou réessayez plus tard.",
        "The site did not answer in time: try again later.": "Le site n'a pas répondu à temps : réessayez plus tard.",
        "The page is too big to be read.": "La page est trop volumineuse pour être lue.",
        "This page does not exist (error 404): check the address.": "Cette page n'existe pas (erreur 404) : vérifiez l'adresse.",
        "This address could not be read.": "Cette adresse n'a pas pu être lue.",
        "feeds.yaml was not changed.": "feeds.yaml n'a pas été modifié.",
        "feeds.yaml has errors, so the dashboard does not change it: fix the file first.": "feeds.yaml contient des erreurs, le tableau de bord ne le modifie donc pas : corrigez d'abord le fichier.",
        "See the problems": "Voir les problèmes",
        "This feed or tab is no longer in feeds.yaml (the file changed meanwhile).": "Ce flux ou cet onglet n'est plus dans feeds.yaml (le fichier a changé entre-temps).",
        "Every change is written to feeds.yaml, keeping your comments; you can still edit the file by hand.": "Chaque modification est écrite dans feeds.yaml, en gardant vos commentaires ; vous pouvez toujours modifier le fichier à la main.",
        "Name of the tab": "Nom de l'onglet",
        "Rename": "Renommer",
        "%(n)s feeds": "%(n)s flux",
        "Move up": "Monter",
        "Move down": "Descendre",
        "Delete": "Supprimer",
        "Its feeds go to": "Ses flux vont dans",
        "nowhere: unsubscribe from them": "nulle part : se désabonner",
        "Delete the tab": "Supprimer l'onglet",
        "New tab": "Nouvel onglet",
        "Create": "Créer",
        "default (%(every)s)": "par défaut (%(every)s)",
        "every 15 minutes": "toutes les 15 minutes",
        "every 30 minutes": "toutes les 30 minutes",
        "every hour": "toutes les heures",
        "every 2 hours": "toutes les 2 heures",
        "every 6 hours": "toutes les 6 heures",
        "every 12 hours": "toutes les 12 heures",
        "every day": "tous les jours",
        "Unsubscribe": "Se désabonner",
        "No feeds in this tab.": "Aucun flux dans cet onglet.",
        "Choose one of the refresh intervals offered.": "Choisissez l'un des intervalles de rafraîchissement proposés.",
        "Saved in feeds.yaml.": "Enregistré dans feeds.yaml.",
        "Nothing changed.": "Rien n'a changé.",
        "You no longer follow “%(title)s”.": "Vous ne suivez plus « %(title)s ».",
        "Too late to undo: add the feed again.": "Trop tard pour annuler : ajoutez le flux à nouveau.",
        "“%(title)s” is back.": "« %(title)s » est de retour.",
        "Tab “%(name)s” created.": "Onglet « %(name)s » créé.",
        "Tab “%(old)s” renamed “%(new)s”.": "Onglet « %(old)s » renommé « %(new)s ».",
        "Tab “%(name)s” deleted.": "Onglet « %(name)s » supprimé.",
        "This tab holds feeds: choose where they go, then delete it.": "Cet onglet contient des flux : choisissez où ils vont, puis supprimez-le.",
        "Delete the history": "Supprimer l'historique",
        "“%(title)s” is no longer in feeds.yaml; it was kept because some of its articles are starred or were forwarded.": "« %(title)s » n'est plus dans feeds.yaml ; il a été gardé parce que certains de ses articles sont en favori ou ont été transmis.",
        "Its articles (%(n)s) will be deleted, starred ones included. This cannot be undone.": "Ses articles (%(n)s) seront supprimés, favoris compris. C'est définitif.",
        "This feed is still in feeds.yaml: unsubscribe from it first.": "Ce flux est encore dans feeds.yaml : désabonnez-vous d'abord.",
        "“%(title)s” and its articles were deleted.": "« %(title)s » et ses articles ont été supprimés.",
        "You follow nothing yet.": "Vous ne suivez encore rien.",
        "You follow nothing yet: paste the address of a site, a feed or a profile.": "Vous ne suivez encore rien : collez l'adresse d'un site, d'un flux ou d'un profil.",
        "Import (OPML)": "Importer (OPML)",
        "Add the feeds of an OPML file (exported by Netvibes or another reader)": "Ajouter les flux d'un fichier OPML (exporté par Netvibes ou un autre lecteur)",
        "An OPML file lists the feeds of another reader (Netvibes, Feedly, Inoreader…): each of its folders becomes a tab. You will see what changes before anything is written.": "Un fichier OPML liste les flux d'un autre lecteur (Netvibes, Feedly, Inoreader…) : chacun de ses dossiers devient un onglet. Vous verrez ce qui change avant que rien ne soit écrit.",
        "OPML file": "Fichier OPML",
        "Read the file": "Lire le fichier",
        "Choose an OPML file first.": "Choisissez d'abord un fichier OPML.",
        "This file is too big for an OPML file (1 MB at most).": "Ce fichier est trop gros pour un fichier OPML (1 Mo au plus).",
        "This file is too big (%(n)s MB at most).": "Ce fichier est trop gros (%(n)s Mo au plus).",
        "This file is too big for an OPML file.": "Ce fichier est trop gros pour un fichier OPML.",
        "This file declares entities (<!DOCTYPE, <!ENTITY): an OPML file needs none, and they are how “XML bombs” work, so it was refused.": "Ce fichier déclare des entités (<!DOCTYPE, <!ENTITY) : un fichier OPML n'en a pas besoin, et c'est ainsi que fonctionnent les « bombes XML » ; il a donc été refusé.",
        "This file is not valid XML: it cannot be an OPML file.": "Ce fichier n'est pas du XML valide : ce ne peut pas être un fichier OPML.",
        "This file nests its elements too deep (more than %(n)s levels): an OPML file uses two or three, so it was refused.": "Ce fichier imbrique ses éléments trop profondément (plus de %(n)s niveaux) : un fichier OPML en utilise deux ou trois, il a donc été refusé.",
        "This file holds more than %(n)s feeds: split it into several files.": "Ce fichier contient plus de %(n)s flux : découpez-le en plusieurs fichiers.",
        "Addresses corrected": "Adresses corrigées",
        "is imported as": "est importée comme",
        "This file is not an OPML file.": "Ce fichier n'est pas un fichier OPML.",
        "This file is empty.": "Ce fichier est vide.",
        "This file could not be read as OPML.": "Ce fichier n'a pas pu être lu comme un fichier OPML.",
        "This import is too old: upload the file again.": "Cet import est trop ancien : envoyez le fichier à nouveau.",
        "File “%(name)s”:": "Fichier « %(name)s » :",
        "%(n)s feeds to add to %(m)s tabs, %(p)s already followed, %(s)s skipped.": "%(n)s flux à ajouter dans %(m)s onglets, %(p)s déjà suivis, %(s)s ignorés.",
        "Import %(n)s feeds": "Importer %(n)s flux",
        "To add": "À ajouter",
        "Already followed": "Déjà suivis",
        "Skipped": "Ignorés",
        "line %(n)s:": "ligne %(n)s :",
        "invalid address": "adresse invalide",
        "not a feed": "pas un flux",
        "Nothing to import: you already follow every feed of this file.": "Rien à importer : vous suivez déjà tous les flux de ce fichier.",
        "%(n)s feeds imported into %(m)s tabs: they are fetched within a minute.": "%(n)s flux importés dans %(m)s onglets : ils seront récupérés d'ici une minute.",
    }
)


# addresses in feeds.yaml and the feed found behind them (issue 8, item 3)
FR.update(
    {
        "Resolved to": "Résolu en",
        "Look for its feed again": "Chercher à nouveau son flux",
        "The feed behind this address will be looked for again at the next tick (within a minute).": "Le flux derrière cette adresse sera recherché à nouveau au prochain passage (dans la minute).",
    }
)


# « Ça pourrait t'intéresser », second edition: excerpts, « vous », needs, « Pour toi »
# letters, the owner's rules and alerts (issue 13)
FR.update(
    {
        "“%(text)s” matches several contacts: %(names)s. Choose one.": "« %(text)s » correspond à plusieurs contacts : %(names)s. Choisissez-en un.",
        "%(name)s is looking for: %(what)s, since %(day)s": "%(name)s cherche : %(what)s, depuis le %(day)s",
        "The selected passage is too long: select a shorter one.": "Le passage sélectionné est trop long : sélectionnez-en un plus court.",
        "This passage is not in the article's text: select it again in the article, or remove the excerpt.": "Ce passage n'est pas dans le texte de l'article : sélectionnez-le à nouveau dans l'article, ou retirez l'extrait.",
        "Added to the « Pour toi » letter of %(names)s.": "Ajouté à la lettre « Pour toi » de %(names)s.",
        "The end date must look like 2026-12-31.": "La date de fin doit ressembler à 2026-12-31.",
        "Say what they are looking for.": "Dites ce que la personne cherche.",
        "This need could not be saved:": "Cette recherche n'a pas pu être enregistrée :",
        "Need added: %(what)s.": "Recherche ajoutée : %(what)s.",
        "Unknown need.": "Recherche inconnue.",
        "Need removed.": "Recherche retirée.",
        "Letter reordered.": "Lettre réordonnée.",
        "Unknown item.": "Article inconnu.",
        "Removed from the letter.": "Retiré de la lettre.",
        "The letter is empty: nothing was sent.": "La lettre est vide : rien n'a été envoyé.",
        "Letter of %(n)s articles queued for %(name)s.": "Lettre de %(n)s articles en partance pour %(name)s.",
        "Several contacts match “{text}”: choose one.": "Plusieurs contacts correspondent à « {text} » : choisissez-en un.",
        "“{text}” is not one of your contacts: add it below with a name and an address.": "« {text} » ne fait pas partie de vos contacts : ajoutez ce contact ci-dessous avec un nom et une adresse.",
        "Chosen excerpt": "Extrait choisi",
        "Remove the excerpt": "Retirer l'extrait",
        "Contacts with a « Pour toi » letter: %(names)s": "Contacts qui reçoivent une lettre « Pour toi » : %(names)s",
        "Add to their « Pour toi » letter": "Ajouter à la lettre « Pour toi »",
        "Say « vous »": "Vouvoyer",
        "« vous »": "vouvoiement",
        "« Pour toi » letter %(period)s": "lettre « Pour toi » %(period)s",
        "%(name)s is looking for": "%(name)s cherche",
        "since %(day)s": "depuis le %(day)s",
        "until %(day)s": "jusqu'au %(day)s",
        "ended on %(day)s": "terminée le %(day)s",
        "Remove": "Retirer",
        "No need noted: « cherche appart », « cherche emploi »… A need lasts 60 days unless you give an end date.": "Aucune recherche notée : « cherche appart », « cherche emploi »… Une recherche dure 60 jours, sauf date de fin.",
        "Looking for": "Cherche",
        "appartement 4½ Plateau": "appartement 4½ Plateau",
        "Until (optional)": "Jusqu'au (facultatif)",
        "Add this need": "Ajouter cette recherche",
        "Next « Pour toi » letter": "Prochaine lettre « Pour toi »",
        "It leaves:": "Départ :",
        "No period set (digest: in contacts.yaml): it leaves when you send it.": "Aucune fréquence (digest: dans contacts.yaml) : elle part quand vous l'envoyez.",
        "Move up: %(title)s": "Monter : %(title)s",
        "Move down: %(title)s": "Descendre : %(title)s",
        "Send now": "Envoyer maintenant",
        "The letter is empty: add articles from « Ça pourrait t'intéresser ». An empty letter is never sent.": "La lettre est vide : ajoutez-y des articles depuis « Ça pourrait t'intéresser ». Une lettre vide n'est jamais envoyée.",
        "« Pour toi » letter": "Lettre « Pour toi »",
        "none": "aucune",
        "every week": "chaque semaine",
        "every day": "chaque jour",
        "Send this excerpt": "Envoyer cet extrait",
    }
)


# reading comfort (issue 10): failing feeds, unread flow, widgets, plurals
FR.update(
    {
        "This feed cannot be fetched:": "Ce flux ne peut pas être récupéré :",
        "see why": "voir pourquoi",
        "%(title)s: %(reason)s": "%(title)s : %(reason)s",
        "Line %(n)s of the file": "Ligne %(n)s du fichier",
        "none (it works)": "aucun (il fonctionne)",
        "%(add)s %(tabs)s, %(present)s, %(skipped)s.": "%(add)s %(tabs)s, %(present)s, %(skipped)s.",
        "Technical details (in English)": "Détails techniques (en anglais)",
        "Close the article": "Refermer l'article",
        "Open the original in a new tab": "Ouvrir l'original dans un nouvel onglet",
        "Mark all as read (then « Undo »)": "Tout marquer comme lu (puis « Annuler »)",
        "Refresh: show the new articles": "Actualiser : afficher les nouveaux articles",
    }
)
FR_PLURALS.update(
    {
        "%(n)s new article": ("%(n)s nouvel article", "%(n)s nouveaux articles"),
        "%(n)s unread": ("%(n)s non lu", "%(n)s non lus"),
        "%(n)s feed to add": ("%(n)s flux à ajouter", "%(n)s flux à ajouter"),
        "to %(n)s tab": ("dans %(n)s onglet", "dans %(n)s onglets"),
        "%(n)s already followed": ("%(n)s déjà suivi", "%(n)s déjà suivis"),
        "%(n)s skipped": ("%(n)s ignoré", "%(n)s ignorés"),
        "%(n)s article marked as read.": ("%(n)s article marqué comme lu.", "%(n)s articles marqués comme lus."),
        "%(n)s article marked as unread again.": ("%(n)s article de nouveau non lu.", "%(n)s articles de nouveau non lus."),
        "%(n)s feed could not be fetched": ("%(n)s flux n'a pas pu être récupéré", "%(n)s flux n'ont pas pu être récupérés"),
    }
)  # fmt: skip
# A plural's id is also a singular message: _() of it says the French singular.
FR.update({one: forms[0] for one, forms in FR_PLURALS.items() if one not in FR})


# mail sources: an IMAP folder read as a feed (issue 12); the error codes of
# aggregator.newsletters, said on the status page
ERROR_MESSAGES.update(
    {
        "imap_login": "The mail server refused the user name or password: check settings.imap.username in feeds.yaml and the AGGREGATOR_IMAP_PASSWORD variable.",
        "imap_no_password": "The mailbox password is missing: set the AGGREGATOR_IMAP_PASSWORD variable where the aggregator runs.",
        "imap_not_configured": "This mail source has no mailbox: add 'imap:' under 'settings:' in feeds.yaml.",
        "imap_folder": "This folder does not exist in the mailbox: check the 'mail:' line in feeds.yaml.",
        "imap_unreachable": "Could not connect to the mail server: check settings.imap in feeds.yaml.",
        "imap_dns": "The mail server's name could not be found: check settings.imap.host in feeds.yaml.",
        "imap_tls": "The secure connection to the mail server failed: invalid or expired certificate, or the wrong security setting.",
        "imap_timeout": "The mail server did not answer in time: it will be tried later.",
        "imap_dropped": "The mail server cut the connection during the transfer: nothing was lost, it will be tried later.",
        "imap_error": "The mail server answered with an error: it will be tried later.",
    }
)
FR.update(
    {
        "The mail server refused the user name or password: check settings.imap.username in feeds.yaml and the AGGREGATOR_IMAP_PASSWORD variable.": "Le serveur de messagerie a refusé l'identifiant ou le mot de passe : vérifiez settings.imap.username dans feeds.yaml et la variable AGGREGATOR_IMAP_PASSWORD.",
        "The mailbox password is missing: set the AGGREGATOR_IMAP_PASSWORD variable where the aggregator runs.": "Le mot de passe de la boîte aux lettres manque : définissez la variable AGGREGATOR_IMAP_PASSWORD là où tourne l'agrégateur.",
        "This mail source has no mailbox: add 'imap:' under 'settings:' in feeds.yaml.": "Cette source de courrier n'a pas de boîte aux lettres : ajoutez « imap: » sous « settings: » dans feeds.yaml.",
        "This folder does not exist in the mailbox: check the 'mail:' line in feeds.yaml.": "Ce dossier n'existe pas dans la boîte aux lettres : vérifiez la ligne « mail: » dans feeds.yaml.",
        "Could not connect to the mail server: check settings.imap in feeds.yaml.": "Impossible de se connecter au serveur de messagerie : vérifiez settings.imap dans feeds.yaml.",
        "The mail server's name could not be found: check settings.imap.host in feeds.yaml.": "Le nom du serveur de messagerie est introuvable : vérifiez settings.imap.host dans feeds.yaml.",
        "The secure connection to the mail server failed: invalid or expired certificate, or the wrong security setting.": "La connexion sécurisée au serveur de messagerie a échoué : certificat invalide ou expiré, ou mauvais réglage de sécurité.",
        "The mail server did not answer in time: it will be tried later.": "Le serveur de messagerie n'a pas répondu à temps : nouvel essai plus tard.",
        "The mail server cut the connection during the transfer: nothing was lost, it will be tried later.": "Le serveur de messagerie a coupé la connexion pendant le transfert : rien n'est perdu, nouvel essai plus tard.",
        "The mail server answered with an error: it will be tried later.": "Le serveur de messagerie a répondu par une erreur : nouvel essai plus tard.",
    }
)


# the sync APIs and the « Applications mobiles » page (issue 11)
FR.update(
    {
        "Mobile apps": "Applications mobiles",
        "Sync API": "API de synchronisation",
        "The sync API is enabled.": "L'API de synchronisation est activée.",
        "User name:": "Nom d'utilisateur :",
        "The password comes from AGGREGATOR_API_PASSWORD in the environment.": "Le mot de passe vient de AGGREGATOR_API_PASSWORD dans l'environnement.",
        "The password was set with “aggregator api-password”: run it again to replace it (every app will have to log in again).": "Le mot de passe a été défini avec « aggregator api-password » : relancez-la pour le remplacer (chaque application devra se reconnecter).",
        "The sync API is disabled: apps are refused until a password is set.": "L'API de synchronisation est désactivée : les applications sont refusées tant qu'aucun mot de passe n'est défini.",
        "Run “aggregator api-password” on the server (it prints a password once), or set AGGREGATOR_API_PASSWORD in the environment. This password is separate from the dashboard's.": "Lancez « aggregator api-password » sur le serveur (il affiche un mot de passe une seule fois), ou définissez AGGREGATOR_API_PASSWORD dans l'environnement. Ce mot de passe est distinct de celui du tableau de bord.",
        "Outside your home network, serve the dashboard behind a TLS proxy (Caddy, nginx: see the README) and type its secure (HTTPS) address.": "Hors de chez vous, servez le tableau de bord derrière un proxy TLS (Caddy, nginx : voir le README) et tapez son adresse sécurisée (HTTPS).",
        "What to type in each app": "Quoi taper dans chaque application",
        "App": "Application",
        "Account type": "Type de compte",
        "Server address": "Adresse du serveur",
        "Password: the app password, not the dashboard's.": "Mot de passe : celui des applications, pas celui du tableau de bord.",
        "Type the addresses exactly as shown: the Fever address ends with a slash, the Google Reader ones do not.": "Tapez les adresses exactement comme affichées : l'adresse Fever finit par une barre oblique, celles de Google Reader non.",
        "Sync API for apps:": "API de synchronisation pour les applications :",
        "enabled": "activée",
        "disabled": "désactivée",
        "user": "utilisateur",
    }
)


# issue 13: your own rules, the « Alertes » view
FR.update(
    {
        "Alerts": "Alertes",
        "new": "nouveau",
        "Rules:": "Règles :",
        "No rules yet: add a “rules:” list to feeds.yaml, with words to look for and “notify” among the actions.": "Aucune règle : ajoutez une liste « rules: » à feeds.yaml, avec les mots à chercher et « notify » parmi les actions.",
        "Nothing yet: items your notify rules match will appear here.": "Rien pour l'instant : les articles trouvés par vos règles « notify » apparaîtront ici.",
    }
)


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


# issue 9: pictures, titles made from the text, search on whole articles
FR.update(
    {
        "Untitled": "Sans titre",
        "Sort by": "Trier par",
        "Newest first": "Les plus récents d'abord",
        "Relevance": "Pertinence",
        "Type words to search in titles and whole articles; accents, case and plurals are ignored; end a word with * to find its beginning (cin*).": "Tapez des mots à chercher dans les titres et les articles entiers ; les accents, les majuscules et les pluriels sont ignorés ; terminez un mot par * pour en chercher le début (cin*).",
        "No site icon:": "Pas d'icône de site :",
        "Watch the video": "Voir la vidéo",
    }
)


# issue 13: the basket button names the contact
FR.update({"Add to the letter of {name}": "Ajouter à la lettre de {name}"})


# issue 9: each widget's « Vue étendue » button
FR.update(
    {
        "Extended view": "Vue étendue",
        "“%(name)s” must be one of: %(choices)s.": "« %(name)s » doit valoir l'une de ces valeurs : %(choices)s.",
    }
)
