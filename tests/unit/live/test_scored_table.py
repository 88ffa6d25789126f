"""The scored table's pyarrow writer: Spark's layout and types, whole files, replays that
replace a batch's files, local folders and file: URIs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from tweet_triage.config import Settings, SettingsError
from tweet_triage.live import scored_table
from tweet_triage.live.scored_table import ScoredTable
from tweet_triage.model.data import read_table

TAG = "ab12cd34-00000007"
# Every kind of column the scorer's rows have, as Spark hands them to the driver.
SCHEMA = (
    "id string, created_at timestamp, scored_at timestamp, text string, "
    "matching_rules array<string>, is_reply boolean, word_count int, author_id bigint, "
    "p_needs_support double, needs_support int, date date, hour int, batch string"
)


def row(tweet_id: int, day: int, hour: int, tag: str = TAG) -> dict:
    created = datetime(2026, 12, day, hour, 7, 30, 123456, tzinfo=UTC)
    return {
        "id": str(tweet_id),
        "created_at": created,
        "scored_at": datetime(2026, 12, day, hour, 9, tzinfo=UTC),
        "text": f"tweet {tweet_id}",
        "matching_rules": ["netflix", None] if tweet_id % 2 else None,
        "is_reply": tweet_id % 3 == 0,
        "word_count": tweet_id,
        "author_id": 10**12 + tweet_id,
        "p_needs_support": tweet_id / 100,
        "needs_support": tweet_id % 2,
        "date": created.date(),
        "hour": hour,
        "batch": tag,
    }


def arrow(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(
        rows,
        pa.schema(
            [
                ("id", pa.string()),
                ("created_at", pa.timestamp("us", "UTC")),
                ("scored_at", pa.timestamp("us", "UTC")),
                ("text", pa.string()),
                ("matching_rules", pa.list_(pa.string())),
                ("is_reply", pa.bool_()),
                ("word_count", pa.int32()),
                ("author_id", pa.int64()),
                ("p_needs_support", pa.float64()),
                ("needs_support", pa.int32()),
                ("date", pa.date32()),
                ("hour", pa.int32()),
                ("batch", pa.string()),
            ]
        ),
    )


def spark_write(spark: SparkSession, rows: pa.Table, root: Path) -> None:
    """The scorer's write before pyarrow's: Spark's dynamic overwrite of the batch."""
    (
        spark.createDataFrame(rows)
        .coalesce(1)
        .write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .partitionBy("date", "hour", "batch")
        .parquet(str(root))
    )


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_one_file_per_date_and_hour_under_the_batch_without_the_partition_columns(
    tmp_path: Path,
) -> None:
    rows = [row(1, 1, 9), row(2, 1, 23), row(3, 2, 0), row(4, 1, 9)]
    written = ScoredTable.at(str(tmp_path), Settings()).write_batch(arrow(rows), TAG)

    assert files(tmp_path) == [
        f"date=2026-12-01/hour=23/batch={TAG}/part-{TAG}.zstd.parquet",
        f"date=2026-12-01/hour=9/batch={TAG}/part-{TAG}.zstd.parquet",
        f"date=2026-12-02/hour=0/batch={TAG}/part-{TAG}.zstd.parquet",
    ]
    assert len(written) == 3
    nine = pq.read_table(tmp_path / f"date=2026-12-01/hour=9/batch={TAG}/part-{TAG}.zstd.parquet")
    assert nine.column("id").to_pylist() == ["1", "4"]
    assert not {"date", "hour", "batch"} & set(nine.column_names)
    assert pq.ParquetFile(written[0]).metadata.row_group(0).column(0).compression == "ZSTD"


def test_a_file_uri_is_the_same_folder(tmp_path: Path) -> None:
    ScoredTable.at(f"file://{tmp_path}/t", Settings()).write_batch(arrow([row(1, 1, 9)]), TAG)
    ScoredTable.at(f"file:{tmp_path}/t", Settings()).write_batch(arrow([row(2, 1, 10)]), TAG)
    assert [f.split("/")[1] for f in files(tmp_path / "t")] == ["hour=10", "hour=9"]


