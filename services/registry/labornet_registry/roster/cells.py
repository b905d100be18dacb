"""The rule of each kind of cell: what it may hold, read into the agent
input's value, or a :class:`CellError` with an operator's sentence."""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache

from labornet_registry.roster.text import THAI_DIGITS, short
from labornet_registry.roster.vocabulary import (
    COUNTRY_NAMES,
    KINDS,
    LANGUAGE_NAMES,
    THAI_MONTHS,
)
from labornet_shared.categories import (
    AGENT_LANGUAGES,
    ISO_639_1,
    USUAL_AGENT_LANGUAGES,
)
from labornet_shared.reference.calendar import parse_thai_date, to_gregorian_year
from labornet_shared.reference.countries import validate_country
from labornet_shared.reference.errors import ReferenceError
from labornet_shared.reference.national_id import validate_national_id
from labornet_shared.reference.phone import normalize_phone

_KIND_MARKS = re.compile(r"[\s_\-.]")

_LANGUAGE_SPLIT = re.compile(r"[,;/\s、]+")

# A language's ISO 639-1 English name ("Finnish") reads as its code too;
# names of more than one word cannot survive the split into words.
_LANGUAGE_INDEX = {
    **{name.lower(): code for code, name in ISO_639_1.items() if " " not in name},
    **LANGUAGE_NAMES,
}

_COUNTRY_MARKS = re.compile(r"[\s.'\-]")
_COUNTRY_INDEX = {
    _COUNTRY_MARKS.sub("", name.lower()): code
    for code, names in COUNTRY_NAMES.items()
    for name in names
}

# A phone typed into a number cell loses its trunk 0: 812345678 is 081...
_MOBILE_WITHOUT_ZERO = re.compile(r"[689][0-9]{8}")
_LANDLINE_WITHOUT_ZERO = re.compile(r"[2-7][0-9]{7}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")

# "1 มิ.ย. 2567", "1 มิถุนายน 67" (a two-digit year next to a Thai month is
# always Buddhist era).
_THAI_MONTH_DATE = re.compile(
    r"(\d{1,2})\s*([ก-๛.\s]+?)\s*(?:พ\.?\s?ศ\.?\s*)?(\d{4}|\d{2})"
)
_DMY_OTHER_MARKS = re.compile(r"(\d{1,2})[-.](\d{1,2})[-.](\d{4})")
_TIME_SUFFIX = re.compile(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")
_BE_THRESHOLD = 2400


class CellError(Exception):
    """A cell breaks its column's rule: a stable ``code`` and a ``detail``."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@lru_cache(maxsize=256)
def read_kind(text: str) -> str:
    """``labour_graduate`` or ``labour_volunteer``, in English or Thai."""
    kind = KINDS.get(_KIND_MARKS.sub("", text.lower()))
    if kind is None:
        raise CellError(
            "unknown_kind",
            f"unknown kind '{short(text)}': use labour_graduate (บัณฑิตแรงงาน) "
            "or labour_volunteer (อาสาสมัครแรงงาน, อสร.)",
        )
    return kind


def read_national_id(text: str) -> str:
    """A valid Thai national ID, 13 digits."""
    try:
        return validate_national_id(text)
    except ReferenceError as exc:
        detail = f"national ID {exc.detail}"
        if "E+" in text.upper():
            detail += (
                " (Excel shortened it to a number like 1.1E+12: "
                "format the column as text)"
            )
        raise CellError("invalid_national_id", detail) from None


def read_phone(text: str) -> str:
    """A Thai or foreign phone in E.164 (a lost trunk 0 given back)."""
    if _MOBILE_WITHOUT_ZERO.fullmatch(text) or _LANDLINE_WITHOUT_ZERO.fullmatch(text):
        text = "0" + text
    try:
        return normalize_phone(text)
    except ReferenceError:
        raise CellError(
            "invalid_phone",
            "phone must be a Thai mobile or landline number (081-234-5678) or "
            "+ and a country code for a number abroad",
        ) from None


def read_email(text: str) -> str:
    """An e-mail address, lower case."""
    email = text.lower()
    if not _EMAIL.fullmatch(email):
        raise CellError("invalid_email", "email must look like name@example.com")
    return email


@lru_cache(maxsize=1024)
def read_languages(text: str) -> tuple[str, ...]:
    """Language codes from ISO 639-1 codes or names; Thai when none is given."""
    found: list[str] = []
    unknown: list[str] = []
    for word in _LANGUAGE_SPLIT.split(text.lower()):
        word = word.removeprefix("ภาษา").strip()
        if not word:
            continue
        code = word if word in AGENT_LANGUAGES else _LANGUAGE_INDEX.get(word)
        if code is None:
            unknown.append(word)
        elif code not in found:
            found.append(code)
    if unknown:
        names = ", ".join(f"'{short(w, 20)}'" for w in unknown)
        raise CellError(
            "unknown_language",
            f"unknown language {names}: use ISO 639-1 codes (two letters) "
            "such as " + ", ".join(USUAL_AGENT_LANGUAGES) + ", fi, sv",
        )
    return tuple(found) or ("th",)


@lru_cache(maxsize=4096)
def read_date(text: str) -> date:
    """A date in the Buddhist era or Gregorian, numeric or with a month name."""
    cleaned = _TIME_SUFFIX.sub("", text.translate(THAI_DIGITS).strip())
    cleaned = _DMY_OTHER_MARKS.sub(r"\1/\2/\3", cleaned)
    try:
        return parse_thai_date(cleaned)
    except ReferenceError:
        pass
    if m := _THAI_MONTH_DATE.fullmatch(cleaned):
        month = THAI_MONTHS.get(re.sub(r"[.\s]", "", m.group(2)))
        year = int(m.group(3))
        if len(m.group(3)) == 2:
            year += 2500
        if year > _BE_THRESHOLD:
            year = to_gregorian_year(year)
        if month is not None:
            try:
                return date(year, month, int(m.group(1)))
            except ValueError:
                pass
    for pattern in ("%d %b %Y", "%d %B %Y", "%d-%b-%Y", "%d-%b-%y"):
        try:
            return datetime.strptime(cleaned, pattern).date()
        except ValueError:
            continue
    raise CellError(
        "invalid_date",
        f"'{short(text)}' is not a date: write DD/MM/YYYY or YYYY-MM-DD "
        "(Buddhist era or Gregorian), e.g. 01/10/2567",
    )


@lru_cache(maxsize=512)
def read_country(text: str) -> str:
    """The ISO code of a country abroad, from a code or a name."""
    key = _COUNTRY_MARKS.sub("", text.lower())
    code = _COUNTRY_INDEX.get(key)
    if code is None and len(key) == 2:
        try:
            code = validate_country(key)
        except ReferenceError:
            code = None
    if code == "TH" or key in ("thailand", "ไทย", "ประเทศไทย"):
        raise CellError(
            "unknown_country",
            "abroad_country is for agents abroad: for Thailand give the "
            "province instead",
        )
    if code is None:
        raise CellError(
            "unknown_country",
            f"unknown country '{short(text)}': use an ISO code such as TW, IL, "
            "KR, JP, MY or the country's name",
        )
    return code
