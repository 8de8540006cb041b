"""Warm-up days: a day is warming up while its 30-day lookback starts before the first day of data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

from mlops_assets.defs.features.assets import TrainingDatasetConfig, warm_up_decision
from mlops_assets.defs.features.dataset import DateWindow
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


def _window(start: date, end: date) -> DateWindow:
    cutoff = datetime.combine(end + timedelta(days=16), datetime.min.time(), tzinfo=UTC)
    return DateWindow(start, end, cutoff, requested_end=end + timedelta(days=16), label_maturity_days=16)


def test_training_windows_leave_the_warm_up_out_when_enough_mature_days_follow() -> None:
    present = [FIRST + timedelta(days=i) for i in range(90)]
    config = TrainingDatasetConfig()
    long = _window(FIRST, FIRST + timedelta(days=74))  # 44 mature days after the warm-up
    assert warm_up_decision(long, present, config) == (
        "excluded: 2026-10-02..2026-10-31 are warming up; the window starts 2026-11-01"
    )
    # The demo's 60 days: 14 mature days after the warm-up are too few to train, validate and hold out.
    short = _window(FIRST, FIRST + timedelta(days=44))
    assert warm_up_decision(short, present, config) == (
        "kept: only 14 mature days follow the warm-up (ends 2026-11-01), fewer than min_days_after_warm_up=21"
    )
    assert warm_up_decision(long, present, TrainingDatasetConfig(include_warm_up=True)).startswith(
        "kept: include_warm_up is set"
    )
    explicit = TrainingDatasetConfig(start_date="2026-10-02")
    assert warm_up_decision(long, present, explicit) == "kept: the window was given explicitly"
    late = _window(FIRST + timedelta(days=40), FIRST + timedelta(days=74))
    assert warm_up_decision(late, present, config) == "kept: no day of the window is warming up"
