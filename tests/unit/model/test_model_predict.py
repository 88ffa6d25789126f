"""predict round-trips every file format; evaluate, trends, report and MLflow on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.unit.model.conftest import tiny_settings
from tweet_triage.cli import app
from tweet_triage.model.data import ModelDataError, read_table
from tweet_triage.model.evaluate import EvaluateOptions, evaluate
from tweet_triage.model.folder import ModelFolderError
from tweet_triage.model.inference import predict_file
from tweet_triage.model.result import EvaluationResult
from tweet_triage.model.trends import trends_report

RAW = pd.DataFrame(
    {
        "id": ["1", "2", "3", "4"],
        "text": [
            "Why is my app broken again? https://t.co/x",
            "love the app &amp; @bob",
            "",
            "no help",
        ],
        "lang": ["en", "en", "en", "en"],
    }
)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_predict_round_trips_every_format(trained_model: Path, tmp_path: Path, suffix: str) -> None:
    source = tmp_path / f"in{suffix}"
    if suffix == ".csv":
        RAW.to_csv(source, index=False)
    elif suffix == ".jsonl":
        RAW.to_json(source, orient="records", lines=True)
    else:
        RAW.to_parquet(source)
    output = tmp_path / f"out{suffix}"
    summary = predict_file(trained_model, source, output, batch_size=2, device="cpu")
    assert (summary.rows, summary.scored, summary.skipped) == (4, 3, 1)
    out = read_table(output)
    assert list(out["id"].astype(str)) == ["1", "2", "3", "4"]
    assert list(out["lang"]) == ["en"] * 4
    assert out.loc[2, "p_needs_support"] != out.loc[2, "p_needs_support"]  # NaN: empty text
    scored = out.drop(index=2)
    assert scored["p_needs_support"].between(0, 1).all()
    threshold = json.loads((trained_model / "triage.json").read_text())["threshold"]
    expected = (scored["p_needs_support"] >= threshold).astype(int)
    assert list(scored["needs_support"].astype(int)) == list(expected)


def test_predict_normalises_raw_text_and_batches_consistently(
    trained_model: Path, tmp_path: Path
) -> None:
    from tweet_triage.model.inference import TorchScorer

    model = TorchScorer.load(trained_model, device="cpu")
    raw = ["Why is my app broken again? https://t.co/x @bob", "love the app"]
    normalised = ["Why is my app broken again? http @user", "love the app"]
    np.testing.assert_allclose(model.predict_proba(raw), model.predict_proba(normalised))
    many = [t for t in RAW["text"] if t] * 5
    # Padding moves logits by ~1e-6; a steep stretch of the calibration map can make that 1e-4.
    np.testing.assert_allclose(
        model.predict_proba(many, batch_size=1), model.predict_proba(many, batch_size=7), atol=1e-3
    )


def test_predict_input_errors(trained_model: Path, tmp_path: Path) -> None:
    RAW.drop(columns=["text"]).to_csv(tmp_path / "no_text.csv", index=False)
    with pytest.raises(ModelDataError, match="lacks column"):
        predict_file(trained_model, tmp_path / "no_text.csv", tmp_path / "o.csv")
    RAW.iloc[:0].to_csv(tmp_path / "empty.csv", index=False)
    with pytest.raises(ModelDataError, match="no rows"):
        predict_file(trained_model, tmp_path / "empty.csv", tmp_path / "o.csv")
    RAW.to_csv(tmp_path / "ok.csv", index=False)
    with pytest.raises(ModelFolderError):
        predict_file(tmp_path, tmp_path / "ok.csv", tmp_path / "o.csv")


def test_evaluate_trends_report_and_tracking(
    trained_model: Path, tiny_data: Path, tmp_path: Path
) -> None:
    import mlflow

    settings = tiny_settings(tmp_path, tiny_data)
    reports = tmp_path / "reports"
    result = evaluate(
        trained_model,
        tiny_data,
        reports,
        settings,
        options=EvaluateOptions(n_bootstrap=100, device="cpu"),
    )
    m = result.metrics
    assert m["n"] == 24 and m["positives"] == 12
    assert set(result.slices) == {"time_of_day", "word_bin", "tweet_kind"}
    assert result.business["naive_50"]["tweets_missed"] == pytest.approx(6.0)
    assert result.f2_flag_everything == pytest.approx(5 * 12 / (5 * 12 + 12))
    low, high = result.interval("f2")
    assert low <= m["f2"] <= high
    for name in (
        "evaluation.md",
        "evaluation.json",
        "confusion_matrix.png",
        "pr_curve.png",
        "score_histograms.png",
        "business_metrics.png",
        "share_over_time.png",
        "reach_vs_capacity.png",
        "reliability.png",
    ):
        assert (reports / name).is_file(), name
    again = EvaluationResult.load(reports)
    assert again.metric("f2") == pytest.approx(m["f2"]) and again.interval("f2") == (low, high)
    assert again.reduction("naive_50").time_missed == pytest.approx(
        result.business["pct_reduction"]["naive_50"]["time_missed"]
    )
    report_text = (reports / "evaluation.md").read_text()
    assert "Time missed" in report_text and "random guessing at 50%" in report_text
    assert "flag every tweet" in report_text and "## Capacity view" in report_text
    assert result.business["flag_everything"]["tweets_missed"] == 0
    assert set(result.capacity) >= {"model", "arrival", "curve"}
    assert result.calibration["ece_after"] >= 0 and "## Calibration" in report_text
    # No training run in this store: evaluation opened its own run with the metrics.
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    run = mlflow.get_run(result.mlflow["evaluation_run_id"])
    assert run.data.metrics["test.f2"] == pytest.approx(m["f2"])

    predictions = reports / "evaluation_predictions.parquet"
    path, drift = trends_report(predictions, trained_model, reports, tolerance=0.15)
    assert path.read_text().startswith("# Needs-support trends")
    assert "true_needs_support" in json.loads((reports / "trends.json").read_text())["tables"]
    assert drift.checks and drift.tolerance == 0.15
    shift = json.loads((reports / "trends.json").read_text())["label_shift"]
    assert 0 < shift["estimated_share"] < 1 and shift["train_share"] == pytest.approx(0.5)
    assert "## Label shift" in path.read_text()


def test_training_is_tracked_and_registered(
    tiny_backbone: Path, tiny_data: Path, tmp_path: Path
) -> None:
    import mlflow

    from tweet_triage.model.arguments import train_arguments
    from tweet_triage.model.training import train

    settings = tiny_settings(tmp_path, tiny_data)
    args = train_arguments(
        settings,
        model_name_or_path=str(tiny_backbone),
        general_set="none",
        max_steps=2,
        per_device_train_batch_size=8,
        evaluations_per_epoch=3,
    )
    result = train(args, settings)
    assert result.registered_version == "1"
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    run = mlflow.get_run(result.mlflow_run_id)
    assert run.data.params["objective"] == "three_class"
    assert "val.f2" in run.data.metrics and "eval_f2" in run.data.metrics
    scorer = mlflow.pyfunc.load_model("models:/tweet-triage-needs-support/1")
    scores = scorer.predict(pd.DataFrame({"text": ["why is my app broken", "love it"]}))
    assert list(scores.columns) == ["p_needs_support", "needs_support"]
    meta = json.loads((settings.model_dir / "triage.json").read_text())
    assert meta["mlflow"]["run_id"] == result.mlflow_run_id

    from tweet_triage.model.registry import champion_version

    assert champion_version(settings) == "1"  # the first version registered
    args.training.max_steps, args.run.promote = 1, True  # what `make train-best` asks
    assert train(args, settings).registered_version == "2"
    assert champion_version(settings) == "2"


def test_cli_commands(trained_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////tmp/somewhere.db")
    uri = runner.invoke(app, ["tracking-uri"])
    assert uri.exit_code == 0 and uri.output.strip() == "sqlite:////tmp/somewhere.db"
    RAW.to_json(tmp_path / "in.jsonl", orient="records", lines=True)
    out = runner.invoke(
        app,
        [
            "predict",
            "--model-dir",
            str(trained_model),
            "--input",
            str(tmp_path / "in.jsonl"),
            "--output",
            str(tmp_path / "out.parquet"),
            "--device",
            "cpu",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "scored 3 of 4 tweets (1 skipped" in out.output
    paths = ["--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "again.csv")]
    scripted = runner.invoke(
        app, ["predict", "--model-dir", str(trained_model), *paths, "--device", "cpu", "--json"]
    )
    assert scripted.exit_code == 0, scripted.output
    summary = json.loads(scripted.stdout)
    assert (summary["rows"], summary["scored"], summary["skipped"]) == (4, 3, 1)
    monkeypatch.setenv("COLUMNS", "200")  # rich shortens option names in narrow terminals
    helped = runner.invoke(app, ["train", "--help"])
    assert helped.exit_code == 0
    for option in ("--max-train-seconds", "--learning-rate", "--budget", "--no-track"):
        assert option in helped.output, option
    assert helped.output.count("--learning-rate") == 1  # listed once, Typer style
    bad = runner.invoke(app, ["train", "--no-such-option"])
    assert bad.exit_code == 2 and "No such option" in bad.output
    wrong = runner.invoke(app, ["train", "--objective", "four_class"])
    assert wrong.exit_code == 2
    no_data = runner.invoke(app, ["train", "--data-dir", str(tmp_path / "none")])
    assert isinstance(no_data.exception, ModelDataError) and "make data" in str(no_data.exception)
    missing = runner.invoke(app, ["report", "--reports-dir", str(tmp_path / "none")])
    assert isinstance(missing.exception, ModelDataError)
