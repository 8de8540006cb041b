"""The per-day measures behind the validation checks, computed for a ranged run's days at once."""

from datetime import date, timedelta

import polars as pl

from mlops_assets.defs.validation.quality import failure_summaries, null_rates_by_day
from mlops_assets.domain import TRANSACTION_COLUMNS
from mlops_assets.simulator import SimulationConfig, simulate_day

DAYS = [date(2026, 4, 1) + timedelta(days=i) for i in range(3)]
CONFIG = SimulationConfig(start=DAYS[0], days=len(DAYS), rows_per_day=20)


def _nulls(frame: pl.DataFrame, column: str, every: int) -> pl.DataFrame:
    """`frame` with every `every`-th value of `column` null."""
    keep = pl.int_range(pl.len()) % every != 0
    return frame.with_columns(pl.when(keep).then(pl.col(column)).alias(column))


def test_each_days_null_rates_are_its_own_an_empty_day_has_none() -> None:
    raw = {
        DAYS[0]: _nulls(simulate_day(DAYS[0], CONFIG), "amount_eur", 4),
        DAYS[1]: simulate_day(DAYS[1], CONFIG).clear(),
        DAYS[2]: _nulls(_nulls(simulate_day(DAYS[2], CONFIG), "device", 2), "country", 10),
    }
    rates = null_rates_by_day(raw)
    assert list(rates) == DAYS
    assert rates[DAYS[0]] == {c: (0.25 if c == "amount_eur" else 0.0) for c in TRANSACTION_COLUMNS}
    assert rates[DAYS[1]] == dict.fromkeys(TRANSACTION_COLUMNS, 0.0)
    assert rates[DAYS[2]] == {c: {"device": 0.5, "country": 0.1}.get(c, 0.0) for c in TRANSACTION_COLUMNS}


def test_each_days_failures_are_counted_per_rule_most_frequent_first_ties_by_column_then_rule() -> None:
    def failures(*cases: tuple[str, str]) -> pl.DataFrame:
        return pl.DataFrame(
            {"_row": range(len(cases)), "column": [c for c, _ in cases], "check": [r for _, r in cases]},
            schema={"_row": pl.UInt32, "column": pl.String, "check": pl.String},
        )

    by_day = {
        DAYS[0]: failures(("device", "isin"), ("amount_eur", "not_nullable"), ("device", "isin"), ("a", "z")),
        DAYS[1]: failures(),
        DAYS[2]: failures(("amount_eur", "not_nullable"), ("amount_eur", "greater_than(0)")),
    }
    summaries = failure_summaries(by_day)
    assert list(summaries) == DAYS
    assert summaries[DAYS[0]].rows() == [
        ("device", "isin", 2),
        ("a", "z", 1),
        ("amount_eur", "not_nullable", 1),
    ]
    assert summaries[DAYS[1]].rows() == []
    assert summaries[DAYS[1]].columns == ["column", "check", "rows"]
    assert summaries[DAYS[2]].rows() == [
        ("amount_eur", "greater_than(0)", 1),
        ("amount_eur", "not_nullable", 1),
    ]
