"""CLI commands of `tweet_triage.model`, registered flat on the root app (one per stage).

`train`'s Typer options are generated from the argument dataclasses of `arguments.py` (run_glue
style), so the CLI, notebooks and the help text share one definition; the other commands are
plain Typer options over the library functions. Every command has the same `--help`, error
line and exit codes.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import sys
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, get_args, get_type_hints

import typer

from tweet_triage.cli_options import JsonFlag
from tweet_triage.config import Settings, load_settings
from tweet_triage.logs import configure_logging
from tweet_triage.model.names import REPORT_FILE
from tweet_triage.model.parameters import CAPACITY_UNITS, ENGINES


class Runner(StrEnum):
    pandas = "pandas"
    spark = "spark"


def _choices(name: str, values: tuple[str, ...]) -> type[StrEnum]:
    """A Typer choice type over values defined elsewhere (Typer checks choices via an Enum)."""
    return StrEnum(name, {value: value for value in values})


CapacityUnit = _choices("CapacityUnit", CAPACITY_UNITS)
Engine = _choices("Engine", ENGINES)


ENGINE_HELP = (
    "What runs the network: torch, onnx (ONNX Runtime, int8, CPU) or onnx-fp32; auto: onnx "
    "on CPU when the model folder holds the export, else torch."
)


def _settings() -> Settings:
    settings = load_settings()
    configure_logging(settings)
    return settings


def _option(name: str, kind: Any, default: Any, help_text: str, choices: Any = None) -> Any:
    """One generated Typer option: `--dashed-name`, bool as `--x/--no-x`, choices checked."""
    flag = "--" + name.replace("_", "-")
    if kind is bool:
        flag = f"{flag}/--no-{name.replace('_', '-')}"
    if choices:
        kind = _choices(name, tuple(choices))
        default = kind(default)
    option = typer.Option(flag, help=help_text)
    annotation = Annotated[kind if default is not None else kind | None, option]  # type: ignore[valid-type]
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def _dataclass_options(cls: type, names: set[str] | None = None) -> list[inspect.Parameter]:
    """One generated option per field of an argument dataclass (or of the fields named)."""
    hints = get_type_hints(cls)
    options = []
    for f in dataclasses.fields(cls):
        if names is None or f.name in names:
            kind = next((t for t in get_args(hints[f.name]) if t is not type(None)), hints[f.name])
            options.append(
                _option(f.name, kind, f.default, f.metadata["help"], f.metadata.get("choices"))
            )
    return options


def _keyword(name: str, default: Any, annotation: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def _train_signature() -> inspect.Signature:
    """`train`'s options, generated from the argument dataclasses (one definition)."""
    from tweet_triage.model.arguments import ARGUMENT_CLASSES, TRAINING_OPTIONS

    params = [option for cls in ARGUMENT_CLASSES for option in _dataclass_options(cls)]
    for name, (kind, default, help_text) in TRAINING_OPTIONS.items():
        params.append(_option(name, kind, default, help_text))
    return inspect.Signature(params, return_annotation=None)


def train(**options: Any) -> None:
    """Fine-tune the needs-support classifier (GPU if present), save, export to ONNX, track."""
    from tweet_triage.model.arguments import train_arguments
    from tweet_triage.model.data import require_splits
    from tweet_triage.model.training import train as run_training

    settings = _settings()
    plain = {k: v.value if isinstance(v, StrEnum) else v for k, v in options.items()}
    require_splits(plain["data_dir"] or settings.data_dir, ("train", "val"))
    args = train_arguments(settings, **plain)
    result = run_training(args, settings)
    v = result.validation
    typer.echo(
        f"model saved to {result.output_dir}: threshold {result.threshold:.3f}, val F2 "
        f"{v['f2']:.3f}, PR AUC {v['pr_auc']:.3f}; {result.steps} steps in "
        f"{result.train_seconds:.0f} s on {result.device} "
        f"({result.train_samples_per_second:.1f} samples/s)"
        + (f"; MLflow run {result.mlflow_run_id}" if result.mlflow_run_id else "")
        + (f", registered version {result.registered_version}" if result.registered_version else "")
    )


train.__signature__ = _train_signature()  # type: ignore[attr-defined]


