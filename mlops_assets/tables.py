"""Lakehouse table names: one place, so a rename cannot leave a reader behind.

Each name is both the asset key and the folder under `$MLOPS_DATA_DIR/lakehouse/`.
"""

from typing import Final

RAW_TABLE: Final = "raw_transactions"
VALIDATED_TABLE: Final = "validated_transactions"
QUARANTINED_TABLE: Final = "quarantined_transactions"
CUSTOMER_TABLE: Final = "customer_features"
MERCHANT_TABLE: Final = "merchant_features"
TRAINING_TABLE: Final = "training_dataset"
PREDICTIONS_TABLE: Final = "batch_predictions"
SERVING_LOG_TABLE: Final = "serving_log"
SHADOW_COMPARISON_TABLE: Final = "shadow_comparison"
