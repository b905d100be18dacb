"""Thai reference data and validators shared by every labornet service.

National ID numbers, phone numbers, Buddhist-era dates, ISO country codes and
the gazetteer (provinces, districts, subdistricts, postcodes, centroids).

Every validator raises a :class:`ReferenceError` (a ``ValueError``) carrying a
dotted ``field`` path, a stable snake_case ``code`` and an English ``detail``
that never contains the rejected value, so services can turn it into an RFC
9457 problem entry and log it without leaking personal data.
"""

from __future__ import annotations

from labornet_shared.reference.calendar import (
    BANGKOK,
    BE_OFFSET,
    DateFormatError,
    buddhist_year,
    parse_thai_date,
    to_buddhist_year,
    to_gregorian_year,
)
from labornet_shared.reference.countries import (
    ISO_COUNTRIES,
    CountryError,
    validate_country,
)
from labornet_shared.reference.errors import ReferenceError
from labornet_shared.reference.geography import (
    REGIONS,
    LocationError,
    ProvinceInfo,
    ResolvedLocation,
    centroid,
    district_centroid,
    nearest_subdistrict,
    province,
    province_centroid,
    provinces,
    resolve_location,
)
from labornet_shared.reference.national_id import (
    NationalIdError,
    generate_national_id,
    is_valid_national_id,
    mask_national_id,
    validate_national_id,
)
from labornet_shared.reference.phone import (
    PhoneError,
    mask_phone,
    normalize_phone,
)

__all__ = [
    "BANGKOK",
    "BE_OFFSET",
    "ISO_COUNTRIES",
    "REGIONS",
    "CountryError",
    "DateFormatError",
    "LocationError",
    "NationalIdError",
    "PhoneError",
    "ProvinceInfo",
    "ReferenceError",
    "ResolvedLocation",
    "buddhist_year",
    "centroid",
    "district_centroid",
    "generate_national_id",
    "is_valid_national_id",
    "mask_national_id",
    "mask_phone",
    "nearest_subdistrict",
    "normalize_phone",
    "parse_thai_date",
    "province",
    "province_centroid",
    "provinces",
    "resolve_location",
    "to_buddhist_year",
    "to_gregorian_year",
    "validate_country",
    "validate_national_id",
]
