"""Model benchmark: CPU scoring engines and the training loop, side by side in one run.

Scoring, on the same tweets: the original's way (a `pipeline`, one text per call), torch fp32
batched (length-sorted, no-grad), ONNX Runtime fp32 and ONNX Runtime dynamic int8; tweets/s,
ratios, and ROC AUC of each engine where the tweets carry labels (the int8 quality guard).

Training, the fine-tuning loop on the same tweets (batch 32, max length 48, AdamW): the loop
as it was against the loop as `train` now runs it (see `_training` for what differs), each
for a few steps in alternating blocks, so both see the same load on a shared machine.

The model is the trained one in MODEL_DIR when there is one, else the backbone with a fresh
three-class head (speed does not depend on what the head learned). Tweets come from the test
split (or, before `make data`, from the bundled corpus).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

N_TWEETS = int(os.environ.get("BENCH_MODEL_TWEETS", "1000"))
N_PER_TEXT = int(os.environ.get("BENCH_MODEL_PER_TEXT_TWEETS", "300"))
TRAIN_STEPS = int(os.environ.get("BENCH_MODEL_TRAIN_STEPS", "30"))
TRAIN_BATCH = 32
TRAIN_MAX_LENGTH = 48
ROUNDS = 2  # each engine runs this many times, interleaved; the best round counts


def _tweets(settings: Any) -> tuple[list[str], list[int] | None, str]:
    import pandas as pd

    from tweet_triage.model.data import read_table, splits_dir

    test = splits_dir(settings.data_dir) / "test"
    if test.exists():
        frame = read_table(test).dropna(subset=["text"])
        frame = frame.sample(n=min(N_TWEETS, len(frame)), random_state=0)
        return frame["text"].astype(str).tolist(), frame["needs_support"].tolist(), str(test)
    from tweet_triage_local.corpus import CORPUS_DIR

    files = sorted(Path(CORPUS_DIR).glob("*.jsonl*"))
    if not files:
        raise SystemExit("no tweets to benchmark: run `make data` first")
    texts = pd.read_json(files[0], lines=True)["text"].astype(str).tolist()[:N_TWEETS]
    return texts, None, str(files[0])


def _model_dir(settings: Any, scratch: Path) -> tuple[Path, str]:
    """A copy of MODEL_DIR if it holds a trained model, else the backbone, untrained head."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tweet_triage.model.bundle import SENTIMENT_LABELS, ModelMeta, resolve_backbone

    target = scratch / "model"
    if (settings.model_dir / "triage.json").is_file():
        shutil.copytree(settings.model_dir, target)  # the export below must not touch it
        return target, f"trained model in {settings.model_dir}"
    backbone = resolve_backbone(settings.model_name_or_path)
    model = AutoModelForSequenceClassification.from_pretrained(
        backbone, num_labels=3, id2label=SENTIMENT_LABELS
    )
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(backbone).save_pretrained(target)
    meta = ModelMeta("three_class", 0.5, SENTIMENT_LABELS, [0, 1], TRAIN_MAX_LENGTH, backbone)
    meta.save(target)
    return target, f"backbone {Path(backbone).name} with an untrained 3-class head"


def _per_text(scorer: Any, texts: list[str]) -> float:
    """The original: a text-classification pipeline called once per tweet; tweets/s."""
    from transformers import pipeline

    pipe = pipeline("text-classification", model=scorer.model, tokenizer=scorer.tokenizer)
    for text in texts[:8]:
        pipe(text)
    started = time.perf_counter()
    for text in texts:
        pipe(text, truncation=True)
    return len(texts) / (time.perf_counter() - started)


