"""routing's rules and state changes: screening a case, referring it to
offices, following every referral to its end.

Plain Python over a SQLAlchemy session; every change writes its events to
the outbox in the same transaction: domain events on ``routing.events`` and
the referral messages agencies bind to on ``labornet.referrals``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from labornet_routing import rules as routing_rules
from labornet_routing.clocks import add_working_days
from labornet_routing.models import (
    Holiday,
    ProjectedAgent,
    ProjectedArea,
    Referral,
    ReferralNote,
    RoutedCase,
    RoutingRule,
    SlaSetting,
    outbox_messages,
)
from labornet_routing.versions import compare_and_set, lock_case
from labornet_shared.consumer import PrerequisiteMissing
from labornet_shared.events import (
    ERASED_TEXT,
    REFERRALS_EXCHANGE,
    Event,
    make_event,
    referral_routing_key,
)
from labornet_shared.ids import new_time_ordered_id
from labornet_shared.outbox import add_event
from labornet_shared.tokens import Principal

if TYPE_CHECKING:
    from labornet_routing.classifier import Classifier, Screening

SERVICE = "routing"
OPEN_STATUSES = ("pending", "accepted", "in_progress")
FINISHED_STATUSES = ("resolved", "withdrawn")

# what an office may do from each status
TRANSITIONS: dict[str, dict[str, str]] = {
    "accept": {"pending": "accepted"},
    "reject": {"pending": "rejected", "accepted": "rejected"},
    "progress": {"accepted": "in_progress", "in_progress": "in_progress"},
    "resolve": {"accepted": "resolved", "in_progress": "resolved"},
}

# working days (accept, resolve) when no SLA setting says otherwise
DEFAULT_SLA = (2, 15)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now, in UTC (the default clock)."""
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes: they are UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


# --- errors ------------------------------------------------------------------


class ReferralNotFound(LookupError):
    """No such referral, or not one this principal may see."""


