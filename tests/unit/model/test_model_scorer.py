"""The public scorer API: engines agree, ONNX int8 keeps the ranking, paths fail first."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from tests.unit.model.conftest import random_tweets
from tweet_triage.cli import app
from tweet_triage.model.data import ModelDataError
from tweet_triage.model.export import onnx_paths
from tweet_triage.model.folder import ModelMeta
from tweet_triage.model.inference import ENGINES, OnnxScorer, TorchScorer, load_scorer

TEXTS = ["Why is my app broken again? https://t.co/x", "", None, "love the app &amp; @bob"]


@pytest.mark.parametrize("engine", ["torch", "onnx", "onnx-fp32"])
def test_score_returns_p_needs_support_per_text(trained_model: Path, engine: str) -> None:
    scorer = load_scorer(trained_model, engine=engine)
    scores = scorer.score(TEXTS)
    assert len(scores) == 4 and math.isnan(scores[1]) and math.isnan(scores[2])
    assert 0.0 <= scores[0] <= 1.0 and 0.0 <= scores[3] <= 1.0
    assert scorer.engine == engine
    assert scorer.threshold == ModelMeta.load(trained_model).threshold
    assert scorer.version.startswith("sha256:")  # not registered in MLflow


def test_training_exports_onnx_and_auto_prefers_it_on_cpu(
    trained_model: Path, tmp_path: Path
) -> None:
    fp32, int8 = onnx_paths(trained_model)
    assert fp32.is_file() and int8.is_file()
    assert isinstance(load_scorer(trained_model, engine="auto", device="cpu"), OnnxScorer)
    bare = tmp_path / "bare"
    shutil.copytree(trained_model, bare, ignore=shutil.ignore_patterns("onnx"))
    assert isinstance(load_scorer(bare, engine="auto", device="cpu"), TorchScorer)
    # Asked for explicitly, onnx exports on first use.
    assert load_scorer(bare, engine="onnx").engine == "onnx"
    assert onnx_paths(bare)[1].is_file()


def test_onnx_matches_torch_and_int8_keeps_roc_auc(learned_scorer_dir: Path) -> None:
    texts, y = random_tweets(600, seed=7, noise=0.15)
    p_torch = load_scorer(learned_scorer_dir, engine="torch").predict_proba(texts)
    p_fp32 = load_scorer(learned_scorer_dir, engine="onnx-fp32").predict_proba(texts)
    p_int8 = load_scorer(learned_scorer_dir, engine="onnx").predict_proba(texts)
    assert p_torch.std() > 0.05 and roc_auc_score(y, p_torch) > 0.75  # a real ranking
    np.testing.assert_allclose(p_fp32, p_torch, atol=1e-5)
    # On 600 texts ROC AUC's own standard error is about 0.02: 0.01 lets int8 rounding move the
    # ranking a little (0.006 with onnxruntime 1.32) and still catches a broken quantisation.
    assert abs(roc_auc_score(y, p_int8) - roc_auc_score(y, p_torch)) <= 0.01


def test_unknown_engine_is_refused(trained_model: Path) -> None:
    with pytest.raises(ModelDataError, match="use one of"):
        load_scorer(trained_model, engine="tensorrt")
    assert "onnx" in ENGINES


def test_predict_refuses_unknown_output_suffix_before_loading(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "1", "text": "hi"}\n')
    missing_model = tmp_path / "no-model"  # never reached: the output check comes first
    result = CliRunner().invoke(
        app,
        [
            "predict",
            "--model-dir",
            str(missing_model),
            "--input",
            str(source),
            "--output",
            str(tmp_path / "o.xlsx"),
        ],
    )
    assert isinstance(result.exception, ModelDataError)  # main() prints it, exits 2
    assert ".xlsx" in str(result.exception) and ".parquet" in str(result.exception)
    assert not (tmp_path / "o.xlsx").exists()


def test_predict_checks_input_columns_before_loading(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,body\n1,hello\n")
    result = CliRunner().invoke(
        app,
        [
            "predict",
            "--model-dir",
            str(tmp_path / "no-model"),
            "--input",
            str(source),
            "--output",
            str(tmp_path / "o.csv"),
        ],
    )
    assert isinstance(result.exception, ModelDataError) and "lacks column" in str(result.exception)


def test_export_fuses_attention_for_bert(learned_scorer_dir: Path, tmp_path: Path) -> None:
    """ORT's optimiser fuses attention only from the eager pattern (an SDPA trace stays as
    separate MatMuls, which dynamic int8 then quantises activation by activation)."""
    import onnx

    from tweet_triage.model.export import export_onnx

    folder = tmp_path / "model"
    shutil.copytree(learned_scorer_dir, folder, ignore=shutil.ignore_patterns("onnx"))
    fp32, int8 = export_onnx(folder)
    ops = {node.op_type for node in onnx.load(str(fp32)).graph.node}
    assert {"Attention", "EmbedLayerNormalization", "SkipLayerNormalization"} <= ops
    assert "QAttention" in {node.op_type for node in onnx.load(str(int8)).graph.node}
