"""Read what a run stored per partition back from the instance's event log (not from the run's result)."""

from __future__ import annotations

from datetime import date

import dagster as dg


def range_tags(start: date, end: date) -> dict[str, str]:
    """Tags of a single-run backfill over [start, end], both inclusive."""
    return {
        "dagster/asset_partition_range_start": start.isoformat(),
        "dagster/asset_partition_range_end": end.isoformat(),
    }


def ranged_run(
    assets: list, resources: dict, instance: dg.DagsterInstance, start: date, end: date
) -> dg.ExecuteInProcessResult:
    """A single-run backfill of [start, end] that may fail: the caller asserts what was stored."""
    return dg.materialize(
        assets, resources=resources, instance=instance, tags=range_tags(start, end), raise_on_error=False
    )


def backfill_then_fail(
    assets: list, resources: dict, instance: dg.DagsterInstance, days: list[date]
) -> tuple[dg.ExecuteInProcessResult, dg.ExecuteInProcessResult]:
    """A single-run backfill of days 1-3, then one of days 4-5 that fails (the caller broke day 5)."""
    ok = dg.materialize(assets, resources=resources, instance=instance, tags=range_tags(days[0], days[2]))
    failed = ranged_run(assets, resources, instance, days[3], days[4])
    return ok, failed


def stored_metadata(instance: dg.DagsterInstance, asset: str, day: date) -> dict[str, object]:
    """The metadata of the latest materialization of one partition, as the event log holds it."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[day.isoformat()]), limit=1
    ).records
    assert records, f"{asset} {day}: no materialization in the instance"
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}  # type: ignore[union-attr]


def stored_check_results(instance: dg.DagsterInstance, asset: str, check: str) -> dict[str, bool]:
    """Per partition, whether the check's latest evaluation passed, from the instance."""
    records = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey(asset), check), limit=1000
    )
    out: dict[str, bool] = {}
    for record in reversed(records):  # oldest first, so the latest result per day wins
        evaluation = record.evaluation
        if isinstance(evaluation, dg.AssetCheckEvaluation):
            assert evaluation.partition is not None, f"{asset}:{check} result stored without a partition"
            out[evaluation.partition] = evaluation.passed
    return out
