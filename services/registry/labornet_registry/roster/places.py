"""Places in Thailand as provincial offices write them: a province,
district and subdistrict given as codes or names (``จ.ลำปาง``, ``อ.เมือง``,
``ต.หัวเวียง``), resolved against the gazetteer or explained."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

import geothai

from labornet_registry.roster.sheet import Suggestion
from labornet_registry.roster.suggestions import (
    describe,
    district_suggestions,
    place_key,
    retired_code_successors,
    subdistrict_suggestions,
)
from labornet_registry.roster.text import THAI_DIGITS, short
from labornet_shared.reference.geography import provinces as province_infos

# Names people use for a province besides its Thai and English names.
_PROVINCE_NICKNAMES = {
    "กทม": "10",
    "กรุงเทพ": "10",
    "bkk": "10",
    "bangkokmetropolis": "10",
    "อยุธยา": "14",
    "ayutthaya": "14",
    "โคราช": "30",
}
_PROVINCE_CODE = re.compile(r"(?:th-?)?([0-9]{2})")
_MUEANG = ("เมือง", "mueang", "muang")
_CANDIDATES_SHOWN = 6


_place_key = place_key


@lru_cache(maxsize=1)
def _province_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for info in province_infos():
        for name in (info.name_th, info.name_en, info.abbr_en):
            index[_place_key(name)] = info.dopa_code
    index.update(_PROVINCE_NICKNAMES)
    return index


@lru_cache(maxsize=1)
def _districts_by_key() -> dict[str, tuple[geothai.District, ...]]:
    grouped: dict[str, list[geothai.District]] = {}
    for p in geothai.provinces():
        for d in geothai.districts(p.code):
            for key in {_place_key(d.name_th), _place_key(d.name_en)}:
                grouped.setdefault(key, []).append(d)
    return {key: tuple(found) for key, found in grouped.items()}


def _province_label(dopa: str) -> str:
    p = geothai.province(dopa)
    return f"TH-{dopa} ({p.name_th})" if p else f"TH-{dopa}"


def _district_label(d: geothai.District) -> str:
    return f"{d.code} ({d.name_th})"


def _candidates(labels: Sequence[str]) -> str:
    shown = ", ".join(labels[:_CANDIDATES_SHOWN])
    more = len(labels) - _CANDIDATES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _province_dopa(text: str) -> str | None:
    key = _place_key(text).lower()
    if m := _PROVINCE_CODE.fullmatch(key):
        return m.group(1) if geothai.province(m.group(1)) else None
    return _province_index().get(key)


def _districts_named(text: str) -> tuple[geothai.District, ...]:
    """Every district in Thailand this name can mean."""
    key = _place_key(text)
    if key in _MUEANG:
        # "อ.เมือง" is a province's capital district, always XX01; Bangkok
        # has none.
        return tuple(
            d
            for p in geothai.provinces()
            if p.code != "10" and (d := geothai.district(f"{p.code}01")) is not None
        )
    return _districts_by_key().get(key, ())


class PlaceError(NamedTuple):
    """One problem of a place: the fields of a row's :class:`RowError`."""

    column: str
    code: str
    detail: str
    suggestions: tuple[Suggestion, ...] = ()


PlaceErrors = tuple[PlaceError, ...]
# (ISO province, district code, subdistrict code)
Area = tuple[str, str | None, str | None]


@lru_cache(maxsize=8192)
def thai_place(
    province_text: str, district_text: str, subdistrict_text: str
) -> tuple[Area | None, PlaceErrors]:
    """Resolve a province/district/subdistrict triple of cells.

    Returns (area, errors): area is (ISO province, district code,
    subdistrict code) when there is no error. Names are looked up within
    the province (and district) given; without them, in all Thailand, where
    a unique name still counts and a code always does.
    """
    errors: list[PlaceError] = []
    dopa = _province(province_text, errors) if province_text else None
    where = f"province {_province_label(dopa)}" if dopa else "Thailand"
    # Districts the cell can mean (None: not given or not found).
    districts = (
        _districts(district_text, dopa, where, errors) if district_text else None
    )
    subdistrict = (
        _subdistrict(subdistrict_text, dopa, where, districts, errors)
        if subdistrict_text
        else None
    )
    district = _one_district(district_text, districts, subdistrict, errors)
    if errors:
        return None, tuple(errors)
    if district is not None:
        dopa = district.province_code
    if dopa is None:  # pragma: no cover - a given cell always yields one
        return None, (PlaceError("province_code", "place_required", "no place given"),)
    return (
        f"TH-{dopa}",
        district.code if district else None,
        subdistrict.code if subdistrict else None,
    ), ()


