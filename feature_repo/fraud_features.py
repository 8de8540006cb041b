"""The Feast objects of the fraud model: entities, feature views over the lakehouse, the feature service.

The platform builds them with `build_objects(lakehouse_dir)` and applies them through Feast's Python API
(`FeastResource.apply`). The module-level names let the Feast CLI read this folder as a normal repo too:
`MLOPS_DATA_DIR=... feast -c feature_repo plan` (the yaml beside this file points at the same data dir).
"""

import os
from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.data_format import ParquetFormat
from feast.types import Float64, String

from mlops_assets.defs.features.catalog import (
    CUSTOMER_ENTITY,
    CUSTOMER_FEATURE_VIEW,
    CUSTOMER_FEATURES,
    FEATURE_SERVICE_NAME,
    MERCHANT_ENTITY,
    MERCHANT_FEATURE_VIEW,
    MERCHANT_FEATURES,
)

# Every customer window is at most 30 days long: a row older than that describes a customer that has
# since gone quiet, and Feast's historical retrieval should not carry it forward.
CUSTOMER_TTL = timedelta(days=30)
MERCHANT_TTL = timedelta(days=30)


def _source(lakehouse_dir: Path, table: str) -> FileSource:
    # A glob over the Hive partitions: the duckdb offline store reads them in place, no copy.
    return FileSource(
        name=f"{table}_source",
        path=(lakehouse_dir / table / "date=*" / "*.parquet").as_posix(),
        file_format=ParquetFormat(),
        timestamp_field="event_timestamp",
        description=f"lakehouse/{table}: one row per transaction, features as of its event time",
    )


def build_objects(lakehouse_dir: Path) -> dict[str, object]:
    """The Feast objects, reading the offline tables under `lakehouse_dir`, by name."""
    customer = Entity(
        name=CUSTOMER_ENTITY,
        join_keys=["customer_id"],
        value_type=ValueType.STRING,
        description="Card holder",
    )
    merchant = Entity(
        name=MERCHANT_ENTITY, join_keys=["merchant_id"], value_type=ValueType.STRING, description="Merchant"
    )
    customer_view = FeatureView(
        name=CUSTOMER_FEATURE_VIEW,
        entities=[customer],
        ttl=CUSTOMER_TTL,
        schema=[
            Field(name="customer_id", dtype=String),
            *(Field(name=f, dtype=Float64) for f in CUSTOMER_FEATURES),
        ],
        source=_source(lakehouse_dir, CUSTOMER_FEATURE_VIEW),
        online=True,
        description="Rolling customer aggregates as of the customer's latest transaction",
    )
    merchant_view = FeatureView(
        name=MERCHANT_FEATURE_VIEW,
        entities=[merchant],
        ttl=MERCHANT_TTL,
        schema=[
            Field(name="merchant_id", dtype=String),
            *(Field(name=f, dtype=Float64) for f in MERCHANT_FEATURES),
        ],
        source=_source(lakehouse_dir, MERCHANT_FEATURE_VIEW),
        online=True,
        description="Merchant volume and fraud rate from labels already arrived",
    )
    service = FeatureService(
        name=FEATURE_SERVICE_NAME,
        features=[customer_view, merchant_view],
        description="The feature vector of the fraud model (catalog.MODEL_FEATURES)",
    )
    return {
        "customer": customer,
        "merchant": merchant,
        "customer_features_view": customer_view,
        "merchant_features_view": merchant_view,
        "fraud_model_service": service,
    }


# For the Feast CLI, which collects module-level objects.
_objects = build_objects(
    Path(os.environ.get("MLOPS_DATA_DIR", Path(__file__).resolve().parent.parent / ".mlops")) / "lakehouse"
)
customer = _objects["customer"]
merchant = _objects["merchant"]
customer_features_view = _objects["customer_features_view"]
merchant_features_view = _objects["merchant_features_view"]
fraud_model_service = _objects["fraud_model_service"]
