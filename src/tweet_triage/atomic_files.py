"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every writer goes through `atomic_path`: the content goes to a hidden name beside the target
(`.<name>.<random>`, created exclusively and with its final mode from the first byte), which
replaces the target only once complete; a failure removes it and leaves the old file as it was.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path, *, mode: int | None = None, exclusive: bool = False) -> Iterator[Path]:
    """A temporary file beside `path` to write (e.g. `frame.to_csv(temporary)`); it replaces
    `path` when the block succeeds. `mode`: exactly these permissions (0o600: only the owner
    may read it), whatever the umask; None: as `open` would create it. `exclusive`: only if
    `path` does not exist yet (FileExistsError otherwise): of processes creating the same file
    at once, one wins and the others read its content. The folder must exist."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode or 0o666)
    try:
        if mode is not None:
            os.fchmod(descriptor, mode)
    finally:
        os.close(descriptor)
    try:
        yield temporary
        if exclusive:
            os.link(temporary, path)  # fails if `path` exists, never replaces it
            temporary.unlink()
        else:
            os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_atomic(
    path: Path, data: str | bytes, *, mode: int | None = None, exclusive: bool = False
) -> None:
    """Write `data` (text as UTF-8) to `path` atomically; the folder must exist."""
    with atomic_path(path, mode=mode, exclusive=exclusive) as temporary:
        if isinstance(data, bytes):
            temporary.write_bytes(data)
        else:
            temporary.write_text(data, encoding="utf-8")
