"""Helpers shared by tests in several folders (importable: `tests/` is on pytest's pythonpath)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mlops_assets.settings import Settings
from mlops_assets.simulator import SimulationConfig, write_days

DAY = date(2026, 1, 10)
# The synthetic training frame: features, ids and labels shaped like `training_dataset`.
TRAINING_START = datetime(2025, 3, 1, tzinfo=UTC)
COUNTRIES = ("DE", "FR", "AT")
CATEGORIES = ("grocery", "electronics")
FEATURES: tuple[str, ...] = ("f_amount_z", "f_velocity", "f_foreign", "f_noise", "f_night")


def land_days(
    settings: Settings, start: date, days: int, rows_per_day: int = 200, **drift: object
) -> list[Path]:
    """Simulate `days` days of landing files starting at `start`."""
    config = SimulationConfig(start=start, days=days, rows_per_day=rows_per_day, **drift)  # type: ignore[arg-type]
    return write_days(config, settings.data_dir, "parquet")


def synthetic_frame(
    days: int = 12,
    rows_per_day: int = 500,
    seed: int = 0,
    features: tuple[str, ...] = FEATURES,
    base_logit: float = -3.0,
) -> pl.DataFrame:
    """Rows shaped like `training_dataset`: id columns + numeric features, fraud learnable from 3 of them."""
    rng = np.random.default_rng(seed)
    n = days * rows_per_day
    x = rng.normal(size=(n, len(features)))
    logit = base_logit + 1.6 * x[:, 0] + 1.0 * x[:, 1] + 0.8 * (x[:, 2] > 0.5)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    seconds = np.sort(rng.integers(0, days * 86_400, size=n))
    ts = pl.Series(
        [TRAINING_START + timedelta(seconds=int(s)) for s in seconds], dtype=pl.Datetime("us", "UTC")
    )
    frame = pl.DataFrame(
        {
            "transaction_id": [f"tx-{i:07d}" for i in range(n)],
            "customer_id": [f"c{i % 97:04d}" for i in range(n)],
            "merchant_id": [f"m{i % 31:03d}" for i in range(n)],
            "event_timestamp": ts,
            "label_available_at": ts + timedelta(days=1),
            "is_fraud": y,
            "country": [COUNTRIES[i % 3] for i in range(n)],
            "merchant_category": [CATEGORIES[i % 2] for i in range(n)],
            "device": ["web"] * n,
            "amount_eur": np.round(np.exp(rng.normal(3, 1, size=n)), 2),
        }
    )
    return frame.with_columns([pl.Series(name, x[:, i]) for i, name in enumerate(features)])


def fail_or_skip(message: str) -> None:
    """A needed service is down: a failure under CI=true (never a silent skip in CI), a skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process_group(process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    """Stop a process started with `start_new_session=True` and its children (code servers, run workers).

    SIGTERM first so Dagster shuts its children down; SIGKILL for whatever still runs after `timeout_s`.
    """
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def simulated_model_inputs(config: SimulationConfig) -> pl.DataFrame:
    """Every simulated transaction of `config` with its features, built in memory by the platform's code."""
    from mlops_assets.defs.features.compute import compute_customer_features, compute_merchant_features
    from mlops_assets.defs.features.dataset import join_features
    from mlops_assets.simulator import simulate_day

    transactions = pl.concat([simulate_day(day, config) for day in config.dates]).lazy()
    return join_features(
        transactions, compute_customer_features(transactions), compute_merchant_features(transactions)
    )


def rows_between_days(frame: pl.DataFrame, start: date, first: int, last: int) -> pl.DataFrame:
    """Rows whose event day is `start + first` .. `start + last` days (both included)."""
    day = pl.col("event_timestamp").dt.date()
    return frame.filter(day.is_between(start + timedelta(days=first), start + timedelta(days=last)))
