"""The scoring service over real HTTP on loopback: scoring, bad input, health, metrics, shadow log."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import timedelta

import httpx
import numpy as np
import pytest
from serving_world import MODEL, SERVED_DAY, World, request_body, serving

from mlops_assets.defs.serving.contract import read_log_day
from mlops_assets.defs.training.data import feature_matrix
from mlops_assets.defs.training.registry import THRESHOLD_TAG, load_version
from mlops_assets.feast_resource import FeastResource
from mlops_assets.mlflow_resource import MlflowResource
from mlops_assets.serving.config import ServeConfig
from mlops_assets.serving.service import ScoringService
from mlops_assets.serving.shadow import Challenger


def test_score_one_transaction(world, serve):
    row = world.served.row(0, named=True)
    with serve() as (url, _service):
        response = httpx.post(f"{url}/score", json=request_body(row), headers={"X-Request-ID": "req-1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["request_id"] == "req-1" and response.headers["X-Request-ID"] == "req-1"
    assert body["transaction_id"] == row["transaction_id"]
    assert body["model_name"] == MODEL and body["model_version"] == world.champion_version
    assert 0.0 <= body["score"] <= 1.0
    assert body["is_flagged"] == (body["score"] >= body["threshold"])
    assert body["decision"] == ("decline" if body["is_flagged"] else "approve")
    assert body["cold_start"] == []


def test_batch_scores_in_order_and_logs_both_scores(world, serve, tmp_path):
    rows = world.served.sort("event_timestamp").head(5).to_dicts()
    with serve() as (url, _service):
        response = httpx.post(f"{url}/score/batch", json={"transactions": [request_body(r) for r in rows]})
        single = httpx.post(
            f"{url}/score", json=request_body(rows[0])
        )  # a retry: same features, no double count
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["transaction_id"] for r in results] == [r["transaction_id"] for r in rows]
    assert single.json()["score"] == pytest.approx(results[0]["score"])

    log = read_log_day(tmp_path / "prediction_log", SERVED_DAY)  # flushed when the service closed
    assert log.height == 6
    assert set(log["champion_version"]) == {world.champion_version}
    assert set(log["challenger_version"]) == {world.challenger_version}
    assert log["shadow_error"].null_count() == log.height
    challenger = load_version(world.resources["mlflow"].client(), MODEL, world.challenger_version)
    expected = challenger.predict(feature_matrix(log, challenger.features))
    np.testing.assert_allclose(log["challenger_score"].to_numpy(), expected, rtol=1e-6)
    assert (log["challenger_flagged"] == (log["challenger_score"] >= log["challenger_threshold"])).all()
    assert (log["latency_ms"] > 0).all() and log["request_id"].n_unique() == 6


def test_unknown_customer_and_merchant_get_the_cold_start_answer(world, serve, tmp_path):
    body = request_body(world.served.row(0, named=True)) | {"customer_id": "c-new", "merchant_id": "m-new"}
    with serve() as (url, _service):
        response = httpx.post(f"{url}/score", json=body)
        metrics = httpx.get(f"{url}/metrics").text
    assert response.status_code == 200, response.text
    assert response.json()["cold_start"] == ["customer", "merchant"]
    assert 'mlops_serve_cold_starts_total{entity="customer"} 1.0' in metrics
    record = read_log_day(tmp_path / "prediction_log", SERVED_DAY).row(0, named=True)
    # A first payment, exactly as batch computes one; a merchant without labels.
    assert record["cust_txn_count_30d"] == 1.0 and record["cust_amount_std_30d"] == 0.0
    assert record["cust_seconds_since_prev_txn"] is None and record["cust_amount_zscore_30d"] is None
    assert record["merch_txn_count_7d"] == 1.0 and record["merch_labeled_count_30d"] == 0.0
    assert record["merch_fraud_rate_30d"] is None and record["cold_start"] == "customer,merchant"


def _errors(response: httpx.Response) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    return [(e["field"], e["rule"]) for e in response.json()["detail"]]


def test_bad_input_gets_422_naming_field_and_rule(world, serve):
    good = request_body(world.served.row(0, named=True))
    other_day = (world.served["event_timestamp"][0] - timedelta(days=1)).isoformat()
    with serve() as (url, _service):
        post = lambda body: httpx.post(f"{url}/score", json=body)  # noqa: E731
        malformed = httpx.post(
            f"{url}/score", content=b'{"transaction_id": ', headers={"content-type": "application/json"}
        )
        assert _errors(malformed) == [("body", "json_invalid")]
        assert _errors(post({k: v for k, v in good.items() if k != "amount_eur"})) == [
            ("amount_eur", "missing")
        ]
        assert _errors(post(good | {"amount_eur": "abc"})) == [("amount_eur", "float_parsing")]
        assert _errors(post(good | {"amount_eur": -1})) == [("amount_eur", "greater_than")]
        assert _errors(post(good | {"device": "fax"})) == [("device", "literal_error")]
        assert _errors(post(good | {"country": "Germany"})) == [("country", "string_pattern_mismatch")]
        assert _errors(post(good | {"event_timestamp": "2025-03-14T10:00:00"})) == [
            ("event_timestamp", "value_error")
        ]
        assert _errors(post(good | {"is_fraud": 1})) == [("is_fraud", "extra_forbidden")]
        wrong_day = post(good | {"event_timestamp": other_day})
        assert _errors(wrong_day) == [("event_timestamp", "serving_day")]
        assert SERVED_DAY.isoformat() in wrong_day.json()["detail"][0]["message"]
        batch = httpx.post(
            f"{url}/score/batch", json={"transactions": [good, good | {"event_timestamp": other_day}]}
        )
        assert _errors(batch) == [("transactions.1.event_timestamp", "serving_day")]
        assert _errors(httpx.post(f"{url}/score/batch", json={"transactions": []})) == [
            ("transactions", "too_short")
        ]
        metrics = httpx.get(f"{url}/metrics").text
    assert 'mlops_serve_requests_total{endpoint="/score",status="422"} 9.0' in metrics


def test_health_and_metrics(world, serve):
    rows = world.served.head(3).to_dicts()
    with serve() as (url, service):
        assert httpx.get(f"{url}/health/live").json() == {"status": "live"}
        ready = httpx.get(f"{url}/health/ready")
        for row in rows:
            assert httpx.post(f"{url}/score", json=request_body(row)).status_code == 200
        metrics = httpx.get(f"{url}/metrics")
        # The service holds the challenger as a description only: the shadow worker loads and scores it.
        registered = world.resources["mlflow"].client().get_model_version(MODEL, world.challenger_version)
        assert service.models.current.challenger == Challenger(
            MODEL, world.challenger_version, float(registered.tags[THRESHOLD_TAG])
        )
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "serving_day": SERVED_DAY.isoformat(),
        "champion": f"{MODEL} v{world.champion_version}",
        "challenger": f"{MODEL} v{world.challenger_version}",
    }
    text = metrics.text
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'mlops_serve_requests_total{endpoint="/score",status="200"} 3.0' in text
    assert 'mlops_serve_request_latency_seconds_count{endpoint="/score"} 3.0' in text
    assert 'mlops_serve_request_latency_seconds_bucket{endpoint="/score",le="0.01"}' in text
    assert (
        f'mlops_serve_model_info{{model="{MODEL}",role="champion",version="{world.champion_version}"}} 1.0'
        in text
    )
    challenger = world.challenger_version
    assert f'mlops_serve_model_info{{model="{MODEL}",role="challenger",version="{challenger}"}} 1.0' in text
    assert "mlops_serve_shadow_errors_total" in text


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback listener that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    sock.close()


def _redis_feast(world: World, port: int) -> FeastResource:
    sqlite = world.resources["feast"]
    return FeastResource(
        repo_path=sqlite.repo_path,
        feast_dir=sqlite.feast_dir,
        lakehouse_dir=sqlite.lakehouse_dir,
        redis_url=f"redis://127.0.0.1:{port}/0",
    )


@pytest.mark.parametrize("listener", ["closed_port", "silent_port"])
def test_online_store_down_gives_503_naming_it(world, tmp_path, listener, request):
    port = request.getfixturevalue(listener)
    service = ScoringService(
        ServeConfig(feast_timeout_s=0.5, registry_timeout_s=2),
        _redis_feast(world, port),
        world.resources["mlflow"],
        tmp_path / "log",
    )
    with serving(service) as url:
        response = httpx.post(f"{url}/score", json=request_body(world.served.row(0, named=True)))
        ready = httpx.get(f"{url}/health/ready")
        live = httpx.get(f"{url}/health/live")
    assert response.status_code == 503
    assert response.json()["service"] == "feast online store"
    if listener == "silent_port":
        assert "no answer within 0.5 s" in response.json()["detail"]
    assert ready.status_code == 503 and "feast online store" in ready.json()["services"]
    assert live.status_code == 200


def test_registry_down_gives_503_naming_it(world, tmp_path):
    broken = tmp_path / "not_a_dir"
    broken.write_text("a file where the store's folder should be")
    mlflow = MlflowResource(tracking_uri=f"sqlite:///{broken / 'mlflow.db'}", artifact_root=str(tmp_path))
    service = ScoringService(
        ServeConfig(registry_timeout_s=2), world.resources["feast"], mlflow, tmp_path / "log"
    )
    with serving(service) as url:
        response = httpx.post(f"{url}/score", json=request_body(world.served.row(0, named=True)))
        ready = httpx.get(f"{url}/health/ready")
    assert response.status_code == 503
    assert response.json()["service"] == "mlflow registry"
    assert ready.status_code == 503 and set(ready.json()["services"]) == {"mlflow registry"}


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(world, serve):
    import asyncio

    rows = world.served.sort("event_timestamp").head(40).to_dicts()

    async def burst(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            return await asyncio.gather(
                *(
                    client.post("/score", json=request_body(r), headers={"X-Request-ID": f"r{i}"})
                    for i, r in enumerate(rows)
                )
            )

    with serve() as (url, _service):
        responses = asyncio.run(burst(url))
        metrics = httpx.get(f"{url}/metrics").text
    assert [r.status_code for r in responses] == [200] * 40
    assert [r.json()["request_id"] for r in responses] == [f"r{i}" for i in range(40)]
    assert [r.json()["transaction_id"] for r in responses] == [r["transaction_id"] for r in rows]
    assert "mlops_serve_batch_transactions_sum 40.0" in metrics
    batches = float(metrics.split("mlops_serve_batch_transactions_count ")[1].split()[0])
    assert 1 <= batches <= 40
