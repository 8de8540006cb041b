"""Feature assets: offline feature tables per day, the training dataset, and the online store."""

from collections.abc import Callable
from datetime import datetime, timedelta
from time import perf_counter
from typing import Any

import dagster as dg
import polars as pl

from mlops_assets.defs.features.catalog import (
    CUSTOMER_FEATURE_VIEW,
    FEATURE_SERVICE_NAME,
    MERCHANT_FEATURE_VIEW,
    MODEL_FEATURES,
    NULLABLE_FEATURES,
)
from mlops_assets.defs.features.compute import (
    CUSTOMER_LOOKBACK_DAYS,
    MERCHANT_LOOKBACK_DAYS,
    compute_customer_features,
    compute_merchant_features,
)
from mlops_assets.defs.features.dataset import (
    CUSTOMER_TABLE,
    MERCHANT_TABLE,
    TS,
    VALIDATED_TABLE,
    day_start,
    labelled_as_of,
    partition_days_present,
    resolve_window,
)
from mlops_assets.defs.features.feast_resource import FeastResource
from mlops_assets.defs.features.model_inputs import model_inputs, require_partitions
from mlops_assets.lakehouse import days_between
from mlops_assets.metadata import markdown_table, preview, table_schema
from mlops_assets.partitions import daily_partitions, partition_days
from mlops_assets.resources import LakehouseResource

TRAINING_TABLE = "training_dataset"
GROUP = "features"


def _feature_table(
    context: dg.AssetExecutionContext,
    lakehouse: LakehouseResource,
    table: str,
    entity: str,
    compute: Callable[[pl.LazyFrame], pl.LazyFrame],
    lookback_days: int,
) -> dg.MaterializeResult:
    """Compute one feature table for the run's days from validated rows plus their lookback."""
    days = partition_days(context)
    require_partitions(lakehouse, VALIDATED_TABLE, days)
    started = perf_counter()
    first_lookback = days[0] - timedelta(days=lookback_days)
    lookback_present = [
        d
        for d in days_between(first_lookback, days[0])
        if lakehouse.partition_path(VALIDATED_TABLE, d).exists()
    ]
    history = lakehouse.scan_range(VALIDATED_TABLE, first_lookback, days[-1] + timedelta(days=1))
    assert history is not None  # the run's own partitions exist (checked above)
    features = (
        compute(history)
        .filter(pl.col(TS) >= day_start(days[0]))
        .with_columns(pl.col(TS).dt.date().alias("_day"))
        .collect()
    )
    by_day = features.partition_by("_day", as_dict=True, include_key=False)
    counts: dict[str, int] = {}
    path = None
    for day in days:
        frame = by_day.get((day,), features.clear().drop("_day"))
        path = lakehouse.write_partition(table, day, frame)
        counts[day.isoformat()] = frame.height
    features = features.drop("_day")
    seconds = perf_counter() - started
    context.log.info(f"{table}: {features.height} rows for {len(days)} partitions in {seconds:.2f} s")
    nulls = {name: int(features[name].null_count()) for name in features.columns if name in NULLABLE_FEATURES}
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": features.height,
            "dagster/column_schema": table_schema(features),
            "rows_per_partition": counts,
            "entities": features[entity].n_unique(),
            "lookback_days": lookback_days,
            "lookback_partitions_present": len(lookback_present),
            "null_counts": nulls,
            "seconds": round(seconds, 3),
            "path": dg.MetadataValue.path(str(path)),
            "preview": preview(features),
        }
    )


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[VALIDATED_TABLE],
    group_name=GROUP,
    kinds={"polars", "parquet"},
    tags={"stage": "features"},
)
def customer_features(
    context: dg.AssetExecutionContext, lakehouse: LakehouseResource
) -> dg.MaterializeResult:
    """Per-customer rolling features, one row per transaction, as of its event time (Feast offline source).

    Counts, sums, means and stds of `amount_eur` over (t-1h, t], (t-24h, t], (t-7d, t], (t-30d, t];
    distinct merchants over 7 days; seconds since the previous transaction; the amount's z-score against
    the customer's 30 days before t; share of foreign-country payments over 30 days. Each day is
    computed with the 30 days of validated partitions before it. Keyed by `customer_id` +
    `event_timestamp` (and `transaction_id`); Hive layout `customer_features/date=.../part-0.parquet`.
    """
    return _feature_table(
        context, lakehouse, CUSTOMER_TABLE, "customer_id", compute_customer_features, CUSTOMER_LOOKBACK_DAYS
    )


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[VALIDATED_TABLE],
    group_name=GROUP,
    kinds={"polars", "parquet"},
    tags={"stage": "features"},
)
def merchant_features(
    context: dg.AssetExecutionContext, lakehouse: LakehouseResource
) -> dg.MaterializeResult:
    """Per-merchant volume and fraud rate, one row per transaction, as of its event time (Feast source).

    Transactions over (t-24h, t] and (t-7d, t]; labels that *arrived* in (t-30d, t] and their fraud share
    (the label delay respected: a label with `label_available_at` after t does not exist at t). Each day
    is computed with the 75 days of validated partitions before it (30 days of labels, 45 days of
    maximum label delay). Keyed by `merchant_id` + `event_timestamp`.
    """
    return _feature_table(
        context, lakehouse, MERCHANT_TABLE, "merchant_id", compute_merchant_features, MERCHANT_LOOKBACK_DAYS
    )


