"""Window semantics of the feature functions on hand-made frames, with exact expected values."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from mlops_assets.defs.features.compute import compute_customer_features, compute_merchant_features
from mlops_assets.feature_catalog import CUSTOMER_FEATURES, MERCHANT_FEATURES

T0 = datetime(2025, 3, 1, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
COLUMNS = [
    "transaction_id",
    "customer_id",
    "merchant_id",
    "event_timestamp",
    "country",
    "amount_eur",
    "is_fraud",
    "label_available_at",
]


def frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=COLUMNS, orient="row").with_columns(
        pl.col("is_fraud").cast(pl.Int8), pl.col("event_timestamp").dt.cast_time_unit("us")
    )


def by_id(features: pl.LazyFrame) -> dict[str, dict]:
    return {row["transaction_id"]: row for row in features.collect().iter_rows(named=True)}


@pytest.fixture
def customer() -> dict[str, dict]:
    rows = [
        ("a", "c1", "m1", T0, "DE", 10.0, 0, T0 + 2 * D),
        ("b", "c1", "m2", T0 + 30 * timedelta(minutes=1), "FR", 20.0, 0, T0 + 2 * D),
        ("c", "c1", "m1", T0 + H, "DE", 30.0, 0, T0 + 2 * D),  # exactly 1h after a: a leaves the 1h window
        ("d", "c1", "m3", T0 + 7 * D + H, "DE", 40.0, 0, T0 + 9 * D),  # exactly 7d after c
        ("e", "c1", "m3", T0 + 31 * D, "DE", 100.0, 0, T0 + 33 * D),  # a, b, c left the 30d window
        ("x", "c2", "m1", T0 + D, "US", 5.0, 0, T0 + 3 * D),
        ("y", "c2", "m1", T0 + D, "DE", 7.0, 0, T0 + 3 * D),  # same microsecond as x
    ]
    # Shuffled input: the functions must not rely on the caller's order.
    return by_id(compute_customer_features(frame(rows[::-1])))


def test_rolling_counts_sums_means_and_stds_are_right_closed(customer: dict[str, dict]) -> None:
    c = customer["c"]
    assert (c["cust_txn_count_1h"], c["cust_amount_sum_1h"], c["cust_amount_mean_1h"]) == (2.0, 50.0, 25.0)
    assert c["cust_amount_std_1h"] == pytest.approx(math.sqrt(50.0))  # sample std of {20, 30}
    assert (c["cust_txn_count_24h"], c["cust_amount_sum_24h"], c["cust_amount_mean_24h"]) == (3.0, 60.0, 20.0)
    assert c["cust_amount_std_24h"] == pytest.approx(10.0)
    d = customer["d"]
    assert (d["cust_txn_count_7d"], d["cust_amount_sum_7d"], d["cust_amount_std_7d"]) == (1.0, 40.0, 0.0)
    assert (d["cust_txn_count_30d"], d["cust_amount_sum_30d"], d["cust_amount_mean_30d"]) == (
        4.0,
        100.0,
        25.0,
    )
    assert d["cust_amount_std_30d"] == pytest.approx(math.sqrt(500.0 / 3.0))
    e = customer["e"]
    assert (e["cust_txn_count_30d"], e["cust_amount_sum_30d"]) == (2.0, 140.0)


def test_first_transaction_of_a_customer_has_no_history(customer: dict[str, dict]) -> None:
    a = customer["a"]
    assert a["cust_txn_count_1h"] == a["cust_txn_count_30d"] == 1.0
    assert a["cust_amount_std_30d"] == 0.0
    assert a["cust_seconds_since_prev_txn"] is None
    assert a["cust_amount_zscore_30d"] is None
    assert a["cust_distinct_merchants_7d"] == 1.0
    assert a["cust_foreign_share_30d"] == 0.0


def test_seconds_since_previous_and_ties(customer: dict[str, dict]) -> None:
    assert customer["b"]["cust_seconds_since_prev_txn"] == 1800.0
    assert customer["d"]["cust_seconds_since_prev_txn"] == 7 * 86_400.0
    # Two payments in the same microsecond: both see each other in their windows.
    x, y = customer["x"], customer["y"]
    assert x["cust_txn_count_1h"] == y["cust_txn_count_1h"] == 2.0
    assert x["cust_amount_sum_1h"] == y["cust_amount_sum_1h"] == 12.0
    assert x["cust_foreign_share_30d"] == y["cust_foreign_share_30d"] == 0.5
    assert sorted([x["cust_seconds_since_prev_txn"], y["cust_seconds_since_prev_txn"]], key=str) == [
        0.0,
        None,
    ]


def test_zscore_uses_only_history_strictly_before_t(customer: dict[str, dict]) -> None:
    assert customer["b"]["cust_amount_zscore_30d"] is None  # one earlier payment: undefined
    assert customer["c"]["cust_amount_zscore_30d"] == pytest.approx(15.0 / math.sqrt(50.0))  # vs {10, 20}
    assert customer["d"]["cust_amount_zscore_30d"] == pytest.approx(2.0)  # vs {10, 20, 30}
    assert customer["e"]["cust_amount_zscore_30d"] is None  # only d in [t-30d, t)


def test_distinct_merchants_and_foreign_share(customer: dict[str, dict]) -> None:
    assert customer["b"]["cust_distinct_merchants_7d"] == 2.0
    assert customer["c"]["cust_distinct_merchants_7d"] == 2.0  # m1 again does not count twice
    assert customer["d"]["cust_distinct_merchants_7d"] == 1.0  # c (m1) left the window exactly at t - 7d
    assert customer["b"]["cust_foreign_share_30d"] == 0.5
    assert customer["c"]["cust_foreign_share_30d"] == pytest.approx(1.0 / 3.0)
    assert customer["e"]["cust_foreign_share_30d"] == 0.0


def test_output_schema_is_one_float_row_per_transaction(customer: dict[str, dict]) -> None:
    assert len(customer) == 7
    row = customer["a"]
    assert list(row)[:3] == ["customer_id", "event_timestamp", "transaction_id"]
    assert list(row)[3:] == list(CUSTOMER_FEATURES)


def test_merchant_fraud_rate_only_counts_labels_already_arrived() -> None:
    rows = [
        ("f1", "c1", "m1", T0, "DE", 1.0, 1, T0 + 2 * D),  # fraud, label arrives on day 2
        ("l1", "c2", "m1", T0 + H, "DE", 1.0, 0, T0 + D),  # legit, label arrives on day 1
        ("q1", "c3", "m1", T0 + D, "DE", 1.0, 0, T0 + 5 * D),  # at exactly l1's label time
        ("q2", "c3", "m1", T0 + 2 * D - H, "DE", 1.0, 0, T0 + 5 * D),  # f1's label not arrived yet
        ("q3", "c3", "m1", T0 + 2 * D, "DE", 1.0, 0, T0 + 5 * D),  # f1's label arrives at exactly t
        ("q4", "c3", "m1", T0 + 32 * D, "DE", 1.0, 0, T0 + 60 * D),  # l1 (day 1) and f1 (day 2) left 30d
        ("late", "c4", "m1", T0 + 10 * D, "DE", 1.0, 1, T0 + 70 * D),  # beyond the 45-day label delay
        ("q5", "c3", "m1", T0 + 71 * D, "DE", 1.0, 0, T0 + 90 * D),
        ("o1", "c5", "m2", T0, "DE", 1.0, 1, T0 + D),
    ]
    merchant = by_id(compute_merchant_features(frame(rows)))
    first = merchant["f1"]
    assert (first["merch_labeled_count_30d"], first["merch_fraud_rate_30d"]) == (0.0, None)
    assert (merchant["q1"]["merch_labeled_count_30d"], merchant["q1"]["merch_fraud_rate_30d"]) == (1.0, 0.0)
    assert (merchant["q2"]["merch_labeled_count_30d"], merchant["q2"]["merch_fraud_rate_30d"]) == (1.0, 0.0)
    assert (merchant["q3"]["merch_labeled_count_30d"], merchant["q3"]["merch_fraud_rate_30d"]) == (2.0, 0.5)
    # q1, q2, q3 labels arrived on day 5; l1 on day 1 and f1 on day 2 are more than 30 days before day 32.
    assert (merchant["q4"]["merch_labeled_count_30d"], merchant["q4"]["merch_fraud_rate_30d"]) == (3.0, 0.0)
    # The late label (60 days of delay) is never counted; q4's label (day 60) is.
    assert (merchant["q5"]["merch_labeled_count_30d"], merchant["q5"]["merch_fraud_rate_30d"]) == (1.0, 0.0)
    assert (merchant["q1"]["merch_txn_count_24h"], merchant["q1"]["merch_txn_count_7d"]) == (2.0, 3.0)
    assert merchant["q3"]["merch_txn_count_24h"] == 2.0  # q1 is exactly 24h before: outside
    assert merchant["o1"]["merch_txn_count_7d"] == 1.0
    assert list(merchant["o1"])[3:] == list(MERCHANT_FEATURES)


def test_merchant_fraud_rate_ignores_labels_stamped_before_their_transaction() -> None:
    rows = [
        ("early", "c1", "m1", T0 + 2 * D, "DE", 1.0, 1, T0 + D),  # corrupt: label a day before the payment
        ("r1", "c2", "m1", T0 + D + H, "DE", 1.0, 0, T0 + 90 * D),  # "early" has not even happened yet
        ("r2", "c2", "m1", T0 + 3 * D, "DE", 1.0, 0, T0 + 90 * D),
        ("zero", "c3", "m2", T0, "DE", 1.0, 1, T0),  # label at the payment's own time: valid, counts
    ]
    merchant = by_id(compute_merchant_features(frame(rows)))
    for name in ("early", "r1", "r2"):
        got = merchant[name]
        assert (got["merch_labeled_count_30d"], got["merch_fraud_rate_30d"]) == (0.0, None), name
    zero = merchant["zero"]
    assert (zero["merch_labeled_count_30d"], zero["merch_fraud_rate_30d"]) == (1.0, 1.0)


def test_empty_input_gives_empty_frames_with_the_schema() -> None:
    empty = frame([("a", "c1", "m1", T0, "DE", 1.0, 0, T0)]).clear()
    customer = compute_customer_features(empty).collect()
    merchant = compute_merchant_features(empty).collect()
    assert customer.height == merchant.height == 0
    assert customer.columns[3:] == list(CUSTOMER_FEATURES)
    assert all(customer.schema[c] == pl.Float64 for c in CUSTOMER_FEATURES)
    assert merchant.columns[3:] == list(MERCHANT_FEATURES)
