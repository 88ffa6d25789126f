"""The scored table on S3 (s3a:// URIs, as on a cluster) through pyarrow, against the moto
server: Spark's layout, and a replayed batch that replaces its objects."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from tests.unit.live.test_scored_table import TAG, arrow, row
from tweet_triage.cloud.aws import aws_client
from tweet_triage.config import Settings
from tweet_triage.live.scored_table import ScoredTable

pytestmark = pytest.mark.integration


def test_a_batch_on_s3_is_one_object_per_hour_and_a_replay_replaces_them(
    local_aws: Settings,
) -> None:
    s3 = aws_client(local_aws, "s3")
    s3.create_bucket(Bucket="triage")
    table = ScoredTable.at("s3a://triage/scored/", local_aws)
    rows = arrow([row(1, 1, 9), row(2, 1, 10), row(3, 1, 9)])

    def keys(markers: bool = True) -> list[str]:
        """`markers=False`: less the empty folder markers pyarrow leaves where it deletes an
        object (s3a, Spark's reader, takes those for folders)."""
        listed = s3.list_objects_v2(Bucket="triage", Prefix="scored/").get("Contents", [])
        return sorted(o["Key"] for o in listed if markers or not o["Key"].endswith("/"))

    table.write_batch(rows, TAG)
    expected = [
        f"scored/date=2026-12-01/hour=10/batch={TAG}/part-{TAG}.zstd.parquet",
        f"scored/date=2026-12-01/hour=9/batch={TAG}/part-{TAG}.zstd.parquet",
    ]
    assert keys() == expected
    # An earlier writer's object of the same batch (Spark's name) goes on the replay.
    s3.put_object(
        Bucket="triage",
        Key=f"scored/date=2026-12-01/hour=9/batch={TAG}/part-00000-5f0e.c000.zstd.parquet",
        Body=b"PAR1 old",
    )
    table.write_batch(rows, TAG)
    assert keys(markers=False) == expected
    nine = pq.read_table(f"triage/{expected[1]}", filesystem=table.filesystem)
    assert nine.column("id").to_pylist() == ["1", "3"] and "hour" not in nine.column_names
