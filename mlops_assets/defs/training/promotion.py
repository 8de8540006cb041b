"""The promotion gate: does the best family candidate replace the champion? Score, decide, apply.

One registered model serves (`fraud_detector`); every model family registers candidate versions behind
its own alias (`challenger_lightgbm`, `challenger_torch`). The gate runs in three short steps:

1. **score** (`score_candidates`): the candidates are scored on the newest candidate's holdout days, the
   best one becomes the challenger, and challenger and champion are scored on the same rows: the
   holdout days neither of them trained or early-stopped on.
2. **decide** (`decide_promotion`, pure): with a champion, a paired bootstrap of the PR AUC and ROC AUC
   differences on those rows (see `bootstrap`); the challenger wins only when the lower bound of the PR
   AUC gain's interval clears the margin. Without a champion, absolute floors catch broken models.
   With a champion but no fair comparison (too few unseen days or frauds), the champion stays, and the
   reason says which days must mature first.
3. **apply** (`apply_decision`): move `champion`, and write the decision, its interval, the rows,
   positives and days as version tags.

A version a rollback took out of service is never promoted again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import numpy as np
import polars as pl

from mlops_assets.defs.training import registry
from mlops_assets.defs.training.bootstrap import PairedComparison, paired_bootstrap
from mlops_assets.defs.training.data import feature_matrix
from mlops_assets.defs.training.evaluation import EPS, evaluate, measure_latency
from mlops_assets.domain import CUSTOMER_ID, EVENT_TIMESTAMP, IS_FRAUD, LABEL_MATURITY_DAYS
from mlops_assets.partitions import parse_day_window

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

PROMOTED = "promoted"
PROMOTED_FIRST = "promoted_first_model"
REJECTED = "rejected"
NO_FAIR_COMPARISON = "no_fair_comparison"
ALREADY_CHAMPION = "already_champion"
NO_CHALLENGER = "no_challenger"
ROLLED_BACK = "rolled_back"
CLUSTER_COLUMN = CUSTOMER_ID  # the bootstrap's resampling unit (see `bootstrap`)


class HoldoutTooSmallError(ValueError):
    """A holdout window holds too few labelled rows (none, or one class only) to score a model on."""


@dataclass(frozen=True)
class PromotionPolicy:
    """The bar a challenger must clear; every threshold is asset config."""

    min_pr_auc_gain: float = 0.005  # the margin: the PR AUC gain's interval lower bound must clear it
    confidence: float = 0.95  # two-sided level of the bootstrap interval
    max_roc_auc_loss: float = 0.01  # the ROC AUC gain's lower bound may not fall below minus this
    bootstrap_replicates: int = 1_000
    min_comparison_days: int = 3  # unseen holdout days a fair comparison needs ...
    min_comparison_positives: int = 30  # ... and frauds among them
    max_p99_latency_ms: float = 50.0  # single-row p99 on the scoring machine
    slice_tolerance: float = 0.05  # a slice may lose at most this much PR AUC
    # Floors for the first champion only: they catch broken models, not weak ones. A random scorer gets
    # PR AUC ~ the fraud rate (~0.015) and ROC AUC 0.5; the simulator's fraud gives real models ~0.5
    # PR AUC and ~0.95 ROC AUC.
    min_pr_auc: float = 0.05
    min_roc_auc: float = 0.70


@dataclass(frozen=True)
class Scorecard:
    """One version's results on a set of holdout rows, with its per-row scores for the bootstrap."""

    version: str
    pr_auc: float
    roc_auc: float
    p99_ms: float
    slice_pr_auc: dict[str, float] = field(default_factory=dict)
    family: str = ""
    scores: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class HoldoutRows:
    """The labelled rows of a window: what both models are scored on and the bootstrap resamples."""

    window: str
    labels: np.ndarray
    clusters: np.ndarray
    days: int

    @property
    def rows(self) -> int:
        """Number of rows."""
        return len(self.labels)

    @property
    def positives(self) -> int:
        """Number of frauds."""
        return int(np.sum(self.labels))


class Scorer(Protocol):
    """Scores registered versions on day windows of the current `training_dataset`."""

    def rows(self, window: str) -> HoldoutRows:
        """The labelled rows of `window`."""
        ...

    def score(self, model_name: str, version: str, window: str) -> Scorecard:
        """`version` of `model_name` scored on the rows of `window`."""
        ...


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


