"""Kubernetes execution: per-asset pod sizes as op tags, and the executor chosen by ``MLOPS_EXECUTOR``.

On Kubernetes (the official Dagster Helm chart with ``K8sRunLauncher``, see ``deploy/helm/values.yaml``)
each run is a pod; with ``MLOPS_EXECUTOR=k8s`` each *step* is a pod too, so training can ask for far more
memory than ingestion without sizing every pod for the largest step. Sizes are set per asset with::

    from mlops_assets.k8s import k8s_op_tags

    @dg.asset(op_tags=k8s_op_tags("large"), ...)
    def fraud_model(...): ...

The tag is ignored by the local executors, so the same definitions run unchanged on a laptop. This module
imports nothing heavy at import time: assets import it while the code location loads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Final

import dagster as dg

K8S_CONFIG_TAG: Final[str] = "dagster-k8s/config"
EXECUTOR_ENV_VAR: Final[str] = "MLOPS_EXECUTOR"
EXECUTORS: Final[tuple[str, ...]] = ("multiprocess", "in_process", "k8s")

# Requests are what the scheduler reserves (set them to typical use); limits cap a runaway step. Memory
# limit == request for the large size: a training step that is OOM-killed at a known size is easier to
# reason about than one that is evicted under node pressure.
RESOURCE_SIZES: Final[dict[str, dict[str, dict[str, str]]]] = {
    "small": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
    "medium": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
    "large": {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"cpu": "4", "memory": "8Gi"}},
}
DEFAULT_SIZE: Final[str] = "small"


def k8s_resources(size: str) -> dict[str, dict[str, str]]:
    """The container ``resources`` (requests and limits) of a named size; unknown sizes are an error."""
    if size not in RESOURCE_SIZES:
        raise ValueError(f"k8s resource size {size!r}: expected one of {', '.join(RESOURCE_SIZES)}")
    return {kind: dict(values) for kind, values in RESOURCE_SIZES[size].items()}


def k8s_op_tags(size: str = DEFAULT_SIZE, extra_tags: Mapping[str, str] | None = None) -> dict[str, str]:
    """``op_tags`` that make the k8s executor give this asset's step pod the resources of ``size``.

    The value is the JSON string dagster-k8s parses (``get_user_defined_k8s_config``), so the tags are
    plain strings everywhere (UI, run storage) and carry the ``resource_size`` name for people to filter on.
    """
    config = {"container_config": {"resources": k8s_resources(size)}}
    return {**(extra_tags or {}), K8S_CONFIG_TAG: json.dumps(config, sort_keys=True), "resource_size": size}


def k8s_executor_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Config for ``dagster_k8s.k8s_job_executor``, from the environment.

    ``MLOPS_K8S_MAX_CONCURRENT`` caps step pods per run (default 4), ``MLOPS_K8S_NAMESPACE`` sets the
    namespace of step jobs (default: the run launcher's). Steps without a size tag get ``small``.
    """
    env = os.environ if env is None else env
    config: dict[str, Any] = {
        "max_concurrent": int(env.get("MLOPS_K8S_MAX_CONCURRENT", "4")),
        "step_k8s_config": {"container_config": {"resources": k8s_resources(DEFAULT_SIZE)}},
    }
    if env.get("MLOPS_K8S_NAMESPACE"):
        config["job_namespace"] = env["MLOPS_K8S_NAMESPACE"]
    return config


def executor_from_env(env: Mapping[str, str] | None = None) -> dg.ExecutorDefinition:
    """The executor ``MLOPS_EXECUTOR`` names: ``multiprocess`` (default), ``in_process`` or ``k8s``.

    ``k8s`` launches one Kubernetes Job per step (needs the ``K8sRunLauncher`` of the Helm deployment and
    a lakehouse volume shared by all pods); dagster_k8s is imported only then, since it pulls in the
    kubernetes client.
    """
    env = os.environ if env is None else env
    kind = (env.get(EXECUTOR_ENV_VAR) or "multiprocess").strip().lower()
    if kind == "multiprocess":
        return dg.multiprocess_executor
    if kind == "in_process":
        return dg.in_process_executor
    if kind == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor.configured(k8s_executor_config(env), name="k8s_job_executor")
    raise ValueError(f"{EXECUTOR_ENV_VAR}={kind!r}: expected one of {', '.join(EXECUTORS)}")
