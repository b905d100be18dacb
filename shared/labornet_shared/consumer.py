"""Consuming events: exactly once in effect, never lost, never a crash loop.

* :func:`apply_once` (:mod:`labornet_shared.inbox`, re-exported here) records
  an event's id in the consumer's database in the same transaction as the
  handler's effect, so a redelivered event is skipped.
* :func:`event_handler` is nameko's ``event_handler`` made safe. nameko acks a
  message whose handler raised, and the event is gone. Here the handler's unit
  of work is committed *before* the ack, and a failure is sorted
  (:mod:`labornet_shared.failures`): a *transient* one (database or broker
  unavailable, locked, timing out) is retried for as long as the outage lasts,
  up to ``EVENT_TRANSIENT_RETRY_SECONDS``, and ``/readyz`` says so; a
  :class:`PrerequisiteMissing` is retried over
  ``EVENT_PREREQUISITE_WAIT_SECONDS``; a failure for the message's content
  ``EVENT_MAX_RETRIES`` times. Retries wait in ``<service>.retry.<delay>``
  queues, one per delay level (``EVENT_RETRY_DELAYS_MS``), whose messages
  expire back into the handler's queue. Then the message is parked in the
  service's dead-letter queue ``<service>.dlq`` with the error and why it
  gave up, where ``labornet dlq list|replay|purge`` works on it. A message
  that is not a valid envelope (or not even JSON: kombu would ack it away),
  or has a version this consumer does not know, goes there at once: retrying
  cannot help it.
* The handler's queue is a quorum queue. ``labornet setup-broker`` adds a
  policy with a ``delivery-limit``: a message that kills the process every
  time it is handled (no exception to catch) is dead-lettered by RabbitMQ
  itself after that many deliveries.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from kombu import Exchange, Queue
from nameko.amqp.publish import Publisher
from nameko.events import SERVICE_POOL, EventHandler
from nameko.messaging import QueueConsumer, QueueConsumerStopped
from prometheus_client import Counter

from labornet_shared.broker_errors import broker_connection_errors
from labornet_shared.db import finish_units_of_work
from labornet_shared.events import InvalidEvent, parse_event
from labornet_shared.failures import (
    ATTEMPT_HEADER,
    CONTENT,
    DEFAULT_RETRY_DELAYS_MS,
    KIND_HEADER,
    PREREQUISITE,
    TRANSIENT,
    FailureRecord,
    RetryPolicy,
    classify,
    reason_label,
)
from labornet_shared.inbox import PROCESSED_EVENTS_TABLE as PROCESSED_EVENTS_TABLE
from labornet_shared.inbox import PrerequisiteMissing as PrerequisiteMissing
from labornet_shared.inbox import apply_once as apply_once
from labornet_shared.inbox import processed_events_table as processed_events_table
from labornet_shared.logs import correlation_id_var, event_id_var
from labornet_shared.metrics import EVENTS_CONSUMED

log = logging.getLogger(__name__)

RETRIES = Counter(
    "labornet_event_retries_total",
    "Failed event deliveries sent to wait in a retry queue",
    ["service", "consumer", "kind", "reason"],
)
DEAD_LETTERED = Counter(
    "labornet_events_dead_lettered_total",
    "Events parked in the dead-letter queue",
    ["service", "consumer", "kind"],
)


def dead_letter_queue_name(service: str) -> str:
    """The dead-letter queue of a consuming service."""
    return f"{service}.dlq"


def delay_label(delay_ms: int) -> str:
    """``500ms``, ``5s``, ``2m``: a delay as queue names show it."""
    if delay_ms % 60_000 == 0:
        return f"{delay_ms // 60_000}m"
    if delay_ms % 1000 == 0:
        return f"{delay_ms // 1000}s"
    return f"{delay_ms}ms"


def retry_queue_name(service: str, delay_ms: int) -> str:
    """The queue (and fanout exchange) where ``service``'s failed messages
    wait ``delay_ms``: ``routing.retry.5s``."""
    return f"{service}.retry.{delay_label(delay_ms)}"


def retry_queue(service: str, delay_ms: int) -> Queue:
    """One delay level of a service: every message waits the queue's own TTL,
    so none waits behind a longer one (RabbitMQ expires only at the head).

    A message is published to the level's fanout exchange with the handler's
    queue as routing key; expired, it is dead-lettered through the default
    exchange with that same key, i.e. back into the handler's queue.
    """
    name = retry_queue_name(service, delay_ms)
    return Queue(
        name,
        exchange=Exchange(name, type="fanout", durable=True, auto_delete=False),
        routing_key="",
        durable=True,
        queue_arguments={"x-message-ttl": delay_ms, "x-dead-letter-exchange": ""},
    )


def retry_queues(
    service: str, delays_ms: tuple[int, ...] = DEFAULT_RETRY_DELAYS_MS
) -> list[Queue]:
    """Every delay level's queue of ``service``."""
    return [retry_queue(service, delay) for delay in sorted(set(delays_ms))]


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


