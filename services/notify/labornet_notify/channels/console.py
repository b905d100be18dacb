"""The console channel: what a provider would have been sent, shown instead.

Under ``make run`` no provider is set up (no SMS gateway, LINE account or
mail relay). With ``CONSOLE_CHANNEL`` on, a :class:`ConsoleChannel` stands in
for each of SMS, LINE and e-mail whose provider the config does not name: the
sender gives it the same delivery rows, the same rendered message, the same
quiet hours and retries as a real provider, and it records the message as it
would have left — SMS fitted to its parts, LINE cut to LINE's limit, e-mail
with its subject — in notify's ``console_messages`` table
(:class:`~labornet_notify.models.ConsoleMessage`), then answers "accepted".
Webhooks still go to the agency's endpoint (a developer may run one on
127.0.0.1); the console records each attempt beside it, with the endpoint's
answer. A message held by quiet hours is recorded as such, with the time it
will go (:meth:`ConsoleChannel.hold`).

The text of a message to a citizen is personal data: it goes to that table
only — never to a log — and the table keeps the last ``CONSOLE_KEEP`` rows.
The recipient is recorded masked, as the delivery rows keep it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from labornet_notify.channels.base import Channel, Message, SendResult
from labornet_notify.channels.line import LINE_TEXT_LIMIT
from labornet_notify.channels.masking import mask_recipient
from labornet_notify.channels.segments import fit_sms, sms_segments
from labornet_notify.models import ConsoleMessage, Delivery
from labornet_shared.clock import Clock, utc_now
from labornet_shared.reference.errors import ReferenceError as _ReferenceError
from labornet_shared.reference.phone import normalize_phone

log = logging.getLogger("labornet.notify.console")

#: the channels the console stands in for when their provider is not set up
STANDS_IN_FOR = ("sms", "line", "email")
#: how many messages the table keeps unless ``CONSOLE_KEEP`` says otherwise
DEFAULT_KEEP = 500

_TABLE = ConsoleMessage.__table__


class ConsoleLog:
    """Where the console channel writes: notify's ``console_messages``
    table, pruned to the newest ``keep`` rows at every write.

    The engine is the service's own, given once the container has one
    (:meth:`bind`); nothing is opened before.
    """

    def __init__(self, keep: int = DEFAULT_KEEP, now: Clock = utc_now) -> None:
        self.keep = max(1, int(keep))
        self._engine: Engine | None = None
        self._now = now

    def bind(self, engine: Engine) -> None:
        """Write through ``engine`` from now on."""
        self._engine = engine

    def record(
        self, message: Message, connection: Connection | None = None, **row: Any
    ) -> int:
        """Write one message (``row``: the table's other columns); its id.

        With ``connection`` the row joins that transaction (the sender's, for
        a message held by quiet hours: it is recorded with the delivery's
        new time or not at all); without, in a transaction of its own.
        """
        if connection is not None:
            return self._write(connection, message, row)
        if self._engine is None:
            raise RuntimeError("the console log has no database yet")
        with self._engine.begin() as own:
            return self._write(own, message, row)

    def _write(self, conn: Connection, message: Message, row: dict[str, Any]) -> int:
        # who and what it is about, from the delivery row the id names
        about = conn.execute(
            select(
                Delivery.case_reference, Delivery.recipient_kind, Delivery.message
            ).where(Delivery.id == message.idempotency_key)
        ).first()
        values = {
            "recorded_at": self._now(),
            "delivery_id": message.idempotency_key,
            "language": message.language,
            "case_reference": about.case_reference if about else None,
            "recipient_kind": about.recipient_kind if about else None,
            "message": about.message if about else None,
            **row,
        }
        inserted = conn.execute(insert(_TABLE).values(**values)).inserted_primary_key
        assert inserted is not None  # a single-row insert always has one
        new_id = int(inserted[0])
        conn.execute(delete(_TABLE).where(_TABLE.c.id <= new_id - self.keep))
        return new_id


class ConsoleChannel:
    """Stands in for one channel (``stands_for``: sms, line, email, webhook).

    Without ``forward`` the message is recorded and taken, as a provider
    takes it; with ``forward`` (webhooks) it is sent through that channel
    and recorded with its answer.
    """

    kind: ClassVar[str] = "console"

    def __init__(
        self,
        stands_for: str,
        log: ConsoleLog,
        *,
        forward: Channel | None = None,
        max_segments: int = 3,
    ) -> None:
        if stands_for not in (*STANDS_IN_FOR, "webhook"):
            raise ValueError(f"the console cannot stand in for {stands_for!r}")
        self.stands_for = stands_for
        self.log = log
        self.forward = forward
        self.max_segments = max_segments

    def shown(self, message: Message) -> dict[str, Any]:
        """The columns of what would leave: the text as the provider would
        get it (an SMS fitted to its parts, a LINE text cut to LINE's
        limit), the e-mail's subject, the SMS's number of parts and the
        recipient in its masked form."""
        text, segments = message.text, None
        if self.stands_for == "sms":
            text = fit_sms(text, self.max_segments)
            segments = len(sms_segments(text))
        elif self.stands_for == "line" and len(text) > LINE_TEXT_LIMIT:
            text = text[: LINE_TEXT_LIMIT - 1] + "…"
        return {
            "channel": self.stands_for,
            "recipient_masked": mask_recipient(self.stands_for, message.to)[:100],
            "text": text,
            "subject": message.subject,
            "segments": segments,
        }

    def send(self, message: Message) -> SendResult:
        """Record the message (and, for a webhook, send it); never raises
        for the database: a message not recorded is tried again, as after a
        provider's outage."""
        if self.forward is not None:
            return self._forwarded(message)
        if self.stands_for == "sms" and not _readable_phone(message.to):
            # what the gateway would answer: no retry helps
            return SendResult.permanent(
                "bad_phone_number", "not a phone number; not shown"
            )
        try:
            row_id = self.log.record(message, status="sent", **self.shown(message))
        except SQLAlchemyError as exc:
            return SendResult.transient(f"console: not recorded ({type(exc).__name__})")
        return SendResult.ok(f"console-{row_id}", "console: shown, not sent")

    def hold(self, message: Message, until: datetime, connection: Connection) -> None:
        """Record that quiet hours hold ``message`` until ``until`` (in the
        sender's transaction, which moves the delivery to that time)."""
        self.log.record(
            message,
            connection,
            status="held",
            held_until=until,
            note="quiet hours",
            **self.shown(message),
        )

    def _forwarded(self, message: Message) -> SendResult:
        assert self.forward is not None
        result = self.forward.send(message)
        outcome = "sent" if result.accepted else "retry" if result.retry else "failed"
        try:
            self.log.record(
                message,
                status=outcome,
                note=(result.provider_response or result.permanent_error or "")[:200],
                **self.shown(message),
            )
        except SQLAlchemyError as exc:
            # the endpoint's answer stands; only the console misses it
            log.warning(
                "console: webhook %s not recorded (%s)",
                message.idempotency_key,
                type(exc).__name__,
            )
        return result


def console_channels(
    channels: dict[str, Channel], keep: int = DEFAULT_KEEP
) -> dict[str, Channel]:
    """``channels`` with the console standing in for SMS, LINE and e-mail
    where they have no provider, and beside the webhooks (one log for all)."""
    console = ConsoleLog(keep)
    result = dict(channels)
    for kind in STANDS_IN_FOR:
        if kind not in result:
            result[kind] = ConsoleChannel(kind, console)
    if "webhook" in result:
        result["webhook"] = ConsoleChannel(
            "webhook", console, forward=result["webhook"]
        )
    return result


def _readable_phone(phone: str) -> bool:
    try:
        normalize_phone(phone)
    except _ReferenceError:
        return False
    return True
