"""Reading splits and input files: every format, and clear errors on bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.unit.model.conftest import make_split, write_splits
from tweet_triage.model.data import ModelDataError, load_split, read_table, write_table

FRAME = pd.DataFrame({"id": ["007", "2"], "text": ["NA", "hello, world"]})


@pytest.mark.parametrize("name", ["in.csv", "in.jsonl", "in.parquet", "in.json", "in.csv.gz"])
def test_read_write_round_trip(tmp_path: Path, name: str) -> None:
    write_table(FRAME, tmp_path / name)
    back = read_table(tmp_path / name)
    pd.testing.assert_frame_equal(back[["id", "text"]], FRAME)


def test_read_folder_and_its_errors(tmp_path: Path) -> None:
    (tmp_path / "parts").mkdir()
    FRAME.iloc[:1].to_parquet(tmp_path / "parts" / "part-0.parquet")
    FRAME.iloc[1:].to_parquet(tmp_path / "parts" / "part-1.parquet")
    (tmp_path / "parts" / "_SUCCESS").write_text("")
    assert list(read_table(tmp_path / "parts")["id"]) == ["007", "2"]
    FRAME.to_csv(tmp_path / "parts" / "extra.csv", index=False)
    with pytest.raises(ModelDataError, match="mixes file types"):
        read_table(tmp_path / "parts")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelDataError, match=r"no \.parquet"):
        read_table(tmp_path / "empty")
    with pytest.raises(ModelDataError, match="no such file"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "x.txt").write_text("id,text\n")
    with pytest.raises(ModelDataError, match="unknown file type"):
        read_table(tmp_path / "x.txt")


def test_load_split_checks(tmp_path: Path) -> None:
    with pytest.raises(ModelDataError, match="make data"):
        load_split(tmp_path, "train")
    write_splits(tmp_path, {"train": 10})
    assert len(load_split(tmp_path, "train")) == 10

    folder = tmp_path / "splits" / "val"
    folder.mkdir()
    make_split(4, "2024-01-01", 1).iloc[:0].to_parquet(folder / "part-0.parquet")
    with pytest.raises(ModelDataError, match="is empty"):
        load_split(tmp_path, "val")

    one_class = make_split(6, "2024-01-01", 1)
    one_class["needs_support"] = 1
    one_class.to_parquet(folder / "part-0.parquet")
    with pytest.raises(ModelDataError, match="one class only"):
        load_split(tmp_path, "val")
    assert len(load_split(tmp_path, "val", need_both_classes=False)) == 6

    bad_label = make_split(6, "2024-01-01", 1)
    bad_label.loc[0, "needs_support"] = 3
    bad_label.to_parquet(folder / "part-0.parquet")
    with pytest.raises(ModelDataError, match="must be 0 or 1"):
        load_split(tmp_path, "val")


def test_load_split_skips_unusable_texts_with_a_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    frame = make_split(6, "2024-01-01", 1).astype({"model_text": object})
    frame.loc[0, "model_text"] = "   "
    frame.loc[1, "model_text"] = None
    folder = tmp_path / "splits" / "train"
    folder.mkdir(parents=True)
    frame.to_parquet(folder / "part-0.parquet")
    loaded = load_split(tmp_path, "train")
    assert len(loaded) == 4
    assert "skipped 2 row(s)" in caplog.text


def test_three_class_needs_sentiment(tmp_path: Path) -> None:
    frame = make_split(6, "2024-01-01", 1).drop(columns=["sentiment"])
    folder = tmp_path / "splits" / "train"
    folder.mkdir(parents=True)
    frame.to_parquet(folder / "part-0.parquet")
    with pytest.raises(ModelDataError, match="sentiment"):
        load_split(tmp_path, "train", need_sentiment=True)
