"""The team's decisions as label rows, and the held-out evaluation pool of the loop.

Decisions become needs-support labels by the rule in `tweet_triage.data.decisions` (the
labelling stage reads the file written here). Evaluation pool: a fixed share of tweet ids,
chosen by a hash of the id (independent of any model score, so unbiased), is kept apart:
labels on these tweets are never trained on and are what `retrain` adds to the fixed test
split to compare champion and challenger. The random share of active labelling draws from
exactly this pool.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from tweet_triage.data.decisions import DECISION_COLUMNS, DECISION_LABELS

DEFAULT_EVAL_SHARE = 0.2


def in_evaluation_pool(tweet_id: str, share: float = DEFAULT_EVAL_SHARE) -> bool:
    """Whether a tweet belongs to the held-out evaluation pool (a hash of its id)."""
    digest = hashlib.sha256(f"tweet-triage-eval:{tweet_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def decisions_frame(decisions: list[Any]) -> pd.DataFrame:
    """Store decisions (`TriageStore.decisions()`) as label rows, oldest first."""
    rows = [
        {
            "id": str(d.tweet_id),
            "needs_support": DECISION_LABELS[d.decision],
            "decision": d.decision,
            "decided_by": d.user_name,
            "decided_at": d.decided_at.isoformat(),
        }
        for d in decisions
    ]
    return pd.DataFrame(rows, columns=list(DECISION_COLUMNS))


def write_decisions_csv(store: Any, path: Path) -> int:
    """Every decision in the store (full history, who and when) as a CSV; rows written."""
    frame = decisions_frame(store.decisions())
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    frame.to_csv(partial, index=False)
    partial.replace(path)
    return len(frame)
