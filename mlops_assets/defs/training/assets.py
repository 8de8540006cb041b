"""`fraud_model/*` (one asset per model family), `model_promotion`, and the champion rollback job.

`fraud_model` is a multi-asset with one key per family (`fraud_model/lightgbm`, `fraud_model/torch`):
each family has its own kinds, metadata and registered model, and can be retrained alone (the asset is
subsettable), while the lineage still reads training_dataset -> fraud_model -> model_promotion.
"""

import json
from collections.abc import Iterator

import dagster as dg

from mlops_assets.defs.training.data import SplitConfig
from mlops_assets.defs.training.models import LIGHTGBM, REGISTERED_MODEL_NAMES, TORCH
from mlops_assets.defs.training.promotion import PromotionPolicy
from mlops_assets.feature_catalog import (
    FEATURE_FILL_VALUES,
    FEATURE_SERVICE_NAME,
    MODEL_FEATURES,
    NULLABLE_FEATURES,
)
from mlops_assets.k8s import k8s_op_tags
from mlops_assets.metadata import markdown_table
from mlops_assets.mlflow_resource import MlflowResource
from mlops_assets.resources import LakehouseResource
from mlops_assets.tables import FRAUD_MODEL, MODEL_PROMOTION, TRAINING_TABLE

FRAUD_MODEL_KEYS: dict[str, dg.AssetKey] = {
    LIGHTGBM: dg.AssetKey([FRAUD_MODEL, LIGHTGBM]),
    TORCH: dg.AssetKey([FRAUD_MODEL, TORCH]),
}
FAMILY_KINDS = {LIGHTGBM: {"lightgbm", "mlflow"}, TORCH: {"pytorch", "mlflow"}}


class FraudModelConfig(dg.Config):
    """Split and training knobs (defaults suit the daily retrain)."""

    validation_days: int = SplitConfig.validation_days
    holdout_days: int = SplitConfig.holdout_days
    min_rows: int = SplitConfig.min_rows
    min_positives: int = SplitConfig.min_positives
    seed: int = 42
    num_threads: int = 2
    lightgbm_max_rounds: int = 1_000
    torch_max_epochs: int = 30


class PromotionConfig(dg.Config):
    """The promotion gate's thresholds (see `PromotionPolicy`)."""

    min_pr_auc_gain: float = PromotionPolicy.min_pr_auc_gain
    max_p99_latency_ms: float = PromotionPolicy.max_p99_latency_ms
    slice_tolerance: float = PromotionPolicy.slice_tolerance
    min_pr_auc: float = PromotionPolicy.min_pr_auc
    min_roc_auc: float = PromotionPolicy.min_roc_auc


class RollbackConfig(dg.Config):
    """Which registered model to roll back, to which earlier version, and why."""

    model_name: str
    version: str
    reason: str = "rollback from the Dagster UI"


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            FRAUD_MODEL_KEYS[family],
            deps=[TRAINING_TABLE],
            description=(
                f"The newest {family} fraud classifier, registered in MLflow as "
                f"{REGISTERED_MODEL_NAMES[family]} with alias `challenger`, with its model card."
            ),
            group_name="training",
            kinds=FAMILY_KINDS[family],
            skippable=True,
        )
        for family in (LIGHTGBM, TORCH)
    ],
    can_subset=True,
    # Training holds the whole training set and two models in memory: a bigger pod under the k8s executor.
    op_tags=k8s_op_tags("large"),
)
def fraud_model(
    context: dg.AssetExecutionContext,
    config: FraudModelConfig,
    lakehouse: LakehouseResource,
    mlflow: MlflowResource,
) -> Iterator[dg.MaterializeResult]:
    """Train each selected model family on `training_dataset` and register it as the `challenger`.

    Time-based split by day (train / validation for early stopping / holdout for every metric). Each
    family gets one MLflow run: parameters, metrics (ROC AUC, PR AUC, log loss, Brier, recall at 90 %
    precision, PR AUC by country and merchant category, latency), the model with signature and input
    example, the feature service and list, the training partitions with content hashes, the git commit,
    the Dagster run id, the data via `mlflow.data`, and a model card.
    """
    from mlops_assets.defs.training.flow import train_and_register
    from mlops_assets.defs.training.lightgbm_model import LightGBMParams
    from mlops_assets.defs.training.torch_model import TorchParams

    dataset = lakehouse.read_table(TRAINING_TABLE)
    split = SplitConfig(
        validation_days=config.validation_days,
        holdout_days=config.holdout_days,
        min_rows=config.min_rows,
        min_positives=config.min_positives,
    )
    params: dict[str, LightGBMParams | TorchParams] = {
        LIGHTGBM: LightGBMParams(
            seed=config.seed, num_threads=config.num_threads, max_rounds=config.lightgbm_max_rounds
        ),
        TORCH: TorchParams(
            seed=config.seed, num_threads=config.num_threads, max_epochs=config.torch_max_epochs
        ),
    }
    for family, key in FRAUD_MODEL_KEYS.items():
        if key not in context.selected_asset_keys:
            continue
        outcome = train_and_register(
            dataset,
            family,
            MODEL_FEATURES,
            mlflow,
            feature_service=FEATURE_SERVICE_NAME,
            split_config=split,
            params=params[family],
            nullable=tuple(NULLABLE_FEATURES),
            fill_values=FEATURE_FILL_VALUES,
            dagster_run_id=context.run.run_id,
            dataset_source=lakehouse.table_path(TRAINING_TABLE).resolve().as_uri(),
        )
        context.log.info(
            f"{outcome.model_name} v{outcome.version}: holdout PR AUC {outcome.holdout.pr_auc:.4f}, "
            f"trained in {outcome.trained.train_seconds:.1f} s"
        )
        h = outcome.holdout
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                "registered_model": outcome.model_name,
                "version": outcome.version,
                "alias": "challenger",
                "model_uri": outcome.model_uri,
                "mlflow_run_id": outcome.run_id,
                "holdout_pr_auc": h.pr_auc,
                "holdout_roc_auc": h.roc_auc,
                "holdout_log_loss": h.log_loss,
                "holdout_brier": h.brier,
                f"holdout_recall_at_p{round(h.target_precision * 100)}": h.recall_at_precision,
                "latency_single_row_p50_ms": outcome.latency.single_row_p50_ms,
                "latency_single_row_p99_ms": outcome.latency.single_row_p99_ms,
                "batch_rows_per_s": outcome.latency.batch_rows_per_s,
                "train_seconds": outcome.trained.train_seconds,
                "best_iteration": outcome.trained.best_iteration,
                "rows": outcome.rows,
                "windows": {k: f"{lo}..{hi}" for k, (lo, hi) in outcome.windows.items()},
                "training_data_sha256": outcome.training_data_sha256,
                "training_partitions": dg.MetadataValue.json(outcome.partition_hashes),
                "slices": dg.MetadataValue.md(markdown_table(h.slices_frame(), max_rows=100)),
                "model_card": dg.MetadataValue.md(outcome.model_card),
            },
        )


