"""Provinces, regions, centroids and the validation of a case's location.

The gazetteer (districts, subdistricts, postcodes, names) is the ``geothai``
package; this package adds what it lacks from the project's own package data:
each province's region and abbreviations (``th_provinces.csv``,
:mod:`.provinces`) and a point for every subdistrict
(``th_subdistrict_centroids.csv``, :mod:`.centroids`). Files are read on first
use, never at import, so importing the package stays cheap for every service.
:mod:`.location` validates a case's location, reading a hand-written address
with :mod:`.addresses` when it gives no codes.

Provinces are identified by their ISO 3166-2 code (``TH-52``) everywhere in
labornet; its number is the DOPA code geothai uses (``52``).
"""

from __future__ import annotations

from labornet_shared.reference.geography.centroids import (
    LAT_MAX,
    LAT_MIN,
    LONG_MAX,
    LONG_MIN,
    NEAREST_MAX_KM,
    centroid,
    district_centroid,
    nearest_subdistrict,
    province_centroid,
)
from labornet_shared.reference.geography.location import (
    LocationError,
    ResolvedLocation,
    resolve_location,
)
from labornet_shared.reference.geography.provinces import (
    REGIONS,
    ProvinceInfo,
    province,
    provinces,
)

__all__ = [
    "LAT_MAX",
    "LAT_MIN",
    "LONG_MAX",
    "LONG_MIN",
    "NEAREST_MAX_KM",
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
