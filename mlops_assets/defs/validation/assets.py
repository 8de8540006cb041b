"""`validated_transactions` and `quarantined_transactions`, split by the pandera schema, with checks."""

from typing import Any

import dagster as dg
import polars as pl

from mlops_assets.defs.validation.quality import (
    MAX_NULL_RATE,
    MIN_PASS_RATE,
    TRAILING_DAYS,
    failure_summary,
    null_rates,
    volume_verdict,
)
from mlops_assets.defs.validation.split import split_transactions
from mlops_assets.domain import TRANSACTION_ID
from mlops_assets.metadata import markdown_table, preview, table_schema
from mlops_assets.partitions import daily_partitions, partition_days
from mlops_assets.resources import LakehouseResource
from mlops_assets.tables import QUARANTINED_TABLE, RAW_TABLE, VALIDATED_TABLE


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            VALIDATED_TABLE,
            deps=[RAW_TABLE],
            description="Rows that pass every rule of the pandera transaction schema; the input to features.",
            group_name="validation",
            kinds={"pandera", "polars", "parquet"},
        ),
        dg.AssetSpec(
            QUARANTINED_TABLE,
            deps=[RAW_TABLE],
            description="Every rejected row, unchanged, with failed columns, rules and a readable reason.",
            group_name="validation",
            kinds={"pandera", "polars", "parquet"},
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "schema_pass_rate",
            asset=VALIDATED_TABLE,
            description=f"At least {MIN_PASS_RATE:.0%} of raw rows pass the schema.",
        ),
        dg.AssetCheckSpec(
            "volume_vs_trailing_days",
            asset=VALIDATED_TABLE,
            description=f"Valid rows within 0.5x-2x the median of the {TRAILING_DAYS} days before.",
        ),
        dg.AssetCheckSpec(
            "null_rates",
            asset=VALIDATED_TABLE,
            description=f"Every required raw column has at most {MAX_NULL_RATE:.0%} nulls.",
        ),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def validated_and_quarantined_transactions(context: dg.AssetExecutionContext, lakehouse: LakehouseResource):
    """Validate each day's raw rows; valid + quarantined == raw, row for row."""
    days = partition_days(context)
    valid_frames, quarantined_frames, failure_frames = [], [], []
    per_day: list[dict[str, Any]] = []
    worst_nulls: dict[str, float] = {}
    for day in days:
        raw = lakehouse.read_partition(RAW_TABLE, day)
        result = split_transactions(raw, day)
        lakehouse.write_partition(VALIDATED_TABLE, day, result.valid)
        lakehouse.write_partition(QUARANTINED_TABLE, day, result.quarantined)
        valid_frames.append(result.valid)
        quarantined_frames.append(result.quarantined)
        failure_frames.append(result.failures)
        for column, rate in null_rates(raw).items():
            worst_nulls[column] = max(rate, worst_nulls.get(column, 0.0))
        per_day.append(
            {
                "day": day,
                "raw": raw.height,
                "valid": result.valid.height,
                "quarantined": result.quarantined.height,
                "pass_rate": round(result.pass_rate, 4),
            }
        )

    # Volume judged after writing, so each day of a single-run backfill sees the days before it.
    for row in per_day:
        trailing = lakehouse.trailing_row_counts(VALIDATED_TABLE, row["day"], TRAILING_DAYS)
        verdict = volume_verdict(int(row["valid"]), trailing)
        row["volume_ratio"] = None if verdict.ratio is None else round(verdict.ratio, 3)
        row["volume_ok"] = verdict.passed

    summary = pl.DataFrame(per_day)
    valid, quarantined = pl.concat(valid_frames), pl.concat(quarantined_frames)
    failures = failure_summary(pl.concat(failure_frames))
    min_pass_rate = float(summary["pass_rate"].min())  # type: ignore[arg-type]
    bad_volume_days = summary.filter(~pl.col("volume_ok"))["day"].cast(pl.String).to_list()
    high_nulls = {c: r for c, r in worst_nulls.items() if r > MAX_NULL_RATE}

    yield dg.MaterializeResult(
        asset_key=VALIDATED_TABLE,
        metadata={
            "dagster/row_count": valid.height,
            "dagster/column_schema": table_schema(valid),
            "per_partition": dg.MetadataValue.md(markdown_table(summary, max_rows=400)),
            "preview": preview(valid),
        },
    )
    yield dg.MaterializeResult(
        asset_key=QUARANTINED_TABLE,
        metadata={
            "dagster/row_count": quarantined.height,
            "failures_by_rule": dg.MetadataValue.md(markdown_table(failures, max_rows=50)),
            "preview": preview(quarantined.select("quarantine_reason", TRANSACTION_ID, "source_file")),
        },
    )
    yield dg.AssetCheckResult(
        check_name="schema_pass_rate",
        asset_key=VALIDATED_TABLE,
        passed=min_pass_rate >= MIN_PASS_RATE,
        metadata={
            "min_pass_rate": min_pass_rate,
            "threshold": MIN_PASS_RATE,
            "failures_by_rule": dg.MetadataValue.md(markdown_table(failures, max_rows=20)),
        },
    )
    yield dg.AssetCheckResult(
        check_name="volume_vs_trailing_days",
        asset_key=VALIDATED_TABLE,
        passed=not bad_volume_days,
        metadata={
            "days_out_of_bounds": bad_volume_days,
            "per_partition": dg.MetadataValue.md(
                markdown_table(summary.select("day", "valid", "volume_ratio", "volume_ok"), max_rows=400)
            ),
        },
    )
    yield dg.AssetCheckResult(
        check_name="null_rates",
        asset_key=VALIDATED_TABLE,
        passed=not high_nulls,
        metadata={
            "max_null_rate_by_column": {c: round(r, 5) for c, r in worst_nulls.items()},
            "columns_over_threshold": sorted(high_nulls),
        },
    )
