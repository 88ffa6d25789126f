"""Stage outputs are written beside the previous one and swapped in when complete.

Spark's `mode("overwrite")` deletes the old output before it writes the new one, so a run
that fails half-way leaves neither. Here a stage writes to a hidden sibling folder (Spark
and Hadoop skip names starting with '.'), and only a complete write replaces the previous
output, by two renames on the same file system. An output with no rows is still written,
as one empty Parquet file with the schema, so the next stage reads it (and finds 0 rows)
instead of failing to infer a schema.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from pyspark.sql import DataFrame


def _sibling(path: Path, kind: str) -> Path:
    return path.parent / f".{path.name}.{kind}-{uuid.uuid4().hex[:8]}"


def has_parquet(path: Path) -> bool:
    return path.is_dir() and any(path.rglob("*.parquet"))


def stage_output(frame: DataFrame, path: Path, partition_by: tuple[str, ...] = ()) -> Path:
    """Write `frame` to a hidden folder beside `path`; returns it (removed again on failure)."""
    staging = _sibling(path, "staging")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        writer = frame.write.mode("overwrite")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.parquet(str(staging))
        if not has_parquet(staging):  # no rows, so no partition folder and no file
            write_empty(frame, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def write_empty(frame: DataFrame, path: Path) -> None:
    """One empty Parquet file with the frame's schema (partition columns included)."""
    empty = frame.sparkSession.createDataFrame([], frame.schema)
    empty.coalesce(1).write.mode("overwrite").parquet(str(path))


def swap_in(staging: Path, path: Path) -> None:
    """Replace `path` with the complete `staging` folder; the old output goes last."""
    previous = _sibling(path, "previous")
    if path.exists():
        path.rename(previous)
    staging.rename(path)
    shutil.rmtree(previous, ignore_errors=True)


def replace_output(frame: DataFrame, path: Path, partition_by: tuple[str, ...] = ()) -> None:
    """Write `frame` as the new output at `path`; a failed write leaves the old one intact."""
    swap_in(stage_output(frame, path, partition_by), path)
