"""The common shape of a URL in a feed, which every URL function we apply keeps as is.

An absolute http(s) URL with a lower-case scheme, a plain host, characters that need
no encoding, no ";" (urlparse's params), no empty "?" or "#" (urlunparse drops them),
no backslash, no brackets. ``urllib.parse.urljoin`` returns such a URL unchanged
whatever the base, and ``sanitize.clean_url`` accepts it unchanged. Most links and
pictures of a feed have this shape: recognizing it with one regular expression saves
parsing and rebuilding them (urljoin costs ~10 µs a call; issue 14).
tests/test_sanitize.py and tests/test_parse.py compare both ways on generated URLs.

A leaf module: the parser and the sanitizer both use it.
"""

from __future__ import annotations

import re

_URL_CHARS = r"[A-Za-z0-9\-._~!$&'()*+,=:@%/]"
PLAIN_ABSOLUTE = re.compile(
    rf"https?://[A-Za-z0-9.-]+(?::[0-9]{{1,5}})?(?:/{_URL_CHARS}*)?"
    rf"(?:\?(?:{_URL_CHARS}|\?)+)?(?:\#{_URL_CHARS}+)?"
)


def is_plain_absolute(url: str) -> bool:
    return PLAIN_ABSOLUTE.fullmatch(url) is not None
