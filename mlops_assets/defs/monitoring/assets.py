"""`drift_report`: per day, drift of every model input and of the scores, and PR AUC once labels arrive.

One op carries four partitioned checks, so a single-run backfill profiles each reference once and each
day costs one pass over its rows; every day gets its own materialization metadata and its own result
per check (`metadata.partition_check`), so the partition view shows which day failed:
- `feature_drift`: share of drifted model inputs against the reference above `max_drift_share` fails
  (severity configurable). The reference is the training data of the model version that scored the
  day (`reference.py`), warm-up days left out; a warming-up day itself is not judged;
- `prediction_drift`: PSI of the day's scores against the same model version's trailing days (WARN);
- `model_performance`: PR AUC over the trailing scored days whose labels are mature (at least
  `label_maturity_days` old as of the evaluation instant) and that the model never trained or
  validated on, against the model's holdout PR AUC (from MLflow) minus a tolerance;
- `scored_volume`: rows scored per day against the trailing days (WARN).
Every day gets a statistics JSON; Evidently HTML (seconds a day) only the days `evidently_days` selects,
by default the days whose `feature_drift` failed and the run's last 7 (`evidently_days.py`).
A check with nothing to judge on a day (warming up, reference unusable, labels pending) gets no result
for that day: Dagster records it as SKIPPED, and the reason is in that day's `checks` metadata and the
run log. A model version MLflow does not know makes the reference or baseline unusable (skipped); an
unreachable MLflow fails the run.
"""

from collections.abc import Iterator
from datetime import date, timedelta
from time import perf_counter
from typing import Any

import dagster as dg
import polars as pl

from mlops_assets.defs.features.warmup import first_data_day, is_warming_up, warm_up_reason
from mlops_assets.defs.monitoring.config import PERFORMANCE_DEFAULTS, DriftReportConfig
from mlops_assets.defs.monitoring.daily import (
    FEATURE_DRIFT_CHECK,
    HISTORY_COLUMNS,
    PERFORMANCE_CHECK,
    PREDICTION_DRIFT_CHECK,
    VOLUME_CHECK,
    DayInputs,
    DayResult,
    Thresholds,
    main_version,
    monitor_day,
    performance_days,
)
from mlops_assets.defs.monitoring.drift import ReferenceWindowError
from mlops_assets.defs.monitoring.evidently_days import evidently_reason, not_selected_reason
from mlops_assets.defs.monitoring.reference import Reference, load_reference
from mlops_assets.defs.monitoring.report import (
    day_check_evaluations,
    day_evidently,
    day_metadata,
    per_partition_table,
    skipped_checks,
    write_statistics,
)
from mlops_assets.defs.training.lineage import ModelVersionKey, model_baseline, seen_until
from mlops_assets.defs.validation.quality import TRAILING_DAYS
from mlops_assets.metadata import (
    CheckTargets,
    check_outputs,
    log_progress,
    markdown_table,
    partitions_metadata,
    run_summary,
)
from mlops_assets.mlflow_resource import MlflowResource
from mlops_assets.partitions import daily_partitions, partition_days
from mlops_assets.resources import LakehouseResource, ReportsResource
from mlops_assets.tables import DRIFT_REPORT, PREDICTIONS_TABLE

DRIFT_REPORT_KEY = dg.AssetKey(DRIFT_REPORT)
CHECK_KEYS = {
    name: dg.AssetCheckKey(DRIFT_REPORT_KEY, name)
    for name in (FEATURE_DRIFT_CHECK, PREDICTION_DRIFT_CHECK, PERFORMANCE_CHECK, VOLUME_CHECK)
}


