"""Which days get Evidently HTML: the rules of `evidently_days`, and what a day without a report says."""

from datetime import date, timedelta

import pytest

from mlops_assets.defs.monitoring.evidently_days import (
    DEFAULT_EVIDENTLY_DAYS,
    EvidentlyDays,
    evidently_absent,
    evidently_reason,
    not_selected_reason,
    parse_evidently_days,
)

RUN = [date(2026, 10, 1) + timedelta(days=i) for i in range(20)]  # 2026-10-01 .. 2026-10-20


def _chosen(spec: str, drifted: set[date], recent_days: int = 7) -> list[int]:
    """Days of October the selection writes a report for."""
    selection = parse_evidently_days(spec)
    return [d.day for d in RUN if evidently_reason(selection, d, RUN, d in drifted, recent_days)]


def test_default_is_drifted_days_and_the_runs_last_seven() -> None:
    assert parse_evidently_days(DEFAULT_EVIDENTLY_DAYS) == EvidentlyDays(drifted=True, recent=True)
    assert _chosen(DEFAULT_EVIDENTLY_DAYS, {date(2026, 10, 3), date(2026, 10, 15)}) == [3, *range(14, 21)]
    assert _chosen("recent", set(), recent_days=2) == [19, 20]
    assert _chosen("drifted", {date(2026, 10, 3)}) == [3]


def test_all_none_days_and_ranges() -> None:
    assert _chosen("all", set()) == list(range(1, 21))
    assert _chosen("none", {date(2026, 10, 3)}) == []
    assert _chosen("", {date(2026, 10, 3)}) == []
    assert _chosen("2026-10-02, 2026-10-05...2026-10-07", set()) == [2, 5, 6, 7]
    assert parse_evidently_days("2026-10-05...2026-10-07,drifted") == EvidentlyDays(
        drifted=True, ranges=((date(2026, 10, 5), date(2026, 10, 7)),)
    )


def test_the_reason_says_which_rule_chose_the_day() -> None:
    selection = parse_evidently_days("drifted,recent,2026-10-02")
    assert evidently_reason(selection, date(2026, 10, 3), RUN, True, 7) == "feature_drift failed"
    assert evidently_reason(selection, date(2026, 10, 20), RUN, False, 1) == "among the run's last 1 day"
    assert evidently_reason(selection, date(2026, 10, 2), RUN, False, 7) == "named in evidently_days"
    assert evidently_reason(selection, date(2026, 10, 4), RUN, False, 7) is None
    assert evidently_reason(parse_evidently_days("all"), date(2026, 10, 4), RUN, False, 7) == (
        "evidently_days: all"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("drifted,recnt", r"evidently_days 'drifted,recnt': 'recnt' is neither drifted, recent, all, none"),
        ("2026-10-32", r"'2026-10-32' is neither"),
        ("2026-10-01..2026-10-03", r"'2026-10-01..2026-10-03' is neither"),
        ("2026-10-05...2026-10-01", r"range '2026-10-05...2026-10-01' ends before it starts"),
    ],
)
def test_a_bad_value_is_named(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_evidently_days(spec)


def test_a_day_without_a_report_says_why_and_how_to_write_it() -> None:
    why = not_selected_reason(parse_evidently_days(DEFAULT_EVIDENTLY_DAYS), 7)
    assert why == "feature_drift passed or was not judged; not among the run's last 7 days"
    assert not_selected_reason(parse_evidently_days("none"), 7) == "evidently_days is none"
    assert evidently_absent(date(2026, 10, 4), why) == (
        "no Evidently HTML: feature_drift passed or was not judged; not among the run's last 7 days. "
        "The statistics JSON has every figure; to write the report, re-materialize the day alone (its run's "
        "last day gets one): dagster asset materialize -m mlops_assets.definitions --select drift_report "
        "--partition 2026-10-04"
    )
