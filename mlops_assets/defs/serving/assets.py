"""The online loop closed: the prediction log becomes `serving_log`, and `shadow_comparison` follows.

`serving_log` ingests the service's prediction log; `shadow_comparison` judges the challenger on served
traffic; the checks hold serving to batch (parity) and to the training data (drift on served traffic).
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
import polars as pl

from mlops_assets.defs.monitoring.config import DriftReportConfig
from mlops_assets.defs.monitoring.drift import ReferenceWindowError, compare_to_reference, summarize
from mlops_assets.defs.monitoring.predictions import SCORE_COLUMN
from mlops_assets.defs.monitoring.reference import load_reference
from mlops_assets.defs.monitoring.report import day_check_evaluations
from mlops_assets.defs.monitoring.verdicts import DayDrift, Verdict, judge_feature_drift
from mlops_assets.defs.serving.comparison import (
    BOOTSTRAP_SAMPLES,
    mature_labels,
    paired_pr_auc_difference,
    summarize_shadow,
)
from mlops_assets.defs.serving.contract import (
    CHALLENGER_SCORE,
    CHAMPION_SCORE,
    EXACT_FEATURES,
    read_log_files,
)
from mlops_assets.defs.serving.parity import feature_parity, score_parity
from mlops_assets.domain import IS_FRAUD, LABEL_MATURITY_DAYS, TRANSACTION_ID
from mlops_assets.feature_catalog import MODEL_FEATURES
from mlops_assets.metadata import (
    CheckTargets,
    check_outputs,
    markdown_table,
    partitions_metadata,
    preview,
    run_summary,
    table_schema,
)
from mlops_assets.mlflow_resource import MlflowResource
from mlops_assets.partitions import daily_partitions, partition_days
from mlops_assets.resources import LakehouseResource, PredictionLogResource
from mlops_assets.tables import (
    PREDICTIONS_TABLE,
    SERVING_LOG_TABLE,
    SHADOW_COMPARISON_TABLE,
    VALIDATED_TABLE,
)

GROUP = "serving"
PARITY_CHECK = "serving_parity"
SERVED_DRIFT_CHECK = "served_feature_drift"
SHADOW_COVERAGE_CHECK = "shadow_coverage"
CHALLENGER_CHECK = "challenger_pr_auc"
MAX_DRIFT_SHARE = 0.3


def day_checks(
    context: dg.AssetExecutionContext,
    asset: str,
    check: str,
    verdicts: dict[date, Verdict],
    severity: dg.AssetCheckSeverity,
) -> Iterator[dg.AssetCheckEvaluation]:
    """One result per judged day of a (possibly ranged) run; the days with nothing to judge are logged."""
    skipped = {day: v.reason for day, v in verdicts.items() if v.status == "skipped"}
    if skipped:
        first = min(skipped)
        context.log.info(
            f"{asset} {check}: {len(skipped)} days not judged (first, {first}: {skipped[first]})"
        )
    yield from day_check_evaluations(
        CheckTargets.lookup(context, asset, list(verdicts)), check, verdicts, severity
    )


def parity_verdict(served: pl.DataFrame, batch: pl.DataFrame | None) -> Verdict:
    """Fail when a feature the service claims exact differs from batch for any transaction both scored."""
    if batch is None:
        return Verdict("skipped", f"no {PREDICTIONS_TABLE} partition for this day yet")
    if served.height == 0:
        return Verdict("skipped", "nothing was served this day")
    table = feature_parity(served, batch, MODEL_FEATURES, EXACT_FEATURES)
    paired = int(table["rows"].max() or 0)  # type: ignore[arg-type]
    if paired == 0:
        return Verdict("skipped", f"no served transaction is in {PREDICTIONS_TABLE} of this day")
    exact = table.filter(pl.col("claimed_exact"))
    bad = exact.filter(pl.col("mismatches") > 0)
    same_version = served.join(batch.select(TRANSACTION_ID, "model_version"), on=TRANSACTION_ID).filter(
        pl.col("champion_version") == pl.col("model_version")
    )
    scores = score_parity(same_version, batch, CHAMPION_SCORE, SCORE_COLUMN)
    metadata: dict[str, object] = {
        "transactions_compared": paired,
        "exact_features_mismatched": int(bad.height),
        "approximate_features": dg.MetadataValue.md(
            markdown_table(table.filter(~pl.col("claimed_exact")), max_rows=20)
        ),
        "score_mismatches_same_version": scores["mismatches"],
        "score_max_abs_error_same_version": round(float(scores["max_abs_error"]), 6),
    }
    if bad.height:
        worst = bad.sort("mismatches", descending=True).row(0, named=True)
        return Verdict(
            "fail",
            f"{bad.height} features claimed exact differ from batch_predictions; worst: {worst['feature']} "
            f"in {worst['mismatches']} of {paired} transactions (max error {worst['max_abs_error']})",
            (),
            metadata | {"mismatched": dg.MetadataValue.md(markdown_table(bad, max_rows=30))},
        )
    return Verdict(
        "pass", f"all {exact.height} exact features equal batch for {paired} transactions", (), metadata
    )


def served_drift_verdict(
    served: pl.DataFrame, lakehouse: LakehouseResource, mlflow: MlflowResource, day: str
) -> Verdict:
    """The served traffic's inputs against the champion's training data (the batch drift check's rule)."""
    if served.height == 0:
        return Verdict("skipped", "nothing was served this day")
    top = served.group_by("champion_model", "champion_version").len().sort("len", descending=True).row(0)
    config = DriftReportConfig(max_drift_share=MAX_DRIFT_SHARE)
    try:
        reference = load_reference(
            lakehouse,
            mlflow,
            (str(top[0]), str(top[1])),
            config.drift_config(),
            # The whole training window, as before the warm-up rule: whether served traffic should be
            # judged against warm-up days is the serving check's owner's call (left unchanged here).
            None,
        )
    except ReferenceWindowError as exc:
        return judge_feature_drift([], MAX_DRIFT_SHARE, str(exc))
    summary = summarize(compare_to_reference(reference.profile, served, config.drift_config()))
    skipped = None if summary.evaluated else "; ".join(sorted(set(summary.skipped.values())))
    return judge_feature_drift(
        [DayDrift(day, summary.evaluated, summary.drifted, summary.drift_share, skipped)],
        MAX_DRIFT_SHARE,
        None,
    )


def _percentiles(values: pl.Series) -> dict[str, float | None]:
    if values.len() == 0:
        return {"p50": None, "p95": None, "p99": None}
    return {f"p{q}": round(float(values.quantile(q / 100)), 3) for q in (50, 95, 99)}  # type: ignore[arg-type]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            SERVING_LOG_TABLE,
            description="""The scoring service's prediction log of one day, as a lakehouse table.

Every request and response: the transaction, its online features, the champion's and the challenger's
scores, versions and decisions, the latency and the request id. Read from the service's micro-batch files
(`$MLOPS_DATA_DIR/serving/prediction_log/<day>/`), written atomically as `serving_log/date=<day>/`.
Checks: the features the service claims exact equal `batch_predictions` (training-serving parity), and
the served inputs do not drift from the champion's training data.""",
            group_name=GROUP,
            kinds={"polars", "parquet"},
            tags={"stage": "serving"},
        )
    ],
    check_specs=[
        dg.AssetCheckSpec(
            PARITY_CHECK,
            asset=SERVING_LOG_TABLE,
            additional_deps=[PREDICTIONS_TABLE],
            description="Features the service claims exact equal batch_predictions' for every transaction "
            "both scored (skipped until batch_predictions has the day).",
            partitions_def=daily_partitions,
        ),
        dg.AssetCheckSpec(
            SERVED_DRIFT_CHECK,
            asset=SERVING_LOG_TABLE,
            description=f"At most {MAX_DRIFT_SHARE:.0%} of the served inputs drift from the champion's "
            "training data (the batch feature_drift rule, on served traffic).",
            partitions_def=daily_partitions,
        ),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    # Subsettable so that a check with nothing to judge can be left out (recorded as skipped).
    can_subset=True,
)
def serving_log(
    context: dg.AssetExecutionContext,
    prediction_log: PredictionLogResource,
    lakehouse: LakehouseResource,
    mlflow: MlflowResource,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output]:
    """Ingest the run's days of the prediction log; check parity with batch and drift of served traffic."""
    days = partition_days(context)
    names = {key.name for key in context.selected_asset_check_keys}
    per_day = []
    parity: dict[date, Verdict] = {}
    drift: dict[date, Verdict] = {}
    # Every day's log files are read before any partition is written: a file that cannot be read fails
    # the run with no day rewritten. The days are then written together.
    files_by_day = {day: prediction_log.day_files(day) for day in days}
    served_by_day = {day: read_log_files(files) for day, files in files_by_day.items()}
    paths = lakehouse.write_partitions(SERVING_LOG_TABLE, served_by_day)
    metadata_by_day: dict[date, dict[str, Any]] = {}
    for day, served in served_by_day.items():
        summary = {
            "rows": served.height,
            "batch_files": len(files_by_day[day]),
            "shadow_scored": served.filter(pl.col(CHALLENGER_SCORE).is_not_null()).height,
            "shadow_errors": int(served["shadow_error"].is_not_null().sum()),
            "cold_starts": int((served["cold_start"].fill_null("") != "").sum()),
            "flagged": int(served["champion_flagged"].sum()),
        }
        latency = _percentiles(served["latency_ms"])
        per_day.append(
            {"day": day.isoformat(), **summary, **{f"latency_{k}_ms": v for k, v in latency.items()}}
        )
        metadata_by_day[day] = {
            "dagster/row_count": served.height,
            **{k: v for k, v in summary.items() if k != "rows"},
            "latency_ms": latency,
            "path": dg.MetadataValue.path(str(paths[day])),
        }
        if PARITY_CHECK in names:
            batch_path = lakehouse.partition_path(PREDICTIONS_TABLE, day)
            batch = pl.read_parquet(batch_path) if batch_path.exists() else None
            parity[day] = parity_verdict(served, batch)
        if SERVED_DRIFT_CHECK in names:
            drift[day] = served_drift_verdict(served, lakehouse, mlflow, day.isoformat())
    partitions_metadata(context, metadata_by_day, SERVING_LOG_TABLE)
    combined = pl.concat(served_by_day.values())
    versions = (
        combined.group_by("champion_model", "champion_version", "challenger_version")
        .len()
        .sort("len", descending=True)
    )
    table = pl.DataFrame(per_day)
    # About the run; each day's own rows, counts, latency and path are its partition's metadata.
    yield run_summary(
        context,
        days,
        {
            "dagster/column_schema": table_schema(combined),
            "partitions_in_run": len(days),
            "rows_in_run": combined.height,
            "per_partition": dg.MetadataValue.md(markdown_table(table, max_rows=400)),
            "versions": dg.MetadataValue.md(markdown_table(versions, max_rows=20)),
            "preview": preview(
                combined.select("request_id", TRANSACTION_ID, CHAMPION_SCORE, CHALLENGER_SCORE)
            ),
        },
        SERVING_LOG_TABLE,
    )
    yield from check_outputs(context)
    if PARITY_CHECK in names:
        yield from day_checks(context, SERVING_LOG_TABLE, PARITY_CHECK, parity, dg.AssetCheckSeverity.ERROR)
    if SERVED_DRIFT_CHECK in names:
        yield from day_checks(
            context, SERVING_LOG_TABLE, SERVED_DRIFT_CHECK, drift, dg.AssetCheckSeverity.WARN
        )


