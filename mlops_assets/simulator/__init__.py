"""The seeded card-transaction simulator: a realistic stream with drift knobs, written as landing files.

``simulate_day`` builds one day as a polars frame; ``write_days`` writes a run of days into
``<data_dir>/landing/<YYYY-MM-DD>/``; the ``mlops-simulate`` console script wraps both.
"""

from mlops_assets.simulator.drift import DRIFT_KINDS, DriftEffects, parse_drift_kinds
from mlops_assets.simulator.model import SimulationConfig, simulate, simulate_day
from mlops_assets.simulator.writer import FORMATS, landing_path, write_days

__all__ = [
    "DRIFT_KINDS",
    "FORMATS",
    "DriftEffects",
    "SimulationConfig",
    "landing_path",
    "parse_drift_kinds",
    "simulate",
    "simulate_day",
    "write_days",
]
