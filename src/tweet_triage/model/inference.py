"""Scoring tweets: batched, length-sorted, no-grad; P(needs support), not the top class's score.

The original scored 600 tweets one at a time through a `pipeline` and kept the probability
of whichever class won, which mixes the two classes in every statistic built on it. Here a
batch of raw tweets is normalised exactly as in training, sorted by token length (so each
padded batch wastes little), run under `torch.inference_mode`, and turned into
P(needs support) with the threshold saved at training time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tweet_triage.model.bundle import ModelFolderError, ModelMeta, needs_support_probability
from tweet_triage.model.data import ModelDataError, read_table, valid_text_mask, write_table
from tweet_triage.text import normalise_text

log = logging.getLogger(__name__)

P_COLUMN = "p_needs_support"
PRED_COLUMN = "needs_support"
# A label already in the input (a test split) is kept under this name next to the prediction.
TRUE_COLUMN = "true_needs_support"


def pick_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelDataError("--device cuda asked for, but torch sees no CUDA GPU; use auto or cpu")
    return device


@dataclass
class NeedsSupportModel:
    """A loaded model folder, ready to score texts."""

    model: Any
    tokenizer: Any
    meta: ModelMeta
    device: str

    @classmethod
    def load(cls, folder: Path, device: str = "auto") -> NeedsSupportModel:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        meta = ModelMeta.load(folder)
        device = pick_device(device)
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder)
            model = AutoModelForSequenceClassification.from_pretrained(folder)
        except (OSError, ValueError) as exc:
            raise ModelFolderError(
                f"{folder}: weights or tokenizer cannot be loaded ({exc}); re-train with "
                "`tweet-triage train`"
            ) from exc
        model.to(device).eval()
        return cls(model=model, tokenizer=tokenizer, meta=meta, device=device)

    @property
    def threshold(self) -> float:
        return self.meta.threshold

    def logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Raw logits for already-normalised, non-empty texts, in input order."""
        import torch

        encoded = self.tokenizer(
            list(texts), truncation=True, max_length=self.meta.max_length, padding=False
        )["input_ids"]
        order = np.argsort([len(ids) for ids in encoded], kind="stable")
        out = np.empty((len(encoded), self.model.config.num_labels), dtype=np.float32)
        use_bf16 = self.device.startswith("cuda") and torch.cuda.is_bf16_supported()
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                batch = self.tokenizer.pad(
                    {"input_ids": [encoded[i] for i in chunk]}, return_tensors="pt"
                )
                batch = {k: v.to(self.device) for k, v in batch.items()}
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
                    logits = self.model(**batch).logits
                out[chunk] = logits.float().cpu().numpy()
        return out

    def predict_proba(self, texts: Sequence[object], batch_size: int = 64) -> np.ndarray:
        """P(needs support) per raw text; NaN where the text is empty or not a string."""
        series = pd.Series(list(texts), dtype=object)
        ok = valid_text_mask(series)
        p = np.full(len(series), np.nan)
        if ok.any():
            normalised = [normalise_text(t) for t in series[ok]]
            p[ok] = needs_support_probability(
                self.logits(normalised, batch_size), self.meta.needs_support_ids
            )
        return p


@dataclass
class PredictSummary:
    rows: int
    scored: int
    skipped: int
    flagged: int
    seconds: float
    output: str

    @property
    def tweets_per_second(self) -> float:
        return self.scored / self.seconds if self.seconds else float("nan")


def score_frame(
    model: NeedsSupportModel, frame: pd.DataFrame, batch_size: int = 64
) -> pd.DataFrame:
    """The rows plus p_needs_support and needs_support (nullable: NaN/NA for skipped texts).

    A `needs_support` column already present (the labels of a split) is renamed to
    `true_needs_support`, so predictions and labels sit side by side.
    """
    missing = [c for c in ("id", "text") if c not in frame.columns]
    if missing:
        raise ModelDataError(
            f"input lacks column(s) {missing} (has {list(frame.columns)}); predict needs `id` "
            "and `text` (raw tweet text)"
        )
    out = frame.copy()
    if PRED_COLUMN in out.columns:
        out = out.rename(columns={PRED_COLUMN: TRUE_COLUMN})
    p = model.predict_proba(out["text"].tolist(), batch_size=batch_size)
    out[P_COLUMN] = p
    flags = pd.array(np.where(np.isnan(p), 0, p >= model.threshold).astype(int), dtype="Int64")
    flags[np.isnan(p)] = pd.NA
    out[PRED_COLUMN] = flags
    return out


