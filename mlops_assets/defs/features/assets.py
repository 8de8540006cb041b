"""Feature assets: offline feature tables per day, the training dataset, and the online store."""

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from time import perf_counter
from typing import Any

import dagster as dg
import polars as pl

from mlops_assets.defs.features.compute import (
    CUSTOMER_LOOKBACK_DAYS,
    MERCHANT_LOOKBACK_DAYS,
    compute_customer_features,
    compute_merchant_features,
)
from mlops_assets.defs.features.dataset import (
    DateWindow,
    day_start,
    labelled_as_of,
    resolve_window,
)
from mlops_assets.defs.features.model_inputs import model_inputs
from mlops_assets.defs.features.warmup import WARM_UP_DAYS, first_data_day, is_warming_up, warm_up_end
from mlops_assets.domain import (
    CUSTOMER_ID,
    EVENT_TIMESTAMP,
    IS_FRAUD,
    LABEL_AVAILABLE_AT,
    LABEL_MATURITY_DAYS,
    MERCHANT_ID,
)
from mlops_assets.feast_resource import FeastResource
from mlops_assets.feature_catalog import (
    CUSTOMER_FEATURE_VIEW,
    FEATURE_SERVICE_NAME,
    MERCHANT_FEATURE_VIEW,
    MODEL_FEATURES,
    NULLABLE_FEATURES,
)
from mlops_assets.lakehouse import days_between
from mlops_assets.metadata import markdown_table, partitions_metadata, preview, run_summary, table_schema
from mlops_assets.partitions import daily_partitions, partition_days
from mlops_assets.resources import LakehouseResource
from mlops_assets.tables import (
    CUSTOMER_TABLE,
    MERCHANT_TABLE,
    ONLINE_FEATURES,
    TRAINING_TABLE,
    VALIDATED_TABLE,
)

GROUP = "features"
# Three weeks of mature days after the warm-up: a train, a validation and a holdout week.
MIN_DAYS_AFTER_WARM_UP = 21


@dataclass(frozen=True)
class FeatureTableSpec:
    """One offline feature table: what it is keyed by, how it is computed, how far back it reads."""

    table: str
    entity: str
    compute: Callable[[pl.LazyFrame], pl.LazyFrame]
    lookback_days: int
    description: str


def missing_lookback_days(present: set[date], day: date, lookback_days: int) -> list[date]:
    """Days of `day`'s lookback without a validated partition (`present`), from the partitions start on.

    Days before the partitions start do not exist (the data simply begins there); a day on or after it
    without a validated partition was never ingested or never validated.
    """
    start = max(day - timedelta(days=lookback_days), daily_partitions.start.date())
    return [d for d in days_between(start, day) if d not in present]


