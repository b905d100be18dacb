"""marshmallow fields and checks every service's request schemas use.

Validators raise ``ValidationError`` with a stable error code as message, so
the problem+json answer names the field and the code, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError, fields

from labornet_shared.reference import ReferenceError

# PostgreSQL text cannot hold NUL, and half a surrogate pair cannot be encoded
# as UTF-8 at all: either would fail at the database as a 500.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class _Storable:
    """Refuses strings that no database (or UTF-8) can store."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)  # type: ignore[misc]
        if isinstance(text, str) and _UNSTORABLE.search(text):
            raise ValidationError("invalid")
        return text


# The shapes the reference checks accept, said in the OpenAPI documents (as
# field metadata: the checks themselves stay the reference data's, which
# also know the ISO codes and the check digit). JSON Schema (ECMA) syntax.
#: an ISO 3166-1 alpha-2 code, any case, spaces around it
COUNTRY_SHAPE = {"pattern": r"^\s*[A-Za-z]{2}\s*$"}
#: 13 digits (Arabic or Thai) grouped with dashes or spaces
NATIONAL_ID_SHAPE = {"pattern": r"^\s*[0-9\u0e50-\u0e59][0-9\u0e50-\u0e59 -]*\s*$"}
# what a phone field accepts, as far as a pattern can say it: digits (Thai
# too), an optional leading +, and the separators people write; the service
# then checks the number itself (labornet_shared.reference.phone)
PHONE_SHAPE = {
    "pattern": r"^\s*\+?[0-9\u0e50-\u0e59(][0-9\u0e50-\u0e59 ()\-.]*$",
    "description": (
        "A Thai mobile (10 digits from 06, 08 or 09) or landline (9 digits from"
        " 02-07) in any usual spelling (081-234-5678, +66 81 234 5678), or an"
        " international number: + and country code, 8-15 digits."
    ),
    "examples": ["081-234-5678", "+66812345678", "+886912345678"],
}


class Text(_Storable, fields.String):
    """An input string: storable text only."""


class Email(_Storable, fields.Email):
    """An input e-mail address: storable text only."""


def in_utc_range(value: datetime) -> None:
    """Refuse an aware time that has no UTC equivalent (0001-01-01T00:00+07:00)."""
    try:
        value.astimezone(UTC)
    except OverflowError as exc:
        raise ValidationError("out_of_range") from exc


def reference_check(check: Callable[[str], Any], value: str) -> str:
    """Run a reference-data check; its error code becomes the field's."""
    try:
        return str(check(value))
    except ReferenceError as exc:
        raise ValidationError(exc.code) from exc
