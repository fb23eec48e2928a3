"""feeds.yaml: tabs, feeds and settings -> ``models.Config``.

Walks the composed YAML nodes, reports every mistake with its position (all at once,
sorted by line) and builds the frozen models only when there is none.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from aggregator.errors import ConfigError
from aggregator.models import (
    Config,
    FeedConfig,
    ImapSettings,
    MailSettings,
    MailSource,
    Settings,
    TabConfig,
    is_mail_key,
)

from . import display, values
from ._rules import parse_rules
from ._text import N_, Invalid, Text
from .yamlfile import (
    INVALID,
    Problems,
    YamlSource,
    compose,
    convert,
    decode,
    describe,
    fail,
    is_null,
    mapping,
    scalar,
    settings_block,
    text_or_none,
)

REFRESH_RANGE = (timedelta(minutes=1), timedelta(days=7))
TIMEOUT_RANGE = (timedelta(seconds=1), timedelta(minutes=5))
MAX_SIZE_RANGE = (1024, 1024**3)
MAX_KEEP_DAYS = 36500  # a century; beyond that a date computation could overflow
SECURITIES = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}

TOP_KEYS = ("settings", "tabs", "rules")
SETTINGS_KEYS = (
    "refresh",
    "timeout",
    "max_size",
    "keep_days",
    "allow_private_networks",
    "mail",
    "imap",
    "display",  # config/display.py
)
MAIL_KEYS = (
    "host",
    "port",
    "security",
    "username",
    "from",
    "reply_to",
    "copy_to_me",
    "rate_limit",
)
TAB_KEYS = ("name", "feeds")
FEED_KEYS = ("url", "mail", "from", "split", "title", "refresh", "headlines")
IMAP_KEYS = ("host", "port", "security", "username")
IMAP_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
SPLITS = ("links",)

_EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "feeds.yaml"
_FROM_ENV_ONLY = N_(
    "the SMTP password comes only from the AGGREGATOR_SMTP_PASSWORD environment variable,"
    " never from this file; remove this line"
)
_UNDER_SETTINGS = N_("it belongs under 'settings:'")
TOP_HINTS = {k: _UNDER_SETTINGS for k in SETTINGS_KEYS} | {
    "feeds": N_("feeds go inside a tab: 'tabs:', then '- name: ...' and 'feeds:'"),
    "tab": N_("did you mean 'tabs'?"),
}
SETTINGS_HINTS = {
    "password": _FROM_ENV_ONLY,
    "tabs": N_("'tabs:' is a top-level key, not a setting"),
}
_IMAP_FROM_ENV_ONLY = N_(
    "the IMAP password comes only from the AGGREGATOR_IMAP_PASSWORD environment variable,"
    " never from this file; remove this line"
)
IMAP_HINTS = {
    "password": _IMAP_FROM_ENV_ONLY,
    "pass": _IMAP_FROM_ENV_ONLY,
    "imap_password": _IMAP_FROM_ENV_ONLY,
    "user": N_("did you mean 'username'?"),
    "login": N_("did you mean 'username'?"),
    "server": N_("did you mean 'host'?"),
    "folder": N_("folders are chosen per source: '- mail: FOLDER' in a tab's 'feeds:'"),
    "tls": N_("write 'security: ssl' or 'security: starttls'"),
    "ssl": N_("write 'security: ssl' or 'security: starttls'"),
}
MAIL_HINTS = {
    "password": _FROM_ENV_ONLY,
    "pass": _FROM_ENV_ONLY,
    "smtp_password": _FROM_ENV_ONLY,
    "sender": N_("did you mean 'from'?"),
    "user": N_("did you mean 'username'?"),
    "login": N_("did you mean 'username'?"),
    "server": N_("did you mean 'host'?"),
    "tls": N_("write 'security: starttls' or 'security: ssl'"),
}
TAB_HINTS = {
    "title": N_("did you mean 'name'?"),
    "url": N_("a URL belongs to a feed: put it in the list under 'feeds:'"),
    "refresh": N_("refresh is set per feed or under 'settings:', not per tab"),
}
_EVERY = N_("did you mean 'refresh'?")
FEED_HINTS = {
    "link": N_("did you mean 'url'?"),
    "href": N_("did you mean 'url'?"),
    "name": N_("did you mean 'title'?"),
    "every": _EVERY,
    "ever": _EVERY,
    "interval": _EVERY,
    "frequency": _EVERY,
    "folder": N_("did you mean 'mail'? (write '- mail: FOLDER')"),
    "imap": N_("did you mean 'mail'? (write '- mail: FOLDER')"),
    "sender": N_("did you mean 'from'?"),
    "senders": N_("did you mean 'from'?"),
}


def load_config(path: str | Path) -> Config:
    """Read and validate feeds.yaml. Raises ConfigError listing every problem."""
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise fail(file, missing_advice()) from None
    except OSError as e:
        raise fail(file, N_("cannot read this file: %(reason)s"), reason=e.strerror) from e
    return parse_config(decode(data, file), file)


def missing_advice() -> Text:
    if _EXAMPLE.is_file():
        example: str | Text = str(_EXAMPLE)
    else:
        example = Text(N_("config/feeds.yaml of the aggregator sources"))
    return Text(
        N_("file not found; copy the commented example %(example)s here and edit it"),
        example=example,
    )


def summarize(config: Config) -> str:
    tabs, feeds = len(config.tabs), len(config.feeds)
    return (
        f"{config.path}: {tabs} tab{'s' if tabs != 1 else ''}, "
        f"{feeds} feed{'s' if feeds != 1 else ''}"
    )


def parse_config(text: str, file: str) -> Config:
    """Validate the text of a feeds.yaml; ``file`` is used in messages and Config.path."""
    problems = Problems(file)
    root = compose(text, problems)
    if is_null(root):
        problems.raise_if_any()
        return Config(path=file)
    assert root is not None
    if not isinstance(root, MappingNode):
        problems.add(
            root,
            N_("the file must be a mapping with 'settings:' and 'tabs:' keys, got %(found)s"),
            found=describe(root),
        )
        raise problems.error()
    top = mapping(root, problems, what="top-level", known=TOP_KEYS, hints=TOP_HINTS)
    settings = Settings()
    if "settings" in top:
        settings = _settings(top["settings"][1], problems)
    settings = display.with_feed_headlines(settings, top.get("tabs", (None, None))[1], problems)
    tabs: tuple[TabConfig, ...] = ()
    if "tabs" in top:
        imap: ImapSettings | object | None = settings.imap
        if imap is None and "settings" in top and _written(top["settings"][1], "imap"):
            imap = INVALID  # reported there: no "add 'imap:'" on every mail source
        tabs = _tabs(top["tabs"][1], problems, imap)
    rules = parse_rules(top["rules"][1], problems, tabs) if "rules" in top else ()
    problems.raise_if_any()
    return Config(path=file, settings=settings, tabs=tabs, rules=rules)


# --- settings ----------------------------------------------------------------------


def _duration_in(low: timedelta, high: timedelta):
    def check(node: Node) -> timedelta:
        raw = scalar(node, N_("a duration such as 15m"))
        value = values.parse_duration(raw)
        values.check_duration_range(value, low, high, raw)
        return value

    return check


def _size(node: Node) -> int:
    raw = scalar(node, N_("a size such as 10MB"))
    value = values.parse_size(raw)
    low, high = MAX_SIZE_RANGE
    if not low <= value <= high:
        raise Invalid(
            N_("must be between %(low)s and %(high)s, got '%(raw)s'"),
            low=values.format_size(low),
            high=values.format_size(high),
            raw=raw,
        )
    return value


def _keep_days(node: Node) -> int:
    raw = scalar(node, N_("a number of days"))
    try:
        days = values.parse_int(raw)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_KEEP_DAYS:
        raise Invalid(N_("must be a positive whole number of days, got '%(raw)s'"), raw=raw)
    return days


def _bool(node: Node) -> bool:
    return values.parse_bool(scalar(node, N_("true or false")))


def _settings(node: Node, problems: Problems) -> Settings:
    if is_null(node):
        return Settings()
    if not isinstance(node, MappingNode):
        problems.add(
            node,
            N_("'settings' must be a mapping of settings, got %(found)s"),
            found=describe(node),
        )
        return Settings()
    keys = mapping(node, problems, what="settings", known=SETTINGS_KEYS, hints=SETTINGS_HINTS)
    checks = {
        "refresh": _duration_in(*REFRESH_RANGE),
        "timeout": _duration_in(*TIMEOUT_RANGE),
        "max_size": _size,
        "keep_days": _keep_days,
        "allow_private_networks": _bool,
    }
    found = {}
    for name, check in checks.items():
        if name in keys:
            value = convert(problems, keys[name][1], check, name)
            if value is not INVALID:
                found[name] = value
    if "display" in keys:
        found["display"] = display.display_settings(keys["display"][1], problems)
    mail = None
    if "mail" in keys:
        mail = _mail(keys["mail"][1], problems)
    imap = None
    if "imap" in keys:
        imap = _imap(keys["imap"][1], problems)
    return Settings(**found, mail=mail, imap=imap)


def _security(node: Node) -> str:
    raw = scalar(node, N_("starttls, ssl or none"))
    value = raw.strip().lower()
    if value in SECURITIES:
        return value
    if value in ("tls", "true", "yes"):
        raise Invalid(
            N_("'%(raw)s' is ambiguous; write starttls (usually port 587) or ssl (port 465)"),
            raw=raw,
        )
    if value in ("false", "no", "off", "plain"):
        raise Invalid(N_("'%(raw)s' is not a choice; write none (no encryption)"), raw=raw)
    raise Invalid(N_("must be one of starttls, ssl or none, got '%(raw)s'"), raw=raw)


def _port(node: Node) -> int:
    raw = scalar(node, N_("a port number"))
    try:
        port = values.parse_int(raw)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise Invalid(N_("must be a whole number between 1 and 65535, got '%(raw)s'"), raw=raw)
    return port


def _server_host(node: Node, *, protocol: str, not_in_host: str) -> str:
    """A mail server's name (``protocol``: SMTP or IMAP), nothing around it."""
    host = text_or_none(node)
    if not host:
        raise Invalid(N_("the %(protocol)s server name is empty"), protocol=protocol)
    values.check_visible(host, N_("server name"))
    if any(c.isspace() or c in not_in_host for c in host):
        example = f"{protocol.lower()}.example.org"
        raise Invalid(
            N_("'%(host)s' is not a host name (write just the server, e.g. %(example)s)"),
            host=host,
            example=example,
        )
    return host


