"""Operators' view of a service's parked outbox events:
``labornet outbox list|retry SERVICE``.

An event the broker refused ``OUTBOX_MAX_FAILURES`` times is parked so the
events behind it go on (:mod:`labornet_shared.outbox`). Once the cause is
fixed (an exchange declared, a policy changed), ``retry`` gives it back to
the relay, which publishes it on its next look. The commands work on the
service's database directly, like ``labornet migrate``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:  # imported when a command runs: the CLI starts fast
    from sqlalchemy import MetaData
    from sqlalchemy.engine import Engine

# the outbox's table (labornet_shared.outbox.OUTBOX_TABLE, not imported here)
OUTBOX_TABLE = "outbox_messages"

app = typer.Typer(help="outbox events the broker kept refusing", no_args_is_help=True)


@dataclass
class ParkedEvent:
    """A parked outbox row as operators see it: no body (it may hold
    personal data), only what identifies it and why it was refused."""

    event_id: str
    event_type: str
    exchange: str
    routing_key: str
    correlation_id: str | None
    failures: int
    last_error: str | None
    created_at: str
    parked_at: str


def list_parked(engine: Engine, metadata: MetaData, limit: int = 100) -> list[Any]:
    """The parked events, oldest first."""
    from sqlalchemy import select

    table = metadata.tables[OUTBOX_TABLE]
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                table.c.event_id,
                table.c.event_type,
                table.c.exchange,
                table.c.routing_key,
                table.c.correlation_id,
                table.c.failures,
                table.c.last_error,
                table.c.created_at,
                table.c.parked_at,
            )
            .where(table.c.sent_at.is_(None), table.c.parked_at.is_not(None))
            .order_by(table.c.id)
            .limit(limit)
        ).mappings()
        return [
            ParkedEvent(
                **{
                    **row,
                    "created_at": _iso(row["created_at"]),
                    "parked_at": _iso(row["parked_at"]),
                }
            )
            for row in rows
        ]


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:  # SQLite keeps no zone: it is UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def retry_parked(
    engine: Engine, metadata: MetaData, event_id: str | None = None
) -> int:
    """Give parked events (all, or the one with ``event_id``) back to the
    relay with their refusals forgotten; returns how many."""
    from sqlalchemy import update

    table = metadata.tables[OUTBOX_TABLE]
    condition = table.c.sent_at.is_(None) & table.c.parked_at.is_not(None)
    if event_id is not None:
        condition &= table.c.event_id == event_id
    with engine.begin() as conn:
        result = conn.execute(
            update(table).where(condition).values(parked_at=None, failures=0)
        )
    return int(result.rowcount or 0)


def _service_database(service: str) -> tuple[Engine, MetaData]:
    from labornet_shared.config import load_service_config
    from labornet_shared.db import make_engine
    from labornet_shared.ops.installation import service_tables

    try:
        tables = service_tables(service)
    except ModuleNotFoundError as exc:
        typer.echo(f"error: no service {service!r} is installed", err=True)
        raise typer.Exit(2) from exc
    config = load_service_config(service)
    return make_engine(str(config["DATABASE_URL"]), pool_size=1), tables


@app.command("list")
def list_command(
    service: str,
    limit: int = typer.Option(100, help="at most this many, oldest first"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show SERVICE's parked outbox events (never their content)."""
    engine, metadata = _service_database(service)
    try:
        parked = list_parked(engine, metadata, limit)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps([asdict(event) for event in parked], indent=2))
        return
    if not parked:
        typer.echo(f"{service}: no parked outbox events")
    for event in parked:
        typer.echo(
            f"{event.event_id}  {event.event_type:<22} {event.exchange}"
            f" ({event.routing_key})  {event.correlation_id or '-'}"
            f"  failures={event.failures}  parked={event.parked_at}"
            f"\n      {event.last_error or '?'}"
        )


@app.command("retry")
def retry_command(
    service: str,
    event_id: str | None = typer.Option(None, "--event-id", help="only this one"),
) -> None:
    """Give SERVICE's parked outbox events (or one) back to its relay."""
    engine, metadata = _service_database(service)
    try:
        count = retry_parked(engine, metadata, event_id)
    finally:
        engine.dispose()
    typer.echo(
        f"{service}: {count} parked outbox event(s) given back to the relay"
        if count or event_id is None
        else f"{service}: no parked outbox event {event_id}"
    )
    if event_id is not None and not count:
        raise typer.Exit(1)
