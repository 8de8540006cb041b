"""The request-time features against the offline functions, the source of truth they re-implement.

`serving.features` computes the definitions of `compute_customer_features` / `compute_merchant_features`
per request in plain Python; on every generated history (same-microsecond ties, times exactly on and one
microsecond off the window boundaries, single events, identical amounts) each transaction's row must be
the offline row: within 1e-9 (relative and absolute) and null exactly where the offline row is null.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_assets.defs.features.compute import compute_customer_features, compute_merchant_features
from mlops_assets.defs.training.data import feature_matrix as frame_matrix
from mlops_assets.feature_catalog import CUSTOMER_FEATURES, MODEL_FEATURES
from mlops_assets.serving.features import (
    customer_features,
    duration_us,
    feature_matrix,
    merchant_volume,
    request_features,
)
from mlops_assets.serving.state import CustomerEvent, CustomerEvents, EntityState, event_of
from mlops_assets.simulator import SimulationConfig, simulate_day

T0 = datetime(2025, 3, 1, tzinfo=UTC)
STEP = timedelta(minutes=30)  # coarse steps: ties and exact window boundaries (1h, 24h, 7d, 30d) happen
VOLUME_FEATURES = ("merch_txn_count_24h", "merch_txn_count_7d")


def same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@st.composite
def histories(draw: st.DrawFn) -> pl.DataFrame:
    """Transactions of a few customers and merchants over 40 days; sometimes all of one amount."""
    size = draw(st.integers(min_value=1, max_value=40))
    fixed = draw(st.none() | st.sampled_from([0.01, 12.5, 99.99, 4999.99]))
    amount = st.just(fixed) if fixed is not None else st.integers(1, 500_000).map(lambda cents: cents / 100)
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["c1", "c2", "c3"]),
                st.sampled_from(["m1", "m2", "m3"]),
                st.integers(min_value=0, max_value=40 * 48),
                st.sampled_from([0, 0, 0, 1, -1]),  # microseconds off the step: just in or out of a window
                st.sampled_from(["DE", "DE", "FR"]),
                amount,
            ),
            min_size=size,
            max_size=size,
        )
    )
    return pl.DataFrame(
        {
            "transaction_id": [f"t{i:03d}" for i in range(len(rows))],
            "customer_id": [r[0] for r in rows],
            "merchant_id": [r[1] for r in rows],
            "event_timestamp": [T0 + r[2] * STEP + timedelta(microseconds=r[3]) for r in rows],
            "country": [r[4] for r in rows],
            "amount_eur": [r[5] for r in rows],
            "is_fraud": [None] * len(rows),
            "label_available_at": [None] * len(rows),
        },
        schema_overrides={
            "is_fraud": pl.Int8,
            "event_timestamp": pl.Datetime("us", "UTC"),
            "label_available_at": pl.Datetime("us", "UTC"),
        },
    )


def assert_matches_offline(transactions: pl.DataFrame) -> int:
    """Every transaction's customer features and merchant volume equal the offline row; rows compared."""
    offline = (
        compute_customer_features(transactions)
        .collect()
        .join(
            compute_merchant_features(transactions).collect().select("transaction_id", *VOLUME_FEATURES),
            on="transaction_id",
        )
    )
    events: dict[str, CustomerEvents] = {}
    times: dict[str, list[int]] = {}
    for tx in transactions.iter_rows(named=True):  # in id order: events.insert sorts them by time
        events.setdefault(tx["customer_id"], CustomerEvents()).insert(event_of(tx))
        times.setdefault(tx["merchant_id"], []).append(event_of(tx).time_us)
    for held in times.values():
        held.sort()
    by_id = {tx["transaction_id"]: tx for tx in transactions.iter_rows(named=True)}
    for expected in offline.iter_rows(named=True):
        tx = by_id[expected["transaction_id"]]
        event = event_of(tx)
        online = customer_features(events[tx["customer_id"]], event) | merchant_volume(
            times[tx["merchant_id"]], event.time_us
        )
        assert set(online) == {*CUSTOMER_FEATURES, *VOLUME_FEATURES}
        wrong = {f: (online[f], expected[f]) for f in online if not same(online[f], expected[f])}
        assert not wrong, f"{tx['transaction_id']} at {tx['event_timestamp']}: (online, offline) {wrong}"
    return offline.height


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(transactions=histories())
def test_request_features_equal_the_offline_functions(transactions: pl.DataFrame) -> None:
    assert assert_matches_offline(transactions) == transactions.height


def test_request_features_equal_the_offline_functions_on_simulated_months() -> None:
    """Realistic sizes: hundreds of events per customer in the 30-day windows, thousands per merchant."""
    config = SimulationConfig(start=T0.date(), days=32, rows_per_day=400)
    transactions = pl.concat([simulate_day(day, config) for day in config.dates])
    assert assert_matches_offline(transactions) == transactions.height == 32 * 400


