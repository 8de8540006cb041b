"""One day of monitoring, as pure functions: slice the inputs, measure, and give each check its verdict.

`drift_report` loads what a day needs (its predictions, the reference and the lineage of the version
that scored it) and calls `monitor_day`; everything here is tested on hand-made frames. Each day gets
its own verdicts, so a ranged run stores one result per day and the partition view shows which day
failed. A verdict that cannot be given yet (warming up, labels pending, no reference) is `skipped` with
its reason: never a pass, never a fail.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import polars as pl

from mlops_assets.defs.monitoring.drift import (
    DriftConfig,
    ReferenceWindowError,
    compare_to_reference,
    summarize,
)
from mlops_assets.defs.monitoring.drift import profile_reference as profile_columns
from mlops_assets.defs.monitoring.performance import (
    PerformanceConfig,
    PerformanceResult,
    evaluate_performance,
    last_mature_day,
)
from mlops_assets.defs.monitoring.predictions import SCORE_COLUMN
from mlops_assets.defs.monitoring.reference import Reference
from mlops_assets.defs.monitoring.verdicts import (
    DayDrift,
    DayScoreDrift,
    Verdict,
    judge_feature_drift,
    judge_performance,
    judge_prediction_drift,
    judge_volume,
)
from mlops_assets.defs.training.lineage import ModelVersionKey
from mlops_assets.defs.validation.quality import VolumeVerdict, volume_verdict

MODEL_NAME_COLUMN = "model_name"
MODEL_VERSION_COLUMN = "model_version"
# The columns of the trailing scored days that score drift and performance read.
HISTORY_COLUMNS: tuple[str, ...] = (
    "event_timestamp",
    "is_fraud",
    "label_available_at",
    SCORE_COLUMN,
    MODEL_NAME_COLUMN,
    MODEL_VERSION_COLUMN,
)
FEATURE_DRIFT_CHECK = "feature_drift"
PREDICTION_DRIFT_CHECK = "prediction_drift"
PERFORMANCE_CHECK = "model_performance"
VOLUME_CHECK = "scored_volume"


@dataclass(frozen=True)
class Thresholds:
    """What the day's verdicts are judged against."""

    drift: DriftConfig
    performance: PerformanceConfig
    max_drift_share: float
    score_history_days: int


@dataclass(frozen=True)
class DayInputs:
    """Everything one day's monitoring reads, already loaded."""

    day: date
    current: pl.DataFrame  # the day's predictions
    scored: pl.DataFrame | None  # scored rows of the trailing days (HISTORY_COLUMNS), all versions
    reference: Reference | str  # or why there is none
    baseline_pr_auc: float | None
    seen_until: date | None  # the scoring version's last training or validation day
    trailing_rows: list[int]  # rows scored on each of the trailing days
    warm_up: str | None  # why the day is warming up, if it is
    as_of: datetime


@dataclass(frozen=True)
class DayResult:
    """One day's measurements and the verdict of each check."""

    day: date
    rows: int
    version: ModelVersionKey | None
    reference: Reference | str
    table: pl.DataFrame | None  # per-feature drift statistics
    drift: DayDrift
    score: DayScoreDrift
    performance: PerformanceResult
    volume: VolumeVerdict
    verdicts: dict[str, Verdict]


def main_version(frame: pl.DataFrame) -> ModelVersionKey | None:
    """The model version that scored most of the rows (None for an empty or unversioned frame)."""
    if frame.height == 0 or MODEL_VERSION_COLUMN not in frame.columns:
        return None
    top = frame.group_by(MODEL_NAME_COLUMN, MODEL_VERSION_COLUMN).len().sort("len", descending=True).row(0)
    return str(top[0]), str(top[1])


def same_version(frame: pl.DataFrame, version: ModelVersionKey) -> pl.DataFrame:
    """The rows scored by `version`."""
    return frame.filter(
        (pl.col(MODEL_NAME_COLUMN).cast(pl.String) == version[0])
        & (pl.col(MODEL_VERSION_COLUMN).cast(pl.String) == version[1])
    )


def _days(frame: pl.DataFrame, first: date, last: date) -> pl.DataFrame:
    event_day = pl.col("event_timestamp").dt.date()
    return frame.filter((event_day >= first) & (event_day <= last))


