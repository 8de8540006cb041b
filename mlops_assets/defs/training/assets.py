"""`fraud_model/*` (one asset per model family), `model_promotion`, and the champion rollback job.

`fraud_model` is a multi-asset with one key per family (`fraud_model/lightgbm`, `fraud_model/torch`):
each family has its own kinds and metadata and can be retrained alone (the asset is subsettable), and
registers a candidate version in the one registered model `fraud_detector`; `model_promotion` picks the
best candidate and judges it against the champion, whatever its family. The lineage reads
training_dataset -> fraud_model -> model_promotion.
"""

import json
from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg

from mlops_assets.defs.training.data import SplitConfig, combined_hash, partition_hashes
from mlops_assets.defs.training.flow import TrainingOutcome
from mlops_assets.defs.training.models import LIGHTGBM, REGISTERED_MODEL_NAME, TORCH
from mlops_assets.defs.training.promotion import PromotionPolicy, PromotionResult
from mlops_assets.defs.training.registry import candidate_alias, champion_trained_on
from mlops_assets.feature_catalog import (
    FEATURE_FILL_VALUES,
    FEATURE_SERVICE_NAME,
    MODEL_FEATURES,
    NULLABLE_FEATURES,
)
from mlops_assets.k8s import k8s_op_tags
from mlops_assets.metadata import markdown_table
from mlops_assets.mlflow_resource import MlflowResource
from mlops_assets.mlflow_tracking import MlflowTrackingResource
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
    allow_champion_data: bool = False
    """Train even when training_dataset is exactly the champion's data (by hand, e.g. to try other
    parameters); automated retraining never sets it, so it never retrains on nothing new."""


class PromotionConfig(dg.Config):
    """The promotion gate's thresholds (see `PromotionPolicy`)."""

    min_pr_auc_gain: float = PromotionPolicy.min_pr_auc_gain
    confidence: float = PromotionPolicy.confidence
    max_roc_auc_loss: float = PromotionPolicy.max_roc_auc_loss
    bootstrap_replicates: int = PromotionPolicy.bootstrap_replicates
    min_comparison_days: int = PromotionPolicy.min_comparison_days
    min_comparison_positives: int = PromotionPolicy.min_comparison_positives
    max_p99_latency_ms: float = PromotionPolicy.max_p99_latency_ms
    slice_tolerance: float = PromotionPolicy.slice_tolerance
    min_pr_auc: float = PromotionPolicy.min_pr_auc
    min_roc_auc: float = PromotionPolicy.min_roc_auc


