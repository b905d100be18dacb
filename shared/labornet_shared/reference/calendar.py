"""Buddhist-era (พุทธศักราช) years and the dates Thai people write.

Case references carry the Buddhist-era year (``LN-2568-00001234``), and the
year turns at midnight in Bangkok, not in UTC: 2025-12-31T18:00Z is already
1 January 2026 (2569 BE) in Thailand.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from labornet_shared.reference.errors import ReferenceError

__all__ = [
    "BANGKOK",
    "BE_OFFSET",
    "DateFormatError",
    "buddhist_year",
    "parse_thai_date",
    "to_buddhist_year",
    "to_gregorian_year",
]

BE_OFFSET = 543
"""Buddhist era year minus Gregorian year (since the 1941 calendar reform)."""

BANGKOK = ZoneInfo("Asia/Bangkok")

# A four-digit year above this is Buddhist era: 2400 BE is 1857 CE, older than
# any date labornet handles, and Gregorian years this large are far future.
_BE_THRESHOLD = 2400
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DMY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")


class DateFormatError(ReferenceError):
    """A text is not a date in one of the accepted Thai forms."""


def to_buddhist_year(gregorian_year: int) -> int:
    """Convert a Gregorian year to the Buddhist era (2025 -> 2568)."""
    return gregorian_year + BE_OFFSET


def to_gregorian_year(be_year: int) -> int:
    """Convert a Buddhist-era year to Gregorian (2568 -> 2025)."""
    return be_year - BE_OFFSET


def buddhist_year(moment: datetime | date | None = None) -> int:
    """The Buddhist-era year of a moment, as the calendar reads in Bangkok.

    Aware datetimes are converted to Asia/Bangkok; naive datetimes are taken
    as UTC (the project stores UTC everywhere); a plain ``date`` is already a
    calendar day and is used as it is; ``None`` means now.
    """
    if moment is None:
        moment = datetime.now(BANGKOK)
    elif isinstance(moment, datetime):
        if moment.tzinfo is None or moment.utcoffset() is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(BANGKOK)
    return to_buddhist_year(moment.year)


def parse_thai_date(text: str, field: str = "date") -> date:
    """Parse a date written as ``YYYY-MM-DD`` or ``DD/MM/YYYY``.

    The year may be Gregorian or Buddhist era; a year above 2400 is taken as
    Buddhist era, so ``2568-03-15``, ``2025-03-15``, ``15/03/2568`` and
    ``15/03/2025`` are all 15 March 2025. Thai digits are accepted.

    Raises:
        DateFormatError: ``date_format`` when the text has another form or
            names a day that does not exist (31/02/2568).
    """
    error = DateFormatError(
        "date_format", "must be a date as YYYY-MM-DD or DD/MM/YYYY", field
    )
    if not isinstance(text, str):
        raise error
    cleaned = text.translate(_THAI_DIGITS).strip()
    if m := _ISO.fullmatch(cleaned):
        year, month, day = (int(g) for g in m.groups())
    elif m := _DMY.fullmatch(cleaned):
        day, month, year = (int(g) for g in m.groups())
    else:
        raise error
    if year > _BE_THRESHOLD:
        year = to_gregorian_year(year)
    try:
        return date(year, month, day)
    except ValueError:
        raise error from None
