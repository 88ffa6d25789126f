"""The suggested saved reply: voting among the nearest past tweets, and the bundled MiniLM's
embeddings telling support topics apart."""

from __future__ import annotations

import numpy as np
import pytest

from tweet_triage.live.replies.suggest import (
    ReplyExample,
    ReplySuggester,
    SentenceEncoder,
    hit_rate,
    suggest_from_vectors,
)


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_a_reply_used_often_on_close_tweets_beats_one_used_once_on_the_closest() -> None:
    history = np.stack([unit(1, 0.05), unit(1, 0.3), unit(1, 0.35), unit(1, 0.4)])
    assert suggest_from_vectors(unit(1, 0), history, [7, 3, 3, 3], k=4) == 3
    assert suggest_from_vectors(unit(1, 0), history, [7, 3, 3, 3], k=1) == 7


def test_no_suggestion_without_a_close_enough_tweet() -> None:
    history = np.stack([unit(0, 1)])
    assert suggest_from_vectors(unit(1, 0), history, [5], min_similarity=0.3) is None
    assert suggest_from_vectors(unit(1, 0), np.zeros((0, 2)), []) is None


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder()


LAUNCH_DELAY, IMAGES, THANKS = 1, 2, 3
HISTORY = [
    ReplyExample("why was the launch delayed again?", LAUNCH_DELAY),
    ReplyExample("launch postponed?? what happened with the rocket", LAUNCH_DELAY),
    ReplyExample("is the launch date moved, the countdown stopped", LAUNCH_DELAY),
    ReplyExample("when will we see the first pictures from the telescope", IMAGES),
    ReplyExample("where can I find the first images from webb", IMAGES),
    ReplyExample("any news on the first photos?", IMAGES),
    ReplyExample("thank you for all the hard work team!", THANKS),
    ReplyExample("congratulations to everyone, amazing job", THANKS),
]


def test_minilm_suggests_by_topic(encoder: SentenceEncoder) -> None:
    suggester = ReplySuggester(encoder, HISTORY, k=3)
    assert suggester.suggest("the launch got delayed, why?") == LAUNCH_DELAY
    assert suggester.suggest("when do the first images come out") == IMAGES
    assert suggester.suggest("great job to the whole team, thanks") == THANKS


def test_hit_rate_replays_in_order(encoder: SentenceEncoder) -> None:
    share, scored = hit_rate(encoder, HISTORY * 2, k=3, warm_up=len(HISTORY))
    assert scored == len(HISTORY) and share == 1.0
    share, scored = hit_rate(encoder, HISTORY, warm_up=len(HISTORY))
    assert scored == 0 and share == 0.0