def window_days(window: str) -> int:
    """Number of days in a window, both ends included."""
    lo, hi = parse_day_window(window)
    return (hi - lo).days + 1


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

    A champion scored on days it was trained on looks better than it is; a champion trained on *newer*
    days than the holdout must not be compared there at all (it has seen those rows).
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
            f"holdout {holdout_window}",
        )
    window = f"{seen_until + timedelta(days=1)}..{hi}"
    return ComparisonRows(
        window,
        f"champion v{champion_version} was trained on data up to {seen_until}: both versions compared on "
        f"{window} only, not on the whole holdout {holdout_window}",
    )


def wait_for_fair_comparison(seen_until: date | None, policy: PromotionPolicy) -> str:
    """What must happen before a fair comparison exists: which unseen days, and when their labels mature."""
    if seen_until is None:
        return f"a fair comparison needs at least {policy.min_comparison_days} holdout days"
    first = seen_until + timedelta(days=1)
    last = seen_until + timedelta(days=policy.min_comparison_days)
    mature = last + timedelta(days=LABEL_MATURITY_DAYS)
    return (
        f"a fair comparison needs at least {policy.min_comparison_days} mature days the champion never "
        f"saw, with {policy.min_comparison_positives} frauds among them: {first}..{last}, whose labels "
        f"are mature from {mature} (label maturity {LABEL_MATURITY_DAYS} days); retrain after that"
    )


def decide_promotion(
    challenger: Scorecard,
    champion: Scorecard | None,
    policy: PromotionPolicy,
    comparison: PairedComparison | None = None,
    note: str = "",
) -> PromotionDecision:
    """Apply the policy: the interval rules against a champion, the floors only when there is none."""
    latency = Check(
        "latency_budget",
        challenger.p99_ms <= policy.max_p99_latency_ms,
        f"single-row p99 {challenger.p99_ms:.3f} ms vs budget {policy.max_p99_latency_ms:.3f} ms",
    )
    if champion is None:
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
            latency,
        ]
        promote = all(c.passed for c in checks)
        return PromotionDecision(promote, PROMOTED_FIRST if promote else REJECTED, tuple(checks), note)
    if comparison is None:
        raise ValueError("a challenger is judged against a champion only with their paired comparison")
    pr, roc = comparison.pr_auc_gain, comparison.roc_auc_gain
    rows = (
        f"paired bootstrap over {comparison.clusters} customers, {comparison.replicates} replicates, on "
        f"{comparison.rows} rows with {comparison.positives} frauds"
    )
    checks = [
        Check(
            "pr_auc_gain",
            pr.low >= policy.min_pr_auc_gain,
            f"PR AUC {challenger.pr_auc:.4f} vs champion v{champion.version} {champion.pr_auc:.4f}: gain "
            f"{pr.describe()}, lower bound {'clears' if pr.low >= policy.min_pr_auc_gain else 'misses'} "
            f"the margin {policy.min_pr_auc_gain:+.4f} ({rows})",
        ),
        Check(
            "roc_auc_gain",
            roc.low >= -policy.max_roc_auc_loss,
            f"ROC AUC gain {roc.describe()}, lower bound vs allowed loss -{policy.max_roc_auc_loss:.4f}",
        ),
        latency,
    ]
    regressions = {
        name: champion.slice_pr_auc[name] - value
        for name, value in challenger.slice_pr_auc.items()
        if name in champion.slice_pr_auc and champion.slice_pr_auc[name] - value > policy.slice_tolerance
    }
    shared = len(set(challenger.slice_pr_auc) & set(champion.slice_pr_auc))
    detail = (
        f"regressed beyond tolerance {policy.slice_tolerance:.3f}: "
        + ", ".join(f"{name} -{drop:.4f}" for name, drop in sorted(regressions.items()))
        if regressions
        else f"no slice of {shared} compared lost more than {policy.slice_tolerance:.3f} PR AUC"
    )
    checks.append(Check("slices", not regressions, detail))
    promote = all(c.passed for c in checks)
    return PromotionDecision(promote, PROMOTED if promote else REJECTED, tuple(checks), note)


