"""Hot reload under continuous requests, and a failing challenger that never fails a response."""

from __future__ import annotations

import threading
import time

import httpx
import polars as pl
from serving_world import MODEL, SERVED_DAY, SPLIT, request_body, serving

from mlops_assets.defs.features.model_inputs import model_inputs
from mlops_assets.defs.serving.contract import read_log_day
from mlops_assets.defs.training import registry
from mlops_assets.defs.training.flow import train_and_register
from mlops_assets.defs.training.lightgbm_model import LightGBMParams
from mlops_assets.feature_catalog import FEATURE_FILL_VALUES, MODEL_FEATURES, NULLABLE_FEATURES
from mlops_assets.serving.config import ServeConfig
from mlops_assets.serving.service import ScoringService


def _copy(client, version: str, name: str) -> str:
    return str(client.copy_model_version(f"models:/{MODEL}/{version}", name).version)


def test_alias_moves_switch_models_without_a_failed_request(world, tmp_path):
    client = world.resources["mlflow"].client()
    old = _copy(client, world.champion_version, "fraud_reload")
    new = _copy(client, world.challenger_version, "fraud_reload")
    client.set_registered_model_alias("fraud_reload", registry.CHAMPION, old)
    client.set_registered_model_alias("fraud_reload", registry.candidate_alias("lightgbm"), new)
    service = ScoringService(
        ServeConfig(model_name="fraud_reload", reload_interval_s=0.3, log_flush_interval_s=0.2),
        world.resources["feast"],
        world.resources["mlflow"],
        tmp_path / "log",
    )
    rows = world.served.sort("event_timestamp").to_dicts()
    outcomes: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def load(url: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            for row in rows:
                if stop.is_set():
                    return
                response = http.post("/score", json=request_body(row))
                outcomes.append((response.status_code, response.json().get("model_version")))

    with serving(service) as url:
        thread = threading.Thread(target=load, args=(url,))
        thread.start()
        while len(outcomes) < 20:
            time.sleep(0.05)
        # Promote: the challenger becomes champion and the old champion the challenger.
        client.set_registered_model_alias("fraud_reload", registry.CHAMPION, new)
        client.set_registered_model_alias("fraud_reload", registry.candidate_alias("lightgbm"), old)
        switched_at = len(outcomes)
        deadline = time.monotonic() + 60
        while thread.is_alive() and not any(v == new for _, v in outcomes[switched_at:]):
            assert time.monotonic() < deadline, "the service never switched"
            time.sleep(0.05)
        # The two alias moves are two registry calls: a refresh between them sees the new version under
        # both aliases and, rightly, shadows nothing. Wait until the service follows the second move too.
        swapped = f'mlops_serve_model_info{{model="fraud_reload",role="challenger",version="{old}"}} 1.0'
        while swapped not in httpx.get(f"{url}/metrics").text:
            assert time.monotonic() < deadline, "the service never followed the challenger alias"
            time.sleep(0.05)
        served_after = len(outcomes)
        while thread.is_alive() and len(outcomes) < served_after + 20:
            time.sleep(0.05)
        stop.set()
        thread.join()
        metrics = httpx.get(f"{url}/metrics").text

    assert {status for status, _ in outcomes} == {200}, "a request failed during the reload"
    versions = [v for _, v in outcomes]
    first_new = versions.index(new)
    assert set(versions[:first_new]) == {old} and set(versions[first_new:]) == {new}  # one clean switch
    assert first_new >= 20 and len(versions) - first_new >= 20
    assert f'mlops_serve_model_info{{model="fraud_reload",role="champion",version="{new}"}} 1.0' in metrics
    assert f'role="champion",version="{old}"' not in metrics
    log = read_log_day(tmp_path / "log", SERVED_DAY)
    assert log.height == len(outcomes)
    # Both scores are logged on both sides of the switch, the roles swapped; the only rows without a
    # challenger are those served while the registry named one version under both aliases.
    before, after = (
        log.filter(pl.col("champion_version") == old),
        log.filter(pl.col("champion_version") == new),
    )
    assert set(before["challenger_version"]) == {new}
    challengers_after = after.sort("served_at")["challenger_version"].to_list()
    transitional = challengers_after.index(old)
    assert set(challengers_after[:transitional]) <= {None} and set(challengers_after[transitional:]) == {old}
    assert len(challengers_after) - transitional >= 20
    assert log["challenger_score"].is_null().to_list() == log["challenger_version"].is_null().to_list()


def test_a_failing_challenger_never_fails_a_response(world, tmp_path):
    """A challenger trained on a feature the platform no longer computes: shadow scoring fails."""
    client = world.resources["mlflow"].client()
    champion = _copy(client, world.champion_version, "fraud_broken_shadow")
    client.set_registered_model_alias("fraud_broken_shadow", registry.CHAMPION, champion)
    legacy = (*MODEL_FEATURES, "cust_legacy_score")
    inputs = model_inputs(world.resources["lakehouse"], SERVED_DAY.replace(day=1), SERVED_DAY)
    train_and_register(  # registered as the challenger
        inputs.filter(pl.col("is_fraud").is_not_null()).with_columns(
            pl.col("amount_eur").alias("cust_legacy_score")
        ),
        "lightgbm",
        legacy,
        world.resources["mlflow"],
        feature_service="legacy",
        split_config=SPLIT,
        params=LightGBMParams(max_rounds=5, num_leaves=3, min_data_in_leaf=10, num_threads=1),
        nullable=tuple(NULLABLE_FEATURES),
        fill_values=FEATURE_FILL_VALUES,
        latency_rows=5,
        model_name="fraud_broken_shadow",
    )
    service = ScoringService(
        ServeConfig(model_name="fraud_broken_shadow", log_flush_interval_s=0.2),
        world.resources["feast"],
        world.resources["mlflow"],
        tmp_path / "log",
    )
    rows = world.served.head(5).to_dicts()
    with serving(service) as url:
        responses = [httpx.post(f"{url}/score", json=request_body(r)) for r in rows]
        expected = 'mlops_serve_shadow_errors_total{reason="challenger_error"} 5.0'
        deadline = time.monotonic() + 30  # the shadow worker scores after the responses went out
        while expected not in (metrics := httpx.get(f"{url}/metrics").text):
            assert time.monotonic() < deadline, metrics
            time.sleep(0.05)
    assert [r.status_code for r in responses] == [200] * 5
    assert {r.json()["model_version"] for r in responses} == {champion}
    log = read_log_day(tmp_path / "log", SERVED_DAY)
    assert log.height == 5 and log["challenger_score"].null_count() == 5
    assert all("cust_legacy_score" in e for e in log["shadow_error"])
