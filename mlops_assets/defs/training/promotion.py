"""The promotion gate: does the challenger replace the champion? A pure decision plus the registry writes.

Both versions are scored on the same rows (the challenger's holdout window of the current
`training_dataset`), so the comparison is like for like, whatever the champion's old metrics were. Rows
the champion was trained or early-stopped on are left out of that comparison (a model scored on its own
training rows looks better than it is), and a version a rollback took out of service is never promoted
again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from mlops_assets.defs.training import registry
from mlops_assets.defs.training.data import feature_matrix
from mlops_assets.defs.training.evaluation import evaluate, measure_latency
from mlops_assets.domain import EVENT_TIMESTAMP, IS_FRAUD
from mlops_assets.partitions import parse_day_window

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

PROMOTED = "promoted"
PROMOTED_FIRST = "promoted_first_model"
REJECTED = "rejected"
ALREADY_CHAMPION = "already_champion"
NO_CHALLENGER = "no_challenger"
ROLLED_BACK = "rolled_back"


class HoldoutTooSmallError(ValueError):
    """A holdout window holds too few labelled rows (none, or one class only) to score a model on."""


@dataclass(frozen=True)
class PromotionPolicy:
    """The bar a challenger must clear; every threshold is asset config."""

    min_pr_auc_gain: float = 0.005  # absolute PR AUC over the champion, same holdout
    max_p99_latency_ms: float = 50.0  # single-row p99 on the scoring machine
    slice_tolerance: float = 0.05  # a slice may lose at most this much PR AUC
    # Absolute floors every champion (the first one included) must clear: they catch broken models, not
    # weak ones. A random scorer gets PR AUC ~ the fraud rate (~0.015) and ROC AUC 0.5; the simulator's
    # noisy fraud gives real models ~0.1-0.2 PR AUC and ~0.8 ROC AUC.
    min_pr_auc: float = 0.05
    min_roc_auc: float = 0.70


@dataclass(frozen=True)
class Scorecard:
    """One version's results on the shared holdout."""

    version: str
    pr_auc: float
    roc_auc: float
    p99_ms: float
    slice_pr_auc: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """One rule of the gate and how the challenger fared."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class PromotionDecision:
    """The gate's verdict with every reason."""

    promote: bool
    outcome: str
    checks: tuple[Check, ...]
    note: str = ""

    @property
    def reasons(self) -> list[str]:
        """Human-readable reasons, failures first."""
        ordered = sorted(self.checks, key=lambda c: c.passed)
        return ([self.note] if self.note else []) + [
            f"{'PASS' if c.passed else 'FAIL'} {c.name}: {c.detail}" for c in ordered
        ]


def decide_promotion(
    challenger: Scorecard, champion: Scorecard | None, policy: PromotionPolicy, note: str = ""
) -> PromotionDecision:
    """Apply the policy. With no (comparable) champion, the floors and the latency budget decide alone."""
    checks = [
        Check(
            "pr_auc_floor",
            challenger.pr_auc >= policy.min_pr_auc,
            f"PR AUC {challenger.pr_auc:.4f} vs floor {policy.min_pr_auc:.4f}",
        ),
        Check(
            "roc_auc_floor",
            challenger.roc_auc >= policy.min_roc_auc,
            f"ROC AUC {challenger.roc_auc:.4f} vs floor {policy.min_roc_auc:.4f}",
        ),
        Check(
            "latency_budget",
            challenger.p99_ms <= policy.max_p99_latency_ms,
            f"single-row p99 {challenger.p99_ms:.3f} ms vs budget {policy.max_p99_latency_ms:.3f} ms",
        ),
    ]
    if champion is not None:
        gain = challenger.pr_auc - champion.pr_auc
        checks.append(
            Check(
                "beats_champion",
                gain >= policy.min_pr_auc_gain,
                f"PR AUC {challenger.pr_auc:.4f} vs champion v{champion.version} {champion.pr_auc:.4f} "
                f"(gain {gain:+.4f}, required {policy.min_pr_auc_gain:+.4f})",
            )
        )
        regressions = {
            name: champion.slice_pr_auc[name] - value
            for name, value in challenger.slice_pr_auc.items()
            if name in champion.slice_pr_auc and champion.slice_pr_auc[name] - value > policy.slice_tolerance
        }
        shared = len(set(challenger.slice_pr_auc) & set(champion.slice_pr_auc))
        detail = (
            "regressed beyond tolerance "
            f"{policy.slice_tolerance:.3f}: "
            + ", ".join(f"{name} -{drop:.4f}" for name, drop in sorted(regressions.items()))
            if regressions
            else f"no slice of {shared} compared lost more than {policy.slice_tolerance:.3f} PR AUC"
        )
        checks.append(Check("slices", not regressions, detail))
    promote = all(c.passed for c in checks)
    if champion is None:
        outcome = PROMOTED_FIRST if promote else REJECTED
    else:
        outcome = PROMOTED if promote else REJECTED
    return PromotionDecision(promote=promote, outcome=outcome, checks=tuple(checks), note=note)


