"""A point for every subdistrict, district and province, and the nearest
subdistrict to a point.

The points are the subdistricts' centroids (``th_subdistrict_centroids.csv``,
read on first use); a district's or a province's is the mean of its
subdistricts'.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

from labornet_shared.reference.geography.provinces import _dopa, _read_data, province

# Thailand's bounding box with a small margin; points outside it cannot be a
# case location in Thailand (and catch swapped lat/long).
LAT_MIN, LAT_MAX = 5.5, 20.6
LONG_MIN, LONG_MAX = 97.3, 105.7
# A point farther than this from every subdistrict centroid is at sea or
# across a border, not in a subdistrict.
NEAREST_MAX_KM = 50.0

_EARTH_RADIUS_KM = 6371.0088
_KM_PER_DEG_LAT = 110.57
# Grid cells of 0.25 degrees keep a nearest-point query to a few hundred
# candidates even around Bangkok.
_CELL_DEG = 0.25


@lru_cache(maxsize=1)
def _centroids() -> dict[str, tuple[float, float]]:
    return {
        row["subdistrict_code"]: (float(row["latitude"]), float(row["longitude"]))
        for row in _read_data("th_subdistrict_centroids.csv")
    }


def _mean(points: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    if not points:
        return None
    # Six decimals (about 0.1 m) keep JSON tidy without losing anything.
    return (
        round(sum(p[0] for p in points) / len(points), 6),
        round(sum(p[1] for p in points) / len(points), 6),
    )


@lru_cache(maxsize=1)
def _area_centroids() -> dict[str, tuple[float, float]]:
    """Mean centroid of every district (4-digit key) and province (2-digit)."""
    groups: dict[str, list[tuple[float, float]]] = {}
    for code, point in _centroids().items():
        groups.setdefault(code[:4], []).append(point)
        groups.setdefault(code[:2], []).append(point)
    means = {key: _mean(points) for key, points in groups.items()}
    return {key: mean for key, mean in means.items() if mean is not None}


def centroid(subdistrict_code: str) -> tuple[float, float] | None:
    """The (lat, long) of a subdistrict's centroid, or None if unknown."""
    return _centroids().get(subdistrict_code)


def district_centroid(code: str) -> tuple[float, float] | None:
    """The mean of a district's subdistrict centroids, or None if unknown."""
    if not isinstance(code, str) or len(code) != 4:
        return None
    return _area_centroids().get(code)


def province_centroid(iso_code: str) -> tuple[float, float] | None:
    """The mean of a province's subdistrict centroids (``TH-52``), or None."""
    if province(iso_code) is None:
        return None
    return _area_centroids().get(_dopa(iso_code))


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _cell(lat: float, long: float) -> tuple[int, int]:
    return (math.floor(lat / _CELL_DEG), math.floor(long / _CELL_DEG))


@lru_cache(maxsize=1)
def _grid() -> dict[tuple[int, int], tuple[tuple[float, float, str], ...]]:
    """Centroids bucketed by grid cell; each bucket sorted by code.

    Sorting makes ties (subdistricts that share a point) resolve to the
    lowest code, so answers are the same on every run.
    """
    buckets: dict[tuple[int, int], list[tuple[float, float, str]]] = {}
    for code, (lat, long) in sorted(_centroids().items()):
        buckets.setdefault(_cell(lat, long), []).append((lat, long, code))
    return {key: tuple(points) for key, points in buckets.items()}


# How many cells to look at on each side so that every centroid within
# NEAREST_MAX_KM is seen: longitude degrees are shortest at the north end.
_REACH_LAT = math.ceil(NEAREST_MAX_KM / (_CELL_DEG * _KM_PER_DEG_LAT))
_REACH_LONG = math.ceil(
    NEAREST_MAX_KM
    / (_CELL_DEG * 111.32 * math.cos(math.radians(LAT_MAX + 2 * _CELL_DEG)))
)


def _in_thailand_box(lat: float, long: float) -> bool:
    return LAT_MIN <= lat <= LAT_MAX and LONG_MIN <= long <= LONG_MAX


def nearest_subdistrict(lat: float, long: float) -> str | None:
    """The code of the subdistrict whose centroid is nearest to a point.

    Returns None for a point outside Thailand's bounding box or farther than
    50 km from every centroid. A centroid is only an approximation of the
    subdistrict, so near a boundary the answer may be the neighbour.
    """
    if not (math.isfinite(lat) and math.isfinite(long)):
        return None
    if not _in_thailand_box(lat, long):
        return None
    grid = _grid()
    row, col = _cell(lat, long)
    # Rank candidates by the equirectangular distance (cheap and, at these
    # distances, in the same order as great-circle distance), then measure
    # only the winner exactly.
    scale = math.cos(math.radians(lat)) ** 2
    best: tuple[float, float, str] | None = None
    best_d2 = math.inf
    for r in range(row - _REACH_LAT, row + _REACH_LAT + 1):
        for c in range(col - _REACH_LONG, col + _REACH_LONG + 1):
            for point in grid.get((r, c), ()):
                d2 = (point[0] - lat) ** 2 + scale * (point[1] - long) ** 2
                if d2 < best_d2:
                    best, best_d2 = point, d2
    if best is None or _haversine_km(lat, long, best[0], best[1]) > NEAREST_MAX_KM:
        return None
    return best[2]
