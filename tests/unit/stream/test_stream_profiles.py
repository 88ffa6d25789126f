from __future__ import annotations

import re

import pytest
import yaml

from tweet_triage.profile import ProfileError, load_profile
from tweet_triage_local.xapi.problems import FIELD_PARAMETERS
from tweet_triage_local.xapi.rules import compile_rule


@pytest.mark.parametrize("name", ["jwst", "demo"])
def test_shipped_profiles_have_valid_tagged_rules_within_x_limits(name: str) -> None:
    profile = load_profile(name)
    for rule in profile.stream.rules:
        compile_rule(rule.value)  # the stand-in's parser, X's syntax
        assert len(rule.value) <= 512, rule.tag
        assert "-is:retweet" in rule.value, rule.tag
        # Topic rules are English; whoever answers the team's account is heard in any language.
        if rule.tag != "team-account":
            assert "lang:en" in rule.value, rule.tag
    assert "team-account" in [rule.tag for rule in profile.stream.rules]


@pytest.mark.parametrize("name", ["jwst", "demo"])
def test_drop_groups_have_no_duplicates_or_stray_punctuation(name: str) -> None:
    groups = load_profile(name).filter.drop_terms
    terms = [t for group in groups.values() for t in group]
    assert len(terms) == len(set(terms))
    assert not [t for t in terms if re.search(r"[,;]$|^\s|\s$", t)]


def test_jwst_keeps_the_original_mission_terms_and_drop_groups() -> None:
    profile = load_profile("jwst")
    assert {"webb", "jwst", "sunshield"} <= set(profile.filter.keep_terms)
    assert "james webb" in profile.filter.keep_phrases
    assert set(profile.filter.drop_terms) == {
        "crypto", "video_games", "non_english", "misc", "religious", "inappropriate"
    }  # fmt: skip
    assert "muslims" in profile.filter.drop_terms["religious"]


def test_a_rule_over_xs_length_limit_names_the_file(tmp_path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "long",
                "stream": {"rules": [{"value": "a " * 600, "tag": "t"}]},
                "filter": {},
            }
        )
    )
    with pytest.raises(ProfileError, match=r"long.yaml.*stream.rules.0.value"):
        load_profile(str(path))


@pytest.mark.parametrize("name", ["jwst", "demo"])
def test_requested_fields_and_expansions_are_ones_x_knows(name: str) -> None:
    stream = load_profile(name).stream
    for parameter, values in (
        ("tweet.fields", stream.tweet_fields),
        ("expansions", stream.expansions),
        ("user.fields", stream.user_fields),
    ):
        assert set(values) <= FIELD_PARAMETERS[parameter], parameter