def _host(node: Node) -> str:
    return _server_host(node, protocol="SMTP", not_in_host="/@:")


def _mailbox(node: Node) -> str:
    raw = scalar(node, N_("an email address")).strip(" ")
    values.check_mailbox(raw)
    return raw


def _username(node: Node) -> str | None:
    # Sent in SMTP AUTH, where a NUL separates the fields (RFC 4616).
    name = text_or_none(node)
    if name is not None:
        values.check_visible(name, N_("user name"))
    return name


def _mail(node: Node, problems: Problems) -> MailSettings | None:
    # An empty "mail:" (its lines still commented out) means no mail, not an error.
    checks = {
        "host": _host,
        "port": _port,
        "security": _security,
        "username": _username,
        "from": _mailbox,
        "reply_to": _mailbox,
        "copy_to_me": _bool,
        "rate_limit": lambda n: values.parse_rate_limit(scalar(n, N_("a rate such as 30/h"))),
    }
    found = settings_block(
        node, problems, what="mail", description=N_("mail settings"),
        known=MAIL_KEYS, hints=MAIL_HINTS, checks=checks,
    )  # fmt: skip
    if found is None:
        return None
    for required in ("host", "from"):
        if required not in found:
            problems.add(node, N_("'mail' needs a '%(key)s:' line"), key=required)
    if any(v is INVALID for v in found.values()) or "host" not in found or "from" not in found:
        return None
    security = found.get("security", "starttls")
    sender = found["from"]
    return MailSettings(
        host=found["host"],
        port=found.get("port", DEFAULT_PORTS[security]),
        security=security,
        username=found.get("username"),
        sender=sender,
        reply_to=found.get("reply_to") or sender,
        copy_to_me=found.get("copy_to_me", False),
        rate_limit=found.get("rate_limit", MailSettings.rate_limit),
    )


