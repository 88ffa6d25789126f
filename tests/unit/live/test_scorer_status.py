"""The scorer's stats as `triage status` prints them: totals, the threshold in use and why, and
the unreadable objects quarantined; a stats file from an older scorer still prints."""

from __future__ import annotations

from dataclasses import asdict

from tweet_triage.live.batch import ScorerStats
from tweet_triage.live.scorer_status import OBJECTS_SHOWN, scorer_lines


def stats(**values: object) -> dict:
    return asdict(ScorerStats(batches=3, scored=12, flagged=4, model_version="2")) | values


def test_totals_and_an_old_stats_file() -> None:
    old = {k: v for k, v in stats().items() if k not in ("engine", "threshold", "device")}
    (line,) = scorer_lines(old)
    assert line.startswith("scorer: 3 batch(es), 12 scored, 4 flagged, 0 quarantined, model 2,")
    assert "model 2 (onnx on cpu)" in scorer_lines(stats(engine="onnx", device="cpu"))[0]


def test_the_threshold_in_use() -> None:
    own = stats(threshold=0.55, model_threshold=0.55)
    assert scorer_lines(own)[1] == "scorer threshold: 0.550 (the model's own)"
    warming = stats(threshold=0.55, model_threshold=0.55, live_prior_window=2000)
    warming["live_prior_scores"] = 57
    assert (
        "the model's own while the live share cannot be estimated (57 recent"
        in (scorer_lines(warming)[1])
    )
    live = stats(threshold=0.052, model_threshold=0.186, live_prior_window=2000)
    live |= {"live_prior": 0.8081, "live_prior_scores": 2000}
    assert scorer_lines(live)[1] == (
        "scorer threshold: 0.052 for a live share of 80.8% needing support "
        "(from the last 2,000 scores; the model's own 0.186)"
    )


def test_quarantined_objects_newest_first() -> None:
    bad = [{"object": f"file:/raw/obj-{i}.gz", "reason": "gzip cut short"} for i in range(8)]
    lines = scorer_lines(stats(quarantined_objects=8, recent_bad_objects=bad))
    assert lines[1] == "scorer: 8 unreadable object(s) quarantined; newest first:"
    assert lines[2] == "  file:/raw/obj-7.gz: gzip cut short"
    assert len(lines) == 2 + OBJECTS_SHOWN
