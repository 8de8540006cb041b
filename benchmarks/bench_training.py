"""Training benchmark: LightGBM and the torch MLP beside scikit-learn references, the promotion gate, then
champion inference speed.

    .venv/bin/python benchmarks/bench_training.py                    # 1M training rows (1.25M in all)
    .venv/bin/python benchmarks/bench_training.py --train-rows 200000 --threads 1

The data is real platform data, not a synthetic stand-in: the seeded simulator's transactions, through
the feature stage's own code (`compute_customer_features`, `compute_merchant_features`, `join_features`,
the functions behind `model_inputs`), with every label (the simulator's ground truth, no label cutoff).
The window is split by day like `fraud_model` does (3 validation days, 3 holdout days, the rest trains).

In the same process and on the same split, two references are trained on the train part and scored on
the holdout: scikit-learn's `HistGradientBoostingClassifier` with its defaults (its own early stopping on
10 % of the train part), and a `LogisticRegression` baseline (mean imputation, standardization). Every
model gets the same thread budget (`--threads`).

Both of our families are logged and registered as candidates of the one registered model in a temporary
MLflow (SQLite) and go through the real promotion gate (`promotion.promote_challenger` with the default
`PromotionPolicy` and `holdout_scorer`, what `model_promotion` runs): first with no champion (the best
family wins if it clears the floors), then a LightGBM retrained with another seed against that champion
(the paired bootstrap interval decides). The champion is loaded back with `registry.load_champion`, the
way `batch_predictions` loads it, to time batch throughput and single-row latency.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import loopback  # noqa: F401  (first: loopback-only network guard, see benchmarks/loopback.py)
import polars as pl

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mlops_assets.feature_catalog import (  # noqa: E402
    FEATURE_FILL_VALUES,
    FEATURE_SERVICE_NAME,
    MODEL_FEATURES,
    NULLABLE_FEATURES,
)

START = date(2025, 1, 1)
DAYS = 30
VALIDATION_DAYS = 3
HOLDOUT_DAYS = 3


def build_dataset(total_rows: int) -> tuple[pl.DataFrame, float]:
    """Simulated transactions with their point-in-time features; returns the frame and seconds taken."""
    from mlops_assets.defs.features.compute import compute_customer_features, compute_merchant_features
    from mlops_assets.defs.features.dataset import join_features
    from mlops_assets.simulator import SimulationConfig, simulate_day

    started = time.perf_counter()
    config = SimulationConfig(start=START, days=DAYS, rows_per_day=max(1, total_rows // DAYS))
    transactions = pl.concat([simulate_day(day, config) for day in config.dates]).lazy()
    frame = join_features(
        transactions,
        compute_customer_features(transactions),
        compute_merchant_features(transactions),
    )
    return frame, time.perf_counter() - started


def fit_references(split: Any, threads: int) -> list[dict[str, object]]:
    """scikit-learn references on the same split: fit on train, score the holdout; seconds and quality."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    from mlops_assets.defs.training.data import feature_matrix, labels
    from mlops_assets.defs.training.evaluation import evaluate

    x_train, y_train = feature_matrix(split.train, MODEL_FEATURES), labels(split.train)
    x_hold = feature_matrix(split.holdout, MODEL_FEATURES)
    references = {
        "sklearn HistGradientBoosting (defaults)": HistGradientBoostingClassifier(random_state=42),
        "sklearn LogisticRegression (baseline)": make_pipeline(
            SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=1_000)
        ),
    }
    rows: list[dict[str, object]] = []
    for name, model in references.items():
        with threadpool_limits(limits=threads):
            started = time.perf_counter()
            model.fit(x_train, y_train)
            fit_s = time.perf_counter() - started
            quality = evaluate(split.holdout, model.predict_proba(x_hold)[:, 1])
        iterations = getattr(model, "n_iter_", None)
        if iterations is None:  # the pipeline: the solver's iterations
            iterations = int(model[-1].n_iter_[0])
        rows.append(
            {
                "model": name,
                "train_rows": split.train.height,
                "train_s": round(fit_s, 1),
                "iterations": iterations,
                "log_register_s": "-",
                "holdout_pr_auc": round(quality.pr_auc, 4),
                "holdout_roc_auc": round(quality.roc_auc, 4),
            }
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train-rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2, help="training threads (LightGBM, torch)")
    parser.add_argument("--torch-epochs", type=int, default=30)
    parser.add_argument("--single-rows", type=int, default=1_000, help="single-row predictions timed")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    from mlops_assets.defs.training import registry
    from mlops_assets.defs.training.data import SplitConfig, feature_matrix, prepare_splits
    from mlops_assets.defs.training.evaluation import evaluate, measure_latency
    from mlops_assets.defs.training.flow import train_and_register
    from mlops_assets.defs.training.lightgbm_model import LightGBMParams
    from mlops_assets.defs.training.models import REGISTERED_MODEL_NAME
    from mlops_assets.defs.training.promotion import PromotionPolicy, holdout_scorer, promote_challenger
    from mlops_assets.defs.training.torch_model import TorchParams
    from mlops_assets.mlflow_resource import MlflowResource

    total_rows = args.train_rows * DAYS // (DAYS - VALIDATION_DAYS - HOLDOUT_DAYS)
    dataset, build_s = build_dataset(total_rows)
    split_config = SplitConfig(VALIDATION_DAYS, HOLDOUT_DAYS)
    split = prepare_splits(dataset, MODEL_FEATURES, split_config, tuple(NULLABLE_FEATURES))
    print(
        f"dataset: {dataset.height:,} rows x {len(MODEL_FEATURES)} features "
        f"(simulator + feature code, {build_s:.1f} s); train {split.train.height:,}, "
        f"validation {split.validation.height:,}, holdout {split.holdout.height:,}; "
        f"fraud rate {dataset.select(pl.col('is_fraud').mean()).item():.4f}; "
        f"cpus {os.cpu_count()}, threads {args.threads}"
    )

    rows: list[dict[str, object]] = []
    gate: dict[str, dict[str, object]] = {}
    champions: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = MlflowResource(
            tracking_uri=f"sqlite:///{tmp}/mlflow.db",
            artifact_root=f"{tmp}/artifacts",
            experiment_name="bench",
        )
        params: dict[str, LightGBMParams | TorchParams] = {
            "lightgbm": LightGBMParams(num_threads=args.threads),
            "torch": TorchParams(num_threads=args.threads, max_epochs=args.torch_epochs),
        }
        for family in ("lightgbm", "torch"):
            outcome = train_and_register(
                dataset,
                family,
                MODEL_FEATURES,
                store,
                feature_service=FEATURE_SERVICE_NAME,
                split_config=split_config,
                params=params[family],
                nullable=tuple(NULLABLE_FEATURES),
                fill_values=FEATURE_FILL_VALUES,
                dagster_run_id="benchmark",
                latency_rows=200,
            )
            rows.append(
                {
                    "model": f"ours: {family} (registered v{outcome.version})",
                    "train_rows": outcome.rows["train"],
                    "train_s": round(outcome.trained.train_seconds, 1),
                    "iterations": outcome.trained.best_iteration,
                    "log_register_s": round(
                        outcome.timings_s["log_model_s"] + outcome.timings_s["register_s"], 1
                    ),
                    "holdout_pr_auc": round(outcome.holdout.pr_auc, 4),
                    "holdout_roc_auc": round(outcome.holdout.roc_auc, 4),
                }
            )
            print(rows[-1], flush=True)
        rows += fit_references(split, args.threads)

        # The real gate, as `model_promotion` runs it. First: no champion yet, the best family
        # candidate against the floors. Then a LightGBM retrained with another seed challenges that
        # champion on the same holdout: the paired bootstrap interval decides.
        client = store.client()
        scorer = holdout_scorer(client, dataset, MODEL_FEATURES)

        def judge(label: str) -> None:
            started = time.perf_counter()
            result = promote_challenger(client, REGISTERED_MODEL_NAME, PromotionPolicy(), scorer)
            c = result.comparison
            gate[label] = {
                "challenger": f"v{result.challenger.version} ({result.challenger.family})"
                if result.challenger
                else "-",
                "outcome": result.decision.outcome,
                "champion": result.champion_version_after,
                "pr_auc_gain_ci": c.pr_auc_gain.describe() if c else "- (floors only)",
                "positives": c.positives if c else "-",
                "gate_s": round(time.perf_counter() - started, 1),
            }
            print(label, gate[label], flush=True)

        judge("first champion")
        reseeded = replace(params["lightgbm"], seed=7)
        train_and_register(
            dataset,
            "lightgbm",
            MODEL_FEATURES,
            store,
            feature_service=FEATURE_SERVICE_NAME,
            split_config=split_config,
            params=reseeded,
            nullable=tuple(NULLABLE_FEATURES),
            dagster_run_id="benchmark-reseeded",
            latency_rows=200,
        )
        judge("lightgbm, other seed, vs champion")

        started = time.perf_counter()
        champion = registry.load_champion(client)
        load_s = time.perf_counter() - started
        x = feature_matrix(split.holdout, champion.features)
        latency = measure_latency(champion.predict, x, single_rows=args.single_rows, batch_rows=len(x))
        quality = evaluate(split.holdout, champion.predict(x))
        champions[f"{champion.name} v{champion.version} ({champion.family})"] = {
            "version": champion.version,
            "load_s": round(load_s, 2),
            "batch_rows": latency.batch_rows,
            "batch_rows_per_s": round(latency.batch_rows_per_s),
            "single_row_p50_ms": round(latency.single_row_p50_ms, 3),
            "single_row_p99_ms": round(latency.single_row_p99_ms, 3),
            "holdout_pr_auc_reloaded": round(quality.pr_auc, 4),
        }

    print(
        f"\nSame split, same process, {args.threads} thread(s): train {split.train.height:,} rows, "
        f"holdout {split.holdout.height:,} rows ({int(split.holdout['is_fraud'].sum()):,} fraud)"
    )
    print("\n| model | train rows | train s | best iter/epoch | log+register s | holdout PR AUC | ROC AUC |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['model']} | {r['train_rows']:,} | {r['train_s']} | {r['iterations']} "
            f"| {r['log_register_s']} | {r['holdout_pr_auc']} | {r['holdout_roc_auc']} |"
        )
    print("\n| gate run | challenger | outcome | champion after | PR AUC gain (95 % CI) | frauds | gate s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, g in gate.items():
        print(
            f"| {label} | {g['challenger']} | {g['outcome']} | {g['champion'] or '-'} "
            f"| {g['pr_auc_gain_ci']} | {g['positives']} | {g['gate_s']} |"
        )
    print("\n| champion (from registry) | batch rows | rows/s | single-row p50 ms | p99 ms | load s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, c in champions.items():
        print(
            f"| {name} | {c['batch_rows']:,} | {c['batch_rows_per_s']:,} "
            f"| {c['single_row_p50_ms']} | {c['single_row_p99_ms']} | {c['load_s']} |"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"training": rows, "gate": gate, "champions": champions, "build_s": build_s}, indent=2)
        )


if __name__ == "__main__":
    main()
