"""Retrain, compare, promote: the gate both ways, the refusals, and the decisions (a data
frame, as the live half exports them) in the challenger's data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.unit.model.conftest import write_splits
from tests.unit.model.test_registry import loop_settings
from tweet_triage.model.evaluation_pool import in_evaluation_pool
from tweet_triage.model.retrain import (
    NotEnoughLabelsError,
    RetrainError,
    RetrainOptions,
    assemble_data,
    decision_labels,
    gate,
    retrain,
)


def result(pr_auc: float, missed: float) -> dict[str, Any]:
    return {"metrics": {"pr_auc": pr_auc}, "business": {"time_missed_min": missed}}


def test_gate_refuses_a_worse_or_barely_better_challenger_and_promotes_a_better_one() -> None:
    champion = result(0.80, 10.0)
    refused, why = gate(champion, result(0.78, 9.0), "pr_auc", 0.005)
    assert not refused and "does not beat" in why
    refused, _ = gate(champion, result(0.803, 9.0), "pr_auc", 0.005)
    assert not refused
    promoted, why = gate(champion, result(0.82, 10.0), "pr_auc", 0.005)
    assert promoted and "beats" in why
    refused, why = gate(champion, result(0.90, 10.5), "pr_auc", 0.005)
    assert not refused and "time missed" in why
    first, why = gate(None, result(0.5, 99.0), "pr_auc", 0.005)
    assert first and "no champion" in why


def decisions(ids: list[int], decision: str, needs_support: int) -> pd.DataFrame:
    """Decision rows with texts, as `live.labels.decisions_with_text` exports them."""
    return pd.DataFrame(
        {
            "id": [str(i) for i in ids],
            "needs_support": needs_support,
            "decision": decision,
            "decided_by": "alice",
            "decided_at": "2026-03-01T12:00:00+00:00",
            "text": [f"why is my app broken {i}" for i in ids],
        }
    )


def test_retrain_refuses_with_too_few_new_labels(tmp_path: Path) -> None:
    settings = loop_settings(tmp_path)
    write_splits(settings.data_dir)
    with pytest.raises(NotEnoughLabelsError, match=r"only 3 new label.* at least 50"):
        retrain(settings, decisions([1, 2, 3], "handled", 1), RetrainOptions(min_new_labels=50))


def test_decisions_without_their_texts_are_one_clear_error(tmp_path: Path) -> None:
    settings = loop_settings(tmp_path)
    write_splits(settings.data_dir)
    frame = decisions([1, 2], "handled", 1).drop(columns="text")
    with pytest.raises(RetrainError, match=r"lack the column.*text"):
        retrain(settings, frame, RetrainOptions(force=True))


def test_decisions_round_trip_into_the_challengers_data(tmp_path: Path) -> None:
    settings = loop_settings(tmp_path)
    write_splits(settings.data_dir)
    ids = list(range(10**6, 10**6 + 40))
    given = pd.concat(
        [decisions(ids[:30], "handled", 1), decisions(ids[30:], "not_for_us", 0)],
        ignore_index=True,
    )
    labels, counts = decision_labels(given, annotated_ids={str(ids[0])})
    assert counts["conflicts"] == {"decision_outranked_by_annotation": 1}
    assert len(labels) == 39 and labels["sentiment"].isna().all()
    assert labels.set_index("id").loc[str(ids[35]), "needs_support"] == 0
    sizes = assemble_data(settings.data_dir, labels, tmp_path / "assembled", 0.2)
    train = pd.read_parquet(tmp_path / "assembled" / "splits" / "train")
    test = pd.read_parquet(tmp_path / "assembled" / "splits" / "test")
    assert sizes["train_recent_labels"] + sizes["test_recent_labels"] == 39
    assert not set(train["id"]) & set(test["id"])
    assert all(in_evaluation_pool(i, 0.2) for i in set(test["id"]) & set(labels["id"]))
    assert (
        sizes["test"] == 24 + sizes["test_recent_labels"]
        and sizes["train"] == 48 + sizes["train_recent_labels"]
    )


def test_one_class_retrain_is_one_clear_error(tmp_path: Path) -> None:
    from tweet_triage.model.data import ModelDataError

    settings = loop_settings(tmp_path)
    write_splits(settings.data_dir)
    train = settings.data_dir / "splits" / "train" / "part-00000.parquet"
    frame = pd.read_parquet(train)
    frame[frame["needs_support"] == 1].to_parquet(train, index=False)
    with pytest.raises(ModelDataError, match="one class only"):
        retrain(
            settings,
            decisions(list(range(500, 560)), "handled", 1),
            RetrainOptions(min_new_labels=10, eval_share=0.0),
        )


def test_evaluation_pool_is_a_stable_share_of_ids() -> None:
    ids = [str(10**18 + i) for i in range(4000)]
    share = sum(in_evaluation_pool(i, 0.2) for i in ids) / len(ids)
    assert 0.17 < share < 0.23
    assert [in_evaluation_pool(i) for i in ids[:50]] == [in_evaluation_pool(i) for i in ids[:50]]
    assert not any(in_evaluation_pool(i, 0.0) for i in ids[:100])
