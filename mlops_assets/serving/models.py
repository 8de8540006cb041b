"""Champion and challenger by registry alias, reloaded in the background when an alias moves.

`served_versions` is the one place that says which versions of the registered model the service follows
(the registry's layout: one model, `champion` serves, `challenger_<family>` marks each family's newest
candidate), so a change of that layout changes one function. The swap is one attribute assignment of an
immutable `ServedModels`: a request reads the reference once and scores with a consistent pair, so no
request fails or mixes versions while a new version is loaded beside the old one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_assets.defs.monitoring.predictions import SERVING_MODEL
from mlops_assets.defs.training.models import FAMILIES
from mlops_assets.defs.training.registry import (
    CHAMPION,
    THRESHOLD_TAG,
    LoadedModel,
    candidate_alias,
    load_version,
)
from mlops_assets.mlflow_resource import MlflowResource
from mlops_assets.serving.dependencies import Dependency, DependencyUnavailableError
from mlops_assets.serving.shadow import Challenger

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)


def served_versions(client: MlflowClient, model_name: str) -> tuple[str | None, str | None]:
    """The champion's version and the challenger's: the newest family candidate that is not the champion.

    The shadow judges the candidate the promotion gate would consider next; None when there is none.
    One registry read (the registered model carries every alias): the service polls it every reload
    interval, beside the request path.
    """
    from mlflow.exceptions import MlflowException

    try:
        aliases = {
            alias: str(version) for alias, version in client.get_registered_model(model_name).aliases.items()
        }
    except MlflowException:  # no such registered model (yet)
        return None, None
    champion = aliases.get(CHAMPION)
    candidates = {
        version
        for family in FAMILIES
        if (version := aliases.get(candidate_alias(family))) is not None and version != champion
    }
    challenger = max(candidates, key=int) if candidates else None
    return champion, challenger


@dataclass(frozen=True)
class ServedModel:
    """A loaded registry version and its decision threshold."""

    model: LoadedModel
    threshold: float

    @classmethod
    def of(cls, model: LoadedModel) -> ServedModel:
        """Wrap a loaded version, with its decision threshold."""
        return cls(model, decision_threshold(model.tags))


def decision_threshold(tags: Mapping[str, str]) -> float:
    """A version's decision threshold: the one the registry recorded at training (0.5 if none)."""
    return float(tags.get(THRESHOLD_TAG, "0.5"))


@dataclass(frozen=True)
class ServedModels:
    """What serves now: the champion and, when one exists and differs, the challenger.

    The challenger is only described (name, version, threshold), never loaded here: the shadow worker
    process scores with it and loads it itself, so the service does not hold a second model (about
    100 MB for a torch version) it never calls.
    """

    champion: ServedModel
    challenger: Challenger | None


class ModelHolder:
    """Resolves the aliases, loads the versions, and swaps them in when an alias moves."""

    def __init__(
        self,
        mlflow: MlflowResource,
        registry: Dependency,
        model_name: str = SERVING_MODEL,
        on_change: Callable[[ServedModels], None] | None = None,
    ) -> None:
        self._mlflow = mlflow
        self._registry = registry
        self._model_name = model_name
        self._on_change = on_change
        self._cache: dict[tuple[str, str], ServedModel] = {}
        self.current: ServedModels | None = None
        self.last_error: str | None = None

    def _versions(self) -> tuple[str | None, str | None]:
        return served_versions(self._mlflow.client(), self._model_name)

    def _load(self, model_name: str, version: str) -> ServedModel:
        key = (model_name, version)
        if key not in self._cache:
            loaded = self._registry.call(lambda: load_version(self._mlflow.client(), model_name, version))
            self._cache = {key: ServedModel.of(loaded)} | {
                k: v for k, v in self._cache.items() if self._in_use(k)
            }
        return self._cache[key]

    def _in_use(self, key: tuple[str, str]) -> bool:
        current = self.current
        return current is not None and (current.champion.model.name, current.champion.model.version) == key

    def _describe(self, model_name: str, version: str) -> Challenger:
        """The challenger's name, version and threshold: one registry read, no model loaded."""
        registered = self._registry.call(lambda: self._mlflow.client().get_model_version(model_name, version))
        return Challenger(model_name, str(registered.version), decision_threshold(registered.tags))

    def refresh(self) -> bool:
        """Follow the aliases once; returns True when what serves changed.

        A registry that is down, or an alias that points nowhere, leaves what serves unchanged and is
        kept in `last_error` (the service keeps scoring with the loaded versions).
        """
        try:
            champion_version, challenger_version = self._registry.call(self._versions)
            if champion_version is None:
                raise DependencyUnavailableError(
                    "mlflow registry",
                    f"registered model {self._model_name} has no {CHAMPION} alias "
                    "(materialize fraud_model and model_promotion first)",
                )
            champion = self._load(self._model_name, champion_version)
            challenger = (
                None
                if challenger_version in (None, champion_version)
                else self._describe(self._model_name, challenger_version)  # type: ignore[arg-type]
            )
        except DependencyUnavailableError as exc:
            self.last_error = str(exc)
            log.warning("model refresh failed, keeping what serves: %s", exc)
            return False
        self.last_error = None
        new = ServedModels(champion, challenger)
        if self.current is not None and _ids(self.current) == _ids(new):
            return False
        self.current = new
        if self._on_change is not None:
            self._on_change(new)
        return True

    def run_reloads(self, interval_s: float, stop: threading.Event) -> None:
        """Refresh every `interval_s` until `stop` is set (the service's reload thread)."""
        while not stop.wait(interval_s):
            self.refresh()


def _ids(models: ServedModels) -> tuple[str, str | None]:
    challenger = models.challenger
    return (
        f"{models.champion.model.name}/{models.champion.model.version}",
        None if challenger is None else f"{challenger.name}/{challenger.version}",
    )
