"""`drift_report`: per day, drift of every model input and of the scores, and PR AUC once labels arrive.

One op computes the statistics once and carries three checks, so a single-run backfill profiles the
reference once and each day costs one pass over its rows:
- `feature_drift`: share of drifted model inputs against the reference (the champion's training data,
  i.e. the `training_dataset` table) above `max_drift_share` fails (severity configurable);
- `prediction_drift`: PSI of the day's scores against the same model version's trailing days (WARN);
- `model_performance`: PR AUC over the trailing labelled window against the model's holdout PR AUC
  (from MLflow) minus a tolerance; `pending` until enough labels have arrived.
A check with nothing to judge (reference empty or too small, labels pending) is not emitted: Dagster
records it as SKIPPED, and the reason is in the run log and in this asset's metadata.
"""

import json
from datetime import UTC, date, datetime, timedelta
from time import perf_counter
from typing import Any

import dagster as dg
import polars as pl

from mlops_assets.defs.features.catalog import MODEL_FEATURES
from mlops_assets.defs.monitoring.drift import (
    DriftConfig,
    ReferenceProfile,
    ReferenceWindowError,
    compare_to_reference,
    profile_reference,
    summarize,
)
from mlops_assets.defs.monitoring.performance import (
    PerformanceConfig,
    PerformanceResult,
    evaluate_performance,
)
from mlops_assets.defs.monitoring.predictions import PREDICTIONS_TABLE, SCORE_COLUMN
from mlops_assets.defs.monitoring.verdicts import (
    DayDrift,
    DayScoreDrift,
    Verdict,
    judge_feature_drift,
    judge_performance,
    judge_prediction_drift,
    judge_volume,
)
from mlops_assets.defs.training.mlflow_resource import MlflowResource
from mlops_assets.defs.validation.quality import TRAILING_DAYS, VolumeVerdict, volume_verdict
from mlops_assets.metadata import markdown_table
from mlops_assets.partitions import daily_partitions, partition_days
from mlops_assets.resources import LakehouseResource, ReportsResource

DRIFT_REPORT = "drift_report"
TRAINING_TABLE = "training_dataset"
MODEL_NAME_COLUMN = "model_name"
MODEL_VERSION_COLUMN = "model_version"

# Model inputs plus the raw columns they derive from: a new country shows here before in any feature.
NUMERIC_MONITORED: tuple[str, ...] = (*MODEL_FEATURES, "amount_eur")
CATEGORICAL_MONITORED: tuple[str, ...] = ("merchant_category", "country", "device")

FEATURE_DRIFT_CHECK = "feature_drift"
PREDICTION_DRIFT_CHECK = "prediction_drift"
PERFORMANCE_CHECK = "model_performance"
VOLUME_CHECK = "scored_volume"
DRIFT_REPORT_KEY = dg.AssetKey(DRIFT_REPORT)
CHECK_KEYS = {
    name: dg.AssetCheckKey(DRIFT_REPORT_KEY, name)
    for name in (FEATURE_DRIFT_CHECK, PREDICTION_DRIFT_CHECK, PERFORMANCE_CHECK, VOLUME_CHECK)
}


class DriftReportConfig(dg.Config):
    """Thresholds of the drift and performance checks (defaults suit the daily run)."""

    as_of: str | None = None
    """Judge label availability as of this ISO 8601 instant (UTC if naive); default: now."""
    max_drift_share: float = 0.3
    """feature_drift fails when more than this share of features drifted on a day."""
    drift_severity: str = "ERROR"
    """Severity of a failed feature_drift: ERROR or WARN."""
    numeric_method: str = "psi"
    """psi or ks."""
    categorical_method: str = "jensenshannon"
    """jensenshannon, chisquare or psi."""
    psi_threshold: float = 0.2
    ks_threshold: float = 0.1
    js_threshold: float = 0.1
    min_reference_rows: int = 200
    min_partition_rows: int = 30
    score_history_days: int = 7
    """prediction_drift compares a day's scores with this many days before it (same model version)."""
    performance_window_days: int = 14
    performance_tolerance: float = 0.1
    """model_performance fails when PR AUC is more than this below the model's holdout PR AUC."""
    min_label_coverage: float = 0.9
    min_positives: int = 10
    evidently_reference_rows: int = 5_000
    """Evidently sees at most this many reference rows (it is slow; the checks use our statistics)."""
    evidently_max_days: int = 31
    """Evidently HTML for the last N days of a run only (2-5 s a day); every day gets statistics JSON."""

    def drift_config(self) -> DriftConfig:
        """The statistics' configuration."""
        return DriftConfig(
            numeric_method=self.numeric_method,  # type: ignore[arg-type]
            categorical_method=self.categorical_method,  # type: ignore[arg-type]
            psi_threshold=self.psi_threshold,
            ks_threshold=self.ks_threshold,
            js_threshold=self.js_threshold,
            min_reference_rows=self.min_reference_rows,
            min_current_rows=self.min_partition_rows,
        )

    def performance_config(self) -> PerformanceConfig:
        """The performance evaluation's configuration."""
        return PerformanceConfig(
            window_days=self.performance_window_days,
            min_label_coverage=self.min_label_coverage,
            min_positives=self.min_positives,
            tolerance=self.performance_tolerance,
        )

    def as_of_time(self) -> datetime:
        """The evaluation instant, timezone-aware."""
        if not self.as_of:
            return datetime.now(UTC)
        parsed = datetime.fromisoformat(self.as_of)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def severity(self) -> dg.AssetCheckSeverity:
        """The configured severity, named in the error if unknown."""
        try:
            return dg.AssetCheckSeverity(self.drift_severity.upper())
        except ValueError as exc:
            raise ValueError(f"drift_severity {self.drift_severity!r}: expected ERROR or WARN") from exc


