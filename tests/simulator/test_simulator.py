from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_assets import domain
from mlops_assets.simulator import (
    SimulationConfig,
    landing_path,
    parse_drift_kinds,
    simulate,
    simulate_day,
    write_days,
)
from mlops_assets.simulator.cli import main
from mlops_assets.simulator.drift import NEW_COUNTRIES, NO_DRIFT, effects_for_day
from mlops_assets.simulator.model import rows_on

START = dt.date(2026, 3, 1)
DRIFT_START = dt.date(2026, 3, 4)
EXPECTED_SCHEMA = {
    "transaction_id": pl.Utf8,
    "event_timestamp": pl.Datetime("us", "UTC"),
    "customer_id": pl.Utf8,
    "merchant_id": pl.Utf8,
    "merchant_category": pl.Utf8,
    "country": pl.Utf8,
    "device": pl.Utf8,
    "amount_eur": pl.Float64,
    "is_fraud": pl.Int8,
    "label_available_at": pl.Datetime("us", "UTC"),
}
RISKY = ("electronics", "online_retail", "travel")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hashes(paths: list[Path]) -> list[str]:
    return [sha256(path) for path in paths]


def drifted(kind: str, rows_per_day: int = 8000, days: int = 6) -> pl.DataFrame:
    config = SimulationConfig(
        START, days, rows_per_day=rows_per_day, drift_start=DRIFT_START, drift_kinds=(kind,)
    )
    return simulate(config).with_columns(after=pl.col("event_timestamp").dt.date() >= DRIFT_START)


@pytest.fixture(scope="module")
def stream() -> pl.DataFrame:
    """Five undrifted days, large enough for stable rates."""
    return simulate(SimulationConfig(START, 5, rows_per_day=20_000))


# --- reproducibility -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_same_arguments_give_byte_identical_files(tmp_path: Path, fmt: str) -> None:
    config = SimulationConfig(START, 3, seed=7, rows_per_day=3000, drift_start=DRIFT_START)
    first = write_days(config, tmp_path / "a", fmt)
    second = write_days(config, tmp_path / "b", fmt)
    rerun = write_days(config, tmp_path / "a", fmt)

    assert [p.relative_to(tmp_path / "a") for p in first] == [
        Path("landing/2026-03-01") / f"transactions.{fmt}",
        Path("landing/2026-03-02") / f"transactions.{fmt}",
        Path("landing/2026-03-03") / f"transactions.{fmt}",
    ]
    assert hashes(first) == hashes(second) == hashes(rerun)
    assert len(set(hashes(first))) == 3  # every day differs from the others


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_different_seed_gives_different_files(tmp_path: Path, fmt: str) -> None:
    one = write_days(SimulationConfig(START, 2, seed=1, rows_per_day=500), tmp_path / "one", fmt)
    two = write_days(SimulationConfig(START, 2, seed=2, rows_per_day=500), tmp_path / "two", fmt)
    assert set(hashes(one)).isdisjoint(hashes(two))


def test_day_generated_alone_equals_day_within_a_longer_run(tmp_path: Path) -> None:
    day = START + dt.timedelta(days=3)
    alone = write_days(SimulationConfig(day, 1, rows_per_day=1500), tmp_path / "alone")
    within = write_days(SimulationConfig(START, 5, rows_per_day=1500), tmp_path / "within")
    assert within[3] == tmp_path / "within" / "landing" / "2026-03-04" / "transactions.parquet"
    assert sha256(alone[0]) == sha256(within[3])


def test_files_read_back_as_the_simulated_frame(tmp_path: Path) -> None:
    config = SimulationConfig(START, 1, rows_per_day=1000)
    expected = simulate_day(START, config)
    parquet = write_days(config, tmp_path / "parquet", "parquet")[0]
    csv = write_days(config, tmp_path / "csv", "csv")[0]

    assert pl.read_parquet(parquet).equals(expected)
    from_csv = pl.read_csv(csv, try_parse_dates=True, schema_overrides={"is_fraud": pl.Int8})
    assert from_csv.schema == expected.schema
    assert from_csv.equals(expected)


def test_switching_format_replaces_the_days_file(tmp_path: Path) -> None:
    config = SimulationConfig(START, 1, rows_per_day=200)
    write_days(config, tmp_path, "parquet")
    write_days(config, tmp_path, "csv")
    day_dir = tmp_path / "landing" / "2026-03-01"
    assert sorted(p.name for p in day_dir.iterdir()) == ["transactions.csv"]


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = SimulationConfig(START, 1, rows_per_day=200)
    (path,) = write_days(config, tmp_path)
    before = sha256(path)

    def broken_write(self: pl.DataFrame, file: Path, **kwargs: object) -> None:
        Path(file).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", broken_write)
    with pytest.raises(OSError, match="disk full"):
        write_days(SimulationConfig(START, 1, seed=99, rows_per_day=200), tmp_path)

    assert sha256(path) == before
    assert [p.name for p in path.parent.iterdir()] == ["transactions.parquet"]


