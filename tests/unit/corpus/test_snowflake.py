"""Snowflake ids -> created_at, the way X derives it."""

from __future__ import annotations

from datetime import UTC, datetime

from tweet_triage_local.corpus.tweets import created_at, iso_millis, snowflake_from_ms, snowflake_ms


def test_id_from_x_documentation_example() -> None:
    # X's docs show tweet 1212092628029698048 with created_at 2019-12-31T19:26:16.000Z
    # (seconds precision); the snowflake carries the milliseconds too.
    assert created_at(1212092628029698048) == "2019-12-31T19:26:16.771Z"


def test_id_agrees_with_the_created_at_of_the_semeval_source() -> None:
    # twitter-2016test-A.txt gives "Tue Sep 01 08:09:47 +0000 2015" for this id
    assert created_at(638624782955773952).startswith("2015-09-01T08:09:47.")


def test_round_trip_and_format() -> None:
    moment_ms = int(datetime(2014, 3, 2, 1, 2, 3, 45000, tzinfo=UTC).timestamp() * 1000)
    tweet_id = snowflake_from_ms(moment_ms, sequence=17)
    assert snowflake_ms(tweet_id) == moment_ms
    assert created_at(tweet_id) == "2014-03-02T01:02:03.045Z"
    assert iso_millis(datetime(2020, 1, 1, tzinfo=UTC)) == "2020-01-01T00:00:00.000Z"
