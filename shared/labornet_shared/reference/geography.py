"""Provinces, regions, centroids and the validation of a case's location.

The gazetteer (districts, subdistricts, postcodes, names) is the ``geothai``
package; this module adds what it lacks from the project's own package data:
each province's region and abbreviations (``th_provinces.csv``) and a point
for every subdistrict (``th_subdistrict_centroids.csv``). Files are read on
first use, never at import, so importing the package stays cheap for every
service.

Provinces are identified by their ISO 3166-2 code (``TH-52``) everywhere in
labornet; its number is the DOPA code geothai uses (``52``).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

import geothai

from labornet_shared.reference.errors import ReferenceError

__all__ = [
    "REGIONS",
    "LocationError",
    "ProvinceInfo",
    "ResolvedLocation",
    "centroid",
    "district_centroid",
    "nearest_subdistrict",
    "province",
    "province_centroid",
    "provinces",
    "resolve_location",
]

REGIONS = ("north", "northeast", "central", "south")

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
_PROVINCE_ISO = re.compile(r"TH-[0-9]{2}")


# --- provinces ---------------------------------------------------------------


@dataclass(frozen=True)
class ProvinceInfo:
    """A province with the data geothai lacks (region, abbreviations).

    ``iso_code`` is the ISO 3166-2 code (``TH-52``), ``dopa_code`` the
    two-digit DOPA code geothai uses (``52``).
    """

    iso_code: str
    dopa_code: str
    name_th: str
    name_en: str
    abbr_th: str
    abbr_en: str
    region: str


def _read_data(name: str) -> list[dict[str, str]]:
    text = files(__package__).joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@lru_cache(maxsize=1)
def _provinces() -> tuple[ProvinceInfo, ...]:
    return tuple(
        ProvinceInfo(
            iso_code=row["iso_code"],
            dopa_code=row["iso_code"].removeprefix("TH-"),
            name_th=row["name_th"],
            name_en=row["name_en"],
            abbr_th=row["abbr_th"],
            abbr_en=row["abbr_en"],
            region=row["region"],
        )
        for row in _read_data("th_provinces.csv")
    )


@lru_cache(maxsize=1)
def _provinces_by_dopa() -> dict[str, ProvinceInfo]:
    return {p.dopa_code: p for p in _provinces()}


def provinces() -> list[ProvinceInfo]:
    """All 77 provinces, in ISO code order (a new list on every call)."""
    return list(_provinces())


def _dopa(code: str) -> str:
    """The DOPA number of a province code given as ``TH-52``, ``th-52`` or ``52``."""
    code = code.strip().upper()
    return code.removeprefix("TH-")


def province(iso_code: str) -> ProvinceInfo | None:
    """Find a province by its ISO code (``TH-52``; ``52`` also works)."""
    if not isinstance(iso_code, str):
        return None
    return _provinces_by_dopa().get(_dopa(iso_code))


# --- centroids and the nearest subdistrict -----------------------------------


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


# --- resolve_location ----------------------------------------------------------


class LocationError(ReferenceError):
    """A case location is invalid; ``errors`` lists every problem found.

    ``field``, ``code`` and ``detail`` are those of the first problem, so a
    caller that only shows one still gets a useful message.
    """

    def __init__(self, errors: Sequence[ReferenceError]) -> None:
        if not errors:
            raise ValueError("LocationError needs at least one error")
        self.errors: list[ReferenceError] = list(errors)
        first = self.errors[0]
        super().__init__(first.code, first.detail, first.field)
        self.args = ("; ".join(str(e) for e in self.errors),)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.errors,))


@dataclass(frozen=True)
class ResolvedLocation:
    """A validated case location with codes filled in and coordinates.

    ``coordinates_source`` says where ``lat``/``long`` come from: ``given``
    by the client, or the centroid of the ``subdistrict``, ``district`` or
    ``province``.
    """

    province_code: str
    district_code: str | None
    subdistrict_code: str | None
    postcode: str | None
    lat: float
    long: float
    coordinates_source: str
    address: str | None


def _blank(value: str | None) -> str | None:
    """Strip a text; an empty one means "not given" (web forms send "")."""
    if value is None:
        return None
    if not isinstance(value, str):
        # Keep the value so that the format check reports it.
        return value
    value = value.strip()
    return value or None


# Names in a hand-written address: the level words and short forms, longest
# first so "ตำบล" wins over "ต.".
_LEVEL_WORDS = (
    ("subdistrict", ("ตำบล", "แขวง", "ต.")),
    ("district", ("อำเภอ", "เขต", "อ.")),
    ("province", ("จังหวัด", "จ.")),
)
# Level words glued to the previous word ("หมู่4ตำบลพระบาทอำเภอเมือง").
# "ตำบล" and "เขต" also occur inside names (สามตำบล, หลักเขต) and "จ." starts
# the name "จ.ป.ร.", so those split only after a digit (a house or moo
# number); the others after anything but a space or ".".
_GLUED = re.compile(
    r"(?<=[^\s.])(?=อำเภอ|จังหวัด|แขวง|อ\.|จ\.|ต\.)|(?<=[0-9])(?=ตำบล|เขต)"
)
_SEPARATORS = re.compile(r"[\s,]+")
# Bangkok is often written without "จ.", as these.
_BANGKOK_NAMES = {"กรุงเทพ", "กรุงเทพมหานคร", "กทม"}
_NAME_MARKS = re.compile(r"[\s.'-]")


def _norm(name: str) -> str:
    """A name in a comparable form (as geothai compares names)."""
    name = _NAME_MARKS.sub("", name.lower())
    for word in ("อำเภอ", "เขต"):
        name = name.removeprefix(word)
    return name


def _address_names(address: str) -> dict[str, str]:
    """Subdistrict, district and province names found in an address.

    When a level appears more than once the last one wins: Thai addresses go
    from the house to the province, so earlier words ("เขตอุตสาหกรรม ...")
    are more likely street-level noise.
    """
    tokens = [t for t in _SEPARATORS.split(_GLUED.sub(" ", address)) if t]
    names: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token.rstrip(".ฯ") in _BANGKOK_NAMES:
            names["province"] = "กทม"
            continue
        for level, words in _LEVEL_WORDS:
            word = next((w for w in words if token.startswith(w)), None)
            if word is None:
                continue
            name = token[len(word) :]
            if not name and i < len(tokens):
                # "ต. พระบาท": the name is the next token.
                name = tokens[i]
                i += 1
            if name:
                names[level] = name
            break
    return names


def _district_by_name(dopa: str, name: str) -> str | None:
    """The code of the one district of a province with this name, if any."""
    wanted = _norm(name)
    if not wanted:
        return None
    if wanted in ("เมือง", "mueang") and dopa != "10":
        # "อ.เมือง" is the capital district, always XX01 (none in Bangkok).
        return f"{dopa}01" if geothai.district(f"{dopa}01") else None
    found = [
        d.code
        for d in geothai.districts(dopa)
        if wanted in (_norm(d.name_th), _norm(d.name_en))
    ]
    return found[0] if len(found) == 1 else None


def _match_address(
    address: str, dopa: str, postcode: str | None
) -> tuple[str | None, str | None]:
    """(district_code, subdistrict_code) read from an address, or Nones.

    Only an unambiguous answer inside the given province counts; a known
    postcode narrows the candidates, so the codes found never contradict it.
    """
    names = _address_names(address)
    subdistrict_name = names.get("subdistrict")
    district_name = names.get("district")
    province_name = names.get("province")
    candidates: list[geothai.types.Address] = []
    if subdistrict_name:
        candidates = [
            a
            for a in geothai.match(
                subdistrict_name,
                district=district_name,
                province=province_name,
                postal_code=postcode,
            )
            if a.province.code == dopa
        ]
    if len(candidates) == 1:
        only = candidates[0]
        return only.district.code, only.subdistrict.code
    district_codes = {a.district.code for a in candidates}
    if len(district_codes) == 1:
        # Several subdistricts of one district share the name: the district
        # is still certain.
        return district_codes.pop(), None
    if district_name and not candidates:
        if province_name and not _province_name_is(dopa, province_name):
            return None, None
        return _district_by_name(dopa, district_name), None
    return None, None


def _province_name_is(dopa: str, name: str) -> bool:
    if name == "กทม":
        return dopa == "10"
    p = geothai.province(dopa)
    wanted = _norm(name)
    return p is not None and wanted in (_norm(p.name_th), _norm(p.name_en))


_DIGITS = {n: re.compile(rf"[0-9]{{{n}}}") for n in (4, 5, 6)}


def _is_code(value: object, length: int) -> bool:
    return isinstance(value, str) and bool(_DIGITS[length].fullmatch(value))


def _coordinate(value: object) -> float | None:
    """A finite float from a number; None for anything else (bools too)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def resolve_location(
    province_code: str,
    district_code: str | None = None,
    subdistrict_code: str | None = None,
    postcode: str | None = None,
    lat: float | None = None,
    long: float | None = None,
    address: str | None = None,
    field_prefix: str = "location",
) -> ResolvedLocation:
    """Validate a case location, fill in what can be derived, add coordinates.

    Checks that the province (ISO ``TH-NN``), district (4 digits) and
    subdistrict (6 digits) exist and nest, that the postcode serves the
    subdistrict (or at least the province), and that coordinates come as a
    pair inside Thailand. A subdistrict fills in its district; with no codes
    at all, the free-text ``address`` is matched against the gazetteer and
    used only when the answer is unambiguous. Missing coordinates become the
    centroid of the most precise area known.

    Raises:
        LocationError: listing every problem found, each with its own field
            (``<field_prefix>.subdistrict_code`` ...) and code:
            ``province_format``, ``province_unknown``, ``district_unknown``,
            ``district_not_in_province``, ``subdistrict_unknown``,
            ``subdistrict_not_in_district``, ``subdistrict_not_in_province``,
            ``postcode_format``, ``postcode_mismatch``,
            ``postcode_not_in_province``, ``coordinates_incomplete``,
            ``coordinates_outside_thailand``.
    """
    errors: list[ReferenceError] = []

    def fail(name: str, code: str, detail: str) -> None:
        path = f"{field_prefix}.{name}" if field_prefix else name
        errors.append(ReferenceError(code, detail, path))

    # Province: the one required part; the others are checked against it.
    info: ProvinceInfo | None = None
    if not isinstance(province_code, str) or not _PROVINCE_ISO.fullmatch(province_code):
        fail("province_code", "province_format", "must be an ISO code like TH-52")
    else:
        info = province(province_code)
        if info is None:
            fail("province_code", "province_unknown", "no province has this code")
    dopa = info.dopa_code if info is not None else None

    district: geothai.types.District | None = None
    district_code = _blank(district_code)
    if district_code is not None:
        if _is_code(district_code, 4):
            district = geothai.district(district_code)
        if district is None:
            fail("district_code", "district_unknown", "no district has this code")
        elif dopa is not None and district.province_code != dopa:
            fail(
                "district_code",
                "district_not_in_province",
                "the district is not in the province",
            )

    subdistrict: geothai.types.Subdistrict | None = None
    subdistrict_code = _blank(subdistrict_code)
    if subdistrict_code is not None:
        if _is_code(subdistrict_code, 6):
            subdistrict = geothai.subdistrict(subdistrict_code)
        if subdistrict is None:
            fail(
                "subdistrict_code",
                "subdistrict_unknown",
                "no subdistrict has this code",
            )
        else:
            if district is not None and subdistrict.district_code != district.code:
                fail(
                    "subdistrict_code",
                    "subdistrict_not_in_district",
                    "the subdistrict is not in the district",
                )
            if dopa is not None and subdistrict.province_code != dopa:
                fail(
                    "subdistrict_code",
                    "subdistrict_not_in_province",
                    "the subdistrict is not in the province",
                )
            if district_code is None:
                district = geothai.district(subdistrict.district_code)

    postcode = _blank(postcode)
    postcode_ok = postcode is not None and _is_code(postcode, 5)

    address_text = address.strip() or None if isinstance(address, str) else None
    if (
        district_code is None
        and subdistrict_code is None
        and address_text is not None
        and dopa is not None
    ):
        found_district, found_subdistrict = _match_address(
            address_text, dopa, postcode if postcode_ok else None
        )
        if found_district is not None:
            district = geothai.district(found_district)
        if found_subdistrict is not None:
            subdistrict = geothai.subdistrict(found_subdistrict)

    if postcode is not None:
        if not postcode_ok:
            fail("postcode", "postcode_format", "must be 5 digits")
        elif subdistrict is not None:
            if postcode not in subdistrict.postal_codes:
                fail(
                    "postcode",
                    "postcode_mismatch",
                    "the postcode does not serve the subdistrict",
                )
        elif dopa is not None and not any(
            s.province_code == dopa for s in geothai.by_postal_code(postcode)
        ):
            fail(
                "postcode",
                "postcode_not_in_province",
                "the postcode is not used in the province",
            )

    given: tuple[float, float] | None = None
    if (lat is None) != (long is None):
        fail(
            "long" if long is None else "lat",
            "coordinates_incomplete",
            "lat and long must be given together",
        )
    elif lat is not None and long is not None:
        lat_value, long_value = _coordinate(lat), _coordinate(long)
        if lat_value is None or not LAT_MIN <= lat_value <= LAT_MAX:
            fail(
                "lat",
                "coordinates_outside_thailand",
                f"must be a latitude in Thailand ({LAT_MIN} to {LAT_MAX})",
            )
        if long_value is None or not LONG_MIN <= long_value <= LONG_MAX:
            fail(
                "long",
                "coordinates_outside_thailand",
                f"must be a longitude in Thailand ({LONG_MIN} to {LONG_MAX})",
            )
        if lat_value is not None and long_value is not None:
            given = (lat_value, long_value)

    if errors:
        raise LocationError(errors)
    assert info is not None  # no errors means the province was found

    point, source = given, "given"
    if point is None and subdistrict is not None:
        point, source = centroid(subdistrict.code), "subdistrict"
    if point is None and district is not None:
        point, source = district_centroid(district.code), "district"
    if point is None:
        point, source = province_centroid(info.iso_code), "province"
    if point is None:  # pragma: no cover - every province has subdistricts
        raise LookupError(f"no centroid for province {info.iso_code}")

    return ResolvedLocation(
        province_code=info.iso_code,
        district_code=district.code if district is not None else None,
        subdistrict_code=subdistrict.code if subdistrict is not None else None,
        postcode=postcode,
        lat=point[0],
        long=point[1],
        coordinates_source=source,
        address=address_text,
    )
