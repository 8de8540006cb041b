"""Split a day's raw rows into valid and quarantined ones, keeping every rejected row with its reason.

Invariant (property-tested): valid + quarantined == raw, row for row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import polars as pl

from mlops_assets.defs.validation.schema import PARTITION_DATE, transaction_schema
from mlops_assets.domain import PARSE_ERROR_COLUMN
from mlops_assets.frames import stack_labelled

ROW = "_row"


class SchemaContractError(ValueError):
    """A failure that concerns the table as a whole (e.g. a wrong column type), not single rows."""


@dataclass(frozen=True)
class ValidationResult:
    """The outcome of validating one partition."""

    valid: pl.DataFrame
    quarantined: pl.DataFrame
    failures: pl.DataFrame  # one row per (row, column, check) that failed

    @property
    def pass_rate(self) -> float:
        """Share of rows that passed; an empty day passes trivially."""
        total = self.valid.height + self.quarantined.height
        return 1.0 if total == 0 else self.valid.height / total


def _row_failures(frame: pl.DataFrame) -> pl.DataFrame:
    """Failed (row, column, check) triples from pandera, plus the ingestion parse errors."""
    from pandera.errors import SchemaErrors  # lazy: see `transaction_schema`

    try:
        transaction_schema().validate(frame, lazy=True)
        cases = pl.DataFrame(
            schema={ROW: pl.UInt32, "column": pl.String, "check": pl.String, "failure_case": pl.String}
        )
    except SchemaErrors as exc:
        raw_cases = exc.failure_cases
        table_level = raw_cases.filter(pl.col("index").is_null())
        if table_level.height:
            first = table_level.row(0, named=True)
            raise SchemaContractError(
                f"{_partitions_named(frame)}: column {first['column']}: rule {first['check']} failed "
                f"for the whole table ({first['failure_case']})"
            ) from exc
        cases = raw_cases.select(
            pl.col("index").cast(pl.UInt32).alias(ROW),
            pl.col("column"),
            pl.col("check"),
            pl.col("failure_case").cast(pl.String).fill_null("value is null"),
        )
    parse_errors = frame.filter(pl.col(PARSE_ERROR_COLUMN).is_not_null()).select(
        pl.col(ROW),
        pl.col(PARSE_ERROR_COLUMN).str.extract(r"^column (\w+)").alias("column"),
        pl.lit("parse_type").alias("check"),
        pl.col(PARSE_ERROR_COLUMN).str.replace(r"^column \w+: ", "").alias("failure_case"),
    )
    return pl.concat([parse_errors, cases], how="vertical")


def _partitions_named(frame: pl.DataFrame) -> str:
    days = frame[PARTITION_DATE].unique().sort()
    if days.len() == 1:
        return f"partition {days[0].isoformat()}"
    return f"partitions {days.min().isoformat()}..{days.max().isoformat()}"  # type: ignore[union-attr]


def split_partitions(raw: dict[date, pl.DataFrame]) -> dict[date, ValidationResult]:
    """Validate many days' raw rows (ingestion's output per day) in one pass and split each day.

    One pandera pass over the whole range instead of one per day: the day-dependent rules read
    `partition_date`, so each day's result equals `split_transactions` of that day alone.
    """
    days = list(raw)
    frame = stack_labelled(list(raw.values()), pl.Series(PARTITION_DATE, days, pl.Date)).with_row_index(ROW)
    failures = _row_failures(frame)
    reasons = failures.group_by(ROW, maintain_order=True).agg(
        pl.col("column").unique(maintain_order=True).str.join(",").alias("failed_columns"),
        pl.col("check").unique(maintain_order=True).str.join(",").alias("failed_checks"),
        pl.format("column {}: rule {} failed ({})", "column", "check", "failure_case")
        .str.join("; ")
        .alias("quarantine_reason"),
    )
    joined = frame.join(reasons, on=ROW, how="left", maintain_order="left")
    is_bad = pl.col("quarantine_reason").is_not_null()
    valid = joined.filter(~is_bad).drop(
        ROW, "failed_columns", "failed_checks", "quarantine_reason", PARSE_ERROR_COLUMN
    )
    quarantined = (
        joined.filter(is_bad)
        .drop(ROW)
        .with_columns(
            pl.format(
                "partition {}: file {}: row {}: {}",
                pl.col(PARTITION_DATE).cast(pl.String),
                "source_file",
                "source_row",
                "quarantine_reason",
            ).alias("quarantine_reason"),
        )
    )
    # Each failure's row numbered within its own day, as validating that day alone numbers it.
    day_rows = frame.select(
        ROW, PARTITION_DATE, pl.int_range(pl.len(), dtype=pl.UInt32).over(PARTITION_DATE).alias("_day_row")
    )
    failures = failures.join(day_rows, on=ROW, how="left", maintain_order="left").select(
        pl.col("_day_row").alias(ROW), pl.exclude(ROW, "_day_row")
    )
    # The quarantine keeps `partition_date` (at its end, as before); the valid rows do not need it.
    quarantined = quarantined.select(pl.exclude(PARTITION_DATE), PARTITION_DATE)
    valid_by_day, quarantined_by_day, failures_by_day = (
        _by_day(valid.drop(PARTITION_DATE), valid[PARTITION_DATE]),
        _by_day(quarantined, quarantined[PARTITION_DATE]),
        _by_day(failures.drop(PARTITION_DATE), failures[PARTITION_DATE]),
    )
    return {
        day: ValidationResult(
            valid=valid_by_day(day), quarantined=quarantined_by_day(day), failures=failures_by_day(day)
        )
        for day in days
    }


def _by_day(frame: pl.DataFrame, days: pl.Series) -> Callable[[date], pl.DataFrame]:
    """`frame`'s rows of one day (`days` holds each row's day), empty with the schema for a day without."""
    groups = frame.with_columns(days.alias("_day")).partition_by("_day", as_dict=True, include_key=False)
    return lambda day: groups.get((day,), frame.clear())


def split_transactions(raw: pl.DataFrame, day: date) -> ValidationResult:
    """Validate `raw` (one day, ingestion's output) against the schema and split it."""
    return split_partitions({day: raw})[day]
