"""The three parts of the network — labour graduates, volunteers in
Thailand, volunteers abroad — generated from one seed and written as a
roster CSV."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from labornet_registry.seed.abroad import ABROAD_SPEAKS_ENGLISH, COUNTRIES
from labornet_registry.seed.figures import (
    ABROAD_LINE,
    ABROAD_LOCAL_PHONE,
    DEEP_SOUTH,
    DEEP_SOUTH_GROWTH,
    EXPANSION_GROWTH,
    EXPANSION_YEARS,
    GRADUATE,
    GRADUATE_EMAIL,
    GRADUATE_ENGLISH_NAME,
    GRADUATE_LANGUAGE_FACTOR,
    GRADUATE_LINE,
    GRADUATE_SPEAKS_ENGLISH,
    LAST_START_YEAR,
    NETWORK_FIRST_YEAR,
    NETWORK_GRADUATES,
    NETWORK_VOLUNTEERS_ABROAD,
    NETWORK_VOLUNTEERS_THAILAND,
    PROVINCE_WIDE_MANY,
    PROVINCE_WIDE_ONE,
    ROSTER_COLUMNS,
    VOLUNTEER,
    VOLUNTEER_EMAIL,
    VOLUNTEER_ENGLISH_NAME,
    VOLUNTEER_LINE,
    VOLUNTEER_SPEAKS_ENGLISH,
)
from labornet_registry.seed.names import SOUTHERN_NAME_SHARE
from labornet_registry.seed.people import (
    Identities,
    blank_row,
    day_in,
    fill_person,
    spoken_languages,
    volunteer_dates,
)
from labornet_registry.seed.places import (
    area_languages,
    province_iso,
    provinces_by_code,
)
from labornet_registry.seed.sharing import (
    apportion,
    graduates_per_province,
    volunteer_subdistricts,
)
from labornet_shared.csvcells import safe_record


def _graduates(rng: random.Random, ids: Identities, count: int) -> list[dict[str, str]]:
    """Labour graduates: every province has one, by district round robin."""
    rows: list[dict[str, str]] = []
    quota = graduates_per_province(rng, count)
    for province in provinces_by_code():
        n = quota.get(province.iso_code, 0)
        if n == 0:
            continue
        districts = list(province.districts)
        rng.shuffle(districts)
        # A few provinces have one graduate for the whole province.
        wide = rng.random() < (PROVINCE_WIDE_ONE if n == 1 else PROVINCE_WIDE_MANY)
        if province.iso_code in DEEP_SOUTH:
            joined, growth = NETWORK_FIRST_YEAR, DEEP_SOUTH_GROWTH
        else:
            joined, growth = rng.randint(*EXPANSION_YEARS), EXPANSION_GROWTH
        languages = area_languages(province)
        placed: list[dict[str, str]] = []
        for i in range(n):
            row = blank_row(GRADUATE)
            fill_person(
                rng,
                ids,
                row,
                southern_share=SOUTHERN_NAME_SHARE.get(province.iso_code, 0.0),
                english_name=GRADUATE_ENGLISH_NAME,
                email=GRADUATE_EMAIL,
                line=GRADUATE_LINE,
            )
            row["phone"] = ids.thai_mobile()
            row["languages"] = spoken_languages(
                rng, GRADUATE_SPEAKS_ENGLISH, languages, GRADUATE_LANGUAGE_FACTOR
            )
            row["province_code"] = province.iso_code
            if not (wide and i == 0):
                # Round robin: every district has one before any has two.
                row["district"] = districts[(i - wide) % len(districts)]
            # The province's first graduate started the year it joined; the
            # rest came as it grew: early in the deep south, where the network
            # began, and mostly in later years elsewhere.
            span = LAST_START_YEAR - joined + 1
            year = joined if i == 0 else joined + int(span * rng.random() ** growth)
            row["start_date"] = day_in(rng, year).isoformat()
            placed.append(row)
        placed.sort(key=lambda r: r["district"])
        rows.extend(placed)
    return rows


def _volunteers_thailand(
    rng: random.Random, ids: Identities, count: int
) -> list[dict[str, str]]:
    """Labour volunteers in Thailand, one per subdistrict given out."""
    rows: list[dict[str, str]] = []
    by_iso = {p.iso_code: p for p in provinces_by_code()}
    for code in volunteer_subdistricts(rng, count):
        province = by_iso[province_iso(code)]
        row = blank_row(VOLUNTEER)
        fill_person(
            rng,
            ids,
            row,
            southern_share=SOUTHERN_NAME_SHARE.get(province.iso_code, 0.0),
            english_name=VOLUNTEER_ENGLISH_NAME,
            email=VOLUNTEER_EMAIL,
            line=VOLUNTEER_LINE,
        )
        row["phone"] = ids.thai_mobile()
        row["languages"] = spoken_languages(
            rng, VOLUNTEER_SPEAKS_ENGLISH, area_languages(province)
        )
        row["province_code"] = province.iso_code
        row["district"] = code[:4]
        row["subdistrict"] = code
        volunteer_dates(rng, row)
        rows.append(row)
    return rows


def _volunteers_abroad(
    rng: random.Random, ids: Identities, count: int
) -> list[dict[str, str]]:
    """Volunteers abroad, shared out by country and city."""
    rows: list[dict[str, str]] = []
    if count == 0:
        return rows
    quota = apportion([(c.code, c.weight) for c in COUNTRIES], count)
    for country in COUNTRIES:
        cities = [name for name, _ in country.cities]
        city_weights = [w for _, w in country.cities]
        placed: list[dict[str, str]] = []
        for _ in range(quota[country.code]):
            row = blank_row(VOLUNTEER)
            fill_person(
                rng,
                ids,
                row,
                southern_share=0.0,
                english_name=VOLUNTEER_ENGLISH_NAME,
                email=VOLUNTEER_EMAIL,
                line=ABROAD_LINE,
            )
            if rng.random() < ABROAD_LOCAL_PHONE:
                row["phone"] = ids.local_mobile(country)
            else:
                row["phone"] = ids.thai_mobile()
            row["languages"] = spoken_languages(
                rng, ABROAD_SPEAKS_ENGLISH, country.languages
            )
            row["abroad_country"] = country.code
            row["abroad_city"] = rng.choices(cities, weights=city_weights)[0]
            volunteer_dates(rng, row)
            placed.append(row)
        placed.sort(key=lambda r: r["abroad_city"])
        rows.extend(placed)
    return rows


def generate_network(
    seed: int = 2568,
    *,
    graduates: int = NETWORK_GRADUATES,
    volunteers: int = NETWORK_VOLUNTEERS_THAILAND,
    abroad: int = NETWORK_VOLUNTEERS_ABROAD,
) -> list[dict[str, str]]:
    """Generate a synthetic field-agent network as roster rows.

    Each row is a dict keyed by :data:`ROSTER_COLUMNS` with string values
    (``""`` when empty): places as geothai codes, languages as
    comma-separated codes, dates as ISO ``YYYY-MM-DD``, phones in E.164.
    Rows come graduates first (by province and district), then volunteers in
    Thailand (by subdistrict), then volunteers abroad (by country).

    The same seed and counts always give the same network; another seed gives
    another one. The defaults are the real network's size.

    Raises:
        ValueError: a count is negative.
    """
    if min(graduates, volunteers, abroad) < 0:
        raise ValueError("counts of field agents cannot be negative")
    rng = random.Random(seed)
    ids = Identities(rng)
    return [
        *_graduates(rng, ids, graduates),
        *_volunteers_thailand(rng, ids, volunteers),
        *_volunteers_abroad(rng, ids, abroad),
    ]


def write_network_csv(path: Path, seed: int = 2568, **counts: int) -> int:
    """Write a synthetic network as a roster CSV and return the rows written.

    The file is what the roster importer reads: UTF-8 with a byte-order mark
    (so that Excel shows the Thai names), comma-separated, the English column
    names in the first row. ``counts`` are the keyword arguments of
    :func:`generate_network` (``graduates``, ``volunteers``, ``abroad``).
    """
    rows = generate_network(seed, **counts)
    with Path(path).open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=ROSTER_COLUMNS)
        writer.writeheader()
        writer.writerows(safe_record(row) for row in rows)
    return len(rows)
