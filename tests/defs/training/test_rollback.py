import re

import dagster as dg
import numpy as np
import pytest

from mlops_assets.defs.training import registry
from mlops_assets.defs.training.assets import rollback_champion_job
from mlops_assets.defs.training.promotion import (
    PROMOTED,
    ROLLED_BACK,
    HoldoutRows,
    PromotionPolicy,
    Scorecard,
    promote_challenger,
)
from mlops_assets.defs.training.rollback import RollbackError, main, rollback_champion


@pytest.fixture
def three_versions(module_store, trained_lightgbm, request):
    """A registered model with versions 1..3 of the same artifact; version 3 is the champion."""
    client = module_store.client()
    name = "rollback_" + re.sub(r"\W", "_", request.node.name.removeprefix("test_"))
    for _ in range(3):
        registry.register_version(
            client,
            name,
            trained_lightgbm.logged_model_uri,
            None,
            {registry.FAMILY_TAG: "lightgbm"},
            "t",
            aliases=(),
        )
    client.set_registered_model_alias(name, registry.CHAMPION, "3")
    return name


def _champion(client, name: str) -> str:
    return str(client.get_model_version_by_alias(name, registry.CHAMPION).version)


def test_rollback_repoints_champion_and_tags_both_versions(module_store, three_versions):
    client = module_store.client()
    result = rollback_champion(client, three_versions, "1", "slice FR regressed in production")
    assert (result.previous_version, result.new_version) == ("3", "1")
    assert _champion(client, three_versions) == "1"
    old = client.get_model_version(three_versions, "3").tags
    new = client.get_model_version(three_versions, "1").tags
    assert old["superseded_by"] == "1" and old["rollback_reason"] == "slice FR regressed in production"
    assert new["rollback_replaced"] == "3" and "rolled_back_to_at" in new
    assert registry.ROLLED_BACK_TAG in old and registry.ROLLED_BACK_TAG not in new


def test_the_next_gate_run_does_not_undo_a_rollback(module_store, three_versions):
    """v3 is champion and its family's candidate; after a rollback to v1 the gate must not re-promote it."""
    client = module_store.client()
    client.set_registered_model_alias(three_versions, registry.candidate_alias("lightgbm"), "3")
    rollback_champion(client, three_versions, "1", "slice FR regressed in production")
    rng = np.random.default_rng(0)
    labels = (rng.random(5_000) < 0.05).astype(np.int8)
    strong = labels * 3.0 + rng.normal(size=5_000)
    weak = labels * 0.5 + rng.normal(size=5_000)
    scored: list[str] = []

    class Scorer:
        def rows(self, window: str) -> HoldoutRows:
            return HoldoutRows(window, labels, np.arange(5_000) // 4, 3)

        def score(self, model_name: str, version: str, window: str) -> Scorecard:
            scored.append(version)
            scores = weak if version == "1" else strong  # v3 would win easily: only the rollback stops it
            return Scorecard(version, 0.9 if version != "1" else 0.5, 0.95, 1.0, scores=scores)

    policy = PromotionPolicy(min_pr_auc=0.0, min_roc_auc=0.0, bootstrap_replicates=200)
    result = promote_challenger(client, three_versions, policy, Scorer())
    assert scored == []
    assert (result.decision.outcome, result.decision.promote) == (ROLLED_BACK, False)
    assert result.champion_version_before == result.champion_version_after == "1"
    assert _champion(client, three_versions) == "1"
    (reason,) = result.decision.reasons
    assert reason.startswith("v3: rolled back at ")
    assert "(reason: slice FR regressed in production); never promoted again; champion stays v1" in reason
    assert "promotion_decision" not in client.get_model_version(three_versions, "3").tags

    # A newly trained version is judged as usual.
    new = registry.register_version(
        client,
        three_versions,
        client.get_model_version(three_versions, "1").source,
        None,
        {registry.FAMILY_TAG: "lightgbm", registry.HOLDOUT_WINDOW_TAG: "2025-03-10..2025-03-12"},
        "t",
        aliases=(registry.candidate_alias("lightgbm"),),
    )
    v4 = str(new.version)
    result = promote_challenger(client, three_versions, policy, Scorer())
    assert scored == [v4, "1"] and result.decision.outcome == PROMOTED
    assert _champion(client, three_versions) == v4


@pytest.mark.parametrize(
    ("version", "message"),
    [("3", "already the champion"), ("9", "has no version 9"), ("x", "has no version x")],
)
def test_rollback_refusals_change_nothing(module_store, three_versions, version, message):
    client = module_store.client()
    with pytest.raises(RollbackError, match=message):
        rollback_champion(client, three_versions, version, "r")
    assert _champion(client, three_versions) == "3"


def test_rollback_refuses_a_newer_version_and_a_missing_champion(module_store, three_versions):
    client = module_store.client()
    client.set_registered_model_alias(three_versions, registry.CHAMPION, "2")
    with pytest.raises(RollbackError, match="version 3 is newer than the champion \\(version 2\\)"):
        rollback_champion(client, three_versions, "3", "r")
    with pytest.raises(RollbackError, match="fraud_unknown has no champion"):
        rollback_champion(client, "fraud_unknown", "1", "r")


def test_command_line(module_store, three_versions, capsys):
    args = ["--model", three_versions, "--version", "2", "--tracking-uri", module_store.tracking_uri]
    assert main(args) == 0
    assert f"{three_versions}: champion version 3 -> 2" in capsys.readouterr().out
    assert _champion(module_store.client(), three_versions) == "2"
    assert main(args) == 2
    assert "rollback refused: " in capsys.readouterr().err


def test_dagster_job(module_store, three_versions):
    result = rollback_champion_job.execute_in_process(
        run_config={
            "ops": {
                "rollback_champion_op": {
                    "config": {"model_name": three_versions, "version": "1", "reason": "from the launchpad"}
                }
            }
        },
        resources={"mlflow": module_store},
    )
    assert result.success
    assert result.output_for_node("rollback_champion_op") == {
        "model": three_versions,
        "previous_version": "3",
        "version": "1",
        "reason": "from the launchpad",
    }
    assert _champion(module_store.client(), three_versions) == "1"
    assert isinstance(rollback_champion_job, dg.JobDefinition)
