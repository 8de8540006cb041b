"""Helpers of the serving tests (a uniquely named module: test folders have no `__init__.py`).

A served world built once per session: simulated days, real feature tables, a real Feast online store
materialized to the day before the served day, a champion and a challenger in a real MLflow on SQLite,
and `batch_predictions` of the served day (the parity reference). Plus a uvicorn server on port 0.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import uvicorn

from mlops_assets.defs.features.assets import customer_features, merchant_features, online_features
from mlops_assets.defs.features.model_inputs import model_inputs
from mlops_assets.defs.monitoring.predictions import batch_predictions
from mlops_assets.defs.training import registry
from mlops_assets.defs.training.data import SplitConfig
from mlops_assets.defs.training.flow import train_and_register
from mlops_assets.defs.training.lightgbm_model import LightGBMParams
from mlops_assets.defs.training.models import REGISTERED_MODEL_NAME
from mlops_assets.feature_catalog import FEATURE_FILL_VALUES, MODEL_FEATURES, NULLABLE_FEATURES
from mlops_assets.resources import build_resources
from mlops_assets.serving.app import create_app
from mlops_assets.serving.config import ServeConfig
from mlops_assets.serving.service import ScoringService
from mlops_assets.settings import Settings
from mlops_assets.simulator import SimulationConfig, simulate_day

START = date(2025, 3, 1)
DAYS = 14
SERVED_DAY = START + timedelta(days=DAYS - 1)
MODEL = REGISTERED_MODEL_NAME
SPLIT = SplitConfig(validation_days=2, holdout_days=2, min_rows=200, min_positives=5)


def range_tags(first: date, last: date) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }


@dataclass
class World:
    settings: Settings
    resources: dict
    served: pl.DataFrame  # the served day's validated transactions
    champion_version: str
    challenger_version: str

    def service(self, log_root: Path, **config: object) -> ScoringService:
        # A generous online-store deadline: the test process's full garbage collections (100-300 ms,
        # measured) on a busy machine must not turn a read into a 503; the deadline has its own tests.
        defaults = {"reload_interval_s": 0.5, "log_flush_interval_s": 0.2, "feast_timeout_s": 5.0}
        return ScoringService(
            ServeConfig(**{**defaults, **config}),  # type: ignore[arg-type]
            self.resources["feast"],
            self.resources["mlflow"],
            log_root,
        )


def train(resources: dict, model_name: str, num_leaves: int) -> str:
    inputs = model_inputs(resources["lakehouse"], START, SERVED_DAY).filter(pl.col("is_fraud").is_not_null())
    outcome = train_and_register(
        inputs,
        "lightgbm",
        MODEL_FEATURES,
        resources["mlflow"],
        feature_service="fraud_model_v1",
        split_config=SPLIT,
        params=LightGBMParams(max_rounds=30, num_leaves=num_leaves, min_data_in_leaf=10, num_threads=1),
        nullable=tuple(NULLABLE_FEATURES),
        fill_values=FEATURE_FILL_VALUES,
        latency_rows=5,
        model_name=model_name,
    )
    return outcome.version


def build_world(root: Path) -> World:
    settings = Settings(data_dir=root / "data", partitions_start=date(2025, 1, 1))
    resources = build_resources(settings)
    config = SimulationConfig(start=START, days=DAYS, rows_per_day=300)
    frames = []
    for i in range(DAYS):
        day = START + timedelta(days=i)
        frame = simulate_day(day, config)
        resources["lakehouse"].write_partition("validated_transactions", day, frame)
        frames.append(frame)
    with dg.DagsterInstance.ephemeral() as instance:
        for assets, last in (
            ([customer_features, merchant_features], SERVED_DAY),
            ([online_features], SERVED_DAY - timedelta(days=1)),
        ):
            result = dg.materialize(
                assets, resources=resources, instance=instance, tags=range_tags(START, last)
            )
            assert result.success
        champion = train(resources, MODEL, num_leaves=7)
        resources["mlflow"].client().set_registered_model_alias(MODEL, registry.CHAMPION, champion)
        challenger = train(resources, MODEL, num_leaves=15)  # registered with the challenger alias
        result = dg.materialize(
            [batch_predictions], resources=resources, instance=instance, partition_key=SERVED_DAY.isoformat()
        )
        assert result.success
    return World(settings, resources, frames[-1], champion, challenger)


@contextmanager
def serving(service: ScoringService) -> Iterator[str]:
    """Run the app on uvicorn on a free loopback port in a thread; yields the base URL."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(service), host="127.0.0.1", port=0, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def request_body(row: dict) -> dict:
    """A validated row as the JSON body of `POST /score` (the contract without the label)."""
    body = {k: v for k, v in row.items() if k not in ("is_fraud", "label_available_at")}
    body["event_timestamp"] = row["event_timestamp"].isoformat()
    return body


def get_online_features(store, merchant_ids: list[str]) -> dict[str, dict[str, float | None]]:
    """The merchants' online-state features through Feast's `get_online_features` (the reference)."""
    from mlops_assets.defs.serving.contract import ONLINE_STATE_FEATURES
    from mlops_assets.feature_catalog import MERCHANT_FEATURE_VIEW

    refs = [f"{MERCHANT_FEATURE_VIEW}:{f}" for f in ONLINE_STATE_FEATURES]
    answer = store.get_online_features(features=refs, entity_rows=[{"merchant_id": m} for m in merchant_ids])
    columns = answer.to_dict()
    return {m: {f: columns[f][i] for f in ONLINE_STATE_FEATURES} for i, m in enumerate(merchant_ids)}
