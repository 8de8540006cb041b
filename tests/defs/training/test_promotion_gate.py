"""The promotion gate: pure decisions, then table-driven cases against a real MLflow registry on SQLite.

The registry cases score versions through a table of per-row scores (`TableScorer`), so each case says
exactly how good challenger and champion are on which rows; the registry, aliases, tags and the
bootstrap are the real ones. The worse-model reproduction further down uses real trained models.
"""

import json
from dataclasses import dataclass
from datetime import date

import numpy as np
import pytest

from mlops_assets.defs.training import registry
from mlops_assets.defs.training.bootstrap import Interval, PairedComparison, weighted_metrics
from mlops_assets.defs.training.flow import train_and_register
from mlops_assets.defs.training.promotion import (
    ALREADY_CHAMPION,
    NO_CHALLENGER,
    NO_FAIR_COMPARISON,
    PROMOTED,
    PROMOTED_FIRST,
    REJECTED,
    ComparisonRows,
    HoldoutRows,
    PromotionPolicy,
    Scorecard,
    comparison_rows,
    decide_promotion,
    decisions_frame,
    holdout_scorer,
    promote_challenger,
    window_days,
)
from mlops_assets.defs.training.torch_model import TorchParams

POLICY = PromotionPolicy(
    min_pr_auc_gain=0.01,
    max_p99_latency_ms=5.0,
    slice_tolerance=0.05,
    min_pr_auc=0.3,
    min_roc_auc=0.7,
    bootstrap_replicates=300,
)
SLICES = {"country=DE": 0.60, "country=FR": 0.50}


def card(
    version: str, pr_auc: float, roc_auc: float = 0.9, p99_ms: float = 1.0, **slices: float
) -> Scorecard:
    return Scorecard(
        version,
        pr_auc,
        roc_auc,
        p99_ms,
        {**SLICES, **{k.replace("_", "="): v for k, v in slices.items()}},
        family="lightgbm",
    )


def comparison(low: float, point: float, high: float, roc_low: float = 0.0) -> PairedComparison:
    return PairedComparison(
        pr_auc_gain=Interval(point, low, high, 0.95),
        roc_auc_gain=Interval(roc_low + 0.01, roc_low, roc_low + 0.02, 0.95),
        rows=5_000,
        positives=120,
        clusters=1_200,
        replicates=300,
    )


@dataclass(frozen=True)
class DecisionCase:
    id: str
    challenger: Scorecard
    champion: Scorecard | None
    comparison: PairedComparison | None
    promote: bool
    outcome: str
    failed: tuple[str, ...]
    reason_text: str


DECISIONS = [
    DecisionCase(
        "interval_clears_margin",
        card("2", 0.62),
        card("1", 0.55),
        comparison(0.03, 0.07, 0.11),
        True,
        PROMOTED,
        (),
        "gain +0.0700 (95% CI +0.0300..+0.1100), lower bound clears the margin +0.0100",
    ),
    DecisionCase(
        "point_above_margin_interval_not",
        card("2", 0.57),
        card("1", 0.55),
        comparison(-0.01, 0.02, 0.05),
        False,
        REJECTED,
        ("pr_auc_gain",),
        "lower bound misses the margin +0.0100 (paired bootstrap over 1200 customers, 300 replicates, "
        "on 5000 rows with 120 frauds)",
    ),
    DecisionCase(
        "roc_auc_loss",
        card("2", 0.62),
        card("1", 0.55),
        comparison(0.03, 0.07, 0.11, roc_low=-0.05),
        False,
        REJECTED,
        ("roc_auc_gain",),
        "lower bound vs allowed loss -0.0100",
    ),
    DecisionCase(
        "slice_regression",
        card("2", 0.70, country_FR=0.40),
        card("1", 0.55),
        comparison(0.05, 0.15, 0.2),
        False,
        REJECTED,
        ("slices",),
        "country=FR -0.1000",
    ),
    DecisionCase(
        "latency_breach",
        card("2", 0.70, p99_ms=7.5),
        card("1", 0.55),
        comparison(0.05, 0.15, 0.2),
        False,
        REJECTED,
        ("latency_budget",),
        "p99 7.500 ms vs budget 5.000 ms",
    ),
    DecisionCase(
        "first_model", card("1", 0.40), None, None, True, PROMOTED_FIRST, (), "PR AUC 0.4000 vs floor 0.3000"
    ),
    DecisionCase(
        "first_model_below_floors",
        card("1", 0.20, roc_auc=0.65),
        None,
        None,
        False,
        REJECTED,
        ("pr_auc_floor", "roc_auc_floor"),
        "ROC AUC 0.6500 vs floor 0.7000",
    ),
]


