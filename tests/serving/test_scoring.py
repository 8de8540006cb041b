"""The scoring service over real HTTP on loopback: scoring, bad input, health, metrics, shadow log."""

from __future__ import annotations

import httpx
from conftest import MODEL, SERVED_DAY, request_body


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
