"""The operators' settings: routing rules, SLA working days per agency ×
category, public holidays. Read when a referral is made; changed through
``/v1/rules``, ``/v1/sla`` and ``/v1/holidays``, for the next referrals."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from labornet_routing import rules as routing_rules
from labornet_routing.models import Holiday, RoutingRule, SlaSetting
from labornet_shared.clock import Clock, utc_now
from labornet_shared.tokens import Principal

# working days (accept, resolve) when no SLA setting says otherwise
DEFAULT_SLA = (2, 15)


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


def all_rules(session: Session) -> list[RoutingRule]:
    """Every routing rule as stored, oldest first."""
    return list(session.scalars(select(RoutingRule).order_by(RoutingRule.id)))


def all_sla_settings(session: Session) -> list[SlaSetting]:
    """Every SLA setting, by agency and category."""
    return list(
        session.scalars(
            select(SlaSetting).order_by(SlaSetting.agency, SlaSetting.category)
        )
    )


def all_holidays(session: Session) -> list[Holiday]:
    """Every public holiday, by day."""
    return list(session.scalars(select(Holiday).order_by(Holiday.day)))


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
