"""Factories of labornet's events as their services publish them, for tests
and benchmarks: intake's (``case_received``, ``case_withdrawn``), registry's
(``agent_*``) and routing's (``referral_issued``, and the events of a case's
referrals that intake applies). Each factory is here once; the services'
fixture modules (harness, intake, routing) re-export the ones their tests
import from them.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from labornet_shared.events import Event, make_event

# --- intake's events -------------------------------------------------------------

_references = itertools.count(1)


def withdrawn_event_body(reference: str) -> dict[str, Any]:
    """A valid ``case_withdrawn`` envelope, as intake publishes it."""
    return make_event(
        "case_withdrawn",
        {
            "reference": reference,
            "withdrawn_at": "2025-11-26T04:00:00+00:00",
            "withdrawn_by": "citizen",
        },
        correlation_id=reference,
    ).to_body()


def fixed_case_received_event(
    reference: str = "LN-2568-00000042", **envelope: Any
) -> Event:
    """A valid ``case_received`` :class:`~labornet_shared.events.Event`, as
    intake publishes it (no personal data): the same payload every time but
    for ``reference``; ``envelope`` overrides the envelope's fields."""
    return make_event(
        "case_received",
        {
            "reference": reference,
            "category": "termination_severance",
            "description": "ถูกเลิกจ้างโดยไม่ได้รับค่าชดเชย",
            "location": {"province_code": "TH-52", "lat": 18.29, "long": 99.49},
            "channel": "line",
            "language": "th",
            "language_chosen": True,
            "abroad_country": None,
            "submitted_by_agent_id": None,
            "received_at": "2025-11-26T04:00:00+00:00",
        },
        correlation_id=reference,
        **envelope,
    )


def case_received_event(**overrides: Any) -> Event:
    """A ``case_received`` as intake publishes it (Lampang, no category)."""
    payload: dict[str, Any] = {
        "reference": f"LN-2569-{next(_references):08d}",
        "category": None,
        "description": "ถูกเลิกจ้างไม่ได้ค่าชดเชย อยากขอเงินว่างงานและหางานใหม่",
        "location": {
            "province_code": "TH-52",
            "district_code": "5201",
            "subdistrict_code": "520101",
            "postcode": "52000",
            "lat": 18.29,
            "long": 99.49,
        },
        "channel": "phone",
        "language": "th",
        "language_chosen": True,
        "abroad_country": None,
        "submitted_by_agent_id": None,
        "received_at": datetime.now(UTC).isoformat(),
    }
    location = overrides.pop("location", None)
    if location is not None:
        payload["location"] = {**payload["location"], **location}
    payload.update(overrides)
    return make_event("case_received", payload, payload["reference"])


# --- registry's events -----------------------------------------------------------


def agent_event_payload(**overrides: Any) -> dict[str, Any]:
    """The payload of an ``agent_registered`` as registry publishes it (an
    active volunteer of a Lampang subdistrict); keyword arguments override."""
    payload: dict[str, Any] = {
        "agent_id": "agent-0001",
        "revision": 1,
        "kind": "labour_volunteer",
        "status": "active",
        "name_th": "สมชาย ใจดี",
        "name_en": None,
        "languages": ["th"],
        "areas": [
            {
                "province_code": "TH-52",
                "district_code": "5201",
                "subdistrict_code": "520101",
            }
        ],
        "abroad_country": None,
        "abroad_city": None,
        "office": "ops.TH-52",
        "term_end": None,
        "contact": {"phone": "+66812345678", "email": None, "line_user_id": None},
    }
    payload.update(overrides)
    return payload


def agent_event(
    event_type: str = "agent_registered", revision: int = 1, **overrides: Any
) -> Event:
    """An ``agent_registered``/``agent_updated`` as registry publishes it."""
    payload = agent_event_payload(revision=revision)
    if event_type == "agent_updated":
        payload["changed"] = ["languages"]
    payload.update(overrides)
    return make_event(event_type, payload)


# --- routing's events ------------------------------------------------------------


def referral_issued_event(agency: str = "sso", province_code: str = "TH-52") -> Event:
    """A ``referral_issued`` as routing publishes it, for ``agency``'s office
    in ``province_code``, of a case with a reference of its own."""
    reference = f"LN-2569-{next(_references):08d}"
    referral = {
        "referral_id": str(uuid.uuid4()),
        "agency": agency,
        "province_code": province_code,
        "office": f"{agency}.{province_code}",
        "categories": ["social_security_benefit"],
        "status": "pending",
        "due_accept_at": "2026-11-30T04:00:00+00:00",
        "due_resolve_at": "2026-12-24T04:00:00+00:00",
        "agent_id": None,
    }
    payload = {
        "referral": referral,
        "reference": reference,
        "labels": [],
        "needs_review": False,
        "description": "ขอเงินว่างงาน",
        "location": {
            **case_received_event().payload["location"],
            "province_code": province_code,
        },
        "abroad_country": None,
        "channel": "phone",
        "language": "th",
        "follow_up_agent": None,
        "hop": 1,
        "escalated_from": None,
        "issued_at": datetime.now(UTC).isoformat(),
    }
    return make_event("referral_issued", payload, reference)