@dataclass
class PromotionResult:
    """A decision, with what was compared: the input of `apply_decision` and of the asset's metadata."""

    model_name: str
    decision: PromotionDecision
    challenger: Scorecard | None
    champion: Scorecard | None
    champion_version_before: str | None
    champion_version_after: str | None = None
    holdout_window: str = ""
    compared_on: str = ""  # the holdout days both versions were scored on ("" when not compared)
    comparison: PairedComparison | None = None
    candidates: dict[str, str] = field(default_factory=dict)  # version -> why it was (not) chosen

    def __post_init__(self) -> None:
        if self.champion_version_after is None:
            self.champion_version_after = self.champion_version_before

    def tags(self, now: str) -> dict[str, object]:
        """The tags the decision leaves on the challenger version."""
        tags: dict[str, object] = {
            "promotion_decision": self.decision.outcome,
            "promotion_reasons": json.dumps(self.decision.reasons),
            "promotion_evaluated_at": now,
            "promotion_compared_to": f"v{self.champion_version_before}"
            if self.champion_version_before
            else "none",
            "promotion_compared_on": self.compared_on or "none",
        }
        if self.challenger is not None:
            tags["promotion_holdout_pr_auc"] = f"{self.challenger.pr_auc:.6f}"
            tags["promotion_p99_ms"] = f"{self.challenger.p99_ms:.4f}"
        if self.comparison is not None:
            c = self.comparison
            tags |= {
                "promotion_pr_auc_gain": f"{c.pr_auc_gain.point:.6f}",
                "promotion_pr_auc_gain_ci": f"{c.pr_auc_gain.low:.6f}..{c.pr_auc_gain.high:.6f}",
                "promotion_roc_auc_gain_ci": f"{c.roc_auc_gain.low:.6f}..{c.roc_auc_gain.high:.6f}",
                "promotion_confidence": f"{c.pr_auc_gain.confidence:.4f}",
                "promotion_rows": str(c.rows),
                "promotion_positives": str(c.positives),
                "promotion_days": str(window_days(self.compared_on)),
            }
        return tags


def holdout_scorer(
    client: MlflowClient, dataset: pl.DataFrame, current_features: Sequence[str], latency_rows: int = 200
) -> Scorer:
    """Score registered versions on day windows of `dataset`: quality, slices, latency, per-row scores.

    `score` raises `FeatureMismatchError` for a version whose features differ from `current_features`,
    and `HoldoutTooSmallError` for a window without both classes.
    """

    class _HoldoutScorer:
        def rows(self, window: str) -> HoldoutRows:
            frame = holdout_rows(dataset, window)
            return HoldoutRows(
                window=window,
                labels=frame.get_column(IS_FRAUD).cast(pl.Int8).to_numpy(),
                clusters=frame.get_column(CLUSTER_COLUMN).to_numpy(),
                days=frame.get_column(EVENT_TIMESTAMP).dt.date().n_unique(),
            )

        def score(self, model_name: str, version: str, window: str) -> Scorecard:
            holdout = holdout_rows(dataset, window)
            if holdout.get_column(IS_FRAUD).n_unique() < 2:
                raise HoldoutTooSmallError(
                    f"{window}: {holdout.height} rows, {int(holdout.get_column(IS_FRAUD).sum())} fraud; "
                    "scoring needs both classes"
                )
            model = registry.load_version(client, model_name, version)
            registry.check_features(f"{model_name} v{version}", model.features, current_features)
            x = feature_matrix(holdout, model.features)
            scores = np.clip(np.asarray(model.predict(x), dtype=np.float64), EPS, 1 - EPS)
            result = evaluate(holdout, scores)
            latency = measure_latency(model.predict, x, single_rows=latency_rows, batch_rows=10_000)
            return Scorecard(
                version=version,
                pr_auc=result.pr_auc,
                roc_auc=result.roc_auc,
                p99_ms=latency.single_row_p99_ms,
                slice_pr_auc=result.slice_pr_auc,
                family=model.family,
                scores=scores,
            )

    return _HoldoutScorer()


