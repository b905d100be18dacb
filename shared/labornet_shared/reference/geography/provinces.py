"""The 77 provinces with what geothai lacks: region and abbreviations.

Read from the package's ``th_provinces.csv`` on first use, never at import.
Provinces are identified by their ISO 3166-2 code (``TH-52``) everywhere in
labornet; its number is the DOPA code geothai uses (``52``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

REGIONS = ("north", "northeast", "central", "south")


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
    text = (
        files("labornet_shared.reference")
        .joinpath("data", name)
        .read_text(encoding="utf-8")
    )
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
