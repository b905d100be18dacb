"""Placing a request in a Thai subdistrict: the spec's ``lat``/``long``,
``address_string`` or ``address_id`` read into the case's location."""

from __future__ import annotations

import math
import re
from typing import Any

import geothai
from werkzeug.datastructures import MultiDict

from labornet_intake.open311.errors import invalid
from labornet_intake.open311.formats import _storable
from labornet_intake.open311.parameters import single
from labornet_intake.open311.spec import MAX_ADDRESS
from labornet_shared.reference import (
    nearest_subdistrict,
    provinces,
)

_ADDRESS_ID = re.compile(r"(?:TH-)?([0-9]{2})|([0-9]{4})|([0-9]{6})", re.IGNORECASE)
_POSTCODE = re.compile(r"(?<![0-9])([0-9]{5})(?![0-9])")
_THAI = "\u0e00-\u0e7f"
_BANGKOK = ("กรุงเทพมหานคร", "กรุงเทพฯ", "กรุงเทพ", "กทม")


def _coordinate(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError as exc:
        raise invalid(("not_a_coordinate", name)) from exc
    if not math.isfinite(number):
        raise invalid(("not_a_coordinate", name))
    return number


def province_in(address: str) -> str | None:
    """The province an address written by hand names (``TH-52``): after
    "จ."/"จังหวัด", else the last province name standing as a word (Thai or
    English; addresses end with the province), else its postcode's."""
    found: list[tuple[int, str]] = []
    for info in provinces():
        thai = re.escape(info.name_th)
        for match in re.finditer(rf"(?:จ\.|จังหวัด)\s*{thai}(?![{_THAI}])", address):
            # an explicit province wins over any name found elsewhere
            found.append((10**6 + match.start(), info.iso_code))
        for match in re.finditer(rf"(?<![{_THAI}])(?<!\.){thai}(?![{_THAI}])", address):
            found.append((match.start(), info.iso_code))
        english = r"\s+".join(map(re.escape, info.name_en.split()))
        for match in re.finditer(rf"\b{english}\b", address, re.IGNORECASE):
            found.append((match.start(), info.iso_code))
    for name in _BANGKOK:
        for match in re.finditer(rf"(?<![{_THAI}]){re.escape(name)}", address):
            found.append((match.start(), "TH-10"))
    if found:
        return max(found)[1]
    postcode = _POSTCODE.search(address)
    if postcode:
        owners = {
            f"TH-{s.province_code}" for s in geothai.by_postal_code(postcode.group(1))
        }
        if len(owners) == 1:
            return owners.pop()
    return None


def place(params: MultiDict[str, str]) -> tuple[dict[str, Any], str]:
    """The case's location from the spec's location parameters, and the
    parameter that placed it.

    ``address_id`` is a gazetteer code (subdistrict ``520105``, district
    ``5201``, province ``TH-52``); ``lat``/``long`` without it fall in the
    subdistrict of the nearest centroid; ``address_string`` alone is matched
    with the gazetteer (``geothai.match``) inside the province it names.
    ``address_string`` is kept as the case's address in every case.
    """
    lat, long = single(params, "lat"), single(params, "long")
    address_id = single(params, "address_id")
    address = single(params, "address_string")
    if address is not None:
        if len(address) > MAX_ADDRESS:
            raise invalid(("too_long", "address_string"))
        _storable(address, "address_string")
    if lat is None and long is None and address_id is None and address is None:
        raise invalid(("location_missing", None))
    location: dict[str, Any] = {"address": address}
    if (lat is None) != (long is None):
        raise invalid(("coordinates_incomplete", "long" if long is None else "lat"))
    point = None
    if lat is not None and long is not None:
        point = (_coordinate(lat, "lat"), _coordinate(long, "long"))
        location.update(lat=point[0], long=point[1])
    if address_id is not None:
        match = _ADDRESS_ID.fullmatch(address_id)
        if match is None:
            raise invalid(("address_id_format", "address_id"))
        province_number, district, subdistrict = match.groups()
        code = province_number or district or subdistrict
        location["province_code"] = f"TH-{code[:2]}"
        if district:
            location["district_code"] = district
        if subdistrict:
            location["subdistrict_code"] = subdistrict
        return location, "address_id"
    if point is not None:
        subdistrict = nearest_subdistrict(*point)
        if subdistrict is None:
            raise invalid(("outside_thailand", None))
        location.update(
            province_code=f"TH-{subdistrict[:2]}", subdistrict_code=subdistrict
        )
        return location, "lat"
    assert address is not None
    found = province_in(address)
    if found is None:
        raise invalid(("address_not_placed", "address_string"))
    location["province_code"] = found
    postcode = _POSTCODE.search(address)
    if postcode:
        location["postcode"] = postcode.group(1)
    return location, "address_string"
