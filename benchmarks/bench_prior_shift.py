"""The shift-aware threshold on real scores: the corpus test split resampled to a known shift.

A model is calibrated and its threshold chosen on validation at one share needing support; the
live stream then brings another. Here the corpus profile's val split is resampled to 50%
needing support (the model's scores recalibrated there, so they are calibrated for 50%) and
its test split to 80% (the tweets of each class drawn at random, `RESAMPLES` times). Three
thresholds are judged on each resampled test set by support minutes lost:

- today: the strategy's threshold chosen on the 50% val (what the model ships);
- shift-aware: the live share estimated from the test scores alone (EM, no labels), the
  strategy's threshold for that share (`prior_shift.live_decision`, as a scorer calls it);
- oracle: the threshold losing the fewest minutes on the resampled test's true labels.

Aim: shift-aware within 5% of the oracle's minutes at a 30-point shift. A no-shift control
(test at 50%) checks the adjustment costs nothing when the mix stays.

The model: BENCH_PRIOR_SHIFT_MODEL (a trained model folder) with BENCH_PRIOR_SHIFT_DATA (the
data folder whose splits/ it is judged on); without them the corpus profile's splits are built
by the project's Spark stages and a model is trained on them with the demo budget.

    python -m benchmarks.run prior_shift
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

TRAIN_SHARE = 0.5
LIVE_SHARES = (0.8, 0.5)  # the 30-point shift, and the no-shift control
STRATEGIES = ("cost", "f-beta")
RESAMPLES = 20
AIM = 1.05  # shift-aware minutes at most 5% above the oracle's


def resample(y: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """Row indices with `share` needing support: the larger class drawn down, without
    replacement, so that the smaller one is kept whole."""
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    n_pos = min(len(pos), round(len(neg) * share / (1 - share)))
    n_neg = min(len(neg), round(n_pos * (1 - share) / share))
    return np.concatenate(
        (rng.choice(pos, n_pos, replace=False), rng.choice(neg, n_neg, replace=False))
    )


def _model(root: Path) -> tuple[Path, Path, dict[str, Any]]:
    """(model folder, data folder, how they were made)."""
    given_model, given_data = (
        os.environ.get("BENCH_PRIOR_SHIFT_MODEL"),
        os.environ.get("BENCH_PRIOR_SHIFT_DATA"),
    )
    if given_model and given_data:
        made = {"model": given_model, "data": given_data, "trained": trained_as(Path(given_model))}
        return Path(given_model), Path(given_data), made
    from benchmarks.bench_corpus_model import build_splits
    from tweet_triage.config import Settings
    from tweet_triage.model.arguments import train_arguments
    from tweet_triage.model.training import train

    built = build_splits(root, ("corpus",))
    data = root / "corpus" / "data"
    settings = Settings(data_dir=data, model_dir=root / "model", reports_dir=root / "reports")
    args = train_arguments(settings, budget="demo", device="cpu", track=False, register=False)
    result = train(args, settings)
    return (
        root / "model",
        data,
        {"data": built, "trained": {"budget": "demo", "steps": result.steps}},
    )


def trained_as(model: Path) -> dict[str, Any]:
    """How a given model was trained, from its triage.json."""
    from tweet_triage.model.folder import ModelMeta

    meta = ModelMeta.load(model)
    config = meta.training.get("config", {})
    return {
        "budget": config.get("budget"),
        "steps": meta.training.get("steps"),
        "train_seconds": meta.training.get("train_seconds"),
        "learning_rate": config.get("learning_rate"),
        "max_train_seconds": config.get("max_train_seconds"),
        "val_roc_auc": meta.validation.get("roc_auc"),
        "calibration": meta.calibration.get("method"),
    }


def _scores(model: Path, data: Path) -> dict[str, dict[str, np.ndarray]]:
    from tweet_triage.model.data import load_split
    from tweet_triage.model.inference import load_scorer
    from tweet_triage.model.names import NEEDS_SUPPORT
    from tweet_triage.model.thresholds import tweet_words

    scorer = load_scorer(model, device="cpu")
    scored = {}
    for split in ("val", "test"):
        frame = load_split(data, split)
        scored[split] = {
            "y": frame[NEEDS_SUPPORT].to_numpy().astype(int),
            "p": scorer.predict_proba(frame["model_text"].tolist()),
            "words": tweet_words(frame),
        }
    return scored


def _reference_scores(data: Path) -> dict[str, dict[str, np.ndarray]]:
    """A second scorer of another strength: TF-IDF word 1-2 grams + logistic regression
    trained on the same train split (seconds on a CPU), so the finding does not rest on one
    model's scores."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from tweet_triage.model.data import load_split
    from tweet_triage.model.names import NEEDS_SUPPORT
    from tweet_triage.model.thresholds import tweet_words

    train = load_split(data, "train")
    vectoriser = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    features = vectoriser.fit_transform(train["model_text"])
    classifier = LogisticRegression(max_iter=1000, C=4.0).fit(features, train[NEEDS_SUPPORT])
    scored = {}
    for split in ("val", "test"):
        frame = load_split(data, split)
        scored[split] = {
            "y": frame[NEEDS_SUPPORT].to_numpy().astype(int),
            "p": classifier.predict_proba(vectoriser.transform(frame["model_text"]))[:, 1],
            "words": tweet_words(frame),
        }
    return scored


