"""Publishing a batch of outbox rows to RabbitMQ with publisher confirms.

:class:`ConfirmingPublisher` sends a batch on one channel and returns once the
broker confirmed all of it; :class:`BatchRefused` says the broker refused
some of it for what it holds (not a lost connection), so the relay can park
the row at fault.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Sequence
from typing import Any

import kombu

from labornet_shared.frames import publish_batch_frames


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
