"""The streaming scorer on a local Spark: parse, de-duplicate across batches, filter, score,
write the store and the Parquet table; replays after a store outage; a new champion."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from tests.unit.data.conftest import payload, tweet
from tests.unit.live.scorer_model import build_scorer_model
from tweet_triage.config import Settings
from tweet_triage.errors import TriageError
from tweet_triage.hosts.processes import free_port
from tweet_triage.live.batch import scored_records
from tweet_triage.live.scorer import (
    ScorerPaths,
    StoreUnavailableError,
    latency_percentiles,
    parse_every,
    run_scorer,
)
from tweet_triage.live.store import TriageStore
from tweet_triage.model import registry
from tweet_triage.model.registry import log_and_register_model
from tweet_triage.model.tracking import mlflow_run

# The demo profile keeps tweets naming its keep terms (e.g. 'netflix', 'game').
KEEPS = [
    "my netflix app is broken again , why",
    "the game was great , thanks",
    "why is my iphone not good",
    "love the new album of the band",
]
DROPS = ["nothing to see here at all today", "the weather is quite mild"]


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_scorer_model(tmp_path_factory.mktemp("scorer-model"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        mission_profile="demo",
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        TT_STATE_DIR=tmp_path / "state",
    )


def write_object(raw: Path, name: str, lines: list[str], gz: bool = True) -> None:
    folder = raw / "2026" / "12" / "01" / "10"
    folder.mkdir(parents=True, exist_ok=True)
    body = "".join(lines).encode()
    if gz:
        (folder / f"{name}.gz").write_bytes(gzip.compress(body))
    else:
        (folder / name).write_bytes(body)


def lines(first_id: int, texts: list[str]) -> list[str]:
    return [
        payload(tweet(first_id + i, text, created_at=f"2026-12-01T10:00:0{i % 10}Z"))
        for i, text in enumerate(texts)
    ]


def scored_table(spark: SparkSession, settings: Settings) -> list[dict]:
    folder = ScorerPaths.from_settings(settings).scored
    return [r.asDict() for r in spark.read.parquet(folder).collect()]


def commits(settings: Settings) -> list[str]:
    folder = Path(ScorerPaths.from_settings(settings).checkpoint) / "commits"
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_parse_every_and_percentiles() -> None:
    assert parse_every("30s") == 30 and parse_every("2m") == 120 and parse_every("5") == 5
    with pytest.raises(TriageError, match="--every 'soon'"):
        parse_every("soon")
    assert latency_percentiles([3.0, 1.0, 2.0, 4.0]) == {"p50": 2.0, "p95": 4.0, "n": 4}
    assert latency_percentiles([])["p50"] is None


def test_spark_rows_become_store_records_in_utc() -> None:
    naive = datetime(2026, 12, 1, 10, 0, 0)
    row = {
        "id": "42",
        "created_at": naive,
        "received_at": None,
        "scored_at": naive,
        "text": "t",
        "matching_rules": ["sport", None],
        "p_needs_support": 0.7,
        "needs_support": 1,
        "model_version": "3",
    }
    (record,) = scored_records([row])
    # PySpark's naive datetimes are in the local time zone (UTC on CI runners).
    assert record.created_at == naive.astimezone(UTC) and record.received_at is None
    assert record.created_at.tzinfo is UTC
    assert record.rule_tags == ["sport"] and record.flagged is True and record.model_version == "3"


def test_no_model_says_train_first(spark: SparkSession, settings: Settings) -> None:
    with pytest.raises(registry.NoModelError, match="train one first"):
        run_scorer(settings, spark, every=None)


def test_each_kept_tweet_once_across_batches_restarts_and_a_store_outage(
    spark: SparkSession, settings: Settings, model_folder: Path
) -> None:
    with mlflow_run(settings):
        first_version = log_and_register_model(model_folder)
    raw = Path(ScorerPaths.from_settings(settings).raw)
    batch_one = lines(1000, KEEPS + DROPS)
    write_object(raw, "obj-1", batch_one[:4])
    write_object(raw, "obj-2", [*batch_one[2:], "{not json\n"], gz=False)  # 2 redelivered
    store = TriageStore.from_settings(settings)

    run = run_scorer(settings, spark, every=None, store=store)
    assert store.count_scored() == len(KEEPS)
    assert run.stats.quarantined == 1 and run.stats.scored == len(KEEPS)
    assert {r["model_version"] for r in scored_table(spark, settings)} == {first_version}
    done = commits(settings)

    # A redelivery of an old tweet plus new ones, while the store is unreachable.
    write_object(raw, "obj-3", lines(1000, KEEPS[:1]) + lines(2000, KEEPS[:2]))
    unreachable = TriageStore(f"postgresql://triage:secret@127.0.0.1:{free_port()}/triage")
    with pytest.raises(StoreUnavailableError, match="replayed from the checkpoint"):
        run_scorer(settings, spark, every=None, store=unreachable, retry_delays=(0.1,))
    assert commits(settings) == done  # the failed batch did not advance the checkpoint
    assert store.count_scored() == len(KEEPS)

    # Meanwhile a new champion: the replayed batch is scored with it.
    with mlflow_run(settings):
        second_version = log_and_register_model(model_folder)
    registry.set_champion(settings, second_version)
    run = run_scorer(settings, spark, every=None, store=store)
    assert len(commits(settings)) > len(done)
    table = scored_table(spark, settings)
    ids = sorted(r["id"] for r in table)
    assert ids == sorted({*(str(1000 + i) for i in range(4)), "2000", "2001"})  # each once
    assert store.count_scored() == 6
    versions = {r["id"]: r["model_version"] for r in table}
    assert versions["2000"] == second_version and versions["1000"] == first_version
    assert store.get_tweet("2001").model_version == second_version
    assert all(0.0 <= r["p_needs_support"] <= 1.0 for r in table)
    assert all(r["date"].isoformat() == "2026-12-01" and r["hour"] == 10 for r in table)

    stats = json.loads((settings.state_dir / "triage" / "scorer-stats.json").read_text())
    assert stats["scored"] == 2 and stats["model_version"] == second_version
