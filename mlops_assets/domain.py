"""The card-transaction domain shared by the simulator, the validation schema and the features.

Kept in one module so that the simulator can never produce a category the schema does not know
about by accident, and so that a user's own landing files are checked against the same contract.
"""

from __future__ import annotations

from typing import Final

import polars as pl

# Closed domains: a value outside these lists is a data error and the row is quarantined.
MERCHANT_CATEGORIES: Final[tuple[str, ...]] = (
    "grocery",
    "restaurants",
    "fuel",
    "electronics",
    "travel",
    "online_retail",
    "entertainment",
    "health",
    "utilities",
    "fashion",
)
DEVICES: Final[tuple[str, ...]] = ("mobile_app", "web", "pos_chip", "pos_contactless")

# Countries are an open domain (any ISO 3166 alpha-2 code): a new country is drift, not an error.
HOME_COUNTRY: Final[str] = "DE"
COUNTRY_CODE_PATTERN: Final[str] = r"^[A-Z]{2}$"

# The landing-file contract: every raw file must carry exactly these columns. Each name is spelled once,
# here; every stage, the simulator and the Feast repo import the constant.
TRANSACTION_ID: Final[str] = "transaction_id"
EVENT_TIMESTAMP: Final[str] = "event_timestamp"
CUSTOMER_ID: Final[str] = "customer_id"
MERCHANT_ID: Final[str] = "merchant_id"
MERCHANT_CATEGORY: Final[str] = "merchant_category"
COUNTRY: Final[str] = "country"
DEVICE: Final[str] = "device"
AMOUNT_EUR: Final[str] = "amount_eur"
IS_FRAUD: Final[str] = "is_fraud"
LABEL_AVAILABLE_AT: Final[str] = "label_available_at"
TRANSACTION_COLUMNS: Final[tuple[str, ...]] = (
    TRANSACTION_ID,
    EVENT_TIMESTAMP,
    CUSTOMER_ID,
    MERCHANT_ID,
    MERCHANT_CATEGORY,
    COUNTRY,
    DEVICE,
    AMOUNT_EUR,
    IS_FRAUD,
    LABEL_AVAILABLE_AT,
)

# The contract's types. Landing files in other types are coerced value by value (see ingestion).
TRANSACTION_DTYPES: Final[dict[str, pl.DataType]] = {
    TRANSACTION_ID: pl.String(),
    EVENT_TIMESTAMP: pl.Datetime("us", "UTC"),
    CUSTOMER_ID: pl.String(),
    MERCHANT_ID: pl.String(),
    MERCHANT_CATEGORY: pl.String(),
    COUNTRY: pl.String(),
    DEVICE: pl.String(),
    AMOUNT_EUR: pl.Float64(),
    IS_FRAUD: pl.Int8(),
    LABEL_AVAILABLE_AT: pl.Datetime("us", "UTC"),
}

# Set by ingestion when a value could not be read as its contract type (e.g. "abc" in a CSV amount
# column); the row is kept in the raw table and quarantined by validation with this message.
PARSE_ERROR_COLUMN: Final[str] = "parse_error"

# Amounts above this are rejected as implausible for a card payment (a unit or parsing error upstream).
MAX_AMOUNT_EUR: Final[float] = 50_000.0

# Fraud labels arrive late (chargebacks): in the simulator 2 days + Gamma(2, 3), so about 95 % of fraud
# labels have arrived 16 days after the payment. Days younger than this are "immature": most of their
# frauds still look legitimate, so training windows, holdouts and performance checks stop this many
# days before the label cutoff instead of reading a fraud rate biased towards zero.
LABEL_MATURITY_DAYS: Final[int] = 16