def _feature_table(
    context: dg.AssetExecutionContext, lakehouse: LakehouseResource, spec: FeatureTableSpec
) -> dg.MaterializeResult:
    """Compute one feature table for the run's days from validated rows plus their lookback.

    A lookback day without a validated partition is a warning (and `missing_lookback_days` metadata),
    not an error: the contract of `model_inputs` is that a day without a validated partition had no
    data, and refusing would make every day after a gap uncomputable until someone writes an empty
    partition for it. The features of the run's days then count only the history that exists; when the
    missing day lands later, the declared lookback dependency shows Dagster that these days are stale
    (see `_feature_asset`), and re-materializing them makes them exact.
    """
    days = partition_days(context)
    lakehouse.require_partitions(VALIDATED_TABLE, days)
    started = perf_counter()
    first_lookback = days[0] - timedelta(days=spec.lookback_days)
    # Listed once for the whole range: each day's lookback is a window over the same days.
    present = set(lakehouse.existing_days(VALIDATED_TABLE, first_lookback, days[-1]))
    missing = missing_lookback_days(present, days[0], spec.lookback_days)
    if missing:
        context.log.warning(
            f"{spec.table}: {len(missing)} of the {spec.lookback_days} lookback days before {days[0]} "
            f"have no {VALIDATED_TABLE} partition ({', '.join(d.isoformat() for d in missing[:5])}"
            f"{', ...' if len(missing) > 5 else ''}); their features count only the history that exists"
        )
    history = lakehouse.scan_range(VALIDATED_TABLE, first_lookback, days[-1] + timedelta(days=1))
    if history is None:  # require_partitions passed, so only a file removed meanwhile gets here
        raise FileNotFoundError(
            f"partitions {days[0]}..{days[-1]}: table {VALIDATED_TABLE} has no file to read for {spec.table}"
        )
    features = (
        spec.compute(history)
        .filter(pl.col(EVENT_TIMESTAMP) >= day_start(days[0]))
        .with_columns(pl.col(EVENT_TIMESTAMP).dt.date().alias("_day"))
        .collect()
    )
    by_day = features.partition_by("_day", as_dict=True, include_key=False)
    first_day = first_data_day(lakehouse.root_path)
    frames = {day: by_day.get((day,), features.clear().drop("_day")) for day in days}
    paths = lakehouse.write_partitions(spec.table, frames)
    partitions_metadata(
        context,
        {
            day: {
                "dagster/row_count": frame.height,
                "entities": frame[spec.entity].n_unique(),
                "missing_lookback_days": [
                    d.isoformat() for d in missing_lookback_days(present, day, spec.lookback_days)
                ],
                "warming_up": is_warming_up(day, first_day),
                "path": dg.MetadataValue.path(str(paths[day])),
            }
            for day, frame in frames.items()
        },
    )
    features = features.drop("_day")
    seconds = perf_counter() - started
    context.log.info(f"{spec.table}: {features.height} rows for {len(days)} partitions in {seconds:.2f} s")
    nulls = {name: int(features[name].null_count()) for name in features.columns if name in NULLABLE_FEATURES}
    return run_summary(
        context,
        days,
        {
            "dagster/column_schema": table_schema(features),
            "partitions_in_run": len(days),
            "rows_in_run": features.height,
            "lookback_days": spec.lookback_days,
            "warm_up_days": WARM_UP_DAYS,
            "first_data_day": None if first_day is None else first_day.isoformat(),
            "null_counts_in_run": nulls,
            "seconds": round(seconds, 3),
            "preview": preview(features),
        },
    )


def _feature_asset(spec: FeatureTableSpec) -> dg.AssetsDefinition:
    """The daily asset of one feature table.

    The dependency on `validated_transactions` declares the lookback the computation reads: day D
    depends on validated D - lookback_days .. D, so a late file for day D marks D .. D + lookback_days
    of the feature table stale, not only D. Days before the partitions start are allowed not to exist.
    """

    @dg.asset(
        name=spec.table,
        description=spec.description,
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[
            dg.AssetDep(
                VALIDATED_TABLE,
                partition_mapping=dg.TimeWindowPartitionMapping(
                    start_offset=-spec.lookback_days, allow_nonexistent_upstream_partitions=True
                ),
            )
        ],
        group_name=GROUP,
        kinds={"polars", "parquet"},
        tags={"stage": "features"},
    )
    def _asset(context: dg.AssetExecutionContext, lakehouse: LakehouseResource) -> dg.MaterializeResult:
        return _feature_table(context, lakehouse, spec)

    return _asset


