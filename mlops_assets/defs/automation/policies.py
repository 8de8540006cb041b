"""Declarative automation and freshness policies, applied centrally to the assets of every stage.

`apply_automation(defs)` is called once from `definitions.py`. It sets:
- `DAILY_FLOW_CONDITION` on the daily flow below raw data (validated, quarantined, customer and
  merchant features, online features, batch predictions, drift report); an
  `AutomationConditionSensorDefinition` evaluates them (running by default). It is `eager()` with
  three changes:
  - a dependency counts as updated only when its data version changed: `model_promotion` records the
    champions as its data version, so a refused promotion re-scores nothing;
  - corrections flow: a partition already materialized in the last `CORRECTION_WINDOW` days is
    re-materialized when a daily dependency of it updates (a re-landed raw day, then the validated
    day, then every feature day whose lookback holds it, as the partition mappings declare, then
    their scores and drift reports). The window bounds the fan-out: one corrected day re-runs at
    most 31 partitions of each asset below it (one backfill, single run per asset); a correction
    older than the window is left to a manual backfill. `model_promotion` and `online_features`
    (unpartitioned) never fan out into past days: a new champion scores new days only;
  - a day whose blocking validation check failed (`schema_pass_rate`) flows no further: inside its
    run the failed check fails the step, and automation does not start its downstream either; the
    check's result in the UI says why;
- `FreshnessPolicy.time_window` on `raw_transactions` and `validated_transactions` (a day of data is
  expected daily: warn after 26 h, fail after 36 h without a new materialization) and on the model
  (`fraud_model/*`: warn after 7 days, fail after 14), whose FAIL the retraining sensor acts on.
`raw_transactions` itself is started by `landing_files_sensor` (files arriving), not by a condition;
training and promotion are started by `retraining_sensor`, never eagerly (a model is not retrained
because a day of features arrived).
"""

import os
from collections.abc import Iterable
from datetime import timedelta

import dagster as dg

from mlops_assets.tables import (
    CUSTOMER_TABLE,
    DRIFT_REPORT,
    FRAUD_MODEL,
    MERCHANT_TABLE,
    MODEL_PROMOTION,
    ONLINE_FEATURES,
    PREDICTIONS_TABLE,
    QUARANTINED_TABLE,
    RAW_TABLE,
    VALIDATED_TABLE,
)

DAILY_FLOW: tuple[str, ...] = (
    VALIDATED_TABLE,
    QUARANTINED_TABLE,
    CUSTOMER_TABLE,
    MERCHANT_TABLE,
    ONLINE_FEATURES,
    PREDICTIONS_TABLE,
    DRIFT_REPORT,
)
DAILY_DATA: tuple[str, ...] = (RAW_TABLE, VALIDATED_TABLE)
AUTOMATION_SENSOR = "daily_flow_automation"
# Seconds between evaluations; a test of the real daemon shortens it through this variable.
AUTOMATION_INTERVAL_S = int(os.environ.get("MLOPS_AUTOMATION_INTERVAL_S", "30"))

DAILY_DATA_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=36), warn_window=timedelta(hours=26)
)
MODEL_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(days=14), warn_window=timedelta(days=7)
)


# A day of data is corrected within this many days of its date, or by a manual backfill.
CORRECTION_WINDOW = timedelta(days=31)


def _deps_with_new_data(ignore: dg.AssetSelection | None = None) -> dg.AutomationCondition:
    """`any_deps_updated`, counting an update only when it changed the dependency's data version."""
    deps = dg.AutomationCondition.any_deps_match(
        (
            dg.AutomationCondition.data_version_changed()
            & ~dg.AutomationCondition.executed_with_root_target()
        ).with_label("data_version_changed_without_root")
        | dg.AutomationCondition.will_be_requested()
    )
    if ignore is not None:
        deps = deps.ignore(ignore)
    return deps.with_label("any_deps_data_changed")


def _blocking_check_failed(same_day: bool) -> dg.AutomationCondition:
    """A dependency partition whose blocking check (validation's pass rate) failed.

    Only a failure blocks: a day whose check has not run yet (the runless history of a test, or a
    check added later) is not held back. For the newest day, only the same day's dependency counts
    (the dependency's latest partition); a corrected past day is held back by a failed day anywhere in
    its lookback, so nothing is recomputed on top of data that failed validation.
    """
    failed: dg.AutomationCondition = dg.AutomationCondition.any_checks_match(
        dg.AutomationCondition.check_failed(), blocking_only=True
    )
    if same_day:
        failed = dg.AutomationCondition.in_latest_time_window() & failed
    return dg.AutomationCondition.any_deps_match(failed).with_label("blocking_check_failed")


