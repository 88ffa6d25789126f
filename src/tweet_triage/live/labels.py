"""The team's decisions leave the store here, as label rows: the one way labels flow to the model.

Decisions become needs-support labels by the rule in `tweet_triage.data.decisions`: the
labelling stage reads the CSV written here (`tweet-triage triage export-decisions`), and
`tweet-triage retrain` hands `model.retrain` the same rows with each tweet's text.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from tweet_triage.atomic_files import atomic_path
from tweet_triage.data.decisions import DECISION_COLUMNS, Decision

if TYPE_CHECKING:
    from tweet_triage.live.store import DecisionView, TriageStore


def decisions_frame(decisions: list[DecisionView]) -> pd.DataFrame:
    """Store decisions (`TriageStore.decisions()`) as label rows, oldest first."""
    rows = [
        {
            "id": str(d.tweet_id),
            "needs_support": Decision(d.decision).needs_support,
            "decision": d.decision,
            "decided_by": d.user_name,
            "decided_at": d.decided_at.isoformat(),
        }
        for d in decisions
    ]
    return pd.DataFrame(rows, columns=list(DECISION_COLUMNS))


def decisions_with_text(store: TriageStore) -> pd.DataFrame:
    """Every decision as a label row with the tweet's text: what `model.retrain` trains on."""
    frame = decisions_frame(store.decisions())
    texts = {i: store.get_tweet(i).text for i in frame["id"].unique()}
    return frame.assign(text=frame["id"].map(texts))


def write_decisions_csv(store: TriageStore, path: Path) -> int:
    """Every decision in the store (full history, who and when) as a CSV; rows written."""
    frame = decisions_frame(store.decisions())
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:
        frame.to_csv(partial, index=False)
    return len(frame)
