"""The scorer's record extraction carries a tweet's author and thread from the raw payload
(`data.author_id`, `conversation_id`, `in_reply_to_user_id`, the `replied_to` reference and
the author in `includes.users`) into the store's records; a payload without them still scores."""

from __future__ import annotations

from datetime import UTC, datetime

from pyspark.sql import SparkSession

from tests.unit.data.conftest import payload, tweet
from tweet_triage.data import combine, filtering
from tweet_triage.live.batch import KEPT, classified, scored_records
from tweet_triage.profile import load_profile


def test_records_carry_the_author_and_the_thread(spark: SparkSession) -> None:
    answer = tweet(
        11,
        "@mission still broken after your fix, my netflix app",
        author_id="42",
        conversation_id="10",
        in_reply_to_user_id="7",
        referenced_tweets=[{"type": "quoted", "id": "3"}, {"type": "replied_to", "id": "10"}],
    )
    users = {
        "users": [
            {"id": "9", "username": "other"},
            {"id": "42", "username": "ada", "name": "Ada L"},
        ]
    }
    plain = tweet(12, "my netflix app is broken again")
    lines = [payload(answer, includes=users), payload(plain)]
    frame = spark.createDataFrame(
        [(("file:/raw/obj", datetime(2026, 12, 1, 10, tzinfo=UTC)), line) for line in lines],
        "source struct<path:string,received_at:timestamp>, value string",
    )
    compiled = filtering.compile_filter(load_profile("demo").filter)
    parsed = combine.parse_records(combine.split_records(frame))
    rows = [
        {
            **row.asDict(),
            "scored_at": datetime(2026, 12, 1, 10, 1, tzinfo=UTC),
            "p_needs_support": 0.9,
            "needs_support": 1,
            "model_version": "1",
        }
        for row in classified(parsed, compiled).where(f"kind = '{KEPT}'").orderBy("id").collect()
    ]
    first, second = scored_records(rows)
    assert (first.author_id, first.author_name, first.author_handle) == ("42", "Ada L", "ada")
    assert (first.conversation_id, first.in_reply_to_user_id) == ("10", "7")
    assert first.in_reply_to_tweet_id == "10"  # the replied_to reference, not the quoted one
    assert second.id == "12" and second.p_needs_support == 0.9
    assert (second.author_id, second.author_name, second.author_handle) == (None, None, None)
    assert (second.conversation_id, second.in_reply_to_tweet_id) == (None, None)
