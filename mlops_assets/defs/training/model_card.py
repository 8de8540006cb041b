"""A model card per registered version: what the model is for, what it saw, how good it is, where it fails."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from mlops_assets.defs.training.evaluation import Evaluation, Latency
from mlops_assets.domain import LABEL_MATURITY_DAYS


@dataclass(frozen=True)
class CardFacts:
    """Everything the card states, gathered by the training flow."""

    model_name: str
    version: str
    family: str
    run_id: str
    git_commit: str
    feature_service: str
    features: Sequence[str]
    windows: Mapping[str, tuple[date, date]]
    rows: Mapping[str, int]
    params: Mapping[str, object]
    holdout: Evaluation
    validation: Evaluation
    latency: Latency
    training_data_sha256: str


def _fmt(value: float) -> str:
    return f"{value:.4f}"


def render_model_card(facts: CardFacts) -> str:
    """The card as markdown (logged as `model_card.md` and shown in the Dagster UI)."""
    h, v, lat = facts.holdout, facts.validation, facts.latency
    p = round(h.target_precision * 100)
    window_rows = "\n".join(
        f"| {name} | {lo.isoformat()} | {hi.isoformat()} | {facts.rows.get(name, 0):,} |"
        for name, (lo, hi) in facts.windows.items()
    )
    slices = "\n".join(
        f"| {name} | {_fmt(value)} |" for name, value in sorted(h.slice_pr_auc.items(), key=lambda kv: kv[1])
    )
    weakest = min(h.slice_pr_auc.items(), key=lambda kv: kv[1], default=None)
    params = ", ".join(f"`{k}={val}`" for k, val in facts.params.items())
    skipped = ", ".join(h.skipped_slices) or "none"
    return f"""# Model card: {facts.model_name} version {facts.version}

**Family:** {facts.family} | **MLflow run:** `{facts.run_id}` | **Git commit:** `{facts.git_commit}`

## Intended use
Scores card transactions with the probability that they are fraudulent, for batch scoring of each day's
validated transactions and for ranking cases for human review. Not intended to block payments on its own,
to judge individual customers, or to score populations unlike the training data (other portfolios,
currencies or countries far outside the training window).

## Data window
Time-based split by UTC day, never shuffled across time (content hash `{facts.training_data_sha256}`).

| part | first day | last day | rows |
| --- | --- | --- | --- |
{window_rows}

## Features
Feature service `{facts.feature_service}`, {len(facts.features)} features (as of transaction time):
{", ".join(f"`{f}`" for f in facts.features)}

## Metrics (holdout; validation in brackets)
| metric | value |
| --- | --- |
| PR AUC | {_fmt(h.pr_auc)} ({_fmt(v.pr_auc)}) |
| ROC AUC | {_fmt(h.roc_auc)} ({_fmt(v.roc_auc)}) |
| log loss | {_fmt(h.log_loss)} ({_fmt(v.log_loss)}) |
| Brier score | {_fmt(h.brier)} ({_fmt(v.brier)}) |
| recall at precision {p} % | {_fmt(h.recall_at_precision)} (threshold {_fmt(h.threshold_at_precision)}) |
| holdout rows / fraud rows | {h.rows:,} / {h.positives:,} |
| single-row latency p50 / p99 | {lat.single_row_p50_ms:.3f} ms / {lat.single_row_p99_ms:.3f} ms |
| batch throughput | {lat.batch_rows_per_s:,.0f} rows/s |

## Slices (holdout PR AUC, worst first)
| slice | PR AUC |
| --- | --- |
{slices or "| (no slice with enough fraud rows) | |"}

Skipped (fewer fraud rows than needed for a stable PR AUC): {skipped}.

## Training parameters
{params}

## Known limitations
- Labels arrive with a delay: the window ends {LABEL_MATURITY_DAYS} days (the p95 of the fraud label delay)
  before the label cutoff, so at most about 5 % of the frauds of its newest days were not yet reported
  when it was trained and count as legitimate; the metrics carry that small label noise.
- Trained on one portfolio; new countries, merchant categories or devices are scored from the learned
  aggregates only, and drift in them lowers quality (see the monitoring group).
- Probabilities are trained with the rare class up-weighted; treat them as scores, calibrate before
  reading them as frequencies.
- Weakest slice: {f"{weakest[0]} (PR AUC {_fmt(weakest[1])})" if weakest else "n/a"}; small slices have noisy
  metrics.
"""
