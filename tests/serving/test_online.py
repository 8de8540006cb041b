"""The service's online-store read (the provider's `online_read`) against Feast's `get_online_features`."""

from __future__ import annotations

from serving_world import get_online_features

from mlops_assets.serving.online import OnlineStore


def test_merchant_state_is_what_get_online_features_answers(world):
    online = OnlineStore(world.resources["feast"])
    merchants = [*world.served["merchant_id"].unique().sort().to_list(), "m-unknown"]
    state = online.merchant_state([*merchants, merchants[0]])  # a repeated id is read once
    assert list(state) == merchants
    assert state == get_online_features(online.store(), merchants)
    assert state["m-unknown"] == {"merch_labeled_count_30d": None, "merch_fraud_rate_30d": None}
    known = [m for m in merchants if state[m]["merch_labeled_count_30d"] is not None]
    assert len(known) >= len(merchants) // 2  # the comparison is not between two empty answers
    assert any(state[m]["merch_fraud_rate_30d"] is not None for m in known)
