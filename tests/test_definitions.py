"""The code location loads, validates with Dagster's own CLI, and lays the lineage out by stage."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from mlops_assets.definitions import defs

REPO = Path(__file__).resolve().parent.parent


def test_dagster_definitions_validate_passes(settings) -> None:
    cli = Path(sys.executable).parent / "dagster"
    proc = subprocess.run(
        [str(cli), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation successful" in proc.stdout + proc.stderr


def test_foundation_assets_sit_in_their_stage_groups_in_lineage_order() -> None:
    graph = defs.resolve_asset_graph()
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert groups["raw_transactions"] == "ingestion"
    assert groups["validated_transactions"] == "validation"
    assert groups["quarantined_transactions"] == "validation"
    validated = graph.get(dg.AssetKey("validated_transactions"))
    assert validated.parent_keys == {dg.AssetKey("raw_transactions")}


def test_every_asset_is_documented_and_every_partitioned_asset_backfills_in_one_run() -> None:
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_materializable:
            continue
        assert node.description, f"{key.to_user_string()} has no docstring/description"
        if node.partitions_def is not None:
            assert node.backfill_policy == dg.BackfillPolicy.single_run(), key.to_user_string()