def test_known_values_on_a_hand_made_history() -> None:
    """Ties at one microsecond, the 1-hour boundary, identical amounts, the z-score's strict history."""
    hour = 3_600_000_000
    events = [
        CustomerEvent(0, "a", "m1", "DE", 10.0),
        CustomerEvent(hour, "b", "m2", "FR", 10.0),
        CustomerEvent(hour, "c", "m1", "DE", 40.0),  # same microsecond as b
        CustomerEvent(2 * hour, "d", "m3", "DE", 30.0),
    ]
    columns = CustomerEvents.of(reversed(events))
    assert columns.transaction_ids == ["a", "b", "c", "d"]
    at_b = customer_features(columns, events[1])
    assert at_b["cust_txn_count_1h"] == 2.0  # (0, 1h]: b and c, not a at exactly t - 1h
    assert at_b["cust_txn_count_24h"] == 3.0 and at_b["cust_amount_sum_24h"] == 60.0
    assert at_b["cust_amount_std_24h"] == pytest.approx(float(np.std([10.0, 10.0, 40.0], ddof=1)), rel=1e-12)
    assert at_b["cust_seconds_since_prev_txn"] == 3600.0
    assert customer_features(columns, events[2])["cust_seconds_since_prev_txn"] == 0.0  # c after b, tied
    assert at_b["cust_amount_zscore_30d"] is None  # one earlier event: no history to judge against
    assert at_b["cust_distinct_merchants_7d"] == 2.0 and at_b["cust_foreign_share_30d"] == 1 / 3
    at_d = customer_features(columns, events[3])
    assert at_d["cust_amount_zscore_30d"] == pytest.approx(
        (30.0 - 20.0) / float(np.std([10, 10, 40], ddof=1))
    )
    first = customer_features(CustomerEvents.of(events[:1]), events[0])
    assert first["cust_amount_std_1h"] == 0.0 and first["cust_seconds_since_prev_txn"] is None
    same_amounts = [CustomerEvent(i * hour, f"t{i}", "m1", "DE", 12.5) for i in range(5)]
    last = customer_features(CustomerEvents.of(same_amounts), same_amounts[-1])
    assert last["cust_amount_std_30d"] == 0.0 and last["cust_amount_zscore_30d"] is None
    assert merchant_volume([0, hour, hour, 25 * hour], hour) == {
        "merch_txn_count_24h": 3.0,
        "merch_txn_count_7d": 3.0,
    }
    assert merchant_volume([0, hour, 25 * hour], 25 * hour)["merch_txn_count_24h"] == 1.0


def test_duration_us_reads_whole_hours_and_days() -> None:
    assert duration_us("1h") == 3_600_000_000 and duration_us("30d") == 30 * 86_400_000_000
    with pytest.raises(ValueError, match="'1mo': expected whole hours or days"):
        duration_us("1mo")


def _tx(tx_id: str, customer: str, merchant: str, minute: int, amount: float) -> dict:
    return {
        "transaction_id": tx_id,
        "customer_id": customer,
        "merchant_id": merchant,
        "event_timestamp": T0 + timedelta(minutes=minute),
        "country": "DE",
        "amount_eur": amount,
    }


def test_request_events_see_the_request_and_never_count_a_retry_twice() -> None:
    state = EntityState()
    state.record([_tx("t1", "c1", "m1", 0, 10.0), _tx("t2", "c1", "m2", 5, 20.0)])
    # A request of two new payments (the second earlier than the first) and a retry of t2.
    batch = [_tx("t3", "c1", "m1", 10, 30.0), _tx("t4", "c1", "m1", 7, 40.0), _tx("t2", "c9", "m9", 99, 1.0)]
    requests = state.request_events(batch)
    assert [r.event.transaction_id for r in requests] == ["t3", "t4", "t2"]
    assert requests[0].customer_events.transaction_ids == ["t1", "t2", "t4", "t3"]
    assert requests[2].customer_id == "c1" and requests[2].merchant_id == "m2"  # scored as first seen
    assert requests[2].customer_events.transaction_ids == ["t1", "t2", "t4", "t3"]
    rows = request_features(requests, {"m1": {"merch_labeled_count_30d": 4.0, "merch_fraud_rate_30d": 0.25}})
    assert [r["cust_txn_count_1h"] for r in rows] == [4.0, 3.0, 2.0]
    assert [r["merch_txn_count_24h"] for r in rows] == [3.0, 2.0, 1.0]
    assert [r["merch_fraud_rate_30d"] for r in rows] == [0.25, 0.25, None]  # m2 unknown: cold
    assert [r["merch_labeled_count_30d"] for r in rows] == [4.0, 4.0, 0.0]
    assert list(rows[0]) == list(MODEL_FEATURES)
    assert len(state) == 2  # nothing recorded until scored
    assert state.record(batch) == 2 and len(state) == 4


def test_record_prunes_events_older_than_the_window_and_a_day() -> None:
    state = EntityState(customer_days=30, merchant_days=7)
    state.record([_tx("old", "c1", "m1", 0, 10.0)])
    state.record([_tx("new", "c1", "m1", 31 * 24 * 60 + 1, 10.0)])
    (request,) = state.request_events([_tx("new", "c1", "m1", 0, 0.0)])
    assert request.customer_events.transaction_ids == ["new"]
    assert len(request.merchant_times_us) == 1 and len(state) == 1
    assert state.record([_tx("old", "c1", "m1", 0, 10.0)]) == 1  # forgotten: a new payment now


def test_feature_matrix_is_the_frame_matrix_of_the_same_rows() -> None:
    rows = [
        dict.fromkeys(MODEL_FEATURES, 0.1) | {"cust_amount_zscore_30d": None},
        dict.fromkeys(MODEL_FEATURES, 1e20) | {"merch_fraud_rate_30d": 1 / 3},
    ]
    features = list(reversed(MODEL_FEATURES))
    expected = frame_matrix(pl.DataFrame(rows, schema=dict.fromkeys(MODEL_FEATURES, pl.Float64)), features)
    matrix = feature_matrix(rows, features)
    assert matrix.dtype == np.float32 and matrix.flags.c_contiguous
    np.testing.assert_array_equal(matrix, expected)
    assert np.isnan(matrix[0, features.index("cust_amount_zscore_30d")])