def _read_days(lakehouse: LakehouseResource, table: str, start: date, end: date) -> pl.DataFrame | None:
    scan = lakehouse.scan_range(table, start, end)
    return None if scan is None else scan.collect()


def load_reference(
    lakehouse: LakehouseResource, config: DriftReportConfig
) -> tuple[pl.DataFrame, ReferenceProfile]:
    """The training data and its profile; `ReferenceWindowError` if missing, empty or too small."""
    path = lakehouse.table_path(TRAINING_TABLE)
    if not path.exists():
        raise ReferenceWindowError(f"table {TRAINING_TABLE} has no file at {path}; materialize it first")
    reference = lakehouse.read_table(TRAINING_TABLE)
    profile = profile_reference(reference, NUMERIC_MONITORED, CATEGORICAL_MONITORED, config.drift_config())
    return reference, profile


def model_baseline(mlflow: MlflowResource, name: str, version: str) -> float | None:
    """The holdout PR AUC MLflow recorded for the model version that scored the rows (None if unknown)."""
    try:
        client = mlflow.client()
        run_id = client.get_model_version(name, version).run_id
        if run_id is None:
            return None
        value = client.get_run(run_id).data.metrics.get("holdout_pr_auc")
    except Exception:
        return None
    return None if value is None else float(value)


def _main_version(frame: pl.DataFrame) -> tuple[str, str] | None:
    if frame.height == 0 or MODEL_VERSION_COLUMN not in frame.columns:
        return None
    top = frame.group_by(MODEL_NAME_COLUMN, MODEL_VERSION_COLUMN).len().sort("len", descending=True).row(0)
    return str(top[0]), str(top[1])


def _same_version(frame: pl.DataFrame | None, version: tuple[str, str]) -> pl.DataFrame:
    if frame is None:
        return pl.DataFrame()
    return frame.filter(
        (pl.col(MODEL_NAME_COLUMN).cast(pl.String) == version[0])
        & (pl.col(MODEL_VERSION_COLUMN).cast(pl.String) == version[1])
    )


def score_drift(history: pl.DataFrame, scores: pl.DataFrame, day: str, config: DriftConfig) -> DayScoreDrift:
    """PSI of the day's scores against the trailing days' scores of the same model version."""
    try:
        profile = profile_reference(history, [SCORE_COLUMN], [], config)
    except ReferenceWindowError as exc:
        return DayScoreDrift(day, None, f"score history: {exc}")
    row = compare_to_reference(profile, scores.select(SCORE_COLUMN), config).row(0, named=True)
    if row["psi"] is None:
        return DayScoreDrift(day, None, row["reason"])
    return DayScoreDrift(day, float(row["psi"]))