class TrainingDatasetConfig(dg.Config):
    """The window of the training dataset; by default every validated partition present."""

    start_date: str | None = None
    """First day (inclusive, YYYY-MM-DD); default: the first validated partition."""
    end_date: str | None = None
    """Day after the last one (exclusive, YYYY-MM-DD); default: the day after the last validated partition."""
    last_n_days: int | None = None
    """Instead of start_date: the N days before end_date."""
    label_cutoff: str | None = None
    """Only labels with label_available_at <= this ISO timestamp (UTC); default: the window's end."""


@dg.asset(
    deps=[CUSTOMER_TABLE, MERCHANT_TABLE, VALIDATED_TABLE],
    group_name=GROUP,
    kinds={"polars", "parquet"},
    tags={"stage": "features"},
)
def training_dataset(
    context: dg.AssetExecutionContext, config: TrainingDatasetConfig, lakehouse: LakehouseResource
) -> dg.MaterializeResult:
    """Labelled transactions with their features as of each transaction's time: the models' training set.

    Columns: `catalog.ID_COLUMNS` + `catalog.MODEL_FEATURES`, built by `model_inputs` (the code path batch
    scoring uses). Point-in-time correct: each row's features use only data up to its own event time,
    and only rows whose label had arrived by the label cutoff are kept (a label not yet arrived is not a
    "legitimate" label: the row is dropped). Because fraud labels arrive later than legitimate ones, the
    last days of a window are thinner in fraud; the per-day table shows it.
    """
    started = perf_counter()
    window = resolve_window(
        partition_days_present(lakehouse.root_path, VALIDATED_TABLE),
        start_date=config.start_date,
        end_date=config.end_date,
        last_n_days=config.last_n_days,
        label_cutoff=config.label_cutoff,
    )
    inputs = model_inputs(lakehouse, window.start, window.end)
    dataset = labelled_as_of(inputs, window.label_cutoff)
    if dataset.height == 0:
        raise ValueError(
            f"{TRAINING_TABLE}: no labelled transactions in [{window.start}, {window.end}) with labels "
            f"arrived by {window.label_cutoff.isoformat()} ({inputs.height} transactions before the cutoff)"
        )
    path = lakehouse.write_table(TRAINING_TABLE, dataset)
    per_day = (
        inputs.group_by(pl.col(TS).dt.date().alias("day"))
        .agg(
            pl.len().alias("transactions"),
            (pl.col("label_available_at") <= window.label_cutoff).sum().alias("labelled"),
            ((pl.col("label_available_at") <= window.label_cutoff) & (pl.col("is_fraud") == 1))
            .sum()
            .alias("fraud"),
        )
        .sort("day")
    )
    seconds = perf_counter() - started
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dataset.height,
            "dagster/column_schema": table_schema(dataset),
            "window_start": window.start.isoformat(),
            "window_end_exclusive": window.end.isoformat(),
            "label_cutoff": window.label_cutoff.isoformat(),
            "transactions_in_window": inputs.height,
            "dropped_label_not_arrived": inputs.height - dataset.height,
            "fraud_rate": round(float(dataset.select(pl.col("is_fraud").cast(pl.Float64).mean()).item()), 5),
            "features": list(MODEL_FEATURES),
            "per_day": dg.MetadataValue.md(markdown_table(per_day, max_rows=400)),
            "seconds": round(seconds, 3),
            "path": dg.MetadataValue.path(str(path)),
            "preview": preview(dataset),
        }
    )