CUSTOMER_SPEC = FeatureTableSpec(
    table=CUSTOMER_TABLE,
    entity=CUSTOMER_ID,
    compute=compute_customer_features,
    lookback_days=CUSTOMER_LOOKBACK_DAYS,
    description="""Per-customer rolling features, one row per transaction, as of its event time.

The Feast offline source of the customer view.

Counts, sums, means and stds of `amount_eur` over (t-1h, t], (t-24h, t], (t-7d, t], (t-30d, t];
distinct merchants over 7 days; seconds since the previous transaction; the amount's z-score against
the customer's 30 days before t; share of foreign-country payments over 30 days. Each day is
computed with the 30 days of validated partitions before it (declared to Dagster as its dependency).
Keyed by `customer_id` + `event_timestamp` (and `transaction_id`); Hive layout
`customer_features/date=.../part-0.parquet`.""",
)
MERCHANT_SPEC = FeatureTableSpec(
    table=MERCHANT_TABLE,
    entity=MERCHANT_ID,
    compute=compute_merchant_features,
    lookback_days=MERCHANT_LOOKBACK_DAYS,
    description="""Per-merchant volume and fraud rate, one row per transaction, as of its event time.

The Feast offline source of the merchant view.

Transactions over (t-24h, t] and (t-7d, t]; labels that *arrived* in (t-30d, t] and their fraud share
(the label delay respected: a label with `label_available_at` after t does not exist at t). Each day
is computed with the 75 days of validated partitions before it (30 days of labels, 45 days of
maximum label delay; declared to Dagster as its dependency). Keyed by `merchant_id` + `event_timestamp`.""",
)
customer_features = _feature_asset(CUSTOMER_SPEC)
merchant_features = _feature_asset(MERCHANT_SPEC)


class TrainingDatasetConfig(dg.Config):
    """The window of the training dataset; by default every validated partition with mature labels."""

    start_date: str | None = None
    """First day (inclusive, YYYY-MM-DD); default: the first validated partition."""
    end_date: str | None = None
    """Day after the last one asked for (exclusive, YYYY-MM-DD); default: the day after the last validated
    partition. The window still stops `label_maturity_days` before the label cutoff."""
    last_n_days: int | None = None
    """Instead of start_date: the N (mature) days before the window's end."""
    label_cutoff: str | None = None
    """Only labels with label_available_at <= this ISO timestamp (UTC); default: midnight at end_date."""
    label_maturity_days: int = LABEL_MATURITY_DAYS
    """Days a day's fraud labels get to arrive: the window ends this many days before the label cutoff.
    0 trains up to end_date, newest days included (their frauds mostly still unlabelled)."""
    include_warm_up: bool = False
    """Without start_date or last_n_days, the window starts after the warm-up (`features.warmup`): the
    first 30 days of data, whose rolling features were still filling up. True keeps them."""
    min_days_after_warm_up: int = MIN_DAYS_AFTER_WARM_UP
    """If fewer mature days than this follow the warm-up, the warm-up days are kept (and the metadata
    says so): a young deployment still gets a model."""


