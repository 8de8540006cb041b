"""`mlops-serve`'s wiring: resources resolved from the environment (their secrets are dg.EnvVars)."""

from __future__ import annotations

from mlops_assets.serving.cli import build_service
from mlops_assets.serving.config import ServeConfig
from mlops_assets.settings import Settings


def test_build_service_resolves_the_secret_settings(settings, monkeypatch):
    url = "redis://:s3cret@127.0.0.1:6399/3"
    tracking = "sqlite:////tmp/mlops-serve-test/mlflow.db"
    monkeypatch.setenv("MLOPS_REDIS_URL", url)
    monkeypatch.setenv("MLOPS_MLFLOW_TRACKING_URI", tracking)
    monkeypatch.setenv("MLOPS_SERVE_RELOAD_INTERVAL_S", "2.5")
    service = build_service(Settings.from_env(), ServeConfig.from_env())  # built, not started
    assert service.online.feast.redis_url == url  # the value, not the variable's name
    assert service.online.feast.online_store_type == "redis"
    assert service.tracking_uri == tracking
    assert service.config.reload_interval_s == 2.5
    assert service.log_root == settings.data_dir / "serving" / "prediction_log"
