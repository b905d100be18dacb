"""The outbox table and the writing of events into it.

What domain code imports: :func:`add_event` (and :func:`add_events` for bulk
imports) write an event into ``outbox_messages`` in the caller's open
transaction, beside the state change it reports; the relay
(:mod:`labornet_shared.outbox.relay`) publishes it later. SQLAlchemy and plain
Python only: no broker here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import Session

from labornet_shared.events import Event
from labornet_shared.lease import LEASE_TABLE, lease_table
from labornet_shared.unit_of_work import UnitOfWork, bulk_insert

OUTBOX_TABLE = "outbox_messages"  # also named in outbox_admin.py


def outbox_table(metadata: MetaData) -> Table:
    """Define the outbox table in a service's metadata, and beside it the
    relay lease table (:mod:`labornet_shared.lease`)."""
    if LEASE_TABLE not in metadata.tables:
        lease_table(metadata)
    return Table(
        OUTBOX_TABLE,
        metadata,
        Column(
            "id",
            BigInteger().with_variant(Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("exchange", String(100), nullable=False),
        Column("routing_key", String(200), nullable=False),
        Column("event_type", String(100), nullable=False),
        Column("correlation_id", String(100), nullable=True),
        Column("body", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("sent_at", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        # refusals by the broker of this row itself (not lost connections)
        Column("failures", Integer, nullable=False, default=0, server_default="0"),
        # set aside after max_failures refusals, until an operator retries
        Column("parked_at", DateTime(timezone=True), nullable=True),
        # why it was last refused: an error class and AMQP code, no content
        Column("last_error", String(200), nullable=True),
        Index(
            "ix_outbox_messages_unsent",
            "id",
            postgresql_where=text("sent_at IS NULL"),
            sqlite_where=text("sent_at IS NULL"),
        ),
    )


def events_exchange(service: str) -> str:
    """nameko's exchange for a service's events."""
    return f"{service}.events"


def add_event(
    unit: UnitOfWork | Session,
    service: str,
    event: Event,
    *,
    exchange: str | None = None,
    routing_key: str | None = None,
) -> None:
    """Write ``event`` to the outbox in the caller's open transaction."""
    session = unit.session if isinstance(unit, UnitOfWork) else unit
    table = _table_of(session)
    # one constant statement with parameters: cached once, cheap per event
    session.connection().execute(
        _insert_statement(table),
        {
            "event_id": event.event_id,
            "exchange": exchange or events_exchange(service),
            "routing_key": routing_key or event.event_type,
            "event_type": event.event_type,
            "correlation_id": event.correlation_id,
            "body": json.dumps(event.to_body(), ensure_ascii=False),
            "created_at": datetime.now(UTC),
            "attempts": 0,
            "failures": 0,
        },
    )
    session.info["outbox_dirty"] = True


def add_events(
    unit: UnitOfWork | Session, service: str, events: Sequence[Event]
) -> None:
    """Write many events to the outbox in one statement (bulk imports).

    They leave in the order given, like events added one by one.
    """
    if not events:
        return
    session = unit.session if isinstance(unit, UnitOfWork) else unit
    table = _table_of(session)
    exchange = events_exchange(service)
    now = datetime.now(UTC)
    bulk_insert(
        session,
        table,
        [
            {
                "event_id": event.event_id,
                "exchange": exchange,
                "routing_key": event.event_type,
                "event_type": event.event_type,
                "correlation_id": event.correlation_id,
                "body": json.dumps(event.to_body(), ensure_ascii=False),
                "created_at": now,
                "attempts": 0,
                "failures": 0,
            }
            for event in events
        ],
    )
    session.info["outbox_dirty"] = True


def _insert_statement(table: Table) -> Any:
    # built once per table and kept on it
    if "labornet_insert" not in table.info:
        table.info["labornet_insert"] = table.insert()
    return table.info["labornet_insert"]


def _table_of(session: Session) -> Table:
    metadata = session.info.get("metadata")
    if metadata is None:
        raise RuntimeError(
            "session has no labornet metadata; open it through Database or "
            "bind_outbox()"
        )
    return metadata.tables[OUTBOX_TABLE]


def bind_outbox(session: Session, metadata: MetaData) -> Session:
    """Tell a plain session (tests, scripts) which outbox table it writes."""
    session.info["metadata"] = metadata
    return session
