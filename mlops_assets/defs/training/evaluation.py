"""Model quality and speed: the metrics every run logs and the promotion gate compares.

PR AUC (average precision) is the headline: with about 1.5 % fraud, ROC AUC looks good for weak
models, while PR AUC moves with what an investigator sees. Slices with too few fraud cases get no
PR AUC (it would be noise), and are listed as skipped instead of silently dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from mlops_assets.defs.training.data import SLICE_COLUMNS
from mlops_assets.domain import IS_FRAUD

TARGET_PRECISION = 0.9
MIN_SLICE_POSITIVES = 5
EPS = 1e-7

Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Evaluation:
    """Quality metrics on one labelled frame."""

    rows: int
    positives: int
    roc_auc: float
    pr_auc: float
    log_loss: float
    brier: float
    recall_at_precision: float
    threshold_at_precision: float
    target_precision: float
    slice_pr_auc: dict[str, float] = field(default_factory=dict)  # "country=DE" -> PR AUC
    skipped_slices: list[str] = field(default_factory=list)

    def metrics(self, prefix: str) -> dict[str, float]:
        """Flat metric names for MLflow (`holdout_pr_auc`, `holdout_pr_auc.country.DE`, ...)."""
        out = {
            f"{prefix}_roc_auc": self.roc_auc,
            f"{prefix}_pr_auc": self.pr_auc,
            f"{prefix}_log_loss": self.log_loss,
            f"{prefix}_brier": self.brier,
            f"{prefix}_recall_at_p{round(self.target_precision * 100)}": self.recall_at_precision,
            f"{prefix}_positives": float(self.positives),
            f"{prefix}_rows": float(self.rows),
        }
        for name, value in self.slice_pr_auc.items():
            column, value_name = name.split("=", 1)
            out[f"{prefix}_pr_auc.{column}.{value_name}"] = value
        return out

    def slices_frame(self) -> pl.DataFrame:
        """Slices as a table (slice, pr_auc), worst first."""
        return pl.DataFrame(
            {"slice": list(self.slice_pr_auc), "pr_auc": list(self.slice_pr_auc.values())},
            schema={"slice": pl.String, "pr_auc": pl.Float64},
        ).sort("pr_auc")


@dataclass(frozen=True)
class Latency:
    """Inference speed of a predictor on this machine."""

    single_row_p50_ms: float
    single_row_p99_ms: float
    batch_rows_per_s: float
    batch_rows: int

    def metrics(self) -> dict[str, float]:
        """Flat metric names for MLflow."""
        return {
            "latency_single_row_p50_ms": self.single_row_p50_ms,
            "latency_single_row_p99_ms": self.single_row_p99_ms,
            "batch_rows_per_s": self.batch_rows_per_s,
        }


def recall_at_precision(y: np.ndarray, p: np.ndarray, target: float) -> tuple[float, float]:
    """Highest recall with precision >= target, and the lowest score threshold that reaches it.

    Returns (0.0, 1.0) when no threshold reaches the target precision.
    """
    from sklearn.metrics import precision_recall_curve  # sklearn costs ~1 s to import: not at load time

    precision, recall, thresholds = precision_recall_curve(y, p)
    # precision/recall have one more entry than thresholds (the final point at recall 0).
    ok = precision[:-1] >= target
    if not ok.any():
        return 0.0, 1.0
    best = int(np.argmax(np.where(ok, recall[:-1], -1.0)))
    return float(recall[best]), float(thresholds[best])


def evaluate(
    frame: pl.DataFrame,
    scores: np.ndarray,
    target_precision: float = TARGET_PRECISION,
    slice_columns: Sequence[str] = SLICE_COLUMNS,
    min_slice_positives: int = MIN_SLICE_POSITIVES,
) -> Evaluation:
    """Score quality of `scores` (fraud probabilities) against the frame's labels, overall and by slice."""
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    y = frame.get_column(IS_FRAUD).cast(pl.Int32).to_numpy()
    p = np.clip(np.asarray(scores, dtype=np.float64), EPS, 1 - EPS)
    if len(np.unique(y)) < 2:
        raise ValueError(f"evaluation needs both classes; got only {np.unique(y).tolist()} in {len(y)} rows")
    recall, threshold = recall_at_precision(y, p, target_precision)
    slices: dict[str, float] = {}
    skipped: list[str] = []
    for column in slice_columns:
        if column not in frame.columns:
            continue
        values = frame.get_column(column).cast(pl.String).fill_null("<null>").to_numpy()
        for value in sorted(set(values.tolist())):
            mask = values == value
            positives = int(y[mask].sum())
            name = f"{column}={value}"
            if positives < min_slice_positives or positives == int(mask.sum()):
                skipped.append(name)
                continue
            slices[name] = float(average_precision_score(y[mask], p[mask]))
    return Evaluation(
        rows=len(y),
        positives=int(y.sum()),
        roc_auc=float(roc_auc_score(y, p)),
        pr_auc=float(average_precision_score(y, p)),
        log_loss=float(log_loss(y, p, labels=[0, 1])),
        brier=float(brier_score_loss(y, p)),
        recall_at_precision=recall,
        threshold_at_precision=threshold,
        target_precision=target_precision,
        slice_pr_auc=slices,
        skipped_slices=skipped,
    )


def measure_latency(
    predict: Predictor, x: np.ndarray, single_rows: int = 200, batch_rows: int = 100_000
) -> Latency:
    """Single-row latency percentiles (one call per row, as an online scorer would) and batch throughput."""
    if len(x) == 0:
        raise ValueError("latency needs at least one row")
    predict(x[:1])  # warm-up: first calls allocate and may compile
    timings = []
    for i in range(single_rows):
        row = x[i % len(x) : i % len(x) + 1]
        start = time.perf_counter()
        predict(row)
        timings.append(time.perf_counter() - start)
    batch = x[:batch_rows]
    start = time.perf_counter()
    predict(batch)
    elapsed = max(time.perf_counter() - start, 1e-9)
    ms = np.asarray(timings) * 1000
    return Latency(
        single_row_p50_ms=float(np.percentile(ms, 50)),
        single_row_p99_ms=float(np.percentile(ms, 99)),
        batch_rows_per_s=float(len(batch) / elapsed),
        batch_rows=len(batch),
    )
