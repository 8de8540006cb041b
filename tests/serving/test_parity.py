"""Training-serving parity: replay the served day through the endpoint, compare with batch_predictions."""

from __future__ import annotations

import httpx
import polars as pl
from serving_world import SERVED_DAY, START, request_body

from mlops_assets.defs.serving.contract import EXACT_FEATURES, ONLINE_STATE_FEATURES, read_log_day
from mlops_assets.defs.serving.parity import feature_parity, score_parity
from mlops_assets.feature_catalog import MODEL_FEATURES


def test_replayed_day_matches_batch_predictions(world, serve, tmp_path):
    """The online store holds the day before; the day's transactions arrive in time order over HTTP."""
    day = world.served.sort("event_timestamp", "transaction_id")
    with serve() as (url, _service), httpx.Client(base_url=url, timeout=30) as client:
        for row in day.iter_rows(named=True):
            response = client.post("/score", json=request_body(row))
            assert response.status_code == 200, response.text
    served = read_log_day(tmp_path / "prediction_log", SERVED_DAY)
    batch = world.resources["lakehouse"].read_partition("batch_predictions", SERVED_DAY)
    assert served.height == batch.height == day.height

    parity = feature_parity(served, batch, MODEL_FEATURES, EXACT_FEATURES)
    print("\n" + str(parity.sort("mismatches", descending=True)))
    exact = parity.filter(pl.col("claimed_exact"))
    assert exact.height == len(MODEL_FEATURES) - len(ONLINE_STATE_FEATURES)
    assert exact["mismatches"].sum() == 0, exact.filter(pl.col("mismatches") > 0)
    assert (exact["rows"] == day.height).all()
    # Not exact by design (labels arriving during the day are not in the online store): measured.
    approx = parity.filter(~pl.col("claimed_exact"))
    assert sorted(approx["feature"]) == sorted(ONLINE_STATE_FEATURES)
    print(f"label features: {approx.to_dicts()}")
    # ... and what they are instead: each merchant's row as of its last transaction before the day.
    history = world.resources["lakehouse"].scan_range("merchant_features", START, SERVED_DAY).collect()
    online_rows = history.sort("event_timestamp", "transaction_id").group_by("merchant_id").last()
    expected = (
        served.select("transaction_id", "merchant_id")
        .join(online_rows.select("merchant_id", *ONLINE_STATE_FEATURES), on="merchant_id", how="left")
        .with_columns(pl.col("merch_labeled_count_30d").fill_null(0.0))
    )  # a merchant new today: cold start
    as_online = feature_parity(served, expected, ONLINE_STATE_FEATURES, ONLINE_STATE_FEATURES)
    assert as_online["mismatches"].sum() == 0, as_online

    scores = score_parity(served, batch, "champion_score", "score")
    print(f"scores: {scores}")
    # Every score whose features all match batch is batch's score to float32 precision.
    all_exact = served.join(batch, on="transaction_id", suffix="_batch").filter(
        pl.all_horizontal((pl.col(f).eq_missing(pl.col(f"{f}_batch"))) for f in ONLINE_STATE_FEATURES)
    )
    assert all_exact.height > 0
    assert score_parity(all_exact, batch, "champion_score", "score")["mismatches"] == 0