@pytest.mark.parametrize("case", DECISIONS, ids=[c.id for c in DECISIONS])
def test_decision_table(case: DecisionCase):
    decision = decide_promotion(case.challenger, case.champion, POLICY, case.comparison)
    assert (decision.promote, decision.outcome) == (case.promote, case.outcome)
    assert tuple(c.name for c in decision.checks if not c.passed) == case.failed
    assert any(case.reason_text in reason for reason in decision.reasons), decision.reasons
    assert decision.reasons[0].startswith("FAIL" if case.failed else "PASS")
    # The floors judge only a first model; a champion is beaten only through the interval.
    names = {c.name for c in decision.checks}
    assert ("pr_auc_floor" in names) == (case.champion is None)
    assert ("pr_auc_gain" in names) == (case.champion is not None)


def test_a_champion_without_a_paired_comparison_is_a_programming_error():
    with pytest.raises(ValueError, match="paired comparison"):
        decide_promotion(card("2", 0.6), card("1", 0.5), POLICY)


# The same gate against a real registry: aliases move (or not), the decision lands in version tags.

# The windows `train_and_register` tags on a version trained on 2025-03-01..2025-03-12.
WINDOWS = {
    registry.TRAIN_WINDOW_TAG: "2025-03-01..2025-03-06",
    registry.VALIDATION_WINDOW_TAG: "2025-03-07..2025-03-09",
    registry.HOLDOUT_WINDOW_TAG: "2025-03-10..2025-03-12",
}


class TableScorer:
    """Per-row scores from a table: `rows` gives the labelled rows, `score` a version's scores on them."""

    def __init__(self, labels: np.ndarray, clusters: np.ndarray, scores: dict[str, np.ndarray]) -> None:
        self.labels, self.clusters, self.scores = labels, clusters, scores
        self.seen: list[tuple[str, str]] = []

    def rows(self, window: str) -> HoldoutRows:
        return HoldoutRows(window, self.labels, self.clusters, window_days(window))

    def score(self, model_name: str, version: str, window: str) -> Scorecard:
        self.seen.append((version, window))
        pr, roc = weighted_metrics(self.labels, self.scores[version])
        return Scorecard(version, pr, roc, 1.0, family="lightgbm", scores=self.scores[version])


