"""Warm-up days: a day is warming up while its 30-day lookback starts before the first day of data."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from mlops_assets.defs.features.warmup import (
    WARM_UP_DAYS,
    first_data_day,
    is_warming_up,
    warm_up_end,
    warm_up_reason,
)
from mlops_assets.lakehouse import partition_path

FIRST = date(2026, 10, 2)


def test_the_first_thirty_days_warm_up_and_the_thirty_first_is_judged() -> None:
    assert WARM_UP_DAYS == 30
    assert warm_up_end(FIRST) == date(2026, 11, 1)
    assert is_warming_up(FIRST, FIRST)
    assert is_warming_up(date(2026, 10, 31), FIRST)
    assert not is_warming_up(date(2026, 11, 1), FIRST)
    assert not is_warming_up(FIRST, None)  # no data yet: nothing to warm up against
    assert warm_up_reason(date(2026, 10, 5), FIRST) == (
        "2026-10-05: warming up: its 30-day feature lookback starts before the first day of data "
        "(2026-10-02); days from 2026-11-01 on are judged"
    )


def test_first_data_day_is_the_oldest_validated_partition(tmp_path) -> None:
    assert first_data_day(tmp_path) is None
    for offset in (3, 0, 7):
        path = partition_path(tmp_path, "validated_transactions", FIRST + timedelta(days=offset))
        path.parent.mkdir(parents=True)
        pl.DataFrame({"x": [1]}).write_parquet(path)
    assert first_data_day(tmp_path) == FIRST
