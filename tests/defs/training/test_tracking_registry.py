"""What a training run leaves in a real MLflow (SQLite in a temporary folder), and how failures look."""

import json
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mlops_assets.defs.training import registry
from mlops_assets.defs.training.data import feature_matrix
from mlops_assets.defs.training.flow import train_and_register
from mlops_assets.defs.training.models import REGISTERED_MODEL_NAME as MODEL
from mlops_assets.defs.training.promotion import (
    PROMOTED_FIRST,
    HoldoutTooSmallError,
    PromotionPolicy,
    holdout_scorer,
    promote_challenger,
)
from mlops_assets.mlflow_resource import (
    MlflowResource,
    TrackingStoreUnavailableError,
    check_tracking_store,
    redact_uri,
)
from mlops_assets.settings import REPO_ROOT


def test_run_logs_params_metrics_tags_data_and_model(
    module_store, trained_lightgbm, training_frame, features
):
    client = module_store.client()
    run = client.get_run(trained_lightgbm.run_id)
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["family"] == "lightgbm" and params["feature_service"] == "test_service"
    assert params["lightgbm.seed"] == "42" and params["n_features"] == "5"
    assert params["holdout_window"] == "2025-03-10..2025-03-12"
    assert params["training_partitions"] == "2025-03-01..2025-03-12 (12 days)"
    assert metrics["holdout_pr_auc"] == pytest.approx(trained_lightgbm.holdout.pr_auc)
    for name in (
        "holdout_roc_auc",
        "holdout_log_loss",
        "holdout_brier",
        "holdout_recall_at_p90",
        "holdout_pr_auc.country.DE",
        "holdout_pr_auc.merchant_category.electronics",
        "latency_single_row_p99_ms",
        "batch_rows_per_s",
        "validation_pr_auc",
    ):
        assert name in metrics, name
    history = client.get_metric_history(run.info.run_id, "history.average_precision")
    assert len(history) == len(trained_lightgbm.trained.history["average_precision"]) >= 1
    assert tags["dagster_run_id"] == "test-run" and tags["model_family"] == "lightgbm"
    assert tags["git_commit"] == registry.git_commit() != ""
    assert tags["training_data_sha256"] == trained_lightgbm.training_data_sha256
    # The data, logged with mlflow.data: one input per split part, with its context.
    contexts = sorted(
        next(t.value for t in i.tags if t.key == "mlflow.data.context") for i in run.inputs.dataset_inputs
    )
    assert contexts == ["holdout", "train", "validation"]
    # Artifacts: feature list, partition hashes, model card.
    local = Path(client.download_artifacts(run.info.run_id, "", str(Path(module_store.artifact_root) / "dl")))
    assert json.loads((local / "features.json").read_text()) == {
        "feature_service": "test_service",
        "features": list(features),
    }
    partitions = json.loads((local / "training_partitions.json").read_text())
    assert (
        partitions["partitions"] == trained_lightgbm.partition_hashes and len(partitions["partitions"]) == 12
    )
    card = (local / "model_card.md").read_text()
    assert card == trained_lightgbm.model_card
    assert card.startswith(f"# Model card: {MODEL} version {trained_lightgbm.version}")
    for section in (
        "## Intended use",
        "## Data window",
        "## Features",
        "## Metrics",
        "## Slices",
        "## Known limitations",
    ):
        assert section in card
    assert "| holdout | 2025-03-10 | 2025-03-12 |" in card and "`f_amount_z`" in card


def test_version_is_its_familys_candidate_with_tags_signature_and_requirements(
    module_store, trained_lightgbm, features
):
    client = module_store.client()
    mv = client.get_model_version_by_alias(MODEL, "challenger_lightgbm")
    assert registry.family_candidates(client, MODEL) == {"lightgbm": mv}
    assert str(mv.version) == trained_lightgbm.version and mv.run_id == trained_lightgbm.run_id
    assert mv.tags["model_family"] == "lightgbm"
    # The windows the promotion gate reads to keep a champion off rows it was trained on.
    assert (mv.tags["train_window"], mv.tags["validation_window"], mv.tags["holdout_window"]) == (
        "2025-03-01..2025-03-06",
        "2025-03-07..2025-03-09",
        "2025-03-10..2025-03-12",
    )
    assert json.loads(mv.tags["features"]) == list(features)
    assert float(mv.tags["decision_threshold"]) == pytest.approx(
        trained_lightgbm.holdout.threshold_at_precision
    )
    assert registry.alias_version(client, MODEL, registry.CHAMPION) is None
    from mlflow.models import get_model_info

    info = get_model_info(trained_lightgbm.model_uri)
    assert info.signature.inputs.input_names() == list(features)
    assert info.metadata["features"] == list(features)
    requirements = next(Path(module_store.artifact_root).rglob("requirements.txt")).read_text()
    assert "lightgbm==4.7.0" in requirements and "torch" not in requirements


def test_loaded_version_predicts_like_the_trained_model(module_store, trained_lightgbm, training_frame):
    model = registry.load_version(module_store.client(), MODEL, trained_lightgbm.version)
    x = feature_matrix(training_frame.tail(20), model.features)
    np.testing.assert_allclose(model.predict(x), trained_lightgbm.trained.predict(x), rtol=1e-6)


