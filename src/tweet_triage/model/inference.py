"""Scoring tweets: the public scorer API, and `predict` on files and Spark.

Public API (what the streaming scorer, the inbox's API and notebooks call)::

    scorer = load_scorer("models/needs-support")          # or "models:/<name>/<version>"
    scorer.score(["@acme my order never came"])           # -> [0.93]: P(needs support)
    scorer.threshold, scorer.version, scorer.engine       # decision cut, model id, engine

`score` takes raw tweet text: the training normalisation is applied inside, texts are
tokenised with the model folder's tokenizer, sorted by token length and padded per batch
(so a batch of short tweets stays short), and the logits become P(needs support): the summed
probability of the needs-support classes, never the winning class's score. An empty or
non-string text scores NaN. The engines differ only in what runs the network: `torch`
(fp32, CUDA when present) or ONNX Runtime on CPU (`onnx`: dynamic int8, `onnx-fp32`).
`auto` picks torch on a GPU, else onnx when the folder holds the export, else torch.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tweet_triage.model import calibration
from tweet_triage.model.data import (
    ModelDataError,
    output_format,
    read_table,
    valid_text_mask,
    write_table,
)
from tweet_triage.model.folder import ModelFolderError, ModelMeta, needs_support_probability
from tweet_triage.model.names import (
    INPUT_COLUMNS,
    META_FILE,
    P_COLUMN,
    PRED_COLUMN,
    TRUE_COLUMN,
)
from tweet_triage.model.parameters import ENGINES
from tweet_triage.text import normalise_text

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 64


def pick_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelDataError("--device cuda asked for, but torch sees no CUDA GPU; use auto or cpu")
    return device


def _load_tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError) as exc:
        raise ModelFolderError(
            f"{folder}: tokenizer cannot be loaded ({exc}); re-train with `tweet-triage train`"
        ) from exc


class Scorer:
    """A loaded model folder that turns raw tweets into P(needs support).

    Subclasses run the network (`_forward`: padded token arrays -> logits); tokenisation,
    normalisation, batching and the probability are shared, so every engine scores alike.
    """

    engine = "base"

    def __init__(self, folder: Path, tokenizer: Any, meta: ModelMeta, version: str) -> None:
        self.folder = Path(folder)
        self.tokenizer = tokenizer
        self.meta = meta
        self.version = version

    @property
    def threshold(self) -> float:
        """P(needs support) at or above which a tweet is flagged (chosen on validation)."""
        return self.meta.threshold

    def score(self, texts: Sequence[object]) -> list[float]:
        """P(needs support) per raw tweet text, in input order; NaN for unusable texts."""
        return self.predict_proba(texts).tolist()

    def predict_proba(
        self, texts: Sequence[object], batch_size: int = DEFAULT_BATCH_SIZE
    ) -> np.ndarray:
        """Calibrated P(needs support) per raw text as an array; NaN where empty or not a
        string (the calibration saved with the model, if any)."""
        series = pd.Series(list(texts), dtype=object)
        ok = valid_text_mask(series)
        p = np.full(len(series), np.nan)
        if ok.any():
            normalised = [normalise_text(t) for t in series[ok]]
            p[ok] = calibration.apply(
                self.meta.calibration,
                needs_support_probability(
                    self.logits(normalised, batch_size), self.meta.needs_support_ids
                ),
            )
        return p

    def logits(self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Raw logits for already-normalised, non-empty texts, in input order."""
        encoded = self.tokenizer(
            list(texts), truncation=True, max_length=self.meta.max_length, padding=False
        )
        names = [n for n in self.tokenizer.model_input_names if n in encoded]
        order = np.argsort([len(ids) for ids in encoded["input_ids"]], kind="stable")
        out = np.empty((len(order), len(self.meta.id2label)), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = self.tokenizer.pad(
                {name: [encoded[name][i] for i in chunk] for name in names}, return_tensors="np"
            )
            out[chunk] = self._forward({name: batch[name].astype(np.int64) for name in names})
        return out

    def _forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError


class TorchScorer(Scorer):
    """The network in torch: fp32 on CPU, bf16 autocast on CUDA, under inference mode."""

    engine = "torch"

    def __init__(
        self, folder: Path, tokenizer: Any, meta: ModelMeta, version: str, model: Any, device: str
    ) -> None:
        super().__init__(folder, tokenizer, meta, version)
        self.model = model
        self.device = device

    @classmethod
    def load(cls, folder: Path, device: str = "auto") -> TorchScorer:
        from transformers import AutoModelForSequenceClassification

        folder = Path(folder)
        meta = ModelMeta.load(folder)
        device = pick_device(device)
        tokenizer = _load_tokenizer(folder)
        try:
            model = AutoModelForSequenceClassification.from_pretrained(folder)
        except (OSError, ValueError) as exc:
            raise ModelFolderError(
                f"{folder}: weights cannot be loaded ({exc}); re-train with `tweet-triage train`"
            ) from exc
        model.to(device).eval()
        return cls(folder, tokenizer, meta, model_version(folder, meta), model, device)

    def _forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        use_bf16 = self.device.startswith("cuda") and torch.cuda.is_bf16_supported()
        with torch.inference_mode():
            tensors = {k: torch.from_numpy(v).to(self.device) for k, v in batch.items()}
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
                logits = self.model(**tensors).logits
            return logits.float().cpu().numpy()


class OnnxScorer(Scorer):
    """The exported network in ONNX Runtime on CPU (int8 or fp32 weights)."""

    def __init__(
        self, folder: Path, tokenizer: Any, meta: ModelMeta, version: str, session: Any, engine: str
    ) -> None:
        super().__init__(folder, tokenizer, meta, version)
        self.session = session
        self.engine = engine
        self._inputs = {i.name for i in session.get_inputs()}

    @classmethod
    def load(cls, folder: Path, quantised: bool = True, threads: int = 0) -> OnnxScorer:
        """Load the export (writing it first if the folder has none: the first use)."""
        from tweet_triage.model.export import export_onnx, onnx_paths, require_onnxruntime

        ort = require_onnxruntime()
        folder = Path(folder)
        meta = ModelMeta.load(folder)
        fp32, int8 = onnx_paths(folder)
        path = int8 if quantised else fp32
        if not path.is_file():
            log.info("%s: no ONNX export yet; exporting it now (once)", folder)
            export_onnx(folder)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelFolderError(
                f"{path}: not a usable ONNX model ({exc}); delete {path.parent} to re-export"
            ) from exc
        engine = "onnx" if quantised else "onnx-fp32"
        return cls(
            folder, _load_tokenizer(folder), meta, model_version(folder, meta), session, engine
        )

    def _forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        feed = {k: v for k, v in batch.items() if k in self._inputs}
        return np.asarray(self.session.run(["logits"], feed)[0], dtype=np.float32)


def model_version(folder: Path, meta: ModelMeta) -> str:
    """The registered MLflow version when there is one, else a digest of triage.json.

    triage.json records the run (options, steps, timings, threshold), so each training
    writes a different one: a changed version means a changed model.
    """
    registered = meta.mlflow.get("registered_version")
    if registered:
        return str(registered)
    digest = hashlib.sha256((Path(folder) / META_FILE).read_bytes()).hexdigest()
    return f"sha256:{digest[:12]}"


def resolve_model_dir(model_dir_or_uri: str | Path) -> Path:
    """A model folder as is; an MLflow model URI (`models:/name/version`, `runs:/...`)
    is downloaded once to the local MLflow cache and its model folder returned."""
    text = str(model_dir_or_uri)
    if ":/" not in text:
        return Path(text)
    import mlflow

    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=text))
    except Exception as exc:  # MLflow raises its own hierarchy for every store
        raise ModelFolderError(f"{text}: cannot fetch the model from MLflow ({exc})") from exc
    found = sorted(p.parent for p in local.rglob(META_FILE))
    if not found:
        raise ModelFolderError(f"{text}: the MLflow model holds no {META_FILE}; not a triage model")
    return found[0]


