"""`resolve_window`: the training window, its label cutoff and the label-maturity rule, on plain dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from mlops_assets.defs.features.dataset import resolve_window
from mlops_assets.domain import LABEL_MATURITY_DAYS

PRESENT = [date(2025, 1, 1) + timedelta(days=i) for i in range(60)]  # 2025-01-01 .. 2025-03-01


def test_default_window_stops_label_maturity_days_before_the_cutoff() -> None:
    window = resolve_window(PRESENT)
    assert window.label_cutoff == datetime(2025, 3, 2, tzinfo=UTC)  # midnight after the last day
    assert (window.start, window.end, window.requested_end) == (
        date(2025, 1, 1),
        date(2025, 3, 2) - timedelta(days=LABEL_MATURITY_DAYS),
        date(2025, 3, 2),
    )
    assert window.label_maturity_days == LABEL_MATURITY_DAYS == 16
    assert window.immature_days() == [date(2025, 2, 14) + timedelta(days=i) for i in range(16)]


def test_zero_maturity_keeps_every_requested_day() -> None:
    window = resolve_window(PRESENT, label_maturity_days=0, label_cutoff="2025-02-10T12:00:00")
    assert (window.start, window.end, window.immature_days()) == (date(2025, 1, 1), date(2025, 3, 2), [])


def test_a_later_cutoff_matures_every_day_and_a_mid_day_cutoff_rounds_down() -> None:
    assert resolve_window(PRESENT, label_cutoff="2030-01-01T00:00:00").end == date(2025, 3, 2)
    # 16 days before 2025-02-20 12:00 is 2025-02-04 12:00: 2025-02-04 itself is not 16 days old yet.
    assert resolve_window(PRESENT, label_cutoff="2025-02-20T12:00:00").end == date(2025, 2, 4)
    # The cutoff's offset counts: 2025-02-21 01:00+02:00 is 2025-02-20 23:00 UTC.
    offset = datetime(2025, 2, 21, 1, tzinfo=timezone(timedelta(hours=2))).isoformat()
    assert resolve_window(PRESENT, label_cutoff=offset).end == date(2025, 2, 4)


def test_last_n_days_counts_back_from_the_mature_end() -> None:
    window = resolve_window(PRESENT, last_n_days=7, label_maturity_days=10)
    assert (window.start, window.end) == (date(2025, 2, 13), date(2025, 2, 20))
    explicit = resolve_window(PRESENT, start_date="2025-02-01", end_date="2025-02-11", label_maturity_days=5)
    assert (explicit.start, explicit.end, explicit.label_cutoff) == (
        date(2025, 2, 1),
        date(2025, 2, 6),
        datetime(2025, 2, 11, tzinfo=UTC),
    )


def test_a_window_with_no_mature_day_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"no mature day in \[2025-02-20, 2025-03-02\).*before 2025-02-14"):
        resolve_window(PRESENT, start_date="2025-02-20", end_date="2025-03-02")
    with pytest.raises(ValueError, match="label_maturity_days must be at least 0"):
        resolve_window(PRESENT, label_maturity_days=-1)
