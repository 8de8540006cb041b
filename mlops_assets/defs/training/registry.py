"""The MLflow model registry as this platform uses it: one registered model, one champion.

Every family registers its versions in `fraud_detector`, tagged with the family; the alias
`challenger_<family>` points at each family's newest version (the candidates), and `champion` at the one
that serves, whatever its family: the promotion gate picks it. Whoever scores (batch predictions, the
online service, the model card) loads it with `load_champion`. Versions are
registered all-or-nothing: if tagging or aliasing fails, the new version is deleted again, so a broken
tracking store never leaves a version that looks registered but has no alias or tags.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_assets.defs.training.models import (
    FAMILIES,
    LIGHTGBM,
    REGISTERED_MODEL_NAME,
    SERVING_THREADS,
    TORCH,
)
from mlops_assets.partitions import parse_day_window
from mlops_assets.settings import REPO_ROOT

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

CHAMPION = "champion"
CHALLENGER_PREFIX = "challenger_"
FAMILY_TAG = "model_family"
FEATURES_TAG = "features"
FEATURE_SERVICE_TAG = "feature_service"
THRESHOLD_TAG = "decision_threshold"
CALIBRATION_TAG = "calibration"  # JSON breakpoints score -> P(fraud), fitted on the validation window
# The day windows a version was trained, early-stopped and judged on ("YYYY-MM-DD..YYYY-MM-DD", inclusive).
TRAIN_WINDOW_TAG = "train_window"
VALIDATION_WINDOW_TAG = "validation_window"
HOLDOUT_WINDOW_TAG = "holdout_window"
# The MLflow parent run of the Dagster run that trained a version (its own run is that run's child).
PARENT_RUN_TAG = "mlflow_parent_run_id"
# The content hash of the training data a version was trained on (`data.combined_hash`).
TRAINING_DATA_HASH_TAG = "training_data_sha256"
# Set on the version a rollback moved `champion` away from: the gate never promotes it again.
ROLLED_BACK_TAG = "rolled_back_at"


def seen_window(tags: Mapping[str, str]) -> tuple[date, date] | None:
    """First and last day a version trained or early-stopped on, from its window tags; None if untagged.

    The one reader of the structured window tags (written with `partitions.format_day_window`): the
    promotion gate excludes these days from comparisons, monitoring uses them as the drift reference.
    """
    windows = [tags.get(tag) for tag in (TRAIN_WINDOW_TAG, VALIDATION_WINDOW_TAG)]
    days = [parse_day_window(window) for window in windows if window]
    if not days:
        return None
    return min(first for first, _ in days), max(last for _, last in days)


class NoChampionError(LookupError):
    """A registered model has no `champion` alias yet (or does not exist)."""


class FeatureMismatchError(ValueError):
    """A model's input features differ from the features the platform computes now."""


@dataclass
class LoadedModel:
    """A registered version loaded for scoring."""

    name: str
    version: str
    family: str
    features: tuple[str, ...]
    run_id: str | None
    tags: dict[str, str]
    predict: Any  # float32 matrix in `features` order -> P(fraud)


def git_commit() -> str:
    """The commit the code was built from: `MLOPS_GIT_COMMIT` (images), else `git`, else `unknown`.

    The environment comes first because the production image has no `.git` (its build sets the variable);
    an empty or blank value counts as unset.
    """
    from_env = os.environ.get("MLOPS_GIT_COMMIT", "").strip()
    if from_env:
        return from_env
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = result.stdout.strip()
    return commit or "unknown"


def pip_requirements(family: str) -> list[str]:
    """Explicit requirements: inference is slow (about 7 s) and records torch without `+cpu`."""
    import mlflow

    base = [f"mlflow=={mlflow.__version__}", f"numpy=={np.__version__}"]
    if family == LIGHTGBM:
        import lightgbm

        return [*base, f"lightgbm=={lightgbm.__version__}"]
    if family == TORCH:
        import torch

        return [
            "--extra-index-url https://download.pytorch.org/whl/cpu",
            *base,
            f"torch=={torch.__version__}",
        ]
    raise ValueError(f"unknown model family {family!r}")


def log_model(
    family: str, model: Any, x_example: np.ndarray, features: Sequence[str], feature_service: str
) -> Any:
    """Log the model in its native flavor to the active run; returns MLflow's `ModelInfo`.

    The feature list travels inside the model (MLmodel `metadata`), so whoever loads a version knows
    which columns, in which order, it takes. LightGBM gets a column-based signature (its pyfunc takes a
    DataFrame); torch gets a tensor signature, which its safe `pt2` (torch.export) format requires.
    """
    import pandas as pd
    from mlflow.models import infer_signature

    x_example = np.ascontiguousarray(x_example, dtype=np.float32)
    kwargs: dict[str, Any] = {
        "name": "model",
        "pip_requirements": pip_requirements(family),
        "metadata": {"features": list(features), "feature_service": feature_service, "family": family},
    }
    if family == LIGHTGBM:
        import mlflow.lightgbm

        example = pd.DataFrame(x_example, columns=list(features))
        signature = infer_signature(example, model.predict(x_example))
        return mlflow.lightgbm.log_model(model, signature=signature, input_example=example, **kwargs)
    if family == TORCH:
        import mlflow.pytorch
        import torch

        with torch.inference_mode():
            output = model(torch.from_numpy(x_example)).numpy()
        signature = infer_signature(x_example, output)
        return mlflow.pytorch.log_model(
            model, signature=signature, input_example=x_example, serialization_format="pt2", **kwargs
        )
    raise ValueError(f"unknown model family {family!r}")


