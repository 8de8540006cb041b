"""`retraining_sensor`: a failed drift or performance check, or a stale model, retrains the model.

Why a custom sensor and not an automation condition: the trigger (a check on `drift_report`) sits
downstream of the model it retrains, and the run must say which check fired and why; a sensor reading
`instance.get_latest_asset_check_evaluation_record` expresses both plainly.

Triggers (each evaluation is used once, remembered in the cursor):
- `drift_report` check `feature_drift` or `model_performance` failed with severity ERROR;
- a model asset's freshness policy (`apply_automation`) is FAIL: that family (`fraud_model/lightgbm`
  or `fraud_model/torch`) is older than allowed.
Raw/validated freshness failures alert but do not retrain: retraining on stale data reproduces the
model it replaces.

The checks are partitioned: the trigger is the newest failed day (a ranged run stores one result per
day), and the run's tags name that day (`mlops/trigger_partition`).

Guards: never two retraining runs in flight, at most one request per cooldown (default 12 h), and
only when retraining can change something: some labelled day must be mature (its fraud labels had
`LABEL_MATURITY_DAYS` to arrive) and newer than the champion's training window. Otherwise the new
training window would be the champion's own, the same data hash, and the gate would reject a copy
(+0.0000). The skip reason says when the first such day's labels mature. A trigger seen during any
guard stays unhandled, so it fires once the guard lifts if it is still the latest. The run's tags name
the trigger (`mlops/trigger`), its reason, its day and the run that produced it.
"""

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import dagster as dg

from mlops_assets.defs.monitoring.assets import CHECK_KEYS, FEATURE_DRIFT_CHECK, PERFORMANCE_CHECK
from mlops_assets.defs.monitoring.performance import last_mature_day
from mlops_assets.defs.training.assets import FRAUD_MODEL_KEYS
from mlops_assets.defs.training.lineage import UnknownTrainingWindowError, champion_version
from mlops_assets.domain import LABEL_MATURITY_DAYS
from mlops_assets.mlflow_resource import MlflowResource
from mlops_assets.tables import FRAUD_MODEL, MODEL_PROMOTION, TRAINING_TABLE

RETRAINING_JOB = "retraining_job"
TRAINING_DATASET = dg.AssetKey(TRAINING_TABLE)
PROMOTION_KEY = dg.AssetKey(MODEL_PROMOTION)
# Every model family: the job retrains them all, so a stale one of either is a reason to run it.
WATCHED_MODELS: tuple[dg.AssetKey, ...] = tuple(FRAUD_MODEL_KEYS.values())
WATCHED_CHECKS: tuple[dg.AssetCheckKey, ...] = (
    CHECK_KEYS[FEATURE_DRIFT_CHECK],
    CHECK_KEYS[PERFORMANCE_CHECK],
)
DEFAULT_COOLDOWN = timedelta(hours=12)
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
REASON_TAG_CHARS = 500
# Dagster keeps `FreshnessState` private; it is a str enum, so its public value is compared instead.
FRESHNESS_FAIL = "FAIL"
# How many recent results per check the sensor reads: a 60-day backfill stores 60.
CHECK_HISTORY = 400
# Seconds between evaluations; a test of the real daemon shortens it through this variable.
RETRAINING_SENSOR_INTERVAL_S = int(os.environ.get("MLOPS_RETRAINING_SENSOR_INTERVAL_S", "60"))

retraining_job = dg.define_asset_job(
    RETRAINING_JOB,
    selection=(
        dg.AssetSelection.assets(TRAINING_DATASET)
        | dg.AssetSelection.key_prefixes(FRAUD_MODEL)
        | dg.AssetSelection.assets(PROMOTION_KEY)
    ),
    description="Rebuild training_dataset, retrain every fraud_model family, and run the promotion gate.",
    tags={"mlops/retraining": "true"},
)


