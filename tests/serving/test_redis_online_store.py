"""The service on a Redis online store (the production profile): the same answers as on SQLite."""

from __future__ import annotations

import uuid
from datetime import timedelta

import dagster as dg
import httpx
import pytest
from serving_world import SERVED_DAY, START, get_online_features, range_tags, request_body, serving

from mlops_assets.defs.features.assets import online_features
from mlops_assets.feast_resource import FeastResource
from mlops_assets.serving.config import ServeConfig
from mlops_assets.serving.online import OnlineStore
from mlops_assets.serving.service import ScoringService


@pytest.mark.production
def test_redis_online_store_gives_the_sqlite_answers(world, serve, redis_url, tmp_path):
    sqlite = world.resources["feast"]
    # A resource of its own (not a model_copy: Dagster rebuilds resources from their config).
    redis = FeastResource(
        repo_path=sqlite.repo_path,
        feast_dir=str(tmp_path / "feast"),  # its own registry file beside the world's
        lakehouse_dir=sqlite.lakehouse_dir,
        redis_url=redis_url,
        project=f"test_serve_{uuid.uuid4().hex[:8]}",
    )
    resources = {**world.resources, "feast": redis}
    last = SERVED_DAY - timedelta(days=1)
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            result = dg.materialize(
                [online_features], resources=resources, instance=instance, tags=range_tags(START, last)
            )
            assert result.success
        merchants = [*world.served["merchant_id"].unique().to_list(), "m-unknown"]
        online = OnlineStore(redis)
        assert online.merchant_state(merchants) == get_online_features(online.store(), merchants)
        rows = world.served.sort("event_timestamp").head(30).to_dicts()
        answers = {}
        for name, service in (
            (
                "redis",
                ScoringService(  # the deadline as the world's services have it (serving_world)
                    ServeConfig(feast_timeout_s=5.0), redis, world.resources["mlflow"], tmp_path / "redis_log"
                ),
            ),
            ("sqlite", world.service(tmp_path / "sqlite_log")),
        ):
            with serving(service) as url, httpx.Client(base_url=url, timeout=30) as client:
                ready = client.get("/health/ready")
                assert ready.status_code == 200, ready.text
                answers[name] = [client.post("/score", json=request_body(r)).json() for r in rows]
        assert [a["score"] for a in answers["redis"]] == pytest.approx(
            [a["score"] for a in answers["sqlite"]]
        )
        assert [a["cold_start"] for a in answers["redis"]] == [a["cold_start"] for a in answers["sqlite"]]
    finally:
        redis.feature_store().teardown()  # this project's keys leave Redis
