"""The code location: every stage under `defs/` plus the resources, configured from the environment."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from mlops_assets.resources import build_resources
from mlops_assets.settings import Settings

defs = dg.Definitions.merge(
    dg.load_from_defs_folder(project_root=Path(__file__).resolve().parent.parent),
    dg.Definitions(resources=build_resources(Settings.from_env())),
)
