"""The `feast` CLI on the platform's state, in a fresh shell: it lists the views and plans no changes.

The state is the demo's, small: landing files -> raw -> validated -> customer/merchant features -> the
online store, materialized by Dagster into a temporary `MLOPS_DATA_DIR`. The CLI then runs with an empty
environment apart from PATH, HOME and MLOPS_DATA_DIR (plus the tests' loopback guard), as a person
would run it after `make demo`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from network_guard import child_process_env
from shared_fixtures import land_days

from mlops_assets.defs.features.assets import customer_features, merchant_features, online_features
from mlops_assets.defs.ingestion.assets import raw_transactions
from mlops_assets.defs.validation.assets import validated_and_quarantined_transactions
from mlops_assets.feast_resource import FeastResource
from mlops_assets.feature_catalog import CUSTOMER_FEATURE_VIEW, MERCHANT_FEATURE_VIEW
from mlops_assets.production import validate_feature_store_yaml
from mlops_assets.settings import REPO_ROOT, Settings

pytestmark = pytest.mark.slow
START = date(2026, 1, 1)
VIEWS = {CUSTOMER_FEATURE_VIEW, MERCHANT_FEATURE_VIEW}


def _feast(settings: Settings, *args: str) -> str:
    """`feast -c feature_repo -f <data>/feast/feature_store.yaml ARGS` in a fresh shell; its output."""
    env = child_process_env(
        {
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "HOME": str(Path.home()),
            "MLOPS_DATA_DIR": str(settings.data_dir),
        }
    )
    config = settings.feast_dir / "feature_store.yaml"
    done = subprocess.run(
        ["feast", "-c", "feature_repo", "-f", str(config), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_feast_cli_lists_the_views_and_plans_no_changes_after_the_pipeline_ran(
    settings, resources, instance
) -> None:
    land_days(settings, START, 3, rows_per_day=100)
    result = dg.materialize(
        [
            raw_transactions,
            validated_and_quarantined_transactions,
            customer_features,
            merchant_features,
            online_features,
        ],
        resources=resources,
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": "2026-01-01",
            "dagster/asset_partition_range_end": "2026-01-03",
        },
    )
    assert result.success

    listed = _feast(settings, "feature-views", "list")
    rows = [line.split() for line in listed.splitlines()[1:] if line.strip()]
    assert {row[0] for row in rows} == VIEWS
    assert all("AVAILABLE_ONLINE" in row for row in rows)

    plan = _feast(settings, "plan")
    # Materialized views still equal their definitions: no object is created, updated or deleted.
    assert "No changes to registry" in plan
    assert "No changes to infrastructure" in plan
    assert re.findall(r"^(?:Created|Updated|Deleted) .*$", plan, flags=re.MULTILINE) == []


def test_the_cli_config_never_holds_the_redis_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feast = FeastResource(
        repo_path=str(REPO_ROOT / "feature_repo"),
        feast_dir=str(tmp_path / "feast"),
        lakehouse_dir=str(tmp_path / "lakehouse"),
        redis_url="redis://:s3cret-pw@127.0.0.1:6379/2",
    )
    text = feast.cli_config_text()
    assert "s3cret-pw" not in text
    assert "connection_string: 127.0.0.1:6379,db=2,password=${MLOPS_REDIS_PASSWORD}" in text
    # Read the way Feast reads it, the variable the CLI user exported fills the password in.
    path = tmp_path / "feature_store.yaml"
    path.write_text(text)
    monkeypatch.setenv("MLOPS_REDIS_PASSWORD", "s3cret-pw")
    config = validate_feature_store_yaml(path)
    assert config.online_store.connection_string == "127.0.0.1:6379,db=2,password=s3cret-pw"
