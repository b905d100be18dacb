"""The gazetteer in a stable order, and the languages spoken in each
province besides Thai."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import geothai

from labornet_shared.reference.geography import provinces


@dataclass(frozen=True)
class Province:
    """A province: ISO code, region, and its district codes in order."""

    iso_code: str
    region: str
    districts: tuple[str, ...]


@lru_cache(maxsize=1)
def provinces_by_code() -> tuple[Province, ...]:
    """Every province with its district codes, all sorted by code.

    Sorting here means the network never depends on the order geothai or a
    dict happens to return.
    """
    return tuple(
        Province(
            info.iso_code,
            info.region,
            tuple(sorted(d.code for d in geothai.districts(info.dopa_code))),
        )
        for info in sorted(provinces(), key=lambda p: p.iso_code)
    )


@lru_cache(maxsize=1)
def subdistrict_codes() -> tuple[str, ...]:
    """Every subdistrict code of Thailand, sorted."""
    return tuple(
        sorted(
            s.code
            for p in provinces_by_code()
            for d in p.districts
            for s in geothai.subdistricts(d)
        )
    )


def province_iso(dopa_code: str) -> str:
    """The ISO province (``TH-52``) of a district or subdistrict code."""
    return "TH-" + dopa_code[:2]


# --- languages of the area ---------------------------------------------------

# Languages of the area besides Thai, with the share of volunteers who speak
# each: Myanmar where many Myanmar workers are, Khmer along the Cambodian
# border, Lao along the Mekong, Malay in the deep south.
AREA_LANGUAGES: dict[str, tuple[tuple[str, float], ...]] = {
    "TH-63": (("my", 0.4),),
    "TH-85": (("my", 0.4),),
    "TH-74": (("my", 0.35),),
    "TH-57": (("my", 0.2), ("zh", 0.03)),
    "TH-58": (("my", 0.3),),
    "TH-71": (("my", 0.25),),
    "TH-50": (("my", 0.1),),
    "TH-77": (("my", 0.1),),
    "TH-11": (("my", 0.1),),
    "TH-10": (("my", 0.05), ("zh", 0.03)),
    "TH-70": (("my", 0.08),),
    "TH-82": (("my", 0.1),),
    "TH-83": (("my", 0.1),),
    "TH-86": (("my", 0.08),),
    "TH-84": (("my", 0.06),),
    "TH-27": (("km", 0.35),),
    "TH-32": (("km", 0.4),),
    "TH-33": (("km", 0.3), ("lo", 0.2)),
    "TH-23": (("km", 0.3),),
    "TH-22": (("km", 0.2),),
    "TH-31": (("km", 0.2), ("lo", 0.1)),
    "TH-43": (("lo", 0.5),),
    "TH-42": (("lo", 0.45),),
    "TH-49": (("lo", 0.5),),
    "TH-48": (("lo", 0.5), ("vi", 0.03)),
    "TH-34": (("lo", 0.4),),
    "TH-38": (("lo", 0.5),),
    "TH-37": (("lo", 0.35),),
    "TH-47": (("lo", 0.25), ("vi", 0.03)),
    "TH-41": (("lo", 0.25),),
    "TH-55": (("lo", 0.2),),
    "TH-53": (("lo", 0.08),),
    "TH-56": (("lo", 0.08),),
    "TH-94": (("ms", 0.7),),
    "TH-95": (("ms", 0.6),),
    "TH-96": (("ms", 0.75),),
    "TH-91": (("ms", 0.4),),
    "TH-90": (("ms", 0.2),),
}
# Elsewhere in the northeast many people speak Lao (Isan) too.
NORTHEAST_LANGUAGES: tuple[tuple[str, float], ...] = (("lo", 0.15),)


def area_languages(province: Province) -> tuple[tuple[str, float], ...]:
    if province.iso_code in AREA_LANGUAGES:
        return AREA_LANGUAGES[province.iso_code]
    return NORTHEAST_LANGUAGES if province.region == "northeast" else ()
