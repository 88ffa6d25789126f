"""The evaluation report: reports/evaluation.md with the numbers and the plots next to it.

Rebuilt from `evaluation.json` and the saved predictions alone (`tweet-triage report`), so
the report can be regenerated, e.g. after a template change, without scoring again.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from tweet_triage.model.names import (
    P_COLUMN,
    PRED_COLUMN,
    PREDICTIONS_FILE,
    REPORT_FILE,
    TRUE_COLUMN,
)
from tweet_triage.model.result import BASELINES, EvaluationResult


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = [
        "| " + " | ".join(_fmt(v, digits) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *rows])


def _interval(result: EvaluationResult, name: str, digits: int = 3) -> str:
    low, high = result.interval(name)
    return f"[{_fmt(low, digits)}, {_fmt(high, digits)}]"


def _change(cut: float) -> str:
    """The model's total minutes lost against a baseline's, as a signed % difference."""
    return "–" if math.isnan(cut) else f"{-cut:+.1f}%"


def _capacity_lines(capacity: dict[str, Any], plot: Path | None) -> list[str]:
    if not capacity:
        return []

    def wait(order: str) -> str:
        minutes = capacity[order]["median_wait_min"]
        return "not reached (under half read)" if minutes is None else f"{minutes:.0f} min"

    unit = capacity["unit"]
    rows = pd.DataFrame(
        [
            (
                f"{order} order",
                capacity[order]["reached_share"],
                wait(order),
                capacity[order]["tweets_read"],
            )
            for order in ("model", "arrival")
        ],
        columns=["reading", "needs-support tweets reached", "median wait", "tweets read"],
    )
    lines = [
        "## Capacity view",
        "",
        f"A team reading {capacity['capacity_per_hour']:g} {unit}/hour over this split's own "
        f"timeline ({capacity['tweets']} tweets in {capacity['hours']:.1f} h, "
        f"{capacity['arriving_per_hour']:.1f} {unit}/hour arriving), one queue: it reads the "
        "highest-scored waiting tweet (model order) or the oldest (arrival order) and stops at "
        "the last arrival. Median wait: arrival to read, a tweet never read counting as "
        "an endless wait.",
        "",
        markdown_table(rows),
        "",
    ]
    if plot is not None:
        lines += [f"![reach against capacity]({plot.name})", ""]
    return lines


def _strategy(result: EvaluationResult) -> str:
    """How the threshold was chosen, in words (models before strategies: F2)."""
    strategy = result.threshold_strategy.get("strategy", "f-beta")
    parameters = result.threshold_strategy.get("parameters", {})
    if strategy == "cost":
        return "least expected support minutes (cost strategy, business parameters as below)"
    if strategy == "capacity":
        return (
            f"capacity ({parameters['capacity_per_hour']:g} {parameters['capacity_unit']}/hour "
            f"for {parameters['arrivals_per_hour']:.1f} tweets/hour arriving)"
        )
    return f"F{parameters.get('beta', 2.0):g}"


def _calibration_lines(result: EvaluationResult, plot: Path | None) -> list[str]:
    c = result.calibration
    if not c:
        return []
    measured = ", ".join(
        f"{name} {_fmt(float(value))}"
        for name, value in c.get("cross_fitted_ece_on_val", {}).items()
    )
    lines = [
        "## Calibration",
        "",
        f"Saved calibration: {c['method']}"
        + (f" (cross-fitted ECE on validation: {measured})" if measured else "")
        + f". Expected calibration error on this split: {_fmt(c['ece_before'])} before, "
        f"{_fmt(c['ece_after'])} after (10 equal-width bins).",
        "",
    ]
    if plot is not None:
        lines += [f"![reliability]({plot.name})", ""]
    return lines


def build_report(reports_dir: Path) -> Path:
    """Plots and evaluation.md from evaluation.json and evaluation_predictions.parquet."""
    from tweet_triage.model.plots import (
        plot_business,
        plot_confusion,
        plot_histograms,
        plot_pr_curve,
        plot_reach,
        plot_reliability,
        plot_share_over_time,
    )

    result = EvaluationResult.load(reports_dir)
    predictions = pd.read_parquet(reports_dir / PREDICTIONS_FILE)
    y = predictions[TRUE_COLUMN].to_numpy().astype(int)
    p = predictions[P_COLUMN].to_numpy().astype(float)
    m, business, threshold = result.metrics, result.business, result.threshold
    plots = {
        "confusion": plot_confusion(m["confusion"], reports_dir / "confusion_matrix.png"),
        "pr": plot_pr_curve(y, p, threshold, reports_dir / "pr_curve.png"),
        "hist": plot_histograms(y, p, threshold, reports_dir / "score_histograms.png"),
        "business": plot_business(business, reports_dir / "business_metrics.png"),
        "reach": plot_reach(result.capacity, reports_dir / "reach_vs_capacity.png"),
        "reliability": plot_reliability(result.calibration, reports_dir / "reliability.png"),
        "time": plot_share_over_time(
            predictions, TRUE_COLUMN, PRED_COLUMN, reports_dir / "share_over_time.png"
        ),
    }
    headline = pd.DataFrame(
        [
            (name, m[key], _interval(result, key))
            for name, key in (
                ("F2", "f2"),
                ("precision", "precision"),
                ("recall", "recall"),
                ("F1", "f1"),
                ("PR AUC", "pr_auc"),
                ("ROC AUC", "roc_auc"),
                ("accuracy", "accuracy"),
                ("balanced accuracy", "balanced_accuracy"),
            )
        ],
        columns=["needs-support metric", "value", "95% bootstrap interval"],
    )
    c = m["confusion"]
    business_rows = [
        (
            "model",
            business["model"]["total_lost_min"],
            "",
            business["model"]["tweets_missed"],
            business["model"]["time_missed_min"],
            business["model"]["tweets_wasted"],
            business["model"]["time_wasted_min"],
            f"{business['model']['flag_rate']:.1%}",
        )
    ]
    for key, label in BASELINES.items():
        b, r = business[key], business["pct_reduction"][key]
        business_rows.append(
            (
                label,
                b["total_lost_min"],
                _change(r["total_lost"]),
                b["tweets_missed"],
                b["time_missed_min"],
                b["tweets_wasted"],
                b["time_wasted_min"],
                f"{b['flag_rate']:.1%}",
            )
        )
    business_table = pd.DataFrame(
        business_rows,
        columns=[
            "decisions",
            "support minutes lost",
            "model vs this",
            "tweets missed",
            "time missed (min)",
            "tweets wasted",
            "time wasted (min)",
            "flag rate",
        ],
    )
    params = business["params"]
    weighted = m["weighted"]
    lines = [
        f"# Needs-support model: evaluation on the {result.split} split",
        "",
        f"{m['n']} tweets ({m['positives']} need support, {m['positives'] / m['n']:.1%}); "
        f"threshold {threshold:.3f} chosen on validation by {_strategy(result)} (objective: "
        f"{result.objective}); evaluated {result.created_at}. Intervals: "
        f"{result.n_bootstrap} bootstrap resamples of the tweets.",
        "",
        "## Needs-support class",
        "",
        markdown_table(headline),
        "",
        f"Confusion matrix: TP {c['tp']}, FP {c['fp']}, FN {c['fn']}, TN {c['tn']}; "
        f"flag rate {m['flag_rate']:.1%}. At threshold 0.5 instead: F2 "
        f"{result.metrics_at_half['f2']:.3f}, recall {result.metrics_at_half['recall']:.3f}. "
        f"Flagging every tweet would score F2 {result.f2_flag_everything:.3f} (PR AUC "
        f"baseline = the needs-support share, {m['positives'] / m['n']:.3f}).",
        "",
        f"For comparison with the original (weighted averages over both classes): precision "
        f"{weighted['precision']:.3f}, recall {weighted['recall']:.3f}, F1 {weighted['f1']:.3f}, "
        f"F2 {weighted['f2']:.3f}.",
        "",
        f"![confusion matrix]({plots['confusion'].name}) ![PR curve]({plots['pr'].name})",
        "",
        f"![score histograms]({plots['hist'].name})",
        "",
        *_calibration_lines(result, plots["reliability"]),
        "## Business metrics",
        "",
        f"Reading {params['reading_wpm']:g} wpm, typing {params['typing_wpm']:g} wpm, reply "
        f"length {params['reply_length_ratio']:g}x the tweet, {params['response_fraction']:.0%} "
        f"of needs-support tweets answered, {params['false_positive_reply_fraction']:.0%} of the "
        "reply time charged to a wrongly flagged tweet. Time missed = response time of false "
        "negatives; time wasted = reading time of false positives. Answering every tweet that "
        f"needs support takes {business['response_time_true_min']:.1f} min.",
        "",
        markdown_table(business_table, digits=1),
        "",
        "'model vs this': the model's support minutes lost (missed + wasted) against this "
        "row's, in percent (negative: the model loses less).",
        "",
        f"![business metrics]({plots['business'].name})",
        "",
        *_capacity_lines(result.capacity, plots["reach"]),
    ]
    if plots["time"] is not None:
        lines += [f"![needs support over time]({plots['time'].name})", ""]
    lines += ["## Slices", ""]
    for column, records in result.slices.items():
        lines += [
            f"### By {column.replace('_', ' ')}",
            "",
            markdown_table(pd.DataFrame(records)),
            "",
        ]
    validation, training = result.validation, result.training
    if validation:
        lines += [
            "## Validation and training",
            "",
            f"Validation (threshold chosen here): F2 {validation['f2']:.3f}, PR AUC "
            f"{validation['pr_auc']:.3f}, n {validation['n']}. Training: "
            f"{training.get('train_rows')} tweets, {training.get('steps')} steps, "
            f"{training.get('train_seconds')} s on {training.get('device')} "
            f"({_fmt(training.get('train_samples_per_second'), 1)} samples/s), max length "
            f"{training.get('max_length')}.",
            "",
        ]
    if result.mlflow.get("run_id"):
        mlflow_info = result.mlflow
        lines += [
            f"MLflow run `{mlflow_info['run_id']}` at `{mlflow_info.get('tracking_uri')}`"
            f" (registered version {mlflow_info.get('registered_version')}).",
            "",
        ]
    report = reports_dir / REPORT_FILE
    report.write_text("\n".join(lines))
    return report
