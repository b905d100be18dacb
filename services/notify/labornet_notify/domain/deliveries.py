"""Deliveries: who hears of an event on which channel, written down before
anything is sent, and what each attempt came to.

Plain Python over a SQLAlchemy session. The rules:

* an event becomes delivery rows in the same transaction that records it as
  applied; the unique (event, recipient, channel) key makes a redelivered
  event a no-op;
* a sender *claims* a due row (a conditional UPDATE to ``sending`` with a
  lease) and commits before it sends, so two senders never send one row;
* an event whose case notify has not seen yet (its ``case_received``
  travels on another queue) plans nothing and raises
  :class:`~labornet_shared.inbox.PrerequisiteMissing`: it is retried, never
  acknowledged with nobody told; a notice that finds nobody for a known
  case is counted with its reason;
* a failure before the provider is called (the contact, the broker, the
  database) is retried: nothing left;
* a message that may have reached its provider without an answer (a timeout,
  or a sender killed mid-send: its lease ran out) is sent again only on
  channels that drop duplicates themselves (LINE's retry key, the webhook
  id); an SMS or e-mail is recorded ``interrupted``, counted, and never sent
  twice by itself (an operator may retry it);
* transient failures retry with exponential backoff and jitter until the
  row's ``give_up_at``; a final failure emits ``notification_failed`` and
  falls back to the recipient's next channel.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from labornet_notify import metrics
from labornet_notify.domain import audience
from labornet_notify.models import (
    AgentContact,
    Delivery,
    NotifyCase,
    WebhookSubscription,
)
from labornet_shared.clock import Clock, aware, utc_now
from labornet_shared.events import Event, make_event, wipe_free_text
from labornet_shared.ids import new_time_ordered_id
from labornet_shared.inbox import PrerequisiteMissing
from labornet_shared.outbox import add_event

SERVICE = "notify"
log = logging.getLogger("labornet.notify.deliveries")
BANGKOK = ZoneInfo("Asia/Bangkok")
#: no SMS between these hours (Bangkok) except escalations: they wait
QUIET_FROM, QUIET_UNTIL = time(21, 0), time(8, 0)
#: channels whose provider drops a repeated attempt (LINE's retry key, the
#: webhook id): only these are sent again after an interrupted attempt
IDEMPOTENT_CHANNELS = frozenset({"line", "webhook"})
#: the citizen's channel is the one they chose, known only at send time
CITIZENS_CHOICE = "auto"
#: a delivery that may have reached its provider and is not sent again by
#: itself (an operator may retry it)
INTERRUPTED = "interrupted"
#: the recipients that are found through the case ``case_received`` told of
CASE_AUDIENCES = frozenset(
    {audience.CITIZEN, audience.AREA_AGENTS, audience.SUBMITTING_AGENT}
)
#: events that change what notify knows of the case: they need it too
CASE_STATE_EVENTS = frozenset({"case_withdrawn", "case_closed"})


@dataclass(frozen=True)
class Recipient:
    """Someone who hears of an event: who, on which channel, in which language."""

    kind: str
    recipient_id: str
    channel: str
    language: str


# --- what notify remembers ----------------------------------------------------


def remember_case(session: Session, event: Event) -> NotifyCase:
    """Keep whose a received case is and where (no contact)."""
    payload = event.payload
    case = session.get(NotifyCase, payload["reference"])
    if case is None:
        location = payload["location"]
        case = NotifyCase(
            reference=payload["reference"],
            language=payload["language"],
            submitted_by_agent_id=payload.get("submitted_by_agent_id"),
            province_code=location["province_code"],
            district_code=location.get("district_code"),
            subdistrict_code=location.get("subdistrict_code"),
            abroad_country=payload.get("abroad_country"),
            status="open",
        )
        session.add(case)
    return case


def erase_case_text(session: Session, reference: str) -> int:
    """PDPA erasure: wipe the citizen's words (the description, offices'
    notes) from the events kept with the case's deliveries. A delivery not
    yet sent then says the text was erased; the citizen is sent nothing more
    (intake answers no contact). Returns how many deliveries were wiped."""
    wiped = 0
    for delivery in session.scalars(
        select(Delivery).where(Delivery.case_reference == reference)
    ):
        event = wipe_free_text(delivery.event)
        if event != delivery.event:
            delivery.event = event
            wiped += 1
    return wiped


def apply_agent(session: Session, event: Event) -> bool:
    """Project an ``agent_*`` event (an older revision is ignored)."""
    payload = event.payload
    agent = session.get(AgentContact, payload["agent_id"])
    if agent is not None and agent.revision >= payload["revision"]:
        return False
    if event.event_type == "agent_deactivated":
        if agent is not None:
            agent.status = "inactive"
            agent.revision = payload["revision"]
        return agent is not None
    if agent is None:
        agent = AgentContact(id=payload["agent_id"])
        session.add(agent)
    agent.revision = payload["revision"]
    agent.status = payload["status"]
    agent.name_th = payload["name_th"]
    agent.languages = list(payload["languages"])
    agent.phone = payload["contact"]["phone"]
    agent.email = payload["contact"]["email"]
    agent.line_user_id = payload["contact"]["line_user_id"]
    agent.areas = [
        [a["province_code"], a["district_code"], a["subdistrict_code"]]
        for a in payload["areas"]
    ]
    agent.abroad_country = payload["abroad_country"]
    return True


# --- who hears of an event ----------------------------------------------------


def _agent_address(agent: AgentContact, channel: str) -> str | None:
    return {"line": agent.line_user_id, "sms": agent.phone, "email": agent.email}.get(
        channel
    )


def _agent_language(agent: AgentContact) -> str:
    for language in agent.languages or []:
        if language in ("th", "en", "my"):
            return language
    return "th"


def _agent_recipient(kind: str, agent: AgentContact | None) -> Recipient | None:
    if agent is None or agent.status != "active":
        return None
    for channel in audience.CHANNELS[kind]:
        if _agent_address(agent, channel):
            return Recipient(kind, agent.id, channel, _agent_language(agent))
    return None


def area_agents(session: Session, case: NotifyCase) -> list[AgentContact]:
    """The active agents responsible for the case's place: those of the most
    specific level that has any (subdistrict, district, province; abroad,
    the country) — registry's coverage rule."""
    agents = session.scalars(
        select(AgentContact).where(AgentContact.status == "active")
    ).all()
    if case.abroad_country:
        return [a for a in agents if a.abroad_country == case.abroad_country]
    levels = (
        (2, case.subdistrict_code, None),
        (1, case.district_code, 2),
        (0, case.province_code, 1),
    )
    for index, code, below in levels:
        if code is None:
            continue
        found = [
            agent
            for agent in agents
            if any(
                area[index] == code and (below is None or area[below] is None)
                for area in agent.areas
            )
        ]
        if found:
            return found
    return []