@dataclass
class PromotionResult:
    """A decision for one registered model, with what was compared."""

    model_name: str
    decision: PromotionDecision
    challenger: Scorecard | None
    champion: Scorecard | None
    champion_version_after: str | None
    champion_version_before: str | None = None
    holdout_window: str = ""
    compared_on: str = ""  # the holdout days both versions were scored on ("" when not compared)


def holdout_rows(dataset: pl.DataFrame, window: str) -> pl.DataFrame:
    """Rows of `dataset` in a `YYYY-MM-DD..YYYY-MM-DD` day window (inclusive), as tagged on a version."""
    lo, hi = parse_day_window(window)
    day = pl.col(EVENT_TIMESTAMP).dt.date()
    return dataset.filter((day >= lo) & (day <= hi))


def last_seen_day(client: MlflowClient, mv: ModelVersion) -> date | None:
    """The last day a version was trained or early-stopped on, or None when nothing records it.

    Read from the version's window tags; versions registered before those tags existed carry the same
    windows as parameters of their MLflow run.
    """
    from mlflow.exceptions import MlflowException

    tags: dict[str, str] = dict(mv.tags)
    if (
        not any(tags.get(t) for t in (registry.TRAIN_WINDOW_TAG, registry.VALIDATION_WINDOW_TAG))
        and mv.run_id
    ):
        try:
            tags = client.get_run(mv.run_id).data.params
        except MlflowException:
            tags = {}
    try:
        window = registry.seen_window(tags)
    except ValueError:
        return None
    return None if window is None else window[1]


@dataclass(frozen=True)
class ComparisonRows:
    """Which days of the challenger's holdout the champion may be scored on, and why."""

    window: str | None  # None: no day is unseen by the champion, so there is no fair comparison
    note: str = ""


def comparison_rows(holdout_window: str, champion_version: str, seen_until: date | None) -> ComparisonRows:
    """The challenger's holdout days after the champion's last train/validation day.

    A champion trained on some of those days (a window that later shrank or moved, e.g. when the label
    maturity horizon shortened `training_dataset`) would be judged on its own training rows.
    """
    lo, hi = parse_day_window(holdout_window)
    if seen_until is None:
        return ComparisonRows(
            holdout_window,
            f"champion v{champion_version} records no training window, so an overlap with the holdout "
            f"{holdout_window} cannot be ruled out; compared on the whole holdout",
        )
    if seen_until < lo:
        return ComparisonRows(holdout_window)
    if seen_until >= hi:
        return ComparisonRows(
            None,
            f"champion v{champion_version} was trained on data up to {seen_until}, which covers the whole "
            f"holdout {holdout_window}: no rows to compare on fairly, so the floors decide",
        )
    window = f"{seen_until + timedelta(days=1)}..{hi}"
    return ComparisonRows(
        window,
        f"champion v{champion_version} was trained on data up to {seen_until}: both versions compared on "
        f"{window} only, not on the whole holdout {holdout_window}",
    )


Scorer = Callable[[str, str, str], Scorecard]  # (model name, version, holdout window) -> scorecard


def holdout_scorer(
    client: MlflowClient, dataset: pl.DataFrame, current_features: Sequence[str], latency_rows: int = 200
) -> Scorer:
    """Score registered versions on a holdout window of `dataset`: quality, slices, single-row latency.

    Raises `FeatureMismatchError` for a version whose features differ from `current_features`, and
    `HoldoutTooSmallError` for a window without both classes.
    """

    def score(model_name: str, version: str, window: str) -> Scorecard:
        holdout = holdout_rows(dataset, window)
        if holdout.get_column(IS_FRAUD).n_unique() < 2:
            raise HoldoutTooSmallError(
                f"{window}: {holdout.height} rows, {int(holdout.get_column(IS_FRAUD).sum())} fraud; "
                "scoring needs both classes"
            )
        model = registry.load_version(client, model_name, version)
        registry.check_features(f"{model_name} v{version}", model.features, current_features)
        x = feature_matrix(holdout, model.features)
        result = evaluate(holdout, model.predict(x))
        latency = measure_latency(model.predict, x, single_rows=latency_rows, batch_rows=10_000)
        return Scorecard(
            version=version,
            pr_auc=result.pr_auc,
            roc_auc=result.roc_auc,
            p99_ms=latency.single_row_p99_ms,
            slice_pr_auc=result.slice_pr_auc,
        )

    return score