def _threshold_signature() -> inspect.Signature:
    """`threshold`'s options: the model, the data, and the strategy's options of `train`."""
    from tweet_triage.model.arguments import ThresholdArguments

    model_help = "Model folder; default MODEL_DIR."
    data_help = "Folder holding splits/val; default DATA_DIR."
    strategy = {f.name for f in dataclasses.fields(ThresholdArguments)} - {"calibration"}
    params = [
        _keyword("model_dir", None, Annotated[Path | None, typer.Option(help=model_help)]),
        _keyword("data_dir", None, Annotated[Path | None, typer.Option(help=data_help)]),
        _option("threshold_beta", float, None, "f-beta: the beta; default: the model's own."),
        *_dataclass_options(ThresholdArguments, strategy),  # the calibration stays as trained
        _keyword(
            "engine",
            Engine["torch"],
            Annotated[Engine, typer.Option(help=ENGINE_HELP + " Default: torch, as train.")],
        ),
        _keyword("device", "auto", Annotated[str, typer.Option(help="auto, cuda or cpu.")]),
        _keyword("as_json", False, JsonFlag),
    ]
    return inspect.Signature(params, return_annotation=None)


def threshold(**options: Any) -> None:
    """Set a trained model's threshold again on val (cost, capacity or f-beta), no retraining.

    The network and its calibration stay; triage.json gets the new threshold, strategy and
    drift reference. A registered model needs `tweet-triage model register` afterwards.
    """
    from tweet_triage.model.arguments import ThresholdArguments
    from tweet_triage.model.data import require_splits
    from tweet_triage.model.folder import ModelMeta
    from tweet_triage.model.rethreshold import rethreshold

    settings = _settings()
    plain = {k: v.value if isinstance(v, StrEnum) else v for k, v in options.items()}
    model_dir = plain.pop("model_dir") or settings.model_dir
    data_dir = plain.pop("data_dir") or settings.data_dir
    beta, engine, device, as_json = (
        plain.pop(name) for name in ("threshold_beta", "engine", "device", "as_json")
    )
    ModelMeta.load(model_dir)  # the folder and the split, before loading anything heavy
    require_splits(data_dir, ("val",))
    arguments = ThresholdArguments(**plain)
    arguments.check()
    choice = rethreshold(model_dir, data_dir, arguments, beta=beta, engine=engine, device=device)
    if as_json:
        typer.echo(json.dumps({"model": str(model_dir), **choice.as_dict()}))
        return
    typer.echo(f"{model_dir}: threshold {choice.threshold:.3f} ({choice.strategy})")


threshold.__signature__ = _threshold_signature()  # type: ignore[attr-defined]