def _verdict_result(check: str, verdict: Verdict, severity: dg.AssetCheckSeverity) -> dg.AssetCheckResult:
    # Plain values as they are; nested mappings as JSON (the UI renders both).
    metadata: dict[str, Any] = {"reason": verdict.reason, "failing_days": list(verdict.failing_days)}
    metadata.update(
        {k: dg.MetadataValue.json(v) if isinstance(v, dict) else v for k, v in verdict.metadata.items()}
    )
    return dg.AssetCheckResult(
        asset_key=DRIFT_REPORT_KEY,
        check_name=check,
        passed=verdict.passed,
        severity=severity,
        description=verdict.reason,
        metadata=metadata,
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            DRIFT_REPORT,
            deps=[PREDICTIONS_TABLE, TRAINING_TABLE],
            description=__doc__,
            group_name="monitoring",
            kinds={"evidently", "polars", "html"},
            tags={"stage": "monitoring"},
        )
    ],
    check_specs=[
        dg.AssetCheckSpec(
            FEATURE_DRIFT_CHECK,
            asset=DRIFT_REPORT,
            description="Share of drifted model inputs vs the training data stays under the threshold.",
        ),
        dg.AssetCheckSpec(
            PREDICTION_DRIFT_CHECK,
            asset=DRIFT_REPORT,
            description="The score distribution's PSI vs the same model's trailing days stays < 0.2.",
        ),
        dg.AssetCheckSpec(
            PERFORMANCE_CHECK,
            asset=DRIFT_REPORT,
            description="PR AUC on labelled rows stays within tolerance of the model's holdout PR AUC; "
            "skipped (pending) until the labels have arrived.",
        ),
        dg.AssetCheckSpec(
            VOLUME_CHECK,
            asset=DRIFT_REPORT,
            description=f"Rows scored per day within 0.5x-2x the median of the {TRAILING_DAYS} days before.",
        ),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    # Subsettable so that a check with nothing to judge can be left out (recorded as SKIPPED).
    can_subset=True,
)
def drift_report(
    context: dg.AssetExecutionContext,
    config: DriftReportConfig,
    lakehouse: LakehouseResource,
    reports: ReportsResource,
    mlflow: MlflowResource,
):
    """Evidently drift report (HTML + JSON) per day, our own drift statistics, and the monitoring checks."""
    from mlops_assets.defs.monitoring.evidently_report import write_drift_report

    started = perf_counter()
    days = partition_days(context)
    as_of = config.as_of_time()
    drift_config = config.drift_config()
    severity = config.severity()
    try:
        reference, profile = load_reference(lakehouse, config)
        reference_error = None
    except ReferenceWindowError as exc:
        reference, profile, reference_error = None, None, str(exc)
        context.log.warning(f"drift judged for no day: {reference_error}")

    history_start = days[0] - timedelta(days=max(config.score_history_days, config.performance_window_days))
    scored_all = _read_days(lakehouse, PREDICTIONS_TABLE, history_start, days[-1] + timedelta(days=1))
    baselines: dict[tuple[str, str], float | None] = {}
    day_drifts: list[DayDrift] = []
    score_drifts: list[DayScoreDrift] = []
    performance: list[tuple[str, PerformanceResult]] = []
    volumes: list[tuple[str, VolumeVerdict]] = []
    summary_rows: list[dict[str, object]] = []
    drifted_tables: list[pl.DataFrame] = []
    report_paths: dict[str, str] = {}
    seconds_stats = seconds_evidently = 0.0

    for day in days:
        key = day.isoformat()
        current = lakehouse.read_partition(PREDICTIONS_TABLE, day)
        tick = perf_counter()
        if profile is not None:
            table = compare_to_reference(profile, current, drift_config)
            summary = summarize(table)
            skipped = None if summary.evaluated else "; ".join(sorted(set(summary.skipped.values())))
            day_drifts.append(DayDrift(key, summary.evaluated, summary.drifted, summary.drift_share, skipped))
            drifted_tables.append(
                table.filter(pl.col("drifted")).select(
                    pl.lit(key).alias("day"),
                    "feature",
                    "kind",
                    "method",
                    pl.col("score").round(4),
                    "threshold",
                    "reason",
                )
            )
        else:
            summary = None
            day_drifts.append(DayDrift(key, 0, (), 0.0, reference_error))

        trailing = [
            n
            for i in range(1, TRAILING_DAYS + 1)
            if (n := lakehouse.read_partition_row_count(PREDICTIONS_TABLE, day - timedelta(days=i)))
            is not None
        ]
        volumes.append((key, volume_verdict(current.height, trailing)))
        version = _main_version(current)
        if version is None:
            score_drifts.append(DayScoreDrift(key, None, "no scored rows"))
            performance.append(
                (key, evaluate_performance(current, as_of, SCORE_COLUMN, None, config.performance_config()))
            )
        else:
            assert scored_all is not None
            event_day = pl.col("event_timestamp").dt.date()
            history = _same_version(scored_all, version).filter(
                (event_day >= day - timedelta(days=config.score_history_days)) & (event_day < day)
            )
            score_drifts.append(score_drift(history, _same_version(current, version), key, drift_config))
            window = _same_version(scored_all, version).filter(
                (event_day > day - timedelta(days=config.performance_window_days)) & (event_day <= day)
            )
            if version not in baselines:
                baselines[version] = model_baseline(mlflow, *version)
            performance.append(
                (
                    key,
                    evaluate_performance(
                        window, as_of, SCORE_COLUMN, baselines[version], config.performance_config()
                    ),
                )
            )
        seconds_stats += perf_counter() - tick

        html = None
        statistics_path = reports.report_path(DRIFT_REPORT, day, ".statistics.json")
        statistics_path.write_text(
            json.dumps(
                {
                    "day": key,
                    "as_of": as_of.isoformat(),
                    "reference_status": reference_error or "ok",
                    "features": table.to_dicts() if profile is not None else [],
                    "score_drift": score_drifts[-1].__dict__,
                    "performance": performance[-1][1].metadata(),
                },
                indent=1,
                default=str,
            )
        )
        with_evidently = (
            day in days[len(days) - config.evidently_max_days :] if config.evidently_max_days else False
        )
        if reference is not None and current.height and with_evidently:
            tick = perf_counter()
            result = write_drift_report(
                reference,
                current,
                NUMERIC_MONITORED,
                CATEGORICAL_MONITORED,
                reports.report_path(DRIFT_REPORT, day),
                drift_share=config.max_drift_share,
                reference_sample_rows=config.evidently_reference_rows,
            )
            seconds_evidently += perf_counter() - tick
            html = str(result.html_path)
            report_paths[key] = html
        perf = performance[-1][1]
        summary_rows.append(
            {
                "day": key,
                "rows": current.height,
                "features_evaluated": summary.evaluated if summary else 0,
                "features_drifted": len(summary.drifted) if summary else 0,
                "drift_share": round(summary.drift_share, 3) if summary else None,
                "score_psi": None if score_drifts[-1].psi is None else round(score_drifts[-1].psi, 4),
                "performance": perf.status,
                "pr_auc": perf.pr_auc,
                "label_coverage": round(perf.label_coverage, 3),
                "report": html,
                "statistics": str(statistics_path),
            }
        )

    verdicts = {
        FEATURE_DRIFT_CHECK: judge_feature_drift(day_drifts, config.max_drift_share, reference_error),
        PREDICTION_DRIFT_CHECK: judge_prediction_drift(score_drifts, config.psi_threshold),
        PERFORMANCE_CHECK: judge_performance(performance),
        VOLUME_CHECK: judge_volume(volumes),
    }
    per_day = pl.DataFrame(summary_rows)
    drifted = pl.concat(drifted_tables) if drifted_tables else pl.DataFrame()
    last_html = report_paths.get(days[-1].isoformat())
    metadata: dict[str, Any] = {
        "partitions": len(days),
        "as_of": as_of.isoformat(timespec="seconds"),
        "reference_rows": profile.rows if profile else 0,
        "reference_status": reference_error or "ok",
        "drift_share": day_drifts[-1].share,
        "drifted_columns": dg.MetadataValue.md(
            markdown_table(drifted, max_rows=60) if drifted.height else "_no drifted columns_"
        ),
        "per_partition": dg.MetadataValue.md(markdown_table(per_day, max_rows=400)),
        "checks": dg.MetadataValue.json(
            {k: {"status": v.status, "reason": v.reason} for k, v in verdicts.items()}
        ),
        "performance_status": performance[-1][1].status,
        "performance_reason": performance[-1][1].reason,
        "reports": dg.MetadataValue.json(report_paths),
        "seconds_statistics": round(seconds_stats, 3),
        "seconds_evidently": round(seconds_evidently, 3),
        "seconds": round(perf_counter() - started, 3),
    }
    if last_html:
        metadata["report_html"] = dg.MetadataValue.path(last_html)
        metadata["report_json"] = dg.MetadataValue.path(
            str(reports.report_path(DRIFT_REPORT, days[-1], ".json"))
        )
        metadata["report_url"] = dg.MetadataValue.url(f"file://{last_html}")
    yield dg.MaterializeResult(asset_key=DRIFT_REPORT_KEY, metadata=metadata)

    severities = {
        FEATURE_DRIFT_CHECK: severity,
        PREDICTION_DRIFT_CHECK: dg.AssetCheckSeverity.WARN,
        PERFORMANCE_CHECK: dg.AssetCheckSeverity.ERROR,
        VOLUME_CHECK: dg.AssetCheckSeverity.WARN,
    }
    for check, verdict in verdicts.items():
        if CHECK_KEYS[check] not in context.selected_asset_check_keys:
            continue
        if verdict.status == "skipped":
            context.log.warning(f"check {check} skipped: {verdict.reason}")
            continue
        yield _verdict_result(check, verdict, severities[check])