def load_scorer(model_dir_or_uri: str | Path, engine: str = "auto", device: str = "auto") -> Scorer:
    """The scorer of a model folder or MLflow model URI; see the module doc for engines."""
    if engine not in ENGINES:
        raise ModelDataError(f"engine {engine!r}: use one of {', '.join(ENGINES)}")
    folder = resolve_model_dir(model_dir_or_uri)
    if engine == "auto":
        from tweet_triage.model.export import onnx_paths

        exported = onnx_paths(folder)[1].is_file()
        engine = "onnx" if exported and pick_device(device) == "cpu" else "torch"
    if engine == "torch":
        return TorchScorer.load(folder, device=device)
    return OnnxScorer.load(folder, quantised=engine == "onnx")


@dataclass
class PredictSummary:
    rows: int
    scored: int
    skipped: int
    flagged: int
    seconds: float
    output: str
    engine: str

    @property
    def tweets_per_second(self) -> float:
        return self.scored / self.seconds if self.seconds else float("nan")


def score_frame(
    scorer: Scorer, frame: pd.DataFrame, batch_size: int = DEFAULT_BATCH_SIZE
) -> pd.DataFrame:
    """The rows plus p_needs_support and needs_support (nullable: NaN/NA for skipped texts).

    A `needs_support` column already present (the labels of a split) is renamed to
    `true_needs_support`, so predictions and labels sit side by side.
    """
    check_input_columns(frame.columns, "input")
    out = frame.copy()
    if PRED_COLUMN in out.columns:
        out = out.rename(columns={PRED_COLUMN: TRUE_COLUMN})
    p = scorer.predict_proba(out["text"].tolist(), batch_size=batch_size)
    out[P_COLUMN] = p
    flags = pd.array(np.where(np.isnan(p), 0, p >= scorer.threshold).astype(int), dtype="Int64")
    flags[np.isnan(p)] = pd.NA
    out[PRED_COLUMN] = flags
    return out