@dataclass(frozen=True)
class Trigger:
    """Something that calls for retraining, identified so that it is acted on once."""

    key: str  # e.g. "drift_report:feature_drift" or "freshness:fraud_model/lightgbm"
    event_id: str  # unique per evaluation: the event's storage id, or the freshness change time
    reason: str
    source_run_id: str | None = None
    partition: str | None = None  # the day whose check failed


@dataclass(frozen=True)
class LabelState:
    """What a retraining could learn now: the champion's last training day and the newest mature day."""

    champion: str | None  # "<name> v<version> (<window>)", None while there is no champion
    window_end: date | None
    last_mature: date
    maturity_days: int

    def blocked_reason(self) -> str | None:
        """Why a retraining would learn nothing new, and when it could; None when it can."""
        if self.window_end is None or self.last_mature > self.window_end:
            return None
        first_new = self.window_end + timedelta(days=1)
        mature_at = datetime.combine(first_new + timedelta(days=self.maturity_days + 1), time(), tzinfo=UTC)
        return (
            f"no labelled day is mature beyond the champion's training window ({self.champion}): the "
            f"newest mature day is {self.last_mature}; {first_new}'s fraud labels have had "
            f"{self.maturity_days} days to arrive at {mature_at.isoformat()}, and a retraining before then "
            "would train on the champion's own data"
        )


@dataclass(frozen=True)
class Decision:
    """Request a run for `trigger`, or skip with a reason."""

    trigger: Trigger | None
    skip_reason: str | None = None


def decide_retraining(
    triggers: Sequence[Trigger],
    handled: dict[str, str],
    in_flight_run_ids: Sequence[str],
    last_request_at: datetime | None,
    now: datetime,
    cooldown: timedelta,
    labels: LabelState | None = None,
) -> Decision:
    """At most one request: the first unhandled trigger, unless a guard holds.

    The guards: a retraining run in flight, the cooldown, or no mature labelled day newer than the
    champion's training window (`labels`).
    """
    fresh = [t for t in triggers if handled.get(t.key) != t.event_id]
    if not fresh:
        return Decision(None, "no failed drift/performance check or stale model since the last request")
    names = ", ".join(f"{t.key} on {t.partition}" if t.partition else t.key for t in fresh)
    if in_flight_run_ids:
        return Decision(None, f"{names} failed, but retraining run {in_flight_run_ids[0]} is still in flight")
    if last_request_at is not None and now - last_request_at < cooldown:
        until = (last_request_at + cooldown).isoformat(timespec="seconds")
        return Decision(
            None,
            f"{names} failed, but the cooldown holds until {until} (last request "
            f"{last_request_at.isoformat(timespec='seconds')})",
        )
    blocked = labels.blocked_reason() if labels else None
    if blocked:
        return Decision(None, f"{names} failed, but {blocked}")
    return Decision(fresh[0])


def check_triggers(
    instance: dg.DagsterInstance, keys: Sequence[dg.AssetCheckKey], history: int = CHECK_HISTORY
) -> list[Trigger]:
    """Per watched check, its newest evaluation (any day) that failed with severity ERROR.

    Newest by storage id: a ranged run stores one result per day, and a failed day early in the range
    is followed by passing days; the latest record alone would hide it.
    """
    out: list[Trigger] = []
    for key in keys:
        records = instance.event_log_storage.get_asset_check_execution_history(key, limit=history)
        for record in records:  # newest first
            evaluation = record.evaluation
            # A skipped check (e.g. performance pending) leaves only a "planned" event: nothing to act on.
            if not isinstance(evaluation, dg.AssetCheckEvaluation):
                continue
            if evaluation.passed or evaluation.severity != dg.AssetCheckSeverity.ERROR:
                continue
            reason_value = evaluation.metadata.get("reason")
            reason = str(
                getattr(reason_value, "value", reason_value) or evaluation.description or "check failed"
            )
            day = evaluation.partition
            out.append(
                Trigger(
                    f"{key.asset_key.to_user_string()}:{key.name}",
                    str(record.id),
                    reason if day is None or reason.startswith(day) else f"{day}: {reason}",
                    record.run_id,
                    day,
                )
            )
            break
    return out


