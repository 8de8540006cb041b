"""Split a day's raw rows into valid and quarantined ones, keeping every rejected row with its reason.

Invariant (property-tested): valid + quarantined == raw, row for row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from mlops_assets.defs.validation.schema import transaction_schema
from mlops_assets.domain import PARSE_ERROR_COLUMN, TRANSACTION_ID

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


def _row_failures(frame: pl.DataFrame, day: date) -> pl.DataFrame:
    """Failed (row, column, check) triples from pandera, plus the ingestion parse errors."""
    from pandera.errors import SchemaErrors  # lazy: see `transaction_schema`

    try:
        transaction_schema(day).validate(frame, lazy=True)
        cases = pl.DataFrame(
            schema={ROW: pl.UInt32, "column": pl.String, "check": pl.String, "failure_case": pl.String}
        )
    except SchemaErrors as exc:
        raw_cases = exc.failure_cases
        table_level = raw_cases.filter(pl.col("index").is_null())
        if table_level.height:
            first = table_level.row(0, named=True)
            raise SchemaContractError(
                f"partition {day.isoformat()}: column {first['column']}: rule {first['check']} failed "
                f"for the whole table ({first['failure_case']})"
            ) from exc
        cases = raw_cases.select(
            pl.col("index").cast(pl.UInt32).alias(ROW),
            pl.col("column"),
            pl.col("check"),
            pl.col("failure_case").cast(pl.String).fill_null("value is null"),
        )
    # pandera's `unique` flags every copy of a duplicated id; the first copy is the valid one,
    # only the later copies are rejected (they would double-count the payment downstream).
    first_copy = frame.select(pl.col(ROW), pl.col(TRANSACTION_ID).is_first_distinct().alias("_first"))
    cases = (
        cases.join(first_copy, on=ROW, how="left")
        .filter(~((pl.col("check") == "field_uniqueness") & pl.col("_first")))
        .drop("_first")
    )
    parse_errors = frame.filter(pl.col(PARSE_ERROR_COLUMN).is_not_null()).select(
        pl.col(ROW),
        pl.col(PARSE_ERROR_COLUMN).str.extract(r"^column (\w+)").alias("column"),
        pl.lit("parse_type").alias("check"),
        pl.col(PARSE_ERROR_COLUMN).str.replace(r"^column \w+: ", "").alias("failure_case"),
    )
    return pl.concat([parse_errors, cases], how="vertical")


def split_transactions(raw: pl.DataFrame, day: date) -> ValidationResult:
    """Validate `raw` (one day, ingestion's output) against the schema and split it."""
    frame = raw.with_row_index(ROW)
    failures = _row_failures(frame, day)
    reasons = failures.group_by(ROW, maintain_order=True).agg(
        pl.col("column").unique(maintain_order=True).str.join(",").alias("failed_columns"),
        pl.col("check").unique(maintain_order=True).str.join(",").alias("failed_checks"),
        pl.format("column {}: rule {} failed ({})", "column", "check", "failure_case")
        .str.join("; ")
        .alias("quarantine_reason"),
    )
    joined = frame.join(reasons, on=ROW, how="left")
    is_bad = pl.col("quarantine_reason").is_not_null()
    valid = joined.filter(~is_bad).drop(
        ROW, "failed_columns", "failed_checks", "quarantine_reason", PARSE_ERROR_COLUMN
    )
    quarantined = (
        joined.filter(is_bad)
        .drop(ROW)
        .with_columns(
            pl.lit(day).alias("partition_date"),
            pl.format(
                "partition {}: file {}: row {}: {}",
                pl.lit(day.isoformat()),
                "source_file",
                "source_row",
                "quarantine_reason",
            ).alias("quarantine_reason"),
        )
    )
    return ValidationResult(valid=valid, quarantined=quarantined, failures=failures)