@dg.asset(
    name=MODEL_PROMOTION,
    deps=[*FRAUD_MODEL_KEYS.values(), TRAINING_TABLE],
    group_name="training",
    kinds={"mlflow"},
)
def model_promotion(
    context: dg.AssetExecutionContext,
    config: PromotionConfig,
    lakehouse: LakehouseResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    """Decide per registered model whether the `challenger` becomes `champion`.

    Both versions are scored on the same rows: the challenger's holdout days after the champion's last
    training or validation day (a champion is never judged on rows it was trained on; with none left,
    the absolute floors decide). The challenger wins only if it beats the champion's PR AUC by
    `min_pr_auc_gain`, its single-row p99 latency is within `max_p99_latency_ms`, and no country or
    merchant-category slice loses more than `slice_tolerance` PR AUC. The first model ever must clear
    the absolute floors. A version a rollback took out of service is never promoted again. The decision
    and every reason are written here and as tags on the challenger's model version.
    """
    from mlops_assets.defs.training.promotion import decisions_frame, holdout_scorer, promote_challenger

    mlflow.check_reachable()
    client = mlflow.client()
    score = holdout_scorer(client, lakehouse.read_table(TRAINING_TABLE), MODEL_FEATURES)
    policy = PromotionPolicy(**config.model_dump())
    results = [promote_challenger(client, name, policy, score) for name in REGISTERED_MODEL_NAMES.values()]
    reasons_md = "\n\n".join(
        f"**{r.model_name}: {r.decision.outcome}**\n\n"
        + "\n".join(f"- {line}" for line in r.decision.reasons)
        for r in results
    )
    for r in results:
        context.log.info(f"{r.model_name}: {r.decision.outcome}; {'; '.join(r.decision.reasons)}")
    return dg.MaterializeResult(
        metadata={
            "decisions": dg.MetadataValue.md(markdown_table(decisions_frame(results))),
            "reasons": dg.MetadataValue.md(reasons_md),
            "champions": {r.model_name: r.champion_version_after for r in results},
            "promoted": [r.model_name for r in results if r.decision.promote],
            "policy": dg.MetadataValue.json(json.loads(config.model_dump_json())),
        }
    )


@dg.op(description="Re-point `champion` of a registered model to a named earlier version.")
def rollback_champion_op(
    context: dg.OpExecutionContext, config: RollbackConfig, mlflow: MlflowResource
) -> dg.Output[dict[str, str]]:
    """Roll back and record the reason on both versions."""
    from mlops_assets.defs.training.rollback import rollback_champion

    mlflow.check_reachable()
    result = rollback_champion(mlflow.client(), config.model_name, config.version, config.reason)
    context.log.info(f"{result.model_name}: champion v{result.previous_version} -> v{result.new_version}")
    summary = {
        "model": result.model_name,
        "previous_version": result.previous_version,
        "version": result.new_version,
        "reason": result.reason,
    }
    return dg.Output(summary, metadata=summary)


@dg.job(
    description="Roll a registered model's champion back to an earlier version (config: model_name, version)."
)
def rollback_champion_job() -> None:
    """Run from the launchpad with `ops: {rollback_champion_op: {config: {model_name, version, reason}}}`."""
    rollback_champion_op()
