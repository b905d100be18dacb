"""What routing's API answers: referrals, rules, SLA settings and holidays
as JSON, dumped through their response schemas."""

from __future__ import annotations

from datetime import date
from typing import Any

from labornet_routing import domain
from labornet_routing.models import Referral, RoutingRule, SlaSetting
from labornet_routing.schemas import (
    HolidaySchema,
    ReferralSchema,
    RuleSchema,
    SlaSchema,
)
from labornet_shared.clock import aware, utc_now
from labornet_shared.events import event_location

# One instance of each schema: building one deep-copies its fields.
REFERRAL = ReferralSchema()
RULE = RuleSchema()
SLA = SlaSchema()
HOLIDAY = HolidaySchema()


def referral_view(referral: Referral) -> dict[str, Any]:
    """A referral as its office sees it: labels, place, clocks, notes."""
    case = referral.case
    now = utc_now()
    return dict(
        REFERRAL.dump(
            {
                "id": referral.id,
                "reference": case.reference,
                "agency": referral.agency,
                "province_code": referral.province_code,
                "office": referral.office,
                "categories": referral.categories,
                "labels": domain.labels_for(case, referral.categories),
                "needs_review": referral.needs_review,
                "status": referral.status,
                "outcome": referral.outcome,
                "overdue": domain.is_overdue(referral, now),
                "hop": referral.hop,
                "replaces": referral.replaces,
                "escalated_from": referral.escalated_from,
                "agent_id": referral.agent_id,
                "description": case.description,
                "location": event_location(case),
                "abroad_country": case.abroad_country,
                "language": case.language,
                "language_chosen": case.language_chosen,
                "screened_language": case.screened_language,
                "due_accept_at": aware(referral.due_accept_at),
                "due_resolve_at": aware(referral.due_resolve_at),
                "notes": _notes(referral),
                "created_at": aware(referral.created_at),
                "updated_at": aware(referral.updated_at),
                "version": referral.version,
            }
        )
    )


def _notes(referral: Referral) -> list[dict[str, Any]]:
    return [
        {
            "status": note.status,
            "note": note.note,
            "author": note.author,
            "created_at": aware(note.created_at),
        }
        for note in referral.notes
    ]


def rule_view(rule: RoutingRule) -> dict[str, Any]:
    """A routing rule, with who added it and when."""
    return dict(
        RULE.dump(
            {
                "id": rule.id,
                "kind": rule.kind,
                "agency": rule.agency,
                "category": rule.category,
                "province_code": rule.province_code,
                "with_category": rule.with_category,
                "note": rule.note,
                "created_by": rule.created_by,
                "created_at": aware(rule.created_at),
            }
        )
    )


def sla_view(row: SlaSetting) -> dict[str, Any]:
    """An agency's (× category's) working days to accept and to resolve."""
    return dict(
        SLA.dump(
            {
                "agency": row.agency,
                "category": row.category,
                "accept_days": row.accept_days,
                "resolve_days": row.resolve_days,
            }
        )
    )


def holiday_view(day: date, name: str) -> dict[str, Any]:
    """A public holiday the clocks skip."""
    return dict(HOLIDAY.dump({"day": day, "name": name}))
