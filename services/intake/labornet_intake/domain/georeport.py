"""Open311 GeoReport v2 requests on the domain's side: filing one (a case
taken in, with who filed it) and finding the cases filed that way.
The spec's vocabulary and formats are in :mod:`labornet_intake.open311`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, selectinload

from labornet_intake.domain.cases import OPEN_STATUSES, CaseNotFound
from labornet_intake.domain.submission import Accepted, take_case_in
from labornet_intake.models import Case, Open311Request
from labornet_shared.clock import Clock, as_utc, utc_now
from labornet_shared.reference.case_reference import parse_case_reference
from labornet_shared.tokens import Principal

#: Open311's two statuses: a case is ``open`` until it is closed or withdrawn
OPEN311_STATUSES: dict[str, tuple[str, ...]] = {
    "open": OPEN_STATUSES,
    "closed": ("closed", "withdrawn"),
}


def open311_status(case: Case) -> str:
    """``open`` or ``closed``, as Open311 says it."""
    return "open" if case.status in OPEN_STATUSES else "closed"


def file_open311_request(
    session: Session,
    data: dict[str, Any],
    *,
    principal: Principal,
    pepper: str,
    media_url: str | None = None,
    idempotency_key: str | None = None,
    fingerprint: str = "",
    clock: Clock = utc_now,
) -> Accepted:
    """Take in a case an Open311 client filed, remembering which api_key
    (``principal.subject``) filed it; a retry with the same Idempotency-Key
    gets the first case, as on ``/v1/cases``."""
    accepted = take_case_in(
        session,
        data,
        principal=principal,
        pepper=pepper,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        clock=clock,
    )
    if not accepted.replayed:
        parsed = parse_case_reference(accepted.reference)
        assert parsed is not None  # a reference this database just issued
        session.execute(
            insert(Open311Request).values(
                case_id=parsed[1], filed_by=principal.subject, media_url=media_url
            )
        )
    return accepted


def _open311_query() -> Any:
    return (
        select(Case)
        .join(Open311Request, Open311Request.case_id == Case.id)
        .options(
            selectinload(Case.timeline),
            selectinload(Case.referrals),
            selectinload(Case.open311),
        )
    )


def open311_request(session: Session, reference: str) -> Case:
    """A case filed through Open311, by its reference; else
    :class:`CaseNotFound` (a case filed another way is not an Open311
    request)."""
    parsed = parse_case_reference(reference)
    if parsed is None:
        raise CaseNotFound()
    case = session.scalars(
        _open311_query().where(Case.id == parsed[1], Case.be_year == parsed[0])
    ).first()
    if case is None:
        raise CaseNotFound()
    return case


def open311_requests(
    session: Session,
    *,
    references: list[str] | None = None,
    service_codes: list[str] | None = None,
    statuses: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
) -> list[Case]:
    """Cases filed through Open311, newest first, at most ``limit``.

    ``references`` overrides every other filter (as Open311 says); the others
    narrow by category, Open311 status and when the case was received
    (``since`` and ``until`` included)."""
    query = _open311_query().order_by(Case.created_at.desc(), Case.id.desc())
    if references is not None:
        wanted = {
            parsed
            for parsed in map(parse_case_reference, references)
            if parsed is not None
        }
        if not wanted:
            return []
        ids = sorted({number for _, number in wanted})
        cases = session.scalars(query.where(Case.id.in_(ids))).all()
        return [c for c in cases if (c.be_year, c.id) in wanted][:limit]
    if service_codes:
        query = query.where(Case.category.in_(service_codes))
    if statuses:
        query = query.where(
            Case.status.in_([s for name in statuses for s in OPEN311_STATUSES[name]])
        )
    if since is not None:
        query = query.where(Case.created_at >= as_utc(since))
    if until is not None:
        query = query.where(Case.created_at <= as_utc(until))
    return list(session.scalars(query.limit(limit)))
