"""What keeps the scripted authors' answers flowing: every mission profile's rules match them
(they mention the team's account), and a stand-in whose last replay reached the end of the
corpus (after `make demo`) streams again from the start when started again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tweet_triage.profile import available_profiles, load_profile
from tweet_triage_local.corpus.tweets import tweet_object
from tweet_triage_local.profile_check import count_matches
from tweet_triage_local.xapi.authors import ANSWERS, sample_answers
from tweet_triage_local.xapi.oauth import Account
from tweet_triage_local.xapi.standin import POSITION_FILE, StandIn

CORPUS = [tweet_object(640436841431347200 + (i << 22), f"tweet {i}") for i in range(3)]


@pytest.mark.parametrize("name", available_profiles())
def test_every_profile_streams_the_answers_to_the_team(name: str) -> None:
    answers = sample_answers(Account().as_json())
    assert all(a["text"].startswith("@WebbTriageDemo ") for a in answers)
    profile = load_profile(name)
    matches = count_matches(profile, answers)
    assert matches.any_rule == len(ANSWERS)
    assert "@WebbTriageDemo" in profile.filter.keep_terms  # and the scorer's filter keeps them
    assert "author_id" in profile.stream.expansions
    assert {"conversation_id", "author_id", "in_reply_to_user_id"} <= set(
        profile.stream.tweet_fields
    )


def test_a_replay_that_reached_the_end_starts_again(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    saved = {"position": len(CORPUS), "corpus_size": len(CORPUS), "next_id": None}
    (state / POSITION_FILE).write_text(json.dumps(saved))
    assert StandIn(CORPUS, token="t", state_dir=state).position == 0
    saved["position"] = 2
    (state / POSITION_FILE).write_text(json.dumps(saved))
    assert StandIn(CORPUS, token="t", state_dir=state).position == 2  # a stop midway resumes
