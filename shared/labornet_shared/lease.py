"""The outbox relay's lease: one relay publishes a given outbox at a time.

Each outbox has one row in ``outbox_relay_lease``: who holds it and until
when. A relay takes it with one conditional UPDATE (``WHERE holder = me OR
holder IS NULL OR expires_at < now``) in the transaction that selects its
batch, and publishes only while it holds it; it confirms and renews the
lease in the very transaction that marks a batch sent (``WHERE holder =
me``), so a relay that lost the lease meanwhile marks nothing and publishes
no more. It keeps the lease while busy and gives it back at the first look
that finds nothing to send, so another process's relay (a second instance,
``labornet registry import``) takes over at once; a relay that dies keeps
it only until it expires.

The same statements work on SQLite and PostgreSQL: on both a conditional
UPDATE of one row is atomic against a concurrent one (SQLite has one writer
at a time; PostgreSQL re-checks the condition on the row it waited for).
Expiry times are the relays' own clocks (UTC), so hosts sharing a database
must keep their clocks within a fraction of the lease (NTP does).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    and_,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine

LEASE_TABLE = "outbox_relay_lease"

# a claim that has less than this left is renewed before the next batch, so
# a batch (at most the confirm timeout) never outlives the lease
RENEW_FRACTION = 0.5
# the lease ends this much earlier on the holder's own (monotonic) clock
# than in the table: it stops publishing before anyone else may start
SAFETY_SECONDS = 1.0


def lease_table(metadata: MetaData) -> Table:
    """Define the relay lease table in a service's metadata."""
    return Table(
        LEASE_TABLE,
        metadata,
        # the outbox it guards (one row per outbox table)
        Column("outbox", String(100), primary_key=True),
        Column("holder", String(200), nullable=True),
        Column("expires_at", DateTime(timezone=True), nullable=True),
    )


def holder_id() -> str:
    """A name for one relay: host and process (for operators), plus a random
    part (two relays of one process are two holders)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RelayLease:
    """One relay's view of its outbox's lease."""

    def __init__(
        self,
        table: Table,
        outbox: str,
        seconds: float = 30.0,
        holder: str | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table = table
        self.outbox = outbox
        self.seconds = seconds
        self.holder = holder or holder_id()
        self._now = now
        self._monotonic = monotonic
        # until when (own monotonic clock) this relay may still publish
        self._deadline = 0.0
        # another relay held it at the last look: read before writing
        self._contended = False
        self._row_made = False

    def held(self) -> bool:
        """Whether this relay holds the lease, as far as it knows, with
        enough left to publish (the table may say otherwise: see
        :meth:`confirm`)."""
        return self._monotonic() < self._deadline

    def _fresh(self) -> bool:
        left = self._deadline - self._monotonic()
        return left > self.seconds * RENEW_FRACTION

    def take(
        self, engine: Engine, then: Callable[[Connection], list[Any]]
    ) -> list[Any] | None:
        """Take the lease and run ``then`` (the batch's SELECT) in the same
        transaction: the rows, ``[]`` if there are none (the lease is then
        left as it was), None if another relay holds it.

        One transaction for both is what keeps a batch cheap: the lease
        costs one UPDATE of one row beside the SELECT.
        """
        if self._contended and not self._free(engine):
            return None
        started = self._monotonic()
        now = self._now()
        with engine.connect() as conn:
            if not self._row_made:
                self._insert(conn)
                conn.commit()
                self._row_made = True
            result = conn.execute(self._claim_statement(now))
            if result.rowcount != 1:
                conn.rollback()
                self._contended = True
                self._deadline = 0.0
                return None
            rows = then(conn)
            if not rows:
                conn.rollback()  # nothing to publish: no need of the lease
                return rows
            conn.commit()
        self._contended = False
        self._deadline = started + self.seconds - SAFETY_SECONDS
        return rows

    def _claim_statement(self, now: datetime) -> Any:
        table = self.table
        return (
            update(table)
            .where(
                table.c.outbox == self.outbox,
                or_(
                    table.c.holder == self.holder,
                    table.c.holder.is_(None),
                    table.c.expires_at.is_(None),
                    table.c.expires_at < now,
                ),
            )
            .values(
                holder=self.holder,
                expires_at=now + timedelta(seconds=self.seconds),
            )
        )

    def _free(self, engine: Engine) -> bool:
        # a read, so relays waiting for the holder do not queue for writes
        table = self.table
        with engine.connect() as conn:
            current = conn.execute(
                select(table.c.holder, table.c.expires_at).where(
                    table.c.outbox == self.outbox
                )
            ).first()
        return current is None or self._claimable(*current, self._now())

    def claim(self, engine: Engine) -> bool:
        """Take or renew the lease if it is free, expired or already ours
        (nothing to do while a recent claim is still fresh)."""
        if self._fresh():
            return True
        started = self._monotonic()
        if not self._free(engine):
            self._contended = True
            self._deadline = 0.0
            return False
        with engine.begin() as conn:
            if not self._row_made:
                self._insert(conn)
                self._row_made = True
            result = conn.execute(self._claim_statement(self._now()))
        if result.rowcount != 1:
            self._contended = True
            self._deadline = 0.0
            return False
        self._contended = False
        self._deadline = started + self.seconds - SAFETY_SECONDS
        return True

    def _claimable(
        self, holder: str | None, expires_at: datetime | None, now: datetime
    ) -> bool:
        if holder is None or holder == self.holder or expires_at is None:
            return True
        if expires_at.tzinfo is None:  # SQLite keeps no zone: it is UTC
            expires_at = expires_at.replace(tzinfo=UTC)
        return expires_at < now

    def _insert(self, conn: Connection) -> None:
        # the first relay ever of this outbox makes its row; a concurrent
        # first relay's row is as good (its UPDATE below then decides)
        from sqlalchemy.dialects import postgresql, sqlite

        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(
            dialect.insert(self.table)
            .values(outbox=self.outbox, holder=None, expires_at=None)
            .on_conflict_do_nothing()
        )

    def confirm(self, conn: Connection, release: bool = False) -> bool:
        """In the caller's transaction (the one that marks a batch sent):
        whether the lease is still ours, renewing it — or giving it back
        with ``release``. False: another relay took it over; the caller must
        roll back and publish nothing more."""
        started = self._monotonic()
        now = self._now()
        table = self.table
        result = conn.execute(
            update(table)
            .where(and_(table.c.outbox == self.outbox, table.c.holder == self.holder))
            .values(
                holder=None if release else self.holder,
                expires_at=now if release else now + timedelta(seconds=self.seconds),
            )
        )
        if result.rowcount != 1:
            self._deadline = 0.0
            return False
        self._deadline = 0.0 if release else started + self.seconds - SAFETY_SECONDS
        return True

    def release(self, engine: Engine) -> None:
        """Give the lease back (nothing left to publish) if it is ours."""
        if self._deadline == 0.0:
            return
        with engine.begin() as conn:
            self.confirm(conn, release=True)
        self._deadline = 0.0

    def forget(self) -> None:
        """Stop believing the lease is ours (after a failure): the next batch
        claims it again first."""
        self._deadline = 0.0