# --- the contract ----------------------------------------------------------------------------------


def test_columns_and_types_follow_the_contract(stream: pl.DataFrame) -> None:
    assert tuple(stream.columns) == domain.TRANSACTION_COLUMNS
    assert dict(stream.schema) == EXPECTED_SCHEMA
    assert stream.null_count().sum_horizontal().item() == 0
    assert set(stream["merchant_category"].unique()) == set(domain.MERCHANT_CATEGORIES)
    assert set(stream["device"].unique()) == set(domain.DEVICES)
    assert stream["country"].str.contains(domain.COUNTRY_CODE_PATTERN).all()
    assert stream["customer_id"].str.contains(r"^c\d{6}$").all()
    assert stream["merchant_id"].str.contains(r"^m\d{5}$").all()
    assert set(stream["is_fraud"].unique()) == {0, 1}
    amounts = stream["amount_eur"]
    assert amounts.min() > 0
    assert amounts.max() < domain.MAX_AMOUNT_EUR
    assert (amounts * 100).round(6).equals((amounts * 100).round(0))  # whole cents


def test_rows_lie_inside_their_day_in_time_order_with_unique_ids(stream: pl.DataFrame) -> None:
    per_day = stream.with_columns(
        day=pl.col("transaction_id").str.slice(3, 8).str.to_date("%Y%m%d"),
    )
    assert (per_day["event_timestamp"].dt.date() == per_day["day"]).all()
    assert stream["transaction_id"].n_unique() == stream.height == 5 * 20_000
    for _, day in per_day.group_by("day"):
        assert day["event_timestamp"].is_sorted()
        assert day["transaction_id"].is_sorted()
    delay_days = (stream["label_available_at"] - stream["event_timestamp"]).dt.total_seconds() / 86_400
    assert delay_days.min() >= 1
    assert delay_days.max() <= 45
    fraud_delay = delay_days.filter(stream["is_fraud"] == 1).mean()
    genuine_delay = delay_days.filter(stream["is_fraud"] == 0).mean()
    assert fraud_delay > 2 * genuine_delay  # chargebacks take longer


def test_the_stream_looks_like_a_card_portfolio(stream: pl.DataFrame) -> None:
    home_share = (stream["country"] == domain.HOME_COUNTRY).mean()
    assert 0.9 < home_share < 0.99
    hours = stream["event_timestamp"].dt.hour()
    assert (hours < 6).mean() < 0.05  # quiet nights
    assert (hours.is_between(17, 20)).mean() > 0.2  # busy evenings
    # A stable population: customers come back across days, merchants keep their category.
    customers_per_day = stream.group_by(pl.col("event_timestamp").dt.date()).agg(
        pl.col("customer_id").unique()
    )
    first, last = customers_per_day.sort("event_timestamp")["customer_id"].to_list()[::4]
    assert len(set(first) & set(last)) > 0.5 * len(set(first))
    categories_per_merchant = stream.group_by("merchant_id").agg(pl.col("merchant_category").n_unique())
    assert categories_per_merchant["merchant_category"].max() == 1
    assert stream["customer_id"].n_unique() <= 20_000 // 4


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    day=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31)),
    rows=st.integers(min_value=1, max_value=300),
)
def test_any_seed_and_day_satisfy_the_contract(seed: int, day: dt.date, rows: int) -> None:
    frame = simulate_day(day, SimulationConfig(day, 1, seed=seed, rows_per_day=rows))
    assert frame.height == rows
    assert dict(frame.schema) == EXPECTED_SCHEMA
    assert (frame["event_timestamp"].dt.date() == day).all()
    assert frame["event_timestamp"].is_sorted()
    assert (frame["label_available_at"] > frame["event_timestamp"]).all()
    assert frame["amount_eur"].min() > 0


# --- fraud -----------------------------------------------------------------------------------------