def _table(n: int, fraud_rate: float, seed: int, champion_noise: float, challenger_noise: float):
    """Labels, customers, and two models whose scores get worse with their noise level."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < fraud_rate).astype(np.int8)
    clusters = rng.integers(0, max(1, n // 3), size=n)
    signal = labels * 2.0 + rng.normal(size=n)
    champion = signal + rng.normal(scale=champion_noise, size=n)
    challenger = champion if challenger_noise < 0 else signal + rng.normal(scale=challenger_noise, size=n)
    return labels, clusters, champion, challenger


def _register(client, name: str, source: str, family: str = "lightgbm", **windows: str | None) -> str:
    tags = {registry.FAMILY_TAG: family, **WINDOWS, **windows}
    mv = registry.register_version(
        client, name, source, None, {k: v for k, v in tags.items() if v is not None}, "test", aliases=()
    )
    return str(mv.version)


def _champion_and_candidate(client, name: str, source: str, **champion_windows: str | None):
    """v1 the champion (with the given windows), v2 the lightgbm candidate (holdout 2025-03-10..12)."""
    old = _register(client, name, source, **champion_windows)
    new = _register(client, name, source)
    client.set_registered_model_alias(name, registry.CHAMPION, old)
    client.set_registered_model_alias(name, registry.candidate_alias("lightgbm"), new)
    return old, new


@dataclass(frozen=True)
class RegistryCase:
    id: str
    rows: int
    fraud_rate: float
    champion_noise: float
    challenger_noise: float  # < 0: the very same scores as the champion
    champion_windows: dict
    outcome: str
    reason_text: str


REGISTRY_CASES = [
    RegistryCase(
        "identical_challenger", 20_000, 0.02, 0.5, -1, {}, REJECTED, "gain +0.0000 (95% CI +0.0000..+0.0000)"
    ),
    RegistryCase(
        "clearly_better_large_holdout", 20_000, 0.02, 3.0, 0.3, {}, PROMOTED, "lower bound clears the margin"
    ),
    RegistryCase(
        "small_noisy_advantage", 600, 0.06, 1.05, 1.0, {}, REJECTED, "lower bound misses the margin"
    ),
    RegistryCase(
        "no_fair_comparison",
        20_000,
        0.02,
        3.0,
        0.3,
        {"train_window": "2025-03-01..2025-03-12", "validation_window": "2025-03-13..2025-03-15"},
        NO_FAIR_COMPARISON,
        "a fair comparison needs at least 3 mature days the champion never saw, with 30 frauds among "
        "them: 2025-03-16..2025-03-18, whose labels are mature from 2025-04-03",
    ),
]


@pytest.mark.parametrize("case", REGISTRY_CASES, ids=[c.id for c in REGISTRY_CASES])
def test_gate_against_mlflow(case: RegistryCase, module_store, trained_lightgbm):
    client = module_store.client()
    name = f"gate_{case.id}"
    old, new = _champion_and_candidate(
        client, name, trained_lightgbm.logged_model_uri, **case.champion_windows
    )
    labels, clusters, champion_scores, challenger_scores = _table(
        case.rows, case.fraud_rate, 7, case.champion_noise, case.challenger_noise
    )
    scorer = TableScorer(labels, clusters, {old: champion_scores, new: challenger_scores})

    result = promote_challenger(client, name, POLICY, scorer)

    assert result.decision.outcome == case.outcome
    assert any(case.reason_text in reason for reason in result.decision.reasons), result.decision.reasons
    promoted = case.outcome == PROMOTED
    champion = registry.alias_version(client, name, registry.CHAMPION)
    assert str(champion.version) == result.champion_version_after == (new if promoted else old)
    tags = client.get_model_version(name, new).tags
    assert tags["promotion_decision"] == case.outcome
    assert json.loads(tags["promotion_reasons"]) == result.decision.reasons
    assert tags["promotion_compared_to"] == f"v{old}"
    if case.outcome == NO_FAIR_COMPARISON:
        # The champion is never scored on days it has seen, and the floors are not consulted.
        assert old not in {version for version, _ in scorer.seen}
        assert result.comparison is None and "pr_auc_floor" not in {c.name for c in result.decision.checks}
        assert tags["promotion_compared_on"] == "none"
        return
    gain = result.comparison.pr_auc_gain
    assert tags["promotion_pr_auc_gain_ci"] == f"{gain.low:.6f}..{gain.high:.6f}"
    assert (tags["promotion_rows"], tags["promotion_positives"], tags["promotion_days"]) == (
        str(case.rows),
        str(int(labels.sum())),
        "3",
    )
    assert tags["promotion_confidence"] == "0.9500"
    assert (gain.low >= POLICY.min_pr_auc_gain) == promoted
    if case.id == "small_noisy_advantage":  # better on the point estimate, yet not beyond the noise
        assert gain.point > POLICY.min_pr_auc_gain and gain.low < 0 < gain.high
        assert f"CI {gain.low:+.4f}..{gain.high:+.4f}" in " ".join(result.decision.reasons)
    row = decisions_frame([result]).row(0, named=True)
    assert (row["outcome"], row["positives"]) == (case.outcome, int(labels.sum()))
    if promoted:
        assert client.get_model_version(name, old).tags["superseded_by"] == new


def test_the_best_family_candidate_is_judged_whatever_its_family(module_store, trained_lightgbm):
    client = module_store.client()
    name = "gate_best_family"
    old = _register(client, name, trained_lightgbm.logged_model_uri)
    client.set_registered_model_alias(name, registry.CHAMPION, old)
    lgbm = _register(client, name, trained_lightgbm.logged_model_uri, family="lightgbm")
    torch = _register(client, name, trained_lightgbm.logged_model_uri, family="torch")
    client.set_registered_model_alias(name, registry.candidate_alias("lightgbm"), lgbm)
    client.set_registered_model_alias(name, registry.candidate_alias("torch"), torch)
    labels, clusters, weak, strong = _table(20_000, 0.02, 3, 3.0, 0.3)
    middling = _table(20_000, 0.02, 3, 1.0, -1)[2]
    scorer = TableScorer(labels, clusters, {old: weak, lgbm: middling, torch: strong})

    result = promote_challenger(client, name, POLICY, scorer)

    assert (result.decision.outcome, result.challenger.version, result.champion_version_after) == (
        PROMOTED,
        torch,
        torch,
    )
    assert result.candidates[lgbm].startswith("not the best candidate")
    assert client.get_model_version(name, lgbm).tags["promotion_decision"] == "not_chosen"


def test_no_candidate_and_already_champion(module_store, trained_lightgbm):
    client = module_store.client()
    never = TableScorer(np.zeros(0), np.zeros(0), {})
    assert promote_challenger(client, "gate_missing_model", POLICY, never).decision.outcome == NO_CHALLENGER
    version = _register(client, "gate_same", trained_lightgbm.logged_model_uri)
    for alias in (registry.CHAMPION, registry.candidate_alias("lightgbm")):
        client.set_registered_model_alias("gate_same", alias, version)
    result = promote_challenger(client, "gate_same", POLICY, never)
    assert (result.decision.outcome, result.champion_version_after) == (ALREADY_CHAMPION, version)
    assert never.seen == []
    assert "promotion_decision" not in client.get_model_version("gate_same", version).tags


# The champion is never judged on rows it was trained or early-stopped on.


@pytest.mark.parametrize(
    ("seen_until", "expected_window", "note"),
    [
        (date(2025, 3, 9), "2025-03-10..2025-03-12", ""),
        (date(2025, 3, 10), "2025-03-11..2025-03-12", "trained on data up to 2025-03-10: both versions"),
        (date(2025, 3, 11), "2025-03-12..2025-03-12", "compared on 2025-03-12..2025-03-12 only"),
        (date(2025, 3, 12), None, "covers the whole holdout 2025-03-10..2025-03-12"),
        (date(2025, 3, 20), None, "trained on data up to 2025-03-20"),
        (None, "2025-03-10..2025-03-12", "records no training window"),
    ],
)
def test_comparison_rows_start_after_the_champions_last_training_day(seen_until, expected_window, note):
    rows = comparison_rows("2025-03-10..2025-03-12", "4", seen_until)
    assert rows.window == expected_window
    assert note in rows.note and (rows.note == "") == (note == "")
    assert rows == ComparisonRows(expected_window, rows.note)


def test_champion_trained_on_part_of_the_holdout_is_compared_on_the_rest_only(module_store, trained_lightgbm):
    client = module_store.client()
    name = "gate_overlap_partial"
    old, new = _champion_and_candidate(
        client,
        name,
        trained_lightgbm.logged_model_uri,
        train_window="2025-03-01..2025-03-07",
        validation_window="2025-03-08..2025-03-10",
    )
    labels, clusters, weak, strong = _table(20_000, 0.02, 5, 3.0, 0.3)
    scorer = TableScorer(labels, clusters, {old: weak, new: strong})
    policy = PromotionPolicy(**{**POLICY.__dict__, "min_comparison_days": 2})
    result = promote_challenger(client, name, policy, scorer)
    assert scorer.seen == [
        (new, "2025-03-10..2025-03-12"),  # choosing the best candidate, on its holdout
        (new, "2025-03-11..2025-03-12"),  # then both on the days the champion never saw
        (old, "2025-03-11..2025-03-12"),
    ]
    assert (result.decision.outcome, result.champion_version_after) == (PROMOTED, new)
    assert result.decision.reasons[0] == (
        f"champion v{old} was trained on data up to 2025-03-10: both versions compared on "
        "2025-03-11..2025-03-12 only, not on the whole holdout 2025-03-10..2025-03-12"
    )
    tags = client.get_model_version(name, new).tags
    assert (tags["promotion_compared_on"], tags["promotion_days"]) == ("2025-03-11..2025-03-12", "2")
    # With the default of three unseen days, two are not a fair comparison: the champion stays.
    other, newer = _champion_and_candidate(
        client,
        "gate_overlap_partial_default",
        trained_lightgbm.logged_model_uri,
        validation_window="2025-03-08..2025-03-10",
    )
    scorer = TableScorer(labels, clusters, {other: weak, newer: strong})
    result = promote_challenger(client, "gate_overlap_partial_default", POLICY, scorer)
    assert result.decision.outcome == NO_FAIR_COMPARISON and result.champion_version_after == other
    assert "only 2 days with" in result.decision.reasons[0]


def test_a_champion_without_window_tags_is_read_from_its_run(module_store, trained_lightgbm):
    # Versions registered before the window tags existed: the run's params say train 03-01..03-06,
    # validation 03-07..03-09.
    client = module_store.client()
    name = "gate_overlap_from_run"
    mv = registry.register_version(
        client,
        name,
        trained_lightgbm.logged_model_uri,
        trained_lightgbm.run_id,
        {registry.FAMILY_TAG: "lightgbm"},
        "old",
        aliases=(registry.CHAMPION,),
    )
    new = _register(client, name, trained_lightgbm.logged_model_uri)
    client.set_registered_model_alias(name, registry.candidate_alias("lightgbm"), new)
    labels, clusters, weak, strong = _table(20_000, 0.02, 6, 3.0, 0.3)
    scorer = TableScorer(labels, clusters, {str(mv.version): weak, new: strong})
    result = promote_challenger(client, name, POLICY, scorer)
    assert {window for _, window in scorer.seen} == {"2025-03-10..2025-03-12"}
    assert result.decision.outcome == PROMOTED


# The reproduction of the worse-model case, with real models on real rows: the champion was trained on
# newer days than the challenger's holdout, so it has seen every row the challenger would be judged on.


def test_a_challenger_judged_on_days_the_champion_trained_on_is_not_promoted(
    module_store, make_frame, small_split, tiny_lightgbm, features
):
    client = module_store.client()
    name = "gate_worse_model_reproduction"
    common = {
        "feature_service": "test_service",
        "split_config": small_split,
        "latency_rows": 10,
        "model_name": name,
    }
    newer = make_frame(days=12, seed=11)  # train 03-01..06, validation 03-07..09, holdout 03-10..12
    champion = train_and_register(newer, "lightgbm", features, module_store, params=tiny_lightgbm, **common)
    client.set_registered_model_alias(name, registry.CHAMPION, champion.version)
    older = make_frame(days=9, seed=12)  # train 03-01..03, validation 03-04..06, holdout 03-07..09
    torch_params = TorchParams(max_epochs=3, num_threads=1)
    challenger = train_and_register(older, "torch", features, module_store, params=torch_params, **common)
    assert challenger.holdout.pr_auc > 0.3  # the floors alone would have let it in

    scorer = holdout_scorer(client, newer, features, latency_rows=10)
    result = promote_challenger(client, name, POLICY, scorer)

    assert result.decision.outcome == NO_FAIR_COMPARISON
    assert result.champion_version_after == champion.version
    assert registry.load_champion(client, name).version == champion.version
    assert result.decision.reasons[0].startswith(
        f"no fair comparison with champion v{champion.version}: champion v{champion.version} was trained "
        "on data up to 2025-03-09, which covers the whole holdout 2025-03-07..2025-03-09"
    )
    tags = client.get_model_version(name, challenger.version).tags
    assert tags["promotion_decision"] == NO_FAIR_COMPARISON != PROMOTED_FIRST


def test_an_identical_real_model_is_never_promoted(module_store, trained_lightgbm, training_frame, features):
    client = module_store.client()
    name = "gate_identical_real"
    old, _ = _champion_and_candidate(
        client,
        name,
        trained_lightgbm.logged_model_uri,
        train_window="2025-03-01..2025-03-05",
        validation_window="2025-03-06..2025-03-07",
    )
    scorer = holdout_scorer(client, training_frame, features, latency_rows=10)
    result = promote_challenger(client, name, POLICY, scorer)
    assert result.decision.outcome == REJECTED and result.champion_version_after == old
    gain = result.comparison.pr_auc_gain
    assert (gain.low, gain.point, gain.high) == (0.0, 0.0, 0.0)
    assert result.comparison.positives == int(
        training_frame.filter(
            training_frame["event_timestamp"].dt.date().is_between(date(2025, 3, 10), date(2025, 3, 12))
        )["is_fraud"].sum()
    )