def referral_ref(
    agency: str = "dlpw",
    province_code: str = "TH-52",
    *,
    status: str = "pending",
    categories: Sequence[str] = ("unpaid_wages",),
    office: str | None = None,
    referral_id: str | None = None,
    due_resolve_at: datetime | None = None,
) -> dict[str, Any]:
    """A referral as routing's events name it (``ReferralRefSchema``)."""
    now = datetime.now(UTC)
    return {
        "referral_id": referral_id or str(uuid.uuid4()),
        "agency": agency,
        "province_code": province_code,
        "office": office or f"{agency}.{province_code}",
        "categories": list(categories),
        "status": status,
        "due_accept_at": (now + timedelta(days=2)).isoformat(),
        "due_resolve_at": (due_resolve_at or now + timedelta(days=15)).isoformat(),
        "agent_id": None,
    }


def with_status(ref: dict[str, Any], status: str) -> dict[str, Any]:
    """The same referral in another status."""
    return {**ref, "status": status}


def case_routed(
    reference: str, referrals: Sequence[dict[str, Any]], at: datetime | None = None
) -> Event:
    """``case_routed``: the case referred to ``referrals`` at ``at``."""
    return make_event(
        "case_routed",
        {
            "reference": reference,
            "screening": {
                "method": "lexicon",
                "needs_review": False,
                "labels": [
                    {"category": category, "score": 0.9, "evidence": ["ค่าจ้าง"]}
                    for ref in referrals
                    for category in ref["categories"]
                ],
                "language": "th",
            },
            "referrals": list(referrals),
            "routed_at": (at or datetime.now(UTC)).isoformat(),
        },
        correlation_id=reference,
    )


def referral_status_changed(
    reference: str,
    ref: dict[str, Any],
    status: str,
    *,
    previous_status: str = "pending",
    note: str | None = None,
    outcome: str | None = None,
    at: datetime | None = None,
) -> Event:
    """``referral_status_changed``: ``ref`` moved to ``status`` at ``at``."""
    return make_event(
        "referral_status_changed",
        {
            "referral": with_status(ref, status),
            "reference": reference,
            "previous_status": previous_status,
            "note": note,
            "outcome": outcome,
            "changed_by": ref["office"],
            "changed_at": (at or datetime.now(UTC)).isoformat(),
        },
        correlation_id=reference,
    )


def referral_overdue(
    reference: str,
    ref: dict[str, Any],
    escalated_to: dict[str, Any],
    at: datetime | None = None,
) -> Event:
    """``referral_overdue``: ``ref`` missed its resolve deadline; escalated."""
    return make_event(
        "referral_overdue",
        {
            "referral": ref,
            "reference": reference,
            "clock": "resolve",
            "due_at": ref["due_resolve_at"],
            "escalated_to": escalated_to,
            "detected_at": (at or datetime.now(UTC)).isoformat(),
        },
        correlation_id=reference,
    )


def case_closed(
    reference: str,
    referrals: Sequence[dict[str, Any]],
    outcomes: dict[str, str | None] | None = None,
    at: datetime | None = None,
) -> Event:
    """``case_closed``: ``referrals`` (resolved or withdrawn) finish the case."""
    return make_event(
        "case_closed",
        {
            "reference": reference,
            "referrals": list(referrals),
            "outcomes": outcomes
            if outcomes is not None
            else {ref["referral_id"]: "resolved" for ref in referrals},
            "closed_at": (at or datetime.now(UTC)).isoformat(),
        },
        correlation_id=reference,
    )


def closing_events(reference: str, agency: str = "dlpw") -> list[Event]:
    """routing's events of a case referred to one office that resolved it:
    routed, accepted, resolved, closed (a minute apart, in order)."""
    now = datetime.now(UTC)
    ref = referral_ref(agency)
    resolved = with_status(ref, "resolved")
    return [
        case_routed(reference, [ref], at=now + timedelta(minutes=1)),
        referral_status_changed(
            reference, ref, "accepted", at=now + timedelta(minutes=2)
        ),
        referral_status_changed(
            reference,
            ref,
            "resolved",
            previous_status="accepted",
            outcome="resolved",
            at=now + timedelta(minutes=3),
        ),
        case_closed(reference, [resolved], at=now + timedelta(minutes=4)),
    ]