def test_fraud_rate_is_plausible_and_fraud_is_learnable(stream: pl.DataFrame) -> None:
    base_rate = stream["is_fraud"].mean()
    assert 0.008 < base_rate < 0.025

    flagged = stream.with_columns(
        amount_ratio=pl.col("amount_eur") / pl.col("amount_eur").median().over("customer_id"),
    ).with_columns(
        flags=(pl.col("amount_ratio") > 3).cast(pl.Int32)
        + (pl.col("country") != domain.HOME_COUNTRY)
        + (pl.col("event_timestamp").dt.hour() < 6)
        + (pl.col("device") == "web")
    )
    rates = flagged.group_by(pl.col("flags").clip(0, 3)).agg(pl.col("is_fraud").mean()).sort("flags")
    assert rates["flags"].to_list() == [0, 1, 2, 3]
    assert rates["is_fraud"].is_sorted()  # every extra warning sign raises the risk
    assert rates["is_fraud"][0] < base_rate
    assert rates["is_fraud"][2] > 4 * base_rate
    high_foreign_night = flagged.filter(
        pl.col("amount_ratio") > 3,
        pl.col("country") != domain.HOME_COUNTRY,
        pl.col("event_timestamp").dt.hour() < 6,
    )
    assert high_foreign_night["is_fraud"].mean() > 10 * base_rate
    # ... but not deterministic: some fraud hides among ordinary-looking rows.
    assert flagged.filter(pl.col("flags") == 0)["is_fraud"].sum() > 0


# --- drift -----------------------------------------------------------------------------------------


def test_drift_leaves_the_days_before_its_start_untouched() -> None:
    plain = simulate(SimulationConfig(START, 4, rows_per_day=500))
    config = SimulationConfig(
        START, 4, rows_per_day=500, drift_start=DRIFT_START, drift_kinds=("covariate,concept", "volume_drop")
    )
    drifted_run = simulate(config)
    before = pl.col("event_timestamp").dt.date() < DRIFT_START
    assert drifted_run.filter(before).equals(plain.filter(before))
    assert not drifted_run.filter(~before).equals(plain.filter(~before))


def test_zero_strength_is_no_drift() -> None:
    config = SimulationConfig(START, 1, rows_per_day=300, drift_start=START, drift_kinds=("covariate",))
    zero = SimulationConfig(
        START, 1, rows_per_day=300, drift_start=START, drift_kinds=("covariate",), drift_strength=0.0
    )
    assert config.effects_on(START) != NO_DRIFT
    assert zero.effects_on(START) == NO_DRIFT
    assert simulate_day(START, zero).equals(simulate_day(START, SimulationConfig(START, 1, rows_per_day=300)))


def test_covariate_drift_raises_amounts_and_shifts_the_category_mix() -> None:
    frame = drifted("covariate")
    summary = frame.group_by("after").agg(
        mean_amount=pl.col("amount_eur").mean(),
        risky_share=pl.col("merchant_category").is_in(RISKY).mean(),
        foreign_share=(pl.col("country") != domain.HOME_COUNTRY).mean(),
    )
    before, after = (summary.filter(pl.col("after") == flag).row(0, named=True) for flag in (False, True))
    assert after["mean_amount"] > 1.8 * before["mean_amount"]
    assert after["risky_share"] > before["risky_share"] + 0.15
    assert set(frame["country"].unique()) <= {domain.HOME_COUNTRY, *frame.filter(~pl.col("after"))["country"]}


def test_new_categories_drift_brings_unseen_countries_and_merchants() -> None:
    frame = drifted("new_categories")
    before, after = frame.filter(~pl.col("after")), frame.filter(pl.col("after"))
    unseen_countries = set(after["country"]) - set(before["country"])
    assert unseen_countries == set(NEW_COUNTRIES)
    assert after["country"].is_in(NEW_COUNTRIES).mean() > 0.15
    assert not before["country"].is_in(NEW_COUNTRIES).any()
    new_merchants = set(after["merchant_id"]) - set(before["merchant_id"])
    assert len(new_merchants) > 20
    assert after["merchant_category"].is_in(domain.MERCHANT_CATEGORIES).all()


def test_concept_drift_changes_who_commits_fraud() -> None:
    # Card testing: a payment within five minutes of the same card's previous one, for a small amount.
    gap = pl.col("event_timestamp").diff().over("customer_id", order_by="event_timestamp")
    frame = drifted("concept", rows_per_day=15_000).with_columns(
        new_pattern=gap < pl.duration(minutes=5),
        old_pattern=pl.col("country") != domain.HOME_COUNTRY,
    )
    rates = {
        (after, pattern): frame.filter(pl.col("after") == after, pl.col(pattern))["is_fraud"].mean()
        for after in (False, True)
        for pattern in ("new_pattern", "old_pattern")
    }
    assert rates[(True, "new_pattern")] > 8 * rates[(False, "new_pattern")]
    assert rates[(True, "old_pattern")] < 0.5 * rates[(False, "old_pattern")]
    # The inputs barely moved: only the 2 % of rows that are attacks went from large to small payments,
    # which moves the median amount by about two percentiles; the labels moved a lot.
    amounts = frame.group_by("after").agg(pl.col("amount_eur").median()).sort("after")["amount_eur"]
    assert amounts[1] == pytest.approx(amounts[0], rel=0.1)
    overall = frame.group_by("after").agg(pl.col("is_fraud").mean()).sort("after")["is_fraud"]
    assert 0.005 < overall[0] < 0.03 and 0.005 < overall[1] < 0.03


