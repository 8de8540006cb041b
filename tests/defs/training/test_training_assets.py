"""The training assets, materialized for real: a synthetic `training_dataset` in a temporary lakehouse."""

import dagster as dg
import polars as pl
import pytest

from mlops_assets.defs.training import registry
from mlops_assets.defs.training.assets import fraud_model, model_promotion, rollback_champion_job
from mlops_assets.defs.training.models import REGISTERED_MODEL_NAME as MODEL
from mlops_assets.feature_catalog import MODEL_FEATURES

TRAIN_CONFIG = {
    "validation_days": 3,
    "holdout_days": 3,
    "min_rows": 100,
    "min_positives": 10,
    "lightgbm_max_rounds": 30,
    "torch_max_epochs": 40,
    "num_threads": 1,
}


def _metadata(result: dg.ExecuteInProcessResult, key: str) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key]
    return {k: v.value for k, v in event.materialization.metadata.items()}


@pytest.fixture
def training_dataset(resources, make_frame) -> pl.DataFrame:
    frame = make_frame(features=MODEL_FEATURES).with_columns(
        # Nullable by contract: the first transaction of a customer has no previous one.
        pl.when(pl.int_range(pl.len()) % 50 == 0)
        .then(None)
        .otherwise(pl.col("cust_seconds_since_prev_txn"))
        .alias("cust_seconds_since_prev_txn")
    )
    resources["lakehouse"].write_table("training_dataset", frame)
    return frame


def _runs_of(client, experiment_id: str, dagster_run_id: str) -> tuple[object, list]:
    """The MLflow parent run of a Dagster run and its children, read back from the tracking store."""
    runs = client.search_runs([experiment_id], f"tags.dagster_run_id = '{dagster_run_id}'")
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(runs) == 1 + len(children)
    return parent, children


def test_train_both_families_then_promote_then_reject_an_equal_challenger_then_roll_back(
    resources, training_dataset, instance, monkeypatch
):
    # As in the production image, which has no .git: the commit comes from the environment.
    monkeypatch.setenv("MLOPS_GIT_COMMIT", "0123abc-from-image")
    run_config = {"ops": {"fraud_model": {"config": TRAIN_CONFIG}}}
    first = dg.materialize(
        [fraud_model, model_promotion], resources=resources, run_config=run_config, instance=instance
    )
    assert first.success
    lgb = _metadata(first, "fraud_model/lightgbm")
    torch = _metadata(first, "fraud_model/torch")
    # One registered model; each family registers a candidate version behind its own alias.
    assert (lgb["registered_model"], lgb["alias"], torch["registered_model"], torch["alias"]) == (
        MODEL,
        "challenger_lightgbm",
        MODEL,
        "challenger_torch",
    )
    assert {lgb["version"], torch["version"]} == {"1", "2"}
    assert lgb["windows"] == {
        "train": "2025-03-01..2025-03-06",
        "validation": "2025-03-07..2025-03-09",
        "holdout": "2025-03-10..2025-03-12",
    }
    assert lgb["holdout_roc_auc"] > 0.8 and torch["holdout_roc_auc"] > 0.7
    assert lgb["model_card"].startswith(f"# Model card: {MODEL} version {lgb['version']}")
    assert "country=DE" in lgb["slices"]
    assert "mlflow_run_url" not in lgb  # a SQLite store has no UI to link to

    # The gate picked the better family as the first champion (floors only: there was no champion).
    promotion = _metadata(first, "model_promotion")
    best = max((lgb, torch), key=lambda m: m["holdout_pr_auc"])
    assert (promotion["outcome"], promotion["champion_version"]) == ("promoted_first_model", best["version"])
    assert promotion["champion_family"] == best["family"]
    assert "not the best candidate" in promotion["candidates"]

    client = resources["mlflow"].client()
    champion = registry.load_champion(client)
    assert (champion.name, champion.version, champion.family) == (MODEL, best["version"], best["family"])
    assert champion.features == MODEL_FEATURES

    # dagster-mlflow: one parent run for the Dagster run, one finished child per family, ended explicitly.
    experiment = client.get_experiment_by_name(resources["mlflow_tracking"].experiment_name)
    parent, children = _runs_of(client, experiment.experiment_id, first.run_id)
    assert parent.info.status == "FINISHED"
    assert sorted(c.data.tags["model_family"] for c in children) == ["lightgbm", "torch"]
    assert {c.info.status for c in children} == {"FINISHED"}
    assert {c.info.run_id for c in children} == {lgb["mlflow_run_id"], torch["mlflow_run_id"]}
    assert lgb["mlflow_parent_run_id"] == torch["mlflow_parent_run_id"] == parent.info.run_id
    assert client.get_run(lgb["mlflow_run_id"]).data.metrics["holdout_pr_auc"] == lgb["holdout_pr_auc"]
    version_tags = client.get_model_version(MODEL, lgb["version"]).tags
    assert version_tags[registry.PARENT_RUN_TAG] == parent.info.run_id
    assert version_tags["git_commit"] == "0123abc-from-image"
    assert client.get_run(lgb["mlflow_run_id"]).data.tags["git_commit"] == "0123abc-from-image"
    assert "**Git commit:** `0123abc-from-image`" in lgb["model_card"]

    # A retraining on exactly the champion's data trains nothing (so nothing to promote either).
    family = best["family"]
    idle = dg.materialize(
        [fraud_model, model_promotion], resources=resources, run_config=run_config, instance=instance
    )
    assert idle.success
    assert idle.get_asset_materialization_events() == []
    skipped, no_children = _runs_of(client, experiment.experiment_id, idle.run_id)
    assert no_children == []
    assert skipped.data.tags["mlops.skipped"].startswith(
        f"not retrained: training_dataset (sha256 {best['training_data_sha256']}) is exactly the data "
        f"champion v{best['version']} was trained on"
    )
    assert sorted(str(v.version) for v in client.search_model_versions(f"name='{MODEL}'")) == ["1", "2"]

    # By hand it may (same seed, same data): the candidate is identical to the champion, so refused.
    by_hand = {"ops": {"fraud_model": {"config": {**TRAIN_CONFIG, "allow_champion_data": True}}}}
    second = dg.materialize(
        [fraud_model, model_promotion],
        selection=[f"fraud_model/{family}", "model_promotion"],
        resources=resources,
        run_config=by_hand,
        instance=instance,
    )
    assert second.success
    again = _metadata(second, f"fraud_model/{family}")
    assert again["version"] == "3"
    assert again["holdout_pr_auc"] == best["holdout_pr_auc"]  # reproducible
    assert again["training_data_sha256"] == best["training_data_sha256"]
    _, children = _runs_of(client, experiment.experiment_id, second.run_id)
    assert [c.data.tags["model_family"] for c in children] == [family]
    decision = _metadata(second, "model_promotion")
    assert (decision["outcome"], decision["champion_version"], decision["promoted"]) == (
        "rejected",
        best["version"],
        False,
    )
    assert (decision["pr_auc_gain"], decision["pr_auc_gain_ci_low"], decision["pr_auc_gain_ci_high"]) == (
        0.0,
        0.0,
        0.0,
    )
    assert decision["compared_days"] == "2025-03-10..2025-03-12"
    assert decision["compared_positives"] == int(
        training_dataset.filter(pl.col("event_timestamp").dt.day() >= 10)["is_fraud"].sum()
    )
    assert "FAIL pr_auc_gain" in decision["reasons"]
    tags = client.get_model_version(MODEL, "3").tags
    assert tags["promotion_decision"] == "rejected"
    assert tags["promotion_pr_auc_gain_ci"] == "0.000000..0.000000"

    # A lenient gate promotes v3; it misbehaves in production and is rolled back. A manual
    # model_promotion afterwards (the same lenient gate, v3 still its family's candidate) must not
    # promote it again.
    lenient = {"ops": {"model_promotion": {"config": {"min_pr_auc_gain": -1.0}}}}
    promoted = dg.materialize([model_promotion], resources=resources, run_config=lenient, instance=instance)
    assert _metadata(promoted, "model_promotion")["champion_version"] == "3"
    rollback = rollback_champion_job.execute_in_process(
        run_config={
            "ops": {
                "rollback_champion_op": {"config": {"version": best["version"], "reason": "FR slice alert"}}
            }
        },
        resources={"mlflow": resources["mlflow"]},
        instance=instance,
    )
    assert rollback.success
    after = dg.materialize([model_promotion], resources=resources, run_config=lenient, instance=instance)
    decision = _metadata(after, "model_promotion")
    assert decision["champion_version"] != "3"
    assert "v3: rolled back at" in decision["candidates"]
    assert "(reason: FR slice alert); never promoted again" in decision["candidates"]
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) != "3"


