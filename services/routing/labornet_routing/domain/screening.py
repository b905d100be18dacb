"""A case comes in: intake's ``case_received`` is screened (which problems
the citizen describes), kept as routing's copy of the case, and referred to
the offices the rules give those problems — once, however often the event
arrives."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from labornet_routing import rules as routing_rules
from labornet_routing.domain.agents import pick_agent
from labornet_routing.domain.messages import announce_issued, announce_routed
from labornet_routing.domain.referrals import new_referral
from labornet_routing.domain.settings import holidays, load_rules
from labornet_routing.models import Referral, RoutedCase
from labornet_shared.clock import Clock, utc_now
from labornet_shared.events import Event, language_chosen

if TYPE_CHECKING:
    from labornet_routing.classifier import Classifier, Screening


def receive_case(
    session: Session, event: Event, classifier: Classifier, clock: Clock = utc_now
) -> RoutedCase | None:
    """Screen a received case and refer it to the offices that must act.

    Returns None when the case was already routed (a redelivered or
    re-published ``case_received``): it never gets a second set of
    referrals.
    """
    payload = event.payload
    reference = payload["reference"]
    if session.get(RoutedCase, reference) is not None:
        return None
    screening: Screening = classifier.screen(
        payload["description"], payload.get("category")
    )
    now = clock()
    case = _routed_case(payload, screening, now)
    session.add(case)
    _refer_case(session, case, screening, now)
    return case


def screening_record(screening: Screening) -> dict[str, Any]:
    """What screening found, as the case keeps it (the language it read is
    the case's ``screened_language``; ``case_routed`` tells both)."""
    return {
        "method": screening.method,
        "needs_review": screening.needs_review,
        "labels": [
            {
                "category": label.category,
                "score": round(label.score, 4),
                "evidence": list(label.evidence),
            }
            for label in screening.labels
        ],
    }


def _routed_case(
    payload: dict[str, Any], screening: Screening, now: datetime
) -> RoutedCase:
    """routing's copy of the case from ``case_received``, with its screening."""
    location = payload["location"]
    return RoutedCase(
        reference=payload["reference"],
        description=payload["description"],
        channel=payload["channel"],
        language=payload["language"],
        language_chosen=language_chosen(payload),
        province_code=location["province_code"],
        district_code=location.get("district_code"),
        subdistrict_code=location.get("subdistrict_code"),
        postcode=location.get("postcode"),
        lat=location["lat"],
        long=location["long"],
        abroad_country=payload.get("abroad_country"),
        submitted_by_agent_id=payload.get("submitted_by_agent_id"),
        screening=screening_record(screening),
        screened_language=screening.language,
        needs_review=screening.needs_review,
        status="routed",
        received_at=datetime.fromisoformat(payload["received_at"]),
        routed_at=now,
    )


def _refer_case(
    session: Session, case: RoutedCase, screening: Screening, now: datetime
) -> list[Referral]:
    """The first referrals of a case, one per office the rules give its
    problems, followed by the agent of its place; told to intake and the
    offices."""
    plans = routing_rules.plan_referrals(
        [label.category for label in screening.labels],
        case.province_code,
        case.abroad_country,
        load_rules(session),
    )
    agent = pick_agent(session, case)
    days_off = holidays(session)
    referrals = [
        new_referral(
            session,
            case,
            plan.agency,
            plan.office,
            plan.categories,
            now,
            days_off,
            agent,
            needs_review=screening.needs_review,
        )
        for plan in plans
    ]
    session.flush()
    announce_routed(session, case, referrals, now)
    for referral in referrals:
        announce_issued(session, case, referral, agent, now)
    return referrals
