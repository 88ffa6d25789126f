"""X's weighted length rule, checked against the counts twitter-text's conformance cases give."""

from __future__ import annotations

import pytest

from tweet_triage.live.replies.x_text import MAX_WEIGHTED_LENGTH, weighted_length


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", 5),
        ("a" * 280, 280),
        ("日本語", 6),  # CJK counts 2 each
        ("😀", 2),
        ("👨‍👩‍👧", 2),  # one ZWJ sequence is one emoji
        ("👍🏽", 2),  # with a skin tone
        ("🇺🇸", 2),  # a flag: two regional indicators
        ("café", 4),
        ("cafe\u0301", 4),  # NFC first: e + combining acute is one character
        ("https://example.com/" + "x" * 200, 23),
        ("read https://example.com/a, then", 5 + 23 + 6),
        ("see www.webb.nasa.gov/content/about now", 4 + 23 + 4),
        ("see nasa.gov/webb.", 4 + 23 + 1),
        ("em\u2014dash", 7),  # general punctuation is light
        ("→", 2),  # arrows are outside the light ranges
    ],
)
def test_weighted_length_follows_twitter_text(text: str, expected: int) -> None:
    assert weighted_length(text).weighted == expected


def test_limit_is_280_weighted_characters() -> None:
    assert weighted_length("a" * MAX_WEIGHTED_LENGTH).valid
    assert not weighted_length("a" * (MAX_WEIGHTED_LENGTH + 1)).valid
    assert weighted_length("日" * 140).valid
    assert not weighted_length("日" * 141).valid
    assert weighted_length("😀" * 141).remaining == -2


def test_empty_text_is_not_a_post() -> None:
    assert not weighted_length("").valid


def test_a_long_url_still_fits() -> None:
    text = "a" * 250 + " https://example.com/" + "p" * 500
    assert weighted_length(text).weighted == 250 + 1 + 23
    assert weighted_length(text).valid


def test_mentions_and_emails_are_not_urls() -> None:
    assert weighted_length("mail me at team@nasa.gov").weighted == len("mail me at team@nasa.gov")