def test_training_window_with_one_class_fails_the_asset_with_the_reason(resources, make_frame, instance):
    frame = make_frame(features=MODEL_FEATURES).with_columns(pl.lit(0, dtype=pl.Int8).alias("is_fraud"))
    resources["lakehouse"].write_table("training_dataset", frame)
    result = dg.materialize(
        [fraud_model],
        resources=resources,
        run_config={"ops": {"fraud_model": {"config": TRAIN_CONFIG}}},
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    assert "label is_fraud has only class(es) [0]" in (error.cause or error).message
    client = resources["mlflow"].client()
    assert client.search_registered_models() == []
    # The parent run of the failed Dagster run is ended FAILED, with no child (nothing was trained).
    experiment = client.get_experiment_by_name(resources["mlflow_tracking"].experiment_name)
    (parent,) = client.search_runs([experiment.experiment_id], f"tags.dagster_run_id = '{result.run_id}'")
    assert parent.info.status == "FAILED"


def test_lineage_from_raw_data_to_batch_predictions():
    from mlops_assets.definitions import defs

    graph = defs.resolve_asset_graph()

    def parents(key: str) -> set[str]:
        return {k.to_user_string() for k in graph.get(dg.AssetKey.from_user_string(key)).parent_keys}

    assert parents("validated_transactions") == {"raw_transactions"}
    assert "validated_transactions" in parents("customer_features")
    assert {"customer_features", "merchant_features"} <= parents("training_dataset")
    assert parents("fraud_model/lightgbm") == parents("fraud_model/torch") == {"training_dataset"}
    assert parents("model_promotion") == {"fraud_model/lightgbm", "fraud_model/torch", "training_dataset"}
    assert parents("batch_predictions") == {
        "validated_transactions",
        "customer_features",
        "merchant_features",
        "model_promotion",
    }
    groups = {
        key: graph.get(dg.AssetKey.from_user_string(key)).group_name
        for key in ("fraud_model/lightgbm", "fraud_model/torch", "model_promotion", "batch_predictions")
    }
    assert groups == {
        "fraud_model/lightgbm": "training",
        "fraud_model/torch": "training",
        "model_promotion": "training",
        "batch_predictions": "monitoring",
    }
    assert graph.get(dg.AssetKey.from_user_string("fraud_model/torch")).kinds == {"pytorch", "mlflow"}
    assert graph.get(dg.AssetKey.from_user_string("fraud_model/lightgbm")).kinds == {"lightgbm", "mlflow"}
    assert defs.resolve_job_def("rollback_champion_job") is not None
