"""The request's feature vector: the offline feature functions on the entities' events plus the request.

Which features are exact and which are not, by design:

- Every customer feature and the merchant volume (`merch_txn_count_24h`, `merch_txn_count_7d`): exact.
  `compute_customer_features` / `compute_merchant_features` run on the entities' recent events plus the
  request (see `state`), so the row is what the offline tables hold for the same transaction.
- The merchant label features (`ONLINE_STATE_FEATURES`): read from the Feast online store, i.e. as of
  the merchant's last materialized transaction (the end of the day before). Labels (chargebacks) are not
  part of the request stream, so labels arriving during the serving day, and labels leaving the 30-day
  window during it, are missed until the next materialization. The parity test measures that error.

Cold start (documented answer, not an error): a customer without events in the window is scored as a
first payment, exactly as batch scores one (count 1, std 0, no previous gap, no z-score); a merchant
unknown to the store has no arrived labels (`merch_labeled_count_30d` 0, `merch_fraud_rate_30d` null),
as batch computes for a merchant without labels. The response lists the entities that were cold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import polars as pl

from mlops_assets.defs.features.compute import compute_customer_features, compute_merchant_features
from mlops_assets.defs.serving.contract import LABEL_COUNT, ONLINE_STATE_FEATURES
from mlops_assets.domain import MERCHANT_ID, TRANSACTION_ID
from mlops_assets.feature_catalog import CUSTOMER_FEATURES, MERCHANT_FEATURES, MODEL_FEATURES
from mlops_assets.serving.state import EntityState

# The value of each online-state feature for a merchant the online store does not know.
COLD_MERCHANT: Final[dict[str, float | None]] = {LABEL_COUNT: 0.0, "merch_fraud_rate_30d": None}
_VOLUME_FEATURES = tuple(f for f in MERCHANT_FEATURES if f not in ONLINE_STATE_FEATURES)


def compute_request_features(
    transactions: Sequence[dict[str, Any]],
    state: EntityState,
    merchant_state: Mapping[str, Mapping[str, float | None]],
) -> pl.DataFrame:
    """`transaction_id`, `merchant_id` and `MODEL_FEATURES` for each transaction, in the given order.

    `merchant_state` maps merchant id to its online-state features (from Feast); a merchant missing
    from it, or with null values, gets `COLD_MERCHANT`.
    """
    customer_events, merchant_events = state.frames(transactions)
    ids = pl.LazyFrame({TRANSACTION_ID: [tx[TRANSACTION_ID] for tx in transactions]})
    online = pl.LazyFrame(
        [
            {MERCHANT_ID: m, **{f: _online_value(merchant_state.get(m), f) for f in ONLINE_STATE_FEATURES}}
            for m in {tx[MERCHANT_ID] for tx in transactions}
        ],
        schema={MERCHANT_ID: pl.String, **dict.fromkeys(ONLINE_STATE_FEATURES, pl.Float64)},
    )
    customers = compute_customer_features(customer_events).select(TRANSACTION_ID, *CUSTOMER_FEATURES)
    merchants = compute_merchant_features(merchant_events).select(
        TRANSACTION_ID, MERCHANT_ID, *_VOLUME_FEATURES
    )
    # One query plan, one collect: the fixed cost of a request is mostly per plan, not per row.
    return (
        ids.join(customers, on=TRANSACTION_ID, how="left", maintain_order="left")
        .join(merchants, on=TRANSACTION_ID, how="left", maintain_order="left")
        .join(online, on=MERCHANT_ID, how="left", maintain_order="left")
        .select(TRANSACTION_ID, MERCHANT_ID, *MODEL_FEATURES)
        .collect()
    )


def _online_value(values: Mapping[str, float | None] | None, feature: str) -> float | None:
    if values is None or values.get(LABEL_COUNT) is None:
        return COLD_MERCHANT[feature]
    return values.get(feature)
