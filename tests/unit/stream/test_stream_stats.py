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
