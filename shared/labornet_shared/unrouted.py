"""Messages no queue took: read them, and publish them again.

Two alternate exchanges keep what nobody bound yet: ``labornet.unrouted``
(events of every service's exchange) and ``labornet.referrals.unrouted``
(referrals no agency queue takes). Both are read and replayed the same way:

* :func:`peek` reads the oldest messages without removing them (unacked,
  they return to the queue, in order, when the channel closes);
* :func:`replay` publishes each message that is there when it starts, once,
  to the exchange and routing key it was first published with, persistent
  and confirmed, and only then removes it. One that still no queue binds
  comes back by the alternate exchange, behind the others, and is counted,
  never replayed again in the same run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import amqp
import kombu

from labornet_shared.broker import UNROUTED_EXCHANGE, UNROUTED_QUEUE
from labornet_shared.events import UnknownEventVersion, source_service

T = TypeVar("T")


@dataclass(frozen=True)
class ReplayResult:
    """What a replay did."""

    republished: int
    # of those, how many no queue took again: back in the unrouted queue
    came_back: int

    @property
    def delivered(self) -> int:
        """Re-published and taken by at least one queue."""
        return self.republished - self.came_back


def body_of(message: Any) -> dict[str, Any]:
    """The JSON body as a dict ({} if it is not one)."""
    try:
        body = json.loads(message.body)
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def peek(
    amqp_uri: str, queue: str, describe: Callable[[int, Any], T], limit: int = 100
) -> list[T]:
    """Up to ``limit`` messages of ``queue``, oldest first, described by
    ``describe(position, message)``; none is removed."""
    found = []
    with kombu.Connection(amqp_uri, connect_timeout=5) as connection:
        channel = connection.channel()
        try:
            for position in range(1, limit + 1):
                message = channel.basic_get(queue)
                if message is None:
                    break
                found.append(describe(position, message))
        finally:
            channel.close()
    return found


def replay(
    amqp_uri: str, queue: str, target: Callable[[Any], tuple[str, str] | None]
) -> ReplayResult:
    """Publish again each message in ``queue`` now to ``target(message)``,
    an (exchange, routing key), or leave it where it is if that is None."""
    republished_ids: list[str | None] = []
    with kombu.Connection(amqp_uri, connect_timeout=5) as connection:
        channel = connection.channel()
        try:
            waiting = channel.queue_declare(queue, passive=True).message_count
            # the queue is FIFO: the first ``waiting`` gets are the messages
            # there now, never one that comes back during this replay
            for _ in range(waiting):
                message = channel.basic_get(queue)
                if message is None:
                    break
                destination = target(message)
                if destination is None:
                    continue  # stays unacked: back in the queue on close
                exchange, routing_key = destination
                channel.basic_publish_confirm(
                    _republished(message),
                    exchange=exchange,
                    routing_key=routing_key,
                    confirm_timeout=10,
                )
                channel.basic_ack(message.delivery_tag)
                republished_ids.append(_identity(message))
            came_back = _count_came_back(channel, queue, republished_ids)
        finally:
            channel.close()
    return ReplayResult(len(republished_ids), came_back)


def _identity(message: Any) -> str | None:
    """The message id, else the event id of the body."""
    message_id = message.properties.get("message_id")
    return str(message_id) if message_id else body_of(message).get("event_id")


def _republished(message: Any) -> amqp.Message:
    """The same message again: body and properties, persistent."""
    properties = {
        key: value
        for key, value in message.properties.items()
        # user_id would have to be the replaying operator's own name
        if key not in ("application_headers", "delivery_mode", "user_id")
    }
    headers = {
        key: value
        for key, value in (message.headers or {}).items()
        if not key.startswith("x-")  # the broker's (x-delivery-count)
    }
    return amqp.Message(
        message.body, delivery_mode=2, application_headers=headers, **properties
    )


def _count_came_back(
    channel: Any, queue: str, republished_ids: list[str | None]
) -> int:
    """How many re-published messages are in the unrouted queue again.

    The alternate exchange routes them before the publish is confirmed, so
    they are in the queue already, behind what was there before; they are
    recognised by their message id or event id and left where they are
    (unacked, they return when the channel closes). Only so many messages
    are looked at: messages arriving meanwhile could make the queue endless.
    """
    expected = {message_id for message_id in republished_ids if message_id}
    came_back = 0
    for _ in range(2 * len(expected) + 100 if expected else 0):
        message = channel.basic_get(queue)
        if message is None:
            break
        if _identity(message) in expected:
            came_back += 1
            if came_back == len(republished_ids):
                break
    return came_back


# --- events no consumer queue took ------------------------------------------------


@dataclass(frozen=True)
class UnroutedEvent:
    """One event waiting in ``labornet.unrouted``."""

    position: int
    exchange: str | None
    routing_key: str
    event_id: str | None
    event_type: str | None
    reference: str | None
    occurred_at: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


def _origin(message: Any, body: dict[str, Any]) -> str | None:
    """The exchange the event was published to: the one RabbitMQ reports,
    else the event type's publisher's (``<service>.events``)."""
    exchange = message.delivery_info.get("exchange")
    if exchange and exchange != UNROUTED_EXCHANGE:
        return str(exchange)
    try:
        return f"{source_service(str(body.get('event_type')))}.events"
    except UnknownEventVersion:
        return None


def describe_event(position: int, message: Any) -> UnroutedEvent:
    """What an operator needs to know of an unrouted event (no payload)."""
    body = body_of(message)
    return UnroutedEvent(
        position=position,
        exchange=_origin(message, body),
        # the alternate exchange keeps the key the message was published with
        routing_key=str(message.delivery_info.get("routing_key", "")),
        event_id=body.get("event_id"),
        event_type=body.get("event_type"),
        reference=body.get("correlation_id"),
        occurred_at=body.get("occurred_at"),
    )


def list_unrouted_events(amqp_uri: str, limit: int = 100) -> list[UnroutedEvent]:
    """Up to ``limit`` events no consumer queue took, oldest first."""
    return peek(amqp_uri, UNROUTED_QUEUE, describe_event, limit)


def replay_unrouted_events(amqp_uri: str, event_id: str | None = None) -> ReplayResult:
    """Publish the waiting events again to their own exchange and key (once a
    consumer's queue is bound); with ``event_id`` only that event."""

    def target(message: Any) -> tuple[str, str] | None:
        event = describe_event(0, message)
        if event.exchange is None or (event_id and event.event_id != event_id):
            return None
        return event.exchange, event.routing_key

    return replay(amqp_uri, UNROUTED_QUEUE, target)
