"""The Kubernetes deployment, checked without a cluster.

- deploy/helm/values.yaml uses only keys the official chart knows (its values.schema.json, chart 1.13.x),
  and the sections the chart renders into the instance's dagster.yaml (run launcher, storage, run
  coordinator) validate against Dagster's own config schemas once rendered the way the chart's templates
  do (helm/dagster/templates/helpers/instance/_run-launcher.tpl, _postgresql.tpl, _run-coordinator.tpl).
- The k8s executor config validates, and the Job spec dagster-k8s builds for an asset step carries the
  resources its `dagster-k8s/config` op tag asks for.
- The Dockerfile and the values agree with each other and with the repository (module, port, pins), and
  the image records the commit it was built from.
- Every PostgreSQL URL the values show (the secret recipe in the header included) passes the preflight's
  configuration check, so copying it cannot produce a deployment that fails on its first query.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster._config import validate_config
from dagster._core.execution.api import create_execution_plan
from dagster_k8s import DagsterK8sJobConfig, K8sRunLauncher, construct_dagster_k8s_job, k8s_job_executor
from dagster_k8s.job import get_user_defined_k8s_config

from mlops_assets.k8s import (
    K8S_CONFIG_TAG,
    RESOURCE_SIZES,
    executor_from_env,
    k8s_executor_config,
    k8s_op_tags,
)
from mlops_assets.production import configuration_problems, image_env, validate_dagster_yaml
from mlops_assets.settings import REPO_ROOT, Settings

VALUES_TEXT = (REPO_ROOT / "deploy" / "helm" / "values.yaml").read_text()
VALUES = yaml.safe_load(VALUES_TEXT)
DOCKERFILE = (REPO_ROOT / "deploy" / "Dockerfile").read_text()

# Keys of the chart's values.schema.json (dagster-io/dagster helm/dagster/values.schema.json, 1.x).
CHART_TOP_LEVEL = {
    "global",
    "dagsterWebserver",
    "dagster-user-deployments",
    "postgresql",
    "generatePostgresqlPasswordSecret",
    "generateCeleryConfigSecret",
    "rabbitmq",
    "redis",
    "flower",
    "ingress",
    "imagePullSecrets",
    "computeLogManager",
    "scheduler",
    "runLauncher",
    "pythonLogs",
    "dagsterDaemon",
    "busybox",
    "migrate",
    "telemetry",
    "serviceAccount",
    "retention",
    "concurrency",
    "additionalInstanceConfig",
}
CHART_GLOBAL = {"postgresqlSecretName", "dagsterHome", "serviceAccountName", "celeryConfigSecretName"}
CHART_USER_DEPLOYMENT = {
    "name",
    "image",
    "dagsterApiGrpcArgs",
    "codeServerArgs",
    "includeConfigInLaunchedRuns",
    "deploymentNamespace",
    "port",
    "env",
    "envConfigMaps",
    "envSecrets",
    "annotations",
    "nodeSelector",
    "affinity",
    "tolerations",
    "podSecurityContext",
    "securityContext",
    "resources",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "labels",
    "volumeMounts",
    "volumes",
    "schedulerName",
    "initContainers",
    "sidecarContainers",
}
CHART_K8S_RUN_LAUNCHER = {
    "image",
    "imagePullPolicy",
    "jobNamespace",
    "loadInclusterConfig",
    "kubeconfigFile",
    "envConfigMaps",
    "envSecrets",
    "envVars",
    "volumeMounts",
    "volumes",
    "labels",
    "failPodOnRunFailure",
    "resources",
    "schedulerName",
    "securityContext",
    "runK8sConfig",
}
CHART_K8S_RUN_LAUNCHER_REQUIRED = {
    "imagePullPolicy",
    "loadInclusterConfig",
    "envConfigMaps",
    "envSecrets",
    "envVars",
    "volumeMounts",
    "volumes",
}
CHART_POSTGRESQL = {
    "image",
    "enabled",
    "postgresqlHost",
    "postgresqlUsername",
    "postgresqlPassword",
    "postgresqlDatabase",
    "postgresqlParams",
    "postgresqlScheme",
    "service",
}


def test_values_use_only_keys_the_chart_knows() -> None:
    assert set(VALUES) <= CHART_TOP_LEVEL, set(VALUES) - CHART_TOP_LEVEL
    assert set(VALUES["global"]) <= CHART_GLOBAL
    assert set(VALUES["postgresql"]) <= CHART_POSTGRESQL
    [deployment] = VALUES["dagster-user-deployments"]["deployments"]
    assert set(deployment) <= CHART_USER_DEPLOYMENT, set(deployment) - CHART_USER_DEPLOYMENT
    assert VALUES["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = VALUES["runLauncher"]["config"]["k8sRunLauncher"]
    assert CHART_K8S_RUN_LAUNCHER_REQUIRED <= set(launcher) <= CHART_K8S_RUN_LAUNCHER


def test_user_deployment_serves_the_code_location() -> None:
    user_deployments = VALUES["dagster-user-deployments"]
    assert user_deployments["enabled"] is True
    [deployment] = user_deployments["deployments"]
    assert deployment["name"] == "mlops-assets"
    assert set(deployment["image"]) == {"repository", "tag", "pullPolicy"}
    assert deployment["image"]["pullPolicy"] in {"Always", "IfNotPresent", "Never"}
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "mlops_assets.definitions"]
    assert isinstance(deployment["port"], int)
    # The production profile: env values are strings (a ConfigMap), secrets by name.
    env = deployment["env"]
    assert all(isinstance(v, str) for v in env.values())
    assert env["MLOPS_PROFILE"] == "production"
    assert env["MLOPS_EXECUTOR"] == "k8s"
    assert [s["name"] for s in deployment["envSecrets"]] == ["mlops-production"]
    # The lakehouse volume is mounted where MLOPS_DATA_DIR points, and inherited by run/step pods.
    assert [m["mountPath"] for m in deployment["volumeMounts"]] == [env["MLOPS_DATA_DIR"]]
    assert {v["name"] for v in deployment["volumes"]} == {m["name"] for m in deployment["volumeMounts"]}
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}


def test_preflight_variables_point_at_the_chart_database() -> None:
    env = VALUES["dagster-user-deployments"]["deployments"][0]["env"]
    postgresql = VALUES["postgresql"]
    assert env["DAGSTER_PG_HOST"] == postgresql["postgresqlHost"]
    assert env["DAGSTER_PG_PORT"] == str(postgresql["service"]["port"])
    assert env["DAGSTER_PG_USER"] == postgresql["postgresqlUsername"]
    assert env["DAGSTER_PG_DB"] == postgresql["postgresqlDatabase"]


def _render_run_launcher(values: dict[str, Any], namespace: str = "dagster") -> dict[str, Any]:
    """What the chart's _run-launcher.tpl writes for K8sRunLauncher (the fields our values set)."""
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    config: dict[str, Any] = {
        "load_incluster_config": launcher["loadInclusterConfig"],
        "job_namespace": launcher.get("jobNamespace") or namespace,
        "image_pull_policy": launcher["imagePullPolicy"],
        "service_account_name": "dagster",
        "dagster_home": values["global"]["dagsterHome"],
        "instance_config_map": "dagster-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
    }
    if launcher.get("envConfigMaps"):
        config["env_config_maps"] = [c["name"] for c in launcher["envConfigMaps"] if "name" in c]
    if launcher.get("envSecrets"):
        config["env_secrets"] = [s["name"] for s in launcher["envSecrets"] if "name" in s]
    for key, target in (
        ("envVars", "env_vars"),
        ("volumeMounts", "volume_mounts"),
        ("volumes", "volumes"),
        ("labels", "labels"),
        ("resources", "resources"),
        ("securityContext", "security_context"),
    ):
        if launcher.get(key):
            config[target] = launcher[key]
    if launcher.get("failPodOnRunFailure"):
        config["fail_pod_on_run_failure"] = True
    return {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": config}


def _render_postgres(values: dict[str, Any]) -> dict[str, Any]:
    """What the chart's _postgresql.tpl writes into the instance's storage section."""
    pg = values["postgresql"]
    db: dict[str, Any] = {
        "username": pg["postgresqlUsername"],
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "hostname": pg["postgresqlHost"],
        "db_name": pg["postgresqlDatabase"],
        "port": pg["service"]["port"],
        "params": pg.get("postgresqlParams", {}),
    }
    if pg.get("postgresqlScheme"):
        db["scheme"] = pg["postgresqlScheme"]
    return {"postgres": {"postgres_db": db}}


def test_rendered_run_launcher_validates_with_dagster_k8s() -> None:
    rendered = _render_run_launcher(VALUES)
    result = validate_config(K8sRunLauncher.config_type(), rendered["config"])
    assert result.success and result.value is not None, [e.message for e in result.errors or []]
    assert result.value["env_secrets"] == ["mlops-production"]
    assert result.value["resources"]["limits"]["memory"] == "1Gi"


def test_rendered_instance_validates_as_a_dagster_yaml(tmp_path: Path) -> None:
    coordinator = VALUES["dagsterDaemon"]["runCoordinator"]
    instance = {
        "storage": _render_postgres(VALUES),
        "run_launcher": _render_run_launcher(VALUES),
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {
                "max_concurrent_runs": coordinator["config"]["queuedRunCoordinator"]["maxConcurrentRuns"]
            },
        },
        "telemetry": {"enabled": VALUES["telemetry"]["enabled"]},
    }
    path = tmp_path / "dagster.yaml"
    path.write_text(yaml.safe_dump(instance))
    data = validate_dagster_yaml(path, check_env=False)
    assert data["storage"]["postgres"]["postgres_db"]["hostname"] == "postgres.internal"