@dg.asset(
    name=TRAINING_TABLE,
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
    "legitimate" label: the row is dropped). Fraud labels arrive days later than legitimate ones, so a
    day younger than `label_maturity_days` (default `domain.LABEL_MATURITY_DAYS`) at the cutoff would keep
    its legitimate rows and lose most of its frauds: the window ends that many days before the cutoff,
    and those immature days are left out entirely. The metadata records the effective window.
    """
    started = perf_counter()
    present = lakehouse.existing_days(VALIDATED_TABLE)
    window = resolve_window(
        present,
        start_date=config.start_date,
        end_date=config.end_date,
        last_n_days=config.last_n_days,
        label_cutoff=config.label_cutoff,
        label_maturity_days=config.label_maturity_days,
    )
    warm_up = warm_up_decision(window, present, config)
    context.log.info(f"{TRAINING_TABLE}: {warm_up}")
    if warm_up.startswith("excluded"):
        window = replace(window, start=warm_up_end(present[0]))
    immature = window.immature_days()
    if immature:
        context.log.info(
            f"{TRAINING_TABLE}: window [{window.start}, {window.end}); {len(immature)} days "
            f"[{window.end}, {window.requested_end}) left out: younger than "
            f"{window.label_maturity_days} days at the label cutoff {window.label_cutoff.isoformat()}"
        )
    inputs = model_inputs(lakehouse, window.start, window.end)
    dataset = labelled_as_of(inputs, window.label_cutoff)
    if dataset.height == 0:
        raise ValueError(
            f"{TRAINING_TABLE}: no labelled transactions in [{window.start}, {window.end}) with labels "
            f"arrived by {window.label_cutoff.isoformat()} ({inputs.height} transactions in the window; "
            f"label_maturity_days={window.label_maturity_days} left out the immature days "
            f"[{window.end}, {window.requested_end}))"
        )
    path = lakehouse.write_table(TRAINING_TABLE, dataset)
    per_day = (
        inputs.group_by(pl.col(EVENT_TIMESTAMP).dt.date().alias("day"))
        .agg(
            pl.len().alias("transactions"),
            (pl.col(LABEL_AVAILABLE_AT) <= window.label_cutoff).sum().alias("labelled"),
            ((pl.col(LABEL_AVAILABLE_AT) <= window.label_cutoff) & (pl.col(IS_FRAUD) == 1))
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
            "requested_window_end_exclusive": window.requested_end.isoformat(),
            "label_cutoff": window.label_cutoff.isoformat(),
            "label_maturity_days": window.label_maturity_days,
            "immature_days_excluded": len(immature),
            "warm_up": warm_up,
            "transactions_in_window": inputs.height,
            "dropped_label_not_arrived": inputs.height - dataset.height,
            "fraud_rate": round(float(dataset.select(pl.col(IS_FRAUD).cast(pl.Float64).mean()).item()), 5),
            "features": list(MODEL_FEATURES),
            "per_day": dg.MetadataValue.md(markdown_table(per_day, max_rows=400)),
            "seconds": round(seconds, 3),
            "path": dg.MetadataValue.path(str(path)),
            "preview": preview(dataset),
        }
    )


def warm_up_decision(window: DateWindow, present: list[date], config: TrainingDatasetConfig) -> str:
    """Whether the window's warm-up days are left out ("excluded: ...") or kept ("kept: ..."), and why."""
    if config.start_date or config.last_n_days is not None:
        return "kept: the window was given explicitly"
    if not present or window.start >= warm_up_end(present[0]):
        return "kept: no day of the window is warming up"
    end = warm_up_end(present[0])
    if config.include_warm_up:
        return f"kept: include_warm_up is set ({window.start}..{end - timedelta(days=1)} are warming up)"
    after = (window.end - end).days
    if after < config.min_days_after_warm_up:
        return (
            f"kept: only {max(after, 0)} mature days follow the warm-up (ends {end}), fewer than "
            f"min_days_after_warm_up={config.min_days_after_warm_up}"
        )
    return f"excluded: {window.start}..{end - timedelta(days=1)} are warming up; the window starts {end}"


def materialized_until(store: Any, views: list[str]) -> datetime | None:
    """The latest end of any materialization interval of `views` in the Feast registry, or None."""
    ends = [end for name in views for _, end in store.get_feature_view(name).materialization_intervals]
    return max(ends) if ends else None