def test_a_file_is_written_under_a_hidden_name_and_a_failed_write_leaves_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = ScoredTable.at(str(tmp_path), Settings())
    table.write_batch(arrow([row(1, 1, 9)]), TAG)
    folder = tmp_path / f"date=2026-12-01/hour=9/batch={TAG}"
    final = folder / f"part-{TAG}.zstd.parquet"
    real_write = pq.write_table
    targets: list[Path] = []

    def half_write(part: pa.Table, where: Path, **options: object) -> None:
        targets.append(Path(where))
        real_write(part.slice(0, 1), where, **options)
        raise OSError("disk full")

    monkeypatch.setattr(scored_table.pq, "write_table", half_write)
    with pytest.raises(OSError, match="disk full"):
        table.write_batch(arrow([row(2, 1, 9), row(3, 1, 9)]), TAG)

    (target,) = targets
    assert target.parent == folder and target.name.startswith(f".{final.name}.")
    assert sorted(p.name for p in folder.iterdir()) == [final.name]  # no temporary left
    assert pq.read_table(final).column("id").to_pylist() == ["1"]


def test_a_replayed_batch_replaces_its_files_and_leaves_other_batches(tmp_path: Path) -> None:
    table = ScoredTable.at(str(tmp_path), Settings())
    table.write_batch(arrow([row(1, 1, 9), row(2, 1, 9)]), TAG)
    table.write_batch(arrow([row(5, 1, 9, "ab12cd34-00000008")]), "ab12cd34-00000008")
    folder = tmp_path / f"date=2026-12-01/hour=9/batch={TAG}"
    # What a killed write and an earlier writer of the same batch may have left there.
    (folder / f".part-{TAG}.zstd.parquet.0a1b2c3d").write_bytes(b"PAR1 half")
    (folder / "part-00000-5f0e.c000.zstd.parquet").write_bytes(b"PAR1 old")

    table.write_batch(arrow([row(1, 1, 9), row(2, 1, 9)]), TAG)

    assert sorted(p.name for p in folder.iterdir()) == [f"part-{TAG}.zstd.parquet"]
    ids = pq.read_table(folder / f"part-{TAG}.zstd.parquet").column("id").to_pylist()
    assert ids == ["1", "2"]
    assert len(files(tmp_path)) == 2  # the other batch's file is still there


def test_bad_tags_and_locations_are_named(tmp_path: Path) -> None:
    table = ScoredTable.at(str(tmp_path), Settings())
    with pytest.raises(ValueError, match="batch tag 'a/b'"):
        table.write_batch(arrow([row(1, 1, 9)]), "a/b")
    with pytest.raises(SettingsError, match=r"'hdfs://nn/scored'.*TRIAGE_SCORED_DIR"):
        ScoredTable.at("hdfs://nn/scored", Settings())


def test_s3_settings_reach_pyarrow() -> None:
    settings = Settings(
        aws_endpoint_url="http://127.0.0.1:4566",
        aws_region="eu-west-1",
        aws_access_key_id="key",
        aws_secret_access_key="secret",
    )
    table = ScoredTable.at("s3a://bucket/scored/", settings)
    assert table.root == "bucket/scored" and not table.local
    options = table.filesystem.__reduce__()[1][0]  # the options it was made with
    assert options["region"] == "eu-west-1" and options["access_key"] == "key"
    assert options["endpoint_override"] == "127.0.0.1:4566" and options["scheme"] == "http"


def test_spark_and_pandas_read_it_as_spark_wrote_it(spark: SparkSession, tmp_path: Path) -> None:
    rows = [row(1, 1, 9), row(2, 1, 23), row(3, 2, 0)]
    spark_rows = arrow([{**r, "batch": "ab12cd34-00000001"} for r in rows])
    spark_write(spark, spark_rows, tmp_path / "spark")  # the reference
    ScoredTable.at(str(tmp_path / "arrow"), Settings()).write_batch(arrow(rows), TAG)

    by_spark = spark.read.parquet(str(tmp_path / "spark"))
    by_arrow = spark.read.parquet(str(tmp_path / "arrow"))
    assert by_arrow.schema == by_spark.schema
    assert (
        by_arrow.drop("batch").sort("id").collect() == by_spark.drop("batch").sort("id").collect()
    )
    assert {r["batch"] for r in by_arrow.collect()} == {TAG}
    assert by_arrow.where("hour = 23").first()["date"] == date(2026, 12, 1)
    # pandas over the files (model.data.read_table: trends, rethreshold) sees the same frame.
    pd.testing.assert_frame_equal(
        read_table(tmp_path / "arrow").sort_values("id", ignore_index=True),
        read_table(tmp_path / "spark").sort_values("id", ignore_index=True),
    )

    # A table with batches of both writers reads as one.
    spark_write(spark, spark_rows, tmp_path / "arrow")
    both = spark.read.parquet(str(tmp_path / "arrow"))
    assert both.schema == by_spark.schema and both.count() == 2 * len(rows)
