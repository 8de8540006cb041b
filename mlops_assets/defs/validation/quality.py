"""Data-quality measures behind the validation asset checks: pure functions over counts and frames."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import polars as pl

from mlops_assets.domain import TRANSACTION_COLUMNS

MIN_PASS_RATE = 0.95
VOLUME_RATIO_BOUNDS = (0.5, 2.0)
TRAILING_DAYS = 7
MAX_NULL_RATE = 0.01


@dataclass(frozen=True)
class VolumeVerdict:
    """How a day's row count compares with the median of its trailing days."""

    rows: int
    trailing_median: float | None
    ratio: float | None

    @property
    def passed(self) -> bool:
        """No history passes (nothing to compare with); otherwise the ratio must be in bounds."""
        if self.ratio is None:
            return True
        low, high = VOLUME_RATIO_BOUNDS
        return low <= self.ratio <= high


def volume_verdict(rows: int, trailing_rows: list[int]) -> VolumeVerdict:
    """Compare `rows` with the median of the trailing partitions' row counts."""
    if not trailing_rows:
        return VolumeVerdict(rows=rows, trailing_median=None, ratio=None)
    median = float(statistics.median(trailing_rows))
    ratio = rows / median if median > 0 else float("inf")
    return VolumeVerdict(rows=rows, trailing_median=median, ratio=ratio)


def null_rates(raw: pl.DataFrame) -> dict[str, float]:
    """Share of nulls per contract column in the raw rows (all fields are required)."""
    if raw.height == 0:
        return dict.fromkeys(TRANSACTION_COLUMNS, 0.0)
    counts = raw.select(pl.col(c).null_count() for c in TRANSACTION_COLUMNS).row(0)
    return {c: n / raw.height for c, n in zip(TRANSACTION_COLUMNS, counts, strict=True)}


def failure_summary(failures: pl.DataFrame) -> pl.DataFrame:
    """Failed rows per (column, rule), most frequent first: what the UI shows under the check."""
    return (
        failures.group_by("column", "check")
        .agg(pl.len().alias("rows"))
        .sort("rows", "column", descending=[True, False])
    )
