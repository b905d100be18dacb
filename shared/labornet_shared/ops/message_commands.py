"""``labornet messages tail``: the messages notify's console channel showed.

Under ``make run`` no SMS gateway, LINE account or mail relay is set up, so
notify's console channel stands in for them (``CONSOLE_CHANNEL``): each
message is recorded, as it would have left, in notify's ``console_messages``
table. This command prints them, newest last, as a terminal shows text
(Thai, English or Myanmar as written) — ``--follow`` keeps printing new ones.

It reads notify's database directly, found through notify's config like
``labornet outbox list notify`` finds it, rather than notify's
``GET /console`` page: it works while notify is stopped or restarting
(what was shown stays shown), needs no operator token to be made first,
and the person at the terminal already has the database the config names.
The page is for a browser. The texts are personal data: they go to the
terminal that asked, never to a log.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import typer

if TYPE_CHECKING:  # imported when a command runs: the CLI starts fast
    from sqlalchemy import Table
    from sqlalchemy.engine import Engine

#: notify's table (labornet_notify.models.ConsoleMessage, not imported here)
CONSOLE_TABLE = "console_messages"
CHANNELS = ("sms", "line", "email", "webhook")
BANGKOK = ZoneInfo("Asia/Bangkok")
FOLLOW_SECONDS = 1.0

app = typer.Typer(
    help="messages notify's console channel showed (make run)", no_args_is_help=True
)


def _database() -> tuple[Engine, Table, dict[str, Any]]:
    from labornet_shared.config import load_service_config
    from labornet_shared.db import make_engine
    from labornet_shared.ops.installation import service_tables

    try:
        tables = service_tables("notify")
    except ModuleNotFoundError as exc:
        typer.echo("error: notify is not installed here", err=True)
        raise typer.Exit(2) from exc
    config = load_service_config("notify")
    engine = make_engine(str(config["DATABASE_URL"]), pool_size=1)
    return engine, tables.tables[CONSOLE_TABLE], config


def read_messages(
    engine: Engine,
    table: Table,
    *,
    after: int = 0,
    channel: str | None = None,
    case: str | None = None,
    last: int | None = None,
) -> list[dict[str, Any]]:
    """Console messages after id ``after`` (of one channel, one case),
    oldest first; with ``last``, only the newest ``last`` of them."""
    from sqlalchemy import select

    query = select(table).where(table.c.id > after)
    if channel:
        query = query.where(table.c.channel == channel)
    if case:
        query = query.where(table.c.case_reference == case)
    if last is not None:
        query = query.order_by(table.c.id.desc()).limit(last)
    else:
        query = query.order_by(table.c.id).limit(500)
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
    return sorted(rows, key=lambda row: int(row["id"]))


def _bangkok(moment: datetime) -> datetime:
    if moment.tzinfo is None:  # SQLite keeps no zone: it is UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BANGKOK)


def describe(row: dict[str, Any]) -> str:
    """One message as the terminal shows it: a line saying when, where to,
    in which language, about what and how it went; then its text, as
    written, indented."""
    recorded = _bangkok(row["recorded_at"])
    head = [
        f"{recorded:%Y-%m-%d %H:%M:%S}",
        f"{str(row['channel']).upper()} → {row['recipient_masked']}"
        + (f" ({row['recipient_kind']})" if row.get("recipient_kind") else ""),
        row.get("language") or "-",
        row.get("case_reference") or "-",
        row.get("message") or "-",
    ]
    if row.get("segments") is not None:
        head.append(f"{row['segments']} SMS part{'s' if row['segments'] != 1 else ''}")
    if row["status"] == "held" and row.get("held_until") is not None:
        until = _bangkok(row["held_until"])
        when = f"{until:%H:%M}"
        if until.date() != recorded.date():
            when += f" on {until:%Y-%m-%d}"
        head.append(f"HELD until {when} ({row.get('note') or 'quiet hours'})")
    else:
        head.append(str(row["status"]))
        if row.get("note"):
            head.append(str(row["note"]))
    head.append(f"delivery {row['delivery_id']}")
    lines = ["  ".join(head)]
    if row.get("subject"):
        lines.append(f"    Subject: {row['subject']}")
    lines += [f"    {line}" for line in str(row["text"]).splitlines() or [""]]
    return "\n".join(lines)


@app.command("tail")
def tail(
    follow: bool = typer.Option(
        False, "--follow", "-f", help="keep printing new messages (Ctrl-C stops)"
    ),
    channel: str | None = typer.Option(
        None, "--channel", help="only this channel: sms, line, email or webhook"
    ),
    case: str | None = typer.Option(
        None, "--case", help="only this case's messages (LN-2569-00000042)"
    ),
    lines: int = typer.Option(20, "-n", "--lines", help="how many to show first"),
) -> None:
    """Print the messages notify's console channel showed in place of the
    providers, newest last, each in its language as it would leave."""
    from sqlalchemy.exc import SQLAlchemyError

    if channel is not None and channel not in CHANNELS:
        typer.echo(
            f"error: --channel is one of {', '.join(CHANNELS)}, not {channel!r}",
            err=True,
        )
        raise typer.Exit(2)
    if lines < 1:
        typer.echo("error: -n is at least 1", err=True)
        raise typer.Exit(2)
    engine, table, config = _database()
    try:
        try:
            rows = read_messages(engine, table, channel=channel, case=case, last=lines)
        except SQLAlchemyError as exc:
            typer.echo(
                "error: notify's database has no console messages table "
                f"({type(exc).__name__}); run `labornet migrate notify`",
                err=True,
            )
            raise typer.Exit(1) from exc
        for row in rows:
            typer.echo(describe(row))
        if not rows and not follow:
            typer.echo(_nothing_yet(config))
        if follow:
            _follow(engine, table, rows[-1]["id"] if rows else 0, channel, case)
    finally:
        engine.dispose()


def _nothing_yet(config: dict[str, Any]) -> str:
    from labornet_shared.config import flag

    if flag(config.get("CONSOLE_CHANNEL", False)):
        return "no message on notify's console yet"
    return (
        "no message on notify's console yet (`make run` turns the console "
        "channel on; elsewhere LABORNET_NOTIFY_CONSOLE_CHANNEL=true)"
    )


def _follow(
    engine: Engine, table: Table, after: int, channel: str | None, case: str | None
) -> None:
    try:
        while True:
            time.sleep(FOLLOW_SECONDS)
            for row in read_messages(
                engine, table, after=after, channel=channel, case=case
            ):
                typer.echo(describe(row))
                after = int(row["id"])
    except KeyboardInterrupt:
        return
