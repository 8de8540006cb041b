"""Training-serving parity: what the service computed for a transaction against what batch computed.

Used by the parity test (a replayed day) and by the `serving_parity` check of `serving_log` (every
served day that batch also scored). A value matches when both are null, or both are numbers within
`atol + rtol * |batch|`: the service computes the same definitions in plain Python and numpy (see
mlops_assets/serving/features.py), so a sum or a std may differ from polars' in the last bits, never more.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import polars as pl

from mlops_assets.domain import TRANSACTION_ID

ATOL: Final[float] = 1e-9
RTOL: Final[float] = 1e-9
# Scores: float32 model inputs, so the same features give the same score to float32 precision.
SCORE_TOLERANCE: Final[float] = 1e-6


def _mismatch(served: pl.Expr, batch: pl.Expr, atol: float, rtol: float) -> pl.Expr:
    both_null = served.is_null() & batch.is_null()
    close = (served - batch).abs() <= atol + rtol * batch.abs()
    return ~(both_null | close.fill_null(False))


def feature_parity(
    served: pl.DataFrame,
    batch: pl.DataFrame,
    features: Sequence[str],
    exact: Sequence[str],
    atol: float = ATOL,
    rtol: float = RTOL,
) -> pl.DataFrame:
    """One row per feature: rows compared, mismatches, max absolute error, whether it is claimed exact.

    Rows are paired by `transaction_id` (served transactions that batch did not score are left out);
    the last served record of a transaction counts (a retry scores it again).
    """
    paired = served.unique(TRANSACTION_ID, keep="last").join(
        batch.select(TRANSACTION_ID, *features), on=TRANSACTION_ID, suffix="_batch"
    )
    rows = []
    for name in features:
        a, b = pl.col(name), pl.col(f"{name}_batch")
        stats = paired.select(
            _mismatch(a, b, atol, rtol).sum().alias("mismatches"),
            (a - b).abs().max().alias("max_abs_error"),
            (a.is_null() != b.is_null()).sum().alias("null_mismatches"),
        ).row(0, named=True)
        rows.append({"feature": name, "claimed_exact": name in set(exact), "rows": paired.height, **stats})
    return pl.DataFrame(
        rows,
        schema={
            "feature": pl.String,
            "claimed_exact": pl.Boolean,
            "rows": pl.Int64,
            "mismatches": pl.Int64,
            "max_abs_error": pl.Float64,
            "null_mismatches": pl.Int64,
        },
    )


def score_parity(
    served: pl.DataFrame, batch: pl.DataFrame, served_score: str, batch_score: str
) -> dict[str, float | int]:
    """Rows paired, scores differing by more than `SCORE_TOLERANCE`, and the largest difference."""
    paired = served.unique(TRANSACTION_ID, keep="last").join(
        batch.select(TRANSACTION_ID, pl.col(batch_score).alias("_batch_score")), on=TRANSACTION_ID
    )
    diff = (pl.col(served_score) - pl.col("_batch_score")).abs()
    row = paired.select((diff > SCORE_TOLERANCE).sum().alias("mismatches"), diff.max().alias("max_abs_error"))
    mismatches, max_error = row.row(0)
    return {
        "rows": paired.height,
        "mismatches": int(mismatches or 0),
        "max_abs_error": float(max_error or 0.0),
    }
