"""Time as every service keeps it: timezone-aware UTC.

One home for the helpers each service needs around its database: SQLite
keeps a datetime's wall-clock digits and drops the offset, so a time is
converted to UTC before it is stored (:func:`as_utc`) and a naive time read
back is UTC (:func:`aware`). Domain functions take a :data:`Clock` so tests
can move time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: what a domain function calls for "now"; tests pass their own
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(moment: datetime | None) -> datetime | None:
    """An aware datetime converted to UTC before it is stored or compared
    (09:00+07:00 stored as it is would read back from SQLite as 09:00 UTC)."""
    if moment is not None and moment.tzinfo is not None:
        return moment.astimezone(UTC)
    return moment


def aware(moment: datetime | None) -> datetime | None:
    """A datetime read back from the database: naive ones were stored as UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def now_from(clock: Clock) -> datetime:
    """The clock's time in UTC (a naive time is taken as UTC)."""
    moment = clock()
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso_utc(moment: datetime) -> str:
    """A time as the API and events write it: ISO 8601 in UTC."""
    return (aware(moment) or moment).astimezone(UTC).isoformat()