def _verdict(
    model_name: str,
    outcome: str,
    note: str,
    before: str | None,
    challenger: Scorecard | None = None,
    **found: object,
) -> PromotionResult:
    """A decision reached without a comparison: nothing to judge, or nothing fair to judge on."""
    decision = PromotionDecision(False, outcome, (), note)
    return PromotionResult(model_name, decision, challenger, None, before, **found)  # type: ignore[arg-type]


def score_candidates(
    client: MlflowClient, model_name: str, policy: PromotionPolicy, scorer: Scorer
) -> PromotionResult:
    """Step 1: pick the best candidate and score it and the champion on the same unseen rows.

    Returns a result whose decision is final when there is nothing to decide (no candidate, a rolled-back
    or already serving one, no fair comparison), and an undecided one (`decision.outcome == ""`) with
    the scorecards and the paired comparison otherwise.
    """
    champion_mv = registry.alias_version(client, model_name, registry.CHAMPION)
    before = str(champion_mv.version) if champion_mv is not None else None
    candidates = registry.family_candidates(client, model_name)
    if not candidates:
        return _verdict(model_name, NO_CHALLENGER, f"{model_name} has no candidate version", before)
    why: dict[str, str] = {}
    eligible: list[ModelVersion] = []
    for mv in candidates.values():
        version = str(mv.version)
        if version == before:
            why[version] = "already the champion"
        elif registry.ROLLED_BACK_TAG in mv.tags:
            why[version] = (
                f"rolled back at {mv.tags[registry.ROLLED_BACK_TAG]} (reason: "
                f"{mv.tags.get('rollback_reason', 'not recorded')}); never promoted again"
            )
        else:
            eligible.append(mv)
    if not eligible:
        outcome = ALREADY_CHAMPION if before in why else ROLLED_BACK
        note = "; ".join(f"v{v}: {reason}" for v, reason in why.items())
        return _verdict(model_name, outcome, f"{note}; champion stays v{before}", before, candidates=why)

    # All candidates are scored on the newest one's holdout; an older candidate that trained on those
    # days has seen them and cannot be compared there.
    newest = max(eligible, key=lambda mv: int(mv.version))
    window = newest.tags.get(registry.HOLDOUT_WINDOW_TAG, "")
    first_day = parse_day_window(window)[0]
    cards: list[Scorecard] = []
    for mv in eligible:
        seen = last_seen_day(client, mv)
        if seen is not None and seen >= first_day:
            why[str(mv.version)] = f"trained on data up to {seen}, inside the holdout {window}"
            continue
        try:
            cards.append(scorer.score(model_name, str(mv.version), window))
        except registry.FeatureMismatchError as exc:
            why[str(mv.version)] = str(exc)
    if not cards:
        return _verdict(
            model_name, REJECTED, "no candidate can be scored: " + "; ".join(why.values()), before
        )
    best = max(cards, key=lambda c: (c.pr_auc, int(c.version)))
    for card in cards:
        why[card.version] = (
            f"best candidate ({card.family}, holdout PR AUC {card.pr_auc:.4f})"
            if card is best
            else f"not the best candidate ({card.family}, holdout PR AUC {card.pr_auc:.4f} < "
            f"{best.pr_auc:.4f} of v{best.version})"
        )
    found: dict[str, object] = {"holdout_window": window, "candidates": why}
    undecided = PromotionDecision(False, "", ())
    if champion_mv is None:
        return PromotionResult(model_name, undecided, best, None, before, **found)  # type: ignore[arg-type]

    seen_until = last_seen_day(client, champion_mv)
    rows = comparison_rows(window, str(before), seen_until)
    compared = scorer.rows(rows.window) if rows.window is not None else None
    if (
        rows.window is None
        or compared is None
        or (
            compared.days < policy.min_comparison_days or compared.positives < policy.min_comparison_positives
        )
    ):
        shortfall = (
            f"{rows.note}; no day of it is unseen by the champion"
            if compared is None
            else f"{rows.note or f'compared on {rows.window}'}: only {compared.days} days with "
            f"{compared.positives} frauds"
        )
        note = (
            f"no fair comparison with champion v{before}: {shortfall}; "
            f"{wait_for_fair_comparison(seen_until, policy)}. "
            f"The champion stays v{before} (the absolute floors never replace a comparison)."
        )
        return _verdict(model_name, NO_FAIR_COMPARISON, note, before, challenger=best, **found)
    compared_on = rows.window
    challenger = best if compared_on == window else scorer.score(model_name, best.version, compared_on)
    try:
        champion = scorer.score(model_name, str(before), compared_on)
    except registry.FeatureMismatchError as exc:
        note = (
            f"champion v{before} cannot score today's features, so there is no fair comparison; the "
            f"champion stays until a rollback or a manual alias change replaces it: {exc}"
        )
        return _verdict(model_name, NO_FAIR_COMPARISON, note, before, challenger=challenger, **found)
    assert challenger.scores is not None and champion.scores is not None
    comparison = paired_bootstrap(
        compared.labels,
        compared.clusters,
        challenger.scores,
        champion.scores,
        confidence=policy.confidence,
        replicates=policy.bootstrap_replicates,
    )
    return PromotionResult(
        model_name,
        PromotionDecision(False, "", (), rows.note),
        challenger,
        champion,
        before,
        compared_on=compared_on,
        comparison=comparison,
        **found,  # type: ignore[arg-type]
    )


