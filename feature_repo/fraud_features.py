"""The Feast objects of the fraud model: entities, feature views over the lakehouse, the feature service.

The platform builds them with `build_objects(lakehouse_dir)` and applies them through Feast's Python API
(`FeastResource.apply`). The module-level names let the Feast CLI read this folder as a normal repo too:
`MLOPS_DATA_DIR=... feast -c feature_repo plan` (the yaml beside this file points at the same data dir).

What the online store serves: for each customer (merchant) the feature row of its *last materialized
transaction*, i.e. features as of that transaction's time t_last, that transaction included. It is not
the model input of a new payment: the training rows (`model_inputs`) are features as of the scored
transaction, that transaction included, so a real-time scorer must merge the current transaction at
request time (add it to the windows, drop what left them since t_last, recompute the gap to the
previous payment as now - t_last), best by running the `compute_*_features` functions on the entity's
recent events plus the request. See the `online_features` asset for the full list of differences.
Historical retrieval (`get_historical_features`) as of a transaction's own time does give training rows.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.data_format import ParquetFormat
from feast.types import Float64, String

from mlops_assets.domain import CUSTOMER_ID, EVENT_TIMESTAMP, MERCHANT_ID
from mlops_assets.feature_catalog import (
    CUSTOMER_ENTITY,
    CUSTOMER_FEATURE_VIEW,
    CUSTOMER_FEATURES,
    FEATURE_SERVICE_NAME,
    MERCHANT_ENTITY,
    MERCHANT_FEATURE_VIEW,
    MERCHANT_FEATURES,
)
from mlops_assets.lakehouse import table_glob
from mlops_assets.settings import Settings

# Every customer window is at most 30 days long: a row older than that describes a customer that has
# since gone quiet, and Feast's historical retrieval should not carry it forward.
CUSTOMER_TTL = timedelta(days=30)
MERCHANT_TTL = timedelta(days=30)
# The sources' `meta` stamps. Feast stamps a source with the time it is constructed
# (`DataSource.__init__`), so every process that reads this module would declare a different source: the
# view stored at apply time (which `materialize` re-stores, stamps and all) would then never equal the one
# `feast plan` parses later, and the plan would report both views as updated. A fixed stamp makes the
# declaration the same in every process. It is metadata only: Feast compares sources without it.
SOURCES_DEFINED_AT = datetime(2026, 1, 1, tzinfo=UTC)
# Said in the registry, where a reader of the online store looks first.
ONLINE_MEANING = (
    "; online: the entity's last transaction's row (as of it, it included), not the input of a new"
    " payment: merge the current transaction at request time"
)


def _source(lakehouse_dir: Path, table: str) -> FileSource:
    # A glob over the Hive partitions: the duckdb offline store reads them in place, no copy.
    source = FileSource(
        name=f"{table}_source",
        path=table_glob(lakehouse_dir, table).as_posix(),
        file_format=ParquetFormat(),
        timestamp_field=EVENT_TIMESTAMP,
        description=f"lakehouse/{table}: one row per transaction, features as of its event time",
    )
    source.created_timestamp = source.last_updated_timestamp = SOURCES_DEFINED_AT
    return source


def _view(
    name: str,
    entity: Entity,
    features: tuple[str, ...],
    ttl: timedelta,
    lakehouse_dir: Path,
    description: str,
) -> FeatureView:
    # The customer and merchant views differ only in these arguments; the view reads the table of its name.
    return FeatureView(
        name=name,
        entities=[entity],
        ttl=ttl,
        schema=[Field(name=entity.join_key, dtype=String), *(Field(name=f, dtype=Float64) for f in features)],
        source=_source(lakehouse_dir, name),
        online=True,
        description=description + ONLINE_MEANING,
    )


def build_objects(lakehouse_dir: Path) -> dict[str, object]:
    """The Feast objects, reading the offline tables under `lakehouse_dir`, by name."""
    customer = Entity(
        name=CUSTOMER_ENTITY,
        join_keys=[CUSTOMER_ID],
        value_type=ValueType.STRING,
        description="Card holder",
    )
    merchant = Entity(
        name=MERCHANT_ENTITY, join_keys=[MERCHANT_ID], value_type=ValueType.STRING, description="Merchant"
    )
    customer_view = _view(
        CUSTOMER_FEATURE_VIEW,
        customer,
        CUSTOMER_FEATURES,
        CUSTOMER_TTL,
        lakehouse_dir,
        "Rolling customer aggregates, one row per transaction as of its time",
    )
    merchant_view = _view(
        MERCHANT_FEATURE_VIEW,
        merchant,
        MERCHANT_FEATURES,
        MERCHANT_TTL,
        lakehouse_dir,
        "Merchant volume and fraud rate from labels already arrived, one row per transaction",
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
_objects = build_objects(Settings.from_env().lakehouse_dir)
customer = _objects["customer"]
merchant = _objects["merchant"]
customer_features_view = _objects["customer_features_view"]
merchant_features_view = _objects["merchant_features_view"]
fraud_model_service = _objects["fraud_model_service"]
