"""The registered MLflow model: a pyfunc that takes a DataFrame with `text`, returns scores.

`mlflow.pyfunc.load_model("models:/tweet-triage-needs-support/<version>")` then scores tweets
with the same normalisation, threshold and P(needs support) as `tweet-triage predict`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd


class NeedsSupportPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        from tweet_triage.model.inference import NeedsSupportModel

        self.model = NeedsSupportModel.load(Path(context.artifacts["model_dir"]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        texts = model_input["text"] if "text" in model_input else model_input.iloc[:, 0]
        p = self.model.predict_proba(texts.tolist())
        return pd.DataFrame(
            {"p_needs_support": p, "needs_support": (p >= self.model.threshold).astype(int)}
        )
