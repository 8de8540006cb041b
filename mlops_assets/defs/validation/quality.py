"""Data-quality measures behind the validation asset checks: pure functions over counts and frames."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import polars as pl

from mlops_assets.domain import TRANSACTION_COLUMNS
from mlops_assets.frames import stack_labelled

MIN_PASS_RATE = 0.95
VOLUME_RATIO_BOUNDS = (0.5, 2.0)
TRAILING_DAYS = 7
MAX_NULL_RATE = 0.01
# While a ranged run's days are measured together: each row's day, and a day's row count.
_DAY, _ROWS = "_day", "_rows"


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
    return null_rates_by_day({date.min: raw})[date.min]


def null_rates_by_day(raw_by_day: Mapping[date, pl.DataFrame]) -> dict[date, dict[str, float]]:
    """`null_rates` of each day's raw rows, in one pass over a ranged run's days rather than one each.

    A day without rows has no nulls (its volume check judges it).
    """
    if not raw_by_day:
        return {}
    rows = stack_labelled(list(raw_by_day.values()), pl.Series(_DAY, list(raw_by_day), pl.Date))
    counts = rows.group_by(_DAY).agg(
        pl.len().alias(_ROWS), *(pl.col(c).null_count() for c in TRANSACTION_COLUMNS)
    )
    found = {row[_DAY]: row for row in counts.iter_rows(named=True)}
    return {
        day: {c: found[day][c] / found[day][_ROWS] for c in TRANSACTION_COLUMNS}
        if day in found
        else dict.fromkeys(TRANSACTION_COLUMNS, 0.0)
        for day in raw_by_day
    }


def failure_summary(failures: pl.DataFrame) -> pl.DataFrame:
    """Failed rows per (column, rule), most frequent first: what the UI shows under the check."""
    return failure_summaries({date.min: failures})[date.min]


def failure_summaries(failures_by_day: Mapping[date, pl.DataFrame]) -> dict[date, pl.DataFrame]:
    """`failure_summary` of each day, in one pass over a ranged run's days rather than one each."""
    if not failures_by_day:
        return {}
    failures = stack_labelled(list(failures_by_day.values()), pl.Series(_DAY, list(failures_by_day), pl.Date))
    summary = (
        failures.group_by(_DAY, "column", "check")
        .agg(pl.len().alias("rows"))
        # Ties in the count are ordered by column, then rule, so a day reads the same in every run.
        .sort("rows", "column", "check", descending=[True, False, False])
    )
    by_day = summary.partition_by(_DAY, as_dict=True, include_key=False, maintain_order=True)
    empty = summary.drop(_DAY).clear()
    return {day: by_day.get((day,), empty) for day in failures_by_day}
