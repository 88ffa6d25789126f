"""The stand-in's rule language: each operator, precedence, and the rules X refuses."""

from __future__ import annotations

import re

import pytest

from tweet_triage_local.corpus.tweets import tweet_object
from tweet_triage_local.xapi.rules import RuleSyntaxError, TweetView, compile_rule

WEBB = tweet_object(640436841431347200, "The James Webb telescope's first image! #JWST @NASA")
WEBBING = tweet_object(640436841431347201, "New webbing for my backpack, so happy")
RETWEET = tweet_object(640436841431347202, "RT @NASAWebb: Webb sees a galaxy http://t.co/abc123")
REPLY = tweet_object(640436841431347203, "@NASA why is Webb's launch late? covid-19 again?")
PLAIN = tweet_object(640436841431347204, "Hubble still rocks, don't forget it 🚀")


def matches(rule: str, tweet: dict) -> bool:
    return compile_rule(rule).matches(TweetView.from_tweet(tweet))


def matching(rule: str) -> set[str]:
    names = {"webb": WEBB, "webbing": WEBBING, "rt": RETWEET, "reply": REPLY, "plain": PLAIN}
    return {name for name, tweet in names.items() if matches(rule, tweet)}


def test_keyword_is_case_insensitive_and_token_aware() -> None:
    assert matching("webb") == {"webb", "rt", "reply"}  # not "webbing"
    assert matching("WEBBING") == {"webbing"}
    assert matching("telescope") == {"webb"}  # "telescope's" tokenises to telescope, s


def test_keyword_with_punctuation_matches_as_a_token_sequence() -> None:
    assert matching("covid-19") == {"reply"}
    assert matching("don't") == {"plain"}


def test_keyword_does_not_match_inside_links() -> None:
    assert matching("co") == set()
    assert matching("abc123") == set()


def test_emoji_keyword_matches_the_character() -> None:
    assert matching("🚀") == {"plain"}


def test_exact_phrase() -> None:
    assert matching('"james webb"') == {"webb"}
    assert matching('"webb james"') == set()
    assert matching('"first image"') == {"webb"}


def test_hashtag_and_mention_are_entity_matches() -> None:
    assert matching("#jwst") == {"webb"}
    assert matching("#JWS") == set()  # exact, not a prefix
    assert matching("@nasa") == {"webb", "reply"}  # not @NASAWebb
    assert matching("@NASAWebb") == {"rt"}


def test_implicit_and_or_and_precedence() -> None:
    assert matching("webb hubble") == set()
    assert matching("webb OR hubble") == {"webb", "rt", "reply", "plain"}
    # AND binds tighter than OR: (hubble) OR (webb #jwst)
    assert matching("hubble OR webb #jwst") == {"plain", "webb"}
    assert matching("(hubble OR webb) #jwst") == {"webb"}
    assert matching("webb or") == set()  # lowercase "or" is a keyword, so: webb AND or


def test_negation_and_conjunction_operators() -> None:
    assert matching("webb -is:retweet") == {"webb", "reply"}
    assert matching("webb is:retweet") == {"rt"}
    assert matching("webb is:reply") == {"reply"}
    assert matching("webb -@nasa") == {"rt"}
    assert matching('webb -"james webb"') == {"rt", "reply"}
    assert matching("webb has:links") == {"rt"}
    assert matching("webb lang:en") == {"webb", "rt", "reply"}
    assert matching("webb lang:fr") == set()
    assert matching("webb has:hashtags") == {"webb"}
    assert matching("webb has:mentions") == {"webb", "rt", "reply"}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("", "non-empty"),
        ("(webb", "missing ')'"),
        ("webb)", "Unbalanced ')'"),
        ('"webb', "Unterminated quoted phrase"),
        ("webb OR", "'OR' must be followed"),
        ("OR webb", "Expected an operator"),
        ("webb - hubble", "negation '-' must be followed"),
        ("-(webb OR hubble) nasa", "Negating a group"),
        ("-webb", "positive, standalone operator"),
        ("is:retweet lang:en", "positive, standalone operator"),
        ("webb OR is:reply", "positive, standalone operator"),
        ("webb is:nonsense", "invalid operator 'is:nonsense'"),
        ("webb foo:bar", "invalid operator 'foo'"),
        ("webb from:nasa", "cannot evaluate 'from:'"),
        ("webb has:images", "cannot evaluate 'has:images'"),
        ("webb lang:english", "not a valid language code"),
        ("x" * 1025, "maximum is 1024"),
    ],
)
def test_rules_x_refuses(rule: str, message: str) -> None:
    with pytest.raises(RuleSyntaxError, match=re.escape(message)):
        compile_rule(rule)


def test_error_detail_carries_the_position() -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        compile_rule("webb (hubble")
    assert caught.value.detail.endswith("(at position 6)")
