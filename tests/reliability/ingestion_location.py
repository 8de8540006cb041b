"""A code location holding only ingestion, for the reliability tests' real subprocess runs.

The full location imports torch, LightGBM, MLflow and Feast (seconds per process); these tests start
many processes and only need `raw_transactions`, so they load this one with the same resources.
"""

import dagster as dg

from mlops_assets.defs.automation.landing import ingest_raw_job
from mlops_assets.defs.ingestion.assets import raw_transactions
from mlops_assets.resources import LakehouseResource, LandingZoneResource
from mlops_assets.settings import Settings

settings = Settings.from_env()
defs = dg.Definitions(
    assets=[raw_transactions],
    jobs=[ingest_raw_job],
    resources={
        "landing": LandingZoneResource(root=str(settings.landing_dir)),
        "lakehouse": LakehouseResource(root=str(settings.lakehouse_dir)),
    },
)