class ShadowComparisonConfig(dg.Config):
    """When labels count as mature, and how the challenger is judged."""

    as_of: str | None = None
    """Judge label availability as of this ISO 8601 instant (UTC if naive); default: now."""
    label_maturity_days: int = LABEL_MATURITY_DAYS
    max_shadow_error_share: float = 0.01
    """shadow_coverage fails when more than this share of requests with a challenger lack its score."""
    bootstrap_samples: int = BOOTSTRAP_SAMPLES

    def as_of_time(self) -> datetime:
        """`as_of` as an aware UTC datetime (now when unset)."""
        if self.as_of is None:
            return datetime.now(UTC)
        parsed = datetime.fromisoformat(self.as_of)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            SHADOW_COMPARISON_TABLE,
            deps=[SERVING_LOG_TABLE],
            description="""The challenger against the champion on one day of served traffic.

Agreement (share of requests with the same decision), Pearson correlation of the scores, decision flips
both ways, and, once the day's labels are mature, the paired difference in PR AUC (challenger minus
champion) with a bootstrap confidence interval on the same transactions.""",
            group_name=GROUP,
            kinds={"polars", "parquet"},
            tags={"stage": "serving"},
        )
    ],
    check_specs=[
        dg.AssetCheckSpec(
            SHADOW_COVERAGE_CHECK,
            asset=SHADOW_COMPARISON_TABLE,
            description="Every request served while a challenger existed got its shadow score "
            "(failures at most `max_shadow_error_share`).",
            partitions_def=daily_partitions,
        ),
        dg.AssetCheckSpec(
            CHALLENGER_CHECK,
            asset=SHADOW_COMPARISON_TABLE,
            additional_deps=[VALIDATED_TABLE],
            description="The challenger is not significantly worse than the champion: the bootstrap CI of "
            "the paired PR AUC difference does not lie below 0 (skipped until labels are mature).",
            partitions_def=daily_partitions,
        ),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    # Subsettable so that a check with nothing to judge can be left out (recorded as skipped).
    can_subset=True,
)
def shadow_comparison(
    context: dg.AssetExecutionContext,
    config: ShadowComparisonConfig,
    lakehouse: LakehouseResource,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output]:
    """Compare champion and challenger on each day's served traffic; the paired PR AUC once labels mature."""
    as_of = config.as_of_time()
    rows: list[dict[str, object]] = []
    coverage: dict[date, Verdict] = {}
    challenger: dict[date, Verdict] = {}
    days = partition_days(context)
    versions_by_day: dict[date, set[str]] = {}
    for day in days:
        row, coverage[day], challenger[day], versions_by_day[day] = _compare_day(
            lakehouse, config, day, as_of
        )
        rows.append(row)
    paths = lakehouse.write_partitions(
        SHADOW_COMPARISON_TABLE, {day: pl.DataFrame([row]) for day, row in zip(days, rows, strict=True)}
    )
    partitions_metadata(
        context,
        {
            day: {
                "dagster/row_count": 1,
                **{k: v for k, v in row.items() if k != "day" and isinstance(v, int | float | str)},
                "challenger_versions": sorted(versions_by_day[day]),
                "path": dg.MetadataValue.path(str(paths[day])),
            }
            for day, row in zip(days, rows, strict=True)
        },
        SHADOW_COMPARISON_TABLE,
    )
    table = pl.DataFrame(rows)
    yield run_summary(
        context,
        days,
        {
            "partitions_in_run": len(days),
            "as_of": as_of.isoformat(timespec="seconds"),
            "per_partition": dg.MetadataValue.md(markdown_table(table, max_rows=400)),
            "challenger_versions_in_run": sorted(set().union(*versions_by_day.values())),
        },
        SHADOW_COMPARISON_TABLE,
    )
    names = {key.name for key in context.selected_asset_check_keys}
    yield from check_outputs(context)
    if SHADOW_COVERAGE_CHECK in names:
        yield from day_checks(
            context, SHADOW_COMPARISON_TABLE, SHADOW_COVERAGE_CHECK, coverage, dg.AssetCheckSeverity.ERROR
        )
    if CHALLENGER_CHECK in names:
        yield from day_checks(
            context, SHADOW_COMPARISON_TABLE, CHALLENGER_CHECK, challenger, dg.AssetCheckSeverity.WARN
        )