def predict_file(
    model_dir: Path,
    input_path: Path,
    output_path: Path,
    batch_size: int = 64,
    device: str = "auto",
) -> PredictSummary:
    """Score a CSV / JSON Lines / Parquet file or folder and write the scored rows."""
    model = NeedsSupportModel.load(model_dir, device=device)
    frame = read_table(input_path)
    if frame.empty:
        raise ModelDataError(f"{input_path}: no rows to score")
    started = time.perf_counter()
    scored = score_frame(model, frame, batch_size=batch_size)
    seconds = time.perf_counter() - started
    skipped = int(scored[P_COLUMN].isna().sum())
    if skipped:
        log.warning(
            "%s: %d row(s) with an empty or non-string text were not scored "
            "(kept with p_needs_support and needs_support empty)",
            input_path,
            skipped,
        )
    write_table(scored, output_path)
    return PredictSummary(
        rows=len(scored),
        scored=len(scored) - skipped,
        skipped=skipped,
        flagged=int(scored[PRED_COLUMN].sum(skipna=True)),
        seconds=seconds,
        output=str(output_path),
    )


def make_spark_predict_fn(
    model_dir: str, batch_size: int, device: str = "auto"
) -> Callable[[], Callable[[np.ndarray], np.ndarray]]:
    """For `predict_batch_udf`: loads the model once per Python worker, scores text arrays."""

    def make() -> Callable[[np.ndarray], np.ndarray]:
        model = NeedsSupportModel.load(Path(model_dir), device=device)

        def predict(texts: np.ndarray) -> np.ndarray:
            return model.predict_proba(texts.tolist(), batch_size=batch_size).astype(np.float64)

        return predict

    return make


def predict_spark(
    spark: Any,
    model_dir: Path,
    input_path: Path,
    output_path: Path,
    batch_size: int = 64,
    device: str = "auto",
) -> PredictSummary:
    """Score a Parquet folder with Spark (pyspark.ml.functions.predict_batch_udf).

    Each executor loads the model once and scores batches of `batch_size`; the output is a
    Parquet folder with the input columns plus p_needs_support and needs_support.
    """
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType

    meta = ModelMeta.load(model_dir)  # fail fast, on the driver, with a clear message
    frame = spark.read.parquet(str(input_path))
    missing = [c for c in ("id", "text") if c not in frame.columns]
    if missing:
        raise ModelDataError(f"{input_path}: Parquet lacks column(s) {missing}")
    if PRED_COLUMN in frame.columns:
        frame = frame.withColumnRenamed(PRED_COLUMN, TRUE_COLUMN)
    score = predict_batch_udf(
        make_spark_predict_fn(str(Path(model_dir).resolve()), batch_size, device),
        return_type=DoubleType(),
        batch_size=batch_size,
    )
    started = time.perf_counter()
    raw = score(F.coalesce(F.col("text").cast("string"), F.lit("")))
    scored = frame.withColumn(P_COLUMN, F.when(F.isnan(raw), None).otherwise(raw))
    scored = scored.withColumn(PRED_COLUMN, (F.col(P_COLUMN) >= F.lit(meta.threshold)).cast("int"))
    scored.write.mode("overwrite").parquet(str(output_path))
    counts = (
        spark.read.parquet(str(output_path))
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.count(P_COLUMN).alias("scored"),
            F.sum(PRED_COLUMN).alias("flagged"),
        )
        .first()
    )
    seconds = time.perf_counter() - started
    rows, scored_rows = int(counts["rows"]), int(counts["scored"])
    if rows - scored_rows:
        log.warning(
            "%s: %d row(s) with an empty text were not scored", input_path, rows - scored_rows
        )
    return PredictSummary(
        rows=rows,
        scored=scored_rows,
        skipped=rows - scored_rows,
        flagged=int(counts["flagged"] or 0),
        seconds=seconds,
        output=str(output_path),
    )
