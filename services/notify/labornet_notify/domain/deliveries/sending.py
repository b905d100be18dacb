"""Sending: the state changes the sender makes to a delivery — claimed,
about to call its provider, sent, to retry later, skipped, interrupted,
failed (falling back to the recipient's next channel) — and the recovery of
the rows of a sender that died mid-send.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from labornet_notify import metrics
from labornet_notify.models import Delivery
from labornet_shared.clock import Clock, aware, utc_now
from labornet_shared.events import Event, make_event
from labornet_shared.ids import new_time_ordered_id
from labornet_shared.outbox import add_event

SERVICE = "notify"
log = logging.getLogger("labornet.notify.deliveries")
#: channels whose provider drops a repeated attempt (LINE's retry key, the
#: webhook id): only these are sent again after an interrupted attempt
IDEMPOTENT_CHANNELS = frozenset({"line", "webhook"})
#: a delivery that may have reached its provider and is not sent again by
#: itself (an operator may retry it)
INTERRUPTED = "interrupted"


def claim_due(
    session: Session, limit: int, lease: timedelta, clock: Clock = utc_now
) -> list[str]:
    """Claim up to ``limit`` due deliveries for this sender (commit after).

    Two senders (instances) never claim one row: the UPDATE only matches a
    row still ``pending``.
    """
    now = clock()
    due = session.scalars(
        select(Delivery.id)
        .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at)
        .limit(limit)
    ).all()
    claimed = []
    for delivery_id in due:
        result = session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == "pending")
            .values(
                status="sending",
                lease_until=now + lease,
                attempts=Delivery.attempts + 1,
                sent_channel=None,  # not called yet in this attempt
                updated_at=now,
            )
        )
        if result.rowcount:  # type: ignore[attr-defined]
            claimed.append(delivery_id)
    return claimed


def release_unsent(
    session: Session, delivery_ids: Collection[str], clock: Clock = utc_now
) -> int:
    """Claimed rows this sender failed before calling their provider (the
    database or the broker went away mid-attempt): due again, nothing left.
    Returns how many were still claimed."""
    if not delivery_ids:
        return 0
    now = clock()
    result = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(list(delivery_ids)), Delivery.status == "sending")
        .values(status="pending", next_attempt_at=now, lease_until=None, updated_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def recover_interrupted(
    session: Session, busy: Collection[str] = (), clock: Clock = utc_now
) -> int:
    """Rows whose sender died mid-send: due again when their provider was
    never called or drops a repeat; else recorded ``interrupted`` (a
    message that may have left is never sent twice by itself). ``busy``:
    rows the caller itself is still attempting, left alone."""
    now = clock()
    stale = session.scalars(
        select(Delivery).where(Delivery.status == "sending", Delivery.lease_until < now)
    ).all()
    for delivery in stale:
        if delivery.id in busy:
            continue
        # sent_channel is committed just before the provider is called
        # (mark_calling): without it nothing left, and it names the channel
        # a citizen's "auto" delivery was really tried on
        if delivery.sent_channel is None:
            release_unsent(session, [delivery.id], clock=clock)
            metrics.NOT_SENT.labels("sender_lost").inc()
        elif delivery.sent_channel in IDEMPOTENT_CHANNELS:
            delivery.status = "pending"
            delivery.next_attempt_at = now
            delivery.updated_at = now
        else:
            interrupt(session, delivery, "sender_lost", clock=clock)
    return len(stale)


def mark_calling(
    session: Session, delivery_id: str, channel: str, clock: Clock = utc_now
) -> bool:
    """Say (commit after) that the provider of ``channel`` is about to be
    called for a claimed row: if its sender dies from here on, the message
    may have left. False: the row is no longer this sender's claim."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == "sending")
        .values(sent_channel=channel, updated_at=clock())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def sent(
    session: Session,
    delivery: Delivery,
    *,
    channel: str,
    address_masked: str | None,
    provider_message_id: str | None,
    response: str,
    clock: Clock = utc_now,
) -> None:
    """The provider took the message."""
    now = clock()
    delivery.status = "sent"
    delivery.sent_channel = channel
    delivery.address_masked = address_masked
    delivery.provider_message_id = provider_message_id
    delivery.provider_response = response[:500]
    delivery.sent_at = now
    delivery.updated_at = now
    delivery.lease_until = None


