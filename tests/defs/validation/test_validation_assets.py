"""raw -> validated/quarantined as Dagster assets: metadata, checks, idempotent re-materialization."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import dagster as dg
import polars as pl
import pytest
from partition_truth import range_tags, ranged_run, stored_check_results, stored_metadata
from shared_fixtures import land_days

from mlops_assets.defs.features.assets import customer_features
from mlops_assets.defs.ingestion.assets import raw_transactions
from mlops_assets.defs.validation.assets import validated_and_quarantined_transactions
from mlops_assets.lakehouse import partition_dir, partition_path

ASSETS = [raw_transactions, validated_and_quarantined_transactions]
START = date(2026, 1, 1)


def _check(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetCheckEvaluation:
    return next(e for e in result.get_asset_check_evaluations() if e.check_name == name)


def test_one_partition_flows_through_with_metadata_and_passing_checks(settings, resources, instance) -> None:
    land_days(settings, START, 3, rows_per_day=150)
    result = dg.materialize(ASSETS, resources=resources, instance=instance, partition_key="2026-01-02")
    assert result.success
    mats = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    raw_meta = mats["raw_transactions"].materialization.metadata
    assert raw_meta["dagster/row_count"].value == 150
    assert raw_meta["partitions_in_run"].value == 1
    assert mats["validated_transactions"].materialization.metadata["dagster/row_count"].value == 150
    assert mats["quarantined_transactions"].materialization.metadata["dagster/row_count"].value == 0
    assert all(e.passed for e in result.get_asset_check_evaluations())
    lake = settings.lakehouse_dir
    assert pl.read_parquet(partition_path(lake, "validated_transactions", date(2026, 1, 2))).height == 150


def test_a_downstream_step_is_told_the_blocking_check_has_its_results(
    settings, resources, instance, caplog: pytest.LogCaptureFixture
) -> None:
    """Per-day results come as `AssetCheckEvaluation`s; the check's step output still reaches the plan."""
    land_days(settings, START, 2, rows_per_day=100)
    with caplog.at_level(logging.WARNING, logger="dagster"):
        result = dg.materialize(
            [*ASSETS, customer_features],
            resources=resources,
            instance=instance,
            tags=range_tags(START, START + timedelta(days=1)),
        )
    assert result.success
    assert "emitted no result" not in caplog.text
    assert {(e.check_name, e.partition) for e in result.get_asset_check_evaluations()} >= {
        ("schema_pass_rate", START.isoformat()),
        ("schema_pass_rate", (START + timedelta(days=1)).isoformat()),
    }


def test_rematerializing_replaces_the_partition_and_leaves_no_temp_files(
    settings, resources, instance
) -> None:
    land_days(settings, START, 1, rows_per_day=120)
    for _ in range(2):
        assert dg.materialize(
            ASSETS, resources=resources, instance=instance, partition_key="2026-01-01"
        ).success
    folder = partition_dir(settings.lakehouse_dir, "raw_transactions", date(2026, 1, 1))
    assert [p.name for p in folder.iterdir()] == ["part-0.parquet"]
    assert pl.read_parquet(folder / "part-0.parquet").height == 120


def test_single_run_backfill_flags_the_volume_drop_and_quarantines_bad_rows(
    settings, resources, instance
) -> None:
    land_days(
        settings,
        START,
        10,
        rows_per_day=200,
        drift_start=START + timedelta(days=9),
        drift_kinds=("volume_drop",),
    )
    # A user's own file with two bad rows lands beside the simulator's on the last day.
    day = START + timedelta(days=9)
    own = pl.read_parquet(next((settings.landing_dir / day.isoformat()).glob("*.parquet"))).head(2)
    own = own.with_columns(
        pl.col("transaction_id") + "-own",
        pl.Series("amount_eur", [-1.0, 5.0]),
        pl.Series("merchant_category", ["grocery", "casino"]),
    )
    own.write_csv(settings.landing_dir / day.isoformat() / "partner_upload.csv")

    result = dg.materialize(
        ASSETS, resources=resources, instance=instance, tags=range_tags(START, START + timedelta(days=9))
    )
    assert result.success
    assert len(instance.get_runs()) == 1
    volume = {
        e.partition: e.passed
        for e in result.get_asset_check_evaluations()
        if e.check_name == "volume_vs_trailing_days"
    }
    # The first day has no trailing days to compare with: no result (SKIPPED), never a pass.
    assert volume == {(START + timedelta(days=i)).isoformat(): i != 9 for i in range(1, 10)}
    quarantined = pl.read_parquet(partition_path(settings.lakehouse_dir, "quarantined_transactions", day))
    assert sorted(quarantined["failed_columns"].to_list()) == ["amount_eur", "merchant_category"]
    assert all(
        "file " + day.isoformat() + "/partner_upload.csv" in r for r in quarantined["quarantine_reason"]
    )
    raw = pl.read_parquet(partition_path(settings.lakehouse_dir, "raw_transactions", day))
    valid = pl.read_parquet(partition_path(settings.lakehouse_dir, "validated_transactions", day))
    assert valid.height + quarantined.height == raw.height


