"""SLA clocks: each referral must be accepted, then resolved, within its
agency's working days. An overdue referral is escalated to the province's
coordinator exactly once, however many routing instances scan at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from labornet_routing.domain.messages import announce_overdue
from labornet_routing.domain.referrals import escalate_to_coordinator
from labornet_routing.models import Referral
from labornet_routing.versions import compare_and_set, lock_case
from labornet_shared.clock import Clock, aware, utc_now


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
    """Hand the overdue referral's problems to the coordinator and tell."""
    target = escalate_to_coordinator(session, referral, now)
    due = referral.due_accept_at if clock_name == "accept" else referral.due_resolve_at
    announce_overdue(session, referral, clock_name, due, target, now)
    return Escalation(referral.id, clock_name, target.office)


def is_overdue(referral: Referral, now: datetime) -> bool:
    """Whether a clock of this open referral has run out."""
    if referral.status == "pending":
        return aware(referral.due_accept_at) <= now  # type: ignore[operator]
    if referral.status in ("accepted", "in_progress"):
        return aware(referral.due_resolve_at) <= now  # type: ignore[operator]
    return False