def test_volume_drop_cuts_daily_rows() -> None:
    frame = drifted("volume_drop", rows_per_day=1000)
    rows_per_day = frame.group_by(pl.col("event_timestamp").dt.date().alias("day")).len().sort("day")
    assert rows_per_day["len"].to_list() == [1000, 1000, 1000, 300, 300, 300]
    stronger = SimulationConfig(
        START, 1, rows_per_day=1000, drift_start=START, drift_kinds=("volume_drop",), drift_strength=2.0
    )
    assert rows_on(START, stronger) == 90


def test_drift_kinds_parse_and_validate() -> None:
    assert parse_drift_kinds("concept") == ("concept",)
    assert SimulationConfig(START, 1, drift_kinds="covariate").drift_kinds == ("covariate",)  # type: ignore[arg-type]
    assert parse_drift_kinds(["covariate,concept", "Volume-Drop", "covariate", ""]) == (
        "covariate",
        "concept",
        "volume_drop",
    )
    with pytest.raises(ValueError, match="drift kind 'seasonal'"):
        parse_drift_kinds(["covariate,seasonal"])
    assert effects_for_day(START, None, ["covariate"], 1.0) == NO_DRIFT
    assert effects_for_day(START, START + dt.timedelta(days=1), ["covariate"], 1.0) == NO_DRIFT
    effects = effects_for_day(START, START, ["covariate", "new_categories"], 10.0)
    assert effects.new_country_share == 0.9
    assert effects.amount_scale == pytest.approx(9.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"days": 0}, "days"),
        ({"rows_per_day": 0}, "rows_per_day"),
        ({"seed": -1}, "seed"),
        ({"drift_strength": -0.5}, "drift_strength"),
        ({"drift_kinds": ("sudden",)}, "drift kind"),
    ],
)
def test_invalid_configuration_names_the_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimulationConfig(START, **{"days": 1, **kwargs})  # type: ignore[arg-type]


def test_configuration_rejects_a_datetime_for_a_date() -> None:
    with pytest.raises(TypeError, match="start"):
        SimulationConfig(dt.datetime(2026, 3, 1, 12), 1)


# --- command line ----------------------------------------------------------------------------------


def test_cli_writes_the_files_and_prints_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--start", "2026-03-01", "--days", "4", "--seed", "3", "--rows-per-day", "400", "--format", "csv",
        "--drift-start", "2026-03-03", "--drift-kind", "covariate", "--drift-kind", "volume_drop,concept",
        "--data-dir", str(tmp_path),
    ]  # fmt: skip
    assert main(argv) == 0

    out = capsys.readouterr().out.splitlines()
    assert len(out) == 5
    assert out[0].startswith("2026-03-01  rows=      400  drift=-")
    assert out[3].startswith("2026-03-04  rows=      120  drift=covariate,volume_drop,concept")
    assert re.match(r"wrote 4 files, 1,040 rows in \d+\.\d\ds \([\d,]+ rows/s\)", out[4])

    expected = SimulationConfig(
        START,
        4,
        seed=3,
        rows_per_day=400,
        drift_start=dt.date(2026, 3, 3),
        drift_kinds=("covariate", "volume_drop", "concept"),
    )
    for day in expected.dates:
        path = landing_path(tmp_path, day, "csv")
        frame = pl.read_csv(path, try_parse_dates=True, schema_overrides={"is_fraud": pl.Int8})
        assert frame.equals(simulate_day(day, expected))


def test_cli_defaults_to_the_data_dir_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "env"))
    assert main(["--start", "2026-03-01", "--rows-per-day", "50", "--quiet"]) == 0
    assert (tmp_path / "env" / "landing" / "2026-03-01" / "transactions.parquet").is_file()
    assert capsys.readouterr().out.startswith("wrote 1 files, 50 rows")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--start", "2026-13-01"], "expected YYYY-MM-DD"),
        (["--start", "2026-03-01", "--drift-kind", "seasonal", "--drift-start", "2026-03-01"], "seasonal"),
        (["--start", "2026-03-01", "--drift-kind", "concept"], "needs --drift-start"),
        (["--start", "2026-03-01", "--days", "0"], "positive integer"),
    ],
)
def test_cli_rejects_bad_arguments(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--data-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "landing").exists()
