"""The Feast online store as the service reads it: merchants' label state and the materialization mark."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mlops_assets.defs.features.assets import materialized_until
from mlops_assets.defs.serving.contract import ONLINE_STATE_FEATURES
from mlops_assets.domain import MERCHANT_ID
from mlops_assets.feast_resource import FeastResource
from mlops_assets.feature_catalog import CUSTOMER_FEATURE_VIEW, MERCHANT_FEATURE_VIEW

MERCHANT_REFS = tuple(f"{MERCHANT_FEATURE_VIEW}:{f}" for f in ONLINE_STATE_FEATURES)


class OnlineStore:
    """One in-process Feast `FeatureStore` (the Python SDK; no feature server hop)."""

    def __init__(self, feast: FeastResource) -> None:
        self.feast = feast
        self._store: Any = None

    def store(self) -> Any:
        """The `FeatureStore`, built on first use (importing Feast takes seconds)."""
        if self._store is None:
            self._store = self.feast.feature_store()
        return self._store

    def merchant_state(self, merchant_ids: Sequence[str]) -> dict[str, dict[str, float | None]]:
        """The merchants' online-state features (`ONLINE_STATE_FEATURES`); None values for unknown ones."""
        unique = list(dict.fromkeys(merchant_ids))
        result = (
            self.store()
            .get_online_features(features=list(MERCHANT_REFS), entity_rows=[{MERCHANT_ID: m} for m in unique])
            .to_dict()
        )
        return {m: {f: result[f][i] for f in ONLINE_STATE_FEATURES} for i, m in enumerate(unique)}

    def materialized_until(self) -> datetime | None:
        """The end of the newest materialization of the feature views (None: never materialized)."""
        store = self.store()
        store.refresh_registry()
        return materialized_until(store, [CUSTOMER_FEATURE_VIEW, MERCHANT_FEATURE_VIEW])
