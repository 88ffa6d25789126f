from __future__ import annotations

from pathlib import Path

from tweet_triage.stream.stats import StreamStats, read_stats_file, write_stats_file


def test_stats_file_is_replaced_whole_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "stream" / "stats.json"
    stats = StreamStats(received=5, sent=3)
    stats.sample(queue_depth=2, spool_depth=2)
    write_stats_file(path, stats, {"profile": "demo"})
    data = read_stats_file(path)
    assert data is not None
    assert (data["received"], data["sent"], data["spool_depth"], data["profile"]) == (
        5, 3, 2, "demo"
    )  # fmt: skip
    assert list(path.parent.iterdir()) == [path]  # no temp file left
    assert "received=5 sent=3" in stats.line()


def test_missing_or_broken_stats_file_reads_as_none(tmp_path: Path) -> None:
    assert read_stats_file(tmp_path / "none.json") is None
    (tmp_path / "bad.json").write_text("{")
    assert read_stats_file(tmp_path / "bad.json") is None


def test_rates_follow_the_last_seconds_at_every_sample(monkeypatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("tweet_triage.stream.stats.time.monotonic", lambda: clock[0])
    stats = StreamStats()
    stats.sample(0, 0)
    for _ in range(8):  # 4 renders a second, 100 tweets each
        clock[0] += 0.25
        stats.received += 100
        stats.sent += 50
        stats.sample(0, 0)
    assert stats.received_per_s == 400 and stats.sent_per_s == 200  # not 0 until 30 s passed


def test_disk_alerts_are_raised_once_and_kept_in_the_stats() -> None:
    stats = StreamStats()
    assert stats.sample_disk(900, 1000, 10 * 2**30) == ["spool at 90% of its cap"]
    assert stats.sample_disk(950, 1000, 10 * 2**30) == []
    assert stats.to_dict()["alerts"] == ["spool at 95% of its cap"]
    assert stats.sample_disk(10, 1000, 2**20) == ["only 1 MiB free on the spool's disk"]
