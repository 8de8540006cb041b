"""`make mlflow`: the MLflow UI on the platform's own tracking store, served on loopback only.

    python -m mlops_assets.mlflow_ui [--port 5000]

The platform decides where MLflow lives (`Settings`: SQLite under `$MLOPS_DATA_DIR/mlflow` by default,
PostgreSQL when `MLOPS_MLFLOW_TRACKING_URI` says so), so the UI takes its store from the same place and
shows exactly the runs, models and aliases the assets wrote, whatever the working directory. `mlflow
server` is MLflow's own UI and REST API; this module only points it at the store and keeps it on
127.0.0.1. The store URI travels in MLflow's own environment variables, not on the command line, so a
production password never shows in the process list; what is printed is redacted.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Final

from mlops_assets.services import redact_uri
from mlops_assets.settings import Settings

HOST: Final[str] = "127.0.0.1"
DEFAULT_PORT: Final[int] = 5000


def server_command(settings: Settings, port: int) -> tuple[list[str], dict[str, str]]:
    """The `mlflow server` command line and the environment variables that point it at the store.

    The default artifact root applies to experiments the UI would create; the platform's experiments
    carry their own artifact location already (see `MlflowResource.experiment_id`).
    """
    argv = [sys.executable, "-m", "mlflow", "server", "--host", HOST, "--port", str(port), "--workers", "1"]
    env = {
        "MLFLOW_BACKEND_STORE_URI": settings.mlflow_tracking_uri,
        "MLFLOW_DEFAULT_ARTIFACT_ROOT": settings.mlflow_artifact_root.as_uri(),
    }
    return argv, env


def main(argv: list[str] | None = None) -> None:
    """Replace this process with `mlflow server` on the platform's store (Ctrl-C stops it)."""
    parser = argparse.ArgumentParser(
        prog="python -m mlops_assets.mlflow_ui",
        description="Serve the MLflow UI on the platform's tracking store, on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    command, env = server_command(settings, args.port)
    settings.mlflow_artifact_root.mkdir(parents=True, exist_ok=True)
    print(
        f"MLflow UI on http://{HOST}:{args.port}  (store {redact_uri(settings.mlflow_tracking_uri)}, "
        f"artifacts {settings.mlflow_artifact_root})",
        flush=True,
    )
    os.execve(command[0], command, {**os.environ, **env})


if __name__ == "__main__":
    main()