def test_missing_landing_day_fails_the_run_naming_the_partition(settings, resources, instance) -> None:
    land_days(settings, START, 1)
    result = dg.materialize(
        ASSETS, resources=resources, instance=instance, partition_key="2026-01-05", raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "partition 2026-01-05: no landing files" in failure.step_failure_data.error.cause.message


def test_a_bad_day_in_a_backfill_fails_the_run_before_any_day_is_written(
    settings, resources, instance
) -> None:
    land_days(settings, START, 2)  # 2026-01-01 and -02 land; -03 has no files
    result = dg.materialize(
        [raw_transactions],
        resources=resources,
        instance=instance,
        tags=range_tags(START, START + timedelta(days=2)),
        raise_on_error=False,
    )
    assert not result.success
    assert not (settings.lakehouse_dir / "raw_transactions").exists()


def test_duplicate_ids_across_two_files_of_a_day_keep_the_first_file_copy(
    settings, resources, instance
) -> None:
    day_dir = settings.landing_dir / "2026-01-01"
    land_days(settings, START, 1, rows_per_day=50)
    first = pl.read_parquet(next(day_dir.glob("*.parquet")))
    # A partner re-sends five payments in a second file (sorted after the first by name).
    first.head(5).write_csv(day_dir / "zz_resend.csv")
    result = dg.materialize(
        ASSETS, resources=resources, instance=instance, partition_key="2026-01-01", raise_on_error=False
    )
    # 50 of 55 rows pass (91% < 95%): the blocking schema check fails the day, after writing both tables.
    assert not result.success
    assert not _check(result, "schema_pass_rate").passed
    lake = settings.lakehouse_dir
    valid = pl.read_parquet(partition_path(lake, "validated_transactions", START))
    quarantined = pl.read_parquet(partition_path(lake, "quarantined_transactions", START))
    assert valid.height == 50 and valid["transaction_id"].is_unique().all()
    assert set(valid["source_file"]) == {"2026-01-01/transactions.parquet"}
    assert quarantined["transaction_id"].to_list() == first["transaction_id"].head(5).to_list()
    assert set(quarantined["source_file"]) == {"2026-01-01/zz_resend.csv"}
    assert set(quarantined["failed_checks"]) == {"field_uniqueness"}


def test_a_failed_quarantine_write_leaves_each_validated_day_with_its_check_results(
    settings, resources, instance
) -> None:
    """The validated table and its checks are reported before the quarantine's files are in place."""
    days = [START + timedelta(days=i) for i in range(3)]
    land_days(settings, START, len(days), rows_per_day=120)
    # The quarantine's table folder is a file: none of its days can be written.
    blocked = settings.lakehouse_dir / "quarantined_transactions"
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("not a folder")
    result = ranged_run(ASSETS, resources, instance, days[0], days[-1])
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "quarantined_transactions" in failure.step_failure_data.error.cause.message
    # Read back from the instance: each validated day, its rows and its results; no quarantined day.
    assert [stored_metadata(instance, "validated_transactions", d)["dagster/row_count"] for d in days] == [
        120
    ] * len(days)
    assert stored_check_results(instance, "validated_transactions", "schema_pass_rate") == {
        d.isoformat(): True for d in days
    }
    assert not instance.fetch_materializations(dg.AssetKey("quarantined_transactions"), limit=1).records
    assert blocked.read_text() == "not a folder"
