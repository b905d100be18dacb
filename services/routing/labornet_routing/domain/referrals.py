"""Referrals: one office's part of a case, from issued to finished.

Who may see a referral, what an office may do from each status, and what
follows: a rejection refers the problems to the next office by the rules,
an overdue clock to the province's coordinator, the last resolution closes
the case. A status changes only by compare-and-set on the referral's
version, with the case taken (:mod:`labornet_routing.versions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labornet_routing import rules as routing_rules
from labornet_routing.domain.agents import pick_agent
from labornet_routing.domain.errors import (
    IllegalTransition,
    ReferralChanged,
    ReferralNotFound,
)
from labornet_routing.domain.messages import (
    announce_closed,
    announce_issued,
    announce_routed,
    announce_status_changed,
)
from labornet_routing.domain.settings import holidays, load_rules, sla_days
from labornet_routing.models import ProjectedAgent, Referral, ReferralNote, RoutedCase
from labornet_routing.versions import compare_and_set, lock_case
from labornet_routing.working_days import add_working_days
from labornet_shared.clock import Clock, utc_now
from labornet_shared.ids import new_time_ordered_id
from labornet_shared.tokens import Principal

OPEN_STATUSES = ("pending", "accepted", "in_progress")
FINISHED_STATUSES = ("resolved", "withdrawn")

# what an office may do from each status
TRANSITIONS: dict[str, dict[str, str]] = {
    "accept": {"pending": "accepted"},
    "reject": {"pending": "rejected", "accepted": "rejected"},
    "progress": {"accepted": "in_progress", "in_progress": "in_progress"},
    "resolve": {"accepted": "resolved", "in_progress": "resolved"},
}


# --- issuing -----------------------------------------------------------------


def new_referral(
    session: Session,
    case: RoutedCase,
    agency: str,
    office: str,
    categories: Sequence[str],
    now: datetime,
    days_off: set[date],
    agent: ProjectedAgent | None,
    **extra: Any,
) -> Referral:
    """A pending referral of these categories to the office, its clocks
    set by the agency's SLA in working days."""
    accept_days, resolve_days = sla_days(session, agency, categories[0])
    referral = Referral(
        id=new_time_ordered_id(),
        case=case,
        agency=agency,
        province_code=case.province_code,
        office=office,
        categories=list(categories),
        main_category=categories[0],
        status="pending",
        agent_id=agent.id if agent is not None else None,
        due_accept_at=add_working_days(now, accept_days, days_off),
        due_resolve_at=add_working_days(now, resolve_days, days_off),
        created_at=now,
        updated_at=now,
        **extra,
    )
    session.add(referral)
    return referral


# --- who sees what -----------------------------------------------------------


def may_see(principal: Principal | None, referral: Referral) -> bool:
    """Operators see every referral; an agency token its agency's (and
    province's, when the token names one)."""
    if principal is None:
        return False
    if principal.is_operator:
        return True
    return (
        principal.scope == "agency"
        and principal.agency == referral.agency
        and principal.province in (None, referral.province_code)
    )


def referral_for(
    session: Session, referral_id: str, principal: Principal | None
) -> Referral:
    """The referral, if this principal may see it."""
    referral = session.get(Referral, referral_id)
    if referral is None or not may_see(principal, referral):
        raise ReferralNotFound(referral_id)
    return referral


def list_referrals(
    session: Session,
    principal: Principal,
    filters: dict[str, Any],
    limit: int,
    after_id: str | None,
    clock: Clock = utc_now,
) -> tuple[list[Referral], str | None]:
    """A page of the referrals this principal may see, oldest first."""
    query = select(Referral).order_by(Referral.id)
    if principal.scope == "agency":
        query = query.where(Referral.agency == principal.agency)
        if principal.province:
            query = query.where(Referral.province_code == principal.province)
    elif not principal.is_operator:
        return [], None
    if filters.get("agency") and principal.is_operator:
        query = query.where(Referral.agency == filters["agency"])
    if filters.get("status"):
        query = query.where(Referral.status == filters["status"])
    if filters.get("province"):
        query = query.where(Referral.province_code == filters["province"])
    if filters.get("category"):
        query = query.where(Referral.main_category == filters["category"])
    if filters.get("since"):
        query = query.where(Referral.created_at >= filters["since"])
    if filters.get("overdue") is not None:
        now = clock()
        late = ((Referral.status == "pending") & (Referral.due_accept_at <= now)) | (
            Referral.status.in_(("accepted", "in_progress"))
            & (Referral.due_resolve_at <= now)
        )
        query = query.where(late if filters["overdue"] else ~late)
    if after_id is not None:
        query = query.where(Referral.id > after_id)
    rows = list(session.scalars(query.limit(limit + 1)))
    next_id = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_id


# --- state changes -----------------------------------------------------------


def author_of(principal: Principal) -> str:
    """Who a note is by: the office (``agency.province``) or the operator."""
    if principal.scope == "agency":
        office = principal.agency or "?"
        return f"{office}.{principal.province}" if principal.province else office
    return principal.subject


