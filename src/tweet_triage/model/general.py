"""A general labelled tweet set trained on next to the mission's own labels, without leakage.

A mission rarely has many labels of its own; the bundled corpus has 49.5k. `--general-set
bundled` takes the whole bundled corpus (needs support = negative or neutral sentiment),
`--general-set PATH` a user's labelled table (id, text or model_text, needs_support, optional
sentiment). Nothing of the mission's val and test splits may reach training: a tweet with the
same id or the same normalised text is dropped from the bundled set, and a user's set that
holds any is refused with the overlap count (the user should know their set overlaps).
"""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from tweet_triage.config import CORPUS_DIR
from tweet_triage.model.data import ModelDataError, read_table, valid_text_mask
from tweet_triage.model.names import NEEDS_SUPPORT, NEEDS_SUPPORT_ONLY
from tweet_triage.text import normalise_text, word_count

log = logging.getLogger(__name__)

BUNDLED = "bundled"


def text_key(texts: pd.Series) -> pd.Series:
    """What "the same normalised text" means: model text, case and spacing folded."""
    return texts.fillna("").astype(str).map(lambda t: " ".join(normalise_text(t).lower().split()))


def bundled_corpus(corpus_dir: Path = CORPUS_DIR) -> pd.DataFrame:
    """Every annotated tweet of the bundled corpus in the splits' columns."""
    tweets_path, labels_path = corpus_dir / "tweets.jsonl.gz", corpus_dir / "annotations.csv.gz"
    if not tweets_path.is_file() or not labels_path.is_file():
        raise ModelDataError(
            f"--general-set bundled: the bundled corpus is not at {corpus_dir}; install the "
            "project with its corpus or pass --general-set PATH"
        )
    rows = []
    with gzip.open(tweets_path, "rt", encoding="utf-8") as handle:
        for line in handle:
            tweet = json.loads(line)
            rows.append((str(tweet["id"]), tweet["text"], tweet.get("created_at")))
    tweets = pd.DataFrame(rows, columns=["id", "text", "created_at"])
    labels = pd.read_csv(labels_path, dtype={"id": str})
    frame = tweets.merge(labels, on="id", how="inner")
    frame["sentiment"] = frame["sentiment"].astype("int64")
    frame[NEEDS_SUPPORT] = frame["sentiment"].isin([0, 1]).astype("int64")
    return frame


def _labelled(frame: pd.DataFrame, source: str, need_sentiment: bool) -> pd.DataFrame:
    """The general set checked and in the splits' columns (model_text, word_count)."""
    if "model_text" not in frame.columns:
        if "text" not in frame.columns:
            raise ModelDataError(f"--general-set {source}: needs a text or model_text column")
        frame = frame.assign(model_text=frame["text"].map(normalise_text))
    missing = [c for c in ("id", NEEDS_SUPPORT) if c not in frame.columns]
    if missing:
        raise ModelDataError(
            f"--general-set {source}: lacks column(s) {missing} (has {list(frame.columns)})"
        )
    labels = pd.to_numeric(frame[NEEDS_SUPPORT], errors="coerce")
    if not labels.isin([0, 1]).all():
        raise ModelDataError(f"--general-set {source}: needs_support must be 0 or 1 on every row")
    frame = frame.assign(**{NEEDS_SUPPORT: labels.astype("int64"), "id": frame["id"].astype(str)})
    if need_sentiment:
        sentiment = (
            pd.to_numeric(frame["sentiment"], errors="coerce")
            if "sentiment" in frame.columns
            else pd.Series(np.nan, index=frame.index)
        )
        binary = frame[NEEDS_SUPPORT].map({0: 2, 1: NEEDS_SUPPORT_ONLY})
        frame["sentiment"] = sentiment.fillna(binary).astype("int64")
    if "word_count" not in frame.columns:
        source_text = frame["text"] if "text" in frame.columns else frame["model_text"]
        frame["word_count"] = [word_count(t) if isinstance(t, str) else 0 for t in source_text]
    return frame.loc[valid_text_mask(frame["model_text"])].reset_index(drop=True)


def general_set(source: str, held_out: list[pd.DataFrame], need_sentiment: bool) -> pd.DataFrame:
    """The general set minus (bundled) or refused for (a user's set) any held-out tweet."""
    if source == BUNDLED:
        frame = _labelled(bundled_corpus(), source, need_sentiment)
    else:
        frame = _labelled(read_table(Path(source)), source, need_sentiment)
    held = pd.concat([f[["id", "model_text"]] for f in held_out], ignore_index=True)
    overlap = frame["id"].isin(set(held["id"].astype(str))) | text_key(frame["model_text"]).isin(
        set(text_key(held["model_text"]))
    )
    if overlap.any() and source != BUNDLED:
        raise ModelDataError(
            f"--general-set {source}: {int(overlap.sum())} tweet(s) also in the mission's val "
            "or test split (same id or same normalised text); remove them from the general "
            "set, or training would see the tweets it is judged on"
        )
    log.info(
        "general set %s: %d labelled tweets, %d left out as in val/test",
        source,
        len(frame),
        int(overlap.sum()),
    )
    return frame.loc[~overlap].reset_index(drop=True)


def mix(mission: pd.DataFrame, general: pd.DataFrame) -> pd.DataFrame:
    """The mission's train rows plus the general rows it does not already hold (by id)."""
    extra = general.loc[~general["id"].isin(set(mission["id"].astype(str)))]
    columns = [c for c in mission.columns if c in extra.columns]
    return pd.concat([mission, extra[columns]], ignore_index=True)
