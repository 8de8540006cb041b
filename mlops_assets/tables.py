"""Asset names: one place, so a rename cannot leave a reader (or an automation rule) behind.

Each table name is both the asset key and the folder under `$MLOPS_DATA_DIR/lakehouse/`; the other names
are the keys of the assets that are not tables. Stages name their assets with these constants and
automation selects by them, so no key is ever typed twice as a string.
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

ONLINE_FEATURES: Final = "online_features"
# A multi-asset with one key per model family: `fraud_model/<family>`.
FRAUD_MODEL: Final = "fraud_model"
MODEL_PROMOTION: Final = "model_promotion"
DRIFT_REPORT: Final = "drift_report"
