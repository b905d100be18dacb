"""Consuming events: exactly once in effect, never lost, never a crash loop.

* :func:`apply_once` records an event's id in the consumer's database in the
  same transaction as the handler's effect, so a redelivered event is skipped.
* :func:`event_handler` is nameko's ``event_handler`` made safe. nameko acks a
  message whose handler raised, and the event is gone. Here the handler's unit
  of work is committed *before* the ack; a failure is retried with
  exponential backoff (a per-queue retry queue whose messages expire back into
  the handler's queue) a bounded number of times, then parked in the
  service's dead-letter queue ``<service>.dlq`` with the error, where
  ``labornet dlq list|replay|purge`` works on it. A message that is not a
  valid envelope (or not even JSON: kombu would ack it away), or has a version
  this consumer does not know, goes there at once: retrying cannot help it.
* The handler's queue is a quorum queue. ``labornet setup-broker`` adds a
  policy with a ``delivery-limit``: a message that kills the process every
  time it is handled (no exception to catch) is dead-lettered by RabbitMQ
  itself after that many deliveries.
"""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime
from functools import partial
from typing import Any

from kombu import Queue
from nameko.amqp.publish import Publisher
from nameko.events import SERVICE_POOL, EventHandler
from nameko.messaging import QueueConsumer
from sqlalchemy import Column, DateTime, MetaData, String, Table, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from labornet_shared.db import UnitOfWork, finish_units_of_work
from labornet_shared.events import Event, InvalidEvent, parse_event
from labornet_shared.logs import correlation_id_var, event_id_var

log = logging.getLogger(__name__)

PROCESSED_EVENTS_TABLE = "processed_events"
ATTEMPT_HEADER = "x-labornet-attempt"
DEFAULT_MAX_RETRIES = 5
DEFAULT_BACKOFF_MS = 1000
MAX_BACKOFF_MS = 60_000


class PrerequisiteMissing(Exception):
    """The event needs another that has not arrived yet.

    Events of one case travel on different queues and may arrive in any
    order: a handler that finds what it builds on missing raises this, so the
    event is retried later instead of being acknowledged with nothing done.
    The message says what is missing (never personal data).
    """


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


def dead_letter_queue_name(service: str) -> str:
    """The dead-letter queue of a consuming service."""
    return f"{service}.dlq"


def retry_queue_name(queue_name: str) -> str:
    """The queue where a handler's failed messages wait out their backoff."""
    return f"{queue_name}.retry"


def retry_queue(queue_name: str) -> Queue:
    """A queue whose expired messages go back to ``queue_name``."""
    return Queue(
        retry_queue_name(queue_name),
        exchange=None,
        routing_key=retry_queue_name(queue_name),
        durable=True,
        queue_arguments={
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": queue_name,
        },
    )


def dead_letter_queue(service: str) -> Queue:
    """The durable quorum queue that keeps a service's failed messages."""
    name = dead_letter_queue_name(service)
    return Queue(
        name,
        exchange=None,
        routing_key=name,
        durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )


def backoff_ms(attempt: int, base_ms: int = DEFAULT_BACKOFF_MS) -> int:
    """Exponential backoff before retry number ``attempt`` (1-based)."""
    return int(min(MAX_BACKOFF_MS, base_ms * 2 ** (attempt - 1)))