def test_both_instance_configs_name_the_installed_postgres_driver() -> None:
    """SQLAlchemy 2.1 reads a bare postgresql:// as psycopg v3, which the image does not ship."""
    assert VALUES["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    deploy = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.yaml").read_text())
    assert deploy["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"


# Any PostgreSQL URL, with or without a driver, in a value or a comment (the kubectl recipe in the header).
POSTGRES_URL = re.compile(r"\bpostgres(?:ql)?(?:\+\w+)?://[^\s\\'\"]+")


def test_every_postgres_url_in_the_values_passes_the_preflight_configuration_check() -> None:
    """A bare postgresql:// is psycopg v3 to SQLAlchemy 2.1: the preflight rejects it, so must the values."""
    urls = POSTGRES_URL.findall(VALUES_TEXT)
    assert urls, "the values show no PostgreSQL URL (the mlops-production secret recipe should)"
    for url in urls:
        settings = Settings(Path("/unused"), date(2026, 1, 1), mlflow_tracking_uri_override=url)
        assert configuration_problems(settings, env={}) == [], url


def test_values_env_with_the_documented_secret_passes_the_production_profile_check() -> None:
    """The user deployment's env plus the secret's keys as the header creates them: nothing missing."""
    env = dict(VALUES["dagster-user-deployments"]["deployments"][0]["env"])
    secret = dict(re.findall(r"--from-literal=(MLOPS_\w+|DAGSTER_\w+)=(\S+)", VALUES_TEXT))
    assert set(secret) == {"MLOPS_MLFLOW_TRACKING_URI", "MLOPS_REDIS_URL", "DAGSTER_PG_PASSWORD"}
    env.update(secret)
    settings = Settings(
        Path(env["MLOPS_DATA_DIR"]),
        date(2026, 1, 1),
        redis_url=env["MLOPS_REDIS_URL"],
        mlflow_tracking_uri_override=env["MLOPS_MLFLOW_TRACKING_URI"],
    )
    assert env["MLOPS_PROFILE"] == "production"
    assert configuration_problems(settings, env=env) == []


def test_k8s_executor_config_validates() -> None:
    config = k8s_executor_config({"MLOPS_K8S_MAX_CONCURRENT": "2", "MLOPS_K8S_NAMESPACE": "mlops"})
    result = validate_config(k8s_job_executor.config_schema.config_type, config)
    assert result.success and result.value is not None, [e.message for e in result.errors or []]
    assert result.value["max_concurrent"] == 2
    assert result.value["job_namespace"] == "mlops"
    assert result.value["step_k8s_config"]["container_config"]["resources"] == RESOURCE_SIZES["small"]


def test_executor_is_chosen_by_environment() -> None:
    assert executor_from_env({}) is dg.multiprocess_executor
    assert executor_from_env({"MLOPS_EXECUTOR": "in_process"}) is dg.in_process_executor
    k8s = executor_from_env({"MLOPS_EXECUTOR": "k8s"})
    assert k8s.name == "k8s_job_executor"
    with pytest.raises(
        ValueError, match=r"MLOPS_EXECUTOR='celery': expected one of multiprocess, in_process, k8s"
    ):
        executor_from_env({"MLOPS_EXECUTOR": "celery"})


def test_op_tags_sizes_and_errors() -> None:
    tags = k8s_op_tags("large", extra_tags={"stage": "training"})
    assert tags["stage"] == "training" and tags["resource_size"] == "large"
    assert json.loads(tags[K8S_CONFIG_TAG]) == {"container_config": {"resources": RESOURCE_SIZES["large"]}}
    with pytest.raises(ValueError, match=r"k8s resource size 'huge': expected one of small, medium, large"):
        k8s_op_tags("huge")


@dg.asset(op_tags=k8s_op_tags("large"))
def heavy_training_step() -> int:
    """Stands in for a training asset: the tag is what the training stage puts on its assets."""
    return 1


@dg.asset
def light_step(heavy_training_step: int) -> int:
    """No size tag: the executor's default (small) applies."""
    return heavy_training_step


def _step_job(tags: dict[str, str], executor_default: dict[str, Any]) -> Any:
    """The Kubernetes Job dagster-k8s builds for a step: run-level default, then the step's own tag."""
    from dagster_k8s.container_context import K8sContainerContext

    context = (
        K8sContainerContext(run_k8s_config=get_user_defined_k8s_config({}))
        .merge(K8sContainerContext(run_k8s_config=dagster_k8s_user_config(executor_default)))
        .merge(K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(tags)))
    )
    job_config = DagsterK8sJobConfig(
        job_image="registry.example.com/mlops-assets:0.1.0",
        dagster_home=VALUES["global"]["dagsterHome"],
        instance_config_map="dagster-instance",
    )
    return construct_dagster_k8s_job(
        job_config,
        args=["dagster", "api", "execute_step"],
        job_name="dagster-step-test",
        user_defined_k8s_config=context.run_k8s_config,
    )


