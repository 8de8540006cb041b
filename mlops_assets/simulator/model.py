"""The generative model of the card-transaction stream: pure functions that build polars frames.

The model has two layers, seeded separately so that a day can be generated on its own:

- a **population** of customers and merchants that depends only on the seed and the volume (who exists,
  their habits), built once and cached;
- the **rows of a day**, drawn from ``SeedSequence([seed, day.toordinal()])``, so day D is the same
  bytes whether it is generated alone, in a backfill or in parallel.

Fraud is learnable but noisy on purpose: a small share of rows are "attacks" on a card, and every row's
fraud probability is a logistic function of what the row looks like plus noise, so some attacks pass as
genuine and some genuine payments are labelled fraud. Before concept drift an attack is one payment
that looks unusual for the customer (far larger than their typical amount, abroad, at night, online): a
model that learns "unusual for this customer" reaches a holdout PR AUC above 0.5, never 1. Under concept
drift the fraudsters change their method to card testing: bursts of a few ordinary-sized payments on one
card within minutes, at home. The old rule's signals (large, abroad) stop marking fraud and the new one
(velocity) starts, so a model trained before the drift ranks the new fraud low, and one retrained on
mature post-drift labels learns it again from the velocity features.

Every draw is a vectorised numpy call on whole columns; there is no Python loop over rows, so a day of
a million rows takes about a second.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import numpy as np
import polars as pl

from mlops_assets import domain
from mlops_assets.domain import (
    AMOUNT_EUR,
    COUNTRY,
    CUSTOMER_ID,
    DEVICE,
    EVENT_TIMESTAMP,
    IS_FRAUD,
    LABEL_AVAILABLE_AT,
    MERCHANT_CATEGORY,
    MERCHANT_ID,
    TRANSACTION_ID,
)
from mlops_assets.simulator.drift import NEW_COUNTRIES, DriftEffects, effects_for_day, parse_drift_kinds

CATEGORIES: Final[tuple[str, ...]] = domain.MERCHANT_CATEGORIES
_N_CATEGORIES: Final[int] = len(CATEGORIES)


def _per_category(values: dict[str, float]) -> np.ndarray:
    """Turn a by-name table into an array aligned with :data:`CATEGORIES` (fails loudly on a gap)."""
    return np.array([values[category] for category in CATEGORIES], dtype=np.float64)


def _category_mask(*names: str) -> np.ndarray:
    return np.isin(np.array(CATEGORIES), names)


# Share of spend by category in a typical German card portfolio (sums to 1).
_CATEGORY_SHARE: Final = _per_category(
    {
        "grocery": 0.24,
        "restaurants": 0.14,
        "fuel": 0.08,
        "electronics": 0.05,
        "travel": 0.04,
        "online_retail": 0.14,
        "entertainment": 0.07,
        "health": 0.06,
        "utilities": 0.06,
        "fashion": 0.12,
    }
)
# Ticket size relative to the customer's typical amount.
_CATEGORY_AMOUNT_FACTOR: Final = _per_category(
    {
        "grocery": 0.7,
        "restaurants": 0.8,
        "fuel": 1.4,
        "electronics": 3.0,
        "travel": 5.0,
        "online_retail": 1.2,
        "entertainment": 0.9,
        "health": 1.0,
        "utilities": 2.0,
        "fashion": 1.6,
    }
)
# Probability that a payment in the category is card-not-present (web or app) rather than at a terminal.
_CATEGORY_ONLINE_SHARE: Final = _per_category(
    {
        "grocery": 0.05,
        "restaurants": 0.15,
        "fuel": 0.0,
        "electronics": 0.45,
        "travel": 0.75,
        "online_retail": 1.0,
        "entertainment": 0.5,
        "health": 0.1,
        "utilities": 0.85,
        "fashion": 0.35,
    }
)
# How much more often than the customer's baseline a payment in the category is made abroad.
_CATEGORY_FOREIGN_FACTOR: Final = _per_category(
    {
        "grocery": 0.8,
        "restaurants": 1.5,
        "fuel": 1.2,
        "electronics": 0.8,
        "travel": 4.0,
        "online_retail": 1.5,
        "entertainment": 1.0,
        "health": 0.3,
        "utilities": 0.1,
        "fashion": 1.0,
    }
)
_RISKY_CATEGORIES: Final = _category_mask("electronics", "online_retail", "travel")
# Covariate drift re-draws categories from these: where spend moves when a portfolio goes digital.
_DRIFT_TARGET_CATEGORIES: Final = np.flatnonzero(_category_mask("electronics", "online_retail", "travel"))

# Countries of foreign merchants in the undrifted stream, weighted towards neighbours and holiday spots.
_FOREIGN_COUNTRIES: Final[tuple[str, ...]] = (
    "AT", "FR", "NL", "PL", "IT", "ES", "CH", "DK", "BE", "CZ", "GB", "US",
)  # fmt: skip
_FOREIGN_COUNTRY_SHARE: Final = np.array([14, 12, 11, 9, 10, 10, 8, 5, 6, 5, 5, 5], dtype=np.float64) / 100
COUNTRIES: Final[tuple[str, ...]] = (domain.HOME_COUNTRY, *_FOREIGN_COUNTRIES, *NEW_COUNTRIES)

# Relative activity by hour of day (UTC is close enough to local time for the purpose): quiet nights,
# a lunchtime peak and a larger evening peak.
_HOUR_WEIGHT: Final = np.array(
    [0.6, 0.35, 0.25, 0.2, 0.25, 0.5, 1.2, 2.5, 3.6, 4.2, 4.8, 5.6,
     6.6, 6.2, 5.2, 4.9, 5.3, 6.4, 7.0, 6.6, 5.5, 4.0, 2.6, 1.4],
)  # fmt: skip
_HOUR_SHARE: Final = _HOUR_WEIGHT / _HOUR_WEIGHT.sum()
_NIGHT_END_HOUR: Final[int] = 6  # hours 0..5 count as night for the fraud rule

_DEVICE_INDEX: Final[dict[str, int]] = {device: i for i, device in enumerate(domain.DEVICES)}
_WEB, _APP = _DEVICE_INDEX["web"], _DEVICE_INDEX["mobile_app"]
_CHIP, _CONTACTLESS = _DEVICE_INDEX["pos_chip"], _DEVICE_INDEX["pos_contactless"]

# Attacks: card-not-present fraud attempts whose features are re-drawn to look unusual.
_ATTACK_SHARE: Final[float] = 0.02
_ATTACK_LOG_AMOUNT_SHIFT: Final[float] = 2.0  # attacks before the drift: e^2 ~ 7x the usual ticket
# Card-testing attacks (concept drift): rows of one burst share a card and follow each other within
# a few minutes.
_BURST_SIZE: Final[int] = 5
_TESTING_LOG_AMOUNT_SHIFT: Final[float] = -1.5  # test payments are small: e^-1.5 ~ a fifth of the usual
_BURST_GAP_US: Final[tuple[int, int]] = (20 * 1_000_000, 240 * 1_000_000)
# Fraud rule (log-odds). Intercepts put the base rate near 1.5% with and without concept drift.
_OLD_INTERCEPT: Final[float] = -7.4
_NEW_INTERCEPT: Final[float] = -7.5
_CARD_TESTING_LOGIT: Final[float] = 9.0
_LOGIT_NOISE_SD: Final[float] = 0.8

# Cap well under the validation limit so that even strong amount drift stays a valid payment.
_MAX_SIMULATED_AMOUNT_EUR: Final[float] = domain.MAX_AMOUNT_EUR / 2
_US_PER_SECOND: Final[int] = 1_000_000
_US_PER_HOUR: Final[int] = 3600 * _US_PER_SECOND
_US_PER_DAY: Final[int] = 24 * _US_PER_HOUR
_EPOCH: Final[dt.date] = dt.date(1970, 1, 1)
# Population draws use a fixed second entry that no day ordinal can take (ordinals start at 1).
_POPULATION_STREAM: Final[int] = 0


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate: a run of days, a seed, a volume and optional drift.

    Attributes:
        start: first day simulated.
        days: number of consecutive days.
        seed: seeds the population and, together with each day, that day's rows.
        rows_per_day: rows on an undrifted day; the populations scale with it.
        drift_start: first drifted day (inclusive); ``None`` for no drift.
        drift_kinds: any of :data:`mlops_assets.simulator.drift.DRIFT_KINDS` (comma-separated allowed).
        drift_strength: scales every drift knob; 1.0 is the documented magnitude, 0 is none.

    """

    start: dt.date
    days: int
    seed: int = 42
    rows_per_day: int = 2000
    drift_start: dt.date | None = None
    drift_kinds: tuple[str, ...] = ()
    drift_strength: float = 1.0

    def __post_init__(self) -> None:
        # A datetime is a date subclass; accepting one would silently mis-key the day's seed.
        if isinstance(self.start, dt.datetime) or not isinstance(self.start, dt.date):
            raise TypeError(f"start: expected a datetime.date, got {self.start!r}")
        if self.drift_start is not None and (
            isinstance(self.drift_start, dt.datetime) or not isinstance(self.drift_start, dt.date)
        ):
            raise TypeError(f"drift_start: expected a datetime.date or None, got {self.drift_start!r}")
        if self.days < 1:
            raise ValueError(f"days: expected at least 1, got {self.days}")
        if self.rows_per_day < 1:
            raise ValueError(f"rows_per_day: expected at least 1, got {self.rows_per_day}")
        if self.seed < 0:
            raise ValueError(f"seed: expected a non-negative integer, got {self.seed}")
        if self.drift_strength < 0:
            raise ValueError(f"drift_strength: expected >= 0, got {self.drift_strength}")
        object.__setattr__(self, "drift_kinds", parse_drift_kinds(self.drift_kinds))

    @property
    def dates(self) -> list[dt.date]:
        """The simulated days, in order."""
        return [self.start + dt.timedelta(days=offset) for offset in range(self.days)]

    @property
    def n_customers(self) -> int:
        """Customer population size: about four payments per customer per day, at least 200."""
        return max(200, self.rows_per_day // 4)

    @property
    def n_merchants(self) -> int:
        """Merchant population size: about twenty payments per merchant per day, at least 50."""
        return max(50, self.rows_per_day // 20)

    def effects_on(self, day: dt.date) -> DriftEffects:
        """Return the drift effects in force on ``day``."""
        return effects_for_day(day, self.drift_start, self.drift_kinds, self.drift_strength)


@dataclass(frozen=True, eq=False)
class Population:
    """Customers and merchants with stable habits; row ``i`` of each array describes entity ``i``."""

    customer_ids: pl.Series
    customer_activity: np.ndarray  # probability that a payment is the customer's (sums to 1)
    customer_log_amount: np.ndarray  # log of the typical amount in EUR
    customer_amount_sigma: np.ndarray  # spread of log amounts
    customer_favourites: np.ndarray  # (n, 2) favourite category indices
    customer_foreign_rate: np.ndarray  # baseline probability of paying abroad
    customer_prefers_web: np.ndarray  # web over the mobile app when paying online
    customer_prefers_contactless: np.ndarray  # contactless over chip at a terminal
    merchant_ids: pl.Series
    merchant_category: np.ndarray
    merchant_country: np.ndarray  # index into COUNTRIES
    # Merchants sorted by selection group (see _merchant_group), with cumulative popularity, so that a
    # weighted pick inside a group is one searchsorted over all rows.
    merchant_order: np.ndarray
    group_start: np.ndarray
    group_stop: np.ndarray
    cumulative_popularity: np.ndarray

    @property
    def n_customers(self) -> int:
        """Number of customers."""
        return len(self.customer_ids)


def _merchant_group(category: np.ndarray, foreign: np.ndarray, new_country: np.ndarray) -> np.ndarray:
    """Map rows to selection groups: domestic, foreign and new-country merchants per category."""
    return np.where(new_country, 2 * _N_CATEGORIES + category, 2 * category + foreign.astype(np.int64))


def _format_ids(prefix: str, count: int, width: int) -> pl.Series:
    # Widen past the default only when needed, so that every id of a population has the same width.
    width = max(width, len(str(count - 1)))
    return pl.select(
        pl.format(prefix + "{}", pl.int_range(count).cast(pl.Utf8).str.zfill(width)).alias("id")
    ).to_series()


@lru_cache(maxsize=8)
def build_population(seed: int, n_customers: int, n_merchants: int) -> Population:
    """Draw the customer and merchant population from the seed alone (cached: it never changes).

    Besides ``n_merchants`` regular merchants, a block of merchants in :data:`NEW_COUNTRIES` is drawn up
    front; only ``new_categories`` drift sends payments to them, and drawing them here keeps their ids
    and categories the same whichever day the drift starts.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, _POPULATION_STREAM]))

    activity = rng.gamma(shape=1.2, scale=1.0, size=n_customers)
    favourites = rng.choice(_N_CATEGORIES, size=(n_customers, 2), p=_CATEGORY_SHARE)
    log_amount = rng.normal(np.log(30.0), 0.5, size=n_customers)
    amount_sigma = rng.uniform(0.45, 0.85, size=n_customers)
    foreign_rate = rng.beta(0.6, 20.0, size=n_customers)
    prefers_web = rng.random(n_customers) < 0.4
    prefers_contactless = rng.random(n_customers) < 0.6

    # The first merchants cover every (category, domestic/foreign) group so that no pick hits an empty one.
    n_regular = max(n_merchants, 2 * _N_CATEGORIES)
    regular_category = rng.choice(_N_CATEGORIES, size=n_regular, p=_CATEGORY_SHARE)
    regular_foreign = rng.random(n_regular) < 0.15
    regular_category[: 2 * _N_CATEGORIES] = np.tile(np.arange(_N_CATEGORIES), 2)
    regular_foreign[: 2 * _N_CATEGORIES] = np.repeat([False, True], _N_CATEGORIES)
    foreign_country = 1 + rng.choice(len(_FOREIGN_COUNTRIES), size=n_regular, p=_FOREIGN_COUNTRY_SHARE)
    regular_country = np.where(regular_foreign, foreign_country, 0)

    n_new = max(_N_CATEGORIES, n_merchants // 5)
    new_category = rng.choice(_N_CATEGORIES, size=n_new, p=_CATEGORY_SHARE)
    new_category[:_N_CATEGORIES] = np.arange(_N_CATEGORIES)
    new_country = 1 + len(_FOREIGN_COUNTRIES) + rng.integers(0, len(NEW_COUNTRIES), size=n_new)

    category = np.concatenate([regular_category, new_category])
    country = np.concatenate([regular_country, new_country])
    is_new = np.concatenate([np.zeros(n_regular, dtype=bool), np.ones(n_new, dtype=bool)])
    group = _merchant_group(category, country != 0, is_new)
    popularity = rng.lognormal(0.0, 1.0, size=len(category))

    order = np.argsort(group, kind="stable")
    n_groups = 3 * _N_CATEGORIES
    group_start = np.searchsorted(group[order], np.arange(n_groups), side="left")
    group_stop = np.searchsorted(group[order], np.arange(n_groups), side="right")
    cumulative = np.concatenate([[0.0], np.cumsum(popularity[order])])

    return Population(
        customer_ids=_format_ids("c", n_customers, 6),
        customer_activity=activity / activity.sum(),
        customer_log_amount=log_amount,
        customer_amount_sigma=amount_sigma,
        customer_favourites=favourites,
        customer_foreign_rate=foreign_rate,
        customer_prefers_web=prefers_web,
        customer_prefers_contactless=prefers_contactless,
        merchant_ids=_format_ids("m", len(category), 5),
        merchant_category=category,
        merchant_country=country,
        merchant_order=order,
        group_start=group_start,
        group_stop=group_stop,
        cumulative_popularity=cumulative,
    )


def population_for(config: SimulationConfig) -> Population:
    """Return the (cached) population of a configuration."""
    return build_population(config.seed, config.n_customers, config.n_merchants)


def rows_on(day: dt.date, config: SimulationConfig) -> int:
    """Count the rows simulated on ``day``: the configured volume times any volume drift."""
    return max(1, round(config.rows_per_day * config.effects_on(day).volume_factor))


def _pick_merchants(population: Population, group: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Pick one merchant per row within its group, weighted by merchant popularity."""
    start = population.group_start[group]
    stop = population.group_stop[group]
    cumulative = population.cumulative_popularity
    low, high = cumulative[start], cumulative[stop]
    position = np.searchsorted(cumulative, low + uniform * (high - low), side="right") - 1
    # Float round-off at a group edge must not leak into the neighbouring group.
    position = np.clip(position, start, stop - 1)
    return population.merchant_order[position]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def simulate_day(day: dt.date, config: SimulationConfig) -> pl.DataFrame:
    """Simulate one day of transactions, sorted by ``event_timestamp``.

    The result depends only on ``(config, day)``: not on ``config.start`` or ``config.days``, so a day
    generated alone equals the same day inside any longer run. Columns and types follow
    :data:`mlops_assets.domain.TRANSACTION_COLUMNS`.
    """
    population = population_for(config)
    effects = config.effects_on(day)
    n = rows_on(day, config)
    # One independent stream per aspect, so that a drift knob acting on one aspect does not reshuffle the
    # draws of the others: a drifted day keeps its undrifted twin's customers and times (unless the
    # volume changes) and differs downstream of what the drift touches.
    (
        rng_customer,
        rng_attack,
        rng_category,
        rng_time,
        rng_place,
        rng_device,
        rng_amount,
        rng_fraud,
        rng_label,
    ) = (np.random.default_rng(s) for s in np.random.SeedSequence([config.seed, day.toordinal()]).spawn(9))

    customer = rng_customer.choice(population.n_customers, size=n, p=population.customer_activity)
    attack = rng_attack.random(n) < _ATTACK_SHARE
    # Under concept drift, that share of attacks are card-testing bursts; the rest keep the old method.
    testing = attack & (rng_attack.random(n) < effects.concept_weight)
    burst_member = np.flatnonzero(testing)
    burst_leader = burst_member[(np.arange(len(burst_member)) // _BURST_SIZE) * _BURST_SIZE]
    customer[burst_member] = customer[burst_leader]
    attack = attack & ~testing

    # Category: the customer's two favourites most of the time, the market mix otherwise; attacks and
    # covariate drift pull towards the online/electronics/travel categories.
    pick = rng_category.random(n)
    market = rng_category.choice(_N_CATEGORIES, size=n, p=_CATEGORY_SHARE)
    risky = rng_category.choice(_DRIFT_TARGET_CATEGORIES, size=n)
    favourites = population.customer_favourites[customer]
    category = np.where(pick < 0.45, favourites[:, 0], np.where(pick < 0.7, favourites[:, 1], market))
    redraw = rng_category.random(n)
    category = np.where(attack & (redraw < 0.6), risky, category)
    category = np.where(~attack & (redraw < effects.category_shift), risky, category)

    # Time of day: the daily rhythm, except that many attacks happen at night.
    hour = rng_time.choice(24, size=n, p=_HOUR_SHARE)
    night_hour = rng_time.integers(0, _NIGHT_END_HOUR, size=n)
    hour = np.where(attack & (rng_time.random(n) < 0.45), night_hour, hour)
    offset_us = hour * _US_PER_HOUR + rng_time.integers(0, _US_PER_HOUR, size=n)
    gaps = rng_time.integers(*_BURST_GAP_US, size=len(burst_member))
    position = np.arange(len(burst_member)) % _BURST_SIZE
    offset_us[burst_member] = np.minimum(
        offset_us[burst_leader] + position * gaps, _US_PER_DAY - 1
    )  # fmt: skip
    event_us = (day - _EPOCH).days * _US_PER_DAY + offset_us

    # Place: abroad at the customer's usual rate for the category (half of attacks are abroad); new
    # countries only under drift. The merchant, and so the country, is picked within that group.
    foreign_probability = np.minimum(
        population.customer_foreign_rate[customer] * _CATEGORY_FOREIGN_FACTOR[category], 0.9
    )
    foreign_probability = np.where(attack, 0.5, foreign_probability)
    foreign = rng_place.random(n) < foreign_probability
    new_country = rng_place.random(n) < effects.new_country_share
    merchant = _pick_merchants(
        population, _merchant_group(category, foreign, new_country), rng_place.random(n)
    )
    country = population.merchant_country[merchant]
    abroad = country != 0

    # Device: card-not-present payments use the customer's preferred of web/app; attackers favour the
    # web. Terminal payments use chip or contactless by habit, with some slack either way.
    online_share = _CATEGORY_ONLINE_SHARE[category]
    online_share = np.where(attack & (online_share > 0), np.maximum(online_share, 0.7), online_share)
    online = rng_device.random(n) < online_share
    habit_kept = rng_device.random(n) >= 0.15
    web = np.where(
        attack, rng_device.random(n) < 0.6, population.customer_prefers_web[customer] == habit_kept
    )
    contactless = population.customer_prefers_contactless[customer] == habit_kept
    device = np.where(online, np.where(web, _WEB, _APP), np.where(contactless, _CONTACTLESS, _CHIP))

    # Amount: lognormal around the customer's typical ticket for the category; attacks run large.
    log_amount = (
        population.customer_log_amount[customer]
        + np.log(_CATEGORY_AMOUNT_FACTOR[category])
        + population.customer_amount_sigma[customer] * rng_amount.standard_normal(n)
    )
    log_amount = log_amount + np.where(attack, rng_amount.normal(_ATTACK_LOG_AMOUNT_SHIFT, 0.5, size=n), 0.0)
    log_amount = log_amount + np.where(testing, _TESTING_LOG_AMOUNT_SHIFT, 0.0)
    amount = np.exp(log_amount) * effects.amount_scale
    amount = np.maximum(np.round(np.minimum(amount, _MAX_SIMULATED_AMOUNT_EUR), 2), 0.01)

    # Fraud: a noisy logistic rule. The original rule keys on behaviour unusual for the customer;
    # concept drift blends in a rule under which card testing is fraud and large payments abroad are not.
    log_ratio = np.clip(np.log(amount) - population.customer_log_amount[customer], -2.0, 4.0)
    night = hour < _NIGHT_END_HOUR
    old_logit = (
        _OLD_INTERCEPT
        + 2.0 * log_ratio
        + 2.0 * abroad
        + 0.6 * night
        + 0.5 * _RISKY_CATEGORIES[category]
        + 0.4 * (device == _WEB)
    )
    new_logit = _NEW_INTERCEPT + _CARD_TESTING_LOGIT * testing
    weight = effects.concept_weight
    logit = (1.0 - weight) * old_logit + weight * new_logit + _LOGIT_NOISE_SD * rng_fraud.standard_normal(n)
    is_fraud = rng_fraud.random(n) < _sigmoid(logit)

    # Labels arrive after settlement for genuine payments, later (chargebacks) for fraud.
    delay_days = np.where(
        is_fraud,
        np.minimum(2.0 + rng_label.gamma(2.0, 3.0, size=n), 45.0),
        np.minimum(1.0 + rng_label.gamma(1.5, 1.0, size=n), 10.0),
    )
    label_us = event_us + (delay_days * 86_400).astype(np.int64) * _US_PER_SECOND

    order = np.argsort(event_us, kind="stable")
    return _to_frame(
        day,
        population,
        event_us=event_us[order],
        customer=customer[order],
        merchant=merchant[order],
        category=category[order],
        country=country[order],
        device=device[order],
        amount=amount[order],
        is_fraud=is_fraud[order],
        label_us=label_us[order],
    )


def _utc_datetimes(epoch_us: np.ndarray, name: str) -> pl.Series:
    return pl.Series(name, epoch_us.astype("datetime64[us]")).dt.replace_time_zone("UTC")


def _to_frame(
    day: dt.date,
    population: Population,
    *,
    event_us: np.ndarray,
    customer: np.ndarray,
    merchant: np.ndarray,
    category: np.ndarray,
    country: np.ndarray,
    device: np.ndarray,
    amount: np.ndarray,
    is_fraud: np.ndarray,
    label_us: np.ndarray,
) -> pl.DataFrame:
    """Assemble the contract frame; ids are numbered in time order so they sort like the rows."""
    n = len(event_us)
    transaction_id = pl.select(
        pl.format(f"tx-{day:%Y%m%d}-{{}}", pl.int_range(n).cast(pl.Utf8).str.zfill(8))
    ).to_series()
    frame = pl.DataFrame(
        {
            TRANSACTION_ID: transaction_id,
            EVENT_TIMESTAMP: _utc_datetimes(event_us, EVENT_TIMESTAMP),
            CUSTOMER_ID: population.customer_ids.gather(customer),
            MERCHANT_ID: population.merchant_ids.gather(merchant),
            MERCHANT_CATEGORY: pl.Series(CATEGORIES, dtype=pl.Utf8).gather(category),
            COUNTRY: pl.Series(COUNTRIES, dtype=pl.Utf8).gather(country),
            DEVICE: pl.Series(domain.DEVICES, dtype=pl.Utf8).gather(device),
            AMOUNT_EUR: pl.Series(amount, dtype=pl.Float64),
            IS_FRAUD: pl.Series(is_fraud.astype(np.int8), dtype=pl.Int8),
            LABEL_AVAILABLE_AT: _utc_datetimes(label_us, LABEL_AVAILABLE_AT),
        }
    )
    return frame.select(domain.TRANSACTION_COLUMNS)


def simulate(config: SimulationConfig) -> pl.DataFrame:
    """Simulate every day of ``config`` into one frame (convenient for tests and notebooks)."""
    return pl.concat([simulate_day(day, config) for day in config.dates], how="vertical")