def register_version(
    client: MlflowClient,
    name: str,
    model_uri: str,
    run_id: str,
    tags: Mapping[str, str],
    description: str,
    aliases: Sequence[str] = (),
    model_id: str | None = None,
    on_created: Callable[[str], None] | None = None,
) -> ModelVersion:
    """Register `model_uri` as a new version of `name`, tag it and point `aliases` at it; all or nothing.

    `on_created(version)` runs between creating the version and aliasing it (e.g. to log its model
    card); if it or the aliasing fails, the version is deleted again and the error re-raised.
    """
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name, description="Fraud classifier; every family registers candidates, `champion` serves"
        )
    version = client.create_model_version(
        name, source=model_uri, run_id=run_id, tags=dict(tags), description=description, model_id=model_id
    )
    try:
        if on_created is not None:
            on_created(str(version.version))
        for alias in aliases:
            client.set_registered_model_alias(name, alias, version.version)
    except Exception:
        # Best effort: the store may be the thing that failed. Either way, re-raise the cause.
        try:
            client.delete_model_version(name, version.version)
        except Exception as cleanup_error:  # pragma: no cover - store died between two calls
            raise RuntimeError(
                f"registering {name} version {version.version} failed and the version could not be "
                f"deleted ({cleanup_error}); delete it by hand"
            ) from cleanup_error
        raise
    return client.get_model_version(name, version.version)


def candidate_alias(family: str) -> str:
    """The alias of a family's newest version in the registered model (`challenger_lightgbm`)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; expected one of {list(FAMILIES)}")
    return f"{CHALLENGER_PREFIX}{family}"


def family_candidates(client: MlflowClient, name: str) -> dict[str, ModelVersion]:
    """Each family's candidate version (the one its `challenger_<family>` alias points at), if any."""
    found = {family: alias_version(client, name, candidate_alias(family)) for family in FAMILIES}
    return {family: mv for family, mv in found.items() if mv is not None}


def champion_trained_on(client: MlflowClient, name: str, data_hash: str) -> ModelVersion | None:
    """The champion of `name` when it was trained on exactly this data (content hash), else None.

    Retraining on the champion's own data cannot teach anything new: the new candidate would be the
    champion again, up to noise, and the gate would (rightly) refuse it.
    """
    champion = alias_version(client, name, CHAMPION)
    if champion is None or champion.tags.get(TRAINING_DATA_HASH_TAG) != data_hash:
        return None
    return champion


def alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version `alias` points at, or None when the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def set_version_tags(client: MlflowClient, name: str, version: str, tags: Mapping[str, object]) -> None:
    """Write several tags on a model version (values as strings; dicts and lists as JSON)."""
    for key, value in tags.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        client.set_model_version_tag(name, version, key, text)


def model_features(model_uri: str) -> tuple[str, ...]:
    """The input columns of a logged model, in order, from the metadata logged with it."""
    from mlflow.models import get_model_info

    metadata = get_model_info(model_uri).metadata or {}
    if not metadata.get("features"):
        raise FeatureMismatchError(
            f"{model_uri} records no feature list; cannot tell which features it takes"
        )
    return tuple(metadata["features"])


def check_features(label: str, expected: Sequence[str], current: Sequence[str]) -> None:
    """Refuse to score when the model's feature set differs from the current one; name the differences."""
    missing = [f for f in expected if f not in set(current)]
    extra = [f for f in current if f not in set(expected)]
    if missing or extra:
        raise FeatureMismatchError(
            f"{label} was trained on a different feature list than the platform computes now: "
            f"features the model needs but are no longer computed: {missing or 'none'}; "
            f"features computed now that the model does not know: {extra or 'none'}. "
            "Retrain (materialize fraud_model and model_promotion) or roll back to a compatible version."
        )


def load_version(
    client: MlflowClient, name: str, version: str, num_threads: int = SERVING_THREADS
) -> LoadedModel:
    """Load a registered version in its native flavor with a matrix-in, probabilities-out predictor."""
    from mlops_assets.defs.training.lightgbm_model import booster_predictor
    from mlops_assets.defs.training.torch_model import torch_predictor

    mv = client.get_model_version(name, version)
    uri = f"models:/{name}/{mv.version}"
    family = mv.tags.get(FAMILY_TAG, "")
    if family == LIGHTGBM:
        import mlflow.lightgbm

        predict = booster_predictor(mlflow.lightgbm.load_model(uri), num_threads)
    elif family == TORCH:
        import mlflow.pytorch

        predict = torch_predictor(mlflow.pytorch.load_model(uri, map_location="cpu"), num_threads)
    else:
        raise ValueError(f"{name} version {mv.version}: unknown or missing {FAMILY_TAG} tag {family!r}")
    return LoadedModel(
        name=name,
        version=str(mv.version),
        family=family,
        features=model_features(uri),
        run_id=mv.run_id,
        tags=dict(mv.tags),
        predict=predict,
    )


def load_champion(
    client: MlflowClient, name: str = REGISTERED_MODEL_NAME, num_threads: int = SERVING_THREADS
) -> LoadedModel:
    """The model that serves: the `champion` of `fraud_detector`, whatever its family.

    The one way batch scoring, monitoring and the online service load a model, so they all follow the
    same alias. Raises `NoChampionError` when none has been promoted yet.
    """
    champion = alias_version(client, name, CHAMPION)
    if champion is None:
        raise NoChampionError(
            f"registered model {name} has no {CHAMPION} version yet: materialize fraud_model and "
            "model_promotion first (the first model that passes the absolute floors becomes champion)"
        )
    return load_version(client, name, champion.version, num_threads)