def dagster_k8s_user_config(step_k8s_config: dict[str, Any]) -> Any:
    from dagster_k8s.job import UserDefinedDagsterK8sConfig

    return UserDefinedDagsterK8sConfig.from_dict(step_k8s_config)


def test_step_jobs_carry_the_requested_resources() -> None:
    defs = dg.Definitions(
        assets=[heavy_training_step, light_step], executor=executor_from_env({"MLOPS_EXECUTOR": "k8s"})
    )
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.executor_def.name == "k8s_job_executor"
    plan = create_execution_plan(job)
    step_tags = {step.key: dict(step.tags or {}) for step in plan.steps}
    default = k8s_executor_config({})["step_k8s_config"]

    heavy = _step_job(step_tags["heavy_training_step"], default)
    [container] = heavy.spec.template.spec.containers
    assert container.resources.requests == RESOURCE_SIZES["large"]["requests"]
    assert container.resources.limits == RESOURCE_SIZES["large"]["limits"]
    assert container.image == "registry.example.com/mlops-assets:0.1.0"

    light = _step_job(step_tags["light_step"], default)
    assert light.spec.template.spec.containers[0].resources.requests == RESOURCE_SIZES["small"]["requests"]


def test_every_size_tag_in_the_code_location_parses() -> None:
    """Whatever stage puts a dagster-k8s/config tag on its assets, dagster-k8s can read it."""
    from mlops_assets.definitions import defs

    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    assert assets
    for assets_def in assets:
        tags = {k: str(v) for k, v in (assets_def.node_def.tags or {}).items()}
        if K8S_CONFIG_TAG in tags:
            resources = get_user_defined_k8s_config(tags).container_config["resources"]
            assert set(resources) <= {"requests", "limits"}, assets_def.keys


