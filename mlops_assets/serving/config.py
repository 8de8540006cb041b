"""The scoring service's knobs, read from `MLOPS_SERVE_*` environment variables in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass

from mlops_assets.defs.monitoring.predictions import SERVING_MODEL


def _positive(name: str, default: float, parse: type[float] | type[int] = float) -> float:
    """A positive number from the environment variable `name` (`default` when unset or blank)."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    kind = "a whole number" if parse is int else "a number of seconds"
    try:
        value = parse(raw)
    except ValueError:
        raise ValueError(f"{name}: expected {kind}, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name}: expected a positive number, got {raw!r}")
    return value


@dataclass(frozen=True)
class ServeConfig:
    """How the service follows the registry, how long it waits for each dependency, how it logs."""

    model_name: str = SERVING_MODEL
    reload_interval_s: float = 10.0
    """How often the aliases (and the online store's materialization) are checked: the switch delay."""
    feast_timeout_s: float = 0.5
    """Deadline of one online-store read (a request waits at most this long for Feast)."""
    registry_timeout_s: float = 30.0
    """Deadline of one registry call (alias lookup, model load; off the request path)."""
    log_flush_interval_s: float = 1.0
    shadow: bool = True
    """Score the challenger in shadow when one exists."""
    shadow_queue_size: int = 10_000
    """Scored batches that may wait for the shadow worker; beyond it the service logs them itself."""

    @classmethod
    def from_env(cls) -> ServeConfig:
        """Read `MLOPS_SERVE_MODEL`, `_RELOAD_INTERVAL_S`, `_FEAST_TIMEOUT_S`, `_REGISTRY_TIMEOUT_S`, ..."""
        defaults = cls()
        return cls(
            model_name=os.environ.get("MLOPS_SERVE_MODEL") or defaults.model_name,
            reload_interval_s=_positive("MLOPS_SERVE_RELOAD_INTERVAL_S", defaults.reload_interval_s),
            feast_timeout_s=_positive("MLOPS_SERVE_FEAST_TIMEOUT_S", defaults.feast_timeout_s),
            registry_timeout_s=_positive("MLOPS_SERVE_REGISTRY_TIMEOUT_S", defaults.registry_timeout_s),
            log_flush_interval_s=_positive("MLOPS_SERVE_LOG_FLUSH_S", defaults.log_flush_interval_s),
            shadow=os.environ.get("MLOPS_SERVE_SHADOW", "on").strip().lower() not in {"off", "0", "false"},
            shadow_queue_size=int(
                _positive("MLOPS_SERVE_SHADOW_QUEUE_SIZE", defaults.shadow_queue_size, int)
            ),
        )
