"""The pandera split: each rule quarantines exactly the bad rows, with a reason naming column and rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shared_fixtures import DAY

from mlops_assets.defs.ingestion.landing import coerce_to_contract
from mlops_assets.defs.validation.split import SchemaContractError, split_transactions
from mlops_assets.simulator import SimulationConfig, simulate_day

BASE = simulate_day(DAY, SimulationConfig(start=DAY, days=1, rows_per_day=30))


def _raw(frame: pl.DataFrame) -> pl.DataFrame:
    """A frame as ingestion hands it to validation (typed, with lineage columns)."""
    typed = coerce_to_contract(frame)
    return typed.with_columns(
        pl.lit("2026-01-10/f.parquet").alias("source_file"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("source_row"),
        pl.lit("abc123").alias("source_sha256"),
        pl.lit(datetime(2026, 1, 11, tzinfo=UTC)).alias("ingested_at"),
    )


def _with(row: int, **values: object) -> pl.DataFrame:
    return BASE.with_columns(
        pl.when(pl.int_range(pl.len()) == row)
        .then(pl.lit(v, dtype=BASE.schema[c]))
        .otherwise(pl.col(c))
        .alias(c)
        for c, v in values.items()
    )


@pytest.mark.parametrize(
    ("values", "column", "rule"),
    [
        ({"amount_eur": -5.0}, "amount_eur", "greater_than(0)"),
        ({"amount_eur": None}, "amount_eur", "not_nullable"),
        ({"customer_id": None}, "customer_id", "not_nullable"),
        ({"merchant_category": "casino"}, "merchant_category", "isin"),
        ({"device": "fax"}, "device", "isin"),
        ({"country": "Germany"}, "country", "str_matches"),
        ({"event_timestamp": datetime(2026, 1, 11, 0, 0, tzinfo=UTC)}, "event_timestamp", "less_than"),
        (
            {"event_timestamp": datetime(2026, 1, 9, 23, 59, tzinfo=UTC)},
            "event_timestamp",
            "greater_than_or_equal_to",
        ),
        ({"is_fraud": 3}, "is_fraud", "isin"),
        ({"label_available_at": datetime(2026, 1, 9, tzinfo=UTC)}, "label_available_at", "label_after_event"),
    ],
)
def test_each_rule_quarantines_only_the_bad_row_with_its_reason(values: dict, column: str, rule: str) -> None:
    result = split_transactions(_raw(_with(7, **values)), DAY)
    assert result.valid.height == BASE.height - 1
    assert result.quarantined.height == 1
    row = result.quarantined.row(0, named=True)
    assert row["transaction_id"] == BASE["transaction_id"][7]
    assert row["failed_columns"] == column
    assert row["failed_checks"].startswith(rule)
    assert row["quarantine_reason"].startswith(
        f"partition 2026-01-10: file 2026-01-10/f.parquet: row 7: column {column}: rule {rule}"
    )


def test_duplicate_ids_keep_the_first_copy_and_quarantine_the_rest() -> None:
    dup = pl.concat([BASE, BASE.head(3), BASE.head(1)])
    result = split_transactions(_raw(dup), DAY)
    assert result.valid["transaction_id"].to_list() == BASE["transaction_id"].to_list()
    assert sorted(result.quarantined["transaction_id"].to_list()) == sorted(
        BASE["transaction_id"].head(3).to_list() + BASE["transaction_id"].head(1).to_list()
    )
    assert set(result.quarantined["failed_checks"]) == {"field_uniqueness"}


def test_parse_errors_are_quarantined_with_the_original_value() -> None:
    text = BASE.with_columns(pl.col("amount_eur").cast(pl.String))
    text = text.with_columns(
        pl.when(pl.int_range(pl.len()) == 2)
        .then(pl.lit("abc"))
        .otherwise(pl.col("amount_eur"))
        .alias("amount_eur")
    )
    result = split_transactions(_raw(text), DAY)
    assert result.quarantined.height == 1
    assert (
        "column amount_eur: rule parse_type failed (expected Float64, got 'abc')"
        in result.quarantined["quarantine_reason"][0]
    )


def test_empty_day_is_valid_and_passes() -> None:
    result = split_transactions(_raw(BASE.head(0)), DAY)
    assert (result.valid.height, result.quarantined.height, result.pass_rate) == (0, 0, 1.0)


corruptions = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=BASE.height - 1),
        st.sampled_from(["neg_amount", "null_customer", "bad_category", "late", "dup_id"]),
    ),
    max_size=15,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corruptions)
def test_valid_plus_quarantined_is_raw_row_for_row(changes: list[tuple[int, str]]) -> None:
    frame = BASE
    for row, kind in changes:
        values = {
            "neg_amount": {"amount_eur": -1.0},
            "null_customer": {"customer_id": None},
            "bad_category": {"merchant_category": "casino"},
            "late": {"event_timestamp": datetime(2026, 1, 10, tzinfo=UTC) + timedelta(days=2)},
            "dup_id": {"transaction_id": BASE["transaction_id"][0]},
        }[kind]
        frame = frame.with_columns(
            pl.when(pl.int_range(pl.len()) == row)
            .then(pl.lit(v, dtype=BASE.schema[c]))
            .otherwise(pl.col(c))
            .alias(c)
            for c, v in values.items()
        )
    raw = _raw(frame)
    result = split_transactions(raw, DAY)
    rows = pl.concat([result.valid.select("source_row"), result.quarantined.select("source_row")])
    assert sorted(rows["source_row"].to_list()) == list(range(raw.height))
    assert result.valid["transaction_id"].is_unique().all()
    touched = {row for row, _ in changes}
    assert set(result.valid["source_row"].to_list()) >= set(range(raw.height)) - touched - {0}


def test_a_wrongly_typed_column_is_a_table_level_error_naming_the_column() -> None:
    raw = _raw(BASE).with_columns(pl.col("amount_eur").cast(pl.String))
    with pytest.raises(SchemaContractError, match=r"partition 2026-01-10: column amount_eur: rule dtype"):
        split_transactions(raw, DAY)


def test_days_validated_together_are_judged_as_each_day_alone() -> None:
    """One pandera pass over a range: day bounds and duplicates are judged within each row's own day."""
    from mlops_assets.defs.validation.split import split_partitions

    next_day = DAY + timedelta(days=1)
    day_two = simulate_day(next_day, SimulationConfig(start=DAY, days=2, rows_per_day=30))
    raw = {
        # Day one: a late row (on day two's date) and a duplicate id.
        DAY: _raw(
            _with(3, event_timestamp=datetime(2026, 1, 11, 8, tzinfo=UTC)).with_columns(
                pl.when(pl.int_range(pl.len()) == 5)
                .then(pl.lit(BASE["transaction_id"][4]))
                .otherwise(pl.col("transaction_id"))
                .alias("transaction_id")
            )
        ),
        # Day two repeats one of day one's ids (valid: uniqueness is per day) and has an early row.
        next_day: _raw(
            day_two.with_columns(
                pl.when(pl.int_range(pl.len()) == 0)
                .then(pl.lit(BASE["transaction_id"][0]))
                .otherwise(pl.col("transaction_id"))
                .alias("transaction_id"),
                pl.when(pl.int_range(pl.len()) == 1)
                .then(pl.lit(datetime(2026, 1, 10, 23, tzinfo=UTC)))
                .otherwise(pl.col("event_timestamp"))
                .alias("event_timestamp"),
            )
        ),
    }
    together = split_partitions(raw)
    for day, frame in raw.items():
        alone = split_transactions(frame, day)
        for part in ("valid", "quarantined", "failures"):
            assert getattr(together[day], part).equals(getattr(alone, part)), (day, part)
    assert together[DAY].quarantined["failed_checks"].to_list() == [
        "less_than(the next day's 00:00 UTC)",
        "field_uniqueness",
    ]
    assert together[next_day].quarantined["source_row"].to_list() == [1]
    assert (
        together[next_day]
        .quarantined["quarantine_reason"][0]
        .startswith(
            "partition 2026-01-11: file 2026-01-10/f.parquet: row 1: column event_timestamp: "
            "rule greater_than_or_equal_to(the partition day's 00:00 UTC) failed"
        )
    )
    assert BASE["transaction_id"][0] in together[next_day].valid["transaction_id"].to_list()
