"""Offline check of a mission profile against the bundled corpus, with the X stand-in's rules.

`tweet-triage profile validate NAME` uses it: each stream rule is compiled by the same matcher
the X stand-in streams with (so a rule X would refuse is named here), and counted against the
49,570 bundled tweets, so a profile that would stream nothing locally is caught before a run.
Each rule is also tried on one of each answer the stand-in's scripted authors write to the
team's replies: they mention the account, and a rule for its mentions matches only those.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tweet_triage.profile import MissionProfile, ProfileError
from tweet_triage_local.corpus.store import load_tweets
from tweet_triage_local.xapi.authors import sample_answers
from tweet_triage_local.xapi.oauth import Account
from tweet_triage_local.xapi.rules import CompiledRule, RuleSyntaxError, TweetView, compile_rule


@dataclass(frozen=True)
class RuleMatches:
    tag: str
    value: str
    matched: int


@dataclass(frozen=True)
class CorpusMatches:
    """How many bundled tweets each rule (with the scripted answers), and any rule, matches."""

    tweets: int
    rules: list[RuleMatches]
    any_rule: int


def compile_rules(profile: MissionProfile) -> dict[str, CompiledRule]:
    """tag -> compiled rule; a rule X would refuse is a ProfileError naming its tag."""
    compiled: dict[str, CompiledRule] = {}
    for rule in profile.stream.rules:
        try:
            compiled[rule.tag] = compile_rule(rule.value)
        except RuleSyntaxError as exc:
            raise ProfileError(
                f"profile {profile.name!r}, rule {rule.tag!r}: X would refuse it: {exc.detail}"
            ) from exc
    return compiled


def count_matches(
    profile: MissionProfile, tweets: Iterable[Mapping[str, Any]] | None = None
) -> CorpusMatches:
    """Match every rule against the tweets (default: the bundled corpus). With the default, a
    rule's count also holds the scripted authors' answers it matches (a rule for the account's
    mentions matches only those); `tweets` and `any_rule` stay the corpus's."""
    compiled = compile_rules(profile)
    counts = dict.fromkeys(compiled, 0)
    total = any_rule = 0
    for tweet in load_tweets() if tweets is None else tweets:
        view = TweetView.from_tweet(tweet)
        total += 1
        hit = False
        for tag, rule in compiled.items():
            if rule.matches(view):
                counts[tag] += 1
                hit = True
        any_rule += hit
    if tweets is None:
        for answer in sample_answers(Account().as_json()):
            view = TweetView.from_tweet(answer)
            for tag, rule in compiled.items():
                counts[tag] += rule.matches(view)
    return CorpusMatches(
        tweets=total,
        rules=[RuleMatches(r.tag, r.value, counts[r.tag]) for r in profile.stream.rules],
        any_rule=any_rule,
    )
