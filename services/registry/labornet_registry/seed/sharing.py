"""Sharing out the network: how many graduates each province gets, and
which subdistricts have a volunteer (none of it depends on dict order)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from labornet_registry.seed.figures import (
    BANGKOK_WEIGHT,
    DEEP_SOUTH,
    DEEP_SOUTH_WEIGHT,
    NETWORK_CENTRAL_GRADUATES,
    NETWORK_GRADUATES,
    SEAT_WEIGHT,
    VACANT_SUBDISTRICT_SHARE,
)
from labornet_registry.seed.places import provinces_by_code, subdistrict_codes


def apportion(weights: Sequence[tuple[str, float]], total: int) -> dict[str, int]:
    """Share ``total`` in proportion to the weights (largest remainder).

    Ties go to the earlier key, so the result needs no randomness.
    """
    whole = sum(w for _, w in weights)
    shares = {key: total * w / whole for key, w in weights}
    counts = {key: int(share) for key, share in shares.items()}
    left = total - sum(counts.values())
    order = sorted(
        range(len(weights)),
        key=lambda i: (-(shares[weights[i][0]] - counts[weights[i][0]]), i),
    )
    for i in order[:left]:
        counts[weights[i][0]] += 1
    return counts


def weighted_sample(
    rng: random.Random, weights: Sequence[tuple[str, float]], k: int
) -> list[str]:
    """Draw ``k`` distinct keys, each with odds in proportion to its weight."""
    # Efraimidis-Spirakis: one random key per candidate, keep the k largest.
    keyed = sorted(
        ((rng.random() ** (1.0 / w), key) for key, w in weights), reverse=True
    )
    return [key for _, key in keyed[:k]]


def graduates_per_province(rng: random.Random, count: int) -> dict[str, int]:
    """How many graduates each province gets: one each, the rest by size.

    Size is the number of districts, since a graduate covers a district; the
    deep south weighs double. The central region gets its real share (126 of
    725). A network too small for one per province starts in the deep south
    and draws the rest of its provinces by size.
    """
    gazetteer = provinces_by_code()
    weight = {
        p.iso_code: len(p.districts)
        * (DEEP_SOUTH_WEIGHT if p.iso_code in DEEP_SOUTH else 1)
        for p in gazetteer
    }
    if count < len(gazetteer):
        first = list(DEEP_SOUTH[:count])
        rest = [(iso, w) for iso, w in weight.items() if iso not in DEEP_SOUTH]
        chosen = first + weighted_sample(rng, rest, count - len(first))
        return dict.fromkeys(sorted(chosen), 1)

    central = [p.iso_code for p in gazetteer if p.region == "central"]
    others = [p.iso_code for p in gazetteer if p.region != "central"]
    central_total = round(count * NETWORK_CENTRAL_GRADUATES / NETWORK_GRADUATES)
    central_total = max(len(central), min(central_total, count - len(others)))
    quota: dict[str, int] = {}
    for group, total in ((central, central_total), (others, count - central_total)):
        extra = apportion([(iso, weight[iso]) for iso in group], total - len(group))
        quota.update({iso: 1 + extra[iso] for iso in group})
    return quota


def volunteer_subdistricts(rng: random.Random, count: int) -> list[str]:
    """The subdistrict of each volunteer in Thailand, sorted by code.

    Nearly every subdistrict gets one (a few posts are vacant); what is left
    goes, as second volunteers, to big subdistricts.
    """
    codes = subdistrict_codes()
    covered = min(count, round(len(codes) * (1 - VACANT_SUBDISTRICT_SHARE)))
    chosen = sorted(rng.sample(codes, covered))
    places = list(chosen)
    weights = [
        (
            code,
            (SEAT_WEIGHT if code[2:4] == "01" else 1)
            * (BANGKOK_WEIGHT if code.startswith("10") else 1),
        )
        for code in chosen
    ]
    left = count - covered
    while left > 0:
        # More volunteers than subdistricts twice over only in odd test sizes.
        extra = weighted_sample(rng, weights, min(left, len(weights)))
        places.extend(extra)
        left -= len(extra)
    return sorted(places)