class Lineage:
    """What MLflow and the lakehouse say about each model version that scored a day of the run.

    Asked once per version per run (a 60-day backfill scored by one version profiles one reference).
    """

    def __init__(
        self,
        lakehouse: LakehouseResource,
        mlflow: MlflowResource,
        config: DriftReportConfig,
        log: dg.DagsterLogManager,
    ) -> None:
        self._lakehouse, self._mlflow, self._config, self._log = lakehouse, mlflow, config, log
        self.first_data = first_data_day(lakehouse.root_path)
        self.references: dict[ModelVersionKey, Reference | str] = {}
        self._baselines: dict[ModelVersionKey, float | None] = {}
        self._seen: dict[ModelVersionKey, date | None] = {}

    def reference(self, version: ModelVersionKey | None) -> Reference | str:
        """The version's reference, or why there is none."""
        if version is None:
            return "no scored rows"
        if version not in self.references:
            try:
                self.references[version] = load_reference(
                    self._lakehouse, self._mlflow, version, self._config.drift_config(), self.first_data
                )
            except ReferenceWindowError as exc:
                self.references[version] = str(exc)
                self._log.warning(f"no drift reference for {version[0]} v{version[1]}: {exc}")
        return self.references[version]

    def baseline(self, version: ModelVersionKey | None) -> float | None:
        """The version's holdout PR AUC."""
        if version is None:
            return None
        if version not in self._baselines:
            self._baselines[version] = model_baseline(self._mlflow, *version)
        return self._baselines[version]

    def seen_until(self, version: ModelVersionKey | None) -> date | None:
        """The version's last training or validation day."""
        if version is None:
            return None
        if version not in self._seen:
            self._seen[version] = seen_until(self._mlflow, *version)
        return self._seen[version]