def _imap_security(node: Node) -> str:
    raw = scalar(node, N_("ssl, starttls or none"))
    value = raw.strip().lower()
    if value in IMAP_PORTS:
        return value
    if value in ("tls", "true", "yes", "imaps"):
        raise Invalid(
            N_("'%(raw)s' is ambiguous; write ssl (usually port 993) or starttls (143)"), raw=raw
        )
    if value in ("false", "no", "off", "plain"):
        raise Invalid(N_("'%(raw)s' is not a choice; write none (no encryption)"), raw=raw)
    raise Invalid(N_("must be one of ssl, starttls or none, got '%(raw)s'"), raw=raw)


def _imap_host(node: Node) -> str:
    return _server_host(node, protocol="IMAP", not_in_host="/@:?#")


def _imap_username(node: Node) -> str:
    # Sent in the LOGIN command (RFC 3501 section 6.2.3): one visible line.
    name = text_or_none(node)
    if not name:
        raise Invalid(N_("the IMAP user name is empty"))
    values.check_visible(name, N_("user name"))
    return name


def _imap(node: Node, problems: Problems) -> ImapSettings | None:
    """``settings.imap``: the mailbox that ``mail:`` sources read. An empty ``imap:``
    (its lines still commented out) means no mailbox, not an error."""
    checks = {
        "host": _imap_host,
        "port": _port,
        "security": _imap_security,
        "username": _imap_username,
    }
    found = settings_block(
        node, problems, what="imap", description=N_("IMAP settings"),
        known=IMAP_KEYS, hints=IMAP_HINTS, checks=checks,
    )  # fmt: skip
    if found is None:
        return None
    missing = [k for k in ("host", "username") if k not in found]
    for required in missing:
        problems.add(node, N_("'imap' needs a '%(key)s:' line"), key=required)
    if missing or any(v is INVALID for v in found.values()):
        return None
    security = found.get("security", "ssl")
    return ImapSettings(
        host=found["host"],
        username=found["username"],
        port=found.get("port", IMAP_PORTS[security]),
        security=security,
    )


