"""The one daily partitions definition every partitioned asset shares.

Sharing a single definition is what lets Dagster map a day of raw data to the same day of
validated rows, features, predictions and drift reports, and backfill them together.
"""

from __future__ import annotations

from datetime import date

import dagster as dg

from mlops_assets.lakehouse import days_between
from mlops_assets.settings import Settings

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=Settings.from_env().partitions_start.isoformat(),
    timezone="UTC",
)


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """The days this run covers: one for a normal run, many for a single-run backfill."""
    window = context.partition_time_window
    return days_between(window.start.date(), window.end.date())
