"""`batch_predictions`: the champion scores each day's validated transactions, through `model_inputs`.

Scoring uses `model_inputs`, the very function `training_dataset` is built with, so training and serving
can never compute a feature differently. Each row carries the model name and version that scored it, so
monitoring can compare a day's scores with the same version's earlier days.
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from time import perf_counter
from typing import Any

import dagster as dg
import numpy as np
import polars as pl

from mlops_assets.defs.features.model_inputs import model_inputs
from mlops_assets.defs.training.data import feature_matrix
from mlops_assets.defs.training.lineage import SERVING_MODEL
from mlops_assets.defs.training.registry import THRESHOLD_TAG, LoadedModel, check_features, load_champion
from mlops_assets.domain import EVENT_TIMESTAMP, TRANSACTION_ID
from mlops_assets.feature_catalog import MODEL_FEATURES
from mlops_assets.metadata import (
    log_progress,
    markdown_table,
    partitions_metadata,
    preview,
    run_summary,
    table_schema,
)
from mlops_assets.mlflow_resource import MlflowResource
from mlops_assets.partitions import daily_partitions, partition_days
from mlops_assets.resources import LakehouseResource
from mlops_assets.tables import (
    CUSTOMER_TABLE,
    MERCHANT_TABLE,
    MODEL_PROMOTION,
    PREDICTIONS_TABLE,
    VALIDATED_TABLE,
)

SCORE_COLUMN = "score"
FLAG_COLUMN = "is_flagged"


class BatchPredictionsConfig(dg.Config):
    """Which registered model's champion scores: `fraud_detector`, the one the promotion gate maintains."""

    model_name: str = SERVING_MODEL


def score_inputs(
    inputs: pl.DataFrame, model: LoadedModel, current_features: Sequence[str], scored_at: datetime
) -> pl.DataFrame:
    """Score `model_inputs` rows with a loaded registry version; refuse a feature-list mismatch or NaN/inf.

    Output: the input columns, then `score` (P(fraud)), `is_flagged` (score >= the version's decision
    threshold), `model_name`, `model_version`, `scored_at`.
    """
    check_features(f"champion {model.name} v{model.version}", model.features, current_features)
    bad = {
        column: count
        for column in model.features
        if inputs.schema[column].is_float()
        and (count := int((inputs[column].is_nan() | inputs[column].is_infinite()).sum()))
    }
    if bad:
        raise ValueError(
            f"{PREDICTIONS_TABLE}: NaN or infinite feature values, refusing to score: "
            + ", ".join(f"{column}: {count} rows" for column, count in bad.items())
        )
    scores = (
        model.predict(feature_matrix(inputs, model.features)).astype(np.float64)
        if inputs.height
        else np.empty(0, dtype=np.float64)
    )
    threshold = float(model.tags.get(THRESHOLD_TAG, "0.5"))
    return inputs.with_columns(
        pl.Series(SCORE_COLUMN, scores, dtype=pl.Float64),
        (pl.Series(SCORE_COLUMN, scores, dtype=pl.Float64) >= threshold).alias(FLAG_COLUMN),
        pl.lit(model.name, dtype=pl.String).alias("model_name"),
        pl.lit(model.version, dtype=pl.String).alias("model_version"),
        pl.lit(scored_at, dtype=pl.Datetime("us", "UTC")).alias("scored_at"),
    )


def split_by_day(scored: pl.DataFrame, days: Sequence[date]) -> dict[date, pl.DataFrame]:
    """The rows of each of `days` by event day (an empty frame for a day without rows).

    A row whose event day is not one of `days` raises, naming the days: none can come from
    `model_inputs` over those days, and a silent drop would lose it.
    """
    event_day = pl.col(EVENT_TIMESTAMP).dt.date().alias("_event_day")
    groups = scored.with_columns(event_day).partition_by("_event_day", as_dict=True, maintain_order=True)
    by_day = {key[0]: frame.drop("_event_day") for key, frame in groups.items()}
    stray = sorted(set(by_day) - set(days))
    if stray:
        raise ValueError(
            f"{PREDICTIONS_TABLE}: scored rows with event days outside the run: "
            + ", ".join(f"{d}: {by_day[d].height} rows" for d in stray)
        )
    return {day: by_day.get(day, scored.clear()) for day in days}


@dg.asset(
    name=PREDICTIONS_TABLE,
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    # The feature tables are read through `model_inputs`: declared so one run orders them before scoring.
    deps=[VALIDATED_TABLE, CUSTOMER_TABLE, MERCHANT_TABLE, MODEL_PROMOTION],
    group_name="monitoring",
    kinds={"mlflow", "polars", "parquet"},
    tags={"stage": "monitoring"},
)
def batch_predictions(
    context: dg.AssetExecutionContext,
    config: BatchPredictionsConfig,
    lakehouse: LakehouseResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    """The champion's fraud score for every validated transaction of the day, one Parquet partition per day.

    Loads `models:/<model_name>@champion` once per run, builds each day's features with `model_inputs`
    (the training code path), and refuses to score if the champion was trained on a different feature
    list (naming the features that differ), or if there is no champion yet. Columns: the model inputs,
    `score`, `is_flagged` (at the threshold that reached 90 % precision on the holdout), `model_name`,
    `model_version`, `scored_at`.
    """
    started = perf_counter()
    mlflow.check_reachable()
    model = load_champion(mlflow.client(), config.model_name)
    days = partition_days(context)
    # One read, one join and one model call for the whole range, then one file per day: a per-day loop
    # paid the scan, join and predict overhead 60 times in a 60-day backfill.
    scored = score_inputs(
        model_inputs(lakehouse, days[0], days[-1] + timedelta(days=1)),
        model,
        MODEL_FEATURES,
        datetime.now(UTC),
    )
    by_day = split_by_day(scored, days)
    paths = lakehouse.write_partitions(PREDICTIONS_TABLE, {day: by_day[day] for day in days})
    per_day = []
    metadata_by_day: dict[date, dict[str, Any]] = {}
    for done, day in enumerate(days, 1):
        frame = by_day[day]
        summary = {
            "rows": frame.height,
            "mean_score": round(float(frame[SCORE_COLUMN].to_numpy().mean()), 5) if frame.height else None,
            "flagged": int(frame[FLAG_COLUMN].sum()),
        }
        per_day.append({"day": day.isoformat(), **summary})
        metadata_by_day[day] = {
            "dagster/row_count": summary["rows"],
            "mean_score": summary["mean_score"],
            "flagged": summary["flagged"],
            # Which model scored the day: each day's own, not only the run's summary.
            "model_name": model.name,
            "model_version": model.version,
            "path": dg.MetadataValue.path(str(paths[day])),
        }
        log_progress(
            context.log,
            PREDICTIONS_TABLE,
            done,
            len(days),
            started,
            f"scored by {model.name} v{model.version}",
        )
    partitions_metadata(context, metadata_by_day)
    return run_summary(
        context,
        days,
        {
            "dagster/column_schema": table_schema(scored),
            "partitions_in_run": len(per_day),
            "model_uri": f"models:/{model.name}@champion (v{model.version})",
            "per_partition": dg.MetadataValue.md(markdown_table(pl.DataFrame(per_day), max_rows=400)),
            "seconds_in_run": round(perf_counter() - started, 3),
            "preview": preview(
                scored.select(
                    TRANSACTION_ID, EVENT_TIMESTAMP, SCORE_COLUMN, FLAG_COLUMN, "model_version"
                ).sort(SCORE_COLUMN, descending=True)
            ),
        },
    )
