"""The feature assets materialized for real into a temporary lakehouse."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl
import pytest
from feature_fixtures import START, VALIDATED, materialized_metadata, range_tags, write_validated
from polars.testing import assert_frame_equal

from mlops_assets.defs.features.assets import (
    customer_features,
    merchant_features,
    training_dataset,
)
from mlops_assets.defs.features.compute import compute_customer_features, compute_merchant_features
from mlops_assets.defs.features.model_inputs import model_inputs
from mlops_assets.domain import LABEL_MATURITY_DAYS
from mlops_assets.feature_catalog import ID_COLUMNS, MODEL_FEATURES
from mlops_assets.partitions import daily_partitions
from mlops_assets.resources import LakehouseResource
from mlops_assets.settings import Settings

FEATURE_ASSETS = [customer_features, merchant_features]


def test_single_run_backfill_equals_day_by_day_runs_and_direct_computation(
    settings: Settings, resources: dict, instance: dg.DagsterInstance
) -> None:
    transactions = write_validated(settings, days=4)
    lakehouse: LakehouseResource = resources["lakehouse"]
    last = START + timedelta(days=3)
    result = dg.materialize(
        FEATURE_ASSETS, resources=resources, instance=instance, tags=range_tags(START, last)
    )
    meta = materialized_metadata(result, "customer_features")
    assert meta["dagster/row_count"] == transactions.height
    assert sum(meta["rows_per_partition"].values()) == transactions.height
    backfilled = lakehouse.read_partition("customer_features", last)

    # The last day alone, in its own run, reads its lookback from the earlier validated partitions.
    dg.materialize(FEATURE_ASSETS, resources=resources, instance=instance, partition_key=last.isoformat())
    assert_frame_equal(lakehouse.read_partition("customer_features", last), backfilled)

    expected = compute_customer_features(transactions).collect()
    expected = expected.filter(pl.col("event_timestamp").dt.date() == last)
    assert_frame_equal(backfilled, expected)
    merchant = compute_merchant_features(transactions).collect()
    assert_frame_equal(
        lakehouse.read_partition("merchant_features", last),
        merchant.filter(pl.col("event_timestamp").dt.date() == last),
    )
    assert backfilled["transaction_id"].n_unique() == backfilled.height
    assert (backfilled["event_timestamp"].dt.date() == last).all()


def test_empty_and_fully_quarantined_partitions_give_empty_feature_partitions(
    settings: Settings, resources: dict, instance: dg.DagsterInstance
) -> None:
    transactions = write_validated(settings, days=2)
    lakehouse: LakehouseResource = resources["lakehouse"]
    empty_day = START + timedelta(days=2)  # every row quarantined: the validated partition exists, empty
    lakehouse.write_partition(VALIDATED, empty_day, transactions.clear())
    result = dg.materialize(
        FEATURE_ASSETS, resources=resources, instance=instance, tags=range_tags(START, empty_day)
    )
    assert (
        materialized_metadata(result, "merchant_features")["rows_per_partition"][empty_day.isoformat()] == 0
    )
    empty = lakehouse.read_partition("customer_features", empty_day)
    assert empty.height == 0
    assert empty.columns[3:] == [c for c in empty.columns if c.startswith("cust_")]
    assert model_inputs(lakehouse, empty_day, empty_day + timedelta(days=1)).columns == [
        *ID_COLUMNS,
        *MODEL_FEATURES,
    ]


def test_missing_validated_partition_is_an_error_naming_it(
    resources: dict, instance: dg.DagsterInstance
) -> None:
    with pytest.raises(FileNotFoundError, match=r"partition 2025-03-01: table validated_transactions"):
        dg.materialize(
            [customer_features], resources=resources, instance=instance, partition_key=START.isoformat()
        )


def test_training_dataset_joins_labels_as_of_each_transaction(
    settings: Settings, resources: dict, instance: dg.DagsterInstance
) -> None:
    transactions = write_validated(settings, days=4)
    lakehouse: LakehouseResource = resources["lakehouse"]
    dg.materialize(
        FEATURE_ASSETS,
        resources=resources,
        instance=instance,
        tags=range_tags(START, START + timedelta(days=3)),
    )
    # Every day, immature ones included: this test is about the label cutoff (maturity: see below).
    no_maturity = {"ops": {"training_dataset": {"config": {"label_maturity_days": 0}}}}
    result = dg.materialize(
        [training_dataset], resources=resources, instance=instance, run_config=no_maturity
    )
    dataset = lakehouse.read_table("training_dataset")
    cutoff = datetime(2025, 3, 5, tzinfo=UTC)  # default: the end of the window (all partitions present)
    labelled = transactions.filter(pl.col("label_available_at") <= cutoff)
    assert dataset.columns == [*ID_COLUMNS, *MODEL_FEATURES]
    assert dataset.height == labelled.height
    assert 0 < dataset.height < transactions.height  # the latest labels had not arrived yet
    assert (dataset["label_available_at"] <= cutoff).all()
    meta = materialized_metadata(result, "training_dataset")
    assert meta["dropped_label_not_arrived"] == transactions.height - labelled.height
    assert meta["label_cutoff"] == cutoff.isoformat()

    # Features are those of the transaction's own time, the same rows batch scoring gets.
    scored = model_inputs(lakehouse, START, START + timedelta(days=4))
    assert scored.height == transactions.height
    assert_frame_equal(scored.join(dataset.select("transaction_id"), on="transaction_id"), dataset)

    config = {
        "ops": {"training_dataset": {"config": {"last_n_days": 2, "label_cutoff": "2030-01-01T00:00:00"}}}
    }
    dg.materialize([training_dataset], resources=resources, instance=instance, run_config=config)
    recent = lakehouse.read_table("training_dataset")
    assert (
        recent.height
        == transactions.filter(pl.col("event_timestamp").dt.date() >= START + timedelta(days=2)).height
    )


def test_model_inputs_names_a_missing_feature_partition(settings: Settings, resources: dict) -> None:
    write_validated(settings, days=1)
    with pytest.raises(FileNotFoundError, match=r"partition 2025-03-01: table customer_features"):
        model_inputs(resources["lakehouse"], START, START + timedelta(days=1))


def test_training_dataset_without_validated_partitions_is_an_error(
    resources: dict, instance: dg.DagsterInstance
) -> None:
    with pytest.raises(ValueError, match="validated_transactions has no partitions"):
        dg.materialize([training_dataset], resources=resources, instance=instance)


def test_training_window_ends_label_maturity_days_before_the_cutoff(
    settings: Settings, resources: dict, instance: dg.DagsterInstance
) -> None:
    days = 20
    transactions = write_validated(settings, days=days, rows_per_day=60)
    lakehouse: LakehouseResource = resources["lakehouse"]
    dg.materialize(
        FEATURE_ASSETS,
        resources=resources,
        instance=instance,
        tags=range_tags(START, START + timedelta(days=days - 1)),
    )
    result = dg.materialize([training_dataset], resources=resources, instance=instance)
    dataset = lakehouse.read_table("training_dataset")

    # Labels as of midnight after the last day; only the days at least 16 days old then are kept, all of
    # their labelled rows, and none of the 16 newest days (not even their already labelled rows).
    cutoff = datetime(2025, 3, 21, tzinfo=UTC)
    mature_end = START + timedelta(days=days - LABEL_MATURITY_DAYS)
    expected = transactions.filter(
        (pl.col("event_timestamp").dt.date() < mature_end) & (pl.col("label_available_at") <= cutoff)
    )
    assert dataset.height == expected.height > 0
    assert sorted(dataset["transaction_id"]) == sorted(expected["transaction_id"])
    assert dataset["event_timestamp"].dt.date().max() == mature_end - timedelta(days=1)
    meta = materialized_metadata(result, "training_dataset")
    assert (meta["window_start"], meta["window_end_exclusive"], meta["requested_window_end_exclusive"]) == (
        START.isoformat(),
        mature_end.isoformat(),
        (START + timedelta(days=days)).isoformat(),
    )
    assert (meta["label_cutoff"], meta["label_maturity_days"], meta["immature_days_excluded"]) == (
        cutoff.isoformat(),
        LABEL_MATURITY_DAYS,
        LABEL_MATURITY_DAYS,
    )

    # last_n_days counts mature days back from the mature end.
    config = {"ops": {"training_dataset": {"config": {"last_n_days": 2, "label_maturity_days": 10}}}}
    result = dg.materialize([training_dataset], resources=resources, instance=instance, run_config=config)
    meta = materialized_metadata(result, "training_dataset")
    assert (meta["window_start"], meta["window_end_exclusive"]) == ("2025-03-09", "2025-03-11")


def test_training_window_too_short_to_be_mature_is_an_error_naming_it(
    settings: Settings, resources: dict, instance: dg.DagsterInstance
) -> None:
    write_validated(settings, days=4)
    dg.materialize(
        FEATURE_ASSETS,
        resources=resources,
        instance=instance,
        tags=range_tags(START, START + timedelta(days=3)),
    )
    with pytest.raises(
        ValueError, match=r"no mature day in \[2025-03-01, 2025-03-05\).*label_maturity_days=16.*2025-02-17"
    ):
        dg.materialize([training_dataset], resources=resources, instance=instance)


@pytest.mark.parametrize(("asset", "lookback_days"), [(customer_features, 30), (merchant_features, 75)])
def test_feature_tables_declare_their_lookback_to_dagster(
    asset: dg.AssetsDefinition, lookback_days: int
) -> None:
    """A late validated day D makes D .. D + lookback of the feature table stale, not only D."""
    mapping = asset.get_partition_mapping(dg.AssetKey(VALIDATED))
    assert mapping is not None
    day = "2025-03-01"
    downstream = mapping.get_downstream_partitions_for_partitions(
        daily_partitions.empty_subset().with_partition_keys([day]),
        daily_partitions,
        daily_partitions,
        current_time=datetime(2026, 1, 1, tzinfo=UTC),
    )
    first = date.fromisoformat(day)
    assert sorted(downstream.get_partition_keys()) == [
        (first + timedelta(days=i)).isoformat() for i in range(lookback_days + 1)
    ]
    # The first days need lookback days before the partitions start: allowed, they do not exist.
    upstream = mapping.get_upstream_mapped_partitions_result_for_partitions(
        daily_partitions.empty_subset().with_partition_keys([daily_partitions.start.date().isoformat()]),
        daily_partitions,
        daily_partitions,
        current_time=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert upstream.required_but_nonexistent_subset.is_empty
    assert list(upstream.partitions_subset.get_partition_keys()) == [
        daily_partitions.start.date().isoformat()
    ]


def test_missing_lookback_day_after_the_partitions_start_is_a_warning_and_metadata(
    settings: Settings, resources: dict, instance: dg.DagsterInstance
) -> None:
    start = daily_partitions.start.date()
    write_validated(settings, start=start, days=4)
    lakehouse: LakehouseResource = resources["lakehouse"]
    gap = start + timedelta(days=1)
    lakehouse.partition_path(VALIDATED, gap).unlink()  # a day that never arrived
    last = start + timedelta(days=3)
    result = dg.materialize(
        FEATURE_ASSETS, resources=resources, instance=instance, partition_key=last.isoformat()
    )
    for asset in ("customer_features", "merchant_features"):
        meta = materialized_metadata(result, asset)
        # The days before the partitions start do not exist and are not reported; the gap is.
        assert meta["missing_lookback_days"] == [gap.isoformat()], asset
        assert meta["lookback_partitions_present"] == 2, asset
    warnings = [
        e.message
        for e in instance.all_logs(result.run_id)
        if e.level == logging.WARNING and "lookback days" in e.message
    ]
    assert len(warnings) == 2
    assert all(f"({gap.isoformat()})" in w and "validated_transactions" in w for w in warnings)


class _VanishingLakehouse(LakehouseResource):
    """A lakehouse whose validated files disappear between the existence check and the scan."""

    def scan_range(self, table: str, start: date, end: date) -> pl.LazyFrame | None:
        return None


def test_validated_files_vanishing_mid_run_is_an_error_naming_table_and_partitions(
    settings: Settings, resources: dict, instance: dg.DagsterInstance
) -> None:
    write_validated(settings, days=1)
    vanishing = _VanishingLakehouse(root=resources["lakehouse"].root)
    with pytest.raises(
        FileNotFoundError, match=r"partitions 2025-03-01\.\.2025-03-01: table validated_transactions"
    ):
        dg.materialize(
            [customer_features],
            resources={**resources, "lakehouse": vanishing},
            instance=instance,
            partition_key=START.isoformat(),
        )
