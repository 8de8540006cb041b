"""`mlops-serve`: run the scoring service on uvicorn against the platform's data folder.

Reads the same environment as the code location (`MLOPS_DATA_DIR`, `MLOPS_REDIS_URL`,
`MLOPS_MLFLOW_TRACKING_URI`) plus the `MLOPS_SERVE_*` knobs (`serving.config`).
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys

from mlops_assets.serving.app import create_app
from mlops_assets.serving.config import ServeConfig
from mlops_assets.serving.service import ScoringService
from mlops_assets.settings import Settings


def build_service(settings: Settings, config: ServeConfig) -> ScoringService:
    """The service on the platform's resources (Feast, MLflow) and prediction-log folder.

    The resources carry their secrets as `dg.EnvVar`s (read in a Dagster run); outside a run they are
    resolved here, from this process's environment.
    """
    from mlops_assets.resources import build_resources

    resources = build_resources(settings)
    feast = resources["feast"].process_config_and_initialize()
    mlflow = resources["mlflow"].process_config_and_initialize()
    return ScoringService(config, feast, mlflow, settings.prediction_log_dir)  # type: ignore[arg-type]


def serve_command(port: int, log_level: str = "info") -> list[str]:
    """The command line that runs `mlops-serve` with this interpreter (for tests and benchmarks)."""
    return [sys.executable, "-m", "mlops_assets.serving.cli", "--port", str(port), "--log-level", log_level]


def main(argv: list[str] | None = None) -> None:
    """Parse `--host`/`--port` and serve until interrupted."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="mlops-serve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    service = build_service(Settings.from_env(), ServeConfig.from_env())
    service.start()
    # What is loaded by now (the libraries, the models, the entity state) lives as long as the process:
    # frozen out of the cyclic garbage collector, whose full collections would otherwise scan all of it
    # (measured: 250-850 ms each, every request waiting).
    gc.collect()
    gc.freeze()
    try:
        # One worker: the entity state lives in the process (see serving.state).
        uvicorn.run(
            create_app(service, start_service=False),
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            access_log=False,
        )
    finally:
        service.close()  # the app's shutdown closed it already; this covers a server that never started


if __name__ == "__main__":
    main()
