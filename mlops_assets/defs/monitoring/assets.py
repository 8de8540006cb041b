"""`drift_report`: per day, drift of every model input and of the scores, and PR AUC once labels arrive.

One op computes the statistics once and carries four checks, so a single-run backfill profiles each
reference once and each day costs one pass over its rows:
- `feature_drift`: share of drifted model inputs against the reference above `max_drift_share` fails
  (severity configurable). The reference is the training data of the model version that scored the
  day: the days it trained and early-stopped on are read from that version's window tags
  (`registry.seen_window`) and its rows are rebuilt with `model_inputs`, the code path training used.
  So rebuilding `training_dataset` (which every retraining run does, even when the gate then rejects the
  new model) never moves the reference away from the data the serving champion was trained on;
- `prediction_drift`: PSI of the day's scores against the same model version's trailing days (WARN);
- `model_performance`: PR AUC over the trailing scored days whose labels are mature (at least
  `label_maturity_days` old as of the evaluation instant) against the model's holdout PR AUC (from
  MLflow) minus a tolerance; `pending` while no such day exists;
- `scored_volume`: rows scored per day against the trailing days (WARN).
A check with nothing to judge (reference unusable, labels pending) is not emitted: Dagster records it
as SKIPPED, and the reason is in the run log and in this asset's metadata. A model version or run that
MLflow does not know makes the reference or baseline unusable (skipped); an unreachable MLflow fails
the run.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from time import perf_counter
from typing import Any

import dagster as dg
import polars as pl

from mlops_assets.defs.features.model_inputs import model_inputs
from mlops_assets.defs.monitoring.drift import (
    DriftConfig,
    ReferenceProfile,
    ReferenceWindowError,
    compare_to_reference,
    profile_reference,
    summarize,
)
from mlops_assets.defs.monitoring.evidently_report import REFERENCE_SAMPLE_ROWS
from mlops_assets.defs.monitoring.performance import (
    PerformanceConfig,
    PerformanceResult,
    evaluate_performance,
    last_mature_day,
)
from mlops_assets.defs.monitoring.predictions import SCORE_COLUMN
from mlops_assets.defs.monitoring.verdicts import (
    DayDrift,
    DayScoreDrift,
    Verdict,
    judge_feature_drift,
    judge_performance,
    judge_prediction_drift,
    judge_volume,
)
from mlops_assets.defs.training.registry import seen_window
from mlops_assets.defs.validation.quality import TRAILING_DAYS, VolumeVerdict, volume_verdict
from mlops_assets.domain import (
    AMOUNT_EUR,
    COUNTRY,
    DEVICE,
    EVENT_TIMESTAMP,
    IS_FRAUD,
    LABEL_AVAILABLE_AT,
    MERCHANT_CATEGORY,
)
from mlops_assets.feature_catalog import MODEL_FEATURES
from mlops_assets.lakehouse import write_text_atomic
from mlops_assets.metadata import markdown_table
from mlops_assets.mlflow_resource import MlflowResource
from mlops_assets.partitions import daily_partitions, partition_days
from mlops_assets.resources import LakehouseResource, ReportsResource
from mlops_assets.tables import DRIFT_REPORT, PREDICTIONS_TABLE

MODEL_NAME_COLUMN = "model_name"
MODEL_VERSION_COLUMN = "model_version"
# What `training.flow` logs on each model's run: "<first day>..<last day> (<n> days)".
BASELINE_METRIC = "holdout_pr_auc"

# Model inputs plus the raw columns they derive from: a new country shows here before in any feature.
NUMERIC_MONITORED: tuple[str, ...] = (*MODEL_FEATURES, AMOUNT_EUR)
CATEGORICAL_MONITORED: tuple[str, ...] = (MERCHANT_CATEGORY, COUNTRY, DEVICE)
# The columns of the trailing scored days that score drift and performance read.
HISTORY_COLUMNS: tuple[str, ...] = (
    EVENT_TIMESTAMP,
    IS_FRAUD,
    LABEL_AVAILABLE_AT,
    SCORE_COLUMN,
    MODEL_NAME_COLUMN,
    MODEL_VERSION_COLUMN,
)

FEATURE_DRIFT_CHECK = "feature_drift"
PREDICTION_DRIFT_CHECK = "prediction_drift"
PERFORMANCE_CHECK = "model_performance"
VOLUME_CHECK = "scored_volume"
DRIFT_REPORT_KEY = dg.AssetKey(DRIFT_REPORT)
CHECK_KEYS = {
    name: dg.AssetCheckKey(DRIFT_REPORT_KEY, name)
    for name in (FEATURE_DRIFT_CHECK, PREDICTION_DRIFT_CHECK, PERFORMANCE_CHECK, VOLUME_CHECK)
}

# The statistics' and the performance evaluation's own defaults: the run config restates none of them.
_DRIFT_DEFAULTS = DriftConfig()
_PERFORMANCE_DEFAULTS = PerformanceConfig()

ModelVersion = tuple[str, str]


class DriftReportConfig(dg.Config):
    """Thresholds of the drift and performance checks (defaults suit the daily run)."""

    as_of: str | None = None
    """Judge label availability as of this ISO 8601 instant (UTC if naive); default: now."""
    max_drift_share: float = 0.3
    """feature_drift fails when more than this share of features drifted on a day."""
    drift_severity: str = "ERROR"
    """Severity of a failed feature_drift: ERROR or WARN."""
    numeric_method: str = _DRIFT_DEFAULTS.numeric_method
    """psi or ks."""
    categorical_method: str = _DRIFT_DEFAULTS.categorical_method
    """jensenshannon, chisquare or psi."""
    psi_threshold: float = _DRIFT_DEFAULTS.psi_threshold
    """A feature (or the score, for prediction_drift) drifted when its PSI reaches this."""
    ks_threshold: float = _DRIFT_DEFAULTS.ks_threshold
    js_threshold: float = _DRIFT_DEFAULTS.js_threshold
    min_reference_rows: int = _DRIFT_DEFAULTS.min_reference_rows
    min_partition_rows: int = _DRIFT_DEFAULTS.min_current_rows
    score_history_days: int = 7
    """prediction_drift compares a day's scores with this many days before it (same model version)."""
    performance_window_days: int = _PERFORMANCE_DEFAULTS.window_days
    """model_performance judges this many scored days, the newest of them mature."""
    performance_tolerance: float = _PERFORMANCE_DEFAULTS.tolerance
    """model_performance fails when PR AUC is more than this below the model's holdout PR AUC."""
    min_label_coverage: float = _PERFORMANCE_DEFAULTS.min_label_coverage
    min_positives: int = _PERFORMANCE_DEFAULTS.min_positives
    label_maturity_days: int = _PERFORMANCE_DEFAULTS.label_maturity_days
    """Only scored days at least this old (as of `as_of`) are judged for performance."""
    evidently_reference_rows: int = REFERENCE_SAMPLE_ROWS
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
            label_maturity_days=self.label_maturity_days,
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


