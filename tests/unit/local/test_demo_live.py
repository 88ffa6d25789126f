"""The demo's live-half summary: latency percentiles and the lines it prints."""

from __future__ import annotations

import pytest

from tweet_triage_local.demo import latency_summary, live_summary_lines


def test_latency_counts_only_tweets_seen_at_both_ends() -> None:
    sent = {"a": 10.0, "b": 11.0, "dropped-by-profile": 12.0}
    stored = {"a": 13.0, "b": 16.0, "sent-before-polling": 20.0}

    found = latency_summary(sent, stored)

    assert found["n"] == 2
    assert found["p50"] == pytest.approx(4.0)
    assert found["max"] == pytest.approx(5.0)


def test_latency_percentiles_over_many_tweets() -> None:
    sent = {str(i): 0.0 for i in range(100)}
    stored = {str(i): float(i + 1) for i in range(100)}  # 1 .. 100 s

    found = latency_summary(sent, stored)

    assert found["p50"] == pytest.approx(50.5)
    assert 94.0 <= found["p95"] <= 96.0
    assert found["max"] == pytest.approx(100.0)


def test_latency_of_nothing_stored_is_empty_not_zero() -> None:
    assert latency_summary({"a": 1.0}, {}) == {"n": 0, "p50": None, "p95": None, "max": None}


def test_summary_lines_name_the_clock_and_the_firehose_stand_in() -> None:
    live = {
        "sent": 2_500,
        "received": 800,
        "flagged": 600,
        "latency": latency_summary({"a": 0.0, "b": 0.0}, {"a": 7.0, "b": 9.0}),
    }

    text = "\n".join(live_summary_lines(live))

    assert "2,500 sent to the streamer" in text
    assert "800 kept by the profile and received by the inbox, 600 flagged" in text
    assert "p50 8.0 s" in text
    assert "wall clock" in text
    assert "FIREHOSE_BUFFER_SECONDS" in text


def test_summary_without_any_stored_tweet_prints_no_latency() -> None:
    live = {"sent": 5, "received": 0, "flagged": 0, "latency": latency_summary({}, {})}

    text = "\n".join(live_summary_lines(live))

    assert "p50" not in text
    assert "0 kept by the profile" in text


def test_summary_prints_the_scorers_sustained_rate_beside_the_latency() -> None:
    live = {
        "sent": 2_500,
        "received": 800,
        "flagged": 600,
        "latency": latency_summary({"a": 0.0}, {"a": 7.0}),
        "scorer": {"scored": 800, "busy_seconds": 4.0, "batches": 12, "engine": "onnx"},
    }

    lines = live_summary_lines(live)

    latency = next(i for i, line in enumerate(lines) if "p50 7.0 s" in line)
    assert lines[latency + 1] == (
        "  scorer: 200 tweets/s sustained (800 scored in 4 s of 12 micro-batches, onnx)"
    )
