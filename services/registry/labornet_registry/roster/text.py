"""Cell text: invisible marks cleaned away, header keys, cells as text
however a spreadsheet typed them, and cells quoted safely in details."""

from __future__ import annotations

import re
from datetime import date, datetime, time

from labornet_registry.roster.columns import DATE_COLUMNS

THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
# Invisible characters that Excel and LINE copy-paste leave in cells.
_INVISIBLE = str.maketrans({"\ufeff": None, "\u200b": None, "\u00a0": " "})
_SPACES = re.compile(r"\s+")
_HEADER_MARKS = re.compile(r"[\s_\-.*:]")
_HAS_INVISIBLE = re.compile("[\ufeff\u200b\u00a0]")


def clean(text: str) -> str:
    """The text without invisible marks or surrounding spaces."""
    if _HAS_INVISIBLE.search(text):
        text = text.translate(_INVISIBLE)
    return text.strip()


def header_key(text: str) -> str:
    """A header as headers are compared: no case, spaces, ``_-.*:``."""
    return _HEADER_MARKS.sub("", clean(text).lower())


def optional(text: str) -> str | None:
    """A free-text cell with its runs of spaces made one; None when empty."""
    return _SPACES.sub(" ", text) or None


def cell_text(value: object, column: str) -> str:
    """A cell as text, however the spreadsheet typed it."""
    if isinstance(value, str):
        return clean(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, int | float):
        if column in DATE_COLUMNS and 20000 <= value <= 80000:
            # A date cell Excel lost the format of: the serial day number
            # (20000 is 1954, 80000 is 2119).
            from openpyxl.utils.datetime import from_excel

            return from_excel(value).date().isoformat()
        if isinstance(value, float) and value.is_integer():
            # IDs, codes and phones typed as numbers come back as floats.
            return str(int(value))
        return str(value)
    return clean(str(value))


_DIGIT = re.compile(r"[0-9๐-๙]")
# Nine digits make a phone number, thirteen a national ID: a cell with that
# many (a column shifted by one, say) is never quoted back.
_PERSONAL_DIGITS = 9


def short(text: str, limit: int = 40) -> str:
    """A cell quoted in a detail, cut so one odd cell cannot flood a report.

    A cell that may be personal data (many digits, or an @) is not quoted.
    """
    if "@" in text or len(_DIGIT.findall(text)) >= _PERSONAL_DIGITS:
        return "(value not shown)"
    return text if len(text) <= limit else text[: limit - 1] + "…"