def recipients(
    session: Session, notice: audience.Notice, event: Event, case: NotifyCase | None
) -> list[Recipient]:
    """Who hears ``notice`` of ``event`` (and on which channel)."""
    payload = event.payload
    if notice.to == audience.CITIZEN:
        if case is None or case.status == "withdrawn":
            return []
        return [
            Recipient(audience.CITIZEN, case.reference, CITIZENS_CHOICE, case.language)
        ]
    if notice.to == audience.AREA_AGENTS:
        if case is None:
            return []
        found = [
            _agent_recipient(notice.to, agent)
            for agent in area_agents(session, case)
            if agent.id != case.submitted_by_agent_id
        ]
        return [r for r in found if r is not None]
    if notice.to == audience.SUBMITTING_AGENT:
        agent_id = case.submitted_by_agent_id if case is not None else None
        agent = session.get(AgentContact, agent_id) if agent_id else None
        found_one = _agent_recipient(notice.to, agent)
        return [found_one] if found_one else []
    if notice.to == audience.FOLLOW_UP_AGENT:
        agent_id = payload.get("referral", {}).get("agent_id")
        agent = session.get(AgentContact, agent_id) if agent_id else None
        found_one = _agent_recipient(notice.to, agent)
        return [found_one] if found_one else []
    if notice.to == audience.AGENCY_WEBHOOKS:
        referral = payload["referral"]
        return [
            Recipient(audience.AGENCY_WEBHOOKS, sub.id, "webhook", "th")
            for sub in session.scalars(
                select(WebhookSubscription).where(
                    WebhookSubscription.agency == referral["agency"],
                    WebhookSubscription.status.in_(("active", "paused")),
                )
            )
            if (not sub.provinces or referral["province_code"] in sub.provinces)
            and (not sub.event_types or event.event_type in sub.event_types)
        ]
    return []


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert delivery rows; one already there for its (event, recipient,
    channel) is left alone. Returns how many were new."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    result = session.execute(
        insert(Delivery).values(rows).on_conflict_do_nothing()  # type: ignore[attr-defined]
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def why_nobody(
    session: Session, notice: audience.Notice, event: Event, case: NotifyCase | None
) -> str:
    """Why ``notice`` of ``event`` found no recipient (a metric's label)."""
    if notice.to == audience.CITIZEN:
        return "case_withdrawn"
    if notice.to == audience.AREA_AGENTS:
        return "no_agent_in_area"
    if notice.to == audience.AGENCY_WEBHOOKS:
        return "no_subscription"
    if notice.to == audience.SUBMITTING_AGENT:
        agent_id = case.submitted_by_agent_id if case is not None else None
        if agent_id is None:
            return "not_submitted_by_agent"
    else:
        agent_id = event.payload.get("referral", {}).get("agent_id")
        if agent_id is None:
            return "no_follow_up_agent"
    agent = session.get(AgentContact, agent_id)
    if agent is None:
        return "agent_unknown"
    return "agent_inactive" if agent.status != "active" else "agent_unreachable"


