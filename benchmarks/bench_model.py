"""Model benchmark: CPU scoring engines and the training loop, side by side in one run.

Scoring, on the same tweets: the original's way (a `pipeline`, one text per call), torch fp32
batched (length-sorted, no-grad), ONNX Runtime fp32 and ONNX Runtime dynamic int8; tweets/s,
ratios, and ROC AUC of each engine where the tweets carry labels (the int8 quality guard).

Beside them, the ceiling this CPU sets: one feed-forward-sized matrix product in torch fp32
against ONNX Runtime's u8 x s8 integer kernel (without VNNI, int8 cannot gain more than that).

Training, the fine-tuning loop on the same tweets (batch 32, max length 48, AdamW): the loop
as it was, an intermediate step, and the loop as `train` now runs it on CPU (TRAINING_LOOPS
says what differs), each for a few steps in alternating blocks, so all see the same load on
a shared machine.

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
    from tweet_triage_local.corpus.store import BUNDLED_TWEETS

    texts = pd.read_json(BUNDLED_TWEETS, lines=True)["text"].astype(str).tolist()[:N_TWEETS]
    return texts, None, str(BUNDLED_TWEETS)


def _model_dir(settings: Any, scratch: Path) -> tuple[Path, str]:
    """A copy of MODEL_DIR if it holds a trained model, else the backbone, untrained head."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tweet_triage.model.folder import SENTIMENT_LABELS, ModelMeta, resolve_backbone

    target = scratch / "model"
    if (settings.model_dir / "triage.json").is_file():
        # Without its export: the bench exports with the current code, never into MODEL_DIR.
        shutil.copytree(settings.model_dir, target, ignore=shutil.ignore_patterns("onnx"))
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


def _uncalibrated(scorer: Any, texts: list[str]) -> Any:
    """P(needs support) before the saved calibration (texts here are all non-empty)."""
    from tweet_triage.model.folder import needs_support_probability
    from tweet_triage.text import normalise_text

    logits = scorer.logits([normalise_text(t) for t in texts])
    return needs_support_probability(logits, scorer.meta.needs_support_ids)


