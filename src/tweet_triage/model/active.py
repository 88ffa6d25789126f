"""Active labelling: ask people about the tweets the model is least sure of.

Strategies (the same for the CSV export and the inbox's label page):
- `uncertain`: unlabelled tweets closest to the decision threshold first, taken only from
  outside the evaluation pool (`model.evaluation_pool`), so they are all trained on;
- `random`: unlabelled tweets in a seeded random order, whatever their score;
- `mixed`: a `random_share` of the picks drawn at random from the evaluation pool (kept apart:
  never trained on, so the comparison of champion and challenger stays unbiased), the rest
  uncertain.
Every pick carries `pool`: "evaluation" (held out) or "training". The inbox's label page
draws from the triage store by the same rule (`live.active`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from tweet_triage.atomic_files import atomic_path
from tweet_triage.data.sampling import seeded_order
from tweet_triage.errors import TriageError
from tweet_triage.model.evaluation_pool import DEFAULT_EVAL_SHARE, in_evaluation_pool

if TYPE_CHECKING:
    from tweet_triage.config import Settings

Strategy = Literal["uncertain", "random", "mixed"]
STRATEGIES: tuple[str, ...] = ("uncertain", "random", "mixed")
DEFAULT_RANDOM_SHARE = 0.2
EVALUATION, TRAINING = "evaluation", "training"
EXPORT_COLUMNS = ("id", "created_at", "text", "sentiment", "pool", "p_needs_support")


class ActiveLabellingError(TriageError):
    """Active labelling cannot run as asked; the message says why and the fix."""


def select_for_labelling(
    candidates: pd.DataFrame,
    *,
    threshold: float,
    size: int,
    strategy: str = "mixed",
    random_share: float = DEFAULT_RANDOM_SHARE,
    seed: int = 42,
    eval_share: float = DEFAULT_EVAL_SHARE,
) -> pd.DataFrame:
    """`size` rows of `candidates` (id, p_needs_support, ...) in the order to label them."""
    if strategy not in STRATEGIES:
        raise ActiveLabellingError(
            f"strategy {strategy!r} is not one of {', '.join(STRATEGIES)}; pick one"
        )
    if not 0.0 <= random_share <= 1.0:
        raise ActiveLabellingError(f"random share {random_share} must lie between 0 and 1")
    frame = candidates.reset_index(drop=True).copy()
    frame["id"] = frame["id"].astype(str)
    held_out = frame["id"].map(lambda i: in_evaluation_pool(i, eval_share))
    frame["pool"] = np.where(held_out, EVALUATION, TRAINING)
    shuffled = frame.iloc[seeded_order(frame["id"], seed)]
    if strategy == "random":
        return shuffled.head(size).reset_index(drop=True)
    distance = (frame["p_needs_support"] - threshold).abs()
    uncertain = frame.loc[~held_out].assign(_d=distance).sort_values(["_d", "id"], kind="stable")
    uncertain = uncertain.drop(columns="_d")
    if strategy == "uncertain":
        return uncertain.head(size).reset_index(drop=True)
    n_random = min(math.floor(size * random_share + 0.5), int(held_out.sum()))
    picks = [shuffled[shuffled["pool"] == EVALUATION].head(n_random)]
    picks.append(uncertain.head(size - n_random))
    mixed = pd.concat(picks)
    # Interleave by a seeded order so an annotator cannot tell which kind a tweet is.
    return mixed.iloc[seeded_order(mixed["id"], seed + 1)].reset_index(drop=True)


def export_for_labelling(
    settings: Settings,
    *,
    strategy: str,
    size: int,
    seed: int,
    random_share: float,
    candidates: int,
    output: Path | None,
    model: str | None = None,
) -> dict[str, Any]:
    """Score up to `candidates` unlabelled tweets of the data stage and write the picks."""
    from tweet_triage.data.paths import DataPaths
    from tweet_triage.model.data import read_table
    from tweet_triage.model.inference import load_scorer
    from tweet_triage.model.registry import resolve_model

    paths = DataPaths.from_settings(settings)
    if not paths.labelled.exists():
        raise ActiveLabellingError(
            f"{paths.labelled} not found: run `tweet-triage label` (or `make data`) first"
        )
    table = read_table(paths.labelled)
    unlabelled = table.loc[~table["labelled"].astype(bool), ["id", "created_at", "text"]]
    if unlabelled.empty:
        raise ActiveLabellingError(f"{paths.labelled}: every tweet is labelled already")
    unlabelled = unlabelled.iloc[seeded_order(unlabelled["id"].astype(str), seed)[:candidates]]
    resolved = resolve_model(settings, model)
    scorer = load_scorer(resolved.folder)
    scored = unlabelled.assign(p_needs_support=scorer.score(unlabelled["text"].tolist()))
    scored = scored.dropna(subset=["p_needs_support"])
    picks = select_for_labelling(
        scored,
        threshold=float(scorer.threshold),
        size=size,
        strategy=strategy,
        random_share=random_share,
        seed=seed,
    )
    picks["created_at"] = pd.to_datetime(picks["created_at"], utc=True).dt.strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    picks["sentiment"] = ""
    picks["p_needs_support"] = picks["p_needs_support"].round(4)
    target = output or paths.for_labelling / f"to-label-{strategy}-seed{seed}.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as partial:
        picks.to_csv(partial, index=False, columns=list(EXPORT_COLUMNS))
    return {
        "output": str(target),
        "strategy": strategy,
        "rows": len(picks),
        "evaluation_pool_rows": int((picks["pool"] == EVALUATION).sum()),
        "candidates_scored": len(scored),
        "threshold": float(scorer.threshold),
        "model_version": resolved.version,
    }
