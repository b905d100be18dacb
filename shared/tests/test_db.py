"""bulk_insert keeps every value as given, on SQLite and on PostgreSQL's COPY.

COPY runs only outside eventlet (psycogreen's psycopg2 refuses it), so the
insert is made by a plain Python process, as ``labornet registry import``
makes it, and read back here.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    Table,
    Text,
    create_engine,
    select,
)

from labornet_shared.db import normalise_url

TRICKY = [
    {
        "id": 1,
        "name": 'สมชาย "ใจดี", หมู่ 4\nบรรทัดใหม่',
        "note": None,
        "born": date(1990, 1, 31),
        "seen_at": datetime(2026, 11, 26, 4, 0, tzinfo=UTC),
        "active": True,
    },
    {
        "id": 2,
        "name": "",
        "note": '{"json": "with \\\\ backslash"}',
        "born": None,
        "seen_at": None,
        "active": False,
    },
]

# the table as the script below creates it, to read it back typed
PEOPLE = Table(
    "bulk_people",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("name", Text),
    Column("note", Text),
    Column("born", Date),
    Column("seen_at", DateTime(timezone=True)),
    Column("active", Boolean),
)

SCRIPT = textwrap.dedent(
    """
    import datetime  # the rows below are written as datetime.date(...)
    import sys

    from sqlalchemy import (
        Boolean, Column, Date, DateTime, Integer, MetaData, Table, Text,
    )
    from sqlalchemy.orm import Session
    from labornet_shared.db import bulk_insert, make_engine

    metadata = MetaData()
    table = Table(
        "bulk_people", metadata,
        Column("id", Integer, primary_key=True),
        Column("name", Text), Column("note", Text), Column("born", Date),
        Column("seen_at", DateTime(timezone=True)), Column("active", Boolean),
    )
    engine = make_engine(sys.argv[1], pool_size=1)
    metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        bulk_insert(session, table, ROWS)
    """
)


def test_bulk_insert_keeps_quotes_newlines_nulls_and_dates(db_url: str) -> None:
    script = SCRIPT.replace("ROWS", repr(TRICKY))
    result = subprocess.run(
        [sys.executable, "-c", script, db_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    engine = create_engine(normalise_url(db_url))
    with engine.connect() as conn:
        rows = conn.execute(select(PEOPLE).order_by(PEOPLE.c.id)).all()
    engine.dispose()
    assert [(*tuple(row)[:4], row.active) for row in rows] == [
        (1, TRICKY[0]["name"], None, date(1990, 1, 31), True),
        (2, "", TRICKY[1]["note"], None, False),
    ]
    seen_at = rows[0].seen_at
    if seen_at.tzinfo is None:  # SQLite keeps no zone: the value is UTC
        seen_at = seen_at.replace(tzinfo=UTC)
    assert seen_at == datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
    assert rows[1].seen_at is None