def evaluate(
    model_dir: Annotated[Path | None, typer.Option(help="Model folder; default MODEL_DIR.")] = None,
    split: Annotated[str, typer.Option(help="Labelled split to evaluate on.")] = "test",
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder holding splits/; default DATA_DIR.")
    ] = None,
    reports_dir: Annotated[
        Path | None, typer.Option(help="Where the report goes; default REPORTS_DIR.")
    ] = None,
    reading_wpm: Annotated[float, typer.Option(help="Reading speed, words per minute.")] = 135.0,
    typing_wpm: Annotated[float, typer.Option(help="Typing speed, words per minute.")] = 40.0,
    reply_length_ratio: Annotated[float, typer.Option(help="Reply words per tweet word.")] = 1.0,
    response_fraction: Annotated[
        float, typer.Option(help="Share of needs-support tweets that get a typed reply.")
    ] = 1.0,
    false_positive_reply_fraction: Annotated[
        float,
        typer.Option(help="Share of the reply time charged to a wrongly flagged tweet."),
    ] = 0.0,
    bootstrap: Annotated[
        int, typer.Option(min=100, help="Bootstrap resamples for the intervals.")
    ] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    naive_seed: Annotated[int, typer.Option(help="Seed of the reference random draw.")] = 88,
    capacity: Annotated[
        float,
        typer.Option(help="The team's reading capacity per hour (capacity view of the report)."),
    ] = 30.0,
    capacity_unit: Annotated[
        CapacityUnit, typer.Option(help="Unit of --capacity: tweets or minutes of work per hour.")
    ] = CapacityUnit["tweets"],
    device: Annotated[str, typer.Option(help="auto, cuda or cpu.")] = "auto",
    engine: Annotated[Engine, typer.Option(help=ENGINE_HELP)] = Engine["auto"],
    track: Annotated[bool, typer.Option(help="Add the results to the model's MLflow run.")] = True,
    as_json: JsonFlag = False,
) -> None:
    """ML and business metrics on a held-out split, plots and the report."""
    from tweet_triage.model.data import require_splits
    from tweet_triage.model.evaluate import EvaluateOptions
    from tweet_triage.model.evaluate import evaluate as run_evaluation
    from tweet_triage.model.folder import ModelMeta
    from tweet_triage.model.parameters import BusinessParams, Capacity

    settings = _settings()
    team_capacity = Capacity(capacity, capacity_unit.value)
    model_dir = model_dir or settings.model_dir
    ModelMeta.load(model_dir)  # the folder and the split, before loading
    require_splits(data_dir or settings.data_dir, (split,))
    try:
        params = BusinessParams(
            reading_wpm,
            typing_wpm,
            reply_length_ratio,
            response_fraction,
            false_positive_reply_fraction,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    reports = reports_dir or settings.reports_dir
    result = run_evaluation(
        model_dir,
        data_dir or settings.data_dir,
        reports,
        settings,
        params,
        EvaluateOptions(
            split=split,
            n_bootstrap=bootstrap,
            seed=seed,
            naive_seed=naive_seed,
            device=device,
            engine=engine.value,
            track=track,
            capacity=team_capacity,
        ),
    )
    if as_json:
        headline = {
            "split": split,
            "threshold": result.threshold,
            "metrics": result.metrics,
            "intervals": result.intervals,
            "business": result.business,
            "report": str(reports / REPORT_FILE),
        }
        typer.echo(json.dumps(headline, default=str))
        return
    lo, hi = result.interval("f2")
    same, coin = result.reduction("naive_same_rate"), result.reduction("naive_50")
    everything = result.reduction("flag_everything")
    typer.echo(
        f"support minutes lost {result.total_lost_min:.1f} (missed + wasted): "
        f"{everything.total_lost:.0f}% less than flagging everything, "
        f"{same.total_lost:.0f}% less than random at the same flag rate"
    )
    typer.echo(
        f"{split}: needs-support F2 {result.metric('f2'):.3f} [{lo:.3f}, {hi:.3f}], precision "
        f"{result.metric('precision'):.3f}, recall {result.metric('recall'):.3f}, PR AUC "
        f"{result.metric('pr_auc'):.3f}\n"
        f"time missed {result.time_missed_min:.1f} min, wasted {result.time_wasted_min:.1f} min; "
        f"vs random at the same flag rate: {same.time_missed:.0f}% / {same.time_wasted:.0f}% "
        f"less; vs 50% random: {coin.time_missed:.0f}% / {coin.time_wasted:.0f}% less\n"
        f"report: {reports / REPORT_FILE}"
    )


def predict(
    input_path: Annotated[
        Path,
        typer.Option("--input", help="CSV, JSON Lines or Parquet (file/folder) with id, text."),
    ],
    output_path: Annotated[
        Path, typer.Option("--output", help="Output file (.parquet/.csv/.jsonl) or folder.")
    ],
    model_dir: Annotated[Path | None, typer.Option(help="Model folder; default MODEL_DIR.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Tweets per forward pass.")] = 64,
    runner: Annotated[
        Runner, typer.Option(help="pandas (one process) or spark (Parquet folders).")
    ] = Runner.pandas,
    engine: Annotated[Engine, typer.Option(help=ENGINE_HELP)] = Engine["auto"],
    device: Annotated[str, typer.Option(help="auto, cuda or cpu.")] = "auto",
    as_json: JsonFlag = False,
) -> None:
    """Score tweets: rows plus p_needs_support and needs_support (0/1 at the saved threshold)."""
    from tweet_triage.model.data import output_format
    from tweet_triage.model.inference import check_spark_input, predict_file, predict_spark

    settings = _settings()
    model_dir = model_dir or settings.model_dir
    output_format(output_path)  # a bad output path fails before anything loads
    if runner is Runner.spark:
        from tweet_triage.data.spark import spark_session

        check_spark_input(input_path)
        spark = spark_session(settings, app_name="tweet-triage-predict")
        try:
            summary = predict_spark(
                spark, model_dir, input_path, output_path, batch_size, device, engine.value
            )
        finally:
            spark.stop()
    else:
        summary = predict_file(model_dir, input_path, output_path, batch_size, device, engine.value)
    if as_json:
        typer.echo(json.dumps({**asdict(summary), "tweets_per_second": summary.tweets_per_second}))
        return
    typer.echo(
        f"scored {summary.scored} of {summary.rows} tweets ({summary.skipped} skipped: empty or "
        f"non-string text), flagged {summary.flagged}, {summary.tweets_per_second:.0f} tweets/s "
        f"({summary.engine}); wrote {summary.output}"
    )


def trends(
    predictions: Annotated[Path, typer.Option(help="Output of `predict` (any supported format).")],
    model_dir: Annotated[
        Path | None,
        typer.Option(help="Model folder (its reference); default MODEL_DIR."),
    ] = None,
    reports_dir: Annotated[
        Path | None, typer.Option(help="Where trends.md goes; default REPORTS_DIR.")
    ] = None,
    tolerance: Annotated[
        float, typer.Option(min=0.0, help="Allowed relative change vs training.")
    ] = 0.15,
    min_group_size: Annotated[
        int, typer.Option(min=1, help="Smallest time-of-day group checked.")
    ] = 30,
    fail_on_drift: Annotated[
        bool, typer.Option(help="Exit with status 1 when the check fails.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Score distributions by class, time, length and client, and the drift check."""
    from tweet_triage.model.trends import trends_report

    settings = _settings()
    path, drift = trends_report(
        predictions,
        model_dir or settings.model_dir,
        reports_dir or settings.reports_dir,
        tolerance,
        min_group_size,
    )
    failed = [c.name for c in drift.checks if not c.passed]
    verdict = "PASS" if drift.passed else f"FAIL ({', '.join(failed)})"
    if as_json:
        checks = [asdict(check) for check in drift.checks]
        document = {"passed": drift.passed, "tolerance": tolerance, "checks": checks}
        typer.echo(json.dumps({**document, "report": str(path)}, default=str))
    else:
        typer.echo(f"drift check within {tolerance:.0%}: {verdict}; report: {path}")
    if fail_on_drift and not drift.passed:
        raise typer.Exit(1)


def report(
    reports_dir: Annotated[
        Path | None, typer.Option(help="Folder of the last evaluation; default REPORTS_DIR.")
    ] = None,
) -> None:
    """Rebuild the evaluation report and its plots from the last evaluation."""
    from tweet_triage.model.report import build_report

    settings = _settings()
    typer.echo(f"report: {build_report(reports_dir or settings.reports_dir)}")


def tracking_uri() -> None:
    """Print the effective MLflow tracking URI (used by `make mlflow-ui`)."""
    from tweet_triage.model.tracking import tracking_uri as effective_uri

    sys.stdout.write(effective_uri(load_settings()) + "\n")


def export_for_labelling(
    size: int = typer.Option(500, min=1, help="Tweets to sample."),
    seed: int = typer.Option(42, help="Sampling seed: same seed and data, same sample."),
    output: Annotated[
        Path | None, typer.Option(help="CSV to write; default DATA_DIR/for-labelling/.")
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            help="Active labelling: uncertain | random | mixed, ranked by the champion model "
            "(docs/loop.md); default: a plain seeded sample, no model needed."
        ),
    ] = None,
    random_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="mixed: share drawn at random, held out.")
    ] = 0.2,
    candidates: Annotated[
        int, typer.Option(min=1, help="With --strategy: unlabelled tweets to score and rank.")
    ] = 5000,
    model: Annotated[
        str | None, typer.Option(help="With --strategy: 'champion' (default) or a model folder.")
    ] = None,
) -> None:
    """Write a seeded sample of unlabelled tweets as CSV for annotators (see docs/labelling.md);
    with --strategy, ranked by a model (active labelling, model.active)."""
    if strategy is not None:
        import json

        from tweet_triage.model.active import export_for_labelling as export_active

        settings = load_settings()
        configure_logging(settings)
        found = export_active(
            settings,
            strategy=strategy,
            size=size,
            seed=seed,
            random_share=random_share,
            candidates=candidates,
            output=output,
            model=model,
        )
        typer.echo(json.dumps(found, indent=2))
        return
    from tweet_triage.data.jobs import run_export_for_labelling
    from tweet_triage.data.paths import DataPaths
    from tweet_triage.data.spark import spark_session

    settings = load_settings()
    configure_logging(settings)
    spark = spark_session(settings, "export-for-labelling")
    paths = DataPaths.from_settings(settings)
    typer.echo(run_export_for_labelling(spark, paths, size, seed, output).as_text())


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.command()(train)
    app.command()(evaluate)
    app.command()(threshold)
    app.command()(predict)
    app.command()(trends)
    app.command()(report)
    app.command("tracking-uri")(tracking_uri)
    app.command("export-for-labelling")(export_for_labelling)
