"""The feature catalog: names every other stage imports (training, batch scoring, Feast).

One place that says which columns a model takes, in which order, so training, batch scoring and the
online store can never disagree about the feature vector.
"""

from typing import Final

from mlops_assets.domain import (
    AMOUNT_EUR,
    COUNTRY,
    CUSTOMER_ID,
    DEVICE,
    EVENT_TIMESTAMP,
    HOME_COUNTRY,
    IS_FRAUD,
    LABEL_AVAILABLE_AT,
    MERCHANT_CATEGORY,
    MERCHANT_ID,
    TRANSACTION_ID,
)
from mlops_assets.tables import CUSTOMER_TABLE, MERCHANT_TABLE

# Rolling windows of the customer aggregates, as (suffix, polars duration).
CUSTOMER_WINDOWS: Final[tuple[tuple[str, str], ...]] = (
    ("1h", "1h"),
    ("24h", "24h"),
    ("7d", "7d"),
    ("30d", "30d"),
)

CUSTOMER_FEATURES: Final[tuple[str, ...]] = (
    *(
        f"cust_{stat}_{suffix}"
        for suffix, _ in CUSTOMER_WINDOWS
        for stat in ("txn_count", "amount_sum", "amount_mean", "amount_std")
    ),
    "cust_distinct_merchants_7d",
    "cust_seconds_since_prev_txn",
    "cust_amount_zscore_30d",
    "cust_foreign_share_30d",
)

MERCHANT_FEATURES: Final[tuple[str, ...]] = (
    "merch_txn_count_24h",
    "merch_txn_count_7d",
    "merch_labeled_count_30d",
    "merch_fraud_rate_30d",
)

# The numeric columns the models take, in this order (all Float64).
MODEL_FEATURES: Final[tuple[str, ...]] = (*CUSTOMER_FEATURES, *MERCHANT_FEATURES)

# Features that are null where they are undefined; every other model feature is never null.
# LightGBM takes the nulls as missing values; models that cannot (torch) fill them with these values.
NULLABLE_FEATURES: Final[dict[str, str]] = {
    "cust_seconds_since_prev_txn": "the customer's first transaction (no previous one)",
    "cust_amount_zscore_30d": "fewer than 2 earlier transactions in 30 days, or all of them the same amount",
    "merch_fraud_rate_30d": "no label of the merchant arrived in the last 30 days",
}
FEATURE_FILL_VALUES: Final[dict[str, float]] = {
    "cust_seconds_since_prev_txn": 30 * 86_400.0,
    "cust_amount_zscore_30d": 0.0,
    "merch_fraud_rate_30d": 0.0,
}

# Identifying and label columns carried beside the features (training_dataset, model_inputs).
ID_COLUMNS: Final[tuple[str, ...]] = (
    TRANSACTION_ID,
    CUSTOMER_ID,
    MERCHANT_ID,
    EVENT_TIMESTAMP,
    LABEL_AVAILABLE_AT,
    IS_FRAUD,
    COUNTRY,
    MERCHANT_CATEGORY,
    DEVICE,
    AMOUNT_EUR,
)

CUSTOMER_ENTITY: Final[str] = "customer"
MERCHANT_ENTITY: Final[str] = "merchant"
# Each feature view reads the lakehouse table of its name.
CUSTOMER_FEATURE_VIEW: Final[str] = CUSTOMER_TABLE
MERCHANT_FEATURE_VIEW: Final[str] = MERCHANT_TABLE
FEATURE_SERVICE_NAME: Final[str] = "fraud_model_v1"

FOREIGN_REFERENCE_COUNTRY: Final[str] = HOME_COUNTRY
