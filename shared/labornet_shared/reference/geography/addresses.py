"""Reading a district and subdistrict out of a hand-written Thai address.

Used by :func:`resolve_location` when a case gives no codes: only an
unambiguous answer inside the case's province counts.
"""

from __future__ import annotations

import re

import geothai

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
