"""Identifiers that services hand out: time-ordered UUIDs."""

from __future__ import annotations

import os
import time
import uuid


def new_time_ordered_id(now_ns: int | None = None) -> str:
    """A UUID version 7: ordered by creation time, nothing else guessable.

    Pages ordered by such ids come in creation order, and a B-tree index on
    them grows at its end instead of splitting everywhere.
    """
    millis = (now_ns if now_ns is not None else time.time_ns()) // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80
    value |= int.from_bytes(os.urandom(10), "big") & ((1 << 80) - 1)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def is_canonical_uuid(value: object) -> bool:
    """Whether ``value`` is a UUID in canonical form (as our ids are).

    Cursors carry ids back from clients: anything else in one (a lone
    surrogate, a NUL) would fail in the database driver, not as a 400.
    """
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False
