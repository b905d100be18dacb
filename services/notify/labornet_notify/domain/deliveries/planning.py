"""Planning: the deliveries an event calls for, written down (in the
transaction that records the event as applied) before anything is sent.

Who hears an event is :mod:`labornet_notify.domain.audience`'s table; here
each notice finds its recipients (the citizen, the area's field agents, the
submitting or follow-up agent, the agency's webhooks) and becomes one
pending row per recipient. A notice that finds nobody is counted with its
reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from labornet_notify import metrics
from labornet_notify.domain import audience
from labornet_notify.domain.deliveries.languages import citizens_language
from labornet_notify.models import (
    AgentArea,
    AgentContact,
    Delivery,
    NotifyCase,
    WebhookSubscription,
)
from labornet_shared.clock import Clock, utc_now
from labornet_shared.events import Event
from labornet_shared.ids import new_time_ordered_id
from labornet_shared.inbox import PrerequisiteMissing

log = logging.getLogger("labornet.notify.deliveries")
#: the citizen's channel is the one they chose, known only at send time
CITIZENS_CHOICE = "auto"
#: the recipients that are found through the case ``case_received`` told of
CASE_AUDIENCES = frozenset(
    {audience.CITIZEN, audience.AREA_AGENTS, audience.SUBMITTING_AGENT}
)


@dataclass(frozen=True)
class Recipient:
    """Someone who hears of an event: who, on which channel, in which language."""

    kind: str
    recipient_id: str
    channel: str
    language: str


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
    the country) — registry's coverage rule. Found through the area index
    (:class:`~labornet_notify.models.AgentArea`: an area's own level is its
    ``exact`` row), never by reading every agent's areas."""
    active = select(AgentContact).where(AgentContact.status == "active")
    if case.abroad_country:
        return list(
            session.scalars(
                active.where(AgentContact.abroad_country == case.abroad_country)
            )
        )
    levels = (
        ("subdistrict", case.subdistrict_code),
        ("district", case.district_code),
        ("province", case.province_code),
    )
    for level, code in levels:
        if code is None:
            continue
        found = list(
            session.scalars(
                active.where(
                    AgentContact.id.in_(
                        select(AgentArea.agent_id).where(
                            AgentArea.level == level,
                            AgentArea.code == code,
                            AgentArea.exact.is_(True),
                        )
                    )
                ).order_by(AgentContact.id)
            )
        )
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
            Recipient(
                audience.CITIZEN,
                case.reference,
                CITIZENS_CHOICE,
                citizens_language(case),
            )
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
