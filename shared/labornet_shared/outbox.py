"""The transactional outbox and its relay.

A producer never publishes inside a request. It writes the event into the
``outbox_messages`` table in the same transaction as the state change
(:func:`add_event`); the relay reads unsent rows in order, publishes them
persistent to the service's nameko exchange (``<service>.events``, routing
key = event type) with publisher confirms, and marks them sent only once the
broker has confirmed them. A broker outage delays events, never loses them; a
crash between confirm and mark re-sends a few, which idempotent consumers
absorb.

The relay runs inside each service process (:class:`OutboxRelay`, woken on
commit and polling as a fallback) or alone (``labornet relay SERVICE``).
Several relays may share one outbox (service instances, ``labornet registry
import``), on SQLite as on PostgreSQL: a lease row (:mod:`labornet_shared.lease`)
lets exactly one publish at a time, so no event leaves twice and the events
of a case leave in the order they were written.

A row the broker refuses every time (an exchange that cannot exist, a body
it will not take) is not left to stall the rows behind it: after
``max_failures`` refusals it is parked (``parked_at``), an alert is logged,
and the relay goes on; ``labornet outbox list|retry SERVICE`` shows it and
sends it again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import kombu
from nameko.extensions import DependencyProvider
from prometheus_client import Counter, Gauge
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
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from labornet_shared.db import Database, UnitOfWork, bulk_insert
from labornet_shared.events import Event
from labornet_shared.frames import publish_batch_frames
from labornet_shared.lease import LEASE_TABLE, RelayLease, lease_table

log = logging.getLogger(__name__)

OUTBOX_TABLE = "outbox_messages"  # also named in outbox_admin.py

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


class BatchRefused(RuntimeError):
    """The broker refused a batch, or part of it, for what it holds — not a
    lost connection, which is retried as long as it lasts.

    ``positions``: the places in the batch of the refused messages when the
    broker said which (a nack), else None. ``confirmed``: the places of those
    the broker confirmed before it refused. ``reason``: an error class and an
    AMQP reply code, never message content.
    """

    def __init__(
        self,
        reason: str,
        positions: list[int] | None = None,
        confirmed: Sequence[int] = (),
    ) -> None:
        super().__init__(f"broker refused the batch ({reason})")
        self.reason = reason
        self.positions = positions
        self.confirmed = list(confirmed)


# a connection closed for these codes was closed for the frames we sent
_REFUSING_CONNECTION_CODES = {501, 502, 503, 505}


def _refusal(exc: BaseException, connection: Any) -> str | None:
    """Why ``exc`` means the broker refused what we sent (None: the
    connection or the broker failed, which is no message's fault)."""
    import amqp.exceptions

    code = getattr(exc, "code", None)
    if isinstance(exc, amqp.exceptions.ChannelError) or (
        isinstance(exc, amqp.exceptions.AMQPError)
        and code in _REFUSING_CONNECTION_CODES
    ):
        return f"{type(exc).__name__} {code}"
    transient: tuple[type[BaseException], ...] = (OSError, EOFError, TimeoutError)
    if connection is not None:
        transient += tuple(connection.connection_errors) + tuple(
            connection.recoverable_connection_errors
        )
    if isinstance(exc, transient):
        return None
    # an error of our own making with these rows (encoding, a value the
    # frames cannot carry): the same rows fail the same way every time
    return type(exc).__name__


class ConfirmingPublisher:
    """Publishes batches persistent with publisher confirms on one channel.

    Publishing one message and waiting for its confirm runs ~1,100 msg/s on
    this machine; publishing a batch and then waiting for all of its confirms
    runs several times faster, so the relay works in batches.
    """

    def __init__(self, amqp_uri: str, confirm_timeout: float = 10.0) -> None:
        self.amqp_uri = amqp_uri
        self.confirm_timeout = confirm_timeout
        self._connection: kombu.Connection | None = None
        self._channel: Any = None
        # delivery tags published and not yet confirmed; those refused
        self._unconfirmed: set[int] = set()
        self._nacked: set[int] = set()
        self._next_tag = 1

    def _connect(self) -> None:
        connection = kombu.Connection(self.amqp_uri, connect_timeout=5)
        # one attempt, no kombu retry (which sleeps 2 s): the caller's
        # RelayLoop paces the retries with its own backoff
        connection.ensure_connection(max_retries=0)
        channel = connection.channel()
        channel.confirm_select()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        self._connection, self._channel = connection, channel
        self._next_tag = 1
        self._unconfirmed.clear()
        self._nacked.clear()
        self._declared: set[str] = set()

    def _declare(self, exchange: str) -> None:
        # a service's events exchange exactly as nameko declares it, so the
        # relay works before the service's first dispatch or setup-broker;
        # other exchanges (with arguments) are setup-broker's to declare
        if exchange in self._declared or not exchange.endswith(".events"):
            return
        self._channel.exchange_declare(
            exchange, "topic", durable=True, auto_delete=False
        )
        self._declared.add(exchange)

    def _settle(self, delivery_tag: int, multiple: bool) -> set[int]:
        # RabbitMQ confirms in any order (a message routed to several queues
        # is confirmed when the last of them has it) and may confirm many
        # tags at once: settle exactly the tags of the batch in flight
        if multiple:
            settled = {tag for tag in self._unconfirmed if tag <= delivery_tag}
        else:
            settled = {delivery_tag} & self._unconfirmed
        self._unconfirmed -= settled
        return settled

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle(delivery_tag, multiple)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._nacked |= self._settle(delivery_tag, multiple)

    def _confirmed(self, first: int, count: int) -> list[int]:
        # the batch's places the broker acked (neither waiting nor nacked)
        if not first:
            return []
        return [
            place
            for place in range(count)
            if first + place not in self._unconfirmed
            and first + place not in self._nacked
        ]

    def close(self) -> None:
        """Drop the connection (it is re-opened on the next publish)."""
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already broken
                connection.release()

    def publish_batch(self, messages: list[dict[str, Any]]) -> None:
        """Publish every message and return once the broker confirmed all.

        Raises on connection loss, nack or confirm timeout: then none of the
        batch may be marked sent (some may still have arrived; consumers are
        idempotent).
        """
        if self._channel is None:
            self._connect()
        channel, connection = self._channel, self._connection
        assert connection is not None
        self._unconfirmed.clear()
        self._nacked.clear()
        first = 0  # no tag: nothing published yet
        try:
            for exchange in {message["exchange"] for message in messages}:
                self._declare(exchange)
            first = self._next_tag
            self._next_tag += len(messages)
            self._unconfirmed.update(range(first, self._next_tag))
            amqp_connection = channel.connection
            # the whole batch in one send, encoded for the relay's one message
            # shape (frames.py): py-amqp's per-message path costs ~6x the CPU
            amqp_connection.transport.write(
                publish_batch_frames(
                    channel.channel_id,
                    amqp_connection.frame_max,
                    messages,
                    int(time.time()),
                )
            )
            # py-amqp's heartbeat bookkeeping counts what was sent
            amqp_connection.bytes_sent += 1
            deadline = time.monotonic() + self.confirm_timeout
            while self._unconfirmed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("publisher confirms timed out")
                # no frame within the slice is not an error: look again
                with contextlib.suppress(socket.timeout):
                    connection.drain_events(timeout=min(remaining, 1.0))
            if self._nacked:
                raise BatchRefused(
                    "nack",
                    sorted(tag - first for tag in self._nacked),
                    self._confirmed(first, len(messages)),
                )
        except BatchRefused:
            self.close()
            raise
        except Exception as exc:
            confirmed = self._confirmed(first, len(messages))
            self.close()
            reason = _refusal(exc, connection)
            if reason is None:
                raise
            raise BatchRefused(reason, confirmed=confirmed) from exc
        finally:
            self._unconfirmed.clear()
            self._nacked.clear()


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
        return len(rows)

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


class OutboxRelay(DependencyProvider):
    """nameko extension: runs the relay inside the service process.

    It hooks into the service's :class:`Database` so every commit that wrote
    an outbox row wakes it at once. ``OUTBOX_RELAY: off`` in config leaves the
    publishing to a separate ``labornet relay`` process.
    """

    def __init__(self, database_attr: str = "db") -> None:
        # the Database is named, not passed: nameko would bind a passed
        # extension as a second, separate copy
        self.database_attr = database_attr
        self.loop: RelayLoop | None = None
        self._gt: Any = None

    def _build(self) -> None:
        config = self.container.config
        if str(config.get("OUTBOX_RELAY", "inline")).lower() != "inline":
            return
        import eventlet.event

        database = self._database()
        assert database.engine is not None
        relay = Relay(
            database.engine,
            database.metadata,
            ConfirmingPublisher(config["AMQP_URI"]),
            service=self.container.service_name,
            **relay_settings(config),
        )

        class _GreenEvent:
            """threading.Event's interface on an eventlet event."""

            def __init__(self) -> None:
                self._event = eventlet.event.Event()

            def set(self) -> None:
                if not self._event.ready():
                    self._event.send(True)

            def clear(self) -> None:
                if self._event.ready():
                    self._event = eventlet.event.Event()

            def wait(self, timeout: float) -> None:
                with eventlet.Timeout(timeout, False):
                    self._event.wait()

        self.loop = RelayLoop(
            relay,
            poll_seconds=float(config.get("OUTBOX_POLL_SECONDS", 1.0)),
            linger_seconds=float(config.get("OUTBOX_LINGER_SECONDS", 0.0)),
            sleep=eventlet.sleep,
            event_factory=_GreenEvent,
        )
        database.add_after_commit_hook(self._on_commit)

    def _database(self) -> Database:
        # the instance bound to this container, not the class-level template
        for provider in self.container.dependencies:
            if isinstance(provider, Database) and (
                provider.attr_name == self.database_attr
            ):
                return provider
        raise RuntimeError("OutboxRelay needs the service's Database")

    def _on_commit(self, unit: UnitOfWork) -> None:
        if self.loop is not None and unit.session.info.pop("outbox_dirty", False):
            self.loop.wake()

    def start(self) -> None:
        """Start publishing in a managed green thread (after every setup, so
        the Database's engine exists)."""
        self._build()
        if self.loop is not None:
            self._gt = self.container.spawn_managed_thread(
                self.loop.run, identifier="outbox_relay"
            )

    def stop(self) -> None:
        """Stop after the batch in flight."""
        if self.loop is not None:
            self.loop.stop()
            if self._gt is not None:
                self._gt.wait()
            self.loop.relay.publisher.close()
            # a successor need not wait for the lease to expire
            self.loop.relay.release_lease()

    def kill(self) -> None:
        """Stop at once."""
        if self._gt is not None:
            self._gt.kill()

    def get_dependency(self, worker_ctx: Any) -> RelayLoop | None:
        """The relay loop (readiness checks read its health)."""
        return self.loop