@dataclass(frozen=True)
class Reference:
    """The training rows of one model version, rebuilt for its logged training window, and their profile."""

    model: ModelVersion
    first_day: date
    last_day: date
    frame: pl.DataFrame
    profile: ReferenceProfile

    @property
    def window(self) -> str:
        """`<first day>..<last day>`, both inclusive."""
        return f"{self.first_day}..{self.last_day}"


def _is_not_found(exc: Exception) -> bool:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

    return isinstance(exc, MlflowException) and exc.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST)


def model_run(mlflow: MlflowResource, name: str, version: str) -> Any | None:
    """The MLflow run that produced a model version; None when MLflow knows no such version or run.

    Only "does not exist" is an answer: any other error (the store is down, a permission is missing)
    propagates, so an outage fails the run instead of reading as "no baseline" forever.
    """
    client = mlflow.client()
    try:
        run_id = client.get_model_version(name, version).run_id
        return None if run_id is None else client.get_run(run_id)
    except Exception as exc:
        if _is_not_found(exc):
            return None
        raise


def model_baseline(mlflow: MlflowResource, name: str, version: str) -> float | None:
    """The holdout PR AUC MLflow recorded for the model version that scored the rows (None if unknown)."""
    run = model_run(mlflow, name, version)
    value = None if run is None else run.data.metrics.get(BASELINE_METRIC)
    return None if value is None else float(value)