@dataclass
class Retrying:
    """A handler whose latest failure was transient, for ``/readyz``: since
    when, how often, with what kind of error (a type name, no message, so no
    personal data)."""

    consumer: str
    error: str
    since: datetime
    last_at: float
    retries: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The readiness document's entry."""
        return {
            "consumer": self.consumer,
            "failure": TRANSIENT,
            "error": self.error,
            "since": self.since.isoformat(),
            "retries": self.retries,
        }


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

    def ack_message(self, message: Any) -> None:
        """Ack; a connection that dropped meanwhile is no error.

        nameko ignores only amqp's own ``ConnectionError`` here; a broker
        node that stops (a cluster's, under its clients) resets the socket,
        and the ``ConnectionResetError`` of the ack would end the whole
        service. The broker delivers an unacked message again, to this
        consumer once it has reconnected (to another node) or to another;
        the inbox (:func:`apply_once`) makes the second delivery harmless.
        """
        try:
            super().ack_message(message)
        except broker_connection_errors(self.amqp_uri) as exc:
            log.warning(
                "ack not sent, broker connection lost (%s); the broker"
                " delivers the message again",
                type(exc).__name__,
            )

    def requeue_message(self, message: Any) -> None:
        """Requeue; a connection that dropped meanwhile requeues it anyway."""
        try:
            super().requeue_message(message)
        except broker_connection_errors(self.amqp_uri) as exc:
            log.warning(
                "requeue not sent, broker connection lost (%s); the broker"
                " requeues the message itself",
                type(exc).__name__,
            )

    def run(self, *args: Any, **kwargs: Any) -> None:
        """The consuming thread. nameko stops one that is still starting by
        throwing QueueConsumerStopped into it, which eventlet's hub printed
        as a traceback at each Ctrl-C during start-up: it is the end that
        was asked for, so the thread ends quietly (the start is told)."""
        try:
            super().run(*args, **kwargs)
        except QueueConsumerStopped:
            if not self._consumers_ready.ready():
                self._consumers_ready.send_exception(QueueConsumerStopped())

    def unregister_provider(self, provider: Any) -> None:
        """A handler stopping. Stopped before the queues were consumed (a
        Ctrl-C while the service starts), nameko signals "last handler gone"
        once per handler: the second raised `AssertionError: Trying to
        re-send() an already-triggered event` and the service never finished
        stopping. Once is what it means."""
        if not self._consumers_ready.ready():
            if not self._last_provider_unregistered.ready():
                self._last_provider_unregistered.send()
            return
        super().unregister_provider(provider)

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
        # waiting for another event is no error: our own line logs it, not
        # nameko's traceback at ERROR on every retry
        expected = kwargs.pop("expected_exceptions", ())
        expected = expected if isinstance(expected, tuple) else (expected,)
        super().__init__(
            source_service,
            event_type,
            handler_type=SERVICE_POOL,
            reliable_delivery=True,
            requeue_on_error=False,
            expected_exceptions=(*expected, PrerequisiteMissing),
            **kwargs,
        )

    def setup(self) -> None:
        """Declare the handler's queue as a quorum queue."""
        super().setup()
        # only the queue type here; limits live in the broker policy, since a
        # queue re-declared with other arguments fails PRECONDITION_FAILED
        self.queue.queue_arguments = {"x-queue-type": "quorum"}
        config = self.container.config
        self.policy = RetryPolicy.from_config(config, self.max_retries)
        #: set while the latest failure was transient (for /readyz)
        self.retrying: Retrying | None = None
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
            self.retrying = None
            EVENTS_CONSUMED.labels(
                self.container.service_name, self.consumer_name, self.event_type
            ).inc()
            return result, exc_info
        correlation_id_var.set(worker_ctx.context_data.get("correlation_id"))
        event_id_var.set(worker_ctx.context_data.get("event_id"))
        error = exc_info[1]
        kind = classify(error)
        now = datetime.now(UTC)
        record = FailureRecord.from_headers(message.headers).after(kind, now)
        if kind == TRANSIENT:
            self._note_transient(error, now)
        verdict = self.policy.decide(record, kind, now)
        if verdict.delay_ms is None:
            self._dead_letter(
                body,
                message,
                error,
                attempt=record.attempts,
                kind=kind,
                reason=verdict.reason,
                record=record,
            )
        else:
            self._retry(body, message, error, kind, record, verdict.delay_ms)
        return result, exc_info

    def _note_transient(self, error: BaseException, now: datetime) -> None:
        state = self.current_retrying()
        if state is None:
            state = self.retrying = Retrying(
                self.consumer_name, type(error).__name__, now, time.monotonic()
            )
        state.error = type(error).__name__
        state.last_at = time.monotonic()
        state.retries += 1

    def current_retrying(self) -> Retrying | None:
        """The transient failure this handler is retrying now, if any (one not
        seen for twice the longest delay is over: its message got through or
        was parked)."""
        state = self.retrying
        stale_after = 2 * max(self.policy.delays_ms) / 1000 + 5
        if state is None or time.monotonic() - state.last_at > stale_after:
            return None
        return state

    def _move(
        self,
        body: Any,
        message: Any,
        queue: Queue,
        headers: dict[str, Any],
        routing_key: str | None = None,
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
                exchange=queue.exchange if queue.exchange.name else None,
                routing_key=routing_key or queue.name,
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

    def _retry(
        self,
        body: Any,
        message: Any,
        error: BaseException,
        kind: str,
        record: FailureRecord,
        delay: int,
    ) -> None:
        queue = retry_queue(self.container.service_name, delay)
        headers = {
            **record.headers(),
            KIND_HEADER: kind,
            "x-labornet-error": _error_text(error),
        }
        # the level's exchange routes by nothing; the key is kept for the way
        # back: expired, the message goes to the handler's queue by that key
        if not self._move(body, message, queue, headers, routing_key=self.queue.name):
            return
        reason = reason_label(error)
        RETRIES.labels(
            self.container.service_name, self.consumer_name, kind, reason
        ).inc()
        if kind == CONTENT:
            log.warning(
                "handler %s failed (%s); retry %d of %d in %d ms",
                self.consumer_name,
                reason,
                record.count(CONTENT),
                self.policy.max_retries,
                delay,
            )
        elif kind == PREREQUISITE:
            log.info(
                "handler %s: prerequisite missing (%s); waiting, retry %d in %d ms",
                self.consumer_name,
                error,
                record.count(PREREQUISITE),
                delay,
            )
        else:
            log.warning(
                "handler %s: transient failure (%s) since %s; retry %d in %d ms",
                self.consumer_name,
                reason,
                record.started(TRANSIENT),
                record.count(TRANSIENT),
                delay,
            )

    def _dead_letter(
        self,
        body: Any,
        message: Any,
        error: Any,
        attempt: int,
        raw: bool = False,
        kind: str = CONTENT,
        reason: str = "not a valid event",
        record: FailureRecord | None = None,
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
            **(record.headers() if record else {}),
            ATTEMPT_HEADER: attempt,
            KIND_HEADER: kind,
            "x-labornet-gave-up": reason,
            "x-labornet-error": _error_text(error),
            "x-labornet-error-type": type(error).__name__,
            "x-labornet-queue": self.queue.name,
            "x-labornet-consumer": self.consumer_name,
            "x-labornet-source-exchange": self.queue.exchange.name,
            "x-labornet-routing-key": self.event_type,
            "x-labornet-failed-at": datetime.now(UTC).isoformat(),
        }
        if self._move(body, message, queue, headers, **as_received):
            DEAD_LETTERED.labels(
                self.container.service_name, self.consumer_name, kind
            ).inc()
            log.error(
                "handler %s gave up after %d attempts (%s: %s); dead-lettered to %s",
                self.consumer_name,
                attempt,
                type(error).__name__,
                reason,
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
