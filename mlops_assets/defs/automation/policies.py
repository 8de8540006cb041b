"""Declarative automation and freshness policies, applied centrally to the assets of every stage.

`apply_automation(defs)` is called once from `definitions.py`. It sets:
- `AutomationCondition.eager()` on the daily flow below raw data (validated, quarantined, customer and
  merchant features, online features, batch predictions, drift report), so a new raw partition flows
  down on its own; an `AutomationConditionSensorDefinition` evaluates them (running by default);
- `FreshnessPolicy.time_window` on `raw_transactions` and `validated_transactions` (a day of data is
  expected daily: warn after 26 h, fail after 36 h without a new materialization) and on the model
  (`fraud_model/*`: warn after 7 days, fail after 14), whose FAIL the retraining sensor acts on.
`raw_transactions` itself is started by `landing_files_sensor` (files arriving), not by a condition;
training and promotion are started by `retraining_sensor`, never eagerly (a model is not retrained
because a day of features arrived).
"""

from collections.abc import Iterable
from datetime import timedelta

import dagster as dg

from mlops_assets.tables import (
    CUSTOMER_TABLE,
    DRIFT_REPORT,
    FRAUD_MODEL,
    MERCHANT_TABLE,
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

DAILY_DATA_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=36), warn_window=timedelta(hours=26)
)
MODEL_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(days=14), warn_window=timedelta(days=7)
)


# The feature tables declare 30/75 days of validated history (TimeWindowPartitionMapping), and plain
# `eager()` waits until every one of those days exists: a young deployment, or one day never ingested
# 40 days back, would stop the newest day's features for weeks. The features treat a missing history
# day as "no data" (and report it in `missing_lookback_days`), so only the same-day input must exist.
LOOKBACK_EAGER = (
    dg.AutomationCondition.eager()
    .replace(
        "any_deps_missing",
        dg.AutomationCondition.any_deps_match(
            dg.AutomationCondition.in_latest_time_window()
            & dg.AutomationCondition.missing()
            & ~dg.AutomationCondition.will_be_requested()
        ).with_label("same_day_dep_missing"),
    )
    .with_label("eager")
)
LOOKBACK_ASSETS: tuple[str, ...] = (CUSTOMER_TABLE, MERCHANT_TABLE)


def _keys(names: Iterable[str]) -> set[dg.AssetKey]:
    return {dg.AssetKey(n) for n in names}


def _with_policies(spec: dg.AssetSpec) -> dg.AssetSpec:
    if spec.key in _keys(LOOKBACK_ASSETS):
        spec = spec.replace_attributes(automation_condition=LOOKBACK_EAGER)
    elif spec.key in _keys(DAILY_FLOW):
        spec = spec.replace_attributes(automation_condition=dg.AutomationCondition.eager())
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
        minimum_interval_seconds=30,
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
