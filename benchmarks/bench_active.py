"""Active labelling benchmark: uncertainty sampling against random sampling, same budget.

On the bundled corpus a simulated annotator answers like the inbox team: needs support or
not (the corpus's sentiment collapsed: negative/neutral = 1, positive = 0), never a
sentiment. From the same start (the same random seed labels, the same backbone) each
strategy runs R rounds of "label K tweets from the pool, retrain"; after each round the
model is scored on a fixed test split against its labels (PR AUC, ROC AUC).

- uncertain: the K pool tweets whose P(needs support) is closest to the threshold (0.5
  here: the benchmark has no validation split to tune one on);
- random: K pool tweets drawn uniformly.

Training is the real fine-tuning of all-MiniLM-L6-v2 (its top 6 - FROZEN_LAYERS transformer
layers and a three-class head; the embeddings and lower layers stay pre-trained) with the
project's loss for binary labels (`model.trainer.three_class_loss`), retrained from the
backbone each round on every label so far, with a small fixed budget (BENCH_ACTIVE_STEPS
optimiser steps of 16, one CPU thread) so that it fits two cores shared with other jobs.
A last run trains once more on the random strategy's final labels given as sentiments
(0/1/2) instead of binary answers: the measurement behind docs/model.md's "Binary labels
from the inbox" section.

Results: benchmarks/results/active.json (rewritten after every round) and active.png.
Run: `nice python -m benchmarks.bench_active` (about 3-5 CPU minutes; far longer in wall
time on a machine shared with other jobs).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
SEEDS = [int(x) for x in os.environ.get("BENCH_ACTIVE_SEEDS", "0,1,2").split(",")]
N_TEST = int(os.environ.get("BENCH_ACTIVE_TEST", "300"))
N_POOL = int(os.environ.get("BENCH_ACTIVE_POOL", "300"))
N_START = int(os.environ.get("BENCH_ACTIVE_START", "32"))
K = int(os.environ.get("BENCH_ACTIVE_K", "32"))
ROUNDS = int(os.environ.get("BENCH_ACTIVE_ROUNDS", "3"))
STEPS = int(os.environ.get("BENCH_ACTIVE_STEPS", "12"))
THREADS = int(os.environ.get("BENCH_ACTIVE_THREADS", "1"))  # no OpenMP spinning on busy cores
FROZEN_LAYERS = int(os.environ.get("BENCH_ACTIVE_FROZEN_LAYERS", "4"))
BATCH = 16
MAX_LENGTH = 40
LEARNING_RATE = 1e-4
THRESHOLD = 0.5


def corpus(seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Normalised texts, sentiments (0/1/2) and needs-support labels, shuffled by `seed`."""
    import pandas as pd

    from tweet_triage.config import CORPUS_DIR
    from tweet_triage.text import normalise_text

    tweets = pd.read_json(CORPUS_DIR / "tweets.jsonl.gz", lines=True, dtype={"id": str})
    labels = pd.read_csv(CORPUS_DIR / "annotations.csv.gz", dtype={"id": str})
    frame = tweets[["id", "text"]].merge(labels, on="id").dropna(subset=["sentiment"])
    frame["model_text"] = frame["text"].astype(str).map(normalise_text)
    frame = frame[frame["model_text"].str.len() > 0].drop_duplicates("model_text")
    frame = frame.sample(frac=1.0, random_state=seed).head(N_TEST + N_POOL)
    sentiment = frame["sentiment"].astype(int).to_numpy()
    return frame["model_text"].tolist(), sentiment, (sentiment <= 1).astype(int)