def performance_days(
    day: date, as_of: datetime, config: PerformanceConfig, seen_until: date | None
) -> tuple[date, date]:
    """The days a partition's performance is judged on: mature, unseen by the model, up to the day.

    The window ends at the day itself or the newest day whose labels are mature, whichever is older,
    and spans `window_days`; days the scoring model trained or early-stopped on are cut off (a model
    judged on its own training rows looks better than it is). Start > end: no day qualifies.
    """
    end = min(day, last_mature_day(as_of, config.label_maturity_days))
    start = end - timedelta(days=config.window_days - 1)
    if seen_until is not None:
        start = max(start, seen_until + timedelta(days=1))
    return start, end


def score_drift(history: pl.DataFrame, scores: pl.DataFrame, day: str, config: DriftConfig) -> DayScoreDrift:
    """PSI of the day's scores against the trailing days' scores of the same model version."""
    try:
        profile = profile_columns(history, [SCORE_COLUMN], [], config)
    except ReferenceWindowError as exc:
        return DayScoreDrift(day, None, f"score history: {exc}")
    psi_config = replace(config, numeric_method="psi")
    row = compare_to_reference(profile, scores.select(SCORE_COLUMN), psi_config).row(0, named=True)
    if row["psi"] is None:
        return DayScoreDrift(day, None, row["reason"])
    return DayScoreDrift(day, float(row["psi"]))


def _performance(
    inputs: DayInputs, version: ModelVersionKey | None, config: PerformanceConfig
) -> PerformanceResult:
    if version is None or inputs.scored is None:
        return evaluate_performance(inputs.current, inputs.as_of, SCORE_COLUMN, None, config)
    start, end = performance_days(inputs.day, inputs.as_of, config, inputs.seen_until)
    rows = _days(same_version(inputs.scored, version), start, end) if start <= end else inputs.scored.clear()
    if rows.height:
        return evaluate_performance(rows, inputs.as_of, SCORE_COLUMN, inputs.baseline_pr_auc, config)
    as_of = inputs.as_of.isoformat(timespec="seconds")
    label = f"{version[0]} v{version[1]}"
    if start > end:
        reason = (
            f"no mature day unseen by {label}: the newest mature day is {end} (labels at least "
            f"{config.label_maturity_days} days old as of {as_of}), and it trained or validated on days up "
            f"to {inputs.seen_until}"
        )
    else:
        seen = inputs.seen_until
        unseen = f", after its last training or validation day {seen}" if seen else ""
        reason = (
            f"no day of {label} scored in {start}..{end}, the newest {config.window_days} days whose labels "
            f"are mature (at least {config.label_maturity_days} days old as of {as_of}){unseen}"
        )
    return PerformanceResult(0, 0, 0, None, "pending", reason, inputs.baseline_pr_auc)


def _feature_verdict(
    drift: DayDrift, reference: Reference | str, warm_up: str | None, max_share: float
) -> Verdict:
    if warm_up:
        return Verdict("skipped", warm_up, (), {"status": "warming_up"})
    return judge_feature_drift([drift], max_share, reference if isinstance(reference, str) else None)


def monitor_day(inputs: DayInputs, thresholds: Thresholds) -> DayResult:
    """Measure one day and judge each check on it alone."""
    key = inputs.day.isoformat()
    version = main_version(inputs.current)
    reference = "no scored rows" if version is None else inputs.reference
    table = None
    if isinstance(reference, Reference):
        table = compare_to_reference(reference.profile, inputs.current, thresholds.drift)
        summary = summarize(table)
        skipped = None if summary.evaluated else "; ".join(sorted(set(summary.skipped.values())))
        drift = DayDrift(key, summary.evaluated, summary.drifted, summary.drift_share, skipped)
    else:
        drift = DayDrift(key, 0, (), 0.0, reference)
    if version is None or inputs.scored is None:
        score = DayScoreDrift(key, None, "no scored rows")
    else:
        history = _days(
            same_version(inputs.scored, version),
            inputs.day - timedelta(days=thresholds.score_history_days),
            inputs.day - timedelta(days=1),
        )
        score = score_drift(history, same_version(inputs.current, version), key, thresholds.drift)
    performance = _performance(inputs, version, thresholds.performance)
    volume = volume_verdict(inputs.current.height, inputs.trailing_rows)
    verdicts = {
        FEATURE_DRIFT_CHECK: _feature_verdict(drift, reference, inputs.warm_up, thresholds.max_drift_share),
        PREDICTION_DRIFT_CHECK: judge_prediction_drift([score], thresholds.drift.psi_threshold),
        PERFORMANCE_CHECK: judge_performance([(key, performance)]),
        VOLUME_CHECK: judge_volume([(key, volume)]),
    }
    return DayResult(
        inputs.day,
        inputs.current.height,
        version,
        reference,
        table,
        drift,
        score,
        performance,
        volume,
        verdicts,
    )
