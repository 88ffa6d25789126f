"""A file written atomically is the old one or the new one, never half of either."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tweet_triage.atomic_files import atomic_path, write_atomic


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half a")
        raise RuntimeError("the writer failed")
    assert target.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [target]


def test_the_content_appears_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "stats.json"
    with atomic_path(target) as temporary:
        temporary.write_text("{}")
        assert not target.exists()
        assert temporary.parent == tmp_path and temporary.name.startswith(".stats.json.")
    assert target.read_text() == "{}"
    write_atomic(target, b"\x1f\x8b")
    assert target.read_bytes() == b"\x1f\x8b"
    assert list(tmp_path.iterdir()) == [target]


def test_mode_is_exact_whatever_the_umask_and_open_like_without_it(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_atomic(tmp_path / "shipped", "x", mode=0o644)
        write_atomic(tmp_path / "plain", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shipped").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o600


def test_an_exclusive_write_never_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "key"
    write_atomic(target, "first", mode=0o600, exclusive=True)
    with pytest.raises(FileExistsError):
        write_atomic(target, "second", mode=0o600, exclusive=True)
    assert target.read_text() == "first"
    assert os.listdir(tmp_path) == ["key"]