def promote_challenger(
    client: MlflowClient, model_name: str, policy: PromotionPolicy, score: Scorer
) -> PromotionResult:
    """Judge `model_name`'s challenger against its champion, move the alias, and tag the decision."""
    challenger_mv = registry.alias_version(client, model_name, registry.CHALLENGER)
    champion_mv = registry.alias_version(client, model_name, registry.CHAMPION)
    before = str(champion_mv.version) if champion_mv is not None else None
    if challenger_mv is None:
        decision = PromotionDecision(False, NO_CHALLENGER, (), f"{model_name} has no challenger version")
        return PromotionResult(model_name, decision, None, None, before, before)
    version = str(challenger_mv.version)
    if before == version:
        decision = PromotionDecision(
            False, ALREADY_CHAMPION, (), f"challenger v{version} is already the champion"
        )
        return PromotionResult(model_name, decision, None, None, before, before)
    if registry.ROLLED_BACK_TAG in challenger_mv.tags:
        # Its earlier promotion tags stay as they were: the history of why it served and why it stopped.
        rollback = challenger_mv.tags
        decision = PromotionDecision(
            False,
            ROLLED_BACK,
            (),
            f"challenger v{version} was rolled back at {rollback[registry.ROLLED_BACK_TAG]} "
            f"(reason: {rollback.get('rollback_reason', 'not recorded')}) and is never promoted again; "
            f"champion stays v{before}. Train a new version to challenge it.",
        )
        return PromotionResult(model_name, decision, None, None, before, before)

    window = challenger_mv.tags.get(registry.HOLDOUT_WINDOW_TAG, "")
    challenger: Scorecard | None = None
    champion: Scorecard | None = None
    notes: list[str] = []
    compared_on: str | None = None  # the rows both versions are scored on; None: no comparison
    if champion_mv is not None:
        rows = comparison_rows(window, str(before), last_seen_day(client, champion_mv))
        notes += [rows.note] if rows.note else []
        compared_on = rows.window
    try:
        if compared_on is not None and compared_on != window:
            try:
                challenger = score(model_name, version, compared_on)
            except HoldoutTooSmallError as exc:
                notes.append(
                    f"the days the champion never saw hold too few labels ({exc}), so the floors decide"
                )
                compared_on = None
        if challenger is None:
            challenger = score(model_name, version, window)
    except registry.FeatureMismatchError as exc:
        decision = PromotionDecision(False, REJECTED, (Check("features", False, str(exc)),))
    else:
        if compared_on is not None:
            try:
                champion = score(model_name, str(before), compared_on)
            except registry.FeatureMismatchError as exc:
                # The champion cannot score today's features at all, so it is no baseline: floors decide.
                notes.append(f"champion v{before} is not comparable, so floors decide: {exc}")
                compared_on = None
        decision = decide_promotion(challenger, champion, policy, "; ".join(notes))
    if champion is None:
        compared_on = None

    now = datetime.now(UTC).isoformat(timespec="seconds")
    tags: dict[str, object] = {
        "promotion_decision": decision.outcome,
        "promotion_reasons": json.dumps(decision.reasons),
        "promotion_evaluated_at": now,
        "promotion_compared_to": f"v{before}" if before else "none",
        "promotion_compared_on": compared_on or "none",
    }
    if challenger is not None:
        tags["promotion_holdout_pr_auc"] = f"{challenger.pr_auc:.6f}"
        tags["promotion_p99_ms"] = f"{challenger.p99_ms:.4f}"
    registry.set_version_tags(client, model_name, version, tags)
    after = before
    if decision.promote:
        client.set_registered_model_alias(model_name, registry.CHAMPION, version)
        registry.set_version_tags(client, model_name, version, {"promoted_at": now})
        if before is not None:
            registry.set_version_tags(client, model_name, before, {"superseded_by": version})
        after = version
    return PromotionResult(
        model_name,
        decision,
        challenger,
        champion,
        after,
        before,
        holdout_window=window,
        compared_on=compared_on or "",
    )


def decisions_frame(results: Sequence[PromotionResult]) -> pl.DataFrame:
    """One row per registered model, for the asset's metadata."""
    return pl.DataFrame(
        [
            {
                "model": r.model_name,
                "outcome": r.decision.outcome,
                "challenger": r.challenger.version if r.challenger else None,
                "challenger_pr_auc": round(r.challenger.pr_auc, 4) if r.challenger else None,
                "champion_before": r.champion_version_before,
                "champion_pr_auc": round(r.champion.pr_auc, 4) if r.champion else None,
                "champion_after": r.champion_version_after,
                "holdout": r.holdout_window,
                "compared_on": r.compared_on or None,
            }
            for r in results
        ],
        schema={
            "model": pl.String,
            "outcome": pl.String,
            "challenger": pl.String,
            "challenger_pr_auc": pl.Float64,
            "champion_before": pl.String,
            "champion_pr_auc": pl.Float64,
            "champion_after": pl.String,
            "holdout": pl.String,
            "compared_on": pl.String,
        },
    )
