"""The promotion gate, table-driven: pure decisions, then the same cases against a real MLflow registry."""

import json
from dataclasses import dataclass
from datetime import date

import pytest

from mlops_assets.defs.training import registry
from mlops_assets.defs.training.promotion import (
    ALREADY_CHAMPION,
    NO_CHALLENGER,
    PROMOTED,
    PROMOTED_FIRST,
    REJECTED,
    ComparisonRows,
    HoldoutTooSmallError,
    PromotionPolicy,
    Scorecard,
    comparison_rows,
    decide_promotion,
    decisions_frame,
    promote_challenger,
)

POLICY = PromotionPolicy(
    min_pr_auc_gain=0.01, max_p99_latency_ms=5.0, slice_tolerance=0.05, min_pr_auc=0.3, min_roc_auc=0.7
)
SLICES = {"country=DE": 0.60, "country=FR": 0.50}


def card(
    version: str, pr_auc: float, roc_auc: float = 0.9, p99_ms: float = 1.0, **slices: float
) -> Scorecard:
    return Scorecard(
        version, pr_auc, roc_auc, p99_ms, {**SLICES, **{k.replace("_", "="): v for k, v in slices.items()}}
    )


@dataclass(frozen=True)
class Case:
    id: str
    challenger: Scorecard
    champion: Scorecard | None
    promote: bool
    outcome: str
    failed: tuple[str, ...]
    reason_text: str