@dg.asset(
    name=ONLINE_FEATURES,
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
    """Each entity's latest customer and merchant feature row in the Feast online store (SQLite or Redis).

    What the online vector is: for a customer, the `customer_features` row of the customer's *last
    materialized transaction* (features as of that transaction's time t_last, that transaction included);
    for a merchant, likewise. It is a lookup of entity state, NOT the model input of a new payment.
    Training rows, `model_inputs` and batch scoring hold features as of the *scored* transaction, that
    transaction included. For a payment arriving at time now > t_last the online vector misses it (its
    counts and sums lack the payment, `cust_distinct_merchants_7d` may lack its merchant), its windows
    end at t_last instead of now (older payments that left the window since are still counted),
    `cust_seconds_since_prev_txn` is the gap *before* t_last instead of now - t_last, the z-score compares
    the last payment (not the new one) with its history, and the merchant fraud rate lacks labels that
    arrived after t_last.

    A real-time scorer must therefore build the model input at request time: merge the current
    transaction into the entity's recent events (the last 30 days of a customer; a merchant's volume and
    the labels arrived in the last 30 days) and compute the features with the same functions
    (`compute_customer_features` / `compute_merchant_features`) as of the request, or, where only the
    online vector is at hand, roll it forward explicitly (add the payment to every window, recompute the
    gap as now - t_last) and accept the documented approximation for payments that left a window. The
    batch path (`model_inputs`) is the only path whose rows equal the training rows.

    Applies the feature repo (idempotent), then one `store.materialize(start, end)` for the run's window.
    Backfilling an older day after a newer one must not put older values online: SQLite's upsert has no
    timestamp guard, so when the store was already materialized past this window, the window is extended
    up to that point and Feast writes each entity's newest row in it (Redis also guards by timestamp).
    `entities_written` counts the entities with a feature row in the (extended) window: Feast writes one
    online row per such entity.
    """
    days = partition_days(context)
    for table in (CUSTOMER_TABLE, MERCHANT_TABLE):
        lakehouse.require_partitions(table, days)
    views = [CUSTOMER_FEATURE_VIEW, MERCHANT_FEATURE_VIEW]
    store = feast.apply()
    start, end = day_start(days[0]), day_start(days[-1] + timedelta(days=1))
    online_until = materialized_until(store, views)
    catch_up = online_until is not None and online_until > end
    if online_until is not None and catch_up:
        context.log.info(f"online store already holds data up to {online_until}: materializing up to there")
        end = online_until
    last_day = (end - timedelta(microseconds=1)).date()
    started = perf_counter()
    store.materialize(start, end, feature_views=views)
    seconds = perf_counter() - started

    rows, entities = {}, {}
    per_day: dict[date, dict[str, int]] = {day: {} for day in days}
    for table, key in ((CUSTOMER_TABLE, CUSTOMER_ID), (MERCHANT_TABLE, MERCHANT_ID)):
        scan = lakehouse.scan_range(table, start.date(), last_day + timedelta(days=1))
        frame = (
            pl.DataFrame(schema={key: pl.String, EVENT_TIMESTAMP: pl.Datetime("us", "UTC")})
            if scan is None
            else scan.select(key, EVENT_TIMESTAMP)
            .filter((pl.col(EVENT_TIMESTAMP) >= start) & (pl.col(EVENT_TIMESTAMP) < end))
            .collect()
        )
        rows[table] = frame.height
        entities[table] = frame[key].n_unique()
        daily = frame.group_by(pl.col(EVENT_TIMESTAMP).dt.date().alias("day")).agg(
            pl.len().alias("rows"), pl.col(key).n_unique().alias("entities")
        )
        for day, day_rows, day_entities in daily.iter_rows():
            if day in per_day:
                per_day[day] |= {f"{table}_rows": day_rows, f"{table}_entities": day_entities}
    # Each day's own part of the window: the feature rows it contributed and their entities.
    partitions_metadata(
        context,
        {
            day: {
                "dagster/row_count": counts.get(f"{CUSTOMER_TABLE}_entities", 0)
                + counts.get(f"{MERCHANT_TABLE}_entities", 0),
                "rows_read": {t: counts.get(f"{t}_rows", 0) for t in (CUSTOMER_TABLE, MERCHANT_TABLE)},
                "entities_with_rows": {
                    t: counts.get(f"{t}_entities", 0) for t in (CUSTOMER_TABLE, MERCHANT_TABLE)
                },
            }
            for day, counts in per_day.items()
        },
    )
    total_rows = sum(rows.values())
    return run_summary(
        context,
        days,
        {
            "online_store": feast.online_store_type,
            "feature_service": FEATURE_SERVICE_NAME,
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "extended_to_newer_materialization": catch_up,
            "partitions_in_run": len(days),
            "rows_read_in_run": rows,
            "entities_written": entities,
            "seconds": round(seconds, 3),
            "rows_per_second": round(total_rows / seconds, 1) if seconds > 0 else None,
        },
    )
