"""The registered MLflow model: a pyfunc that takes a DataFrame with `text`, returns scores.

`mlflow.pyfunc.load_model("models:/tweet-triage-needs-support/<version>")` then scores tweets
with the same normalisation, threshold and P(needs support) as `tweet-triage predict`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

from tweet_triage.model.names import P_COLUMN, PRED_COLUMN


class NeedsSupportPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        from tweet_triage.model.inference import load_scorer

        self.scorer = load_scorer(Path(context.artifacts["model_dir"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        texts = model_input["text"] if "text" in model_input else model_input.iloc[:, 0]
        p = self.scorer.predict_proba(texts.tolist())
        return pd.DataFrame({P_COLUMN: p, PRED_COLUMN: (p >= self.scorer.threshold).astype(int)})
