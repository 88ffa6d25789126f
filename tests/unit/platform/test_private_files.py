"""Secret-bearing files are 0600 from creation, also over an older, wider file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tweet_triage.private_files import write_private
from tweet_triage_local.settings_files import write_local_env


def test_a_private_file_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        wide = tmp_path / "settings.env"
        wide.write_text("OLD=1\n")
        wide.chmod(0o644)
        write_private(wide, "SECRET=1\n")
        recorded = write_local_env(tmp_path, "aws", {"AWS_SECRET_ACCESS_KEY": "x"})
    finally:
        os.umask(old)
    for path in (wide, recorded):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert wide.read_text() == "SECRET=1\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
