"""Warm-up: the first days of the data, whose rolling features have not seen their full lookback yet.

The customer features aggregate the 30 days before each transaction (`CUSTOMER_LOOKBACK_DAYS`). On the
first day of data those windows are empty, on day 10 they hold 10 days: counts and sums grow day by day
for no reason but the data's age. Judging drift on such a day against a mature reference raises false
alarms (a cold-start run flagged the first four days), and training on them teaches the model feature
values it will never see again. A day is warming up while its lookback reaches before the first day of
data; the merchant label-rate tail (labels arriving up to 45 days late) is left out of this rule, since
counting it would leave a 60-day history without a single judged day.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Final

from mlops_assets.defs.features.compute import CUSTOMER_LOOKBACK_DAYS
from mlops_assets.lakehouse import existing_days
from mlops_assets.tables import VALIDATED_TABLE

WARM_UP_DAYS: Final[int] = CUSTOMER_LOOKBACK_DAYS


def first_data_day(lakehouse_root: Path) -> date | None:
    """The first day with a validated partition: where the data, and so every lookback, starts."""
    present = existing_days(lakehouse_root, VALIDATED_TABLE)
    return present[0] if present else None


def warm_up_end(first_day: date, warm_up_days: int = WARM_UP_DAYS) -> date:
    """The first day whose full lookback lies inside the data."""
    return first_day + timedelta(days=warm_up_days)


def is_warming_up(day: date, first_day: date | None, warm_up_days: int = WARM_UP_DAYS) -> bool:
    """Whether `day`'s features lack part of their lookback because the data starts after it began."""
    return first_day is not None and day < warm_up_end(first_day, warm_up_days)


def warm_up_reason(day: date, first_day: date, warm_up_days: int = WARM_UP_DAYS) -> str:
    """The sentence a verdict gives for a warming-up day."""
    return (
        f"{day}: warming up: its {warm_up_days}-day feature lookback starts before the first day of data "
        f"({first_day}); days from {warm_up_end(first_day, warm_up_days)} on are judged"
    )
