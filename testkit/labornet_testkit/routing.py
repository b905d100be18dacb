"""pytest fixtures that run routing for tests (loaded by the root conftest)."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

from labornet_shared.events import Event, make_event
from labornet_testkit.harness import service_fixtures

routing_db, routing_config, start_routing, routing_api = service_fixtures(
    "routing", "labornet_routing.service:RoutingService", SLA_CHECK_SECONDS=3600
)


# --- factories -----------------------------------------------------------------

_references = itertools.count(1)


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
        "abroad_country": None,
        "submitted_by_agent_id": None,
        "received_at": datetime.now(UTC).isoformat(),
    }
    location = overrides.pop("location", None)
    if location is not None:
        payload["location"] = {**payload["location"], **location}
    payload.update(overrides)
    return make_event("case_received", payload, payload["reference"])


def agent_event(
    event_type: str = "agent_registered", revision: int = 1, **overrides: Any
) -> Event:
    """An ``agent_registered``/``agent_updated`` as registry publishes it."""
    payload: dict[str, Any] = {
        "agent_id": "agent-0001",
        "revision": revision,
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
    if event_type == "agent_updated":
        payload["changed"] = ["languages"]
    payload.update(overrides)
    return make_event(event_type, payload)


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