class ReliableQueueConsumer(QueueConsumer):
    """nameko's QueueConsumer, except for a message it cannot decode.

    kombu's default acks such a message (it is gone) and logs its raw body
    (which may hold personal data). Here the handler whose queue it came
    from parks it in the dead-letter queue, undecoded.
    """

    #: whether the handlers' queues are declared and being consumed now
    consuming = False

    def on_consume_ready(
        self, connection: Any, channel: Any, consumers: Any, **kwargs: Any
    ) -> None:
        """Every queue is declared and consumed (after each (re)connect)."""
        self.consuming = True
        super().on_consume_ready(connection, channel, consumers, **kwargs)

    def on_connection_error(self, exc: Exception, interval: float) -> None:
        """The broker is unreachable: not consuming until it is back."""
        self.consuming = False
        super().on_connection_error(exc, interval)

    def on_connection_revived(self) -> None:
        """Reconnected: consuming again only once the queues are declared
        (a queue refused with PRECONDITION_FAILED never gets there)."""
        self.consuming = False
        super().on_connection_revived()

    def get_consumers(self, consumer_cls: Any, channel: Any) -> Any:
        """nameko's consumers, each with its provider's decode-error hook."""
        consumers = super().get_consumers(consumer_cls, channel)
        for provider, consumer in self._consumers.items():
            consumer.on_decode_error = partial(self._on_undecodable, provider)
        return consumers

    def _on_undecodable(self, provider: Any, message: Any, exc: Exception) -> None:
        self.container.spawn_managed_thread(
            partial(provider.handle_undecodable, message, exc),
            identifier=f"{type(provider).__name__}.handle_undecodable",
        )


