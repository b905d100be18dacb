"""Phone numbers: Thai numbers in any usual spelling, and foreign E.164.

Numbers are stored in E.164 (``+66812345678``) so that notify and the SMS
gateways see one form; :func:`mask_phone` gives the only form that may appear
outside intake (logs, delivery records).
"""

from __future__ import annotations

import re

from labornet_shared.reference.errors import ReferenceError

__all__ = ["PhoneError", "mask_phone", "normalize_phone"]

_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
# Separators people put in numbers; anything else (letters, "ext") is refused
# rather than guessed.
_SHAPE = re.compile(r"\+?[0-9][0-9 ()\-.]*")
# "+66 (0)81 ..." repeats the trunk prefix in brackets.
_TRUNK_IN_BRACKETS = re.compile(r"\(\s*0\s*\)")
# National significant numbers (without the trunk 0): mobiles 6x/8x/9x with
# 9 digits, landlines 2x-7x with 8 digits.
_THAI_MOBILE = re.compile(r"[689][0-9]{8}")
_THAI_LANDLINE = re.compile(r"[2-7][0-9]{7}")
# ITU country codes of one and two digits; all others have three. Needed only
# to know how much of a foreign number is the country code when masking.
_CC1 = {"1", "7"}
_CC2 = {
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43",
    "44", "45", "46", "47", "48", "49", "51", "52", "53", "54", "55", "56",
    "57", "58", "60", "61", "62", "63", "64", "65", "66", "81", "82", "84",
    "86", "90", "91", "92", "93", "94", "95", "98",
}  # fmt: skip


class PhoneError(ReferenceError):
    """A phone number cannot be read as a Thai or an international number."""


def _error(field: str) -> PhoneError:
    return PhoneError(
        "phone_format",
        "must be a Thai mobile or landline number, or an international number "
        "starting with + and a country code",
        field,
    )


def _is_thai_nsn(nsn: str) -> bool:
    return bool(_THAI_MOBILE.fullmatch(nsn) or _THAI_LANDLINE.fullmatch(nsn))


def normalize_phone(value: str, field: str = "phone") -> str:
    """Normalize a phone number to E.164.

    Thai numbers may be written nationally ("081-234-5678", "(02) 123-4567")
    or internationally ("+66 81 234 5678", "66812345678"); mobiles have 10
    national digits (06, 08, 09), landlines 9 (02-07). Foreign numbers
    (workers abroad) must start with "+" and have 8-15 digits.

    Returns:
        The number as ``+<country code><number>``, e.g. ``+66812345678``.

    Raises:
        PhoneError: ``phone_format`` for anything else.
    """
    if not isinstance(value, str):
        raise _error(field)
    text = _TRUNK_IN_BRACKETS.sub("", value.translate(_THAI_DIGITS)).strip()
    if not text.startswith("+") and text.startswith("("):
        # "(02) 123-4567": the bracket before the first digit is harmless.
        text = text[1:]
    if not _SHAPE.fullmatch(text):
        raise _error(field)
    digits = re.sub(r"[^0-9]", "", text)

    if text.startswith("+"):
        if digits.startswith("66"):
            nsn = digits[2:]
            # "+66 081 ..." keeps the trunk 0 by mistake; drop one.
            nsn = nsn.removeprefix("0")
        elif digits[0] != "0" and 8 <= len(digits) <= 15:
            return "+" + digits
        else:
            raise _error(field)
    elif digits.startswith("0"):
        nsn = digits[1:]
    elif digits.startswith("66") and len(digits) in (10, 11):
        # International form without the "+"; a Thai national number never
        # starts with 6 without its trunk 0, so this is not ambiguous.
        nsn = digits[2:]
    else:
        raise _error(field)

    if not _is_thai_nsn(nsn):
        raise _error(field)
    return "+66" + nsn


def _split_country_code(digits: str) -> tuple[str, str]:
    for size, codes in ((1, _CC1), (2, _CC2)):
        if digits[:size] in codes:
            return digits[:size], digits[size:]
    return digits[:3], digits[3:]


def mask_phone(e164: str) -> str:
    """Mask a phone number for logs and delivery records.

    Keeps the country code, the first digit of the national number and the
    last four digits: ``+66812345678`` gives ``"+66 8x xxx 5678"`` and the
    landline ``+6621234567`` gives ``"+66 2 xxx 4567"``. Input that is not a
    readable number is masked completely.
    """
    try:
        number = normalize_phone(e164)
    except ReferenceError:
        return "xxxx"
    country, nsn = _split_country_code(number[1:])
    if len(nsn) < 6:
        # Too short to show 5 digits and still hide anything.
        return f"+{country} " + "x" * len(nsn)
    first, middle, last = nsn[0], nsn[1:-4], nsn[-4:]
    if country == "66" and len(nsn) == 9:
        return f"+66 {first}x xxx {last}"
    if country == "66":
        return f"+66 {first} {'x' * len(middle)} {last}"
    return f"+{country} {first}{'x' * len(middle)} {last}"
