"""Active labelling with a cheap learner: uncertainty against random sampling, many rounds.

`bench_active` fine-tunes MiniLM every round, which on two CPU cores affords only a tiny
budget (3 rounds, 12 steps each), too small to tell the strategies apart. This benchmark asks
the same question with a learner that costs milliseconds per retrain, so it can afford the
rounds, pool and seeds that a real answer needs: all-MiniLM-L6-v2 sentence embeddings (mean
pooled, as sentence-transformers does, computed once) and a logistic regression on them,
retrained from scratch on every label so far. Same simulated annotator (the corpus's labels
as binary needs-support answers), same start labels for both strategies, uncertain = the pool
tweets whose P(needs support) is closest to 0.5, random = uniform draws.

Results: benchmarks/results/active_probe.json and active_probe.png.
Run: `python -m benchmarks.bench_active_probe` (about 2 CPU minutes, most of it embedding).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_active import labels_needed, mean_curves, plot, quality

RESULTS = Path(__file__).resolve().parent / "results"
SEEDS = range(int(os.environ.get("BENCH_ACTIVE_PROBE_SEEDS", "10")))
N_TWEETS = 8_000  # embedded once; each seed draws its test split and pool from these
N_TEST = 1_000
N_POOL = 3_000
N_START = 32
K = 32
ROUNDS = 15
THRESHOLD = 0.5


def embedded_corpus() -> tuple[np.ndarray, np.ndarray]:
    """Sentence embeddings and needs-support labels of N_TWEETS distinct corpus tweets."""
    import pandas as pd
    import torch
    from transformers import AutoModel, AutoTokenizer

    from tweet_triage.config import CORPUS_DIR
    from tweet_triage.model.folder import resolve_backbone
    from tweet_triage.text import normalise_text

    tweets = pd.read_json(CORPUS_DIR / "tweets.jsonl.gz", lines=True, dtype={"id": str})
    labels = pd.read_csv(CORPUS_DIR / "annotations.csv.gz", dtype={"id": str})
    frame = tweets[["id", "text"]].merge(labels, on="id").dropna(subset=["sentiment"])
    frame["model_text"] = frame["text"].astype(str).map(normalise_text)
    frame = frame[frame["model_text"].str.len() > 0].drop_duplicates("model_text")
    frame = frame.sample(n=N_TWEETS, random_state=0)
    texts = frame["model_text"].tolist()
    backbone = resolve_backbone(None)
    tokenizer, model = AutoTokenizer.from_pretrained(backbone), AutoModel.from_pretrained(backbone)
    vectors = np.empty((len(texts), model.config.hidden_size), dtype=np.float32)
    order = np.argsort([len(t) for t in texts])
    with torch.inference_mode():
        for start in range(0, len(texts), 128):
            rows = order[start : start + 128]
            batch = tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=64,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            vectors[rows] = torch.nn.functional.normalize(pooled, dim=1).numpy()
    return vectors, (frame["sentiment"].astype(int).to_numpy() <= 1).astype(int)


def fit_predict(x: np.ndarray, y: np.ndarray, x_out: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    if len(set(y)) < 2:  # one class so far: no ranking to learn yet
        return np.full(len(x_out), float(y.mean()))
    model = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
    return model.predict_proba(x_out)[:, 1]


def run_seed(seed: int, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    test, pool = order[:N_TEST], order[N_TEST : N_TEST + N_POOL]
    start = rng.choice(pool, size=N_START, replace=False).tolist()
    curves: dict[str, list[dict[str, Any]]] = {}
    for strategy in ("random", "uncertain"):
        picker = np.random.default_rng(seed + 1000)
        labelled = list(start)
        curve = []
        for round_no in range(ROUNDS + 1):
            if round_no:
                unlabelled = np.setdiff1d(pool, labelled)
                if strategy == "random":
                    picked = picker.choice(unlabelled, size=K, replace=False)
                else:
                    p_pool = fit_predict(x[labelled], y[labelled], x[unlabelled])
                    picked = unlabelled[np.argsort(np.abs(p_pool - THRESHOLD), kind="stable")[:K]]
                labelled += picked.tolist()
            p_test = fit_predict(x[labelled], y[labelled], x[test])
            curve.append({"labels": len(labelled), **quality(y[test], p_test)})
        curves[strategy] = curve
    return {"seed": seed, "curves": curves}


def main() -> dict[str, Any]:
    started = time.perf_counter()
    x, y = embedded_corpus()
    embedded = time.perf_counter() - started
    runs = [run_seed(seed, x, y) for seed in SEEDS]
    curves = mean_curves(runs)
    summary: dict[str, Any] = {}
    for metric in ("pr_auc", "roc_auc"):
        final = curves["random"][-1]
        needed = labels_needed(curves["uncertain"], final[metric], metric)
        per_seed = [
            labels_needed(r["curves"]["uncertain"], r["curves"]["random"][-1][metric], metric)
            for r in runs
        ]
        summary[metric] = {
            "random_final": final[metric],
            "random_final_labels": final["labels"],
            "uncertain_labels_to_reach_it": needed,
            "share_of_labels": None if needed is None else round(needed / final["labels"], 3),
            "per_seed_labels_to_reach_it": per_seed,
        }
    results = {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "what": "uncertainty vs random sampling; logistic regression on frozen MiniLM embeddings",
        "setup": {
            "embedded_tweets": N_TWEETS,
            "test_tweets": N_TEST,
            "pool_tweets": N_POOL,
            "start_labels": N_START,
            "labels_per_round": K,
            "rounds": ROUNDS,
            "seeds": len(runs),
            "test_needs_support_share": round(float(y.mean()), 4),
            "embedding_seconds": round(embedded, 1),
            "load_average_at_start": os.getloadavg()[0],
        },
        "curves": curves,
        "summary": summary,
        "runs": runs,
        "seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "active_probe.json").write_text(json.dumps(results, indent=2) + "\n")
    title = (
        f"Active labelling with a linear probe on MiniLM embeddings, mean of {len(runs)} "
        f"seeds ({N_TEST} test tweets each)"
    )
    plot(results, RESULTS / "active_probe.png", title)
    print(json.dumps(summary, indent=2))
    return results


if __name__ == "__main__":
    main()