def test_first_model_becomes_champion_on_the_real_holdout(
    module_store, trained_lightgbm, training_frame, features
):
    client = module_store.client()
    score = holdout_scorer(client, training_frame, features, latency_rows=10)
    result = promote_challenger(client, MODEL, PromotionPolicy(min_pr_auc=0.1, min_roc_auc=0.6), score)
    assert result.decision.outcome == PROMOTED_FIRST
    assert result.challenger.pr_auc == pytest.approx(trained_lightgbm.holdout.pr_auc)
    champion = registry.load_champion(client)  # the one way every consumer loads the serving model
    assert (champion.name, champion.version) == (MODEL, trained_lightgbm.version)
    assert client.get_model_version(MODEL, champion.version).tags["promotion_decision"] == PROMOTED_FIRST


def test_holdout_without_both_classes_is_too_small_to_score(
    module_store, trained_lightgbm, training_frame, features
):
    score = holdout_scorer(module_store.client(), training_frame, features, latency_rows=5)
    with pytest.raises(HoldoutTooSmallError, match=r"2030-01-01\.\.2030-01-02: 0 rows, 0 fraud"):
        score.score(MODEL, trained_lightgbm.version, "2030-01-01..2030-01-02")
    legit_only = training_frame.with_columns(pl.lit(0, dtype=pl.Int8).alias("is_fraud"))
    score = holdout_scorer(module_store.client(), legit_only, features, latency_rows=5)
    with pytest.raises(HoldoutTooSmallError, match=r"2025-03-12\.\.2025-03-12: [1-9]\d+ rows, 0 fraud"):
        score.score(MODEL, trained_lightgbm.version, "2025-03-12..2025-03-12")


def test_git_commit_prefers_the_environment_then_git_then_unknown(monkeypatch, tmp_path):
    monkeypatch.setenv("MLOPS_GIT_COMMIT", " 0123abc\n")
    assert registry.git_commit() == "0123abc"
    # Blank counts as unset: this checkout's HEAD, from git.
    monkeypatch.setenv("MLOPS_GIT_COMMIT", "  ")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{40}", registry.git_commit()) and registry.git_commit() == head
    # No repository (the production image has no .git): unknown, not an error.
    monkeypatch.delenv("MLOPS_GIT_COMMIT")
    monkeypatch.setattr(registry, "REPO_ROOT", tmp_path)
    assert registry.git_commit() == "unknown"

    # No git binary at all.
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(registry.subprocess, "run", no_git)
    assert registry.git_commit() == "unknown"


def test_no_champion_is_a_clear_error(module_store):
    with pytest.raises(registry.NoChampionError, match="fraud_nothing has no champion version yet"):
        registry.load_champion(module_store.client(), "fraud_nothing")


def test_champion_with_other_features_is_refused_naming_the_differences(
    module_store, trained_lightgbm, features
):
    model = registry.load_version(module_store.client(), MODEL, trained_lightgbm.version)
    current = [*features[:-1], "f_new_signal"]
    with pytest.raises(registry.FeatureMismatchError) as info:
        registry.check_features(f"champion {MODEL} v1", model.features, current)
    message = str(info.value)
    assert "no longer computed: ['f_night']" in message
    assert "does not know: ['f_new_signal']" in message
    registry.check_features("same set, other order", model.features, list(reversed(features)))  # no error


@pytest.mark.parametrize(
    "uri_template",
    ["sqlite:///{tmp}/not_a_dir/mlflow.db", "postgresql://mlflow:s3cret@127.0.0.1:1/mlflow"],
    ids=["sqlite_under_a_file", "postgres_refused"],
)
def test_unreachable_store_fails_fast_before_training(
    tmp_path, training_frame, features, small_split, uri_template, monkeypatch
):
    (tmp_path / "not_a_dir").write_text("a file, not a folder")
    store = MlflowResource(tracking_uri=uri_template.format(tmp=tmp_path), artifact_root=str(tmp_path / "a"))

    def no_retries(seconds: float) -> None:
        raise AssertionError(f"slept {seconds} s: MLflow's own retry loop (about 100 s) was entered")

    # Failing fast means never entering MLflow's retry loop, which sleeps between attempts.
    monkeypatch.setattr(time, "sleep", no_retries)
    with pytest.raises(TrackingStoreUnavailableError, match="is unreachable") as info:
        train_and_register(
            training_frame, "lightgbm", features, store, feature_service="s", split_config=small_split
        )
    assert "nothing was logged or registered" in str(info.value)
    assert "slept" not in str(info.value)  # not even a retry caught and reported as the cause
    assert "s3cret" not in str(info.value)


def test_redact_uri_hides_passwords():
    assert redact_uri("postgresql://u:pw@db:5432/m") == "postgresql://u:***@db:5432/m"
    assert redact_uri("sqlite:////tmp/m.db") == "sqlite:////tmp/m.db"
    check_tracking_store("databricks")  # not probed: MLflow's own errors apply


@pytest.mark.parametrize("failing", ["alias", "model_card"])
def test_failed_registration_leaves_no_version_behind(
    mlflow_resource, training_frame, features, small_split, tiny_lightgbm, monkeypatch, failing
):
    import mlflow
    from mlflow import MlflowClient

    def store_went_away(*args, **kwargs):
        raise ConnectionError(f"tracking store went away while writing the {failing}")

    if failing == "alias":
        monkeypatch.setattr(MlflowClient, "set_registered_model_alias", store_went_away)
    else:
        monkeypatch.setattr(mlflow, "log_text", store_went_away)
    with pytest.raises(ConnectionError, match="went away"):
        train_and_register(
            training_frame,
            "lightgbm",
            features,
            mlflow_resource,
            feature_service="s",
            split_config=small_split,
            params=tiny_lightgbm,
            latency_rows=5,
        )
    client = mlflow_resource.client()
    assert client.search_model_versions(f"name='{MODEL}'") == []
    runs = client.search_runs([mlflow_resource.experiment_id()])
    assert [r.info.status for r in runs] == ["FAILED"]