def _inference(model_dir: Path, texts: list[str], labels: list[int] | None) -> dict[str, Any]:
    import numpy as np
    import torch

    from tweet_triage.model.export import export_onnx, onnx_paths
    from tweet_triage.model.inference import load_scorer

    if not onnx_paths(model_dir)[1].is_file():
        export_onnx(model_dir)
    engines = ("torch", "onnx-fp32", "onnx")
    scorers = {name: load_scorer(model_dir, engine=name, device="cpu") for name in engines}
    best = dict.fromkeys(engines, 0.0)
    scores: dict[str, np.ndarray] = {}
    for scorer in scorers.values():
        scorer.predict_proba(texts[:64])  # warm-up
    for _ in range(ROUNDS):
        for name, scorer in scorers.items():
            started = time.perf_counter()
            scores[name] = scorer.predict_proba(texts, batch_size=64)
            best[name] = max(best[name], len(texts) / (time.perf_counter() - started))
    per_text = _per_text(scorers["torch"], texts[:N_PER_TEXT])
    rows = [
        {"engine": "pipeline, one text per call (original)", "tweets_per_s": per_text},
        {"engine": "torch fp32, batched", "tweets_per_s": best["torch"]},
        {"engine": "ONNX Runtime fp32", "tweets_per_s": best["onnx-fp32"]},
        {"engine": "ONNX Runtime int8 (dynamic)", "tweets_per_s": best["onnx"]},
    ]
    for row in rows:
        row["x_per_text"] = row["tweets_per_s"] / per_text
        row["x_torch_fp32"] = row["tweets_per_s"] / best["torch"]
    result: dict[str, Any] = {
        "tweets": len(texts),
        "per_text_tweets": min(N_PER_TEXT, len(texts)),
        "torch_threads": torch.get_num_threads(),
        "engines": rows,
        "max_abs_diff_vs_torch": {
            name: float(np.nanmax(np.abs(scores[name] - scores["torch"])))
            for name in ("onnx-fp32", "onnx")
        },
    }
    if labels is not None:
        from sklearn.metrics import roc_auc_score

        y = np.asarray(labels, dtype=int)
        ok = ~np.isnan(scores["torch"])
        auc = {name: float(roc_auc_score(y[ok], scores[name][ok])) for name in engines}
        result["roc_auc"] = auc
        result["roc_auc_int8_minus_torch"] = auc["onnx"] - auc["torch"]
    return result


