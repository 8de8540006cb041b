"""What the scoring service promises the platform: its prediction log's schema, and which features are exact.

Shared by the service (`mlops_assets/serving`, which writes the log and computes the features) and the
assets that judge it (`serving_log`, `shadow_comparison`), so the two can never disagree about a column
or about which features the parity check holds to batch. Lives in the stage, below the service process.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Final

import polars as pl

from mlops_assets.domain import IS_FRAUD, LABEL_AVAILABLE_AT, TRANSACTION_COLUMNS, TRANSACTION_DTYPES
from mlops_assets.feature_catalog import MODEL_FEATURES
from mlops_assets.resources import PredictionLogResource

# The merchant label features come from the Feast online store (as of the merchant's last materialized
# transaction): labels are not part of the request stream. Every other model feature is computed at
# request time with the offline definitions and is exact (see mlops_assets/serving/features.py).
LABEL_COUNT: Final = "merch_labeled_count_30d"
ONLINE_STATE_FEATURES: Final[tuple[str, ...]] = (LABEL_COUNT, "merch_fraud_rate_30d")
EXACT_FEATURES: Final[tuple[str, ...]] = tuple(f for f in MODEL_FEATURES if f not in ONLINE_STATE_FEATURES)

REQUEST_COLUMNS: Final[tuple[str, ...]] = tuple(
    c for c in TRANSACTION_COLUMNS if c not in (IS_FRAUD, LABEL_AVAILABLE_AT)
)
CHAMPION_SCORE: Final = "champion_score"
CHALLENGER_SCORE: Final = "challenger_score"
CHAMPION_FLAG: Final = "champion_flagged"
CHALLENGER_FLAG: Final = "challenger_flagged"
LOG_SCHEMA: Final[dict[str, pl.DataType]] = {
    "request_id": pl.String(),
    "served_at": pl.Datetime("us", "UTC"),
    **{c: TRANSACTION_DTYPES[c] for c in REQUEST_COLUMNS},
    **dict.fromkeys(MODEL_FEATURES, pl.Float64()),
    "cold_start": pl.String(),
    "champion_model": pl.String(),
    "champion_version": pl.String(),
    "champion_threshold": pl.Float64(),
    CHAMPION_SCORE: pl.Float64(),
    CHAMPION_FLAG: pl.Boolean(),
    "challenger_model": pl.String(),
    "challenger_version": pl.String(),
    "challenger_threshold": pl.Float64(),
    CHALLENGER_SCORE: pl.Float64(),
    CHALLENGER_FLAG: pl.Boolean(),
    "shadow_error": pl.String(),
    "latency_ms": pl.Float64(),
}


def read_log_files(files: Sequence[Path]) -> pl.DataFrame:
    """Every record in the batch files, in the log schema; empty when there are none."""
    if not files:
        return pl.DataFrame(schema=LOG_SCHEMA)
    return pl.concat([pl.read_parquet(f) for f in files], how="vertical")


def read_log_day(root: Path, day: date) -> pl.DataFrame:
    """Every record of `day` under the log folder `root`."""
    return read_log_files(PredictionLogResource(root=str(root)).day_files(day))
