"""X's length rule for a post: 280 weighted characters, as twitter-text v3 counts them.

X publishes the rule as twitter-text's configuration (`v3.json`) and reference code; no
maintained Python port exists (`twitter-text-parser` needs the removed `pkg_resources`), so
this module implements the published weighting:

- the text is NFC-normalised first;
- every URL counts `TRANSFORMED_URL_LENGTH` (23), whatever its length, because X shortens
  it to a t.co link;
- an emoji, including a sequence joined by zero-width joiners, skin tones or a flag's two
  regional indicators, counts 2;
- any other code point counts 1 inside the light ranges (Latin and most alphabetic scripts,
  general punctuation spaces and marks) and 2 elsewhere (CJK, most symbols).

URLs are recognised with a scheme (`http://`, `https://`) or as `www.` hosts, and as bare
hosts ending in a common top-level domain (`example.com/path`); twitter-text's full list of
every top-level domain is not reproduced, so a bare host under a rare domain counts its
characters instead of 23.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

import regex

MAX_WEIGHTED_LENGTH = 280
TRANSFORMED_URL_LENGTH = 23
_SCALE = 100
_DEFAULT_WEIGHT = 200
_EMOJI_WEIGHT = 200
_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))

_COMMON_TLDS = (
    "com|org|net|edu|gov|mil|int|io|co|ai|app|dev|info|biz|me|tv|us|uk|de|fr|jp|ca|au|in|"
    "nl|se|no|es|it|ru|ch|be|at|dk|fi|pl|br|mx|nz|ie|ly|gl|gd|fm|to|cc|space|science|news"
)
_URL = regex.compile(
    r"(?<![\w@#$.-])(?:"
    r"https?://[^\s\u2026<>\"]+"
    r"|www\.[^\s\u2026<>\"]+"
    rf"|(?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+(?:{_COMMON_TLDS})(?![\w-])(?:/[^\s\u2026<>\"]*)?"
    r")",
    regex.IGNORECASE,
)
_URL_TRAILING = ".,;:!?'\")]}"
_EMOJI = regex.compile(r"\p{Extended_Pictographic}|\p{Regional_Indicator}")


@dataclass(frozen=True)
class PostLength:
    """The weighted length of a text and whether X accepts it."""

    weighted: int
    limit: int = MAX_WEIGHTED_LENGTH

    @property
    def valid(self) -> bool:
        return 0 < self.weighted <= self.limit

    @property
    def remaining(self) -> int:
        return self.limit - self.weighted


def _url_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for match in _URL.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in _URL_TRAILING:
            end -= 1
        spans.append((start, end))
    return spans


def _code_point_weight(character: str) -> int:
    code = ord(character)
    for low, high in _LIGHT_RANGES:
        if low <= code <= high:
            return _SCALE
    return _DEFAULT_WEIGHT


def _plain_weight(text: str) -> int:
    total = 0
    for cluster in regex.findall(r"\X", text):
        if _EMOJI.search(cluster):
            total += _EMOJI_WEIGHT
        else:
            total += sum(_code_point_weight(character) for character in cluster)
    return total


def weighted_length(text: str) -> PostLength:
    """How X counts `text` against its 280-character limit."""
    normalised = unicodedata.normalize("NFC", text)
    total = 0
    position = 0
    for start, end in _url_spans(normalised):
        total += _plain_weight(normalised[position:start]) + TRANSFORMED_URL_LENGTH * _SCALE
        position = end
    total += _plain_weight(normalised[position:])
    return PostLength(weighted=total // _SCALE)


def counting_rules() -> dict[str, Any]:
    """X's counting rule for the reply box's live count (web/static/x_text.js), taken from
    this module so that the page counts as the server does (the server decides)."""
    return {
        "limit": MAX_WEIGHTED_LENGTH,
        "urlLength": TRANSFORMED_URL_LENGTH,
        "scale": _SCALE,
        "defaultWeight": _DEFAULT_WEIGHT,
        "emojiWeight": _EMOJI_WEIGHT,
        "light": [list(r) for r in _LIGHT_RANGES],
        # JavaScript's unicode regular expressions refuse a needless escape such as \"
        "url": _URL.pattern.replace('\\"', '"'),
        "urlTrailing": _URL_TRAILING,
        "emoji": _EMOJI.pattern,
    }
