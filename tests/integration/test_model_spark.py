"""The Spark scoring path (predict_batch_udf) on a Parquet folder, with a tiny real model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from tests.unit.model.conftest import build_tiny_backbone, train_tiny, write_splits
from tweet_triage.model.inference import load_scorer, predict_spark


@pytest.mark.integration
def test_spark_scores_a_parquet_folder_like_pandas(spark: SparkSession, tmp_path: Path) -> None:
    backbone = build_tiny_backbone(tmp_path / "backbone")
    model_dir = train_tiny(backbone, write_splits(tmp_path / "data"), tmp_path)
    tweets = pd.DataFrame(
        {
            "id": [str(i) for i in range(6)],
            "text": ["why is my app broken", "love it", "", None, "no help @bob", "great"],
            "needs_support": [1, 0, 1, 0, 1, 0],
        }
    )
    source = tmp_path / "tweets"
    source.mkdir()
    tweets.iloc[:3].to_parquet(source / "part-0.parquet")
    tweets.iloc[3:].to_parquet(source / "part-1.parquet")
    summary = predict_spark(spark, model_dir, source, tmp_path / "scored", batch_size=2)
    assert (summary.rows, summary.scored, summary.skipped) == (6, 4, 2)
    out = pd.read_parquet(tmp_path / "scored").sort_values("id").reset_index(drop=True)
    assert list(out["true_needs_support"]) == [1, 0, 1, 0, 1, 0]
    # Both paths pick the same engine (auto: ONNX int8 on CPU, exported at training). Int8
    # activations are quantised per batch, and Spark batches by partition, not by length:
    # scores agree to quantisation noise, not to the last digit as torch's do.
    expected = load_scorer(model_dir, engine="auto", device="cpu").predict_proba(tweets["text"])
    np.testing.assert_allclose(out["p_needs_support"].to_numpy(), expected, atol=5e-3)
    assert out["needs_support"].isna().tolist() == [False, False, True, True, False, False]
