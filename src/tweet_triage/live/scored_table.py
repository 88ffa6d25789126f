"""The scorer's Parquet table, written with pyarrow from the batch's Arrow rows on the driver.

Not Spark's write: the rows are already on the driver as an Arrow table, and handing them back
to Spark to write them was most of the scorer's time per micro-batch. The files are laid out
and typed as Spark's `partitionBy("date", "hour", "batch")` writes them
(`date=YYYY-MM-DD/hour=H/batch=TAG/`, the partition columns not in the files, timestamps as
INT96, zstd), so Spark and pandas read partitions of either writer together, with the same types.

One file per (date, hour) of a batch, named after the batch: a replayed batch writes the same
names and removes anything else in its folders, so no row is ever there twice. A file appears
whole or not at all: a local one through a hidden temporary name and a rename
(`atomic_files`), an S3 one as a single upload of the finished bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import fs

from tweet_triage.atomic_files import atomic_path
from tweet_triage.config import Settings, SettingsError

PARTITION_COLUMNS = ("date", "hour", "batch")
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # Spark's folder name for a null partition value
# Batch tags go into folder names unescaped, so only characters Spark would not escape.
BATCH_TAG = re.compile(r"[A-Za-z0-9._-]+")
# As Spark writes them (BASE_CONF's codec, Spark's default INT96 timestamps, no Arrow schema):
# pandas reads a timestamp of either writer's files as the same naive UTC value.
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "use_deprecated_int96_timestamps": True,
    "store_schema": False,
}


def s3_filesystem(settings: Settings) -> fs.S3FileSystem:
    """pyarrow's S3 client with the region, endpoint and credentials a boto3 client gets
    (`Settings.aws_client_kwargs`); without keys in the settings the AWS chain applies."""
    kwargs = settings.aws_client_kwargs()
    options: dict[str, Any] = {
        "region": kwargs.get("region_name"),
        "access_key": kwargs.get("aws_access_key_id"),
        "secret_key": kwargs.get("aws_secret_access_key"),
        "session_token": kwargs.get("aws_session_token"),
    }
    if endpoint := kwargs.get("endpoint_url"):
        parts = urlsplit(endpoint)
        options.update(endpoint_override=parts.netloc or parts.path, scheme=parts.scheme or "https")
    return fs.S3FileSystem(**{k: v for k, v in options.items() if v is not None})


@dataclass(frozen=True)
class ScoredTable:
    """The table at `root`: a path in `filesystem` (a local folder, or bucket/prefix on S3)."""

    filesystem: fs.FileSystem
    root: str

    @classmethod
    def at(cls, location: str, settings: Settings) -> ScoredTable:
        """A folder, a file: URI or an s3a:// (s3://) URI, as TRIAGE_SCORED_DIR names it."""
        parts = urlsplit(location)
        if parts.scheme in ("", "file"):
            path = unquote(parts.path) if parts.scheme else location
            return cls(fs.LocalFileSystem(), str(Path(path).expanduser().resolve()))
        if parts.scheme in ("s3a", "s3") and parts.netloc:
            return cls(s3_filesystem(settings), f"{parts.netloc}{parts.path}".rstrip("/"))
        raise SettingsError(
            f"scored table {location!r}: not a folder, file: or s3a://<bucket>/<prefix> URI; "
            "set TRIAGE_SCORED_DIR to one of those"
        )

    @property
    def local(self) -> bool:
        return isinstance(self.filesystem, fs.LocalFileSystem)

    def write_batch(self, rows: pa.Table, tag: str) -> list[str]:
        """The batch's rows (with `date` and `hour` columns) as one file per (date, hour)
        under batch=`tag`, replacing what a previous run of the batch wrote; the files' paths."""
        if not BATCH_TAG.fullmatch(tag):
            raise ValueError(f"batch tag {tag!r}: use only letters, digits, '.', '_' and '-'")
        data = rows.drop_columns([c for c in PARTITION_COLUMNS if c in rows.column_names])
        written = []
        for key in (
            rows.select(["date", "hour"]).group_by(["date", "hour"]).aggregate([]).to_pylist()
        ):
            mask = pc.and_(
                _matches(rows.column("date"), key["date"]),
                _matches(rows.column("hour"), key["hour"]),
            )
            folder = (
                f"{self.root}/date={_folder_value(key['date'])}/hour={_folder_value(key['hour'])}"
                f"/batch={tag}"
            )
            written.append(self._replace(folder, f"part-{tag}.zstd.parquet", data.filter(mask)))
        return written

    def _replace(self, folder: str, name: str, part: pa.Table) -> str:
        """`part` as `folder/name`, whole, then nothing else in `folder` (an earlier run's
        files of this batch, a temporary file a killed write left)."""
        path = f"{folder}/{name}"
        if self.local:
            Path(folder).mkdir(parents=True, exist_ok=True)
            with atomic_path(Path(path)) as temporary:
                pq.write_table(part, temporary, **PARQUET_OPTIONS)
        else:
            buffer = pa.BufferOutputStream()
            pq.write_table(part, buffer, **PARQUET_OPTIONS)
            with self.filesystem.open_output_stream(path) as out:
                out.write(buffer.getvalue())
        selector = fs.FileSelector(folder, allow_not_found=True)
        stale = [
            i.path
            for i in self.filesystem.get_file_info(selector)
            if i.type == fs.FileType.File and i.path != path
        ]
        for other in stale:
            self.filesystem.delete_file(other)
        return path


def _matches(column: pa.ChunkedArray, value: Any) -> pa.ChunkedArray:
    return pc.is_null(column) if value is None else pc.equal(column, pa.scalar(value, column.type))


def _folder_value(value: date | int | None) -> str:
    """A partition value as Spark names its folder (dates ISO, hours without padding)."""
    if value is None:
        return HIVE_NULL
    return value.isoformat() if isinstance(value, date) else str(value)
