"""Files only their owner may read (keys, passwords, settings with secrets).

Created 0600 from the first byte and renamed into place (`atomic_files`), never written with
the umask's mode and narrowed afterwards, when another user could open them.
"""

from __future__ import annotations

from pathlib import Path

from tweet_triage.atomic_files import write_atomic


def write_private(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write `text` to `path` with mode 0600, atomically; the folder must exist. `exclusive`:
    only if `path` does not exist yet (FileExistsError otherwise)."""
    write_atomic(path, text, mode=0o600, exclusive=exclusive)
