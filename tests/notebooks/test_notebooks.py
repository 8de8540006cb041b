"""The analyst notebook runs top to bottom on data it cannot have seen before, and finds the drift.

The test simulates days with covariate drift (amounts x1.8 and a shifted category mix from the drift
date), materializes raw and validated transactions with Dagster, and executes the notebook with nbclient
in the venv's python3 kernel, passing the data folder through MLOPS_DATA_DIR. A tiny LightGBM model is
registered in the data folder's MLflow store with `champion` on version 1 and `challenger` on version 2,
so the notebook must follow the alias (not the latest version); the torch model exists without a champion.
The executed notebook is kept under test-artifacts/notebooks/ for a look at the plots.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any, cast

import dagster as dg
import nbformat
import pytest
from nbclient import NotebookClient

from mlops_assets.defs.ingestion.assets import raw_transactions
from mlops_assets.defs.training.models import LIGHTGBM, REGISTERED_MODEL_NAME
from mlops_assets.defs.training.registry import (
    CHAMPION,
    FAMILY_TAG,
    candidate_alias,
    log_model,
    register_version,
)
from mlops_assets.defs.validation.assets import validated_and_quarantined_transactions
from mlops_assets.lakehouse import partition_path, table_glob
from mlops_assets.settings import REPO_ROOT, Settings
from mlops_assets.simulator import SimulationConfig, write_days

NOTEBOOK = REPO_ROOT / "notebooks" / "analyst_drift.ipynb"
ARTIFACTS = REPO_ROOT / "test-artifacts" / "notebooks"
START, DAYS, DRIFT_START = date(2026, 2, 1), 6, date(2026, 2, 4)
# Generous for a loaded 2-core CI machine: the kernel starts in seconds when idle.
KERNEL_STARTUP_TIMEOUT_S, CELL_TIMEOUT_S = 300, 300


def _printed(notebook: Any, prefix: str) -> str:
    """The text after `prefix` in the notebook's printed output (one line)."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            for line in output.get("text", "").splitlines():
                if line.startswith(prefix):
                    return line.removeprefix(prefix)
    raise AssertionError(f"the notebook printed no line starting with {prefix!r}")


@pytest.fixture
def drifted_lakehouse(
    settings: Settings, resources: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Six days, covariate drift from day four, materialized into the lakehouse in one ranged run."""
    config = SimulationConfig(
        start=START, days=DAYS, rows_per_day=400, drift_start=DRIFT_START, drift_kinds=("covariate",)
    )
    write_days(config, settings.data_dir, "parquet")
    last = date.fromordinal(START.toordinal() + DAYS - 1).isoformat()
    result = dg.materialize(
        [raw_transactions, validated_and_quarantined_transactions],
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": START.isoformat(),
            "dagster/asset_partition_range_end": last,
        },
    )
    assert result.success
    _write_customer_features(settings.lakehouse_dir)
    _register_tiny_champion(resources["mlflow"])
    monkeypatch.setenv("MLOPS_DRIFT_START", DRIFT_START.isoformat())
    return settings


def _write_customer_features(lakehouse_dir: Path) -> None:
    """customer_features in the lakehouse layout, from the features stage's own pure function."""
    import polars as pl

    from mlops_assets.defs.features.compute import compute_customer_features

    valid = pl.scan_parquet(table_glob(lakehouse_dir, "validated_transactions"), hive_partitioning=True)
    features = compute_customer_features(valid.drop("date")).collect()
    for (day,), frame in features.group_by(pl.col("event_timestamp").dt.date()):
        path = partition_path(lakehouse_dir, "customer_features", day)
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(path)


def _register_tiny_champion(mlflow_resource: Any) -> None:
    """LightGBM on 64 rows, logged as training logs it; champion v1, candidate v2."""
    import lightgbm
    import numpy as np

    rng = np.random.default_rng(7)
    x = rng.normal(size=(64, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    booster = lightgbm.train(
        {"objective": "binary", "num_leaves": 4, "min_data_in_leaf": 4, "verbose": -1, "num_threads": 1},
        lightgbm.Dataset(x, y),
        num_boost_round=2,
    )
    name = REGISTERED_MODEL_NAME
    client = mlflow_resource.client()
    with mlflow_resource.start_run("tiny-champion", tags={}) as run:
        info = log_model(LIGHTGBM, booster, x[:4], ["f0", "f1"], "test_features")
    for aliases in ((CHAMPION,), (candidate_alias(LIGHTGBM),)):
        register_version(
            client, name, info.model_uri, run.info.run_id, {FAMILY_TAG: LIGHTGBM}, "tiny", aliases=aliases
        )


def test_analyst_notebook_finds_the_covariate_drift(drifted_lakehouse: Settings, tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # The kernel inherits this process's environment: MLOPS_DATA_DIR and MLOPS_DRIFT_START set above.
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        startup_timeout=KERNEL_STARTUP_TIMEOUT_S,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    try:
        client.execute()
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, ARTIFACTS / NOTEBOOK.name)

    summary = json.loads(_printed(notebook, "DRIFT_SUMMARY "))
    import polars as pl

    valid = pl.scan_parquet(
        table_glob(drifted_lakehouse.lakehouse_dir, "validated_transactions"), hive_partitioning=True
    ).collect()
    drifted = valid.filter(pl.col("date") >= DRIFT_START)
    assert summary["drift_start"] == DRIFT_START.isoformat()
    assert (summary["rows_before"], summary["rows_after"]) == (valid.height - drifted.height, drifted.height)
    assert summary["amount_mean_after"] == pytest.approx(drifted["amount_eur"].mean(), abs=1e-3)
    undrifted = valid.filter(pl.col("date") < DRIFT_START)
    ratio = cast(float, drifted["amount_eur"].mean()) / cast(float, undrifted["amount_eur"].mean())
    assert summary["amount_mean_ratio"] == pytest.approx(ratio, abs=1e-3)
    assert summary["amount_mean_ratio"] > 1.5  # amounts x1.8, plus more spend in pricier categories
    assert summary["amount_ks_statistic"] > 0.2
    assert summary["category_tvd"] > 0.1
    # The features stage's table is picked up: every catalog feature compared, the covariate shift found.
    from mlops_assets.feature_catalog import CUSTOMER_FEATURES

    features = json.loads(_printed(notebook, "FEATURES_SUMMARY "))
    assert features["source"] == "customer_features"
    assert features["features"] == len(CUSTOMER_FEATURES)
    ks = features["ks_statistic"]
    assert set(ks) == set(CUSTOMER_FEATURES)
    assert all(0.0 <= value <= 1.0 for value in ks.values())
    ranked = sorted(ks, key=lambda feature: ks[feature], reverse=True)
    assert features["most_drifted"] == ranked[:2]  # the plotted features are the two with the largest KS
    # Amounts x1.8 from the drift date: the short-window amount features move with them.
    assert ks["cust_amount_mean_1h"] > 0.2 and ks["cust_amount_mean_24h"] > 0.2

    # The registry: the champion alias (version 1), not the latest version (2, the challenger).
    name = REGISTERED_MODEL_NAME
    assert json.loads(_printed(notebook, "CHAMPIONS ")) == {name: 1}
    assert _printed(notebook, f"{name}: champion is version ").startswith("1 (run ")
    assert _printed(notebook, f"  loaded models:/{name}@champion: ") == "PyFuncModel"
    images = [o for c in notebook.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 2  # transactions before/after, and the two most drifted features