def _province(text: str, errors: list[PlaceError]) -> str | None:
    """The province's DOPA code (``52``), or None and a problem."""
    dopa = _province_dopa(text)
    if dopa is None:
        errors.append(
            PlaceError(
                "province_code",
                "unknown_province",
                f"unknown province '{short(text)}': use a code "
                "(TH-52 or 52) or a name (ลำปาง, Lampang)",
            )
        )
    return dopa


def _districts(
    text: str, dopa: str | None, where: str, errors: list[PlaceError]
) -> list[geothai.District] | None:
    """The districts a district cell can mean within the province, if any."""
    code = text.translate(THAI_DIGITS)
    if code.isdigit():
        return _district_by_code(code, dopa, where, errors)
    return _districts_by_name(text, dopa, where, errors)


def _district_by_code(
    code: str, dopa: str | None, where: str, errors: list[PlaceError]
) -> list[geothai.District] | None:
    found = geothai.district(code) if len(code) == 4 else None
    if found is None:
        successors = retired_code_successors(code)
        errors.append(
            PlaceError(
                "district",
                "unknown_district",
                f"no district has the code '{short(code)}' "
                "(district codes have 4 digits, e.g. 5201)"
                + describe(successors, [dopa] if dopa else []),
                successors,
            )
        )
        return None
    if dopa and found.province_code != dopa:
        errors.append(
            PlaceError(
                "district",
                "district_not_in_province",
                f"district {_district_label(found)} is not in "
                f"{where}; it is in {_province_label(found.province_code)}",
            )
        )
        return None
    return [found]


def _districts_by_name(
    text: str, dopa: str | None, where: str, errors: list[PlaceError]
) -> list[geothai.District] | None:
    national = _districts_named(text)
    inside = [d for d in national if not dopa or d.province_code == dopa]
    if inside:
        return inside
    if dopa == "10" and _place_key(text) in _MUEANG:
        errors.append(
            PlaceError(
                "district",
                "unknown_district",
                "Bangkok has no Mueang district: give the district (เขต) name or code",
            )
        )
    elif national and dopa:
        elsewhere = sorted({d.province_code for d in national})
        suggestions = district_suggestions(text, dopa)
        errors.append(
            PlaceError(
                "district",
                "district_not_in_province",
                f"district '{short(text)}' is not in {where}; "
                "a district of that name is in "
                + _candidates([_province_label(p) for p in elsewhere])
                + describe(suggestions, [dopa]),
                suggestions,
            )
        )
    else:
        suggestions = district_suggestions(text, dopa)
        errors.append(
            PlaceError(
                "district",
                "unknown_district",
                f"no district named '{short(text)}' in {where}"
                + describe(suggestions, [dopa] if dopa else []),
                suggestions,
            )
        )
    return None


def _subdistrict(
    text: str,
    dopa: str | None,
    where: str,
    districts: list[geothai.District] | None,
    errors: list[PlaceError],
) -> geothai.Subdistrict | None:
    """The subdistrict a cell means within the district(s) or province."""
    code = text.translate(THAI_DIGITS)
    in_district = " or ".join(_district_label(d) for d in districts or ())
    if code.isdigit():
        return _subdistrict_by_code(code, dopa, where, districts, in_district, errors)
    return _subdistrict_by_name(text, dopa, where, districts, in_district, errors)


