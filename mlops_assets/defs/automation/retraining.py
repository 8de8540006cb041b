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

Guards: never two retraining runs in flight, and at most one request per cooldown (default 12 h). A
trigger seen during either stays unhandled, so it fires after the guard lifts if it is still the
latest. The run's tags name the trigger (`mlops/trigger`), its reason, and the run that produced it.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg

from mlops_assets.defs.monitoring.assets import CHECK_KEYS, FEATURE_DRIFT_CHECK, PERFORMANCE_CHECK
from mlops_assets.defs.training.assets import FRAUD_MODEL_KEYS
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
) -> Decision:
    """At most one request: the first unhandled trigger, unless a run is in flight or the cooldown holds."""
    fresh = [t for t in triggers if handled.get(t.key) != t.event_id]
    if not fresh:
        return Decision(None, "no failed drift/performance check or stale model since the last request")
    names = ", ".join(t.key for t in fresh)
    if in_flight_run_ids:
        return Decision(None, f"{names} failed, but retraining run {in_flight_run_ids[0]} is still in flight")
    if last_request_at is not None and now - last_request_at < cooldown:
        until = (last_request_at + cooldown).isoformat(timespec="seconds")
        return Decision(
            None,
            f"{names} failed, but the cooldown holds until {until} (last request "
            f"{last_request_at.isoformat(timespec='seconds')})",
        )
    return Decision(fresh[0])


def check_triggers(instance: dg.DagsterInstance, keys: Sequence[dg.AssetCheckKey]) -> list[Trigger]:
    """Latest evaluations of the watched checks that failed with severity ERROR."""
    out: list[Trigger] = []
    for key in keys:
        record = instance.get_latest_asset_check_evaluation_record(key)
        evaluation = record.evaluation if record else None
        # A skipped check (e.g. performance pending) leaves only a "planned" event: nothing to act on.
        if record is None or not isinstance(evaluation, dg.AssetCheckEvaluation):
            continue
        if evaluation.passed or evaluation.severity != dg.AssetCheckSeverity.ERROR:
            continue
        reason_value = evaluation.metadata.get("reason")
        reason = str(getattr(reason_value, "value", reason_value) or evaluation.description or "check failed")
        out.append(
            Trigger(f"{key.asset_key.to_user_string()}:{key.name}", str(record.id), reason, record.run_id)
        )
    return out


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
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Retrain and re-gate the model when {', '.join(k.name for k in checks)} fails or the "
        f"model goes stale; one run in flight at most, one request per {cooldown}.",
    )
    def _sensor(context: dg.SensorEvaluationContext):
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
        decision = decide_retraining(
            triggers, handled, in_flight, datetime.fromisoformat(last) if last else None, now, cooldown
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
                "mlops/requested_at": now.isoformat(timespec="seconds"),
            },
        )

    return _sensor


retraining_sensor = build_retraining_sensor()