class ReliableEventHandler(EventHandler):
    """nameko's EventHandler with commit-before-ack, retries and a DLQ."""

    queue_consumer = ReliableQueueConsumer()

    def __init__(
        self,
        source_service: str,
        event_type: str,
        accept_versions: set[int] | None = None,
        max_retries: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.accept_versions = accept_versions
        self.max_retries = max_retries
        super().__init__(
            source_service,
            event_type,
            handler_type=SERVICE_POOL,
            reliable_delivery=True,
            requeue_on_error=False,
            **kwargs,
        )

    def setup(self) -> None:
        """Declare the handler's queue as a quorum queue."""
        super().setup()
        # only the queue type here; limits live in the broker policy, since a
        # queue re-declared with other arguments fails PRECONDITION_FAILED
        self.queue.queue_arguments = {"x-queue-type": "quorum"}
        config = self.container.config
        if self.max_retries is None:
            self.max_retries = int(config.get("EVENT_MAX_RETRIES", DEFAULT_MAX_RETRIES))
        self.backoff_base_ms = int(config.get("EVENT_BACKOFF_MS", DEFAULT_BACKOFF_MS))
        self.publisher = Publisher(
            config["AMQP_URI"],
            use_confirms=True,
            mandatory=True,
            serializer="json",
            delivery_mode=2,
        )

    @property
    def consumer_name(self) -> str:
        """The name idempotency records use: ``service.method``."""
        return f"{self.container.service_name}.{self.method_name}"

    def handle_message(self, body: Any, message: Any) -> None:
        """Parse the envelope; spawn the worker with the :class:`Event`."""
        accept = (
            {self.event_type: self.accept_versions}
            if self.accept_versions is not None
            else None
        )
        try:
            event = parse_event(body, accept)
        except InvalidEvent as exc:
            self._dead_letter(body, message, exc, attempt=0)
            return
        context_data = self.unpack_message_headers(message)
        context_data.setdefault("correlation_id", event.correlation_id)
        context_data.setdefault("event_id", event.event_id)

        def handle_result(worker_ctx: Any, result: Any, exc_info: Any) -> Any:
            return self._handle_result(body, message, worker_ctx, result, exc_info)

        from nameko.exceptions import ContainerBeingKilled

        try:
            self.container.spawn_worker(
                self,
                (event,),
                {},
                context_data=context_data,
                handle_result=handle_result,
            )
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)

    def handle_undecodable(self, message: Any, exc: Exception) -> None:
        """A body that is not JSON (or not an accepted content type): park it
        as it came, without retrying."""
        error = InvalidEvent(
            f"body cannot be decoded as {message.content_type!r}: {type(exc).__name__}"
        )
        self._dead_letter(message.body, message, error, attempt=0, raw=True)

    def _handle_result(
        self, body: Any, message: Any, worker_ctx: Any, result: Any, exc_info: Any
    ) -> Any:
        exc_info = finish_units_of_work(worker_ctx, exc_info)
        if exc_info is None:
            self.queue_consumer.ack_message(message)
            return result, exc_info
        # failed attempts so far, this one included (1 = the first delivery)
        attempt = int((message.headers or {}).get(ATTEMPT_HEADER, 0)) + 1
        correlation_id_var.set(worker_ctx.context_data.get("correlation_id"))
        event_id_var.set(worker_ctx.context_data.get("event_id"))
        assert self.max_retries is not None
        if attempt <= self.max_retries:
            self._retry(body, message, exc_info, attempt)
        else:
            self._dead_letter(body, message, exc_info[1], attempt=attempt)
        return result, exc_info

    def _move(
        self,
        body: Any,
        message: Any,
        queue: Queue,
        headers: dict[str, Any],
        **publish_options: Any,
    ) -> bool:
        """Publish (confirmed) to ``queue``, then ack the original.

        If the publish fails the original is requeued, never lost; if the
        process dies between publish and ack it is delivered twice, which the
        idempotent consumer absorbs.
        """
        try:
            self.publisher.publish(
                body,
                exchange=None,
                routing_key=queue.name,
                declare=[queue],
                headers={**_copied_headers(message), **headers},
                **publish_options,
            )
        except Exception:
            log.exception("cannot move the message to %s; requeueing it", queue.name)
            self.queue_consumer.requeue_message(message)
            return False
        self.queue_consumer.ack_message(message)
        return True

    def _retry(self, body: Any, message: Any, exc_info: Any, attempt: int) -> None:
        delay = backoff_ms(attempt, self.backoff_base_ms)
        if self._move(
            body,
            message,
            retry_queue(self.queue.name),
            {ATTEMPT_HEADER: attempt, "x-labornet-error": _error_text(exc_info[1])},
            expiration=delay / 1000.0,
        ):
            log.warning(
                "handler %s failed (%s); retry %d of %d in %d ms",
                self.consumer_name,
                type(exc_info[1]).__name__,
                attempt,
                self.max_retries,
                delay,
            )

    def _dead_letter(
        self, body: Any, message: Any, error: Any, attempt: int, raw: bool = False
    ) -> None:
        queue = dead_letter_queue(self.container.service_name)
        # an undecodable body is kept byte for byte, with its content type
        as_received = (
            {
                "content_type": message.content_type or "application/octet-stream",
                "content_encoding": message.content_encoding or "binary",
            }
            if raw
            else {}
        )
        headers = {
            ATTEMPT_HEADER: attempt,
            "x-labornet-error": _error_text(error),
            "x-labornet-error-type": type(error).__name__,
            "x-labornet-queue": self.queue.name,
            "x-labornet-consumer": self.consumer_name,
            "x-labornet-source-exchange": self.queue.exchange.name,
            "x-labornet-routing-key": self.event_type,
            "x-labornet-failed-at": datetime.now(UTC).isoformat(),
        }
        if self._move(body, message, queue, headers, **as_received):
            log.error(
                "handler %s gave up after %d attempts (%s); dead-lettered to %s",
                self.consumer_name,
                attempt,
                type(error).__name__,
                queue.name,
            )


def _copied_headers(message: Any) -> dict[str, Any]:
    # keep nameko's context headers; drop RabbitMQ's own (x-death & co)
    return {
        key: value
        for key, value in (message.headers or {}).items()
        if not key.startswith("x-")
    }


def _error_text(error: Any) -> str:
    """The error for operators: type and message, last frame, no locals."""
    text = f"{type(error).__name__}: {error}"
    frames = traceback.extract_tb(error.__traceback__) if error else []
    if frames:
        last = frames[-1]
        text += f" (at {last.filename.rsplit('/', 1)[-1]}:{last.lineno})"
    return text[:2000]


event_handler = ReliableEventHandler.decorator
