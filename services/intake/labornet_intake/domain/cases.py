"""Cases: the rules every part of intake shares, and reading and withdrawing.

What a case's statuses and errors are, loading a case (with or without the
citizen's personal data), who may see it (citizen by tracking code, agent,
operator), the audit log of every read of personal data, the operators'
and agents' list, and withdrawal.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, defer, raiseload, selectinload

from labornet_intake.domain.tracking import check_tracking_code
from labornet_intake.models import AuditLogEntry, Case, CaseCategory, TimelineEntry
from labornet_shared.clock import Clock, as_utc, now_from, utc_now
from labornet_shared.events import make_event
from labornet_shared.outbox import add_event
from labornet_shared.problems import FieldError
from labornet_shared.reference.case_reference import parse_case_reference
from labornet_shared.tokens import Principal, verify_case_link_token

SERVICE = "intake"
OPEN_STATUSES = ("received", "routed", "in_progress")
ERASED = "[erased at the citizen's request]"


class CaseInvalid(Exception):
    """The case breaks a rule that schemas cannot check (the gazetteer)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(",".join(f"{e.field}:{e.code}" for e in errors))
        self.errors = errors


class CaseNotFound(Exception):
    """No such case for this caller (never says which)."""


class CaseNotOpen(Exception):
    """The case is closed or withdrawn already."""


class IdempotencyKeyReused(Exception):
    """The key was used before for a different request."""


class IdempotencyKeyInProgress(Exception):
    """The first request with this key has not finished yet."""


#: what a case is loaded without when its personal data is not to be read:
#: the citizen's contact, the description and the free-text address (the
#: data PDPA erasure wipes); reading them raises
_NOT_PERSONAL = (
    raiseload(Case.contact),
    defer(Case.description, raiseload=True),
    defer(Case.address, raiseload=True),
)


def _load_case(
    session: Session, reference: str, lock: bool = False, personal: bool = True
) -> Case | None:
    """The case with its timeline, contact and referrals; ``lock`` holds its
    row until commit (PostgreSQL), so changes to one case never interleave;
    without ``personal``, none of the citizen's data (:data:`_NOT_PERSONAL`)."""
    parsed = parse_case_reference(reference)
    if parsed is None:
        return None
    query = (
        select(Case)
        .where(Case.id == parsed[1], Case.be_year == parsed[0])
        .options(
            selectinload(Case.timeline),
            *((selectinload(Case.contact),) if personal else _NOT_PERSONAL),
            selectinload(Case.referrals),
            selectinload(Case.screened_categories),
        )
    )
    if lock:
        query = query.with_for_update(of=Case)
    return session.scalars(query).first()


def case_for_citizen(
    session: Session, reference: str, code: str | None, pepper: str
) -> Case:
    """The case, if the tracking code is right; else :class:`CaseNotFound`."""
    case = _load_case(session, reference)
    if case is None or not check_tracking_code(pepper, reference, code):
        raise CaseNotFound()
    return case


def may_see_case(principal: Principal | None, case: Case) -> bool:
    """Operators see every case; an agent the cases they submitted."""
    if principal is None:
        return False
    if principal.is_operator:
        return True
    return principal.scope == "agent" and (
        case.submitted_by_agent_id is not None
        and case.submitted_by_agent_id == principal.agent_id
    )


def audit(
    session: Session,
    principal: Principal,
    action: str,
    reference: str,
    purpose: str | None = None,
    clock: Clock = utc_now,
    actor: str | None = None,
) -> None:
    """Write who touched a case's personal data (never the data itself)."""
    session.add(
        AuditLogEntry(
            occurred_at=now_from(clock),
            actor_scope=principal.scope,
            actor=actor or principal.agent_id or principal.subject,
            action=action,
            case_reference=reference,
            purpose=purpose,
        )
    )


def case_for_principal(
    session: Session,
    reference: str,
    principal: Principal | None,
    clock: Clock = utc_now,
) -> Case:
    """The whole case for its agent or an operator; the read is audited."""
    case = _load_case(session, reference)
    if case is None or principal is None or not may_see_case(principal, case):
        raise CaseNotFound()
    audit(session, principal, "read_case", reference, clock=clock)
    return case