def test_dockerfile_matches_values_and_pins() -> None:
    assert re.search(r"^FROM python:3\.11-slim\b", DOCKERFILE, re.M)
    assert "--index-url https://download.pytorch.org/whl/cpu" in DOCKERFILE
    assert "-c requirements/constraints.txt" in DOCKERFILE
    constraints = (REPO_ROOT / "requirements" / "constraints.txt").read_text()
    torch_pin = re.search(r"^torch==(\S+)$", constraints, re.M)
    assert torch_pin and f'"torch=={torch_pin.group(1)}"' in DOCKERFILE
    deployment = VALUES["dagster-user-deployments"]["deployments"][0]
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.M).group(1))  # type: ignore[union-attr]
    assert cmd[cmd.index("-m") + 1] == deployment["dagsterApiGrpcArgs"][1]
    assert cmd[cmd.index("-p") + 1] == str(deployment["port"])
    assert f"EXPOSE {deployment['port']}" in DOCKERFILE
    # The image has no .git (Dockerfile.dockerignore), so MLflow runs get the commit from the build.
    assert ".git" in (REPO_ROOT / "deploy" / "Dockerfile.dockerignore").read_text().split()
    arg = re.search(r"^ARG GIT_COMMIT=unknown$", DOCKERFILE, re.M)
    env = re.search(r"^ENV MLOPS_GIT_COMMIT=\$\{?GIT_COMMIT\}?$", DOCKERFILE, re.M)
    assert arg and env, "deploy/Dockerfile must turn --build-arg GIT_COMMIT into ENV MLOPS_GIT_COMMIT"
    # ARG after FROM (else the stage cannot see it) and after the last RUN: a new commit rebuilds nothing.
    last_from = max(m.start() for m in re.finditer(r"^FROM ", DOCKERFILE, re.M))
    last_run = max(m.start() for m in re.finditer(r"^RUN ", DOCKERFILE, re.M))
    assert last_from < last_run < arg.start() < env.start()
    # Every path the image copies exists, so the build cannot fail on a renamed file.
    for line in re.findall(r"^COPY (.+)$", DOCKERFILE, re.M):
        *sources, _target = line.split()
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"


def test_image_env_sets_the_home_and_data_dir_the_chart_uses() -> None:
    env = image_env(REPO_ROOT / "deploy" / "Dockerfile")
    assert env["DAGSTER_HOME"] == VALUES["global"]["dagsterHome"]
    [deployment] = VALUES["dagster-user-deployments"]["deployments"]
    assert env["MLOPS_DATA_DIR"] == deployment["env"]["MLOPS_DATA_DIR"]


def test_training_records_the_commit_the_image_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The consumer of ENV MLOPS_GIT_COMMIT: what MLflow runs log as the commit, before asking git."""
    from mlops_assets.defs.training.registry import git_commit

    monkeypatch.setenv("MLOPS_GIT_COMMIT", "0123abcd" * 5)
    assert git_commit() == "0123abcd" * 5
