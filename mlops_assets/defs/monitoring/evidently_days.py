"""Which days of a `drift_report` run get an Evidently HTML report, and what a day without one says.

An Evidently report costs 2-5 s and about 5 MB a day, against milliseconds for our own statistics, so a
60-day backfill spent two minutes on 60 reports nobody opens. By default a run writes HTML only for the
days an analyst opens: the days whose `feature_drift` failed and the run's last 7 days (the daily run's
one day is always its last). Every day still gets its statistics JSON and its checks.

`evidently_days` in the run config is a comma-separated list of:
- `drifted`: days whose `feature_drift` check failed;
- `recent`: the run's last `evidently_recent_days` days (7);
- `all` / `none`;
- a day `2026-10-05` or an inclusive range `2026-10-01...2026-10-31` (the CLI's `--partition-range` form).
The default is `drifted,recent`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

DEFAULT_EVIDENTLY_DAYS: Final[str] = "drifted,recent"
RECENT_DAYS: Final[int] = 7
RANGE_SEPARATOR: Final[str] = "..."


@dataclass(frozen=True)
class EvidentlyDays:
    """A parsed `evidently_days`: the rules and the explicit day ranges (inclusive) it names."""

    every_day: bool = False
    drifted: bool = False
    recent: bool = False
    ranges: tuple[tuple[date, date], ...] = ()


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def _day(text: str, spec: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(
            f"evidently_days {spec!r}: {text.strip()!r} is neither drifted, recent, all, none, "
            f"a day YYYY-MM-DD nor a range YYYY-MM-DD{RANGE_SEPARATOR}YYYY-MM-DD"
        ) from exc


def parse_evidently_days(spec: str) -> EvidentlyDays:
    """Parse the run config's `evidently_days`; a bad token raises `ValueError` naming it."""
    every_day = drifted = recent = False
    ranges: list[tuple[date, date]] = []
    for token in (t.strip() for t in spec.split(",")):
        if token in ("", "none"):
            continue
        if token == "all":
            every_day = True
        elif token == "drifted":
            drifted = True
        elif token == "recent":
            recent = True
        elif RANGE_SEPARATOR in token:
            first, _, last = token.partition(RANGE_SEPARATOR)
            start, end = _day(first, spec), _day(last, spec)
            if end < start:
                raise ValueError(f"evidently_days {spec!r}: range {token!r} ends before it starts")
            ranges.append((start, end))
        else:
            one = _day(token, spec)
            ranges.append((one, one))
    return EvidentlyDays(every_day, drifted, recent, tuple(ranges))


def evidently_reason(
    selection: EvidentlyDays, day: date, run_days: Sequence[date], drifted: bool, recent_days: int
) -> str | None:
    """Why this day gets an Evidently report in this run, or None when it gets none."""
    if selection.every_day:
        return "evidently_days: all"
    if selection.drifted and drifted:
        return "feature_drift failed"
    if selection.recent and run_days and day > run_days[-1] - timedelta(days=recent_days):
        return f"among the run's last {_days(recent_days)}"
    if any(start <= day <= end for start, end in selection.ranges):
        return "named in evidently_days"
    return None


def evidently_absent(day: date, reason: str) -> str:
    """What a day without an HTML report says instead of a path: why, and the command that writes it."""
    return (
        f"no Evidently HTML: {reason}. The statistics JSON has every figure; to write the report, "
        f"re-materialize the day alone (its run's last day gets one): dagster asset materialize "
        f"-m mlops_assets.definitions --select drift_report --partition {day.isoformat()}"
    )


def not_selected_reason(selection: EvidentlyDays, recent_days: int) -> str:
    """Why the selection left a day out (it did not fail feature_drift, was not recent, was not named)."""
    rules = [
        *(["feature_drift passed or was not judged"] if selection.drifted else []),
        *([f"not among the run's last {_days(recent_days)}"] if selection.recent else []),
        *(["not named in evidently_days"] if selection.ranges else []),
    ]
    return "; ".join(rules) if rules else "evidently_days is none"