def _subdistrict_by_code(
    code: str,
    dopa: str | None,
    where: str,
    districts: list[geothai.District] | None,
    in_district: str,
    errors: list[PlaceError],
) -> geothai.Subdistrict | None:
    found = geothai.subdistrict(code) if len(code) == 6 else None
    if found is None:
        successors = retired_code_successors(code)
        errors.append(
            PlaceError(
                "subdistrict",
                "unknown_subdistrict",
                f"no subdistrict has the code '{short(code)}' "
                "(subdistrict codes have 6 digits, e.g. 520101)"
                + describe(successors, _home(dopa, districts)),
                successors,
            )
        )
    elif districts and found.district_code not in {d.code for d in districts}:
        errors.append(
            PlaceError(
                "subdistrict",
                "subdistrict_not_in_district",
                f"subdistrict {found.code} ({found.name_th}) is "
                f"not in district {in_district}",
            )
        )
    elif dopa and found.province_code != dopa:
        errors.append(
            PlaceError(
                "subdistrict",
                "subdistrict_not_in_province",
                f"subdistrict {found.code} ({found.name_th}) is not in {where}",
            )
        )
    else:
        return found
    return None


def _subdistrict_by_name(
    text: str,
    dopa: str | None,
    where: str,
    districts: list[geothai.District] | None,
    in_district: str,
    errors: list[PlaceError],
) -> geothai.Subdistrict | None:
    national = [a.subdistrict for a in geothai.match(text)]
    if districts:
        codes = {d.code for d in districts}
        inside = [s for s in national if s.district_code in codes]
    else:
        inside = [s for s in national if not dopa or s.province_code == dopa]
    name = short(text)
    if len(inside) == 1:
        return inside[0]
    if inside:
        labels = [
            f"{s.code} ({s.name_th}, {_district_name(s.district_code)})" for s in inside
        ]
        hint = "the code" if districts else "the district"
        errors.append(
            PlaceError(
                "subdistrict",
                "ambiguous_subdistrict",
                f"subdistrict '{name}' could be {_candidates(labels)}: add {hint}",
            )
        )
    else:
        # A name DOPA retired, or misspelt: what the gazetteer offers in
        # the row's district (or province), in the detail and as a field.
        home = _home(dopa, districts)
        suggestions = subdistrict_suggestions(text, home[1:], dopa)
        hint = describe(suggestions, home)
        if districts and national:
            code = "subdistrict_not_in_district"
            detail = f"subdistrict '{name}' is not in district {in_district}"
        elif dopa and national:
            code = "subdistrict_not_in_province"
            detail = f"subdistrict '{name}' is not in {where}"
        else:
            place = f"district {in_district}" if districts else where
            code = "unknown_subdistrict"
            detail = f"no subdistrict named '{name}' in {place}"
        errors.append(PlaceError("subdistrict", code, detail + hint, suggestions))
    return None


def _home(dopa: str | None, districts: list[geothai.District] | None) -> list[str]:
    """The province and district codes a row names, to look for suggestions
    in: the province first (or "" without one), then the districts."""
    return [dopa or "", *(d.code for d in districts or ())]


def _one_district(
    district_text: str,
    districts: list[geothai.District] | None,
    subdistrict: geothai.Subdistrict | None,
    errors: list[PlaceError],
) -> geothai.District | None:
    """The one district meant, or a problem when the name stays ambiguous."""
    if subdistrict is not None:
        # The subdistrict was filtered by the district candidates, so its
        # district settles an ambiguous district name.
        return geothai.district(subdistrict.district_code)
    if districts is not None and len(districts) == 1:
        return districts[0]
    if districts:
        if _place_key(district_text) in _MUEANG:
            detail = (
                f"district '{short(district_text)}' needs a province: every "
                "province has a Mueang district"
            )
        else:
            detail = (
                f"district '{short(district_text)}' could be "
                + _candidates(
                    [
                        f"{d.code} ({d.name_th}, {_province_name(d.province_code)})"
                        for d in districts
                    ]
                )
                + ": add the province or use the code"
            )
        errors.append(PlaceError("district", "ambiguous_district", detail))
    return None


def _province_name(dopa: str) -> str:
    p = geothai.province(dopa)
    return p.name_th if p else dopa


def _district_name(code: str) -> str:
    d = geothai.district(code)
    return d.name_th if d else code
