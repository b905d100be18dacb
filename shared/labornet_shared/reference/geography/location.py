"""The validation of a case's location: codes that exist and nest, a
postcode that serves them, coordinates in Thailand (or a centroid for them).

:func:`resolve_location` checks each part in turn, collecting every problem
before it raises, so a client learns all that is wrong with one answer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import geothai

from labornet_shared.reference.errors import ReferenceError
from labornet_shared.reference.geography.addresses import _match_address
from labornet_shared.reference.geography.centroids import (
    LAT_MAX,
    LAT_MIN,
    LONG_MAX,
    LONG_MIN,
    centroid,
    district_centroid,
    province_centroid,
)
from labornet_shared.reference.geography.provinces import ProvinceInfo, province

_PROVINCE_ISO = re.compile(r"TH-[0-9]{2}")


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


_DIGITS = {n: re.compile(rf"[0-9]{{{n}}}") for n in (4, 5, 6)}


def _is_code(value: object, length: int) -> bool:
    return isinstance(value, str) and bool(_DIGITS[length].fullmatch(value))


def _coordinate(value: object) -> float | None:
    """A finite float from a number; None for anything else (bools too)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


class _Problems:
    """The problems found so far in one location, each under its own field
    (``<field_prefix>.<name>``)."""

    def __init__(self, field_prefix: str) -> None:
        self.field_prefix = field_prefix
        self.errors: list[ReferenceError] = []

    def fail(self, name: str, code: str, detail: str) -> None:
        path = f"{self.field_prefix}.{name}" if self.field_prefix else name
        self.errors.append(ReferenceError(code, detail, path))


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
    problems = _Problems(field_prefix)
    district_code = _blank(district_code)
    subdistrict_code = _blank(subdistrict_code)
    info, district, subdistrict = _check_areas(
        province_code, district_code, subdistrict_code, problems
    )
    dopa = info.dopa_code if info is not None else None
    postcode = _blank(postcode)
    address_text = address.strip() or None if isinstance(address, str) else None
    if district_code is None and subdistrict_code is None:
        district, subdistrict = _place_in_address(address_text, dopa, postcode)
    _check_postcode(postcode, subdistrict, dopa, problems)
    given = _check_coordinates(lat, long, problems)

    if problems.errors:
        raise LocationError(problems.errors)
    assert info is not None  # no errors means the province was found

    point, source = _coordinates(given, subdistrict, district, info)
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


def _check_areas(
    province_code: str,
    district_code: str | None,
    subdistrict_code: str | None,
    problems: _Problems,
) -> tuple[
    ProvinceInfo | None, geothai.types.District | None, geothai.types.Subdistrict | None
]:
    """The province, district and subdistrict the codes name, checked to exist
    and to nest; a subdistrict given without a district fills it in."""
    # Province: the one required part; the others are checked against it.
    info = _check_province(province_code, problems)
    dopa = info.dopa_code if info is not None else None
    district = _check_district(district_code, dopa, problems)
    subdistrict = _check_subdistrict(subdistrict_code, district, dopa, problems)
    if subdistrict is not None and district_code is None:
        district = geothai.district(subdistrict.district_code)
    return info, district, subdistrict


def _check_province(province_code: str, problems: _Problems) -> ProvinceInfo | None:
    """The province of an ISO code (``TH-52``), or None with a problem."""
    if not isinstance(province_code, str) or not _PROVINCE_ISO.fullmatch(province_code):
        problems.fail(
            "province_code", "province_format", "must be an ISO code like TH-52"
        )
        return None
    info = province(province_code)
    if info is None:
        problems.fail("province_code", "province_unknown", "no province has this code")
    return info


def _check_district(
    district_code: str | None, dopa: str | None, problems: _Problems
) -> geothai.types.District | None:
    """The district of a code (None if not given), checked against the
    province."""
    district: geothai.types.District | None = None
    if district_code is not None:
        if _is_code(district_code, 4):
            district = geothai.district(district_code)
        if district is None:
            problems.fail(
                "district_code", "district_unknown", "no district has this code"
            )
        elif dopa is not None and district.province_code != dopa:
            problems.fail(
                "district_code",
                "district_not_in_province",
                "the district is not in the province",
            )
    return district


