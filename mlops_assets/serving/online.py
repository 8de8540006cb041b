"""The Feast online store as the service reads it: merchants' label state and the materialization mark.

The request path reads through the provider's `online_read` (Feast's own online-store interface, the
call `get_online_features` makes underneath) for one feature view and known feature names, instead of
`get_online_features`: that wrapper resolves feature references against the registry and builds and
unpacks a response protobuf on every call. Same store, same
rows; tests/serving/test_online.py holds the two equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mlops_assets.defs.features.assets import materialized_until
from mlops_assets.defs.serving.contract import ONLINE_STATE_FEATURES
from mlops_assets.domain import MERCHANT_ID
from mlops_assets.feast_resource import FeastResource
from mlops_assets.feature_catalog import CUSTOMER_FEATURE_VIEW, MERCHANT_FEATURE_VIEW


class OnlineStore:
    """One in-process Feast `FeatureStore` (the Python SDK; no feature server hop)."""

    def __init__(self, feast: FeastResource) -> None:
        self.feast = feast
        self._store: Any = None
        self._merchant_view: Any = None

    def store(self) -> Any:
        """The `FeatureStore`, built on first use (importing Feast takes seconds)."""
        if self._store is None:
            self._store = self.feast.feature_store()
        return self._store

    def merchant_state(self, merchant_ids: Sequence[str]) -> dict[str, dict[str, float | None]]:
        """The merchants' online-state features (`ONLINE_STATE_FEATURES`); None values for unknown ones."""
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value
        from feast.type_map import feast_value_type_to_python_type

        unique = list(dict.fromkeys(merchant_ids))
        store = self.store()
        if self._merchant_view is None:
            self._merchant_view = store.get_feature_view(MERCHANT_FEATURE_VIEW)
        rows = store.provider.online_read(
            config=store.config,
            table=self._merchant_view,
            entity_keys=[
                EntityKey(join_keys=[MERCHANT_ID], entity_values=[Value(string_val=m)]) for m in unique
            ],
            requested_features=list(ONLINE_STATE_FEATURES),
        )
        return {
            m: {
                f: None if values is None or f not in values else feast_value_type_to_python_type(values[f])
                for f in ONLINE_STATE_FEATURES
            }
            for m, (_, values) in zip(unique, rows, strict=True)
        }

    def materialized_until(self) -> datetime | None:
        """The end of the newest materialization of the feature views (None: never materialized)."""
        store = self.store()
        store.refresh_registry()
        self._merchant_view = store.get_feature_view(MERCHANT_FEATURE_VIEW)  # as the registry says now
        return materialized_until(store, [CUSTOMER_FEATURE_VIEW, MERCHANT_FEATURE_VIEW])
