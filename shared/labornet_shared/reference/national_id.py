"""Thai 13-digit citizen identification numbers (เลขประจำตัวประชาชน).

The number is personal data: nothing here puts it into an error message, and
callers should store it only where the design allows (intake) and show only
:func:`mask_national_id` elsewhere.
"""

from __future__ import annotations

import random
import re

from labornet_shared.reference.errors import ReferenceError

__all__ = [
    "NationalIdError",
    "generate_national_id",
    "is_valid_national_id",
    "mask_national_id",
    "validate_national_id",
]

# People type Thai digits on Thai keyboards; treat them as the same number.
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
# Printed cards group the digits as 1-2345-67890-12-3; accept any grouping
# with dashes or spaces, nothing else.
_ALLOWED = re.compile(r"[0-9][0-9\- ]*")
_MASKED_NONE = "x-xxxx-xxxxx-xx-x"


class NationalIdError(ReferenceError):
    """A national ID number is malformed or fails its check digit."""


def _check_digit(first12: str) -> int:
    total = sum(int(d) * (13 - i) for i, d in enumerate(first12))
    return (11 - total % 11) % 10


def _digits(value: object) -> str | None:
    """The plain digits of ``value``, or None if it is not an ID-shaped text."""
    if not isinstance(value, str):
        return None
    text = value.translate(_THAI_DIGITS).strip()
    if not _ALLOWED.fullmatch(text):
        return None
    return text.replace("-", "").replace(" ", "")


def validate_national_id(value: str, field: str = "national_id") -> str:
    """Validate a Thai citizen ID and return its 13 plain digits.

    Dashes and spaces between digits are accepted ("1-1017-00230-70-8").
    The first digit (the person-type category) must be 1-8 and the last digit
    must match the mod-11 check digit.

    Raises:
        NationalIdError: ``national_id_format`` when the value is not 13
            digits starting with 1-8, ``national_id_checksum`` when the check
            digit is wrong.
    """
    digits = _digits(value)
    if digits is None or len(digits) != 13:
        raise NationalIdError(
            "national_id_format", "must be 13 digits (dashes allowed)", field
        )
    if digits[0] not in "12345678":
        raise NationalIdError(
            "national_id_format", "must start with a digit from 1 to 8", field
        )
    if _check_digit(digits[:12]) != int(digits[12]):
        raise NationalIdError(
            "national_id_checksum", "check digit does not match", field
        )
    return digits


def is_valid_national_id(value: str) -> bool:
    """Tell whether ``value`` is a valid Thai citizen ID (see the validator)."""
    try:
        validate_national_id(value)
    except ReferenceError:
        return False
    return True


def mask_national_id(value: str) -> str:
    """Mask an ID for display, keeping only the last three digits.

    ``"1101700230708"`` becomes ``"x-xxxx-xxxxx-70-8"``. Anything that is not
    13 digits is masked completely, so a typo never leaks a partial number.
    """
    digits = _digits(value)
    if digits is None or len(digits) != 13:
        return _MASKED_NONE
    return f"x-xxxx-xxxxx-{digits[10:12]}-{digits[12]}"


def generate_national_id(rng: random.Random) -> str:
    """Generate a random valid ID (13 plain digits) for tests and benchmarks.

    The numbers are random, not real people's, but they pass validation, so
    never use them outside test or synthetic data.
    """
    first12 = str(rng.randint(1, 8)) + "".join(
        str(rng.randint(0, 9)) for _ in range(11)
    )
    return first12 + str(_check_digit(first12))
