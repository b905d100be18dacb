"""The error every reference-data validator raises."""

from __future__ import annotations

from typing import Any


class ReferenceError(ValueError):
    """A value failed validation against Thai reference data.

    Attributes:
        field: Dotted path of the offending field, as given by the caller.
        code: Stable snake_case error code, e.g. ``national_id_checksum``.
        detail: English explanation. It never echoes the rejected value,
            because that value is often personal data (PDPA).
    """

    def __init__(self, code: str, detail: str, field: str = "") -> None:
        self.code = code
        self.detail = detail
        self.field = field
        super().__init__(f"{field}: {detail}" if field else detail)

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle as cls(*self.args); our args are the message, so
        # rebuild from the real attributes instead (RPC, multiprocessing).
        return (type(self), (self.code, self.detail, self.field))
