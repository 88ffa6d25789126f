"""The label page's next tweet, drawn from the triage store by active labelling's rule
(`model.active`): the evaluation pool at random a share of the time, else the undecided tweet
closest to the threshold."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tweet_triage.model.active import DEFAULT_RANDOM_SHARE, EVALUATION, TRAINING
from tweet_triage.model.evaluation_pool import in_evaluation_pool

if TYPE_CHECKING:
    from tweet_triage.live.store import TriageStore, TweetView

FIRST_READ = 20  # undecided tweets read first, beyond the skipped ones


def next_from_store(
    store: TriageStore,
    *,
    random_share: float = DEFAULT_RANDOM_SHARE,
    skip: set[str] | None = None,
    rng: np.random.Generator | None = None,
    window: int = 200,
) -> tuple[TweetView, str] | None:
    """The next tweet of the store for the label page, and its pool; None when none is left.

    With probability `random_share` a random undecided tweet of the evaluation pool, else the
    undecided tweet closest to the threshold (the lowest score the scorer flagged).
    """
    skip = skip or set()
    rng = rng or np.random.default_rng()
    lowest_flagged = store.lowest_flagged_score()
    threshold = 0.5 if lowest_flagged is None else lowest_flagged
    pools: list[tuple[str, float | None]] = [(EVALUATION, None), (TRAINING, threshold)]
    # A short read finds the next tweet almost always (a fifth of the tweets are in the
    # evaluation pool); the whole window is read only when it does not.
    first_read = min(window, len(skip) + FIRST_READ)
    for pool, closest_to in pools if rng.random() < random_share else pools[::-1]:
        for limit in dict.fromkeys((first_read, window)):
            for tweet in store.undecided(closest_to=closest_to, limit=limit):
                if tweet.id not in skip and (pool == EVALUATION) == in_evaluation_pool(tweet.id):
                    return tweet, pool
    return None