def retry_later(
    session: Session,
    delivery: Delivery,
    *,
    after: float,
    response: str,
    address_masked: str | None = None,
    fallback: Sequence[str] = (),
    clock: Clock = utc_now,
    count_attempt: bool = True,
) -> bool:
    """Try again ``after`` seconds, unless that is past the row's window: then
    it fails for good, falling back to ``fallback`` (returns False)."""
    now = clock()
    when = now + timedelta(seconds=after)
    if count_attempt and when > aware(delivery.give_up_at):  # type: ignore[operator]
        fail(
            session,
            delivery,
            "retries_exhausted",
            response=response,
            fallback=fallback,
            clock=clock,
        )
        return False
    delivery.status = "pending"
    delivery.next_attempt_at = when
    delivery.provider_response = response[:500]
    delivery.address_masked = address_masked or delivery.address_masked
    delivery.lease_until = None
    delivery.updated_at = now
    if not count_attempt:
        delivery.attempts -= 1
    return True


def interrupt(
    session: Session,
    delivery: Delivery,
    reason: str,
    *,
    response: str = "",
    channel: str | None = None,
    address_masked: str | None = None,
    clock: Clock = utc_now,
) -> None:
    """The message may have reached a provider that cannot drop a repeat
    (``reason``: ``no_answer`` — sent, then no answer in time;
    ``sender_lost`` — the sender died mid-send): recorded ``interrupted``,
    counted, announced, and neither retried nor sent on another channel.
    An operator lists these (``GET /v1/deliveries?status=interrupted``) and
    may send one again."""
    now = clock()
    fail(session, delivery, reason, response=response, clock=clock)
    delivery.status = INTERRUPTED
    delivery.sent_channel = channel or delivery.sent_channel
    delivery.address_masked = address_masked or delivery.address_masked
    delivery.updated_at = now
    metrics.INTERRUPTED.labels(channel or delivery.channel, reason).inc()
    log.warning(
        "delivery %s (%s) interrupted: %s; not sent again unless an operator"
        " retries it",
        delivery.id,
        delivery.channel,
        reason,
    )


def skip(
    session: Session, delivery: Delivery, reason: str, clock: Clock = utc_now
) -> None:
    """Nothing to send (no consent, no contact, data erased): recorded."""
    delivery.status = "skipped"
    delivery.last_error = reason
    delivery.lease_until = None
    delivery.updated_at = clock()


def fail(
    session: Session,
    delivery: Delivery,
    error: str,
    *,
    response: str = "",
    fallback: Sequence[str] = (),
    clock: Clock = utc_now,
) -> Delivery | None:
    """A final failure: recorded, announced (``notification_failed``), and
    handed to the recipient's next channel when there is one (returned)."""
    now = clock()
    delivery.status = "failed"
    delivery.last_error = error[:500]
    if response:
        delivery.provider_response = response[:500]
    delivery.lease_until = None
    delivery.updated_at = now
    next_delivery = None
    if fallback:
        next_delivery = _fallback_delivery(delivery, fallback[0], now)
        session.add(next_delivery)
        delivery.fallback_id = next_delivery.id
    add_event(
        session,
        SERVICE,
        _notification_failed(delivery, error, fallback[0] if fallback else None, now),
    )
    return next_delivery


def _fallback_delivery(delivery: Delivery, channel: str, now: datetime) -> Delivery:
    """The same message to the same recipient on ``channel``, due now, with
    as long a window as the failed delivery had."""
    return Delivery(
        id=new_time_ordered_id(),
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        case_reference=delivery.case_reference,
        recipient_kind=delivery.recipient_kind,
        recipient_id=delivery.recipient_id,
        channel=channel,
        message=delivery.message,
        language=delivery.language,
        urgent=delivery.urgent,
        event=delivery.event,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        give_up_at=now + (aware(delivery.give_up_at) - aware(delivery.created_at)),  # type: ignore[operator]
        created_at=now,
        updated_at=now,
    )


def _notification_failed(
    delivery: Delivery, error: str, fallback_channel: str | None, now: datetime
) -> Event:
    """The ``notification_failed`` event of a delivery's final failure."""
    return make_event(
        "notification_failed",
        {
            "delivery_id": delivery.id,
            "event_id": delivery.event_id,
            "reference": delivery.case_reference,
            "recipient_kind": delivery.recipient_kind,
            "recipient_id": delivery.recipient_id,
            "channel": delivery.channel,
            "message": delivery.message,
            "error": error[:200],
            "attempts": delivery.attempts,
            "fallback_channel": fallback_channel,
            "failed_at": now.isoformat(),
        },
        delivery.case_reference,
    )
