"""The `estimated_performance` check on `batch_predictions`: each day's expected quality, before labels.

For each scored day, the serving version's calibration (fitted on its validation window, stored on the
version) turns scores into fraud probabilities, and `estimation` derives the expected precision and
recall at the version's decision threshold and the expected PR AUC. The check fails when the expected PR
AUC falls more than `max_relative_drop` below the version's holdout PR AUC. Once a day's labels are
mature (`LABEL_MATURITY_DAYS`), its realized metrics are shown beside the estimate, with the gap.

It cannot see concept drift: the estimate assumes P(fraud | score) is what it was on the validation
window. When fraud changes shape, the estimate stays up while the realized PR AUC falls; the gap, once
labels mature, is the evidence (and the realized-performance check of the drift report is the alarm).
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import numpy as np
import polars as pl

from mlops_assets.defs.features.dataset import day_start, labelled_as_of
from mlops_assets.defs.monitoring.estimation import (
    PerformanceEstimate,
    estimate_performance,
    realized_performance,
)
from mlops_assets.defs.monitoring.predictions import SCORE_COLUMN
from mlops_assets.defs.training.calibration import Calibration
from mlops_assets.defs.training.registry import CALIBRATION_TAG, THRESHOLD_TAG
from mlops_assets.domain import IS_FRAUD, LABEL_MATURITY_DAYS
from mlops_assets.metadata import markdown_table
from mlops_assets.mlflow_resource import MlflowResource
from mlops_assets.partitions import daily_partitions, partition_days
from mlops_assets.resources import LakehouseResource
from mlops_assets.tables import PREDICTIONS_TABLE

ESTIMATED_PERFORMANCE_CHECK = "estimated_performance"
_DESCRIPTION = (
    "Label-free estimate of each day's precision, recall (at the decision threshold) and PR AUC from "
    "calibrated scores (confidence-based performance estimation; calibration fitted on the serving "
    "version's validation window), shown beside the realized metrics once labels mature. Fails when "
    "the expected PR AUC drops more than `max_relative_drop` below the version's holdout PR AUC. "
    "Limit: it cannot see concept drift (it assumes P(fraud | score) is unchanged); only realized "
    "metrics can."
)


class EstimatedPerformanceConfig(dg.Config):
    """How far the estimate may fall, and the instant labels are read as of (default: now)."""

    max_relative_drop: float = 0.3
    as_of: str | None = None  # ISO timestamp; a past instant reproduces what was known then


def _row(day: date, estimate: PerformanceEstimate, realized: PerformanceEstimate | None) -> dict:
    return {
        "day": day.isoformat(),
        "rows": estimate.rows,
        "expected_frauds": round(estimate.positives, 1),
        "estimated_precision": round(estimate.precision, 4),
        "estimated_recall": round(estimate.recall, 4),
        "estimated_pr_auc": round(estimate.pr_auc, 4),
        "realized_pr_auc": round(realized.pr_auc, 4) if realized else None,
        "gap": round(estimate.pr_auc - realized.pr_auc, 4) if realized else None,
    }


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            ESTIMATED_PERFORMANCE_CHECK,
            asset=PREDICTIONS_TABLE,
            partitions_def=daily_partitions,
            description=_DESCRIPTION,
        )
    ],
    can_subset=True,
)
def estimated_performance(
    context: dg.AssetCheckExecutionContext,
    config: EstimatedPerformanceConfig,
    lakehouse: LakehouseResource,
    mlflow: MlflowResource,
) -> Iterator[dg.AssetCheckResult]:
    """Estimate each scored day's quality without labels; show the realized value once labels mature."""
    as_of = datetime.fromisoformat(config.as_of) if config.as_of else datetime.now(UTC)
    client = mlflow.client()
    rows: list[dict] = []
    failing: list[str] = []
    reference = None
    for day in partition_days(context):  # type: ignore[arg-type]  # same partition window API
        scored = lakehouse.read_partition(PREDICTIONS_TABLE, day)
        if scored.is_empty():
            context.log.info(f"{day}: nothing scored, no estimate")
            continue
        name, version = scored.row(0, named=True)["model_name"], scored.row(0, named=True)["model_version"]
        scored = scored.filter((pl.col("model_name") == name) & (pl.col("model_version") == version))
        tags = client.get_model_version(name, version).tags
        if CALIBRATION_TAG not in tags:
            context.log.info(f"{day}: {name} v{version} carries no calibration (trained before it existed)")
            continue
        threshold = float(tags.get(THRESHOLD_TAG, "0.5"))
        reference = float(tags["holdout_pr_auc"])
        scores = scored.get_column(SCORE_COLUMN).to_numpy()
        estimate = estimate_performance(scores, Calibration.from_json(tags[CALIBRATION_TAG]), threshold)
        realized = None
        if day_start(day + timedelta(days=LABEL_MATURITY_DAYS + 1)) <= as_of:
            labelled = labelled_as_of(scored, as_of)
            if labelled.get_column(IS_FRAUD).n_unique() == 2:
                realized = realized_performance(
                    labelled.get_column(SCORE_COLUMN).to_numpy(),
                    labelled.get_column(IS_FRAUD).to_numpy().astype(np.float64),
                    threshold,
                )
        rows.append(_row(day, estimate, realized))
        if estimate.pr_auc < (1 - config.max_relative_drop) * reference:
            failing.append(day.isoformat())
    if not rows or reference is None:
        context.log.info("estimated_performance: no day could be estimated; the check is skipped")
        return
    table = pl.DataFrame(rows)
    worst = table.sort("estimated_pr_auc").row(0, named=True)
    yield dg.AssetCheckResult(
        asset_key=PREDICTIONS_TABLE,
        check_name=ESTIMATED_PERFORMANCE_CHECK,
        passed=not failing,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"estimated PR AUC {worst['estimated_pr_auc']:.4f} on {worst['day']} (worst day) vs holdout "
            f"{reference:.4f}; allowed drop {config.max_relative_drop:.0%}"
            + (f"; failing days: {', '.join(failing)}" if failing else "")
        ),
        metadata={
            "per_day": dg.MetadataValue.md(markdown_table(table, max_rows=400)),
            "estimated_pr_auc_worst": worst["estimated_pr_auc"],
            "reference_holdout_pr_auc": reference,
            "failing_days": failing,
            "limit": "cannot see concept drift: compare with realized_pr_auc once labels mature",
        },
    )
