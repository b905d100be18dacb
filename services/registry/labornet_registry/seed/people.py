"""Synthetic people: unique national IDs, phones, e-mails and LINE ids;
names, languages and terms of office for a roster row."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta

from labornet_registry.seed.abroad import Country
from labornet_registry.seed.figures import (
    ROSTER_COLUMNS,
    VOLUNTEER_START_WEIGHTS,
    VOLUNTEER_START_YEARS,
    VOLUNTEER_TERM_YEARS,
)
from labornet_registry.seed.names import (
    FEMALE_FIRST_NAMES,
    MALE_FIRST_NAMES,
    SOUTHERN_FEMALE_FIRST_NAMES,
    SOUTHERN_MALE_FIRST_NAMES,
    SOUTHERN_SURNAMES,
    SURNAMES,
)
from labornet_shared.reference.national_id import generate_national_id


class Identities:
    """Hands out national IDs, phones, emails and LINE ids, each unique."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._national_ids: set[str] = set()
        self._phones: set[str] = set()
        self._emails: set[str] = set()
        self._line_ids: set[str] = set()

    def national_id(self) -> str:
        while True:
            value = generate_national_id(self._rng)
            if value not in self._national_ids:
                self._national_ids.add(value)
                return value

    def _unique_phone(self, prefix: str, digits: int) -> str:
        while True:
            # The subscriber number never starts with 0 or 1, as in real plans.
            first = str(self._rng.randint(2, 9))
            rest = self._rng.randrange(10 ** (digits - 1))
            value = f"{prefix}{first}{rest:0{digits - 1}d}"
            if value not in self._phones:
                self._phones.add(value)
                return value

    def thai_mobile(self) -> str:
        """A Thai mobile in E.164: +66 then 8x, 9x or (fewer) 6x and 8 digits."""
        lead = self._rng.choices(("8", "9", "6"), weights=(45, 45, 10))[0]
        second = str(self._rng.randrange(10))
        return self._unique_phone(f"+66{lead}{second}", 7)

    def local_mobile(self, country: Country) -> str:
        """A mobile of the country in E.164."""
        prefix = self._rng.choice(country.mobile_prefixes)
        return self._unique_phone(
            f"+{country.calling_code}{prefix}", country.subscriber_digits
        )

    def email(self, first_en: str, last_en: str) -> str:
        """A webmail address made from the romanised name, as people make them."""
        first = "".join(c for c in first_en.lower() if c.isalnum())
        last = "".join(c for c in last_en.lower() if c.isalnum())
        local = self._rng.choice(
            (f"{first}.{last}", f"{first}_{last[:4]}", f"{first}{last[:2]}", first)
        )
        if self._rng.random() < 0.5:
            local += str(self._rng.randint(60, 99))  # a birth year, as often
        domain = "gmail.com" if self._rng.random() < 0.7 else "hotmail.com"
        value, n = f"{local}@{domain}", 1
        while value in self._emails:
            n += 1
            value = f"{local}{n}@{domain}"
        self._emails.add(value)
        return value

    def line_user_id(self) -> str:
        """A LINE user id: ``U`` and 32 hexadecimal digits."""
        while True:
            value = f"U{self._rng.getrandbits(128):032x}"
            if value not in self._line_ids:
                self._line_ids.add(value)
                return value


def blank_row(kind: str) -> dict[str, str]:
    row = dict.fromkeys(ROSTER_COLUMNS, "")
    row["kind"] = kind
    return row


def fill_person(
    rng: random.Random,
    ids: Identities,
    row: dict[str, str],
    *,
    southern_share: float,
    english_name: float,
    email: float,
    line: float,
) -> None:
    """Give a roster row a name, national ID and contacts."""
    female = rng.random() < 0.5
    southern = rng.random() < southern_share
    if southern:
        firsts = SOUTHERN_FEMALE_FIRST_NAMES if female else SOUTHERN_MALE_FIRST_NAMES
        surnames = SOUTHERN_SURNAMES
    else:
        firsts = FEMALE_FIRST_NAMES if female else MALE_FIRST_NAMES
        surnames = SURNAMES
    first_th, first_en = rng.choice(firsts)
    last_th, last_en = rng.choice(surnames)
    row["first_name_th"], row["last_name_th"] = first_th, last_th
    if rng.random() < english_name:
        row["first_name_en"], row["last_name_en"] = first_en, last_en
    row["national_id"] = ids.national_id()
    if rng.random() < email:
        row["email"] = ids.email(first_en, last_en)
    if rng.random() < line:
        row["line_user_id"] = ids.line_user_id()


def spoken_languages(
    rng: random.Random,
    english: float,
    others: Sequence[tuple[str, float]],
    factor: float = 1.0,
) -> str:
    spoken = ["th"]
    if rng.random() < english:
        spoken.append("en")
    for code, share in others:
        if code not in spoken and rng.random() < min(1.0, share * factor):
            spoken.append(code)
    return ",".join(spoken)


def day_in(rng: random.Random, year: int) -> date:
    first = date(year, 1, 1)
    return first + timedelta(days=rng.randrange((date(year + 1, 1, 1) - first).days))


def end_of_term(start: date) -> date:
    try:
        return start.replace(year=start.year + VOLUNTEER_TERM_YEARS)
    except ValueError:  # 29 February, in a year that has none
        return start.replace(year=start.year + VOLUNTEER_TERM_YEARS, day=28)


def volunteer_dates(rng: random.Random, row: dict[str, str]) -> None:
    year = rng.choices(VOLUNTEER_START_YEARS, weights=VOLUNTEER_START_WEIGHTS)[0]
    start = day_in(rng, year)
    row["start_date"] = start.isoformat()
    row["term_end"] = end_of_term(start).isoformat()
