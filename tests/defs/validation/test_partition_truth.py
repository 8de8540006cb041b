"""A single-run backfill tells the truth per day: read back from the instance's event log, not the result."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import polars as pl
import pytest
from partition_truth import range_tags, ranged_run, stored_check_results, stored_metadata
from shared_fixtures import land_days

from mlops_assets.defs.ingestion.assets import raw_transactions
from mlops_assets.defs.validation.assets import validated_and_quarantined_transactions
from mlops_assets.lakehouse import partition_path

ASSETS = [raw_transactions, validated_and_quarantined_transactions]
START = date(2026, 1, 1)


def _land_growing_days(settings) -> list[date]:
    days = [START + timedelta(days=i) for i in range(3)]
    for day, rows in zip(days, (100, 200, 300), strict=True):
        land_days(settings, day, 1, rows_per_day=rows)
    return days


def test_ranged_run_stores_each_days_own_row_count_bytes_and_path(settings, resources, instance) -> None:
    days = _land_growing_days(settings)
    result = dg.materialize(
        ASSETS, resources=resources, instance=instance, tags=range_tags(days[0], days[-1])
    )
    assert result.success and len(instance.get_runs()) == 1
    lake = settings.lakehouse_dir
    for day, rows in zip(days, (100, 200, 300), strict=True):
        raw = stored_metadata(instance, "raw_transactions", day)
        assert raw["dagster/row_count"] == rows
        assert raw["bytes"] == partition_path(lake, "raw_transactions", day).stat().st_size
        assert raw["path"] == str(partition_path(lake, "raw_transactions", day))
        assert len(raw["source_sha256"]) == 1  # type: ignore[arg-type]
        assert stored_metadata(instance, "validated_transactions", day)["dagster/row_count"] == rows
        assert stored_metadata(instance, "quarantined_transactions", day)["dagster/row_count"] == 0
    sizes = {stored_metadata(instance, "raw_transactions", d)["bytes"] for d in days}
    assert len(sizes) == 3  # each day its own file size, not the run's total


def test_ranged_run_with_one_bad_day_stores_one_check_result_per_day(settings, resources, instance) -> None:
    days = _land_growing_days(settings)
    bad = days[1]
    # Break a third of the middle day's amounts: its pass rate falls below the schema threshold.
    path = next((settings.landing_dir / bad.isoformat()).glob("*.parquet"))
    frame = pl.read_parquet(path)
    frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 3 == 0)
        .then(-1.0)
        .otherwise(pl.col("amount_eur"))
        .alias("amount_eur")
    ).write_parquet(path)

    result = ranged_run(ASSETS, resources, instance, days[0], days[-1])
    # schema_pass_rate is blocking: the failed day fails the step, after every day's result is stored.
    assert not result.success
    assert stored_check_results(instance, "validated_transactions", "schema_pass_rate") == {
        days[0].isoformat(): True,
        bad.isoformat(): False,
        days[2].isoformat(): True,
    }
    assert stored_check_results(instance, "validated_transactions", "null_rates") == {
        d.isoformat(): True for d in days
    }
    assert stored_metadata(instance, "validated_transactions", bad)["pass_rate"] == pytest.approx(
        (200 - 67) / 200, abs=1e-4
    )


def test_ranged_run_puts_its_summary_on_the_last_day_only(settings, resources, instance) -> None:
    days = _land_growing_days(settings)
    assert dg.materialize(
        ASSETS, resources=resources, instance=instance, tags=range_tags(days[0], days[-1])
    ).success
    run_wide = {"dagster/column_schema", "partitions_in_run", "preview"}
    for asset in ("raw_transactions", "validated_transactions", "quarantined_transactions"):
        last = stored_metadata(instance, asset, days[-1])
        assert last["partitions_in_run"] == 3
        assert last["dagster/row_count"] == (0 if asset == "quarantined_transactions" else 300)  # its own
        for day in days[:-1]:  # the earlier days carry their own values, not copies of the run's summary
            assert not run_wide & set(stored_metadata(instance, asset, day)), (asset, day)
        latest = instance.get_latest_materialization_event(dg.AssetKey(asset))
        assert latest is not None and latest.dagster_event is not None
        assert latest.dagster_event.partition == days[-1].isoformat()  # what the asset page shows
    assert stored_metadata(instance, "raw_transactions", days[-1])["rows_in_run"] == 600
    per_day_table = str(stored_metadata(instance, "validated_transactions", days[-1])["per_partition"])
    assert all(
        f"| {day.isoformat()} | {rows} | {rows} | 0 |" in per_day_table
        for day, rows in zip(days, (100, 200, 300), strict=True)
    )