def note_case_state(session: Session, event: Event) -> None:
    """A withdrawal or a closing, kept with the case (a withdrawn case's
    citizen hears no more). Raises :class:`PrerequisiteMissing` before its
    ``case_received``: applied now, the case would open afterwards."""
    reference = event.payload["reference"]
    case = session.get(NotifyCase, reference)
    if case is None:
        _not_planned(event, "any", "case_not_received_yet")
        raise PrerequisiteMissing(f"case {reference} not received yet")
    case.status = "withdrawn" if event.event_type == "case_withdrawn" else "closed"


def _not_planned(event: Event, message: str, reason: str) -> None:
    metrics.NOT_PLANNED.labels(event.event_type, message, reason).inc()


def _delivery_row(
    event: Event,
    notice: audience.Notice,
    recipient: Recipient,
    now: datetime,
    retry_window: timedelta,
) -> dict[str, Any]:
    """The pending delivery of ``notice`` of ``event`` to one recipient."""
    return {
        "id": new_time_ordered_id(),
        "event_id": event.event_id,
        "event_type": event.event_type,
        "case_reference": event.correlation_id,
        "recipient_kind": recipient.kind,
        "recipient_id": recipient.recipient_id,
        "channel": recipient.channel,
        "message": notice.message,
        "language": recipient.language,
        "urgent": notice.urgent,
        "event": event.to_body(),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "give_up_at": now + retry_window,
        "created_at": now,
        "updated_at": now,
    }