def label_state(
    mlflow: MlflowResource, now: datetime, maturity_days: int = LABEL_MATURITY_DAYS
) -> LabelState:
    """The champion's training window end and the newest day whose labels are mature at `now`."""
    last_mature = last_mature_day(now, maturity_days)
    try:
        champion = champion_version(mlflow)
    except UnknownTrainingWindowError as exc:
        # A champion whose window is unknown cannot be compared: do not block on a guess.
        return LabelState(str(exc), None, last_mature, maturity_days)
    if champion is None:
        return LabelState(None, None, last_mature, maturity_days)
    return LabelState(
        f"{champion.name} v{champion.version}, {champion.window}",
        champion.last_day,
        last_mature,
        maturity_days,
    )


def freshness_triggers(instance: dg.DagsterInstance, keys: Sequence[dg.AssetKey]) -> list[Trigger]:
    """Watched assets whose freshness state (as the freshness daemon recorded it) is FAIL."""
    records = instance.get_freshness_state_records(list(keys)) if keys else {}
    return [
        Trigger(
            f"freshness:{key.to_user_string()}",
            str(record.updated_at.timestamp()),
            f"{key.to_user_string()} failed its freshness policy (since {record.updated_at.isoformat()})",
        )
        for key, record in records.items()
        if record.freshness_state == FRESHNESS_FAIL
    ]


def build_retraining_sensor(
    name: str = "retraining_sensor",
    cooldown: timedelta = DEFAULT_COOLDOWN,
    checks: Sequence[dg.AssetCheckKey] = WATCHED_CHECKS,
    fresh_assets: Sequence[dg.AssetKey] = WATCHED_MODELS,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dg.SensorDefinition:
    """The retraining sensor; tests pass their own cooldown and clock."""

    @dg.sensor(
        name=name,
        job=retraining_job,
        minimum_interval_seconds=RETRAINING_SENSOR_INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Retrain and re-gate the model when {', '.join(k.name for k in checks)} fails or the "
        f"model goes stale; one run in flight at most, one request per {cooldown}.",
    )
    def _sensor(context: dg.SensorEvaluationContext, mlflow: MlflowResource):
        state = json.loads(context.cursor) if context.cursor else {}
        handled: dict[str, str] = state.get("handled", {})
        last = state.get("last_request_at")
        triggers = check_triggers(context.instance, checks) + freshness_triggers(
            context.instance, fresh_assets
        )
        in_flight = context.instance.get_run_ids(
            filters=dg.RunsFilter(job_name=RETRAINING_JOB, statuses=IN_FLIGHT), limit=1
        )
        now = clock()
        fresh = any(handled.get(t.key) != t.event_id for t in triggers)
        decision = decide_retraining(
            triggers,
            handled,
            in_flight,
            datetime.fromisoformat(last) if last else None,
            now,
            cooldown,
            label_state(mlflow, now) if fresh else None,
        )
        if decision.trigger is None:
            return dg.SkipReason(decision.skip_reason)
        trigger = decision.trigger
        context.update_cursor(
            json.dumps(
                {
                    "handled": {**handled, **{t.key: t.event_id for t in triggers}},
                    "last_request_at": now.isoformat(),
                }
            )
        )
        context.log.info(f"retraining requested by {trigger.key}: {trigger.reason}")
        return dg.RunRequest(
            run_key=f"retrain-{trigger.key}-{trigger.event_id}",
            tags={
                "mlops/trigger": trigger.key,
                "mlops/trigger_reason": trigger.reason[:REASON_TAG_CHARS],
                "mlops/trigger_run_id": trigger.source_run_id or "",
                "mlops/trigger_partition": trigger.partition or "",
                "mlops/requested_at": now.isoformat(timespec="seconds"),
            },
        )

    return _sensor


retraining_sensor = build_retraining_sensor()
