"""The held-out evaluation pool of the closed loop: a fixed share of tweet ids, by a hash.

Membership depends on the id alone (not on any model score), so the pool is an unbiased
sample. Labels on these tweets are never trained on: retrain adds them to the fixed test split
to compare champion and challenger, and the random share of active labelling draws from it.
"""

from __future__ import annotations

import hashlib

DEFAULT_EVAL_SHARE = 0.2


def in_evaluation_pool(tweet_id: str, share: float = DEFAULT_EVAL_SHARE) -> bool:
    """Whether a tweet belongs to the held-out evaluation pool (a hash of its id)."""
    digest = hashlib.sha256(f"tweet-triage-eval:{tweet_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share