def _scored_history(
    lakehouse: LakehouseResource, days: list[date], config: DriftReportConfig
) -> pl.DataFrame | None:
    """Scored rows from the oldest day any check of the run looks back to, through the run's last day."""
    as_of = config.as_of_time()
    first_performance_day = performance_days(days[0], as_of, config.performance_config(), None)[0]
    start = min(days[0] - timedelta(days=config.score_history_days), first_performance_day)
    scan = lakehouse.scan_range(PREDICTIONS_TABLE, start, days[-1] + timedelta(days=1))
    return None if scan is None else scan.select(HISTORY_COLUMNS).collect()


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            DRIFT_REPORT,
            # The reference is rebuilt from the scoring version's training days through `model_inputs`
            # (older partitions of the feature tables, which `batch_predictions` already depends on),
            # not read from `training_dataset`: that table moves with every retraining run.
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
            f"`max_drift_share` (default {DriftReportConfig.model_fields['max_drift_share'].default}); "
            "warming-up days are not judged.",
            partitions_def=daily_partitions,
        ),
        dg.AssetCheckSpec(
            PREDICTION_DRIFT_CHECK,
            asset=DRIFT_REPORT,
            description="The score distribution's PSI vs the same model's trailing days stays below "
            f"`psi_threshold` (default {DriftReportConfig.model_fields['psi_threshold'].default}).",
            partitions_def=daily_partitions,
        ),
        dg.AssetCheckSpec(
            PERFORMANCE_CHECK,
            asset=DRIFT_REPORT,
            description="PR AUC on the labelled rows of mature scored days (at least "
            f"{PERFORMANCE_DEFAULTS.label_maturity_days} days old by default) that the model never trained "
            "or validated on stays within tolerance of its holdout PR AUC; skipped (pending) until then.",
            partitions_def=daily_partitions,
        ),
        dg.AssetCheckSpec(
            VOLUME_CHECK,
            asset=DRIFT_REPORT,
            description=f"Rows scored per day within 0.5x-2x the median of the {TRAILING_DAYS} days before.",
            partitions_def=daily_partitions,
        ),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=True,
)
def drift_report(
    context: dg.AssetExecutionContext,
    config: DriftReportConfig,
    lakehouse: LakehouseResource,
    reports: ReportsResource,
    mlflow: MlflowResource,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output]:
    """Evidently drift report (HTML + JSON) per day, our own drift statistics, and the monitoring checks."""
    started = perf_counter()
    mlflow.check_reachable()  # an outage fails in seconds, not after MLflow's own retries
    days = partition_days(context)
    as_of = config.as_of_time()
    thresholds = Thresholds(
        config.drift_config(), config.performance_config(), config.max_drift_share, config.score_history_days
    )
    scored = _scored_history(lakehouse, days, config)
    lineage = Lineage(lakehouse, mlflow, config, context.log)
    selection = config.evidently_selection()
    left_out = not_selected_reason(selection, config.evidently_recent_days)
    results: list[DayResult] = []
    report_paths: dict[str, str] = {}
    metadata_by_day: dict[date, dict[str, Any]] = {}
    for done, day in enumerate(days, 1):
        tick = perf_counter()
        current = lakehouse.read_partition(PREDICTIONS_TABLE, day)
        version = main_version(current)
        warming = is_warming_up(day, lineage.first_data)
        result = monitor_day(
            DayInputs(
                day=day,
                current=current,
                scored=scored,
                reference=lineage.reference(version),
                baseline_pr_auc=lineage.baseline(version),
                seen_until=lineage.seen_until(version),
                trailing_rows=lakehouse.trailing_row_counts(PREDICTIONS_TABLE, day, TRAILING_DAYS),
                warm_up=warm_up_reason(day, lineage.first_data) if warming and lineage.first_data else None,
                as_of=as_of,
            ),
            thresholds,
        )
        statistics = write_statistics(
            result, as_of, reports.report_path(DRIFT_REPORT, day, ".statistics.json")
        )
        drifted = result.verdicts[FEATURE_DRIFT_CHECK].status == "fail"
        evidently, note = day_evidently(
            result,
            current,
            reports.report_path(DRIFT_REPORT, day),
            evidently_reason(selection, day, days, drifted, config.evidently_recent_days),
            left_out,
            config.max_drift_share,
            config.evidently_reference_rows,
        )
        if evidently is not None:
            report_paths[day.isoformat()] = str(evidently.html_path)
        metadata_by_day[day] = {
            **day_metadata(result, statistics, evidently, note, perf_counter() - tick),
            "warming_up": warming,
        }
        log_progress(
            context.log, "drift_report", done, len(days), started, f"{len(report_paths)} HTML reports"
        )
        results.append(result)
    partitions_metadata(context, metadata_by_day)
    for line in skipped_checks(results):
        context.log.info(line)

    yield run_summary(
        context,
        days,
        {
            "partitions_in_run": len(days),
            "as_of": as_of.isoformat(timespec="seconds"),
            "references": dg.MetadataValue.json(
                {
                    f"{v[0]} v{v[1]}": {"window": r.window, "rows": r.profile.rows}
                    if isinstance(r, Reference)
                    else {"error": r}
                    for v, r in lineage.references.items()
                }
            ),
            "per_partition": dg.MetadataValue.md(
                markdown_table(per_partition_table(results, report_paths), max_rows=400)
            ),
            "seconds_in_run": round(perf_counter() - started, 3),
        },
        DRIFT_REPORT,
    )
    yield from _check_results(context, results, config.severity())


def _check_results(
    context: dg.AssetExecutionContext, results: list[DayResult], drift_severity: dg.AssetCheckSeverity
) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
    """Each selected check's result per day, except days with nothing to judge (left SKIPPED)."""
    severities = {
        FEATURE_DRIFT_CHECK: drift_severity,
        PREDICTION_DRIFT_CHECK: dg.AssetCheckSeverity.WARN,
        PERFORMANCE_CHECK: dg.AssetCheckSeverity.ERROR,
        VOLUME_CHECK: dg.AssetCheckSeverity.WARN,
    }
    selected = {key.name for key in context.selected_asset_check_keys}
    targets = CheckTargets.lookup(context, DRIFT_REPORT, [result.day for result in results])
    yield from check_outputs(context)
    for check, severity in severities.items():
        if check in selected:
            verdicts = {result.day: result.verdicts[check] for result in results if check in result.verdicts}
            yield from day_check_evaluations(targets, check, verdicts, severity)
