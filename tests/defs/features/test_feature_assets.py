"""The feature assets materialized for real into a temporary lakehouse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
from mlops_assets.defs.features.catalog import ID_COLUMNS, MODEL_FEATURES
from mlops_assets.defs.features.compute import compute_customer_features, compute_merchant_features
from mlops_assets.defs.features.model_inputs import model_inputs
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
    result = dg.materialize([training_dataset], resources=resources, instance=instance)
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