def _gemm_ceiling() -> dict[str, float]:
    """What this CPU allows: one matrix product of MiniLM's feed-forward shape (a batch of 64
    tweets of 36 tokens x 384 -> 1536) in torch fp32 against ONNX Runtime's u8 x s8 integer
    kernel, the one dynamic int8 runs; the best of 20 calls each, same threads."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch
    from onnx import TensorProto, helper

    m, k, n = 64 * 36, 384, 1536
    rng = np.random.default_rng(0)
    a, w = torch.randn(m, k), torch.randn(k, n)
    weights = rng.integers(-63, 64, (k, n)).astype(np.int8)
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "W"], ["Y"])],
        "gemm",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [m, k])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, [m, n])],
        [onnx.numpy_helper.from_array(weights, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {"A": rng.integers(0, 256, (m, k)).astype(np.uint8)}

    def best(call: Any) -> float:
        times = []
        for _ in range(23):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        return 2 * m * k * n / min(times[3:]) / 1e9

    with torch.inference_mode():
        fp32 = best(lambda: a @ w)
    int8 = best(lambda: session.run(None, feed))
    return {"torch_fp32_gflops": fp32, "ort_int8_gops": int8, "int8_over_fp32": int8 / fp32}


def _inference(model_dir: Path, texts: list[str], labels: list[int] | None) -> dict[str, Any]:
    import numpy as np
    import torch

    from tweet_triage.model.export import export_onnx
    from tweet_triage.model.inference import load_scorer

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
    uncalibrated = {name: _uncalibrated(scorer, texts) for name, scorer in scorers.items()}
    result: dict[str, Any] = {
        "tweets": len(texts),
        "per_text_tweets": min(N_PER_TEXT, len(texts)),
        "torch_threads": torch.get_num_threads(),
        "engines": rows,
        "max_abs_diff_vs_torch": {
            name: float(np.nanmax(np.abs(scores[name] - scores["torch"])))
            for name in ("onnx-fp32", "onnx")
        },
        # The saved isotonic calibration is a steep step function in places: the raw
        # P(needs support) shows what int8 itself moves.
        "uncalibrated_diff_vs_torch": {
            name: {
                "max": float(np.max(np.abs(uncalibrated[name] - uncalibrated["torch"]))),
                "mean": float(np.mean(np.abs(uncalibrated[name] - uncalibrated["torch"]))),
            }
            for name in ("onnx-fp32", "onnx")
        },
        "gemm_ceiling": _gemm_ceiling(),
    }
    if labels is not None:
        from sklearn.metrics import roc_auc_score

        y = np.asarray(labels, dtype=int)
        ok = ~np.isnan(scores["torch"])
        auc = {name: float(roc_auc_score(y[ok], scores[name][ok])) for name in engines}
        result["roc_auc"] = auc
        result["roc_auc_int8_minus_torch"] = auc["onnx"] - auc["torch"]
    return result


# The training loops compared: (trained weights, batch padding multiple, validation order).
TRAINING_LOOPS: dict[str, tuple[str, int | None, str, str]] = {
    "before": ("all", 8, "random", "all weights trained, padded to 8s, unsorted validation"),
    "frozen_pad8": (
        "frozen",
        8,
        "sorted",
        "word embeddings frozen, validation sorted, still padded to 8s",
    ),
    "after": (
        "frozen",
        None,
        "sorted",
        "as `train` runs on CPU: also padded to each batch's longest only",
    ),
}


def _training(model_dir: Path, texts: list[str]) -> dict[str, Any]:
    """samples/s of the fine-tuning loop in each of TRAINING_LOOPS, on the same batches.

    Texts are normalised and tokenised once, as `train` does; batches come from the
    Trainer's own length-grouped sampler and its padding collator. Frozen word embeddings
    (the 11.7 M-entry matrix) skip a dense gradient and an AdamW update every step; padding
    to 8s adds positions that are pure work on a CPU. Each loop does forward, backward and a
    fused AdamW step at batch 32, max length 48, plus one validation pass over 256 tweets per
    block of steps; the loops run in alternating blocks, so all see the same load.
    """
    import numpy as np
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
    )
    from transformers.trainer_pt_utils import get_length_grouped_indices

    from tweet_triage.model.training import pad_multiple
    from tweet_triage.text import normalise_text

    if TRAINING_LOOPS["after"][1] != pad_multiple("cpu"):
        raise RuntimeError("bench_model: the `after` loop must pad as `train` does on CPU")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    normalised = [normalise_text(t) for t in texts]
    encoded = tokenizer(normalised, truncation=True, max_length=TRAIN_MAX_LENGTH)["input_ids"]
    lengths = [len(ids) for ids in encoded]
    order = get_length_grouped_indices(
        lengths, TRAIN_BATCH, generator=torch.Generator().manual_seed(0)
    )
    shared = [
        order[s : s + TRAIN_BATCH] for s in range(0, len(order) - TRAIN_BATCH + 1, TRAIN_BATCH)
    ]
    collators = {
        name: DataCollatorWithPadding(tokenizer, pad_to_multiple_of=multiple)
        for name, (_, multiple, _, _) in TRAINING_LOOPS.items()
    }

    def pad(name: str, rows: Any) -> dict[str, torch.Tensor]:
        return collators[name]([{"input_ids": encoded[i]} for i in rows])

    def setup(trained: str) -> tuple[Any, Any]:
        model = AutoModelForSequenceClassification.from_pretrained(model_dir).train()
        if trained == "frozen":
            model.get_input_embeddings().weight.requires_grad_(False)
        params = [p for p in model.parameters() if p.requires_grad]
        return model, torch.optim.AdamW(params, lr=5e-5, fused=True)

    loops = {name: setup(trained) for name, (trained, _, _, _) in TRAINING_LOOPS.items()}
    val_rows = np.random.default_rng(0).permutation(len(encoded))[:256]
    val_sorted = val_rows[np.argsort(np.asarray(lengths)[val_rows], kind="stable")]
    val_orders = {
        name: val_sorted if validation == "sorted" else val_rows
        for name, (_, _, validation, _) in TRAINING_LOOPS.items()
    }

    def run(name: str, steps: range) -> None:
        model, optimiser = loops[name]
        started = time.perf_counter()
        for step in steps:
            batch = pad(name, shared[step % len(shared)])
            labels = torch.zeros(batch["input_ids"].shape[0], dtype=torch.long)
            model(**batch, labels=labels).loss.backward()
            optimiser.step()
            optimiser.zero_grad()
            totals[name]["samples"] += batch["input_ids"].shape[0]
            totals[name]["padded_tokens"] += batch["input_ids"].numel()
        with torch.inference_mode():
            rows = val_orders[name]
            for s in range(0, len(rows), 128):
                model(**pad(name, rows[s : s + 128]))
        totals[name]["seconds"] += time.perf_counter() - started

    totals = {name: {"seconds": 0.0, "samples": 0, "padded_tokens": 0} for name in loops}
    for name in loops:
        run(name, range(1))  # warm-up, not counted
    totals = {name: {"seconds": 0.0, "samples": 0, "padded_tokens": 0} for name in loops}
    block = max(1, TRAIN_STEPS // 3)
    for start in range(0, TRAIN_STEPS, block):
        for name in loops:
            run(name, range(start, min(start + block, TRAIN_STEPS)))
    rows = {
        name: {
            "loop": TRAINING_LOOPS[name][3],
            "steps": TRAIN_STEPS,
            "samples_per_s": t["samples"] / t["seconds"],
            "mean_padded_length": t["padded_tokens"] / t["samples"],
        }
        for name, t in totals.items()
    }
    return {
        "batch": TRAIN_BATCH,
        "max_length": TRAIN_MAX_LENGTH,
        "mean_token_length": float(np.mean(lengths)),
        **rows,
        "speed_up": rows["after"]["samples_per_s"] / rows["before"]["samples_per_s"],
        "speed_up_padding": rows["after"]["samples_per_s"] / rows["frozen_pad8"]["samples_per_s"],
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
            "cpu_flags": _cpu_flags(),
            "inference": _inference(model_dir, texts, labels),
            "training": _training(model_dir, texts),
            "load_average_at_end": os.getloadavg()[0],
        }


def _cpu_flags() -> list[str]:
    """The vector extensions int8 speed depends on (VNNI: 4-way u8 x s8 dot products)."""
    wanted = {"avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8"}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")),
        [],
    )
    return sorted(wanted & set(flags))


def summarise(result: dict[str, Any]) -> str:
    inf, tr = result["inference"], result["training"]
    load_end = result.get("load_average_at_end")
    lines = [
        "## Model: CPU scoring engines and the training loop",
        "",
        f"Model: {result['model']}; {inf['tweets']} tweets from `{result['tweets_source']}` "
        f"({inf['per_text_tweets']} for the per-text pipeline); torch threads "
        f"{inf['torch_threads']}; load average {result['load_average_at_start']:.1f} at the "
        f"start" + (f", {load_end:.1f} at the end" if load_end is not None else "") + "; CPU "
        f"extensions {', '.join(result.get('cpu_flags') or ['unknown'])}. GPU: "
        f"{result['gpu'] or 'none (not measured)'}.",
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
    if "uncalibrated_diff_vs_torch" in inf:
        raw = inf["uncalibrated_diff_vs_torch"]["onnx"]
        lines[-1] += (
            f" Before the saved calibration, int8 moves P(needs support) by {raw['mean']:.4f} "
            f"on average, {raw['max']:.3f} at most."
        )
    if "gemm_ceiling" in inf:
        gemm = inf["gemm_ceiling"]
        lines += [
            "",
            f"Ceiling on this CPU, one feed-forward-sized matrix product: torch fp32 "
            f"{gemm['torch_fp32_gflops']:.0f} GFLOP/s, ONNX Runtime u8 x s8 "
            f"{gemm['ort_int8_gops']:.0f} GOP/s (**{gemm['int8_over_fp32']:.2f}x**): int8 "
            "cannot beat fp32 by more than this on the products, less on the whole network.",
        ]
    loops = [name for name in ("before", "frozen_pad8", "after") if name in tr]
    lines += [
        "",
        f"| training loop (batch {tr['batch']}, max length {tr['max_length']}, "
        f"{tr['before']['steps']} steps + validation) | samples/s | mean padded length |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {name}: {tr[name].get('loop', '')} | {tr[name]['samples_per_s']:.1f} | "
        f"{tr[name]['mean_padded_length']:.1f} |"
        for name in loops
    ]
    lines += [
        "",
        f"Training loop speed-up: **{tr['speed_up']:.2f}x** over `before`"
        + (
            f", {tr['speed_up_padding']:.2f}x from padding to the longest tweet only"
            if "speed_up_padding" in tr
            else ""
        )
        + f" (mean tweet length {tr['mean_token_length']:.1f} tokens). "
        + (result["gpu_note"] or ""),
    ]
    return "\n".join(lines)