CASES = [
    Case("better", card("2", 0.62), card("1", 0.55), True, PROMOTED, (), "gain +0.0700, required +0.0100"),
    Case("worse", card("2", 0.50), card("1", 0.55), False, REJECTED, ("beats_champion",), "gain -0.0500"),
    Case(
        "within_margin",
        card("2", 0.555),
        card("1", 0.55),
        False,
        REJECTED,
        ("beats_champion",),
        "gain +0.0050",
    ),
    Case(
        "slice_regression",
        card("2", 0.70, country_FR=0.40),
        card("1", 0.55),
        False,
        REJECTED,
        ("slices",),
        "country=FR -0.1000",
    ),
    Case(
        "latency_breach",
        card("2", 0.70, p99_ms=7.5),
        card("1", 0.55),
        False,
        REJECTED,
        ("latency_budget",),
        "p99 7.500 ms vs budget 5.000 ms",
    ),
    Case("first_model", card("1", 0.40), None, True, PROMOTED_FIRST, (), "PR AUC 0.4000 vs floor 0.3000"),
    Case(
        "first_model_below_floors",
        card("1", 0.20, roc_auc=0.65),
        None,
        False,
        REJECTED,
        ("pr_auc_floor", "roc_auc_floor"),
        "ROC AUC 0.6500 vs floor 0.7000",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_decision_table(case: Case):
    decision = decide_promotion(case.challenger, case.champion, POLICY)
    assert (decision.promote, decision.outcome) == (case.promote, case.outcome)
    assert tuple(c.name for c in decision.checks if not c.passed) == case.failed
    assert any(case.reason_text in reason for reason in decision.reasons)
    # Failures are listed first; a first model is never compared with a champion.
    assert decision.reasons[0].startswith("FAIL" if case.failed else "PASS")
    assert ("beats_champion" in {c.name for c in decision.checks}) == (case.champion is not None)


def test_slice_only_in_one_model_is_not_a_regression():
    challenger = Scorecard("2", 0.70, 0.9, 1.0, {"country=DE": 0.6})
    champion = Scorecard("1", 0.55, 0.9, 1.0, {"country=DE": 0.6, "country=NL": 0.9})
    decision = decide_promotion(challenger, champion, POLICY)
    assert decision.promote
    assert "no slice of 1 compared lost more than 0.050 PR AUC" in " ".join(decision.reasons)


# The same table against a real registry: aliases move (or not) and the decision lands in version tags.


# The windows `train_and_register` tags on a version trained on 2025-03-01..2025-03-12.
WINDOWS = {
    registry.TRAIN_WINDOW_TAG: "2025-03-01..2025-03-06",
    registry.VALIDATION_WINDOW_TAG: "2025-03-07..2025-03-09",
    registry.HOLDOUT_WINDOW_TAG: "2025-03-10..2025-03-12",
}


def _register(
    client, name: str, source: str, n: int, run_id: str | None = None, **windows: str | None
) -> list[str]:
    tags = {registry.FAMILY_TAG: "lightgbm", **WINDOWS, **windows}
    versions = []
    for _ in range(n):
        mv = registry.register_version(
            client,
            name,
            source,
            run_id,
            {k: v for k, v in tags.items() if v is not None},
            description="test",
            aliases=(),
        )
        versions.append(str(mv.version))
    return versions


def _champion_and_challenger(client, name: str, source: str, run_id: str | None = None, **champion_windows):
    """v1 the champion (with the given training windows), v2 the challenger (holdout 2025-03-10..12)."""
    (old,) = _register(client, name, source, 1, run_id, **champion_windows)
    (new,) = _register(client, name, source, 1)
    client.set_registered_model_alias(name, registry.CHAMPION, old)
    client.set_registered_model_alias(name, registry.CHALLENGER, new)
    return old, new


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_decision_table_against_mlflow(case: Case, module_store, trained_lightgbm):
    client = module_store.client()
    name = f"gate_{case.id}"
    versions = _register(client, name, trained_lightgbm.logged_model_uri, 2 if case.champion else 1)
    challenger_version = versions[-1]
    if case.champion is not None:
        client.set_registered_model_alias(name, registry.CHAMPION, versions[0])
    client.set_registered_model_alias(name, registry.CHALLENGER, challenger_version)
    cards = {challenger_version: case.challenger}
    if case.champion is not None:
        cards[versions[0]] = case.champion
    seen: list[tuple[str, str, str]] = []

    def score(model_name: str, version: str, window: str) -> Scorecard:
        seen.append((model_name, version, window))
        return cards[version]

    result = promote_challenger(client, name, POLICY, score)

    assert result.decision.outcome == case.outcome
    # Both versions are scored on the challenger's holdout window.
    assert {w for _, _, w in seen} == {"2025-03-10..2025-03-12"}
    expected_champion = challenger_version if case.promote else (versions[0] if case.champion else None)
    champion = registry.alias_version(client, name, registry.CHAMPION)
    assert (str(champion.version) if champion else None) == expected_champion
    assert result.champion_version_after == expected_champion
    tags = client.get_model_version(name, challenger_version).tags
    assert tags["promotion_decision"] == case.outcome
    reasons = json.loads(tags["promotion_reasons"])
    assert reasons == result.decision.reasons and any(case.reason_text in r for r in reasons)
    assert tags["promotion_compared_to"] == (f"v{versions[0]}" if case.champion else "none")
    if case.promote and case.champion is not None:
        assert client.get_model_version(name, versions[0]).tags["superseded_by"] == challenger_version
    row = decisions_frame([result]).row(0, named=True)
    assert (row["outcome"], row["champion_after"]) == (case.outcome, expected_champion)


def test_no_challenger_and_already_champion(module_store, trained_lightgbm):
    client = module_store.client()

    def never(*_: str) -> Scorecard:
        raise AssertionError("nothing should be scored")

    assert promote_challenger(client, "gate_missing_model", POLICY, never).decision.outcome == NO_CHALLENGER
    (version,) = _register(client, "gate_same", trained_lightgbm.logged_model_uri, 1)
    for alias in (registry.CHAMPION, registry.CHALLENGER):
        client.set_registered_model_alias("gate_same", alias, version)
    result = promote_challenger(client, "gate_same", POLICY, never)
    assert (result.decision.outcome, result.champion_version_after) == (ALREADY_CHAMPION, version)
    assert "promotion_decision" not in client.get_model_version("gate_same", version).tags


def test_incomparable_champion_leaves_the_floors_to_decide(module_store, trained_lightgbm):
    client = module_store.client()
    old, new = _register(client, "gate_features_changed", trained_lightgbm.logged_model_uri, 2)
    client.set_registered_model_alias("gate_features_changed", registry.CHAMPION, old)
    client.set_registered_model_alias("gate_features_changed", registry.CHALLENGER, new)

    def score(model_name: str, version: str, window: str) -> Scorecard:
        if version == old:
            raise registry.FeatureMismatchError(
                "features the model needs but are no longer computed: ['f_old']"
            )
        return card(new, 0.45)

    result = promote_challenger(client, "gate_features_changed", POLICY, score)
    assert result.decision.outcome == PROMOTED_FIRST and result.champion_version_after == new
    assert result.decision.reasons[0].startswith(f"champion v{old} is not comparable, so floors decide")
    assert "f_old" in client.get_model_version("gate_features_changed", new).tags["promotion_reasons"]


# The champion is never judged on rows it was trained or early-stopped on.


@pytest.mark.parametrize(
    ("seen_until", "expected_window", "note"),
    [
        (date(2025, 3, 9), "2025-03-10..2025-03-12", ""),
        (date(2025, 3, 10), "2025-03-11..2025-03-12", "trained on data up to 2025-03-10: both versions"),
        (date(2025, 3, 11), "2025-03-12..2025-03-12", "compared on 2025-03-12..2025-03-12 only"),
        (date(2025, 3, 12), None, "covers the whole holdout 2025-03-10..2025-03-12: no rows to compare"),
        (date(2025, 3, 20), None, "so the floors decide"),
        (None, "2025-03-10..2025-03-12", "records no training window"),
    ],
)
def test_comparison_rows_start_after_the_champions_last_training_day(seen_until, expected_window, note):
    rows = comparison_rows("2025-03-10..2025-03-12", "4", seen_until)
    assert rows.window == expected_window
    assert note in rows.note and (rows.note == "") == (note == "")
    assert rows == ComparisonRows(expected_window, rows.note)


def _scorer(cards: dict[str, Scorecard], seen: list[tuple[str, str]], too_small: set[str] = frozenset()):
    def score(model_name: str, version: str, window: str) -> Scorecard:
        seen.append((version, window))
        if window in too_small:
            raise HoldoutTooSmallError(f"{window}: 40 rows, 0 fraud; scoring needs both classes")
        return cards[version]

    return score


def test_champion_trained_on_part_of_the_holdout_is_compared_on_the_rest_only(module_store, trained_lightgbm):
    client = module_store.client()
    name = "gate_overlap_partial"
    # The champion's validation ran to 2025-03-10, the challenger's first holdout day.
    old, new = _champion_and_challenger(
        client,
        name,
        trained_lightgbm.logged_model_uri,
        train_window="2025-03-01..2025-03-07",
        validation_window="2025-03-08..2025-03-10",
        holdout_window="2025-03-11..2025-03-13",
    )
    seen: list[tuple[str, str]] = []
    score = _scorer({old: card(old, 0.55), new: card(new, 0.62)}, seen)
    result = promote_challenger(client, name, POLICY, score)
    assert seen == [(new, "2025-03-11..2025-03-12"), (old, "2025-03-11..2025-03-12")]
    assert (result.decision.outcome, result.champion_version_after) == (PROMOTED, new)
    assert result.decision.reasons[0] == (
        f"champion v{old} was trained on data up to 2025-03-10: both versions compared on "
        "2025-03-11..2025-03-12 only, not on the whole holdout 2025-03-10..2025-03-12"
    )
    tags = client.get_model_version(name, new).tags
    assert tags["promotion_compared_on"] == "2025-03-11..2025-03-12"
    assert decisions_frame([result]).row(0, named=True)["compared_on"] == "2025-03-11..2025-03-12"


def test_champion_trained_on_the_whole_holdout_leaves_the_floors_to_decide(module_store, trained_lightgbm):
    client = module_store.client()
    name = "gate_overlap_full"
    # E.g. a champion trained before training_dataset stopped LABEL_MATURITY_DAYS before the cutoff.
    old, new = _champion_and_challenger(
        client,
        name,
        trained_lightgbm.logged_model_uri,
        train_window="2025-03-01..2025-03-12",
        validation_window="2025-03-13..2025-03-15",
    )
    seen: list[tuple[str, str]] = []
    # The champion would "win" on rows it was trained on; it must not be scored at all.
    score = _scorer({old: card(old, 0.99), new: card(new, 0.45)}, seen)
    result = promote_challenger(client, name, POLICY, score)
    assert seen == [(new, "2025-03-10..2025-03-12")]
    assert (result.decision.outcome, result.champion_version_after) == (PROMOTED_FIRST, new)
    assert result.champion is None and result.compared_on == ""
    assert result.decision.reasons[0] == (
        f"champion v{old} was trained on data up to 2025-03-15, which covers the whole holdout "
        "2025-03-10..2025-03-12: no rows to compare on fairly, so the floors decide"
    )
    assert "beats_champion" not in {c.name for c in result.decision.checks}
    assert client.get_model_version(name, new).tags["promotion_compared_on"] == "none"


def test_too_few_labels_on_the_unseen_days_leaves_the_floors_to_decide(module_store, trained_lightgbm):
    client = module_store.client()
    name = "gate_overlap_thin"
    old, new = _champion_and_challenger(
        client, name, trained_lightgbm.logged_model_uri, validation_window="2025-03-07..2025-03-11"
    )
    seen: list[tuple[str, str]] = []
    score = _scorer({old: card(old, 0.99), new: card(new, 0.20)}, seen, too_small={"2025-03-12..2025-03-12"})
    result = promote_challenger(client, name, POLICY, score)
    assert seen == [(new, "2025-03-12..2025-03-12"), (new, "2025-03-10..2025-03-12")]
    # Judged by the floors alone on the whole holdout: PR AUC 0.20 is below the 0.30 floor.
    assert (result.decision.outcome, result.champion_version_after) == (REJECTED, old)
    assert "hold too few labels (2025-03-12..2025-03-12: 40 rows, 0 fraud" in result.decision.reasons[0]
    assert "so the floors decide" in result.decision.reasons[0]


def test_a_champion_without_window_tags_is_read_from_its_run(module_store, trained_lightgbm):
    # Versions registered before the window tags existed: the run's params say train 03-01..03-06,
    # validation 03-07..03-09.
    client = module_store.client()
    name = "gate_overlap_from_run"
    old, new = _champion_and_challenger(
        client,
        name,
        trained_lightgbm.logged_model_uri,
        run_id=trained_lightgbm.run_id,
        train_window=None,
        validation_window=None,
    )
    client.set_model_version_tag(name, new, registry.HOLDOUT_WINDOW_TAG, "2025-03-08..2025-03-12")
    seen: list[tuple[str, str]] = []
    result = promote_challenger(
        client, name, POLICY, _scorer({old: card(old, 0.5), new: card(new, 0.6)}, seen)
    )
    assert {window for _, window in seen} == {"2025-03-10..2025-03-12"}
    assert "trained on data up to 2025-03-09" in result.decision.reasons[0]


def test_a_champion_with_no_recorded_window_is_compared_on_the_whole_holdout_with_a_warning(
    module_store, trained_lightgbm
):
    client = module_store.client()
    name = "gate_overlap_unknown"
    bare_run = client.create_run(module_store.experiment_id()).info.run_id  # a run with no window params
    old, new = _champion_and_challenger(
        client,
        name,
        trained_lightgbm.logged_model_uri,
        run_id=bare_run,
        train_window=None,
        validation_window=None,
    )
    seen: list[tuple[str, str]] = []
    result = promote_challenger(
        client, name, POLICY, _scorer({old: card(old, 0.5), new: card(new, 0.6)}, seen)
    )
    assert {window for _, window in seen} == {"2025-03-10..2025-03-12"} and len(seen) == 2
    assert result.decision.outcome == PROMOTED
    assert f"champion v{old} records no training window" in result.decision.reasons[0]
