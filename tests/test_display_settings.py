"""settings.display in feeds.yaml and a feed's own ``headlines:`` (config/display.py):
defaults, every key, and mistakes reported as FILE:LINE:COL with what to write."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC

import pytest

from aggregator.config import parse_config
from aggregator.config.display import machine_zone, zone
from aggregator.errors import ConfigError
from aggregator.models import DisplaySettings

FEED = "https://jobs.example.org/feed.xml"


def display_of(block: str, feed_extra: str = "") -> DisplaySettings:
    text = f"settings:\n  display:\n{block}tabs:\n  - name: Emplois\n    feeds:\n"
    text += f"      - url: {FEED}\n{feed_extra}      - https://other.example/feed\n"
    return parse_config(text, "feeds.yaml").settings.display


def problems_of(block: str, feed_extra: str = "") -> list[str]:
    with pytest.raises(ConfigError) as e:
        display_of(block, feed_extra)
    return str(e.value).splitlines()


def test_defaults_when_absent_or_empty():
    bare = parse_config(f"tabs:\n  - name: A\n    feeds: [{FEED}]\n", "feeds.yaml")
    assert bare.settings.display == DisplaySettings()
    assert display_of("") == DisplaySettings()
    assert DisplaySettings().headlines == 5 and DisplaySettings().unread_only is False


def test_every_key_and_a_feeds_own_headlines():
    shown = display_of(
        "    unread_only: true\n    headlines: 8\n    mark_read_on_scroll: true\n"
        "    time_zone: America/Montreal\n    locale: fr-CA\n",
        "        headlines: 12\n",
    )
    assert shown.unread_only and shown.mark_read_on_scroll
    assert (shown.headlines, shown.time_zone, shown.locale) == (8, "America/Montreal", "fr_CA")
    assert shown.headlines_for(FEED) == 12
    assert shown.headlines_for("https://other.example/feed") == 8
    assert str(zone(shown)) == "America/Montreal"


def test_mistakes_say_where_and_what_to_write():
    lines = problems_of(
        "    unread: yes\n    headlines: 80\n    time_zone: America/Montreall\n"
        "    locale: de\n    mark_read_on_scroll: sometimes\n",
        "        headlines: zero\n",
    )
    assert lines == [
        "feeds.yaml:3:5: 'unread' is not a display key; did you mean 'unread_only'?",
        "feeds.yaml:4:16: headlines: must be a whole number from 1 to 50, got '80'",
        "feeds.yaml:5:16: time_zone: 'America/Montreall' is not a time zone"
        " (did you mean 'America/Montreal'?)",
        "feeds.yaml:6:13: locale: must be one of fr_CA, fr_FR, en, got 'de'",
        "feeds.yaml:7:26: mark_read_on_scroll: expected true or false, got 'sometimes'",
        "feeds.yaml:12:20: headlines: must be a whole number from 1 to 50, got 'zero'",
    ]
    assert problems_of("    - headlines\n") == [
        "feeds.yaml:3:5: 'display' must be a mapping of display settings, got a list"
    ]


def test_default_zone_is_the_machines():
    # TZ as a real process sees it: the zone of the machine, not UTC by assumption
    code = (
        "from aggregator.config.display import zone; from aggregator.models import "
        "DisplaySettings; print(zone(DisplaySettings()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"TZ": "Europe/Paris", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "Europe/Paris"
    assert machine_zone() is not None
    assert zone(None) == machine_zone() or machine_zone() == UTC