def _compare_day(
    lakehouse: LakehouseResource, config: ShadowComparisonConfig, day: date, as_of: datetime
) -> tuple[dict[str, object], Verdict, Verdict, set[str]]:
    """One day's comparison row, its coverage and challenger verdicts, and the challenger versions seen."""
    served = lakehouse.read_partition(SERVING_LOG_TABLE, day)
    summary = summarize_shadow(served)
    validated_path = lakehouse.partition_path(VALIDATED_TABLE, day)
    validated = pl.read_parquet(validated_path) if validated_path.exists() else None
    labelled, label_status = mature_labels(served, validated, day, as_of, config.label_maturity_days)
    difference = None
    if labelled is not None:
        difference = paired_pr_auc_difference(
            labelled[IS_FRAUD].to_numpy(),
            labelled[CHAMPION_SCORE].to_numpy(),
            labelled[CHALLENGER_SCORE].to_numpy(),
            samples=config.bootstrap_samples,
        )
    row: dict[str, object] = {
        "day": day,
        **summary.metadata(),
        "label_status": label_status,
        "pr_auc_difference": None if difference is None else difference.difference,
        "ci_low": None if difference is None else difference.low,
        "ci_high": None if difference is None else difference.high,
        "labelled_rows": None if difference is None else difference.rows,
    }
    attempted = summary.shadow_scored + summary.shadow_errors
    if attempted == 0:
        coverage = Verdict("skipped", "no challenger served this day")
    else:
        share = summary.shadow_errors / attempted
        coverage = Verdict(
            "pass" if share <= config.max_shadow_error_share else "fail",
            f"{summary.shadow_errors} of {attempted} shadow scorings failed ({share:.1%}; "
            f"threshold {config.max_shadow_error_share:.1%})",
            (),
            {"shadow_error_share": round(share, 4)},
        )
    if difference is None:
        challenger = Verdict("skipped", label_status)
    else:
        text = (
            f"PR AUC challenger - champion = {difference.difference:+.4f}, {difference.level:.0%} CI "
            f"[{difference.low:+.4f}, {difference.high:+.4f}] on {difference.rows} labelled rows "
            f"({difference.positives} frauds)"
        )
        worse = difference.high < 0
        challenger = Verdict(
            "fail" if worse else "pass",
            ("challenger significantly worse: " if worse else "") + text,
            (),
            {"difference": difference.difference, "ci_low": difference.low, "ci_high": difference.high},
        )
    versions = {str(v) for v in served["challenger_version"].drop_nulls().unique().to_list()}
    return row, coverage, challenger, versions
