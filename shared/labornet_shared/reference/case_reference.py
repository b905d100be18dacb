"""Case references: ``LN-2569-00001234`` — readable and unambiguous on the phone.

The Buddhist-era year of the case's receipt and an 8-digit number that the
owning database issues (its sequence), so references are unique however many
workers and instances take cases in at once.
"""

from __future__ import annotations

import re

# ASCII digits, the whole text: "\d" and "$" would let Thai digits and a
# trailing newline through
_PATTERN = re.compile(r"LN-([0-9]{4})-([0-9]{8})")


def format_case_reference(be_year: int, number: int) -> str:
    """``LN-<BE year>-<8-digit number>``."""
    return f"LN-{be_year:04d}-{number:08d}"


def parse_case_reference(reference: str) -> tuple[int, int] | None:
    """(BE year, number) of a well-formed reference (ASCII digits only)."""
    match = _PATTERN.fullmatch(reference or "")
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))
