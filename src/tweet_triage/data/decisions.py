"""Labels from people: the inbox team's decisions beside the annotators' sentiments, and the
one rule that settles conflicts.

Every inbox decision is a label: "handled" and "needed_us" mean the tweet needed the team
(needs_support = 1), "not_for_us" means it did not (0). Decisions carry who and when, so
the decisions file keeps them. The conflict rule, defined here once and used by `label`
and by `retrain`:

1. an annotator's sentiment (0/1/2 in the annotations CSV) outranks any inbox decision on
   the same tweet (it is the more careful judgement, and it keeps the sentiment);
2. among decisions on one tweet, the latest one wins (people correct themselves);
3. annotations that disagree among themselves are handled by `label` as before
   (`conflicting_annotation`: left unlabelled).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import pandas as pd

from tweet_triage.errors import TriageError


class Decision(StrEnum):
    """What a person decided about a tweet: the one vocabulary of the inbox, its API, the loop."""

    HANDLED = "handled"
    NOT_FOR_US = "not_for_us"
    NEEDED_US = "needed_us"

    @property
    def needs_support(self) -> int:
        """The label the decision teaches the model: 1 unless the tweet was not for the team."""
        return 0 if self is Decision.NOT_FOR_US else 1

    @property
    def display(self) -> str:
        """How the inbox shows the decision."""
        return self.value.replace("_", " ")


DECISION_LABELS = {decision.value: decision.needs_support for decision in Decision}
DECISION_COLUMNS = ("id", "needs_support", "decision", "decided_by", "decided_at")
SOURCE_ANNOTATION = "annotation"
SOURCE_DECISION = "decision"
DECISION_OUTRANKED = "decision_outranked_by_annotation"
DECISION_SUPERSEDED = "decision_superseded"


class LabelFileError(TriageError):
    """A decisions/labels file the loop cannot use; the message names it and the fix."""


def read_decisions_csv(path: Path) -> pd.DataFrame:
    """A decisions CSV as written by `write_decisions_csv`, checked (one clear error)."""
    fix = (
        f"expected the columns {', '.join(DECISION_COLUMNS)} as "
        "`tweet-triage triage export-decisions` writes them"
    )
    try:
        frame = pd.read_csv(path, dtype={"id": str, "decided_by": str}, keep_default_na=False)
    except FileNotFoundError as exc:
        raise LabelFileError(f"{path}: decisions file not found; {fix}") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise LabelFileError(f"{path}: not a readable CSV ({exc}); {fix}") from exc
    missing = [c for c in DECISION_COLUMNS if c not in frame.columns]
    if missing:
        raise LabelFileError(f"{path}: missing column(s) {missing} in {list(frame.columns)}; {fix}")
    bad = frame[~frame["decision"].isin(list(DECISION_LABELS))]
    if len(bad):
        raise LabelFileError(
            f"{path}: decision {bad['decision'].iloc[0]!r} on tweet {bad['id'].iloc[0]} is not "
            f"one of {', '.join(DECISION_LABELS)}; {fix}"
        )
    frame["needs_support"] = frame["decision"].map(DECISION_LABELS).astype(int)
    return frame[list(DECISION_COLUMNS)]


@dataclass(frozen=True)
class ResolvedLabels:
    """One label per tweet, and the rows the rule set aside (with their reason)."""

    labels: pd.DataFrame  # id, sentiment (nullable Int64), needs_support, source
    conflicts: pd.DataFrame  # id, source, reason

    def counts(self) -> dict[str, Any]:
        return {
            "by_source": {
                k: int(v) for k, v in self.labels["source"].value_counts().sort_index().items()
            },
            "conflicts": {
                k: int(v) for k, v in self.conflicts["reason"].value_counts().sort_index().items()
            },
        }


def resolve_labels(annotations: pd.DataFrame, decisions: pd.DataFrame) -> ResolvedLabels:
    """Annotations (id, sentiment 0/1/2) and decisions (DECISION_COLUMNS) -> one label per id.

    The rule is the module's: annotation outranks decision; latest decision wins.
    """
    ann = annotations[["id", "sentiment"]].copy()
    ann["id"] = ann["id"].astype(str)
    ann["sentiment"] = ann["sentiment"].astype("Int64")
    ann["needs_support"] = (ann["sentiment"] <= 1).astype(int)
    ann["source"] = SOURCE_ANNOTATION

    dec = decisions.copy()
    dec["id"] = dec["id"].astype(str)
    dec["_at"] = pd.to_datetime(dec["decided_at"], utc=True, format="ISO8601")
    dec = dec.reset_index(drop=True).sort_values(["id", "_at"], kind="stable")
    latest = dec.drop_duplicates("id", keep="last")
    superseded = dec.drop(latest.index)
    outranked = latest[latest["id"].isin(ann["id"])]
    kept = latest[~latest["id"].isin(ann["id"])]
    from_decisions = pd.DataFrame(
        {
            "id": kept["id"],
            "sentiment": pd.array([pd.NA] * len(kept), dtype="Int64"),
            "needs_support": kept["needs_support"].astype(int),
            "source": SOURCE_DECISION,
        }
    )
    labels = pd.concat([ann, from_decisions], ignore_index=True)
    conflicts = pd.concat(
        [
            pd.DataFrame({"id": superseded["id"], "source": SOURCE_DECISION}).assign(
                reason=DECISION_SUPERSEDED
            ),
            pd.DataFrame({"id": outranked["id"], "source": SOURCE_DECISION}).assign(
                reason=DECISION_OUTRANKED
            ),
        ],
        ignore_index=True,
    )
    return ResolvedLabels(labels.reset_index(drop=True), conflicts)
