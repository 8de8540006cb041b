"""The code location: every stage under `defs/` plus the resources, configured from the environment.

Loading fails fast, naming the service and address, when the production profile is configured but a
service is unreachable (`production.preflight`), instead of failing later inside a run.
"""

from pathlib import Path

import dagster as dg

from mlops_assets.defs.automation.policies import apply_automation
from mlops_assets.k8s import executor_from_env
from mlops_assets.production import preflight
from mlops_assets.resources import build_resources
from mlops_assets.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    """The code location with its resources configured from `settings`.

    Automation conditions and freshness policies are applied to the specs in one place, so each stage's
    assets stay plain and the policy reads as one table (defs/automation/policies.py).
    """
    preflight(settings)
    return apply_automation(
        dg.Definitions.merge(
            dg.load_from_defs_folder(path_within_project=Path(__file__).resolve().parent),
            dg.Definitions(resources=build_resources(settings), executor=executor_from_env()),
        )
    )


# What `dagster dev`, the CLI and the daemon load: the environment's settings, read once at import.
defs = build_defs(Settings.from_env())
