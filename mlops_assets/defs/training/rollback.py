"""Roll `champion` back to a named earlier version: a command line and the logic the Dagster job shares.

    python -m mlops_assets.defs.training.rollback --version 3 --reason "bad slice"

The tracking store comes from the same settings as the platform (`MLOPS_MLFLOW_TRACKING_URI`, else the
SQLite store under `MLOPS_DATA_DIR`). Both versions get tags saying who replaced whom and why.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mlops_assets.defs.training import registry

if TYPE_CHECKING:
    from mlflow import MlflowClient


class RollbackError(ValueError):
    """The rollback cannot be done as asked; the message says why and nothing was changed."""


@dataclass(frozen=True)
class RollbackResult:
    """What the champion alias pointed at before and after."""

    model_name: str
    previous_version: str
    new_version: str
    reason: str


def rollback_champion(client: MlflowClient, model_name: str, version: str, reason: str) -> RollbackResult:
    """Point `champion` of `model_name` at an earlier `version`, refusing anything that is not a rollback.

    The version rolled back from is tagged `rolled_back_at`; the promotion gate refuses such a version, so
    the next `model_promotion` run cannot undo the rollback by re-judging its family's candidate alias
    (which usually still points at it until that family trains again).
    """
    from mlflow.exceptions import MlflowException

    current = registry.alias_version(client, model_name, registry.CHAMPION)
    if current is None:
        raise RollbackError(f"{model_name} has no champion to roll back (or the model does not exist)")
    try:
        target = client.get_model_version(model_name, str(version))
    except MlflowException as exc:
        raise RollbackError(f"{model_name} has no version {version}") from exc
    if int(target.version) == int(current.version):
        raise RollbackError(f"{model_name} version {version} is already the champion; nothing to do")
    if int(target.version) > int(current.version):
        raise RollbackError(
            f"{model_name} version {version} is newer than the champion (version {current.version}); "
            "a rollback names an earlier version, a newer one goes through model_promotion"
        )
    now = datetime.now(UTC).isoformat(timespec="seconds")
    # Tag before moving the alias: the tag is what keeps `model_promotion` from promoting this version
    # again (it is usually still its family's candidate), so it must exist before it stops serving.
    registry.set_version_tags(
        client,
        model_name,
        str(current.version),
        {registry.ROLLED_BACK_TAG: now, "rollback_reason": reason, "superseded_by": str(target.version)},
    )
    client.set_registered_model_alias(model_name, registry.CHAMPION, str(target.version))
    registry.set_version_tags(
        client,
        model_name,
        str(target.version),
        {"rolled_back_to_at": now, "rollback_reason": reason, "rollback_replaced": str(current.version)},
    )
    return RollbackResult(model_name, str(current.version), str(target.version), reason)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    from mlops_assets.defs.training.models import REGISTERED_MODEL_NAME
    from mlops_assets.mlflow_resource import MlflowResource, TrackingStoreUnavailableError
    from mlops_assets.settings import Settings

    parser = argparse.ArgumentParser(
        description="Re-point a registered model's champion to an earlier version."
    )
    parser.add_argument("--model", default=REGISTERED_MODEL_NAME, help="registered model name")
    parser.add_argument("--version", required=True, help="the earlier version to serve again")
    parser.add_argument("--reason", default="manual rollback", help="recorded as a tag on both versions")
    parser.add_argument("--tracking-uri", default=None, help="defaults to the platform's settings")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    resource = MlflowResource(
        tracking_uri=args.tracking_uri or settings.mlflow_tracking_uri,
        artifact_root=str(settings.mlflow_artifact_root),
    )
    try:
        resource.check_reachable()
        result = rollback_champion(resource.client(), args.model, args.version, args.reason)
    except (RollbackError, TrackingStoreUnavailableError) as exc:
        print(f"rollback refused: {exc}", file=sys.stderr)
        return 2
    print(f"{result.model_name}: champion version {result.previous_version} -> {result.new_version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
