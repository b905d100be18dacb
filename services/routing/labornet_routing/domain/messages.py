"""The events routing writes, each in the transaction of the change it
tells: domain events on ``routing.events`` (intake's timeline, notify) and
the referral messages agencies bind to on ``labornet.referrals``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from labornet_routing.models import ProjectedAgent, Referral, RoutedCase
from labornet_shared.clock import aware
from labornet_shared.events import (
    REFERRALS_EXCHANGE,
    Event,
    event_location,
    make_event,
    referral_routing_key,
)
from labornet_shared.outbox import add_event

SERVICE = "routing"


def referral_summary(referral: Referral) -> dict[str, Any]:
    """A referral as events name it."""
    return {
        "referral_id": referral.id,
        "agency": referral.agency,
        "province_code": referral.province_code,
        "office": referral.office,
        "categories": list(referral.categories),
        "status": referral.status,
        "due_accept_at": aware(referral.due_accept_at).isoformat(),  # type: ignore[union-attr]
        "due_resolve_at": aware(referral.due_resolve_at).isoformat(),  # type: ignore[union-attr]
        "agent_id": referral.agent_id,
    }


def labels_for(case: RoutedCase, categories: Sequence[str]) -> list[dict[str, Any]]:
    """Screening's label of each category (score 1.0, no evidence, for a
    category it has no label for)."""
    by_category = {
        label["category"]: label for label in case.screening.get("labels", [])
    }
    return [
        by_category.get(category, {"category": category, "score": 1.0, "evidence": []})
        for category in categories
    ]


def tell_office(
    session: Session,
    event_type: str,
    payload: dict[str, Any],
    reference: str,
    referral: Referral,
) -> Event:
    """An event on ``labornet.referrals``, keyed for the office's bindings."""
    event = make_event(event_type, payload, reference)
    add_event(
        session,
        SERVICE,
        event,
        exchange=REFERRALS_EXCHANGE,
        routing_key=referral_routing_key(
            referral.agency, referral.province_code, referral.main_category
        ),
    )
    return event


def screening_told(case: RoutedCase) -> dict[str, Any]:
    """The case's screening as ``case_routed`` tells it: what was found, and
    the language the description is written in (null for a case screened
    before screening read it)."""
    return {**case.screening, "language": case.screened_language}


def announce_routed(
    session: Session, case: RoutedCase, referrals: Sequence[Referral], now: datetime
) -> None:
    """``case_routed`` naming the new referrals: the first ones, or those made
    when an office rejected or a clock ran out (intake adds them to the
    citizen's timeline and lets those offices ask for the contact)."""
    add_event(
        session,
        SERVICE,
        make_event(
            "case_routed",
            {
                "reference": case.reference,
                "screening": screening_told(case),
                "referrals": [referral_summary(r) for r in referrals],
                "routed_at": now.isoformat(),
            },
            case.reference,
        ),
    )


def announce_issued(
    session: Session,
    case: RoutedCase,
    referral: Referral,
    agent: ProjectedAgent | None,
    now: datetime,
) -> None:
    """Write the ``referral_issued`` message for the office's queue."""
    payload = {
        "referral": referral_summary(referral),
        "reference": case.reference,
        "labels": labels_for(case, referral.categories),
        "needs_review": referral.needs_review,
        "description": case.description,
        "location": event_location(case),
        "abroad_country": case.abroad_country,
        "channel": case.channel,
        "language": case.language,
        "follow_up_agent": None
        if agent is None
        # the id only: an office reads the work contact from registry's
        # audited contact read; notify from its own projection
        else {"agent_id": agent.id, "kind": agent.kind},
        "hop": referral.hop,
        "escalated_from": referral.escalated_from,
        "issued_at": now.isoformat(),
    }
    tell_office(session, "referral_issued", payload, case.reference, referral)
    # and on routing.events, for notify (agencies' webhooks, field agents)
    add_event(session, SERVICE, make_event("referral_issued", payload, case.reference))


def announce_status_changed(
    session: Session,
    case: RoutedCase,
    referral: Referral,
    *,
    previous: str,
    note: str | None,
    outcome: str | None,
    author: str,
    now: datetime,
) -> None:
    """``referral_status_changed`` on routing.events and to the office."""
    payload = {
        "referral": referral_summary(referral),
        "reference": case.reference,
        "previous_status": previous,
        "note": note,
        "outcome": outcome,
        "changed_by": author,
        "changed_at": now.isoformat(),
    }
    add_event(
        session,
        SERVICE,
        make_event("referral_status_changed", payload, case.reference),
    )
    # the office's own system hears of it on the queue it bound
    tell_office(session, "referral_status_changed", payload, case.reference, referral)


def announce_closed(
    session: Session, case: RoutedCase, finished: Sequence[Referral], now: datetime
) -> None:
    """``case_closed`` with the finished referrals and their outcomes."""
    add_event(
        session,
        SERVICE,
        make_event(
            "case_closed",
            {
                "reference": case.reference,
                "referrals": [referral_summary(r) for r in finished],
                "outcomes": {r.id: r.outcome for r in finished},
                "closed_at": now.isoformat(),
            },
            case.reference,
        ),
    )


def announce_overdue(
    session: Session,
    referral: Referral,
    clock_name: str,
    due: datetime | None,
    escalated_to: Referral,
    now: datetime,
) -> None:
    """``referral_overdue``: which clock ran out, and who has it now."""
    case = referral.case
    add_event(
        session,
        SERVICE,
        make_event(
            "referral_overdue",
            {
                "referral": referral_summary(referral),
                "reference": case.reference,
                "clock": clock_name,
                "due_at": aware(due).isoformat(),  # type: ignore[union-attr]
                "escalated_to": referral_summary(escalated_to),
                "detected_at": now.isoformat(),
            },
            case.reference,
        ),
    )