def _folder(node: Node) -> str:
    # Sent quoted in SELECT (RFC 3501 section 9, "mailbox"): one visible line.
    name = text_or_none(node)
    if not name:
        raise Invalid(N_("the folder name is empty; write e.g. 'mail: INBOX'"))
    values.check_visible(name, N_("folder name"))
    return name


def _sender_pattern(raw: str) -> str:
    value = raw.strip().lower()
    values.check_visible(value, N_("address"))
    if value.startswith("*@"):
        domain = value[2:]
        if domain and "@" not in domain and "*" not in domain and " " not in domain:
            return value
        raise Invalid(N_("'%(raw)s' is not a sender pattern; write '*@example.org'"), raw=raw)
    if "*" in value:
        raise Invalid(
            N_("'%(raw)s': '*' is only allowed for the whole name part, as in '*@example.org'"),
            raw=raw,
        )
    values.check_address(value)
    return value


def _senders(node: Node) -> tuple[str, ...]:
    if isinstance(node, SequenceNode):
        raws = [scalar(item, N_("an address such as lettre@example.org")) for item in node.value]
    else:
        raws = [scalar(node, N_("an address, or a list of addresses"))]
    if not raws:
        raise Invalid(N_("the list is empty; remove 'from:' to take every sender"))
    patterns: list[str] = []
    for raw in raws:
        pattern = _sender_pattern(raw)
        if pattern not in patterns:
            patterns.append(pattern)
    return tuple(patterns)


def _split(node: Node) -> bool:
    raw = scalar(node, N_("links"))
    if raw.strip().lower() in SPLITS:
        return True
    raise Invalid(
        N_("the only choice is 'links' (one item per link of a digest), got '%(raw)s'"), raw=raw
    )


def _mail_source(
    item: MappingNode,
    keys: dict[str, tuple[ScalarNode, Node]],
    problems: Problems,
    imap: ImapSettings | object | None,
) -> tuple[str, Node] | object:
    """The key (pseudo-URL) of a ``- mail: FOLDER`` item and the node to report at."""
    mail_node = keys["mail"][1]
    folder = convert(problems, mail_node, _folder, "mail")
    senders: tuple[str, ...] | object = ()
    if "from" in keys:
        senders = convert(problems, keys["from"][1], _senders, "from")
    split: bool | object = False
    if "split" in keys:
        split = convert(problems, keys["split"][1], _split, "split")
    if "url" in keys:
        problems.add(
            keys["url"][0],
            N_("a feed is either 'url:' or 'mail:', not both; make them two items of the list"),
        )
        return INVALID
    if imap is None:
        problems.add(
            keys["mail"][0],
            N_(
                "a mail source needs the mailbox it reads: add 'imap:' under 'settings:'"
                " (host, username; the password comes from AGGREGATOR_IMAP_PASSWORD)"
            ),
        )
        return INVALID
    if folder is INVALID or senders is INVALID or split is INVALID or imap is INVALID:
        return INVALID
    assert isinstance(imap, ImapSettings)
    assert isinstance(folder, str) and isinstance(senders, tuple) and isinstance(split, bool)
    return MailSource(folder=folder, senders=senders, split=split).key(imap), mail_node


# --- tabs and feeds ----------------------------------------------------------------


