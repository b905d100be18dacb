"""The relay: moves outbox rows to the broker, in order, one relay at a time.

:class:`Relay` publishes one batch while it holds the outbox's lease
(:mod:`labornet_shared.lease`) and marks it sent once the broker confirmed it;
:class:`RelayLoop` runs it forever, woken on commit, polling as a fallback,
backing off while the broker or database is away; :func:`publish_all` is for
commands that must end with their events on the broker.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge
from sqlalchemy import MetaData, delete, func, select, update
from sqlalchemy.engine import Connection, Engine

from labornet_shared.lease import LEASE_TABLE, RelayLease
from labornet_shared.metrics import EVENTS_PUBLISHED
from labornet_shared.outbox.publisher import BatchRefused, ConfirmingPublisher
from labornet_shared.outbox.table import OUTBOX_TABLE

# one logger for the whole outbox, the name log filters know
log = logging.getLogger("labornet_shared.outbox")

PARKED = Gauge(
    "labornet_outbox_parked_events",
    "Outbox events set aside after the broker refused them (labornet outbox list)",
    ["service"],
)
PARKED_TOTAL = Counter(
    "labornet_outbox_events_parked_total",
    "Outbox events this process set aside after repeated refusals",
    ["service"],
)


@dataclass
class Published:
    """What :func:`publish_all` saw: events this relay published, whether
    another relay (the lease holder) published some, and how many still wait."""

    mine: int
    elsewhere: bool
    waiting: int


class Relay:
    """Moves outbox rows to the broker; framework-free so it runs anywhere.

    It publishes only while it holds the outbox's lease; a row the broker
    refuses ``max_failures`` times is parked and the rows behind it go on.
    """

    def __init__(
        self,
        engine: Engine,
        metadata: MetaData,
        publisher: ConfirmingPublisher,
        batch_size: int = 200,
        retention: timedelta = timedelta(days=7),
        *,
        lease_seconds: float = 30.0,
        max_failures: int = 10,
        service: str = "",
    ) -> None:
        self.engine = engine
        self.table = metadata.tables[OUTBOX_TABLE]
        self.publisher = publisher
        self.batch_size = batch_size
        self.retention = retention
        self.lease = RelayLease(
            metadata.tables[LEASE_TABLE], OUTBOX_TABLE, lease_seconds
        )
        self.max_failures = max(1, max_failures)
        self.service = service
        self.published = 0
        self._last_prune = 0.0
        # after a refused batch, rows up to this id go one at a time, so the
        # refusal lands on the row that causes it
        self._one_by_one_until = 0
        # whether the last batch was full (more may be waiting)
        self._more = False

    def _unsent(self) -> Any:
        table = self.table
        return table.c.sent_at.is_(None) & table.c.parked_at.is_(None)

    def _next_rows(self, conn: Connection) -> list[Any]:
        table = self.table
        rows = (
            conn.execute(
                select(
                    table.c.id,
                    table.c.event_id,
                    table.c.exchange,
                    table.c.routing_key,
                    table.c.event_type,
                    table.c.correlation_id,
                    table.c.body,
                )
                .where(self._unsent())
                .order_by(table.c.id)
                .limit(self.batch_size)
            )
            .mappings()
            .all()
        )
        if rows and rows[0]["id"] <= self._one_by_one_until:
            return list(rows[:1])
        self._one_by_one_until = 0
        return list(rows)

    def publish_pending(self) -> int:
        """Publish one batch of unsent events in order; returns how many.

        Returns -1 when another relay holds the lease, or took it over while
        this batch was in flight (then nothing of the batch is marked sent:
        the new holder sends it again, consumers being idempotent).
        """
        self._more = False
        if self.lease.held():
            # ours from the last batch: renewed if half of it is gone
            if not self.lease.claim(self.engine):
                return -1
            with self.engine.connect() as conn:
                rows: list[Any] | None = self._next_rows(conn)
        else:
            # most polls find nothing: look first, read-only, so that an idle
            # relay writes nothing (no lock on the lease row every second)
            with self.engine.connect() as conn:
                waiting = conn.execute(
                    select(self.table.c.id).where(self._unsent()).limit(1)
                ).first()
            if waiting is None:
                return 0
            rows = self.lease.take(self.engine, self._next_rows)
            if rows is None:
                return -1
        if not rows:
            self.lease.release(self.engine)
            return 0
        limit = 1 if rows[0]["id"] <= self._one_by_one_until else self.batch_size
        ids = [row["id"] for row in rows]
        if not self.lease.held():  # stalled since the claim: no longer safe
            return -1
        try:
            self.publisher.publish_batch([dict(row) for row in rows])
        except BatchRefused as exc:
            self._refused(rows, exc)
            raise
        except Exception:
            self._count_attempt(ids)
            self.release_lease()
            raise
        full = len(rows) >= limit
        with self.engine.begin() as conn:
            # the lease check and the mark commit together: a relay that
            # lost the lease meanwhile marks nothing. It is kept while busy
            # and given back by the first look that finds nothing to send
            if not self.lease.confirm(conn):
                log.warning(
                    "outbox relay lost its lease during a batch of %d events;"
                    " the relay now holding it publishes them",
                    len(rows),
                )
                return -1
            conn.execute(
                update(self.table)
                .where(self.table.c.id.in_(ids))
                .values(sent_at=datetime.now(UTC), attempts=self.table.c.attempts + 1)
            )
        self.published += len(rows)
        self._more = full
        self._count_published(rows)
        return len(rows)

    def _count_published(self, rows: list[Any]) -> None:
        """Count and log the events the broker confirmed: ids and types only,
        never the body (it may carry personal data)."""
        for row in rows:
            EVENTS_PUBLISHED.labels(self.service, row["event_type"]).inc()
            log.info(
                "published %s",
                row["event_type"],
                extra={
                    "event_id": row["event_id"],
                    "correlation_id": row["correlation_id"],
                },
            )

    def release_lease(self) -> None:
        """Give the lease back if held (after a failure another relay, on
        another connection, may do better; on stop a successor need not
        wait for it to expire)."""
        try:
            self.lease.release(self.engine)
        except Exception:  # the database may be what failed
            self.lease.forget()

    def _count_attempt(self, ids: list[int]) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(self.table)
                    .where(self.table.c.id.in_(ids))
                    .values(attempts=self.table.c.attempts + 1)
                )
        except Exception:  # the database may be what failed
            log.warning("could not count outbox attempt")

    def _refused(self, rows: list[Any], exc: BatchRefused) -> None:
        """Count a refusal against the rows that caused it; park those that
        reached ``max_failures``. When the broker did not say which row it
        was, the batch's rows go one at a time next, to find out. Those the
        broker confirmed before it refused are marked sent."""
        ids = [row["id"] for row in rows]
        confirmed_ids = [rows[i]["id"] for i in exc.confirmed if 0 <= i < len(rows)]
        confirmed_rows: list[Any] = []
        if exc.positions is not None:
            culprits = [rows[i] for i in exc.positions if 0 <= i < len(rows)]
        elif len(rows) == 1:
            culprits = list(rows)
        else:
            culprits = []
            self._one_by_one_until = ids[-1]
        table = self.table
        parked: list[Any] = []
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(table)
                    .where(table.c.id.in_(ids))
                    .values(attempts=table.c.attempts + 1)
                )
                if confirmed_ids and self.lease.confirm(conn):
                    conn.execute(
                        update(table)
                        .where(table.c.id.in_(confirmed_ids))
                        .values(sent_at=datetime.now(UTC))
                    )
                    self.published += len(confirmed_ids)
                    confirmed_rows = [r for r in rows if r["id"] in confirmed_ids]
                if culprits:
                    culprit_ids = [row["id"] for row in culprits]
                    conn.execute(
                        update(table)
                        .where(table.c.id.in_(culprit_ids))
                        .values(
                            failures=table.c.failures + 1,
                            last_error=exc.reason[:200],
                        )
                    )
                    parked = list(
                        conn.execute(
                            select(table.c.id, table.c.event_id, table.c.event_type)
                            .where(
                                table.c.id.in_(culprit_ids),
                                table.c.failures >= self.max_failures,
                            )
                            .order_by(table.c.id)
                        ).mappings()
                    )
                    if parked:
                        conn.execute(
                            update(table)
                            .where(table.c.id.in_([row["id"] for row in parked]))
                            .values(parked_at=datetime.now(UTC))
                        )
        except Exception:  # the database may be what failed
            log.warning("could not count outbox refusal")
            return
        finally:
            self.release_lease()
        self._count_published(confirmed_rows)
        for row in parked:
            # an alert: event id and type only, never the body
            log.error(
                "outbox event parked after %d refusals by the broker (%s):"
                " event_id=%s event_type=%s; the events behind it go on;"
                " `labornet outbox retry %s --event-id %s` sends it again",
                self.max_failures,
                exc.reason,
                row["event_id"],
                row["event_type"],
                self.service or "SERVICE",
                row["event_id"],
            )
            PARKED_TOTAL.labels(self.service).inc()
        if parked:
            self.refresh_parked()

    def parked_count(self) -> int:
        """How many events are parked (refused too often, waiting for an
        operator's ``labornet outbox retry``)."""
        table = self.table
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    # sent_at IS NULL: the unsent rows' partial index serves it
                    select(func.count()).where(
                        table.c.sent_at.is_(None), table.c.parked_at.is_not(None)
                    )
                ).scalar()
                or 0
            )

    def refresh_parked(self) -> int:
        """Count the parked events and set the metric."""
        count = self.parked_count()
        PARKED.labels(self.service).set(count)
        return count

    def prune(self) -> int:
        """Delete events sent longer ago than the retention period."""
        cutoff = datetime.now(UTC) - self.retention
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(self.table).where(
                    self.table.c.sent_at.is_not(None), self.table.c.sent_at < cutoff
                )
            )
        return int(result.rowcount or 0)

    def pending_count(self) -> int:
        """How many events wait to be published (parked ones do not)."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).where(self._unsent())).scalar() or 0
            )

    def drain(self) -> int:
        """Publish until nothing is pending; -1 if another relay holds the
        lease before this one published anything."""
        total = 0
        while True:
            count = self.publish_pending()
            if count <= 0:
                return total if total or count == 0 else count
            total += count
            if not self._more:
                # a short batch took everything there was: no empty look
                return total


def publish_all(
    relay: Relay,
    patience: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Published:
    """Publish what the outbox holds, or let the relay holding the lease do
    it; return once nothing waits, or nothing has moved for ``patience``
    seconds (default: a lease plus a confirm timeout, time enough for a dead
    holder's lease to expire). A broker error of this relay is raised.

    For commands (``labornet registry import``) that must end with their
    events on the broker whether or not a service is running beside them.
    """
    if patience is None:
        patience = relay.lease.seconds + relay.publisher.confirm_timeout
    elsewhere = False
    mine = relay.published
    waiting = relay.pending_count()
    still_since = time.monotonic()
    while True:
        if relay.drain() < 0:
            elsewhere = True
        now_waiting = relay.pending_count()
        if now_waiting == 0:
            return Published(relay.published - mine, elsewhere, 0)
        if now_waiting < waiting:
            waiting, still_since = now_waiting, time.monotonic()
        elif time.monotonic() - still_since > patience:
            return Published(relay.published - mine, elsewhere, now_waiting)
        sleep(0.1)


def relay_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """A :class:`Relay`'s keyword arguments from a service's config
    (``OUTBOX_BATCH_SIZE``, ``OUTBOX_LEASE_SECONDS``, ``OUTBOX_MAX_FAILURES``)."""
    return {
        "batch_size": int(config.get("OUTBOX_BATCH_SIZE", 200)),
        "lease_seconds": float(config.get("OUTBOX_LEASE_SECONDS", 30.0)),
        "max_failures": int(config.get("OUTBOX_MAX_FAILURES", 10)),
    }


PARKED_CHECK_SECONDS = 30.0


class RelayLoop:
    """Runs a :class:`Relay` forever: woken on commit, polling as a fallback,
    backing off (with jitter) while the broker or database is unreachable."""

    def __init__(
        self,
        relay: Relay,
        poll_seconds: float = 1.0,
        max_backoff: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        event_factory: Callable[[], Any] = threading.Event,
        linger_seconds: float = 0.0,
    ) -> None:
        self.relay = relay
        self.poll_seconds = poll_seconds
        # after a wake, wait this long for more commits: under load one
        # batch then carries many events instead of one transaction each
        self.linger_seconds = linger_seconds
        self.max_backoff = max_backoff
        self.sleep = sleep
        self._wake = event_factory()
        self._running = True
        self.failures = 0
        self.healthy = True
        self._parked_checked = 0.0

    def wake(self) -> None:
        """Ask the loop to publish now (called after a commit)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the current batch and stop."""
        self._running = False
        self._wake.set()

    def run(self) -> None:
        """Loop until :meth:`stop`."""
        while self._running:
            self._wake.clear()
            try:
                count = self.relay.drain()
                if self.failures:
                    log.info("outbox relay recovered after %d failures", self.failures)
                self.failures = 0
                self.healthy = True
                if count < 0:
                    # another relay holds the lease: look again soon (it
                    # gives the lease back once the outbox is empty), so an
                    # event committed just after its last look waits briefly
                    self.sleep(0.05)
                    continue
                if time.monotonic() - self.relay._last_prune > 3600:
                    self.relay._last_prune = time.monotonic()
                    self.relay.prune()
                if time.monotonic() - self._parked_checked > PARKED_CHECK_SECONDS:
                    # operators retry parked rows from another process
                    self._parked_checked = time.monotonic()
                    self.relay.refresh_parked()
            except Exception as exc:
                self.failures += 1
                self.healthy = False
                delay = min(self.max_backoff, 0.1 * 2 ** min(self.failures, 10))
                delay *= random.uniform(0.5, 1.0)
                log.warning(
                    "outbox relay cannot publish (%s); retrying in %.2fs",
                    type(exc).__name__,
                    delay,
                )
                self.sleep(delay)
                continue
            self._wake.wait(self.poll_seconds)
            if self.linger_seconds > 0:
                self.sleep(self.linger_seconds)
