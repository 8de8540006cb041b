"""Drift knobs: what changes in the stream from the drift start date on, and by how much.

Each kind targets one thing a monitoring stage should catch, so a scenario can switch exactly one failure
mode on and check that exactly the matching alarm fires:

- ``covariate``: the inputs move (amounts scale up, the category mix leans to online and travel spend)
  while the fraud rule stays the same.
- ``new_categories``: values never seen in training appear (new countries, served by new merchants).
- ``concept``: the fraud rule changes (fraudsters switch from large payments abroad to bursts of small
  card-testing payments); the inputs barely move, so only performance monitoring can see it.
- ``volume_drop``: fewer rows arrive, the kind of incident freshness and volume checks exist for.

The effects are plain numbers (:class:`DriftEffects`) so the generative model applies them without
knowing which kinds produced them, and a strength of 0 is exactly "no drift".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

COVARIATE: Final[str] = "covariate"
NEW_CATEGORIES: Final[str] = "new_categories"
CONCEPT: Final[str] = "concept"
VOLUME_DROP: Final[str] = "volume_drop"
DRIFT_KINDS: Final[tuple[str, ...]] = (COVARIATE, NEW_CATEGORIES, CONCEPT, VOLUME_DROP)

# Countries that the undrifted stream never produces: their appearance is the `new_categories` signal.
NEW_COUNTRIES: Final[tuple[str, ...]] = ("BR", "NG", "VN")

# Magnitudes at strength 1.0, chosen to be obvious to a drift test yet plausible for a real portfolio.
_AMOUNT_GROWTH_AT_FULL: Final[float] = 0.8  # amounts x1.8
_CATEGORY_SHIFT_AT_FULL: Final[float] = 0.25  # 35% of rows re-drawn from online/electronics/travel
_NEW_COUNTRY_SHARE_AT_FULL: Final[float] = 0.2  # 20% of rows at merchants in new countries
_VOLUME_AT_FULL: Final[float] = 0.3  # 30% of the usual daily volume


@dataclass(frozen=True)
class DriftEffects:
    """The numeric effect of drift on one day; :data:`NO_DRIFT` leaves the stream untouched.

    Attributes:
        amount_scale: multiplier on every amount.
        category_shift: share of rows whose category is re-drawn from the drift target categories.
        new_country_share: share of rows served by merchants in :data:`NEW_COUNTRIES`.
        concept_weight: 0 keeps the original fraud rule, 1 replaces it entirely by the drifted one.
        volume_factor: multiplier on the number of rows of the day.

    """

    amount_scale: float = 1.0
    category_shift: float = 0.0
    new_country_share: float = 0.0
    concept_weight: float = 0.0
    volume_factor: float = 1.0


NO_DRIFT: Final[DriftEffects] = DriftEffects()


def parse_drift_kinds(values: Iterable[str]) -> tuple[str, ...]:
    """Normalise drift kinds given repeatedly and/or comma-separated into a duplicate-free tuple.

    The order of first appearance is kept so that the configuration echoes what the user typed.

    Raises:
        ValueError: a kind is not one of :data:`DRIFT_KINDS`.

    """
    if isinstance(values, str):  # a lone string is one value, not an iterable of one-letter kinds
        values = [values]
    kinds: list[str] = []
    for value in values:
        for part in value.split(","):
            kind = part.strip().lower().replace("-", "_")
            if not kind:
                continue
            if kind not in DRIFT_KINDS:
                raise ValueError(f"drift kind {part.strip()!r}: expected one of {', '.join(DRIFT_KINDS)}")
            if kind not in kinds:
                kinds.append(kind)
    return tuple(kinds)


def effects_for_day(
    day: dt.date,
    drift_start: dt.date | None,
    drift_kinds: Iterable[str],
    strength: float,
) -> DriftEffects:
    """Return the drift effects in force on ``day``: none before ``drift_start``, full from it on.

    The switch is a step, not a ramp, so that a scenario knows the exact first drifted partition.
    Strength scales every knob; shares are capped so that a large strength cannot produce an
    impossible probability or an empty day.
    """
    kinds = parse_drift_kinds(drift_kinds)
    if drift_start is None or day < drift_start or not kinds or strength <= 0:
        return NO_DRIFT
    bounded = min(strength, 1.0)
    return DriftEffects(
        amount_scale=1.0 + _AMOUNT_GROWTH_AT_FULL * strength if COVARIATE in kinds else 1.0,
        category_shift=min(_CATEGORY_SHIFT_AT_FULL * strength, 0.9) if COVARIATE in kinds else 0.0,
        new_country_share=(
            min(_NEW_COUNTRY_SHARE_AT_FULL * strength, 0.9) if NEW_CATEGORIES in kinds else 0.0
        ),
        concept_weight=bounded if CONCEPT in kinds else 0.0,
        volume_factor=max(_VOLUME_AT_FULL**strength, 0.01) if VOLUME_DROP in kinds else 1.0,
    )
