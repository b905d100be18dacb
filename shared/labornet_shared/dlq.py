"""Operators' tools for a service's dead-letter queue: list, replay, purge.

A replay takes each message that is in the queue when it starts, once: one
that fails again and comes back meanwhile waits for the next replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import amqp
import kombu

from labornet_shared.broker import DELIVERY_LIMIT
from labornet_shared.consumer import dead_letter_queue_name
from labornet_shared.failures import ATTEMPT_HEADER, COUNT_HEADERS, KIND_HEADER
from labornet_shared.unrouted import peek


@dataclass(frozen=True)
class DeadLetter:
    """One parked message and why it is there."""

    position: int
    event_id: str | None
    event_type: str | None
    correlation_id: str | None
    queue: str | None
    error: str | None
    attempts: int
    failed_at: str | None
    # transient | prerequisite | content, and why the consumer gave up
    kind: str | None = None
    reason: str | None = None
    # failed deliveries by kind: {"transient": 40, "content": 0, ...}
    failures: dict[str, int] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


def _describe(position: int, message: Any) -> DeadLetter:
    import json

    headers = message.headers or {}
    try:
        body = json.loads(message.body)
    except (TypeError, ValueError):
        body = {}
    body = body if isinstance(body, dict) else {}
    death = (headers.get("x-death") or [{}])[0]
    error = headers.get("x-labornet-error")
    attempts = headers.get(ATTEMPT_HEADER)
    if error is None and death.get("reason") == "delivery_limit":
        # parked by RabbitMQ itself (the policy's delivery-limit): every
        # delivery ended without an ack, i.e. the consumer died handling it
        error = (
            f"delivery limit reached: {DELIVERY_LIMIT + 1} deliveries without an "
            "ack (the consumer crashed or was killed while handling it)"
        )
        attempts = DELIVERY_LIMIT + 1
    elif error is None and death.get("reason"):
        error = f"dead-lettered by RabbitMQ ({death['reason']})"
    failed_at = headers.get("x-labornet-failed-at") or death.get("time")
    if isinstance(failed_at, datetime):  # x-death's time: UTC, without zone
        failed_at = failed_at.replace(tzinfo=failed_at.tzinfo or UTC).isoformat()
    return DeadLetter(
        position=position,
        event_id=body.get("event_id"),
        event_type=body.get("event_type"),
        correlation_id=body.get("correlation_id"),
        queue=headers.get("x-labornet-queue") or death.get("queue"),
        error=error,
        attempts=int(attempts or death.get("count") or 0),
        failed_at=str(failed_at) if failed_at is not None else None,
        kind=headers.get(KIND_HEADER),
        reason=headers.get("x-labornet-gave-up") or death.get("reason"),
        failures={
            kind: int(headers[header])
            for kind, header in COUNT_HEADERS.items()
            if header in headers
        }
        or None,
    )


def list_dead_letters(
    amqp_uri: str, service: str, limit: int = 100
) -> list[DeadLetter]:
    """Read up to ``limit`` messages without removing them."""
    return peek(amqp_uri, dead_letter_queue_name(service), _describe, limit)


def replay_dead_letters(
    amqp_uri: str, service: str, event_id: str | None = None, limit: int = 10_000
) -> int:
    """Send parked messages back to the queue they failed in, attempts reset.

    With ``event_id`` only that event; returns how many were replayed. Only
    the messages in the queue when it starts are taken (at most ``limit``):
    the queue is FIFO, so the first that many gets are those, never one that
    failed again during this replay and came back behind them.
    """
    replayed = 0
    queue = dead_letter_queue_name(service)
    with kombu.Connection(amqp_uri, connect_timeout=5) as connection:
        channel = connection.channel()
        channel.confirm_select()
        try:
            waiting = channel.queue_declare(queue, passive=True).message_count
            for _ in range(min(waiting, limit)):
                message = channel.basic_get(queue)
                if message is None:
                    break
                letter = _describe(0, message)
                if (event_id and letter.event_id != event_id) or not letter.queue:
                    continue  # stays unacked: back in the queue on close
                headers = {
                    key: value
                    for key, value in (message.headers or {}).items()
                    if not key.startswith("x-")
                }
                channel.basic_publish_confirm(
                    amqp.Message(
                        message.body,
                        content_type=message.properties.get("content_type"),
                        content_encoding=message.properties.get("content_encoding"),
                        delivery_mode=2,
                        application_headers=headers,
                    ),
                    exchange="",
                    routing_key=letter.queue,
                    mandatory=True,
                )
                channel.basic_ack(message.delivery_tag)
                replayed += 1
        finally:
            channel.close()
    return replayed


def purge_dead_letters(amqp_uri: str, service: str) -> int:
    """Delete every parked message; returns how many."""
    with kombu.Connection(amqp_uri, connect_timeout=5) as connection:
        channel = connection.channel()
        try:
            return int(channel.queue_purge(dead_letter_queue_name(service)) or 0)
        finally:
            channel.close()
