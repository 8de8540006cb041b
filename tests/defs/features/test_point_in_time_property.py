"""Property: no feature row uses data from after its transaction's (the label's) timestamp.

For every transaction at time t, the features computed on the whole history must equal the features
computed on a history cut at t: transactions after t removed and labels not yet arrived at t erased.
If a feature leaked anything from after t, some generated history would tell them apart.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_assets.defs.features.compute import compute_customer_features, compute_merchant_features
from mlops_assets.defs.features.dataset import join_features, labelled_as_of
from mlops_assets.feature_catalog import ID_COLUMNS, MODEL_FEATURES

T0 = datetime(2025, 3, 1, tzinfo=UTC)
STEP = timedelta(minutes=30)  # coarse steps: ties and exact window boundaries (1h, 24h, 7d, 30d) happen

transaction = st.tuples(
    st.sampled_from(["c1", "c2", "c3"]),
    st.sampled_from(["m1", "m2", "m3"]),
    st.integers(min_value=0, max_value=40 * 48),  # event time in STEPs over 40 days
    st.sampled_from(["DE", "FR"]),
    st.integers(min_value=1, max_value=50).map(float),
    st.integers(min_value=0, max_value=1),
    # Label delay in STEPs: some beyond 45 days, some zero (label at the payment's time) and some
    # negative (a label stamped before its payment: corrupt, validation quarantines it, the features must
    # ignore it rather than leak the later payment's outcome).
    st.integers(min_value=-3 * 48, max_value=50 * 48),
)


def build(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "transaction_id": [f"t{i:03d}" for i in range(len(rows))],
            "customer_id": [r[0] for r in rows],
            "merchant_id": [r[1] for r in rows],
            "event_timestamp": [T0 + r[2] * STEP for r in rows],
            "label_available_at": [T0 + (r[2] + r[6]) * STEP for r in rows],
            "is_fraud": [r[5] for r in rows],
            "country": [r[3] for r in rows],
            "merchant_category": ["grocery"] * len(rows),
            "device": ["web"] * len(rows),
            "amount_eur": [r[4] for r in rows],
        },
        schema_overrides={
            "is_fraud": pl.Int8,
            "event_timestamp": pl.Datetime("us", "UTC"),
            "label_available_at": pl.Datetime("us", "UTC"),
        },
    )


def known_at(transactions: pl.DataFrame, t: datetime) -> pl.DataFrame:
    """What the world knew at t: no later transactions, and no label that had not arrived yet."""
    arrived = pl.col("label_available_at") <= t
    return transactions.filter(pl.col("event_timestamp") <= t).with_columns(
        pl.when(arrived).then(pl.col("is_fraud")).alias("is_fraud"),
        pl.when(arrived).then(pl.col("label_available_at")).alias("label_available_at"),
    )


def features(transactions: pl.DataFrame) -> pl.DataFrame:
    return join_features(
        transactions.lazy(),
        compute_customer_features(transactions),
        compute_merchant_features(transactions),
    )


def same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(transaction, min_size=1, max_size=25), cutoff_step=st.integers(0, 90 * 48))
def test_features_never_see_after_the_label_timestamp(rows: list[tuple], cutoff_step: int) -> None:
    transactions = build(rows)
    full = features(transactions)
    assert full.columns == [*ID_COLUMNS, *MODEL_FEATURES]
    assert full.height == transactions.height
    full_rows = {row["transaction_id"]: row for row in full.iter_rows(named=True)}
    for t in transactions["event_timestamp"].unique().to_list():
        cut = features(known_at(transactions, t)).filter(pl.col("event_timestamp") == t)
        for row in cut.iter_rows(named=True):
            expected = full_rows[row["transaction_id"]]
            mismatched = [f for f in MODEL_FEATURES if not same(row[f], expected[f])]
            assert not mismatched, f"{row['transaction_id']} at {t}: {mismatched} see the future"

    # The training set keeps exactly the rows whose label had arrived by the cutoff.
    cutoff = T0 + cutoff_step * STEP
    training = labelled_as_of(full, cutoff)
    assert (training["label_available_at"] <= cutoff).all()
    assert training.height == transactions.filter(pl.col("label_available_at") <= cutoff).height