class Model:
    """MiniLM with a fresh three-class head, fine-tuned from the backbone on given labels."""

    def __init__(self, backbone: str) -> None:
        from transformers import AutoTokenizer

        self.backbone = backbone
        self.tokenizer = AutoTokenizer.from_pretrained(backbone)
        self.model: Any = None

    def train(self, texts: list[str], labels: np.ndarray, seed: int) -> float:
        import torch
        from transformers import AutoModelForSequenceClassification

        from tweet_triage.model.trainer import three_class_loss

        torch.manual_seed(seed)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            self.backbone, num_labels=3, ignore_mismatched_sizes=True
        )
        # The embeddings and the lowest FROZEN_LAYERS layers stay as pre-trained: the top
        # layers and the head are fine-tuned (backward through fewer layers: cheaper on CPU).
        frozen = [
            self.model.base_model.embeddings,
            *self.model.base_model.encoder.layer[:FROZEN_LAYERS],
        ]
        for module in frozen:
            module.requires_grad_(False)
        self.model.train()
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        optimiser = torch.optim.AdamW(trainable, lr=LEARNING_RATE)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: 1 - s / STEPS)
        rng = np.random.default_rng(seed)
        started = time.perf_counter()
        order: list[int] = []
        for _ in range(STEPS):
            if len(order) < BATCH:
                order += rng.permutation(len(texts)).tolist()
            rows, order = order[:BATCH], order[BATCH:]
            batch = self.tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=MAX_LENGTH,
                return_tensors="pt",
            )
            loss = three_class_loss(self.model(**batch).logits, torch.tensor(labels[rows]))
            loss.backward()
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
        self.model.eval()
        return time.perf_counter() - started

    def p_needs_support(self, texts: list[str]) -> np.ndarray:
        import torch

        order = np.argsort([len(t) for t in texts])
        out = np.empty(len(texts))
        with torch.inference_mode():
            for start in range(0, len(texts), 64):
                rows = order[start : start + 64]
                batch = self.tokenizer(
                    [texts[i] for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=MAX_LENGTH,
                    return_tensors="pt",
                )
                p = torch.softmax(self.model(**batch).logits.float(), dim=-1)
                out[rows] = (p[:, 0] + p[:, 1]).numpy()
        return out


def quality(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    return {
        "pr_auc": round(float(average_precision_score(y, p)), 4),
        "roc_auc": round(float(roc_auc_score(y, p)), 4),
    }


def labels_needed(curve: list[dict[str, Any]], target: float, metric: str) -> float | None:
    """Labels at which a curve first reaches `target` (linear between rounds); None: never."""
    previous = None
    for point in curve:
        if point[metric] >= target:
            if previous is None:
                return float(point["labels"])
            x0, y0, x1, y1 = previous["labels"], previous[metric], point["labels"], point[metric]
            return float(x0 + (target - y0) * (x1 - x0) / (y1 - y0)) if y1 != y0 else float(x1)
        previous = point
    return None


def plot(results: dict[str, Any], path: Path, title: str | None = None) -> None:
    """PR AUC and ROC AUC against labels, one line per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("pr_auc", "roc_auc"), strict=True):
        for name, curve in results["curves"].items():
            ax.plot([c["labels"] for c in curve], [c[metric] for c in curve], "o-", label=name)
        ax.set_xlabel("labels (simulated annotator, binary answers)")
        ax.set_ylabel(f"test {metric.replace('_', ' ').upper()}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(
        title
        or f"Active labelling, mean of {results.get('seeds_done', 1)} seed(s): {N_TEST} test "
        f"tweets, {STEPS} steps of {BATCH} per retrain"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summarise(results: dict[str, Any]) -> None:
    curves = results["curves"]
    if len(curves.get("random", [])) < ROUNDS + 1 or len(curves.get("uncertain", [])) < 2:
        return
    final = curves["random"][-1]
    results["summary"] = {
        metric: {
            "random_final": final[metric],
            "random_final_labels": final["labels"],
            "uncertain_labels_to_reach_it": labels_needed(
                curves["uncertain"], final[metric], metric
            ),
        }
        for metric in ("pr_auc", "roc_auc")
    }
    results["summary"]["per_seed"] = [
        {
            "seed": run["seed"],
            **{
                metric: {
                    "random_final": run["curves"]["random"][-1][metric],
                    "uncertain_labels_to_reach_it": labels_needed(
                        run["curves"]["uncertain"], run["curves"]["random"][-1][metric], metric
                    ),
                }
                for metric in ("pr_auc", "roc_auc")
            },
        }
        for run in results.get("runs", [])
    ]


def run_seed(seed: int, model: Model) -> dict[str, Any]:
    """One repetition: corpus order, test split, pool and start labels drawn from `seed`."""
    texts, sentiment, needs = corpus(seed)
    test, pool = slice(0, N_TEST), np.arange(N_TEST, N_TEST + N_POOL)
    test_texts, y_test = texts[test], needs[test]
    answers = np.where(needs == 1, 3, 2)  # the annotator's binary answer as a training label
    rng = np.random.default_rng(seed)
    start = rng.choice(pool, size=N_START, replace=False).tolist()
    curves: dict[str, list[dict[str, Any]]] = {"random": [], "uncertain": []}

    def record(strategy: str, labelled: list[int], seconds: float, p: np.ndarray) -> None:
        point = {"labels": len(labelled), **quality(y_test, p), "train_seconds": round(seconds, 1)}
        curves[strategy].append(point)
        print(seed, strategy, point, f"load {os.getloadavg()[0]:.1f}", flush=True)

    seconds = model.train([texts[i] for i in start], answers[start], seed)
    p_start = model.p_needs_support(test_texts)
    for strategy in ("random", "uncertain"):
        record(strategy, start, seconds, p_start)
    start_model = model.model
    random_labels: list[int] = []
    for strategy in ("random", "uncertain"):
        labelled = list(start)
        model.model = start_model
        for round_no in range(1, ROUNDS + 1):
            unlabelled = np.setdiff1d(pool, labelled)
            if strategy == "random":
                picked = rng.choice(unlabelled, size=K, replace=False).tolist()
            else:
                p_pool = model.p_needs_support([texts[i] for i in unlabelled])
                picked = unlabelled[np.argsort(np.abs(p_pool - THRESHOLD), kind="stable")[:K]]
                picked = picked.tolist()
            labelled += picked
            seconds = model.train([texts[i] for i in labelled], answers[labelled], seed + round_no)
            record(strategy, labelled, seconds, model.p_needs_support(test_texts))
        if strategy == "random":
            random_labels = list(labelled)
    # The same final random labels as sentiments: what binary answers cost the model.
    seconds = model.train([texts[i] for i in random_labels], sentiment[random_labels], seed + 99)
    return {
        "seed": seed,
        "test_needs_support_share": round(float(y_test.mean()), 4),
        "curves": curves,
        "binary_vs_sentiment": {
            "labels": len(random_labels),
            "binary_answers": {k: curves["random"][-1][k] for k in ("pr_auc", "roc_auc")},
            "sentiment_labels": quality(y_test, model.p_needs_support(test_texts)),
        },
    }


def mean_curves(runs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return {
        strategy: [
            {
                "labels": points[0]["labels"],
                **{
                    m: round(float(np.mean([p[m] for p in points])), 4)
                    for m in ("pr_auc", "roc_auc")
                },
            }
            for points in zip(*(r["curves"][strategy] for r in runs), strict=True)
        ]
        for strategy in ("random", "uncertain")
    }


def main() -> dict[str, Any]:
    import torch

    from tweet_triage.model.folder import resolve_backbone

    torch.set_num_threads(THREADS)
    model = Model(resolve_backbone(None))
    results: dict[str, Any] = {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "what": "uncertainty vs random sampling; real MiniLM fine-tuning per round",
        "setup": {
            "corpus": "bundled SemEval-derived corpus, annotations collapsed to needs support",
            "seeds": SEEDS,
            "test_tweets": N_TEST,
            "pool_tweets": N_POOL,
            "start_labels": N_START,
            "labels_per_round": K,
            "rounds": ROUNDS,
            "train_steps": STEPS,
            "frozen_layers": FROZEN_LAYERS,
            "batch": BATCH,
            "max_length": MAX_LENGTH,
            "learning_rate": LEARNING_RATE,
            "uncertainty_threshold": THRESHOLD,
            "cpu_threads": THREADS,
            "load_average_at_start": os.getloadavg()[0],
        },
        "runs": [],
    }
    RESULTS.mkdir(exist_ok=True)
    for seed in SEEDS:
        results["runs"].append(run_seed(seed, model))
        runs = results["runs"]
        results["curves"] = mean_curves(runs)  # the mean over the seeds run so far
        results["binary_vs_sentiment_mean"] = {
            kind: {
                m: round(float(np.mean([r["binary_vs_sentiment"][kind][m] for r in runs])), 4)
                for m in ("pr_auc", "roc_auc")
            }
            for kind in ("binary_answers", "sentiment_labels")
        }
        results["seeds_done"] = len(runs)
        results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        summarise(results)
        (RESULTS / "active.json").write_text(json.dumps(results, indent=2) + "\n")
        plot(results, RESULTS / "active.png")
    print(json.dumps(results.get("summary"), indent=2))
    return results


if __name__ == "__main__":
    main()
