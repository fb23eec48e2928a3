"""The person's YAML files: feeds.yaml (tabs, feeds, settings) and contacts.yaml.

Loading validates everything and reports every problem at once as
``FILE:LINE:COL: message`` (``errors.ConfigError``); ``ConfigSource`` and
``ContactSource`` keep the last good version while noticing hand edits, applied
only once the file has been left alone (never half-written; the exact rules are in
``yamlfile.YamlSource``); the ``edit`` functions change the files for the dashboard,
round-trip (comments kept) and atomically.

Layout: ``values`` parses single values (durations, sizes, URLs, addresses),
``yamlfile`` reads YAML into positioned nodes and watches files, ``feeds`` and
``contacts`` walk the two file shapes, ``edit`` writes them back.
"""

from .contacts import ContactSource, load_contacts, parse_contacts
from .edit import (
    AlreadyFollowed,
    RemovedFeed,
    add_feed,
    add_tab,
    delete_tab,
    move_feed,
    remove_feed,
    rename_feed,
    rename_tab,
    reorder_tabs,
    restore_feed,
    save_contact,
    set_feed_refresh,
)
from .feeds import ConfigSource, load_config, parse_config, summarize
from .values import (
    check_feed_url,
    format_duration,
    format_size,
    normalize_url,
    parse_duration,
    parse_rate_limit,
    parse_size,
)
from .yamlfile import YamlSource

__all__ = [
    "AlreadyFollowed",
    "ConfigSource",
    "ContactSource",
    "YamlSource",
    "RemovedFeed",
    "add_feed",
    "add_tab",
    "check_feed_url",
    "delete_tab",
    "format_duration",
    "format_size",
    "load_config",
    "load_contacts",
    "move_feed",
    "normalize_url",
    "parse_config",
    "parse_contacts",
    "parse_duration",
    "parse_rate_limit",
    "parse_size",
    "remove_feed",
    "rename_feed",
    "rename_tab",
    "reorder_tabs",
    "restore_feed",
    "save_contact",
    "set_feed_refresh",
    "summarize",
]