def _tab_name(node: Node) -> str:
    name = text_or_none(node)
    if not name:
        raise Invalid(N_("the tab name is empty"))
    return name


def _written(node: Node, key: str) -> bool:
    """A mapping node has ``key`` with a value (an empty one means "not set")."""
    return isinstance(node, MappingNode) and any(
        k.value == key and not is_null(v) for k, v in node.value
    )


def _tabs(
    node: Node, problems: Problems, imap: ImapSettings | object | None = None
) -> tuple[TabConfig, ...]:
    if is_null(node):
        return ()
    if not isinstance(node, SequenceNode):
        problems.add(
            node,
            N_("'tabs' must be a list of tabs, each starting with '- name:', got %(found)s"),
            found=describe(node),
        )
        return ()
    tabs = []
    names: dict[str, int] = {}
    urls: dict[str, int] = {}
    for tab_node in node.value:
        if not problems.first_visit(tab_node):
            continue
        if not isinstance(tab_node, MappingNode):
            if isinstance(tab_node, ScalarNode) and not is_null(tab_node):
                problems.add(
                    tab_node,
                    N_(
                        "each tab must be a mapping with 'name:' and 'feeds:', got %(found)s;"
                        " write '- name: %(name)s' and 'feeds:' below it"
                    ),
                    found=describe(tab_node),
                    name=tab_node.value,
                )
            else:
                problems.add(
                    tab_node,
                    N_("each tab must be a mapping with 'name:' and 'feeds:', got %(found)s"),
                    found=describe(tab_node),
                )
            continue
        keys = mapping(tab_node, problems, what="tab", known=TAB_KEYS, hints=TAB_HINTS)
        name = INVALID
        if "name" not in keys:
            problems.add(tab_node, N_("this tab has no 'name:'"))
        else:
            name_node = keys["name"][1]
            name = convert(problems, name_node, _tab_name, "name")
            if name is not INVALID:
                folded = name.casefold()
                if folded in names:
                    problems.add(
                        name_node,
                        N_(
                            "duplicate tab name '%(name)s' (first at line %(line)s);"
                            " merge the two tabs or rename one"
                        ),
                        name=name,
                        line=names[folded],
                    )
                else:
                    names[folded] = name_node.start_mark.line + 1
        feeds: tuple[FeedConfig, ...] = ()
        if "feeds" in keys:
            feeds = _feeds(keys["feeds"][1], problems, name, urls, imap)
        if name is not INVALID:
            tabs.append(TabConfig(name=name, feeds=feeds))
    position = 0
    numbered = []
    for tab in tabs:
        tab_feeds = []
        for feed in tab.feeds:
            tab_feeds.append(
                FeedConfig(
                    url=feed.url,
                    tab=tab.name,
                    title=feed.title,
                    refresh=feed.refresh,
                    position=position,
                    line=feed.line,
                )
            )
            position += 1
        numbered.append(TabConfig(name=tab.name, feeds=tuple(tab_feeds)))
    return tuple(numbered)


def _url(node: Node) -> str:
    url = scalar(node, N_("a URL")).strip()
    values.check_feed_address(url)  # a feed URL, a site or profile URL, or a handle
    return url


