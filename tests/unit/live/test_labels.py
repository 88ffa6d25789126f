"""Decisions become labels: the mapping, the conflict rule, the file, undo, the Spark stage."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from tests.unit.live.conftest import NOW, scored
from tweet_triage.data.decisions import (
    DECISION_OUTRANKED,
    DECISION_SUPERSEDED,
    LabelFileError,
    read_decisions_csv,
    resolve_labels,
)
from tweet_triage.live.labels import write_decisions_csv
from tweet_triage.live.store import TriageStore, UnknownTweetError


@pytest.fixture
def decided(store: TriageStore) -> TriageStore:
    store.upsert_scored([scored(i, p) for i, p in ((1, 0.9), (2, 0.8), (3, 0.2), (4, 0.6))])
    alice = store.add_user("alice", "x").id
    bob = store.add_user("bob", "x").id
    at = NOW + timedelta(minutes=1)
    store.decide("1", alice, "handled", at)
    store.decide("2", alice, "not_for_us", at)
    store.decide("2", bob, "handled", at + timedelta(minutes=5))  # latest wins: 1
    store.decide("3", bob, "needed_us", at)
    store.decide("4", bob, "not_for_us", at)  # outranked by the annotation below
    return store


def test_decisions_round_trip_into_labels(decided: TriageStore, tmp_path: Path) -> None:
    path = tmp_path / "labels" / "decisions.csv"
    assert write_decisions_csv(decided, path) == 5
    decisions = read_decisions_csv(path)
    assert set(decisions["decided_by"]) == {"alice", "bob"}
    annotations = pd.DataFrame({"id": ["4", "9"], "sentiment": [0, 2]})
    resolved = resolve_labels(annotations, decisions)
    labels = resolved.labels.set_index("id")
    assert labels["needs_support"].to_dict() == {"1": 1, "2": 1, "3": 1, "4": 1, "9": 0}
    assert labels.loc["4", "source"] == "annotation" and labels.loc["4", "sentiment"] == 0
    assert pd.isna(labels.loc["3", "sentiment"]) and labels.loc["3", "source"] == "decision"
    assert resolved.counts() == {
        "by_source": {"annotation": 2, "decision": 3},
        "conflicts": {DECISION_OUTRANKED: 1, DECISION_SUPERSEDED: 1},
    }


def test_not_for_us_is_zero_and_latest_wins_whatever_the_file_order(tmp_path: Path) -> None:
    decisions = pd.DataFrame(
        {
            "id": ["7", "7"],
            "needs_support": [0, 1],
            "decision": ["not_for_us", "handled"],
            "decided_by": ["a", "b"],
            "decided_at": ["2026-03-01T12:05:00+00:00", "2026-03-01T12:00:00+00:00"],
        }
    )
    labels = resolve_labels(pd.DataFrame({"id": [], "sentiment": []}), decisions).labels
    assert labels["needs_support"].tolist() == [0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("tweet,label\n1,0\n", r"missing column\(s\)"),
        (
            "id,needs_support,decision,decided_by,decided_at\n1,1,maybe,a,2026-01-01\n",
            "decision 'maybe' on tweet 1",
        ),
    ],
)
def test_a_decisions_file_with_wrong_columns_or_values_is_one_clear_error(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "decisions.csv"
    path.write_text(content)
    with pytest.raises(LabelFileError, match=message):
        read_decisions_csv(path)
    with pytest.raises(LabelFileError, match="not found"):
        read_decisions_csv(tmp_path / "none.csv")


def test_decisions_on_unknown_ids_are_refused_naming_the_id(store: TriageStore) -> None:
    user = store.add_user("alice", "x").id
    with pytest.raises(UnknownTweetError, match="404404"):
        store.decide("404404", user, "handled")


def test_undo_removes_only_this_users_latest_decision(decided: TriageStore) -> None:
    bob = decided.user_by_name("bob")
    assert bob is not None
    assert decided.undo_last_decision("2", bob.id)
    assert [d.decision for d in decided.decisions() if d.tweet_id == "2"] == ["not_for_us"]
    assert not decided.undo_last_decision("1", bob.id)


def test_label_stage_reads_decisions_beside_annotations(spark: object, tmp_path: Path) -> None:
    from pyspark.sql import functions as F

    from tweet_triage.data.label import annotate, read_annotations

    annotations = tmp_path / "annotations.csv"
    annotations.write_text("id,sentiment\n1000,2\n1001,1\n")
    decisions = tmp_path / "decisions.csv"
    decisions.write_text(
        "id,needs_support,decision,decided_by,decided_at\n"
        "1000,1,handled,a,2026-03-01T12:00:00+00:00\n"  # outranked by the annotation
        "1002,0,not_for_us,a,2026-03-01T12:00:00+00:00\n"
        "1003,0,not_for_us,a,2026-03-01T12:00:00+00:00\n"
        "1003,1,needed_us,b,2026-03-01T12:09:00+00:00\n"
    )
    found = read_annotations(spark, annotations, decisions)  # type: ignore[arg-type]
    reasons = {r["reason"]: r["count"] for r in found.rejected.groupBy("reason").count().collect()}
    assert reasons == {DECISION_OUTRANKED: 1, DECISION_SUPERSEDED: 1}
    rows = [(str(1000 + i), f"tweet {i}") for i in range(5)]
    processed = spark.createDataFrame(rows, "id string, text string").withColumn(  # type: ignore[attr-defined]
        "model_text", F.col("text")
    )
    got = {
        r["id"]: (r["sentiment"], r["needs_support"], r["labelled"], r["label_source"])
        for r in annotate(processed, found.valid).collect()
    }
    assert got == {
        "1000": (2, 0, True, "annotation"),
        "1001": (1, 1, True, "annotation"),
        "1002": (None, 0, True, "decision"),
        "1003": (None, 1, True, "decision"),
        "1004": (None, None, False, None),
    }
