"""The general labelled set: no tweet of val or test reaches training."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tweet_triage.model import general
from tweet_triage.model.data import ModelDataError
from tweet_triage.model.names import NEEDS_SUPPORT_ONLY

HELD_OUT = [
    pd.DataFrame({"id": ["1", "2"], "model_text": ["My app is broken", "love it"]}),
    pd.DataFrame({"id": ["3"], "model_text": ["see you soon"]}),
]
GENERAL = pd.DataFrame(
    {
        "id": ["1", "10", "11", "12"],  # "1" is a val id
        "text": ["other text", "my  APP is broken", "fine day", "help please"],  # 10: val text
        "needs_support": [1, 1, 0, 1],
    }
)


def test_a_users_set_that_overlaps_is_refused_with_the_count(tmp_path: Path) -> None:
    path = tmp_path / "general.csv"
    GENERAL.to_csv(path, index=False)
    with pytest.raises(ModelDataError, match="2 tweet\\(s\\) also in the mission's val or test"):
        general.general_set(str(path), HELD_OUT, need_sentiment=False)
    GENERAL.iloc[2:].to_csv(path, index=False)
    clean = general.general_set(str(path), HELD_OUT, need_sentiment=True)
    assert clean["id"].tolist() == ["11", "12"]
    # No sentiment given: the binary labels map as inbox decisions do.
    assert clean["sentiment"].tolist() == [2, NEEDS_SUPPORT_ONLY]
    assert clean["model_text"].tolist() == ["fine day", "help please"]


def test_the_bundled_set_drops_every_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(general, "bundled_corpus", lambda: GENERAL.assign(sentiment=[0, 1, 2, 0]))
    kept = general.general_set(general.BUNDLED, HELD_OUT, need_sentiment=True)
    assert kept["id"].tolist() == ["11", "12"]
    assert kept["sentiment"].tolist() == [2, 0]


def test_the_real_bundled_corpus_loads() -> None:
    corpus = general.bundled_corpus()
    assert len(corpus) > 40_000
    assert set(corpus["needs_support"].unique()) == {0, 1}
    assert (corpus["needs_support"] == corpus["sentiment"].isin([0, 1])).all()


def test_mix_adds_only_new_ids() -> None:
    mission = pd.DataFrame({"id": ["11", "20"], "model_text": ["a", "b"], "needs_support": [0, 1]})
    extra = pd.DataFrame(
        {"id": ["11", "12"], "model_text": ["a", "c"], "needs_support": [0, 1], "x": [1, 2]}
    )
    mixed = general.mix(mission, extra)
    assert mixed["id"].tolist() == ["11", "20", "12"]
    assert list(mixed.columns) == ["id", "model_text", "needs_support"]


def test_a_general_set_without_labels_names_the_option(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    GENERAL.drop(columns="needs_support").to_csv(path, index=False)
    with pytest.raises(ModelDataError, match=r"--general-set .* lacks column"):
        general.general_set(str(path), HELD_OUT, need_sentiment=False)


def test_training_mixes_a_clean_set_and_refuses_a_leaking_one(
    tiny_data: Path, tmp_path: Path
) -> None:
    from tests.unit.model.conftest import tiny_settings
    from tweet_triage.model.arguments import train_arguments
    from tweet_triage.model.data import load_split
    from tweet_triage.model.training import load_splits

    settings = tiny_settings(tmp_path, tiny_data)
    test = load_split(tiny_data, "test")
    leaking = pd.DataFrame(
        {"id": ["g1", test["id"].iloc[0]], "text": ["fresh words", "x"], "needs_support": [1, 0]}
    )
    path = tmp_path / "general.csv"
    leaking.to_csv(path, index=False)
    with pytest.raises(ModelDataError, match="1 tweet\\(s\\) also in"):
        load_splits(train_arguments(settings, general_set=str(path)))
    leaking.iloc[:1].to_csv(path, index=False)
    train_frame, _, label = load_splits(train_arguments(settings, general_set=str(path)))
    plain, _, _ = load_splits(train_arguments(settings, general_set="none"))
    assert len(train_frame) == len(plain) + 1
    assert train_frame[label].iloc[-1] == NEEDS_SUPPORT_ONLY  # three-class: binary label