def check_input_columns(columns: Sequence[str], source: object) -> None:
    """`predict` needs `id` and `text`; say which are missing and what the input has."""
    missing = [c for c in INPUT_COLUMNS if c not in columns]
    if missing:
        raise ModelDataError(
            f"{source} lacks column(s) {missing} (has {list(columns)}); predict needs `id` "
            "and `text` (raw tweet text)"
        )


def check_spark_input(input_path: Path) -> None:
    """Before Spark starts: the input is Parquet (file or folder) with `id` and `text`."""
    import pyarrow.dataset as ds

    input_path = Path(input_path)
    if not input_path.exists():
        raise ModelDataError(f"{input_path}: no such file or folder; check the path")
    try:
        schema = ds.dataset(str(input_path), format="parquet").schema
    except (OSError, ValueError) as exc:  # pyarrow's errors are subclasses of these
        raise ModelDataError(
            f"{input_path}: --runner spark reads Parquet only ({exc}); convert the input or "
            "use --runner pandas"
        ) from exc
    check_input_columns(schema.names, input_path)


def predict_file(
    model_dir: str | Path,
    input_path: Path,
    output_path: Path,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: str = "auto",
    engine: str = "auto",
) -> PredictSummary:
    """Score a CSV / JSON Lines / Parquet file or folder and write the scored rows.

    The output path and the input's rows and columns are checked before the model loads.
    """
    output_format(output_path)
    frame = read_table(input_path)
    if frame.empty:
        raise ModelDataError(f"{input_path}: no rows to score")
    check_input_columns(frame.columns, input_path)
    scorer = load_scorer(model_dir, engine=engine, device=device)
    started = time.perf_counter()
    scored = score_frame(scorer, frame, batch_size=batch_size)
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
        engine=scorer.engine,
    )


def make_spark_predict_fn(
    model_dir: str, batch_size: int, device: str = "auto", engine: str = "auto"
) -> Callable[[], Callable[[np.ndarray], np.ndarray]]:
    """For `predict_batch_udf`: loads the scorer once per Python worker, scores text arrays."""

    def make() -> Callable[[np.ndarray], np.ndarray]:
        scorer = load_scorer(model_dir, engine=engine, device=device)

        def predict(texts: np.ndarray) -> np.ndarray:
            return scorer.predict_proba(texts.tolist(), batch_size=batch_size).astype(np.float64)

        return predict

    return make


def predict_spark(
    spark: Any,
    model_dir: Path,
    input_path: Path,
    output_path: Path,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: str = "auto",
    engine: str = "auto",
) -> PredictSummary:
    """Score a Parquet folder with Spark (pyspark.ml.functions.predict_batch_udf).

    Each executor loads the scorer once and scores batches of `batch_size`; the output is a
    Parquet folder with the input columns plus p_needs_support and needs_support.
    """
    from pyspark.ml.functions import predict_batch_udf
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType

    if output_format(output_path) not in ("parquet", "parquet folder"):
        raise ModelDataError(
            f"{output_path}: --runner spark writes a Parquet folder; give a path without a "
            "suffix or ending in .parquet"
        )
    check_spark_input(input_path)
    meta = ModelMeta.load(model_dir)  # fail fast, on the driver, with a clear message
    if engine != "torch":
        # Export on the driver once, not in every Python worker at the same time.
        load_scorer(model_dir, engine=engine, device=device)
    frame = spark.read.parquet(str(input_path))
    if PRED_COLUMN in frame.columns:
        frame = frame.withColumnRenamed(PRED_COLUMN, TRUE_COLUMN)
    score = predict_batch_udf(
        make_spark_predict_fn(str(Path(model_dir).resolve()), batch_size, device, engine),
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
        engine=engine,
    )