class IllegalTransition(ValueError):
    """The referral's status does not allow this action."""

    def __init__(self, status: str, version: int | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.version = version


class ReferralChanged(IllegalTransition):
    """The referral changed since the action's starting state was read
    (another action, an escalation): the action is not applied to a state
    it was not meant for. Carries the current status and version."""


class UnknownCase(PrerequisiteMissing, LookupError):
    """An event names a case routing has not received (yet): its
    ``case_received`` may still be on its way on another queue."""


# --- reading the rules -------------------------------------------------------


def load_rules(session: Session) -> list[routing_rules.Rule]:
    """The operators' routing rules, oldest first."""
    return [
        routing_rules.Rule(
            kind=row.kind,
            agency=row.agency,
            category=row.category,
            province_code=row.province_code,
            with_category=row.with_category,
        )
        for row in session.scalars(select(RoutingRule).order_by(RoutingRule.id))
    ]


def holidays(session: Session) -> set[date]:
    """The days SLA clocks skip (besides weekends)."""
    return set(session.scalars(select(Holiday.day)))


def sla_days(session: Session, agency: str, category: str) -> tuple[int, int]:
    """(accept, resolve) working days for an agency × category."""
    rows = session.scalars(
        select(SlaSetting).where(
            SlaSetting.agency == agency,
            (SlaSetting.category == category) | SlaSetting.category.is_(None),
        )
    ).all()
    specific = [r for r in rows if r.category == category]
    chosen = specific or [r for r in rows if r.category is None]
    if not chosen:
        return DEFAULT_SLA
    return chosen[0].accept_days, chosen[0].resolve_days


# --- the field agent who follows a case ---------------------------------------


def pick_agent(session: Session, case: RoutedCase) -> ProjectedAgent | None:
    """The active agent who follows the case.

    Candidates from the most specific place up: the subdistrict, the whole
    district, the whole province (abroad: the country). The most specific one
    who speaks the citizen's language, else the most specific one.
    """
    levels: list[Any] = []
    if case.abroad_country:
        levels.append(ProjectedAgent.abroad_country == case.abroad_country)
    else:
        area = ProjectedArea
        if case.subdistrict_code:
            levels.append(
                ProjectedAgent.id.in_(
                    select(area.agent_id).where(
                        area.subdistrict_code == case.subdistrict_code
                    )
                )
            )
        if case.district_code:
            levels.append(
                ProjectedAgent.id.in_(
                    select(area.agent_id).where(
                        area.district_code == case.district_code,
                        area.subdistrict_code.is_(None),
                    )
                )
            )
        levels.append(
            ProjectedAgent.id.in_(
                select(area.agent_id).where(
                    area.province_code == case.province_code,
                    area.district_code.is_(None),
                )
            )
        )
    candidates: list[ProjectedAgent] = []
    for condition in levels:
        candidates += session.scalars(
            select(ProjectedAgent)
            .where(ProjectedAgent.status == "active", condition)
            .order_by(ProjectedAgent.id)
        ).all()
    for agent in candidates:
        if case.language in (agent.languages or []):
            return agent
    return candidates[0] if candidates else None


# --- referral messages -------------------------------------------------------


def referral_ref(referral: Referral) -> dict[str, Any]:
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
    by_category = {
        label["category"]: label for label in case.screening.get("labels", [])
    }
    return [
        by_category.get(category, {"category": category, "score": 1.0, "evidence": []})
        for category in categories
    ]


def _issue(
    session: Session,
    case: RoutedCase,
    referral: Referral,
    agent: ProjectedAgent | None,
    now: datetime,
) -> None:
    """Write the ``referral_issued`` message for the office's queue."""
    payload = {
        "referral": referral_ref(referral),
        "reference": case.reference,
        "labels": labels_for(case, referral.categories),
        "needs_review": referral.needs_review,
        "description": case.description,
        "location": {
            "province_code": case.province_code,
            "district_code": case.district_code,
            "subdistrict_code": case.subdistrict_code,
            "postcode": case.postcode,
            "lat": case.lat,
            "long": case.long,
        },
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
    _to_office(session, "referral_issued", payload, case.reference, referral)
    # and on routing.events, for notify (agencies' webhooks, field agents)
    add_event(session, SERVICE, make_event("referral_issued", payload, case.reference))


def _to_office(
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


def _new_referral(
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


# --- a case comes in ---------------------------------------------------------


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
    location = payload["location"]
    case = RoutedCase(
        reference=reference,
        description=payload["description"],
        channel=payload["channel"],
        language=payload["language"],
        province_code=location["province_code"],
        district_code=location.get("district_code"),
        subdistrict_code=location.get("subdistrict_code"),
        postcode=location.get("postcode"),
        lat=location["lat"],
        long=location["long"],
        abroad_country=payload.get("abroad_country"),
        submitted_by_agent_id=payload.get("submitted_by_agent_id"),
        screening={
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
        },
        needs_review=screening.needs_review,
        status="routed",
        received_at=datetime.fromisoformat(payload["received_at"]),
        routed_at=now,
    )
    session.add(case)
    plans = routing_rules.plan_referrals(
        [label.category for label in screening.labels],
        case.province_code,
        case.abroad_country,
        load_rules(session),
    )
    agent = pick_agent(session, case)
    days_off = holidays(session)
    referrals = [
        _new_referral(
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
    _announce_routed(session, case, referrals, now)
    for referral in referrals:
        _issue(session, case, referral, agent, now)
    return case


def _announce_routed(
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
                "screening": case.screening,
                "referrals": [referral_ref(r) for r in referrals],
                "routed_at": now.isoformat(),
            },
            case.reference,
        ),
    )


def withdraw_case(session: Session, event: Event, clock: Clock = utc_now) -> int:
    """The citizen withdrew the case: withdraw its open referrals and tell
    their offices. Returns how many referrals were withdrawn."""
    reference = event.payload["reference"]
    if not lock_case(session, reference):
        raise UnknownCase(reference)
    case = session.get(RoutedCase, reference)
    assert case is not None
    if case.status != "routed":
        return 0  # closed meanwhile (or withdrawn already): nothing is open
    now = clock()
    count = 0
    for referral in list(case.referrals):
        if referral.status in OPEN_STATUSES:
            _change(
                session,
                case,
                referral,
                "withdrawn",
                seen_version=referral.version,
                note="the citizen withdrew the case",
                outcome=None,
                author="citizen",
                now=now,
            )
            count += 1
    case.status = "withdrawn"
    case.closed_at = now
    return count


def erase_case_text(session: Session, event: Event) -> None:
    """PDPA erasure at intake: wipe routing's copies of the citizen's words —
    the case's description, the offices' notes (they may quote the citizen)
    and the published copies of routing's events about the case, kept a
    while in the outbox (unpublished ones must still reach their consumers).
    Category, place, referrals and their statuses stay for statistics."""
    reference = event.payload["reference"]
    case = session.get(RoutedCase, reference)
    if case is None:
        # its case_received has not been applied (redelivery order, or in
        # the dead-letter queue): retry, so the erasure follows it
        raise UnknownCase(reference)
    case.description = ERASED_TEXT
    referral_ids = [referral.id for referral in case.referrals]
    if referral_ids:
        session.execute(
            update(ReferralNote)
            .where(ReferralNote.referral_id.in_(referral_ids))
            .values(note=None)
        )
    session.execute(
        delete(outbox_messages).where(
            outbox_messages.c.correlation_id == reference,
            outbox_messages.c.sent_at.is_not(None),
        )
    )


# --- offices act -------------------------------------------------------------


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


def _author(principal: Principal) -> str:
    if principal.scope == "agency":
        office = principal.agency or "?"
        return f"{office}.{principal.province}" if principal.province else office
    return principal.subject


def _change(
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
    payload = {
        "referral": referral_ref(referral),
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
    _to_office(session, "referral_status_changed", payload, case.reference, referral)


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
    _change(
        session,
        case,
        referral,
        target,
        seen_version=seen,
        note=note,
        outcome=outcome,
        author=_author(principal),
        now=now,
    )
    if target == "rejected":
        _refer_onwards(session, case, referral, now)
    elif target == "resolved":
        close_if_done(session, case, now)
    return referral


def _refused_offices(case: RoutedCase, category: str) -> set[str]:
    return {
        r.office
        for r in case.referrals
        if r.status == "rejected" and category in r.categories
    }


def _refer_onwards(
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
        referral = _new_referral(
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
    _announce_routed(session, case, created, now)
    for referral in created:
        _issue(session, case, referral, agent, now)
    return created


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
    add_event(
        session,
        SERVICE,
        make_event(
            "case_closed",
            {
                "reference": case.reference,
                "referrals": [referral_ref(r) for r in finished],
                "outcomes": {r.id: r.outcome for r in finished},
                "closed_at": now.isoformat(),
            },
            case.reference,
        ),
    )
    return True


# --- SLA clocks --------------------------------------------------------------


@dataclass(frozen=True)
class Escalation:
    """One overdue clock, escalated."""

    referral_id: str
    clock: str
    escalated_to: str


def check_overdue(
    session: Session, clock: Clock = utc_now, limit: int = 200
) -> list[Escalation]:
    """Mark referrals whose SLA clock ran out, and escalate each to the
    province's ``ops`` office — exactly once, however many routing
    instances run this at the same time.

    The claim is a compare-and-set in the same transaction as the events
    (``... WHERE version = ? AND accept_overdue_at IS NULL AND status IN
    (...) AND due <= now``), made with the case taken: of two instances, the
    second waits for the first's commit, then matches no row; an office's
    action that came first (an accept) leaves nothing to escalate, and one
    that comes after the claim finds the version gone and gets 409.
    """
    now = clock()
    escalations: list[Escalation] = []
    for clock_name, column, statuses, due in (
        ("accept", Referral.accept_overdue_at, ("pending",), Referral.due_accept_at),
        (
            "resolve",
            Referral.resolve_overdue_at,
            ("accepted", "in_progress"),
            Referral.due_resolve_at,
        ),
    ):
        candidates = session.execute(
            select(Referral.id, Referral.case_reference)
            .where(Referral.status.in_(statuses), due <= now, column.is_(None))
            .order_by(due, Referral.id)
            .limit(limit)
        ).all()
        for referral_id, reference in candidates:
            lock_case(session, reference)
            referral = session.get(Referral, referral_id)
            assert referral is not None
            if not compare_and_set(
                session,
                referral,
                referral.version,
                column.is_(None),
                Referral.status.in_(statuses),
                due <= now,
                **{column.key: now},
            ):
                continue  # accepted, resolved or escalated meanwhile
            escalations.append(_escalate(session, referral, clock_name, now))
    return escalations


def _escalate(
    session: Session, referral: Referral, clock_name: str, now: datetime
) -> Escalation:
    case = referral.case
    coordinator = routing_rules.office_of(
        routing_rules.COORDINATOR, referral.province_code
    )
    if referral.agency == routing_rules.COORDINATOR:
        # the coordinator is the top: it is told, nobody else
        target = referral
    else:
        target = _new_referral(
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
        _announce_routed(session, case, [target], now)
        _issue(session, case, target, None, now)
    due = referral.due_accept_at if clock_name == "accept" else referral.due_resolve_at
    add_event(
        session,
        SERVICE,
        make_event(
            "referral_overdue",
            {
                "referral": referral_ref(referral),
                "reference": case.reference,
                "clock": clock_name,
                "due_at": aware(due).isoformat(),  # type: ignore[union-attr]
                "escalated_to": referral_ref(target),
                "detected_at": now.isoformat(),
            },
            case.reference,
        ),
    )
    return Escalation(referral.id, clock_name, target.office)


# --- registry's agents -------------------------------------------------------


def apply_agent(session: Session, event: Event) -> bool:
    """Project ``agent_registered``/``agent_updated``/``agent_deactivated``.

    A snapshot older than the one kept (by ``revision``) is ignored: events
    of one agent may arrive out of order. A deactivation that comes before
    the agent's registration is kept as an inactive agent with its revision,
    so the older registration that follows does not make it active.
    """
    payload = event.payload
    agent = session.get(ProjectedAgent, payload["agent_id"])
    if agent is not None and agent.revision >= payload["revision"]:
        return False
    if event.event_type == "agent_deactivated":
        if agent is None:
            # only what the event says; a newer snapshot fills in the rest
            agent = ProjectedAgent(
                id=payload["agent_id"], name_th="", languages=[], kind=payload["kind"]
            )
            session.add(agent)
        agent.status = "inactive"
        agent.revision = payload["revision"]
        return True
    if agent is None:
        agent = ProjectedAgent(id=payload["agent_id"])
        session.add(agent)
    agent.revision = payload["revision"]
    agent.kind = payload["kind"]
    agent.status = payload["status"]
    agent.name_th = payload["name_th"]
    agent.languages = list(payload["languages"])
    agent.phone = payload["contact"]["phone"]
    agent.line_user_id = payload["contact"]["line_user_id"]
    agent.abroad_country = payload["abroad_country"]
    session.flush()
    session.execute(delete(ProjectedArea).where(ProjectedArea.agent_id == agent.id))
    session.add_all(
        ProjectedArea(
            agent_id=agent.id,
            province_code=area["province_code"],
            district_code=area["district_code"],
            subdistrict_code=area["subdistrict_code"],
        )
        for area in payload["areas"]
    )
    return True


# --- lists -------------------------------------------------------------------


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


def is_overdue(referral: Referral, now: datetime) -> bool:
    """Whether a clock of this open referral has run out."""
    if referral.status == "pending":
        return aware(referral.due_accept_at) <= now  # type: ignore[operator]
    if referral.status in ("accepted", "in_progress"):
        return aware(referral.due_resolve_at) <= now  # type: ignore[operator]
    return False


def add_rule(
    session: Session, principal: Principal, clock: Clock = utc_now, **fields: Any
) -> RoutingRule:
    """A new routing rule, in force for the next case."""
    rule = RoutingRule(created_by=principal.subject, created_at=clock(), **fields)
    session.add(rule)
    session.flush()
    return rule


def remove_rule(session: Session, rule_id: int) -> bool:
    """Delete a rule; False if there was none."""
    result = session.execute(delete(RoutingRule).where(RoutingRule.id == rule_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def set_sla(
    session: Session,
    agency: str,
    category: str | None,
    accept_days: int,
    resolve_days: int,
    clock: Clock = utc_now,
) -> SlaSetting:
    """Set an agency's (× category's) clocks; applies to new referrals."""
    row = session.scalars(
        select(SlaSetting).where(
            SlaSetting.agency == agency,
            SlaSetting.category.is_(None)
            if category is None
            else SlaSetting.category == category,
        )
    ).first()
    if row is None:
        row = SlaSetting(agency=agency, category=category)
        session.add(row)
    row.accept_days = accept_days
    row.resolve_days = resolve_days
    row.updated_at = clock()
    session.flush()
    return row


def add_holidays(session: Session, days: Iterable[tuple[date, str]]) -> int:
    """Add (or rename) public holidays; returns how many were new."""
    added = 0
    for day, name in days:
        existing = session.get(Holiday, day)
        if existing is None:
            session.add(Holiday(day=day, name=name))
            added += 1
        else:
            existing.name = name
    return added
