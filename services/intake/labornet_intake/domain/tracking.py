"""The citizen's tracking code: derived from the case's reference with a
server secret (never stored), checked in constant time, and read as a
citizen types it."""

from __future__ import annotations

import base64
import hmac
import re
import unicodedata


def tracking_code(pepper: str, reference: str) -> str:
    """The citizen's secret for following a case: ``XXXXX-XXXXX``.

    Derived from the reference with a server secret, so it is never stored
    and a retried submission gets the same code back.
    """
    digest = hmac.new(pepper.encode(), f"tracking:{reference}".encode(), "sha256")
    # Crockford-like alphabet without look-alikes (0/O, 1/I) for the phone
    code = base64.b32encode(digest.digest()).decode()[:10]
    code = code.translate(str.maketrans("01OI", "ABCD"))
    return f"{code[:5]}-{code[5:]}"


def check_tracking_code(pepper: str, reference: str, code: str | None) -> bool:
    """Constant-time check of a tracking code (case and dash insensitive)."""
    if not code:
        return False
    given = code.strip().upper().replace(" ", "")
    if not given.isascii():
        # codes are ASCII (and compare_digest refuses other text: a 500)
        return False
    if "-" not in given and len(given) == 10:
        given = f"{given[:5]}-{given[5:]}"
    return hmac.compare_digest(given, tracking_code(pepper, reference))


#: what may stand between a typed code's characters: white space, hyphens
#: and dashes (a phone's keyboard offers several), the katakana long mark
_CODE_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\u30fc]+")
#: the characters of a code: base32 with O and I replaced (no 0, 1, O or I)
_CODE_CHARACTERS = frozenset("ABCDEFGHJKLMNPQRSTUVWXYZ234567")


def normalise_tracking_code(typed: str) -> str | None:
    """A tracking code as a citizen typed it — lower case, spaced, dashed
    anywhere, in full-width letters — in the form :func:`tracking_code`
    gives it (``XXXXX-XXXXX``); None when it cannot be a code (not ten of
    its characters)."""
    compact = _CODE_SEPARATORS.sub("", unicodedata.normalize("NFKC", typed))
    compact = compact.upper()
    if len(compact) != 10 or not set(compact) <= _CODE_CHARACTERS:
        return None
    return f"{compact[:5]}-{compact[5:]}"