def _correction() -> dg.AutomationCondition:
    """Re-materialize an existing past partition when a daily dependency of it changed."""
    return (
        dg.AutomationCondition.in_latest_time_window(CORRECTION_WINDOW)
        & ~dg.AutomationCondition.in_latest_time_window()
        & ~dg.AutomationCondition.missing()
        & _deps_with_new_data(
            ignore=dg.AssetSelection.assets(MODEL_PROMOTION, ONLINE_FEATURES)
        ).since_last_handled()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
        & ~_blocking_check_failed(same_day=False)
    ).with_label("correction")


def _latest(any_deps_missing: dg.AutomationCondition | None = None) -> dg.AutomationCondition:
    """`eager()` on the latest day, data-version aware and stopped by a failed blocking check."""
    condition = dg.AutomationCondition.eager().replace("any_deps_updated", _deps_with_new_data())
    if any_deps_missing is not None:
        condition = condition.replace("any_deps_missing", any_deps_missing)
    return (condition & ~_blocking_check_failed(same_day=True)).with_label("eager_latest")


DAILY_FLOW_CONDITION = (_latest() | _correction()).with_label("daily_flow")

# The feature tables declare 30/75 days of validated history (TimeWindowPartitionMapping), and plain
# `eager()` waits until every one of those days exists: a young deployment, or one day never ingested
# 40 days back, would stop the newest day's features for weeks. The features treat a missing history
# day as "no data" (and report it in `missing_lookback_days`), so only the same-day input must exist.
LOOKBACK_EAGER = (
    _latest(
        dg.AutomationCondition.any_deps_match(
            dg.AutomationCondition.in_latest_time_window()
            & dg.AutomationCondition.missing()
            & ~dg.AutomationCondition.will_be_requested()
        ).with_label("same_day_dep_missing")
    )
    | _correction()
).with_label("daily_flow")
LOOKBACK_ASSETS: tuple[str, ...] = (CUSTOMER_TABLE, MERCHANT_TABLE)


def _keys(names: Iterable[str]) -> set[dg.AssetKey]:
    return {dg.AssetKey(n) for n in names}


def _with_policies(spec: dg.AssetSpec) -> dg.AssetSpec:
    if spec.key in _keys(LOOKBACK_ASSETS):
        spec = spec.replace_attributes(automation_condition=LOOKBACK_EAGER)
    elif spec.key in _keys(DAILY_FLOW):
        spec = spec.replace_attributes(automation_condition=DAILY_FLOW_CONDITION)
    if spec.key in _keys(DAILY_DATA):
        spec = spec.replace_attributes(freshness_policy=DAILY_DATA_FRESHNESS)
    if spec.key.path[0] == FRAUD_MODEL:
        spec = spec.replace_attributes(freshness_policy=MODEL_FRESHNESS)
    return spec


def automation_sensor() -> dg.AutomationConditionSensorDefinition:
    """Evaluates the eager conditions of the daily flow (runs by default, every 30 s)."""
    return dg.AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=dg.AssetSelection.assets(*DAILY_FLOW),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=AUTOMATION_INTERVAL_S,
        description="Materializes each new day through validation, features, scoring and drift.",
    )


def apply_automation(defs: dg.Definitions) -> dg.Definitions:
    """`defs` with automation conditions and freshness policies on the specs, plus the automation sensor.

    Assets that are not in `defs` (a stage not built yet) are simply not touched. `dg.map_asset_specs` is
    the stable API for this (`Definitions.map_asset_specs` is still a preview in Dagster 1.13), so the
    other parts of `defs` are carried over field by field.
    """
    # Applied to every spec: `_with_policies` leaves the ones it does not name unchanged.
    return dg.Definitions(
        assets=dg.map_asset_specs(_with_policies, list(defs.assets or [])),  # type: ignore[arg-type]
        asset_checks=defs.asset_checks,
        jobs=defs.jobs,
        schedules=defs.schedules,
        sensors=[*(defs.sensors or []), automation_sensor()],
        resources=defs.resources,
        executor=defs.executor,
        loggers=defs.loggers,
        metadata=defs.metadata,
        component_tree=defs.component_tree,
    )