def training_window(mlflow: MlflowResource, name: str, version: str) -> tuple[date, date]:
    """First and last day (inclusive) the version trained or early-stopped on, from its window tags.

    `ReferenceWindowError` when MLflow does not know the version, or its window tags are missing or
    unreadable (read by `registry.seen_window`, the same reader the promotion gate uses).
    """
    client = mlflow.client()
    try:
        tags = dict(client.get_model_version(name, version).tags)
    except Exception as exc:
        if _is_not_found(exc):
            raise ReferenceWindowError(f"MLflow knows no model version {name} v{version}") from exc
        raise
    try:
        window = seen_window(tags)
    except ValueError as exc:
        raise ReferenceWindowError(f"{name} v{version}: {exc}; its training window is unknown") from exc
    if window is None:
        raise ReferenceWindowError(f"{name} v{version} has no window tags; its training window is unknown")
    return window


def load_reference(
    lakehouse: LakehouseResource, mlflow: MlflowResource, model: ModelVersion, config: DriftReportConfig
) -> Reference:
    """The training rows of `model` and their profile; `ReferenceWindowError` if unusable.

    The rows are `model_inputs` over the version's training window: every validated transaction of
    those days with its point-in-time features, exactly as training built them. Training keeps only
    the rows labelled by its cutoff; the reference keeps them all, as the scored days it is compared
    with do (drift is about the inputs, and labels never feed a model input).
    """
    first, last = training_window(mlflow, *model)
    try:
        frame = model_inputs(lakehouse, first, last + timedelta(days=1))
    except FileNotFoundError as exc:  # e.g. feature partitions of the window removed by retention
        raise ReferenceWindowError(f"{model[0]} v{model[1]} training window {first}..{last}: {exc}") from exc
    profile = profile_reference(frame, NUMERIC_MONITORED, CATEGORICAL_MONITORED, config.drift_config())
    return Reference(model, first, last, frame, profile)


def _read_history(lakehouse: LakehouseResource, start: date, end: date) -> pl.DataFrame | None:
    scan = lakehouse.scan_range(PREDICTIONS_TABLE, start, end)
    return None if scan is None else scan.select(HISTORY_COLUMNS).collect()


def _main_version(frame: pl.DataFrame) -> ModelVersion | None:
    if frame.height == 0 or MODEL_VERSION_COLUMN not in frame.columns:
        return None
    top = frame.group_by(MODEL_NAME_COLUMN, MODEL_VERSION_COLUMN).len().sort("len", descending=True).row(0)
    return str(top[0]), str(top[1])


def _same_version(frame: pl.DataFrame, version: ModelVersion) -> pl.DataFrame:
    return frame.filter(
        (pl.col(MODEL_NAME_COLUMN).cast(pl.String) == version[0])
        & (pl.col(MODEL_VERSION_COLUMN).cast(pl.String) == version[1])
    )


