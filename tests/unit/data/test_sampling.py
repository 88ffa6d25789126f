"""The seeded order is one rule: pandas and Spark draw the same sample for the same seed."""

from __future__ import annotations

import pandas as pd
from pyspark.sql import SparkSession

from tweet_triage.data.sampling import seeded_order, seeded_order_columns

IDS = pd.Series([str(1_600_000_000_000_000_000 + 7919 * n) for n in range(60)])


def in_pandas(ids: pd.Series, seed: int) -> list[str]:
    return ids.iloc[seeded_order(ids, seed)].tolist()


def test_the_order_depends_on_the_seed_and_the_ids_not_the_input_order() -> None:
    shuffled = IDS.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert in_pandas(shuffled, 7) == in_pandas(IDS, 7)
    assert in_pandas(IDS, 7) != in_pandas(IDS, 8)
    assert sorted(in_pandas(IDS, 7)) == sorted(IDS)


def test_pandas_and_spark_give_the_same_order(spark: SparkSession) -> None:
    frame = spark.createDataFrame([(i,) for i in IDS], "id string")
    for seed in (7, 8, 42):
        in_spark = [row["id"] for row in frame.orderBy(*seeded_order_columns(seed)).collect()]
        assert in_spark == in_pandas(IDS, seed)
