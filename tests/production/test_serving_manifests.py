"""deploy/serving/mlops-serve.yaml, checked offline: Kubernetes schemas, probes and command vs the app."""

from __future__ import annotations

import tomllib

import kubernetes_validate
import pytest
import yaml

from mlops_assets.settings import REPO_ROOT

MANIFEST = REPO_ROOT / "deploy" / "serving" / "mlops-serve.yaml"
DOCS = list(yaml.safe_load_all(MANIFEST.read_text()))
K8S_VERSION = "1.37.0"


def _doc(kind: str) -> dict:
    (doc,) = [d for d in DOCS if d["kind"] == kind]
    return doc


def test_every_resource_validates_strictly_against_the_kubernetes_schemas():
    assert sorted(d["kind"] for d in DOCS) == ["Deployment", "Service"]
    for doc in DOCS:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validation_would_catch_a_mistake():
    broken = yaml.safe_load(yaml.safe_dump(_doc("Deployment")))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = [8000]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_probes_resources_and_command_match_the_service(settings):
    from mlops_assets.serving.app import create_app
    from mlops_assets.serving.cli import build_service
    from mlops_assets.serving.config import ServeConfig

    container = _doc("Deployment")["spec"]["template"]["spec"]["containers"][0]
    service = build_service(settings, ServeConfig())  # built, not started: nothing is contacted
    routes = {route.path for route in create_app(service, start_service=False).routes}  # type: ignore[attr-defined]
    ready, live = (
        container["readinessProbe"]["httpGet"]["path"],
        container["livenessProbe"]["httpGet"]["path"],
    )
    assert (ready, live) == ("/health/ready", "/health/live")
    assert {ready, live, "/metrics", "/score"} <= routes
    assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert (
        container["command"][0] == "mlops-serve" and scripts["mlops-serve"] == "mlops_assets.serving.cli:main"
    )
    port = container["ports"][0]["containerPort"]
    assert container["command"][-1] == str(port)
    k8s_service = _doc("Service")
    assert k8s_service["spec"]["selector"] == _doc("Deployment")["spec"]["selector"]["matchLabels"]
    assert k8s_service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
    secret_refs = [e["secretRef"]["name"] for e in container["envFrom"]]
    assert secret_refs == ["mlops-production"]  # credentials never written into the manifest