def _feeds(
    node: Node,
    problems: Problems,
    tab: str,
    urls: dict[str, int],
    imap: ImapSettings | object | None = None,
) -> tuple[FeedConfig, ...]:
    if is_null(node):
        return ()
    if not isinstance(node, SequenceNode):
        if isinstance(node, ScalarNode):
            problems.add(
                node,
                N_(
                    "'feeds' must be a list of feeds, got %(found)s;"
                    " write it as a list item on its own line: '- %(value)s'"
                ),
                found=describe(node),
                value=node.value,
            )
        else:
            problems.add(
                node, N_("'feeds' must be a list of feeds, got %(found)s"), found=describe(node)
            )
        return ()
    feeds = []
    for item in node.value:
        if not problems.first_visit(item):
            continue
        title = refresh = None
        if isinstance(item, MappingNode):
            keys = mapping(item, problems, what="feed", known=FEED_KEYS, hints=FEED_HINTS)
            if "mail" in keys:
                source = _mail_source(item, keys, problems, imap)
                url, url_node = (INVALID, item) if source is INVALID else source  # type: ignore[misc]
            elif "url" not in keys:
                problems.add(item, N_("this feed has no 'url:'"))
                continue
            else:
                for only_mail in ("from", "split"):
                    if only_mail in keys:
                        problems.add(
                            keys[only_mail][0],
                            N_(
                                "'%(key)s:' is for mail sources ('- mail: FOLDER'),"
                                " not for a feed URL"
                            ),
                            key=only_mail,
                        )
                url_node = keys["url"][1]
                url = convert(problems, url_node, _url, "url")
            if "title" in keys:
                title = convert(problems, keys["title"][1], text_or_none, "title")
            if "refresh" in keys:
                refresh = convert(
                    problems, keys["refresh"][1], _duration_in(*REFRESH_RANGE), "refresh"
                )
        elif isinstance(item, ScalarNode) and not is_null(item):
            url_node = item
            url = convert(problems, item, _url, None)
        else:
            problems.add(
                item,
                N_("each feed must be a URL or a mapping with 'url:', got %(found)s"),
                found=describe(item),
            )
            continue
        if url is INVALID:
            continue
        key = url if is_mail_key(url) else values.normalize_url(url)
        if key in urls:
            if is_mail_key(url):
                twice = N_(
                    "the mail source '%(url)s' is listed twice (first at line %(line)s);"
                    " keep only one"
                )
            else:
                twice = N_(
                    "the feed '%(url)s' is listed twice (first at line %(line)s); keep only one"
                )
            problems.add(url_node, twice, url=url, line=urls[key])
            continue
        urls[key] = url_node.start_mark.line + 1
        if title is INVALID or refresh is INVALID or tab is INVALID:
            continue
        feeds.append(
            FeedConfig(
                url=url, tab=tab, title=title, refresh=refresh, line=item.start_mark.line + 1
            )
        )
    return tuple(feeds)


def _explicitly_empty(node: Node | None) -> bool:
    """``[]`` written out (a flow list with no item), not a list that ends early."""
    return isinstance(node, SequenceNode) and bool(node.flow_style) and not node.value


def says_no_feeds(text: str, file: str) -> ConfigError | None:
    """None if a valid feeds.yaml with no feed says so on purpose, else the error that
    refuses to load it over a configuration that has feeds.

    On purpose means ``tabs: []``, or tabs that each say ``feeds: []`` (what the
    dashboard leaves after removing the last feed). An empty file, comments only,
    settings without ``tabs:``, ``tabs:`` with nothing under it, or tabs without
    feeds are what an editor's half-written file looks like: the first lines of the
    real one.
    """
    advice = Text(N_("to remove every feed on purpose, write 'tabs: []'"))
    root = compose(text, Problems(file))
    if is_null(root):
        if not text.strip():
            return fail(file, N_("the file is empty; %(advice)s"), advice=advice)
        return fail(file, N_("the file holds only comments, no 'tabs:'; %(advice)s"), advice=advice)
    assert isinstance(root, MappingNode)  # parse_config accepted it
    tabs = next((pair for pair in root.value if pair[0].value == "tabs"), None)
    if tabs is None:
        line, col = root.start_mark.line + 1, root.start_mark.column + 1
        return fail(
            file,
            N_("there is no 'tabs:' in this file, so no feed; %(advice)s"),
            line,
            col,
            advice=advice,
        )
    key, node = tabs
    if _explicitly_empty(node):
        return None
    if isinstance(node, SequenceNode) and node.value:
        feeds = [
            next((v for k, v in tab.value if k.value == "feeds"), None)
            for tab in node.value
            if isinstance(tab, MappingNode)
        ]
        if len(feeds) == len(node.value) and all(_explicitly_empty(f) for f in feeds):
            return None
    line, col = key.start_mark.line + 1, key.start_mark.column + 1
    return fail(file, N_("'tabs:' lists no feed; %(advice)s"), line, col, advice=advice)


class ConfigSource(YamlSource[Config]):
    """feeds.yaml as last seen valid; ``refresh()`` picks up hand edits once settled
    (see ``YamlSource``) and never goes from some feeds to none by accident."""

    def parse(self, text: str) -> Config:
        return parse_config(text, str(self.path))

    def missing(self) -> Config:
        raise fail(str(self.path), missing_advice())

    def check_change(self, old: Config, new: Config, text: str | None) -> ConfigError | None:
        if new.feeds or not old.feeds or text is None:
            return None
        return says_no_feeds(text, str(self.path))

    def summary(self, value: Config) -> str:
        return summarize(value)

    @property
    def config(self) -> Config | None:
        return self.value


__all__ = ["ConfigSource", "load_config", "parse_config", "summarize"]