def _check_subdistrict(
    subdistrict_code: str | None,
    district: geothai.types.District | None,
    dopa: str | None,
    problems: _Problems,
) -> geothai.types.Subdistrict | None:
    """The subdistrict of a code (None if not given), checked against the
    district and the province."""
    subdistrict: geothai.types.Subdistrict | None = None
    if subdistrict_code is not None:
        if _is_code(subdistrict_code, 6):
            subdistrict = geothai.subdistrict(subdistrict_code)
        if subdistrict is None:
            problems.fail(
                "subdistrict_code",
                "subdistrict_unknown",
                "no subdistrict has this code",
            )
        else:
            if district is not None and subdistrict.district_code != district.code:
                problems.fail(
                    "subdistrict_code",
                    "subdistrict_not_in_district",
                    "the subdistrict is not in the district",
                )
            if dopa is not None and subdistrict.province_code != dopa:
                problems.fail(
                    "subdistrict_code",
                    "subdistrict_not_in_province",
                    "the subdistrict is not in the province",
                )
    return subdistrict


def _place_in_address(
    address: str | None, dopa: str | None, postcode: str | None
) -> tuple[geothai.types.District | None, geothai.types.Subdistrict | None]:
    """The district and subdistrict an address names unambiguously in the
    province (each None when it is not certain, or with no address or no
    known province); a well-formed postcode narrows the candidates."""
    if address is None or dopa is None:
        return None, None
    found_district, found_subdistrict = _match_address(
        address, dopa, postcode if _is_code(postcode, 5) else None
    )
    district = geothai.district(found_district) if found_district is not None else None
    subdistrict = (
        geothai.subdistrict(found_subdistrict)
        if found_subdistrict is not None
        else None
    )
    return district, subdistrict


def _check_postcode(
    postcode: str | None,
    subdistrict: geothai.types.Subdistrict | None,
    dopa: str | None,
    problems: _Problems,
) -> None:
    """A postcode, if given, serves the subdistrict, or at least the
    province."""
    if postcode is None:
        return
    if not _is_code(postcode, 5):
        problems.fail("postcode", "postcode_format", "must be 5 digits")
    elif subdistrict is not None:
        if postcode not in subdistrict.postal_codes:
            problems.fail(
                "postcode",
                "postcode_mismatch",
                "the postcode does not serve the subdistrict",
            )
    elif dopa is not None and not any(
        s.province_code == dopa for s in geothai.by_postal_code(postcode)
    ):
        problems.fail(
            "postcode",
            "postcode_not_in_province",
            "the postcode is not used in the province",
        )


def _check_coordinates(
    lat: float | None, long: float | None, problems: _Problems
) -> tuple[float, float] | None:
    """The given point, if lat and long come as a pair inside Thailand."""
    if (lat is None) != (long is None):
        problems.fail(
            "long" if long is None else "lat",
            "coordinates_incomplete",
            "lat and long must be given together",
        )
        return None
    if lat is None or long is None:
        return None
    lat_value, long_value = _coordinate(lat), _coordinate(long)
    if lat_value is None or not LAT_MIN <= lat_value <= LAT_MAX:
        problems.fail(
            "lat",
            "coordinates_outside_thailand",
            f"must be a latitude in Thailand ({LAT_MIN} to {LAT_MAX})",
        )
    if long_value is None or not LONG_MIN <= long_value <= LONG_MAX:
        problems.fail(
            "long",
            "coordinates_outside_thailand",
            f"must be a longitude in Thailand ({LONG_MIN} to {LONG_MAX})",
        )
    if lat_value is not None and long_value is not None:
        return (lat_value, long_value)
    return None


def _coordinates(
    given: tuple[float, float] | None,
    subdistrict: geothai.types.Subdistrict | None,
    district: geothai.types.District | None,
    info: ProvinceInfo,
) -> tuple[tuple[float, float], str]:
    """The point of a location and where it comes from: the given one, else
    the centroid of the most precise area known."""
    point, source = given, "given"
    if point is None and subdistrict is not None:
        point, source = centroid(subdistrict.code), "subdistrict"
    if point is None and district is not None:
        point, source = district_centroid(district.code), "district"
    if point is None:
        point, source = province_centroid(info.iso_code), "province"
    if point is None:  # pragma: no cover - every province has subdistricts
        raise LookupError(f"no centroid for province {info.iso_code}")
    return point, source
