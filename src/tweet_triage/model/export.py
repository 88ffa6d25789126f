"""ONNX export of a saved model folder: fp32 (graph fused for encoders) and dynamic int8.

CPU scoring through ONNX Runtime with int8 weights is faster than torch fp32 for a small
encoder like MiniLM, by as much as the CPU's integer kernels allow (benchmarks/bench_model.py
measures both side by side; docs/model.md has the figures); the quality guard is a test that
ROC AUC moves by less than 0.005. Both files go to `<model folder>/onnx/` and take the same
token inputs the tokenizer of the folder produces.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tweet_triage.errors import TriageError
from tweet_triage.model.names import ONNX_DIR, ONNX_FP32_FILE, ONNX_INT8_FILE

log = logging.getLogger(__name__)

OPSET = 17
# Encoders the ONNX Runtime transformer optimiser knows how to fuse (attention, layer norm,
# GELU); other architectures are exported unfused, which is correct, only slower.
FUSABLE = {"bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "distilbert": "bert"}


class OnnxExportError(TriageError):
    """The model cannot be exported or ONNX Runtime is missing."""


def onnx_paths(folder: Path) -> tuple[Path, Path]:
    """(fp32, int8) file paths of a model folder's export."""
    target = Path(folder) / ONNX_DIR
    return target / ONNX_FP32_FILE, target / ONNX_INT8_FILE


def require_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise OnnxExportError(
            "ONNX scoring needs onnxruntime and onnx: install the model extra "
            "(pip install -e '.[model]') or use --engine torch"
        ) from exc
    return onnxruntime


def _export_graph(model: Any, input_names: list[str], sample: dict[str, Any], path: Path) -> None:
    """Trace the classifier to ONNX with batch and sequence length as dynamic axes."""
    import torch

    class Logits(torch.nn.Module):
        """Positional token tensors in the tokenizer's order -> logits (what ONNX needs)."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(input_names, tensors, strict=True))).logits

    axes = {name: {0: "batch", 1: "sequence"} for name in input_names}
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(
            Logits().eval(),
            tuple(sample[name] for name in input_names),
            str(path),
            input_names=input_names,
            output_names=["logits"],
            dynamic_axes={**axes, "logits": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )


def _fuse(raw: Path, path: Path, config: Any) -> None:
    """Fuse attention/normalisation subgraphs for known encoders; copy the graph otherwise."""
    fusable = FUSABLE.get(getattr(config, "model_type", ""))
    if fusable is None:
        raw.replace(path)
        return
    from onnxruntime.transformers.optimizer import optimize_model

    optimised = optimize_model(
        str(raw),
        model_type=fusable,
        num_heads=getattr(config, "num_attention_heads", 0),
        hidden_size=getattr(config, "hidden_size", 0),
        opt_level=1,
    )
    optimised.save_model_to_file(str(path))
    raw.unlink()


def export_onnx(folder: Path, model: Any = None, tokenizer: Any = None) -> tuple[Path, Path]:
    """Write onnx/model.onnx (fp32) and onnx/model-int8.onnx (dynamic int8) into `folder`.

    `model` and `tokenizer` default to the ones saved in the folder (pass them when they are
    already loaded, e.g. right after training).
    """
    require_onnxruntime()
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = Path(folder)
    fp32, int8 = onnx_paths(folder)
    fp32.parent.mkdir(parents=True, exist_ok=True)
    try:
        tokenizer = tokenizer or AutoTokenizer.from_pretrained(folder)
        model = model or AutoModelForSequenceClassification.from_pretrained(folder)
    except (OSError, ValueError) as exc:
        raise OnnxExportError(f"{folder}: cannot load the model to export it ({exc})") from exc
    model = model.to("cpu").eval()
    sample = tokenizer(["a sample tweet to trace", "another"], padding=True, return_tensors="pt")
    input_names = [name for name in tokenizer.model_input_names if name in sample]
    raw = fp32.with_suffix(".raw.onnx")
    # The optimiser fuses attention from the eager pattern only: an SDPA trace stays a chain
    # of MatMuls whose activation-by-activation products int8 then quantises too (scores
    # moved more, same speed). Eager and SDPA compute the same function.
    attention = getattr(model.config, "_attn_implementation", None)
    model.set_attn_implementation("eager")
    try:
        _export_graph(model, input_names, dict(sample), raw)
    finally:
        if attention:
            model.set_attn_implementation(attention)
    _fuse(raw, fp32, model.config)
    # ONNX Runtime's advice for x86 without VNNI (AVX2): 7-bit weights (reduce_range), as the
    # u8 x s8 kernel's 16-bit pair sums can saturate with 8-bit ones; per channel. Only the
    # matrix products (the time) are quantised: embeddings stay fp32 (lookups cost nothing).
    # The fused graph holds contrib ops shape inference cannot type; their outputs are fp32.
    quantize_dynamic(
        str(fp32),
        str(int8),
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=True,
        op_types_to_quantize=["MatMul", "Attention"],
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    log.info("exported %s and %s", fp32, int8)
    return fp32, int8
