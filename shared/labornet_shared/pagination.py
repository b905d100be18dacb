"""Cursor pagination: ``limit`` + an opaque ``cursor`` naming the last row."""

from __future__ import annotations

import base64
import json
from typing import Any

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class InvalidCursor(ValueError):
    """A cursor this server did not issue (or a bad limit)."""


def encode_cursor(position: dict[str, Any]) -> str:
    """An opaque cursor for the position after the last row returned."""
    raw = json.dumps(position, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    """The position a cursor names, or None for the first page."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: a forged cursor of deeply nested JSON arrays
        raise InvalidCursor("cursor") from exc
    if not isinstance(value, dict):
        raise InvalidCursor("cursor")
    return value


def parse_limit(raw: str | None) -> int:
    """``limit`` from a query string: 1..MAX_LIMIT, default DEFAULT_LIMIT."""
    if raw in (None, ""):
        return DEFAULT_LIMIT
    try:
        limit = int(raw)  # type: ignore[arg-type]
    except ValueError as exc:
        raise InvalidCursor("limit") from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidCursor("limit")
    return limit
