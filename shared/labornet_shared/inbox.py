"""The inbox: which events a consumer has already applied.

A consumer applies an event at most once: :func:`apply_once` records the
event's id in the consumer's ``processed_events`` table in the same
transaction as the handler's effect, and answers False for an event applied
before, so a redelivery changes nothing. A handler that finds an event it
builds on missing raises :class:`PrerequisiteMissing` and is asked again
later. SQLAlchemy and plain Python only: the nameko handler that retries and
dead-letters is :mod:`labornet_shared.consumer`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, String, Table, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from labornet_shared.events import Event
from labornet_shared.unit_of_work import UnitOfWork

PROCESSED_EVENTS_TABLE = "processed_events"


def processed_events_table(metadata: MetaData) -> Table:
    """Define the table of applied event ids in a consumer's metadata."""
    return Table(
        PROCESSED_EVENTS_TABLE,
        metadata,
        Column("consumer", String(200), primary_key=True),
        Column("event_id", String(36), primary_key=True),
        Column("applied_at", DateTime(timezone=True), nullable=False),
    )


def apply_once(unit: UnitOfWork | Session, consumer: str, event: Event | str) -> bool:
    """Claim ``event`` for ``consumer`` in the open transaction.

    Returns False when this consumer already applied it (then do nothing).
    Concurrent deliveries of one event are serialised by the primary key: the
    second waits for the first's commit and then sees the conflict.
    """
    session = unit.session if isinstance(unit, UnitOfWork) else unit
    table = session.info["metadata"].tables[PROCESSED_EVENTS_TABLE]
    event_id = event.event_id if isinstance(event, Event) else str(event)
    values = {
        "consumer": consumer,
        "event_id": event_id,
        "applied_at": datetime.now(UTC),
    }
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = pg_insert(table).values(**values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite_insert(table).values(**values).on_conflict_do_nothing()
    else:  # pragma: no cover - other databases are not supported
        stmt = insert(table).values(**values)
    result: Any = session.execute(stmt)
    return bool(result.rowcount)


class PrerequisiteMissing(Exception):
    """The event needs another that has not arrived yet.

    Events of one case travel on different queues and may arrive in any
    order: a handler that finds what it builds on missing raises this, so the
    event is retried later instead of being acknowledged with nothing done.
    The message says what is missing (never personal data). ``reason``, if
    given, is a short fixed text for the metric (else the message is used,
    with case references, ids and numbers blanked out).
    """

    def __init__(self, message: str = "", *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
