"""One object the scorer cannot read (a gzip cut short beside a good Firehose object) does not
stop the live path: it is quarantined with its name and reason, counted, and every tweet of
the good object is scored."""

from __future__ import annotations

import gzip
from dataclasses import asdict
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from tests.unit.live.scorer_model import build_scorer_model
from tests.unit.live.test_scorer_stream import DROPS, KEEPS, lines, write_object
from tweet_triage.config import Settings
from tweet_triage.data.combine import TRUNCATED_GZIP
from tweet_triage.live.scorer import ScorerPaths, run_scorer
from tweet_triage.live.scorer_status import scorer_lines
from tweet_triage.live.store import TriageStore


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        mission_profile="demo",
        triage_model=str(build_scorer_model(tmp_path / "model")),
        TT_STATE_DIR=tmp_path / "state",
    )


def test_a_cut_gzip_is_quarantined_and_the_rest_of_the_batch_scored(
    spark: SparkSession, settings: Settings
) -> None:
    raw = Path(ScorerPaths.from_settings(settings).raw)
    write_object(raw, "good", lines(1000, KEEPS + DROPS))
    # The profile drops these texts, so whatever Spark reads before the cut never reaches
    # the store: the store holds exactly the good object's kept tweets.
    whole = gzip.compress("".join(lines(5000, DROPS * 20)).encode())
    assert len(whole) > 300
    cut = raw / "2026" / "12" / "01" / "10" / "cut.gz"
    cut.write_bytes(whole[:300])
    store = TriageStore.from_settings(settings)

    run = run_scorer(settings, spark, every=None, store=store)

    assert sorted(t.id for t in store.tweets(limit=100)) == [str(1000 + i) for i in range(4)]
    assert run.stats.scored == len(KEEPS)
    assert run.stats.quarantined_objects == 1
    assert run.stats.recent_bad_objects == [{"object": cut.as_uri(), "reason": TRUNCATED_GZIP}]
    status = scorer_lines(asdict(run.stats))  # what `triage status` prints
    assert "scorer: 1 unreadable object(s) quarantined; newest first:" in status
    assert f"  {cut.as_uri()}: {TRUNCATED_GZIP}" in status
    assert "scorer threshold: 0.500 (the model's own)" in status
    quarantine = spark.read.parquet(ScorerPaths.from_settings(settings).quarantine).collect()
    assert [(r["source"], r["reason"], r["value"]) for r in quarantine] == [
        (cut.as_uri(), TRUNCATED_GZIP, None)
    ]
