"""The training assets, materialized for real: a synthetic `training_dataset` in a temporary lakehouse."""

import dagster as dg
import polars as pl
import pytest

from mlops_assets.defs.training import registry
from mlops_assets.defs.training.assets import fraud_model, model_promotion, rollback_champion_job
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
    assert (lgb["registered_model"], lgb["version"], lgb["alias"]) == ("fraud_lightgbm", "1", "challenger")
    assert (torch["registered_model"], torch["version"]) == ("fraud_torch", "1")
    assert lgb["windows"] == {
        "train": "2025-03-01..2025-03-06",
        "validation": "2025-03-07..2025-03-09",
        "holdout": "2025-03-10..2025-03-12",
    }
    assert lgb["holdout_roc_auc"] > 0.8 and torch["holdout_roc_auc"] > 0.7
    assert lgb["model_card"].startswith("# Model card: fraud_lightgbm version 1")
    assert "country=DE" in lgb["slices"]
    promotion = _metadata(first, "model_promotion")
    assert promotion["champions"] == {"fraud_lightgbm": "1", "fraud_torch": "1"}
    assert sorted(promotion["promoted"]) == ["fraud_lightgbm", "fraud_torch"]
    assert "promoted_first_model" in promotion["decisions"]

    client = resources["mlflow"].client()
    torch_champion = registry.load_champion(client, "fraud_torch")
    assert torch_champion.family == "torch" and torch_champion.features == MODEL_FEATURES
    run = client.get_run(lgb["mlflow_run_id"])
    assert run.data.tags["dagster_run_id"] == first.run_id
    assert run.data.tags["git_commit"] == "0123abc-from-image"
    assert client.get_model_version("fraud_lightgbm", "1").tags["git_commit"] == "0123abc-from-image"
    assert "**Git commit:** `0123abc-from-image`" in lgb["model_card"]

    # Retrain LightGBM alone (same seed, same data): the challenger equals the champion, so it is rejected.
    second = dg.materialize(
        [fraud_model, model_promotion],
        selection=["fraud_model/lightgbm", "model_promotion"],
        resources=resources,
        run_config=run_config,
        instance=instance,
    )
    assert second.success
    again = _metadata(second, "fraud_model/lightgbm")
    assert again["version"] == "2"
    assert again["holdout_pr_auc"] == lgb["holdout_pr_auc"]  # reproducible
    assert again["training_data_sha256"] == lgb["training_data_sha256"]
    decision = _metadata(second, "model_promotion")
    assert decision["champions"] == {"fraud_lightgbm": "1", "fraud_torch": "1"}
    assert decision["promoted"] == []
    assert "FAIL beats_champion" in decision["reasons"] and "already the champion" in decision["reasons"]
    tags = client.get_model_version("fraud_lightgbm", "2").tags
    assert tags["promotion_decision"] == "rejected"

    # A lenient gate promotes v2; it misbehaves in production and is rolled back to v1. A manual
    # model_promotion afterwards (the same lenient gate, v2 still the challenger) must keep v1.
    lenient = {"ops": {"model_promotion": {"config": {"min_pr_auc_gain": -1.0}}}}
    promoted = dg.materialize([model_promotion], resources=resources, run_config=lenient, instance=instance)
    assert _metadata(promoted, "model_promotion")["champions"]["fraud_lightgbm"] == "2"
    rollback = rollback_champion_job.execute_in_process(
        run_config={
            "ops": {
                "rollback_champion_op": {
                    "config": {"model_name": "fraud_lightgbm", "version": "1", "reason": "FR slice alert"}
                }
            }
        },
        resources={"mlflow": resources["mlflow"]},
        instance=instance,
    )
    assert rollback.success
    after = dg.materialize([model_promotion], resources=resources, run_config=lenient, instance=instance)
    decision = _metadata(after, "model_promotion")
    assert decision["champions"] == {"fraud_lightgbm": "1", "fraud_torch": "1"}
    assert decision["promoted"] == []
    assert "challenger v2 was rolled back at" in decision["reasons"]
    assert "(reason: FR slice alert) and is never promoted again; champion stays v1" in decision["reasons"]
    assert "rolled_back" in decision["decisions"]
    assert str(client.get_model_version_by_alias("fraud_lightgbm", "champion").version) == "1"


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
    assert resources["mlflow"].client().search_registered_models() == []


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
