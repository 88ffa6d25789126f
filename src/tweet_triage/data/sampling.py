"""One seeded order for every sample, in pandas and in Spark.

The rule: rows sorted by the SHA-256 hex digest of `"<seed>:<id>"` (the id as text), then by
id. It depends on the ids and the seed alone, so the same seed gives the same sample from the
same tweets whether pandas (active labelling) or Spark (`export-for-labelling`) draws it.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pyspark.sql import Column


def seeded_order(ids: pd.Series, seed: int) -> np.ndarray:
    """Positions of `ids` in the seeded order (for `frame.iloc[...]`)."""
    keys = pd.DataFrame(
        {
            "key": [hashlib.sha256(f"{seed}:{i}".encode()).hexdigest() for i in ids],
            "id": ids.astype(str).to_numpy(),
        }
    )
    return keys.sort_values(["key", "id"], kind="stable").index.to_numpy()


def seeded_order_columns(seed: int, id_column: str = "id") -> list[Column]:
    """The seeded order as Spark sort columns: `frame.orderBy(*seeded_order_columns(seed))`."""
    from pyspark.sql import functions as F

    text = F.col(id_column).cast("string")
    return [F.sha2(F.concat(F.lit(f"{seed}:"), text), 256), text]