def performance_window_end(day: date, as_of: datetime, config: DriftReportConfig) -> date:
    """The last day a partition's performance window judges: the day itself or the newest mature one."""
    return min(day, last_mature_day(as_of, config.label_maturity_days))


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
            # The reference is rebuilt from the champion's training days through `model_inputs` (older
            # partitions of the feature tables, which `batch_predictions` already depends on), not read
            # from `training_dataset`: that table moves with every retraining run.
            deps=[PREDICTIONS_TABLE],
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
            description="Share of drifted model inputs vs the scoring model's training data stays under "
            f"`max_drift_share` (default {DriftReportConfig.model_fields['max_drift_share'].default}).",
        ),
        dg.AssetCheckSpec(
            PREDICTION_DRIFT_CHECK,
            asset=DRIFT_REPORT,
            description="The score distribution's PSI vs the same model's trailing days stays below "
            f"`psi_threshold` (default {DriftReportConfig.model_fields['psi_threshold'].default}).",
        ),
        dg.AssetCheckSpec(
            PERFORMANCE_CHECK,
            asset=DRIFT_REPORT,
            description="PR AUC on the labelled rows of mature scored days (at least "
            f"{_PERFORMANCE_DEFAULTS.label_maturity_days} days old by default) stays within tolerance "
            "of the model's holdout PR AUC; skipped (pending) while no day is mature.",
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
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Evidently drift report (HTML + JSON) per day, our own drift statistics, and the monitoring checks."""
    from mlops_assets.defs.monitoring.evidently_report import write_drift_report

    started = perf_counter()
    mlflow.check_reachable()  # an outage fails in seconds, not after MLflow's own retries
    days = partition_days(context)
    as_of = config.as_of_time()
    drift_config = config.drift_config()
    performance_config = config.performance_config()
    severity = config.severity()

    history_start = min(
        days[0] - timedelta(days=config.score_history_days),
        performance_window_end(days[0], as_of, config) - timedelta(days=config.performance_window_days - 1),
    )
    scored_all = _read_history(lakehouse, history_start, days[-1] + timedelta(days=1))
    references: dict[ModelVersion, Reference | str] = {}
    baselines: dict[ModelVersion, float | None] = {}
    day_drifts: list[DayDrift] = []
    score_drifts: list[DayScoreDrift] = []
    performance: list[tuple[str, PerformanceResult]] = []
    volumes: list[tuple[str, VolumeVerdict]] = []
    summary_rows: list[dict[str, object]] = []
    drifted_tables: list[pl.DataFrame] = []
    report_paths: dict[str, str] = {}
    evidently_shares: dict[str, float | None] = {}
    evidently_drifted: dict[str, int | None] = {}
    last_reference: Reference | str = "no day judged"
    seconds_reference = seconds_stats = seconds_evidently = 0.0

    for day in days:
        key = day.isoformat()
        current = lakehouse.read_partition(PREDICTIONS_TABLE, day)
        version = _main_version(current)
        tick = perf_counter()
        if version is None:
            reference: Reference | str = "no scored rows"
        else:
            if version not in references:
                try:
                    references[version] = load_reference(lakehouse, mlflow, version, config)
                except ReferenceWindowError as exc:
                    references[version] = str(exc)
                    context.log.warning(f"{key}: no drift reference for {version[0]} v{version[1]}: {exc}")
            reference = references[version]
        last_reference = reference
        seconds_reference += perf_counter() - tick

        tick = perf_counter()
        table = None
        if isinstance(reference, Reference):
            table = compare_to_reference(reference.profile, current, drift_config)
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
            day_drifts.append(DayDrift(key, 0, (), 0.0, reference))

        volumes.append(
            (
                key,
                volume_verdict(
                    current.height, lakehouse.trailing_row_counts(PREDICTIONS_TABLE, day, TRAILING_DAYS)
                ),
            )
        )
        if version is None:
            score_drifts.append(DayScoreDrift(key, None, "no scored rows"))
            result = evaluate_performance(current, as_of, SCORE_COLUMN, None, performance_config)
        else:
            assert scored_all is not None  # it holds this day's rows
            event_day = pl.col(EVENT_TIMESTAMP).dt.date()
            versioned = _same_version(scored_all, version)
            history = versioned.filter(
                (event_day >= day - timedelta(days=config.score_history_days)) & (event_day < day)
            )
            score_drifts.append(score_drift(history, _same_version(current, version), key, drift_config))
            window_end = performance_window_end(day, as_of, config)
            window_start = window_end - timedelta(days=config.performance_window_days - 1)
            window = versioned.filter((event_day >= window_start) & (event_day <= window_end))
            if version not in baselines:
                baselines[version] = model_baseline(mlflow, *version)
            result = evaluate_performance(window, as_of, SCORE_COLUMN, baselines[version], performance_config)
            if window.height == 0:
                result = PerformanceResult(
                    0,
                    0,
                    0,
                    None,
                    "pending",
                    f"no day of {version[0]} v{version[1]} scored in {window_start}..{window_end}, the "
                    f"newest {config.performance_window_days} days whose labels are mature (at least "
                    f"{config.label_maturity_days} days old as of {as_of.isoformat(timespec='seconds')})",
                    baselines[version],
                )
        performance.append((key, result))
        seconds_stats += perf_counter() - tick

        statistics_path = write_text_atomic(
            json.dumps(
                {
                    "day": key,
                    "as_of": as_of.isoformat(),
                    "model": None if version is None else {"name": version[0], "version": version[1]},
                    "reference_window": reference.window if isinstance(reference, Reference) else None,
                    "reference_status": reference if isinstance(reference, str) else "ok",
                    "features": table.to_dicts() if table is not None else [],
                    "score_drift": score_drifts[-1].__dict__,
                    "performance": result.metadata(),
                },
                indent=1,
                default=str,
            ),
            reports.report_path(DRIFT_REPORT, day, ".statistics.json"),
        )
        html = None
        with_evidently = (
            day in days[len(days) - config.evidently_max_days :] if config.evidently_max_days else False
        )
        if isinstance(reference, Reference) and current.height and with_evidently:
            tick = perf_counter()
            evidently = write_drift_report(
                reference.frame,
                current,
                NUMERIC_MONITORED,
                CATEGORICAL_MONITORED,
                reports.report_path(DRIFT_REPORT, day),
                drift_share=config.max_drift_share,
                reference_sample_rows=config.evidently_reference_rows,
            )
            seconds_evidently += perf_counter() - tick
            html = str(evidently.html_path)
            report_paths[key] = html
            evidently_shares[key] = evidently.drift_share
            evidently_drifted[key] = evidently.drifted_columns
        summary_rows.append(
            {
                "day": key,
                "rows": current.height,
                "model": None if version is None else f"{version[0]} v{version[1]}",
                "features_evaluated": summary.evaluated if summary else 0,
                "features_drifted": len(summary.drifted) if summary else 0,
                "drift_share": round(summary.drift_share, 3) if summary else None,
                "evidently_drift_share": evidently_shares.get(key),
                "score_psi": None if score_drifts[-1].psi is None else round(score_drifts[-1].psi, 4),
                "performance": result.status,
                "pr_auc": result.pr_auc,
                "performance_window": result.metadata()["window"],
                "label_coverage": round(result.label_coverage, 3),
                "report": html,
                "statistics": str(statistics_path),
            }
        )

    usable = {v: r for v, r in references.items() if isinstance(r, Reference)}
    reference_error = (
        None
        if usable
        else "; ".join(sorted({r for r in references.values() if isinstance(r, str)})) or "no scored rows"
    )
    verdicts = {
        FEATURE_DRIFT_CHECK: judge_feature_drift(day_drifts, config.max_drift_share, reference_error),
        PREDICTION_DRIFT_CHECK: judge_prediction_drift(score_drifts, config.psi_threshold),
        PERFORMANCE_CHECK: judge_performance(performance),
        VOLUME_CHECK: judge_volume(volumes),
    }
    per_day = pl.DataFrame(summary_rows)
    drifted = pl.concat(drifted_tables) if drifted_tables else pl.DataFrame()
    last_key = days[-1].isoformat()
    last_html = report_paths.get(last_key)
    metadata: dict[str, Any] = {
        "partitions": len(days),
        "as_of": as_of.isoformat(timespec="seconds"),
        "reference_model": (
            f"{last_reference.model[0]} v{last_reference.model[1]}"
            if isinstance(last_reference, Reference)
            else None
        ),
        "reference_window": last_reference.window if isinstance(last_reference, Reference) else None,
        "reference_rows": last_reference.profile.rows if isinstance(last_reference, Reference) else 0,
        "reference_status": last_reference if isinstance(last_reference, str) else "ok",
        "references": dg.MetadataValue.json(
            {
                f"{v[0]} v{v[1]}": (
                    {"window": r.window, "rows": r.profile.rows} if isinstance(r, Reference) else {"error": r}
                )
                for v, r in references.items()
            }
        ),
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
        "seconds_reference": round(seconds_reference, 3),
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
        # Evidently's own verdict on the last day (its per-column tests), beside ours for comparison.
        metadata["evidently_drift_share"] = evidently_shares[last_key]
        metadata["evidently_drifted_columns"] = evidently_drifted[last_key]
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