def judge(scored: dict[str, dict[str, np.ndarray]], seed: int = 0) -> dict[str, Any]:
    """Today's, the shift-aware and the oracle threshold on each resampled test set."""
    from tweet_triage.model import calibration
    from tweet_triage.model.metrics import best_threshold, business_metrics, f_beta
    from tweet_triage.model.metrics import least_minutes_threshold as oracle
    from tweet_triage.model.parameters import BusinessParams
    from tweet_triage.model.prior_shift import live_decision
    from tweet_triage.model.thresholds import choose_threshold

    params = BusinessParams()
    rng = np.random.default_rng(seed)
    val, test = scored["val"], scored["test"]
    at_train = resample(val["y"], TRAIN_SHARE, rng)
    y_val = val["y"][at_train]
    # Recalibrated on the 50% val: scores are then frequencies at 50%, as after training there.
    fitted = calibration.calibrate("auto", y_val, val["p"][at_train], seed=seed)
    p_val, p_test = (
        calibration.apply(fitted, val["p"][at_train]),
        calibration.apply(fitted, test["p"]),
    )
    from sklearn.metrics import roc_auc_score

    out: dict[str, Any] = {
        "test_roc_auc": float(roc_auc_score(test["y"], test["p"])),
        "val_rows": len(at_train),
        "test_rows": len(test["y"]),
        "calibration": fitted["method"],
        "strategies": {},
    }
    for strategy in STRATEGIES:
        choice = choose_threshold(strategy, y_val, p_val, val["words"][at_train])
        per_share: dict[str, Any] = {}
        for share in LIVE_SHARES:
            rows: dict[str, list[float]] = {
                k: []
                for k in (
                    "estimated_share",
                    "today_min",
                    "shift_aware_min",
                    "oracle_min",
                    "today_f2",
                    "shift_aware_f2",
                    "oracle_f2",
                    "shift_aware_threshold",
                )
            }
            for _ in range(RESAMPLES):
                live = resample(test["y"], share, rng)
                y, p, words = test["y"][live], p_test[live], test["words"][live]
                decision = live_decision(p, choice.as_dict())
                _, best_minutes = oracle(y, p, words, params)

                def minutes(t: float, y=y, p=p, words=words) -> float:
                    return business_metrics(y, p >= t, words, params)["total_lost_min"]

                def f2(t: float, y=y, p=p) -> float:
                    flagged = p >= t
                    tp = float((flagged & (y == 1)).sum())
                    fp = float((flagged & (y == 0)).sum())
                    return f_beta(tp, fp, float(y.sum()) - tp, 2.0)

                rows["estimated_share"].append(decision.live_prior)
                rows["today_min"].append(minutes(choice.threshold))
                rows["shift_aware_min"].append(minutes(decision.threshold))
                rows["oracle_min"].append(best_minutes)
                rows["today_f2"].append(f2(choice.threshold))
                rows["shift_aware_f2"].append(f2(decision.threshold))
                rows["oracle_f2"].append(best_threshold(y, p, beta=2.0)[1])
                rows["shift_aware_threshold"].append(decision.threshold)
            summary = {k: float(np.mean(v)) for k, v in rows.items()}
            summary["estimated_share_sd"] = float(np.std(rows["estimated_share"]))
            for name in ("today", "shift_aware"):
                ratios = np.array(rows[f"{name}_min"]) / np.array(rows["oracle_min"])
                summary[f"{name}_x_oracle"] = float(ratios.mean())
                summary[f"{name}_x_oracle_range"] = [float(ratios.min()), float(ratios.max())]
            summary["aim_met"] = summary["shift_aware_x_oracle"] <= AIM
            per_share[f"{share:.2f}"] = summary
        out["strategies"][strategy] = {"today_threshold": choice.threshold, "live": per_share}
    return out


def run() -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-prior-shift-") as folder:
        model, data, made = _model(Path(folder))
        reference = judge(_reference_scores(data))  # seconds: a bad input fails early
        result = {
            "made": made,
            "train_share": TRAIN_SHARE,
            "live_shares": LIVE_SHARES,
            "resamples": RESAMPLES,
            "load_average_at_start": os.getloadavg()[0],
            "scorers": {
                "model": judge(_scores(model, data)),
                "tfidf_logistic": reference,
            },
        }
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def summarise(result: dict[str, Any]) -> str:
    lines = [
        "## Model: the shift-aware threshold (prior adjustment)",
        "",
        f"Corpus val resampled to {result['train_share']:.0%} needing support (scores "
        f"recalibrated there), test resampled {result['resamples']} times to each live share; "
        "support minutes lost, mean over the resamples (x the oracle: mean [min, max]).",
        "",
        "| scorer (test ROC AUC) | strategy | live share | EM estimate | today | shift-aware | "
        "oracle (true labels) | today x oracle | shift-aware x oracle | aim (<= 1.05x) |",
        "|---|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for scorer, judged in result["scorers"].items():
        lines += _rows(f"{scorer} ({judged['test_roc_auc']:.3f})", judged)
    return "\n".join(lines)


def _rows(scorer: str, judged: dict[str, Any]) -> list[str]:
    lines = []
    for strategy, by in judged["strategies"].items():
        for share, s in by["live"].items():
            lo, hi = s["shift_aware_x_oracle_range"]
            tlo, thi = s["today_x_oracle_range"]
            lines.append(
                f"| {scorer} | {strategy} | {float(share):.0%} | {s['estimated_share']:.3f} "
                f"(sd {s['estimated_share_sd']:.3f}) | {s['today_min']:.1f} | "
                f"{s['shift_aware_min']:.1f} | {s['oracle_min']:.1f} | "
                f"{s['today_x_oracle']:.3f} [{tlo:.3f}, {thi:.3f}] | "
                f"{s['shift_aware_x_oracle']:.3f} [{lo:.3f}, {hi:.3f}] | "
                f"{'met' if s['aim_met'] else 'not met'} |"
            )
    return lines
