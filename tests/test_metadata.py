"""The platform's reporting helpers: progress lines of a long ranged run, each day's own metadata."""

import logging
from datetime import date, timedelta
from time import perf_counter

import dagster as dg
import pytest
from partition_truth import range_tags, stored_metadata

from mlops_assets.metadata import log_progress, partitions_metadata, run_summary


def test_progress_is_logged_every_n_days_and_at_the_last(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("progress_test")
    started = perf_counter()
    with caplog.at_level(logging.INFO, logger="progress_test"):
        for done in range(1, 26):
            log_progress(log, "drift_report", done, 25, started, "3 HTML reports", every=10)
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(" in ")[0] for line in lines] == [
        "drift_report: 10/25 days",
        "drift_report: 20/25 days",
        "drift_report: 25/25 days",
    ]
    assert all(line.endswith(" s, 3 HTML reports") for line in lines)


DAYS = [date(2026, 3, 1) + timedelta(days=i) for i in range(4)]
PARTITIONS = dg.DailyPartitionsDefinition(start_date="2026-03-01")


def _day_metadata(day: date) -> dict[str, object]:
    return {"dagster/row_count": day.day, "path": dg.MetadataValue.path(f"/x/{day}"), "nulls": {"a": 0.5}}


@dg.asset(partitions_def=PARTITIONS, backfill_policy=dg.BackfillPolicy.single_run())
def added_one_call_per_day(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    for day in DAYS:
        context.add_asset_metadata(_day_metadata(day), partition_key=day.isoformat())
    context.add_asset_metadata({"summary": "run"}, partition_key=DAYS[-1].isoformat())
    return dg.MaterializeResult()


@dg.asset(partitions_def=PARTITIONS, backfill_policy=dg.BackfillPolicy.single_run())
def added_in_one_step(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    partitions_metadata(context, {day: _day_metadata(day) for day in DAYS})
    return run_summary(context, DAYS, {"summary": "run"})


def test_each_days_metadata_in_one_step_is_what_one_call_per_day_stores(instance) -> None:
    """The instance holds the same per-day materializations as Dagster's one call per day gives."""
    dg.materialize(
        [added_one_call_per_day, added_in_one_step], instance=instance, tags=range_tags(DAYS[0], DAYS[-1])
    )
    for day in DAYS:
        expected = stored_metadata(instance, "added_one_call_per_day", day)
        assert stored_metadata(instance, "added_in_one_step", day) == expected
        assert expected["dagster/row_count"] == day.day
    assert "summary" in stored_metadata(instance, "added_in_one_step", DAYS[-1])
    assert "summary" not in stored_metadata(instance, "added_in_one_step", DAYS[0])


def test_metadata_for_a_day_outside_the_run_is_refused_naming_it(instance) -> None:
    @dg.asset(partitions_def=PARTITIONS, backfill_policy=dg.BackfillPolicy.single_run())
    def outside(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        partitions_metadata(context, {DAYS[0]: {"n": 1}, DAYS[-1]: {"n": 2}})
        return dg.MaterializeResult()

    with pytest.raises(dg.DagsterInvariantViolationError, match=f"'{DAYS[-1]}' that is not being targeted"):
        dg.materialize([outside], instance=instance, tags=range_tags(DAYS[0], DAYS[1]))