def plan(
    session: Session,
    event: Event,
    *,
    retry_window: timedelta,
    clock: Clock = utc_now,
) -> int:
    """Write the deliveries ``event`` calls for; returns how many are new.

    Raises :class:`PrerequisiteMissing` (nothing written) when a notice
    needs the case and its ``case_received`` has not arrived yet. A notice
    that finds nobody is counted (``labornet_notify_notices_not_planned_total``)
    and an event that plans nobody at all is logged, with the reasons.
    """
    now = clock()
    reference = event.correlation_id
    case = session.get(NotifyCase, reference) if reference else None
    notices = audience.notices_for(event.event_type, event.payload)
    if case is None and any(n.to in CASE_AUDIENCES for n in notices):
        _not_planned(event, "any", "case_not_received_yet")
        log.info(
            "event %s (%s) of %s waits: its case_received has not arrived",
            event.event_id,
            event.event_type,
            reference,
        )
        raise PrerequisiteMissing(f"case {reference} not received yet")
    rows: list[dict[str, Any]] = []
    nobody: list[str] = []
    if not notices:
        _not_planned(event, "any", "no_notice_applies")
        nobody.append("no_notice_applies")
    for notice in notices:
        found = recipients(session, notice, event, case)
        if not found:
            reason = why_nobody(session, notice, event, case)
            _not_planned(event, notice.message, reason)
            nobody.append(f"{notice.message}:{reason}")
        rows.extend(
            _delivery_row(event, notice, recipient, now, retry_window)
            for recipient in found
        )
    if not rows:
        log.info(
            "event %s (%s) of %s plans no delivery: %s",
            event.event_id,
            event.event_type,
            reference,
            ", ".join(nobody),
        )
    return _insert_ignoring_duplicates(session, rows)


# --- sending: claims, outcomes ------------------------------------------------


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


def parse_quiet_hours(text: str | None) -> tuple[time, time] | None:
    """``"21:00-08:00"`` → (21:00, 08:00); empty → no quiet hours."""
    if not text or not str(text).strip():
        return None
    start, _, end = str(text).partition("-")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())


def quiet_until(
    moment: datetime, hours: tuple[time, time] | None = (QUIET_FROM, QUIET_UNTIL)
) -> datetime | None:
    """The end of the quiet hours ``moment`` falls in (None: not quiet)."""
    if hours is None:
        return None
    begin, end = hours
    local = moment.astimezone(BANGKOK)
    now = local.time()
    quiet = (begin <= now or now < end) if begin > end else (begin <= now < end)
    if not quiet:
        return None
    day = local.date() if now < end else local.date() + timedelta(1)
    return datetime.combine(day, end, tzinfo=BANGKOK).astimezone(UTC)


def backoff(attempts: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds before the next attempt: exponential, capped, with full jitter
    above half (so senders that failed together do not retry together)."""
    ceiling = min(cap, base * 2 ** max(attempts - 1, 0))
    return ceiling / 2 + rng.random() * ceiling / 2


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


def list_deliveries(
    session: Session, filters: dict[str, Any], limit: int, after_id: str | None
) -> tuple[list[Delivery], str | None]:
    """A page of deliveries, oldest first."""
    query = select(Delivery).order_by(Delivery.id)
    for name, column in (
        ("reference", Delivery.case_reference),
        ("recipient", Delivery.recipient_id),
        ("channel", Delivery.channel),
        ("status", Delivery.status),
    ):
        if filters.get(name):
            query = query.where(column == filters[name])
    if after_id is not None:
        query = query.where(Delivery.id > after_id)
    rows = list(session.scalars(query.limit(limit + 1)))
    next_id = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_id


def retry_now(
    session: Session, delivery_id: str, window: timedelta, clock: Clock = utc_now
) -> Delivery | None:
    """An operator sends a failed, skipped or interrupted delivery again (a
    new window); an interrupted one may then reach its recipient twice."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return None
    if delivery.status not in ("failed", "skipped", INTERRUPTED):
        raise ValueError(delivery.status)
    now = clock()
    delivery.status = "pending"
    delivery.next_attempt_at = now
    delivery.give_up_at = now + window
    delivery.last_error = None
    delivery.updated_at = now
    return delivery