def _training(model_dir: Path, texts: list[str]) -> dict[str, Any]:
    """samples/s of the fine-tuning loop: as it was, against as `train` now runs it.

    before: all weights trained (the 11.7 M-entry word-embedding matrix gets a dense
    gradient and an AdamW update every step), validation batches in random order;
    after: the word embeddings frozen, validation sorted by length.
    Both draw length-grouped batches, as the Trainer's sampler does.
    Each loop does forward, backward and an AdamW step on batch 32, max length 48, plus one
    validation pass over 256 tweets per block of steps.
    """
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    encoded = tokenizer(texts, truncation=True, max_length=TRAIN_MAX_LENGTH)["input_ids"]
    lengths = np.array([len(ids) for ids in encoded])
    rng = np.random.default_rng(0)

    def batches() -> list[np.ndarray]:
        """As the Trainer's length-grouped sampler: sorted within shuffled mega-batches."""
        order = rng.permutation(len(encoded))
        mega = np.array_split(order, max(1, len(order) // (TRAIN_BATCH * 8)))
        order = np.concatenate([m[np.argsort(-lengths[m], kind="stable")] for m in mega])
        last = len(order) - TRAIN_BATCH + 1
        return [order[s : s + TRAIN_BATCH] for s in range(0, last, TRAIN_BATCH)]

    def pad(rows: np.ndarray) -> dict[str, torch.Tensor]:
        return tokenizer.pad({"input_ids": [encoded[i] for i in rows]}, return_tensors="pt")

    def setup(after: bool) -> tuple[Any, Any]:
        model = AutoModelForSequenceClassification.from_pretrained(model_dir).train()
        if after:
            model.get_input_embeddings().weight.requires_grad_(False)
        params = [p for p in model.parameters() if p.requires_grad]
        return model, torch.optim.AdamW(params, lr=5e-5, fused=True)

    loops = {name: setup(name == "after") for name in ("before", "after")}
    val_rows = rng.permutation(len(encoded))[:256]
    val_orders = {
        "before": val_rows,
        "after": val_rows[np.argsort(lengths[val_rows], kind="stable")],
    }
    shared = batches()
    train_batches = {"before": shared, "after": shared}
    totals = {name: {"seconds": 0.0, "samples": 0, "padded_tokens": 0} for name in loops}

    def run(name: str, steps: range) -> None:
        model, optimiser = loops[name]
        started = time.perf_counter()
        for step in steps:
            batch = pad(train_batches[name][step % len(train_batches[name])])
            labels = torch.zeros(batch["input_ids"].shape[0], dtype=torch.long)
            model(**batch, labels=labels).loss.backward()
            optimiser.step()
            optimiser.zero_grad()
            totals[name]["samples"] += batch["input_ids"].shape[0]
            totals[name]["padded_tokens"] += batch["input_ids"].numel()
        with torch.inference_mode():
            order = val_orders[name]
            for s in range(0, len(order), 128):
                model(**pad(order[s : s + 128]))
        totals[name]["seconds"] += time.perf_counter() - started

    run("before", range(1))  # warm-up, not counted
    run("after", range(1))
    totals = {name: {"seconds": 0.0, "samples": 0, "padded_tokens": 0} for name in loops}
    block = max(1, TRAIN_STEPS // 3)
    for start in range(0, TRAIN_STEPS, block):
        for name in loops:
            run(name, range(start, min(start + block, TRAIN_STEPS)))
    rows = {
        name: {
            "steps": TRAIN_STEPS,
            "samples_per_s": t["samples"] / t["seconds"],
            "mean_padded_length": t["padded_tokens"] / t["samples"],
        }
        for name, t in totals.items()
    }
    return {
        "batch": TRAIN_BATCH,
        "max_length": TRAIN_MAX_LENGTH,
        "mean_token_length": float(lengths.mean()),
        **rows,
        "speed_up": rows["after"]["samples_per_s"] / rows["before"]["samples_per_s"],
    }


def run() -> dict[str, Any]:
    import torch

    from tweet_triage.config import load_settings

    settings = load_settings()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    texts, labels, source = _tweets(settings)
    with tempfile.TemporaryDirectory() as scratch:
        model_dir, model_note = _model_dir(settings, Path(scratch))
        return {
            "model": model_note,
            "tweets_source": source,
            "load_average_at_start": os.getloadavg()[0],
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "gpu_note": None
            if torch.cuda.is_available()
            else "no GPU on this machine: the CUDA path (bf16, TF32) was not measured",
            "inference": _inference(model_dir, texts, labels),
            "training": _training(model_dir, texts),
        }


def summarise(result: dict[str, Any]) -> str:
    inf, tr = result["inference"], result["training"]
    lines = [
        "## Model: CPU scoring engines and the training loop",
        "",
        f"Model: {result['model']}; {inf['tweets']} tweets from `{result['tweets_source']}` "
        f"({inf['per_text_tweets']} for the per-text pipeline); torch threads "
        f"{inf['torch_threads']}; load average {result['load_average_at_start']:.1f} at the "
        f"start. GPU: {result['gpu'] or 'none (not measured)'}.",
        "",
        "| scoring engine (CPU) | tweets/s | x per-text pipeline | x torch fp32 |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {row['engine']} | {row['tweets_per_s']:.0f} | {row['x_per_text']:.1f}x | "
        f"{row['x_torch_fp32']:.2f}x |"
        for row in inf["engines"]
    ]
    if "roc_auc" in inf:
        auc = inf["roc_auc"]
        lines += [
            "",
            f"ROC AUC on these labelled tweets: torch {auc['torch']:.4f}, ONNX fp32 "
            f"{auc['onnx-fp32']:.4f}, ONNX int8 {auc['onnx']:.4f} (int8 - torch: "
            f"{inf['roc_auc_int8_minus_torch']:+.4f}; the guard is 0.005). Largest change "
            f"of a score: fp32 {inf['max_abs_diff_vs_torch']['onnx-fp32']:.1e}, int8 "
            f"{inf['max_abs_diff_vs_torch']['onnx']:.3f}.",
        ]
    lines += [
        "",
        f"| training loop (batch {tr['batch']}, max length {tr['max_length']}, "
        f"{tr['before']['steps']} steps + validation) | samples/s | mean padded length |",
        "|---|---:|---:|",
        f"| before: all weights trained, unsorted validation | "
        f"{tr['before']['samples_per_s']:.1f} | {tr['before']['mean_padded_length']:.1f} |",
        f"| after: word embeddings frozen, validation sorted by length | "
        f"{tr['after']['samples_per_s']:.1f} | {tr['after']['mean_padded_length']:.1f} |",
        "",
        f"Training loop speed-up: **{tr['speed_up']:.2f}x** (mean tweet length "
        f"{tr['mean_token_length']:.1f} tokens). " + (result["gpu_note"] or ""),
    ]
    return "\n".join(lines)