def change_status(
    session: Session,
    case: RoutedCase,
    referral: Referral,
    status: str,
    *,
    seen_version: int,
    note: str | None,
    outcome: str | None,
    author: str,
    now: datetime,
) -> None:
    """Set a referral's status if it is still at ``seen_version``; note it;
    tell routing.events and the office.

    Raises:
        ReferralChanged: another change came first; nothing was written.
    """
    previous = referral.status
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if outcome is not None:
        values["outcome"] = outcome
    if not compare_and_set(session, referral, seen_version, **values):
        raise ReferralChanged(referral.status, referral.version)
    session.add(
        ReferralNote(
            referral_id=referral.id,
            status=status,
            note=note,
            author=author,
            created_at=now,
        )
    )
    announce_status_changed(
        session,
        case,
        referral,
        previous=previous,
        note=note,
        outcome=outcome,
        author=author,
        now=now,
    )


def act_on_referral(
    session: Session,
    referral_id: str,
    principal: Principal,
    action: str,
    note: str | None = None,
    outcome: str | None = None,
    clock: Clock = utc_now,
    expected_version: int | None = None,
) -> Referral:
    """accept, reject (with a reason), progress (a note) or resolve (an
    outcome). A rejection refers the case's problems onwards; the last
    referral resolved closes the case.

    The action applies to the state it started from: the referral as read
    when the request began, or ``expected_version`` (``If-Match``) when the
    office names it. If another change came in between, the action is
    refused with :class:`ReferralChanged` — except a progress note, which
    adds to whatever the office is doing and applies to the new state when
    that still allows it.

    Raises:
        ReferralNotFound: not this principal's referral.
        IllegalTransition: the status does not allow the action.
        ReferralChanged: the referral changed since that starting state.
    """
    referral = referral_for(session, referral_id, principal)
    seen = referral.version if expected_version is None else expected_version
    if TRANSITIONS[action].get(referral.status) is None and seen == referral.version:
        raise IllegalTransition(referral.status, referral.version)
    # from here on, changes of this case wait for each other
    lock_case(session, referral.case_reference)
    session.refresh(referral)
    if referral.version != seen:
        if action != "progress" or expected_version is not None:
            raise ReferralChanged(referral.status, referral.version)
        seen = referral.version
    target = TRANSITIONS[action].get(referral.status)
    if target is None:
        raise IllegalTransition(referral.status, referral.version)
    case = referral.case
    now = clock()
    change_status(
        session,
        case,
        referral,
        target,
        seen_version=seen,
        note=note,
        outcome=outcome,
        author=author_of(principal),
        now=now,
    )
    if target == "rejected":
        refer_onwards(session, case, referral, now)
    elif target == "resolved":
        close_if_done(session, case, now)
    return referral


# --- re-routing --------------------------------------------------------------


def _refused_offices(case: RoutedCase, category: str) -> set[str]:
    return {
        r.office
        for r in case.referrals
        if r.status == "rejected" and category in r.categories
    }


def refer_onwards(
    session: Session, case: RoutedCase, rejected: Referral, now: datetime
) -> list[Referral]:
    """Give a rejected referral's problems to the next office by the rules."""
    rules = load_rules(session)
    days_off = holidays(session)
    agent = pick_agent(session, case)
    by_office: dict[str, tuple[str, bool, list[str]]] = {}
    for category in rejected.categories:
        agency, office, flagged = routing_rules.next_office(
            category,
            case.province_code,
            case.abroad_country,
            rules,
            _refused_offices(case, category),
            rejected.hop,
        )
        _agency, was_flagged, handled = by_office.setdefault(
            office, (agency, flagged, [])
        )
        handled.append(category)
        by_office[office] = (agency, was_flagged or flagged, handled)
    created = []
    for office, (agency, flagged, categories) in by_office.items():
        referral = new_referral(
            session,
            case,
            agency,
            office,
            categories,
            now,
            days_off,
            agent,
            hop=rejected.hop + 1,
            needs_review=flagged or rejected.needs_review,
            replaces=rejected.id,
        )
        created.append(referral)
    session.flush()
    announce_routed(session, case, created, now)
    for referral in created:
        announce_issued(session, case, referral, agent, now)
    return created


def escalate_to_coordinator(
    session: Session, referral: Referral, now: datetime
) -> Referral:
    """The province's coordinator (``ops``) takes over an overdue referral's
    problems in a new referral, flagged for review; a coordinator's own
    overdue referral stays where it is (it is the top). Returns the referral
    that has the problems now."""
    if referral.agency == routing_rules.COORDINATOR:
        # the coordinator is the top: it is told, nobody else
        return referral
    case = referral.case
    coordinator = routing_rules.office_of(
        routing_rules.COORDINATOR, referral.province_code
    )
    target = new_referral(
        session,
        case,
        routing_rules.COORDINATOR,
        coordinator,
        referral.categories,
        now,
        holidays(session),
        None,
        hop=referral.hop,
        needs_review=True,
        escalated_from=referral.id,
    )
    session.flush()
    announce_routed(session, case, [target], now)
    announce_issued(session, case, target, None, now)
    return target


# --- the end of a case -------------------------------------------------------


def close_if_done(session: Session, case: RoutedCase, now: datetime) -> bool:
    """``case_closed`` once no referral is open and at least one resolved."""
    session.flush()
    statuses = [r.status for r in case.referrals]
    if case.status != "routed" or any(s in OPEN_STATUSES for s in statuses):
        return False
    if "resolved" not in statuses:
        return False
    case.status = "closed"
    case.closed_at = now
    finished = [r for r in case.referrals if r.status in FINISHED_STATUSES]
    announce_closed(session, case, finished, now)
    return True
