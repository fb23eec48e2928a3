"""Shared fixtures. Module-specific fixtures live in their test modules."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from feedserver import FeedServer

FEEDS_DIR = Path(__file__).parent / "data" / "feeds"


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A started FeedServer (tests/feedserver.py) serving tests/data/feeds/."""
    with FeedServer(FEEDS_DIR) as server:
        yield server


@pytest.fixture
def smtp() -> Iterator["SmtpServer"]:  # noqa: F821 - imported below, to append only
    """A started SmtpServer (tests/smtpserver.py): a real aiosmtpd on 127.0.0.1."""
    from smtpserver import SmtpServer

    with SmtpServer() as server:
        yield server