class RollbackConfig(dg.Config):
    """Which earlier version of the registered model to roll back to, and why."""

    version: str
    model_name: str = REGISTERED_MODEL_NAME
    reason: str = "rollback from the Dagster UI"


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            FRAUD_MODEL_KEYS[family],
            deps=[TRAINING_TABLE],
            description=(
                f"The newest {family} fraud classifier, a candidate version of {REGISTERED_MODEL_NAME} "
                f"in MLflow (alias `challenger_{family}`), with its model card and its MLflow child run."
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
    mlflow_tracking: MlflowTrackingResource,
) -> Iterator[dg.MaterializeResult]:
    """Train each selected model family on `training_dataset` and register it as a candidate.

    Time-based split by day (train / validation for early stopping / holdout for every metric). The
    Dagster run gets one MLflow parent run (dagster-mlflow), ended here explicitly; each family gets a
    nested child run: parameters, metrics (ROC AUC, PR AUC, log loss, Brier, recall at 90 %
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
    parent_run_id = mlflow_tracking.parent_run_id
    selected = {family: key for family, key in FRAUD_MODEL_KEYS.items() if key in context.selected_asset_keys}
    data_hash = combined_hash(partition_hashes(dataset))
    client = mlflow.client()
    same_data = champion_trained_on(client, REGISTERED_MODEL_NAME, data_hash)
    if same_data is not None and not config.allow_champion_data:
        # Nothing new to learn: no candidate is trained, so model_promotion (downstream) is skipped too.
        reason = (
            f"not retrained: training_dataset (sha256 {data_hash}) is exactly the data champion "
            f"v{same_data.version} was trained on; the next mature labelled day will change it"
        )
        context.log.info(reason)
        client.set_tag(parent_run_id, "mlops.skipped", reason)
        selected = {}
    try:
        for family, key in selected.items():
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
                parent_run_id=parent_run_id,
            )
            context.log.info(
                f"{outcome.model_name} v{outcome.version} ({family}): holdout PR AUC "
                f"{outcome.holdout.pr_auc:.4f}, trained in {outcome.trained.train_seconds:.1f} s"
            )
            yield dg.MaterializeResult(
                asset_key=key, metadata=_candidate_metadata(outcome, mlflow_tracking.run_url)
            )
    except BaseException:
        mlflow_tracking.end_parent("FAILED")
        raise
    mlflow_tracking.end_parent("FINISHED")


def _candidate_metadata(outcome: TrainingOutcome, run_url: Callable[[str], str | None]) -> dict[str, Any]:
    """What a family's materialization shows: version, quality, speed, data, card, MLflow runs."""
    h = outcome.holdout
    links = {
        f"mlflow_{name}_url": dg.MetadataValue.url(url)
        for name, run_id in (("run", outcome.run_id), ("parent_run", outcome.parent_run_id or ""))
        if run_id and (url := run_url(run_id))
    }
    return {
        "registered_model": outcome.model_name,
        "version": outcome.version,
        "family": outcome.family,
        "alias": candidate_alias(outcome.family),
        "model_uri": outcome.model_uri,
        "mlflow_run_id": outcome.run_id,
        "mlflow_parent_run_id": outcome.parent_run_id or "none",
        **links,
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
    }


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
    """Decide whether the best family candidate replaces the `champion` of `fraud_detector`.

    Score, decide, apply (see `promotion`): the candidates are scored on the newest candidate's holdout
    and the best becomes the challenger; challenger and champion are compared on the same holdout rows,
    from days neither trained or validated on, with a paired bootstrap (customers resampled) of the PR
    AUC and ROC AUC gain. The challenger wins only when the lower bound of the PR AUC gain's
    `confidence` interval clears `min_pr_auc_gain`, the ROC AUC gain's lower bound stays above
    `-max_roc_auc_loss`, its single-row p99 latency is within budget and no slice loses more than
    `slice_tolerance`. Without a fair comparison (fewer than `min_comparison_days` unseen days or
    `min_comparison_positives` frauds) the champion stays and the reason says which days must mature.
    The absolute floors judge only the first model. A version a rollback took out of service is never
    promoted again. The decision, the interval, rows, frauds and days are written here and as tags on
    the challenger's version.
    """
    from mlops_assets.defs.training.promotion import decisions_frame, holdout_scorer, promote_challenger

    mlflow.check_reachable()
    client = mlflow.client()
    scorer = holdout_scorer(client, lakehouse.read_table(TRAINING_TABLE), MODEL_FEATURES)
    policy = PromotionPolicy(**config.model_dump())
    result = promote_challenger(client, REGISTERED_MODEL_NAME, policy, scorer)
    reasons_md = "\n".join(f"- {line}" for line in result.decision.reasons)
    candidates_md = "\n".join(f"- v{version}: {why}" for version, why in result.candidates.items())
    context.log.info(f"{result.model_name}: {result.decision.outcome}; {'; '.join(result.decision.reasons)}")
    metadata: dict[str, Any] = {
        "decision": dg.MetadataValue.md(markdown_table(decisions_frame([result]))),
        "outcome": result.decision.outcome,
        "reasons": dg.MetadataValue.md(f"**{result.decision.outcome}**\n\n{reasons_md}"),
        "candidates": dg.MetadataValue.md(candidates_md or "none"),
        "champion_version": result.champion_version_after or "none",
        "champion_family": _champion_family(result),
        "promoted": result.decision.promote,
        "policy": dg.MetadataValue.json(json.loads(config.model_dump_json())),
    }
    if result.comparison is not None:
        c = result.comparison
        metadata |= {
            "pr_auc_gain": c.pr_auc_gain.point,
            "pr_auc_gain_ci_low": c.pr_auc_gain.low,
            "pr_auc_gain_ci_high": c.pr_auc_gain.high,
            "roc_auc_gain_ci": f"{c.roc_auc_gain.low:+.4f}..{c.roc_auc_gain.high:+.4f}",
            "confidence": c.pr_auc_gain.confidence,
            "compared_rows": c.rows,
            "compared_positives": c.positives,
            "compared_days": result.compared_on,
        }
    # The champion is this asset's data: a refused promotion leaves its data version as it was, so
    # automation downstream (batch_predictions) re-scores nothing (`data_version_changed`).
    return dg.MaterializeResult(
        data_version=dg.DataVersion(f"champion={result.champion_version_after or 'none'}"), metadata=metadata
    )


def _champion_family(result: PromotionResult) -> str:
    """The serving family after the decision, as far as the gate saw it."""
    if result.challenger is not None and result.champion_version_after == result.challenger.version:
        return result.challenger.family
    if result.champion is not None:
        return result.champion.family
    return "unchanged" if result.champion_version_after else "none"


@dg.op(description="Re-point `champion` of the registered model to a named earlier version.")
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
    description="Roll the champion back to an earlier version of fraud_detector (config: version, reason)."
)
def rollback_champion_job() -> None:
    """Run from the launchpad with `ops: {rollback_champion_op: {config: {version, reason}}}`."""
    rollback_champion_op()
