"""The unit of work and bulk inserts: what domain code writes through.

A :class:`UnitOfWork` is one worker's SQLAlchemy session and what must happen
once it commits; :func:`bulk_insert` writes many rows in its transaction.
SQLAlchemy and plain Python only, so domain modules import them without the
transport: :class:`~labornet_shared.db.Database`, the nameko provider that
hands a unit of work to each worker, lives in :mod:`labornet_shared.db`.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session


def _copy_value(value: Any) -> str:
    """One field of PostgreSQL's COPY csv format: NULL unquoted, the rest quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, date | datetime):
        return value.isoformat()
    text = str(value)
    return '"' + text.replace('"', '""') + '"'


def _green_psycopg() -> bool:
    """Whether psycopg2 waits through eventlet (psycogreen), which COPY refuses."""
    import psycopg2.extensions

    return psycopg2.extensions.get_wait_callback() is not None


def bulk_insert(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows into ``table`` in the session's transaction.

    On PostgreSQL through ``COPY ... FROM STDIN``: for the tens of thousands
    of rows of a national roster it is several times faster than a
    multi-row INSERT. Elsewhere, and inside a green service (where psycopg2
    cannot COPY), one executemany INSERT. Every row must have
    the same keys.
    """
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql" or _green_psycopg():
        connection.execute(table.insert(), list(rows))
        return
    columns = list(rows[0])
    buffer = io.StringIO()
    for row in rows:
        buffer.write(",".join(_copy_value(row[name]) for name in columns))
        buffer.write("\n")
    buffer.seek(0)
    quoted = ", ".join(f'"{name}"' for name in columns)
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.copy_expert(
            f'COPY "{table.name}" ({quoted}) FROM STDIN WITH (FORMAT csv)', buffer
        )
    finally:
        cursor.close()


class UnitOfWork:
    """One worker's database session and what must happen once it commits."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._after_commit: list[Callable[[], None]] = []
        self.finished = False

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this unit of work has committed."""
        self._after_commit.append(callback)

    def commit(self) -> None:
        """Commit now and run the after-commit callbacks."""
        self.session.commit()
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    def rollback(self) -> None:
        """Throw away everything this unit of work did."""
        self._after_commit = []
        self.session.rollback()

    def finish(self, exc_info: Any) -> Any:
        """Commit on success, roll back on error; returns the final exc_info.

        A failing commit (a constraint, a lost connection) becomes the
        worker's error, so the entrypoint reports it instead of success.
        """
        if self.finished:
            return exc_info
        self.finished = True
        if exc_info is not None:
            self.rollback()
            return exc_info
        try:
            self.commit()
        except Exception:
            self.rollback()
            return sys.exc_info()
        return None

    def close(self) -> None:
        """Return the connection to the pool."""
        self.session.close()
