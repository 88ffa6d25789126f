"""Model benchmark: inference tweets/s, ours vs the original's one-at-a-time pipeline; training
samples/s. All on the same model, the same tweets, in one run; CPU (and CUDA when present).

The model is the trained one in MODEL_DIR when there is one, else the backbone with a fresh
three-class head (speed does not depend on what the head learned). Tweets come from the test
split (or, before `make data`, from the bundled corpus).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

N_TWEETS = int(os.environ.get("BENCH_MODEL_TWEETS", "1000"))
TRAIN_STEPS = int(os.environ.get("BENCH_MODEL_TRAIN_STEPS", "20"))
TRAIN_BATCH = 32


def _tweets(settings: Any) -> tuple[list[str], str]:
    from tweet_triage.config import CORPUS_DIR
    from tweet_triage.model.data import read_table, splits_dir

    test = splits_dir(settings.data_dir) / "test"
    if test.exists():
        texts = read_table(test)["text"].dropna().astype(str).tolist()
        source = str(test)
    else:
        files = sorted(CORPUS_DIR.glob("*.jsonl*"))
        if not files:
            raise SystemExit("no tweets to benchmark: run `make data` (or `make corpus`) first")
        import pandas as pd

        texts = pd.read_json(files[0], lines=True)["text"].astype(str).tolist()
        source = str(files[0])
    return texts[:N_TWEETS], source


def _model_dir(settings: Any, scratch: Path) -> tuple[Path, str]:
    """MODEL_DIR if it holds a trained model, else the backbone with an untrained head."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tweet_triage.model.bundle import SENTIMENT_LABELS, ModelMeta, resolve_backbone

    if (settings.model_dir / "triage.json").is_file():
        return settings.model_dir, f"trained model in {settings.model_dir}"
    backbone = resolve_backbone(settings.model_name_or_path)
    model = AutoModelForSequenceClassification.from_pretrained(
        backbone, num_labels=3, id2label=SENTIMENT_LABELS
    )
    model.save_pretrained(scratch)
    AutoTokenizer.from_pretrained(backbone).save_pretrained(scratch)
    ModelMeta("three_class", 0.5, SENTIMENT_LABELS, [0, 1], 64, backbone).save(scratch)
    return scratch, f"backbone {Path(backbone).name} with an untrained 3-class head"


def _inference(model_dir: Path, texts: list[str], device: str) -> dict[str, Any]:
    from transformers import pipeline

    from tweet_triage.model.inference import NeedsSupportModel

    model = NeedsSupportModel.load(model_dir, device=device)
    model.predict_proba(texts[:64])  # warm-up
    started = time.perf_counter()
    model.predict_proba(texts, batch_size=64)
    ours = time.perf_counter() - started

    pipe = pipeline(
        "text-classification", model=model.model, tokenizer=model.tokenizer, device=model.device
    )
    for text in texts[:16]:
        pipe(text)
    started = time.perf_counter()
    for text in texts:  # the original: np.vectorize over the pipeline, one text per call
        pipe(text, truncation=True)
    one_by_one = time.perf_counter() - started
    return {
        "device": device,
        "tweets": len(texts),
        "ours_tweets_per_s": len(texts) / ours,
        "pipeline_one_at_a_time_tweets_per_s": len(texts) / one_by_one,
        "speed_up": one_by_one / ours,
    }


def _training(model_dir: Path, texts: list[str], device: str) -> dict[str, Any]:
    """Optimiser steps/s of the fine-tuning loop itself (forward, backward, AdamW)."""
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
    )

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).to(device).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=5e-5)
    encoded = tokenizer(texts, truncation=True, max_length=64)
    collate = DataCollatorWithPadding(tokenizer)
    rows = [{k: encoded[k][i] for k in encoded} for i in range(len(texts))]
    batches = [collate(rows[s : s + TRAIN_BATCH]) for s in range(0, len(rows), TRAIN_BATCH)]
    use_bf16 = device == "cuda" and torch.cuda.is_bf16_supported()

    def step(batch: dict[str, torch.Tensor]) -> None:
        batch = {k: v.to(device) for k, v in batch.items()}
        labels = torch.zeros(batch["input_ids"].shape[0], dtype=torch.long, device=device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
            loss = model(**batch, labels=labels).loss
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()

    step(batches[0])  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    samples = 0
    for i in range(TRAIN_STEPS):
        batch = batches[i % len(batches)]
        step(batch)
        samples += batch["input_ids"].shape[0]
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    return {"device": device, "steps": TRAIN_STEPS, "samples_per_s": samples / seconds}


def run() -> dict[str, Any]:
    import torch

    from tweet_triage.config import load_settings

    settings = load_settings()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    texts, source = _tweets(settings)
    devices = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    with tempfile.TemporaryDirectory() as scratch:
        model_dir, model_note = _model_dir(settings, Path(scratch))
        return {
            "model": model_note,
            "tweets_source": source,
            "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "inference": [_inference(model_dir, texts, d) for d in devices],
            "training": [_training(model_dir, texts, d) for d in devices],
        }


def summarise(result: dict[str, Any]) -> str:
    lines = [
        "## Model: inference and training throughput",
        "",
        f"Model: {result['model']}; {result['inference'][0]['tweets']} tweets from "
        f"`{result['tweets_source']}`; torch threads {result['torch_threads']}; GPU: "
        f"{result['gpu'] or 'none (GPU path not measured)'}.",
        "",
        "| device | ours (batched, length-sorted, no-grad), tweets/s | pipeline one text at a "
        "time (original), tweets/s | speed-up |",
        "|---|---|---|---|",
    ]
    for row in result["inference"]:
        lines.append(
            f"| {row['device']} | {row['ours_tweets_per_s']:.0f} | "
            f"{row['pipeline_one_at_a_time_tweets_per_s']:.0f} | {row['speed_up']:.1f}x |"
        )
    lines += ["", "| device | training samples/s (batch 32, max length 64) |", "|---|---|"]
    lines += [f"| {r['device']} | {r['samples_per_s']:.1f} |" for r in result["training"]]
    return "\n".join(lines)
