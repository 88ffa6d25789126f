"""File and column names of the model stage, defined once.

Every module of the stage (training, evaluation, report, inference, trends) reads and writes
these; keeping them here, with no imports, is what lets those modules depend on each other
one way only.
"""

from __future__ import annotations

# Columns of the data stage's labelled splits the model stage needs (others are carried).
NEEDS_SUPPORT = "needs_support"
# The three-class head's training label for "needs support, sentiment unknown" (an inbox
# decision): its loss is on P(negative) + P(neutral) (trainer.three_class_loss).
NEEDS_SUPPORT_ONLY = 3
SPLIT_COLUMNS = ("id", "model_text", NEEDS_SUPPORT)
# Columns `predict` needs from a user's input.
INPUT_COLUMNS = ("id", "text")

# Columns `predict` and `evaluate` add: P(needs support), the 0/1 decision at the saved
# threshold, and a label already in the input kept next to the prediction.
P_COLUMN = "p_needs_support"
PRED_COLUMN = "needs_support"
TRUE_COLUMN = "true_needs_support"

# The model folder.
META_FILE = "triage.json"
ONNX_DIR = "onnx"
ONNX_FP32_FILE = "model.onnx"
ONNX_INT8_FILE = "model-int8.onnx"

# The evaluation's files in the reports folder.
EVALUATION_FILE = "evaluation.json"
PREDICTIONS_FILE = "evaluation_predictions.parquet"
REPORT_FILE = "evaluation.md"