def apply_decision(client: MlflowClient, result: PromotionResult) -> PromotionResult:
    """Step 3: tag the challenger with the decision and move `champion` when it was promoted."""
    if result.challenger is None:
        return result
    version = result.challenger.version
    now = datetime.now(UTC).isoformat(timespec="seconds")
    registry.set_version_tags(client, result.model_name, version, result.tags(now))
    for other, why in result.candidates.items():
        if other != version and not why.startswith(("already the champion", "rolled back")):
            registry.set_version_tags(
                client, result.model_name, other, {"promotion_decision": "not_chosen", "promotion_note": why}
            )
    if result.decision.promote:
        client.set_registered_model_alias(result.model_name, registry.CHAMPION, version)
        registry.set_version_tags(client, result.model_name, version, {"promoted_at": now})
        if result.champion_version_before is not None:
            registry.set_version_tags(
                client, result.model_name, result.champion_version_before, {"superseded_by": version}
            )
        result.champion_version_after = version
    return result


def promote_challenger(
    client: MlflowClient, model_name: str, policy: PromotionPolicy, scorer: Scorer
) -> PromotionResult:
    """Score, decide, apply: judge the best candidate against the champion and record the verdict."""
    scored = score_candidates(client, model_name, policy, scorer)
    if scored.decision.outcome:  # decided without a comparison (nothing to judge, or nothing fair)
        return apply_decision(client, scored)
    assert scored.challenger is not None
    scored.decision = decide_promotion(
        scored.challenger, scored.champion, policy, scored.comparison, scored.decision.note
    )
    return apply_decision(client, scored)


def decisions_frame(results: Sequence[PromotionResult]) -> pl.DataFrame:
    """One row per decision, for the asset's metadata."""
    return pl.DataFrame(
        [
            {
                "model": r.model_name,
                "outcome": r.decision.outcome,
                "challenger": r.challenger.version if r.challenger else None,
                "family": r.challenger.family if r.challenger else None,
                "challenger_pr_auc": round(r.challenger.pr_auc, 4) if r.challenger else None,
                "champion_before": r.champion_version_before,
                "champion_pr_auc": round(r.champion.pr_auc, 4) if r.champion else None,
                "pr_auc_gain_ci": (
                    f"{r.comparison.pr_auc_gain.low:+.4f}..{r.comparison.pr_auc_gain.high:+.4f}"
                    if r.comparison
                    else None
                ),
                "positives": r.comparison.positives if r.comparison else None,
                "champion_after": r.champion_version_after,
                "holdout": r.holdout_window or None,
                "compared_on": r.compared_on or None,
            }
            for r in results
        ],
        schema={
            "model": pl.String,
            "outcome": pl.String,
            "challenger": pl.String,
            "family": pl.String,
            "challenger_pr_auc": pl.Float64,
            "champion_before": pl.String,
            "champion_pr_auc": pl.Float64,
            "pr_auc_gain_ci": pl.String,
            "positives": pl.Int64,
            "champion_after": pl.String,
            "holdout": pl.String,
            "compared_on": pl.String,
        },
    )