def _materialized_until(store: Any, views: list[str]) -> datetime | None:
    """The latest end of any materialization interval of `views` in the Feast registry, or None."""
    ends = [end for name in views for _, end in store.get_feature_view(name).materialization_intervals]
    return max(ends) if ends else None


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[CUSTOMER_TABLE, MERCHANT_TABLE],
    group_name=GROUP,
    kinds={"feast", "sqlite"},
    tags={"stage": "features"},
)
def online_features(
    context: dg.AssetExecutionContext, feast: FeastResource, lakehouse: LakehouseResource
) -> dg.MaterializeResult:
    """Each partition's latest customer and merchant features in the Feast online store (SQLite or Redis).

    Applies the feature repo (idempotent), then one `store.materialize(start, end)` for the run's window.
    Backfilling an older day after a newer one must not put older values online: SQLite's upsert has no
    timestamp guard, so when the store was already materialized past this window, the window is extended
    up to that point and Feast writes each entity's newest row in it (Redis also guards by timestamp).
    """
    days = partition_days(context)
    for table in (CUSTOMER_TABLE, MERCHANT_TABLE):
        require_partitions(lakehouse, table, days)
    views = [CUSTOMER_FEATURE_VIEW, MERCHANT_FEATURE_VIEW]
    store = feast.apply()
    start, end = day_start(days[0]), day_start(days[-1] + timedelta(days=1))
    online_until = _materialized_until(store, views)
    catch_up = online_until is not None and online_until > end
    if online_until is not None and catch_up:
        context.log.info(f"online store already holds data up to {online_until}: materializing up to there")
        end = online_until
    last_day = (end - timedelta(microseconds=1)).date()
    started = perf_counter()
    store.materialize(start, end, feature_views=views)
    seconds = perf_counter() - started

    rows, entities = {}, {}
    for table, key in ((CUSTOMER_TABLE, "customer_id"), (MERCHANT_TABLE, "merchant_id")):
        scan = lakehouse.scan_range(table, start.date(), last_day + timedelta(days=1))
        frame = (
            pl.DataFrame(schema={key: pl.String, TS: pl.Datetime("us", "UTC")})
            if scan is None
            else scan.select(key, TS).filter((pl.col(TS) >= start) & (pl.col(TS) < end)).collect()
        )
        rows[table] = frame.height
        entities[table] = frame[key].n_unique()
    total_rows = sum(rows.values())
    return dg.MaterializeResult(
        metadata={
            "online_store": feast.online_store_type,
            "feature_service": FEATURE_SERVICE_NAME,
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "extended_to_newer_materialization": catch_up,
            "rows_read": rows,
            "entities_written": entities,
            "dagster/row_count": sum(entities.values()),
            "seconds": round(seconds, 3),
            "rows_per_second": round(total_rows / seconds, 1) if seconds > 0 else None,
        }
    )
