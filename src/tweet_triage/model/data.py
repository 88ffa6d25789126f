"""Reading the data stage's splits and users' input files, with checks that name the input.

The model stage reads two kinds of tables: the labelled splits the data stage writes
(`<data dir>/splits/{train,val,test}/`, Parquet) and whatever a user hands to `predict`
(CSV, JSON Lines or Parquet, a file or a folder of them). Both go through `read_table`, so
every stage of the model accepts the same formats and fails the same clear way.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tweet_triage.errors import TriageError
from tweet_triage.model.names import NEEDS_SUPPORT, NEEDS_SUPPORT_ONLY, SPLIT_COLUMNS

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
PARQUET_SUFFIXES = (".parquet", ".pq")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES = (".csv",)
_CSV_NA = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "<NA>")
FORMATS = {"parquet": PARQUET_SUFFIXES, "jsonl": JSONL_SUFFIXES, "csv": CSV_SUFFIXES}


class ModelDataError(TriageError):
    """A split or input file the model stage cannot use; the message says why and the fix."""


def file_format(path: Path) -> str:
    """'parquet', 'jsonl' or 'csv' from the file name (`.gz` allowed for CSV and JSON Lines)."""
    name = path.name.lower().removesuffix(".gz")
    for fmt, suffixes in FORMATS.items():
        if name.endswith(suffixes):
            return fmt
    raise ModelDataError(
        f"{path}: unknown file type; use .csv, .jsonl (or .ndjson/.json, JSON Lines) or .parquet"
    )


def output_format(path: Path) -> str:
    """The format `write_table` will use: by suffix, or a Parquet folder for a bare name.

    A suffix that is none of the supported ones is refused (`o.xlsx` must not silently
    become a Parquet folder named `o.xlsx`).
    """
    path = Path(path)
    if not path.suffix:
        return "parquet folder"
    try:
        return file_format(path)
    except ModelDataError:
        raise ModelDataError(
            f"{path}: cannot write {path.suffix} files; end the output with .parquet, .csv, "
            ".jsonl (or .ndjson/.json, optionally .gz for CSV and JSON Lines), or give no "
            "suffix for a Parquet folder"
        ) from None


def _data_files(folder: Path) -> list[Path]:
    """The data files of a folder (Spark/pandas style: hidden and `_` files are metadata)."""
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith((".", "_")) and not p.name.endswith(".crc")
    )
    usable = []
    for path in files:
        try:
            file_format(path)
        except ModelDataError:
            continue
        usable.append(path)
    return usable


def _read_file(path: Path) -> pd.DataFrame:
    fmt = file_format(path)
    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        if fmt == "jsonl":
            return pd.read_json(path, lines=True, dtype={"id": str})
        # Ids and texts stay strings: '0012' is an id, 'NA' is a tweet, '' is an empty text;
        # in every other column the usual missing-value markers mean missing.
        header = pd.read_csv(path, nrows=0).columns
        na_values = {c: list(_CSV_NA) for c in header if c not in ("id", "text")}
        return pd.read_csv(
            path, dtype={"id": str, "text": str}, keep_default_na=False, na_values=na_values
        )
    except (ValueError, OSError) as exc:  # pyarrow, json and csv errors are ValueErrors
        raise ModelDataError(f"{path}: cannot be read as {fmt}: {exc}") from exc


def read_table(path: Path) -> pd.DataFrame:
    """One table from a file or a folder of files of one format."""
    path = Path(path)
    if path.is_file():
        return _read_file(path)
    if not path.is_dir():
        raise ModelDataError(f"{path}: no such file or folder; check the path")
    files = _data_files(path)
    if not files:
        raise ModelDataError(
            f"{path}: the folder holds no .parquet, .csv or .jsonl files; point at the data "
            "(for the splits, run `make split` first)"
        )
    formats = {file_format(p) for p in files}
    if len(formats) > 1:
        raise ModelDataError(
            f"{path}: mixes file types {sorted(formats)}; keep one format per folder"
        )
    frames = [_read_file(p) for p in files]
    frames = [f for f in frames if len(f.columns)]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def valid_text_mask(texts: pd.Series) -> np.ndarray:
    """True where a text is a non-blank string: what the model can score."""
    return np.fromiter(
        (isinstance(t, str) and bool(t.strip()) for t in texts), dtype=bool, count=len(texts)
    )


def splits_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "splits"


def require_splits(data_dir: Path, names: tuple[str, ...]) -> None:
    """Fail fast, before any model or Spark loads, when a split folder is missing."""
    for name in names:
        path = splits_dir(data_dir) / name
        if not path.exists():
            raise ModelDataError(
                f"split {name!r} not found at {path}; run `make data` (or `tweet-triage split`) "
                "first, or set DATA_DIR to the folder that holds splits/"
            )


def load_split(
    data_dir: Path, name: str, *, need_both_classes: bool = True, need_sentiment: bool = False
) -> pd.DataFrame:
    """A labelled split, checked: present, not empty, both classes, usable texts.

    Rows whose `model_text` is empty or not a string are dropped with a warning that counts
    them (the data stage should not produce any; a hand-made split might).
    """
    require_splits(data_dir, (name,))
    path = splits_dir(data_dir) / name
    frame = read_table(path)
    if frame.empty:
        raise ModelDataError(
            f"split {name!r} at {path} is empty; the data stage kept no labelled tweets for it "
            "(check the split sizes and the annotations)"
        )
    wanted = (*SPLIT_COLUMNS, "sentiment") if need_sentiment else SPLIT_COLUMNS
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ModelDataError(
            f"split {name!r} at {path} lacks column(s) {missing} (has {list(frame.columns)}); "
            "re-run `make data` with this version of the project"
        )
    labels = pd.to_numeric(frame[NEEDS_SUPPORT], errors="coerce")
    if labels.isna().any() or not labels.isin([0, 1]).all():
        raise ModelDataError(
            f"split {name!r} at {path}: needs_support must be 0 or 1 on every row; "
            f"found {sorted(map(str, frame.loc[~labels.isin([0, 1]), NEEDS_SUPPORT].unique()))[:5]}"
        )
    frame[NEEDS_SUPPORT] = labels.astype("int64")
    if need_sentiment:
        sentiment = pd.to_numeric(frame["sentiment"], errors="coerce")
        # A binary label (an inbox decision) has no sentiment: "no support" is the positive
        # class's target; "needs support" learns P(negative) + P(neutral) (NEEDS_SUPPORT_ONLY).
        binary = sentiment.isna() & frame["sentiment"].isna()
        sentiment = sentiment.mask(binary, frame[NEEDS_SUPPORT].map({0: 2, 1: NEEDS_SUPPORT_ONLY}))
        if not sentiment.isin([0, 1, 2, NEEDS_SUPPORT_ONLY]).all():
            raise ModelDataError(
                f"split {name!r} at {path}: sentiment must be 0, 1, 2 or empty (a binary "
                "label) on every row for three-class training; use --objective weighted or "
                "fix the annotations"
            )
        frame["sentiment"] = sentiment.astype("int64")
    ok = valid_text_mask(frame["model_text"])
    if not ok.all():
        log.warning(
            "split %s: skipped %d row(s) with an empty or non-string model_text", name, (~ok).sum()
        )
        frame = frame.loc[ok].reset_index(drop=True)
        if frame.empty:
            raise ModelDataError(f"split {name!r} at {path}: no row has a usable model_text")
    if need_both_classes and frame[NEEDS_SUPPORT].nunique() < 2:
        only = int(frame[NEEDS_SUPPORT].iloc[0])
        raise ModelDataError(
            f"split {name!r} at {path} holds one class only (needs_support={only} on all "
            f"{len(frame)} rows); a classifier cannot be trained or judged on it. Label more "
            "tweets of the other class or widen the split"
        )
    return frame


def load_manifest(data_dir: Path) -> dict[str, Any] | None:
    """The data stage's manifest of the splits, recorded with the model it trained."""
    path = splits_dir(data_dir) / "manifest.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelDataError(f"{path}: not valid JSON ({exc}); re-run `make split`") from exc


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write by the output's suffix; a path without a suffix becomes a Parquet folder."""
    path = Path(path)
    fmt = output_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet folder":
        path.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path / "part-00000.parquet", index=False)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True, date_format="iso", force_ascii=False)
    else:
        frame.to_csv(path, index=False)
