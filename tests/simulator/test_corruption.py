"""Bad rows from the simulator: seeded, one broken rule per row, and exactly those rows quarantined."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from mlops_assets.defs.ingestion.assets import raw_transactions
from mlops_assets.defs.validation.assets import validated_and_quarantined_transactions
from mlops_assets.domain import TRANSACTION_COLUMNS
from mlops_assets.lakehouse import partition_path
from mlops_assets.simulator import SimulationConfig, landing_path, simulate_day, write_days
from mlops_assets.simulator.cli import main
from mlops_assets.simulator.corruption import CORRUPTIONS, DUPLICATE_ID, corrupt_rows

DAY = dt.date(2026, 3, 1)


@pytest.fixture(scope="module")
def clean() -> pl.DataFrame:
    return simulate_day(DAY, SimulationConfig(DAY, 1, rows_per_day=4000))


def _changed_columns(before: pl.DataFrame, after: pl.DataFrame, row: int) -> set[str]:
    a, b = before.row(row, named=True), after.row(row, named=True)
    return {column for column in TRANSACTION_COLUMNS if a[column] != b[column]}


def test_each_broken_row_differs_in_its_one_column_and_every_other_row_is_untouched(clean) -> None:
    broken, manifest = corrupt_rows(clean, 0.05, seed=42, day=DAY)
    assert broken.schema == clean.schema
    assert broken.height == clean.height
    assert 0.03 * clean.height < manifest.height < 0.07 * clean.height
    assert set(manifest["corruption"]) == {c.name for c in CORRUPTIONS}
    for row, column in manifest.select("row", "column").iter_rows():
        assert _changed_columns(clean, broken, row) == {column}
    untouched = pl.Series(range(clean.height)).is_in(manifest["row"].implode()).not_()
    assert broken.filter(untouched).equals(clean.filter(untouched))
    # A duplicate carries the id of an earlier row that keeps it, so validation rejects the later copy.
    duplicates = manifest.filter(pl.col("corruption") == DUPLICATE_ID)
    assert duplicates.height > 0
    ids = broken["transaction_id"].to_list()
    for row, tx_id in duplicates.select("row", "transaction_id").iter_rows():
        assert ids.index(tx_id) < row


def test_same_seed_and_day_break_the_same_rows_the_same_way(clean) -> None:
    first = corrupt_rows(clean, 0.01, seed=7, day=DAY)
    again = corrupt_rows(clean, 0.01, seed=7, day=DAY)
    other_seed = corrupt_rows(clean, 0.01, seed=8, day=DAY)
    other_day = corrupt_rows(clean, 0.01, seed=7, day=DAY + dt.timedelta(days=1))
    assert first[0].equals(again[0])
    assert first[1].equals(again[1])
    assert not first[1]["row"].equals(other_seed[1]["row"])
    assert not first[1]["row"].equals(other_day[1]["row"])


def test_share_zero_changes_nothing_and_a_share_outside_0_1_is_refused(clean) -> None:
    broken, manifest = corrupt_rows(clean, 0.0, seed=42, day=DAY)
    assert broken.equals(clean)
    assert manifest.height == 0
    with pytest.raises(ValueError, match=r"bad row share 1.5: expected a fraction between 0 and 1"):
        corrupt_rows(clean, 1.5, seed=42, day=DAY)


def test_cli_refuses_a_share_above_one(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--start", "2026-03-01", "--bad-row-share", "2", "--data-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "bad row share 2.0: expected a fraction between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "landing").exists()


def test_cli_writes_the_seeded_broken_rows(tmp_path) -> None:
    argv = ["--start", "2026-03-01", "--rows-per-day", "500", "--seed", "5", "--bad-row-share", "0.05"]
    assert main([*argv, "--data-dir", str(tmp_path), "--quiet"]) == 0
    written = pl.read_parquet(landing_path(tmp_path, DAY, "parquet"))
    expected, manifest = corrupt_rows(
        simulate_day(DAY, SimulationConfig(DAY, 1, rows_per_day=500, seed=5)), 0.05, seed=5, day=DAY
    )
    assert manifest.height > 0
    assert written.equals(expected)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_validation_quarantines_exactly_the_broken_rows_with_their_rule(
    fmt, settings, resources, instance
) -> None:
    config = SimulationConfig(DAY, 2, rows_per_day=1500, seed=11)
    write_days(config, settings.data_dir, fmt, bad_row_share=0.02)
    result = dg.materialize(
        [raw_transactions, validated_and_quarantined_transactions],
        resources=resources,
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": DAY.isoformat(),
            "dagster/asset_partition_range_end": (DAY + dt.timedelta(days=1)).isoformat(),
        },
    )
    assert result.success
    lake = settings.lakehouse_dir
    for day in config.dates:
        _, manifest = corrupt_rows(simulate_day(day, config), 0.02, config.seed, day)
        assert manifest.height > 10
        quarantined = pl.read_parquet(partition_path(lake, "quarantined_transactions", day))
        valid = pl.read_parquet(partition_path(lake, "validated_transactions", day))
        assert valid.height + quarantined.height == 1500
        got = quarantined.select(
            pl.col("source_row").alias("row"),
            "transaction_id",
            pl.col("failed_columns").alias("column"),
            "quarantine_reason",
        ).sort("row")
        assert got["row"].to_list() == manifest["row"].to_list()
        assert got["transaction_id"].to_list() == manifest["transaction_id"].to_list()
        assert got["column"].to_list() == manifest["column"].to_list()
        where = f"partition {day.isoformat()}: file {day.isoformat()}/transactions.{fmt}"
        for reason, column in got.select("quarantine_reason", "column").iter_rows():
            assert reason.startswith(where)
            assert f"column {column}: rule " in reason
