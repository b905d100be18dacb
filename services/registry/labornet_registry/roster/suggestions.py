"""What a place name the gazetteer does not know may have meant.

Rosters from provinces keep names DOPA has retired (Bangkok's แขวงบางนา,
split in 2022 into บางนาเหนือ and บางนาใต้) and names misspelt by hand
(หัวเวยง for หัวเวียง). For such a name the gazetteer offers, within the
district or province the row gives: first the successors of an abolished
area of that name (``geothai.abolished``), then the current names closest
to it by edit distance — at most :data:`MAX_SIMILAR` and only those near
enough to be a slip of the hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

import geothai
from geothai.abolished import abolished_areas
from geothai.types import Abolished

from labornet_registry.roster.sheet import Suggestion
from labornet_registry.roster.text import THAI_DIGITS

#: at most this many suggestions (a retired name's successors are all shown)
MAX_SIMILAR = 3
_THAI = re.compile("[\u0e00-\u0e7f]")


def place_key(text: str) -> str:
    """A name as names are compared: geothai's ``normalize()`` plus the
    ``ฯ`` of กรุงเทพฯ and Thai digits read as digits."""
    return geothai.normalize(text.replace("ฯ", "")).translate(THAI_DIGITS)


def _distance(a: str, b: str, limit: int) -> int:
    """Edit distance with adjacent swaps (a tone mark typed before its
    vowel costs one), or ``limit + 1`` once it must exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] | None = None
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(
                previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost
            )
            if (
                before is not None
                and i > 1
                and j > 1
                and ca == b[j - 2]
                and a[i - 2] == cb
            ):
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return previous[-1]


def _allowed(key: str) -> int:
    """How far a slip may go: one edit in a short name, up to three in a
    long one (a Thai name's vowels and tone marks are letters of their own)."""
    return min(3, max(1, len(key) // 3))


def _similar(
    key: str, places: Iterable[geothai.District | geothai.Subdistrict]
) -> list[Suggestion]:
    """The places spelt closest to ``key`` (in Thai, or in Latin letters
    when it is written so), nearest first, none beyond a slip of the hand."""
    limit = _allowed(key)
    latin = not _THAI.search(key)
    scored = []
    for place in places:
        other = place_key(place.name_en if latin else place.name_th)
        distance = _distance(key, other, limit)
        if 0 < distance <= limit:
            scored.append((distance, place.code, place.name_th))
    scored.sort()
    return [Suggestion(code, name, "similar_name") for _, code, name in scored]


@lru_cache(maxsize=1)
def _abolished_by_name() -> dict[tuple[str, str], tuple[Abolished, ...]]:
    """Abolished areas that have successors, by (level, name key)."""
    found: dict[tuple[str, str], list[Abolished]] = {}
    for area in abolished_areas():
        if not area.successors:
            continue
        for name in {area.name_th, area.name_en or ""} - {""}:
            found.setdefault((area.level, place_key(name)), []).append(area)
    return {key: tuple(areas) for key, areas in found.items()}


def _successors(level: str, key: str, inside: Sequence[str]) -> list[Suggestion]:
    """The current places that took the place of an abolished ``level`` area
    named ``key`` that was, or whose successor is, inside one of ``inside``
    (codes of districts or provinces, matched as code prefixes)."""
    suggestions: list[Suggestion] = []
    for area in _abolished_by_name().get((level, key), ()):
        current = _current(area, "successor")
        codes = (area.code, *(s.code for s in current))
        if not any(code.startswith(prefix) for code in codes for prefix in inside):
            continue
        suggestions += [s for s in current if s not in suggestions]
    return suggestions


@lru_cache(maxsize=1)
def _abolished_by_code() -> dict[str, Abolished]:
    return {area.code: area for area in abolished_areas()}


def retired_code_successors(code: str) -> tuple[Suggestion, ...]:
    """The current places that took the place of the abolished district or
    subdistrict ``code`` (none for a code that never was, or whose
    successors the gazetteer does not know)."""
    area = _abolished_by_code().get(code)
    if area is None:
        return ()
    return tuple(_current(area, "successor"))


def _current(area: Abolished, reason: str) -> list[Suggestion]:
    """``area``'s successors that exist today, as suggestions."""
    found = []
    for code in area.successors:
        place = geothai.subdistrict(code) if len(code) == 6 else geothai.district(code)
        if place is not None:
            found.append(Suggestion(place.code, place.name_th, reason))
    return found


def _merge(
    successors: list[Suggestion], similar: list[Suggestion]
) -> tuple[Suggestion, ...]:
    room = max(0, MAX_SIMILAR - len(successors))
    known = {s.code for s in successors}
    return tuple(successors + [s for s in similar if s.code not in known][:room])


def subdistrict_suggestions(
    text: str, district_codes: Sequence[str], province_dopa: str | None
) -> tuple[Suggestion, ...]:
    """What a subdistrict name unknown in the row's district(s) (or, without
    one, its province) may have meant; nothing without a district or
    province to look in."""
    inside = list(district_codes) or ([province_dopa] if province_dopa else [])
    key = place_key(text)
    if not inside or not key:
        return ()
    districts = district_codes or [d.code for d in geothai.districts(inside[0])]
    places = [s for code in districts for s in geothai.subdistricts(code)]
    return _merge(_successors("subdistrict", key, inside), _similar(key, places))


def district_suggestions(
    text: str, province_dopa: str | None
) -> tuple[Suggestion, ...]:
    """What a district name unknown in the row's province (or in Thailand,
    without one) may have meant."""
    key = place_key(text)
    if not key:
        return ()
    provinces = (
        [province_dopa] if province_dopa else [p.code for p in geothai.provinces()]
    )
    places = [d for code in provinces for d in geothai.districts(code)]
    return _merge(_successors("district", key, provinces), _similar(key, places))


def describe(suggestions: Sequence[Suggestion], home: Sequence[str]) -> str:
    """The suggestions as the end of a detail — ``: it was retired; it is
    now 104702 (บางนาเหนือ) and 104703 (บางนาใต้)``, ``: did you mean 520102
    (หัวเวียง)?`` — or "" when there are none. A place outside ``home``
    (the row's district or province codes) is named with its district
    or province."""
    successors = [_label(s, home) for s in suggestions if s.reason == "successor"]
    similar = [_label(s, home) for s in suggestions if s.reason != "successor"]
    parts = []
    if successors:
        parts.append("it was retired; it is now " + _listed(successors, "and"))
    if similar:
        parts.append("did you mean " + _listed(similar, "or") + "?")
    return ": " + "; ".join(parts) if parts else ""


def _label(suggestion: Suggestion, home: Sequence[str]) -> str:
    code = suggestion.code
    words = suggestion.name_th
    if len(code) == 6 and code[:4] not in home:
        district = geothai.district(code[:4])
        words += f", {district.name_th}" if district else ""
    elif len(code) == 4 and code[:2] not in home:
        province = geothai.province(code[:2])
        words += f", {province.name_th}" if province else ""
    return f"{code} ({words})"


def _listed(labels: Sequence[str], word: str) -> str:
    if len(labels) == 1:
        return labels[0]
    return ", ".join(labels[:-1]) + f" {word} " + labels[-1]