def case_for_agent_link(
    session: Session,
    reference: str,
    token: str,
    secret: str,
    clock: Clock = utc_now,
) -> Case:
    """The case a field agent's link (``/a/<reference>?t=<token>``) opens,
    for whichever agent notify minted the link for: the one who submitted
    the case, an agent of its area, one following an overdue referral. So
    not by :func:`may_see_case`: the link opens an anonymous summary, and
    the case comes without its personal data (contact, description,
    address: reading them raises), so the read is not audited.

    Raises :class:`~labornet_shared.tokens.InvalidToken` or its
    :class:`~labornet_shared.tokens.ExpiredToken` (checked first, so a forged
    link learns nothing about the case), then :class:`CaseNotFound` for a
    link to another case or an unknown case.
    """
    claim = verify_case_link_token(secret, token, now=now_from(clock))
    case = None
    if claim.reference == reference:
        case = _load_case(session, reference, personal=False)
    if case is None:
        raise CaseNotFound()
    return case


def list_cases(
    session: Session, filters: dict[str, Any], principal: Principal
) -> tuple[list[Case], int | None]:
    """A page of cases, newest first; an agent sees only their own.

    ``category`` finds the cases whose citizen gave it and those routing
    found it in or referred it for (``case_categories``, indexed by
    category)."""
    query = (
        select(Case)
        .order_by(Case.id.desc())
        .options(selectinload(Case.screened_categories))
    )
    if principal.scope == "agent":
        if not principal.agent_id:
            # "== None" would become IS NULL: every citizen's own case
            return [], None
        query = query.where(Case.submitted_by_agent_id == principal.agent_id)
    elif not principal.is_operator:
        return [], None
    column_filters = {
        "province": Case.province_code,
        "district": Case.district_code,
        "status": Case.status,
        "channel": Case.channel,
    }
    for name, column in column_filters.items():
        if filters.get(name) is not None:
            query = query.where(column == filters[name])
    if filters.get("category") is not None:
        category = filters["category"]
        screened = select(CaseCategory.case_id).where(CaseCategory.category == category)
        query = query.where(or_(Case.category == category, Case.id.in_(screened)))
    if filters.get("submitted_since") is not None:
        query = query.where(Case.created_at >= as_utc(filters["submitted_since"]))
    if filters.get("submitted_until") is not None:
        query = query.where(Case.created_at < as_utc(filters["submitted_until"]))
    if filters.get("after_id") is not None:
        query = query.where(Case.id < filters["after_id"])
    limit = int(filters.get("limit") or 50)
    rows = list(session.scalars(query.limit(limit + 1)))
    next_after = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_after


def withdraw_case(
    session: Session,
    reference: str,
    *,
    principal: Principal | None,
    code: str | None,
    pepper: str,
    reason: str | None = None,
    clock: Clock = utc_now,
) -> Case:
    """Withdraw an open case (citizen by code, agent by token, operator)."""
    # locked: a case_closed being applied meanwhile is not overwritten
    case = _load_case(session, reference, lock=True)
    if case is None:
        raise CaseNotFound()
    if may_see_case(principal, case):
        by = "operator" if principal and principal.is_operator else "agent"
    elif check_tracking_code(pepper, reference, code):
        by = "citizen"
    else:
        raise CaseNotFound()
    if case.status not in OPEN_STATUSES:
        raise CaseNotOpen()
    now = now_from(clock)
    case.status = "withdrawn"
    case.updated_at = now
    case.timeline.append(
        TimelineEntry(status="withdrawn", note=reason, occurred_at=now)
    )
    add_event(
        session,
        SERVICE,
        make_event(
            "case_withdrawn",
            {
                "reference": reference,
                "withdrawn_at": now.isoformat(),
                "withdrawn_by": by,
            },
            correlation_id=reference,
            occurred_at=now,
        ),
    )
    return case
