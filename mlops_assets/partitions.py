"""The one daily partitions definition every partitioned asset shares.

Sharing a single definition is what lets Dagster map a day of raw data to the same day of
validated rows, features, predictions and drift reports, and backfill them together.
"""

from __future__ import annotations

from datetime import date

import dagster as dg

from mlops_assets.lakehouse import days_between
from mlops_assets.settings import Settings

DAY_WINDOW_SEPARATOR = ".."

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=Settings.from_env().partitions_start.isoformat(),
    timezone="UTC",
)


def format_day_window(first: date, last: date) -> str:
    """`YYYY-MM-DD..YYYY-MM-DD`, both days inclusive: how a day window is written in tags and params."""
    return f"{first.isoformat()}{DAY_WINDOW_SEPARATOR}{last.isoformat()}"


def parse_day_window(text: str) -> tuple[date, date]:
    """First and last day of a window written by `format_day_window`; ValueError naming the text."""
    first, separator, last = text.strip().partition(DAY_WINDOW_SEPARATOR)
    try:
        if not separator:
            raise ValueError("no '..' between the days")
        window = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError as exc:
        raise ValueError(f"day window {text!r}: expected YYYY-MM-DD..YYYY-MM-DD ({exc})") from exc
    if window[1] < window[0]:
        raise ValueError(f"day window {text!r}: the last day is before the first")
    return window


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """The days this run covers: one for a normal run, many for a single-run backfill."""
    window = context.partition_time_window
    return days_between(window.start.date(), window.end.date())
