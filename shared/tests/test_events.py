"""The event contract: envelope, versioned payloads, the registry."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from labornet_shared.events import (
    CURRENT_VERSIONS,
    ERASED_TEXT,
    EVENT_TYPES,
    CaseReceivedV1,
    InvalidEvent,
    UnknownEventVersion,
    language_chosen,
    make_event,
    parse_event,
    source_service,
    wipe_free_text,
)
from labornet_testkit.events import agent_event_payload


def received_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "reference": "LN-2568-00001234",
        "category": "unpaid_wages",
        "description": "นายจ้างค้างจ่ายค่าจ้างสองเดือน",
        "location": {
            "province_code": "TH-52",
            "district_code": "5201",
            "subdistrict_code": "520105",
            "postcode": "52000",
            "lat": 18.29,
            "long": 99.49,
        },
        "channel": "field_agent",
        "language": "th",
        "language_chosen": True,
        "abroad_country": None,
        "submitted_by_agent_id": "agent-17",
        "received_at": "2025-11-26T04:00:00+00:00",
    }
    payload.update(overrides)
    return payload


def withdrawn_payload() -> dict[str, Any]:
    return {
        "reference": "LN-2568-00001234",
        "withdrawn_at": "2025-11-27T04:00:00+00:00",
        "withdrawn_by": "citizen",
    }


def test_envelope_round_trips_through_json() -> None:
    occurred = datetime(2025, 11, 26, 11, 0, tzinfo=timezone(timedelta(hours=7)))
    event = make_event(
        "case_received",
        received_payload(),
        correlation_id="LN-2568-00001234",
        occurred_at=occurred,
    )
    wire = json.loads(json.dumps(event.to_body()))
    assert set(wire) == {
        "event_id",
        "event_type",
        "schema_version",
        "occurred_at",
        "correlation_id",
        "payload",
    }
    parsed = parse_event(wire)
    assert parsed == event
    assert uuid.UUID(parsed.event_id)
    assert parsed.schema_version == 2
    assert parsed.occurred_at == occurred
    assert parsed.occurred_at.utcoffset() is not None


def test_each_event_gets_its_own_id_and_an_aware_timestamp() -> None:
    first = make_event("case_withdrawn", withdrawn_payload())
    second = make_event("case_withdrawn", withdrawn_payload())
    assert first.event_id != second.event_id
    assert first.occurred_at.tzinfo is not None
    assert first.correlation_id is None
    assert parse_event(first.to_body()).correlation_id is None


def test_intake_publishes_both_case_events() -> None:
    assert source_service("case_received") == "intake"
    assert source_service("case_withdrawn") == "intake"
    with pytest.raises(UnknownEventVersion):
        source_service("case_teleported")


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [
        ("case_received", received_payload(category="astrology")),
        ("case_received", received_payload(channel="pigeon")),
        (
            "case_received",
            {k: v for k, v in received_payload().items() if k != "location"},
        ),
        (
            "case_received",
            received_payload(location={"province_code": "52", "lat": 1, "long": 2}),
        ),
        ("case_received", received_payload(citizen_name="สมชาย ใจดี")),
        ("case_withdrawn", {**withdrawn_payload(), "withdrawn_by": "a cat"}),
    ],
    ids=["category", "channel", "no-location", "province", "extra-pii", "withdrawn"],
)
def test_make_event_rejects_an_invalid_payload(
    event_type: str, payload: dict[str, Any]
) -> None:
    with pytest.raises(InvalidEvent):
        make_event(event_type, payload)


def test_make_event_refuses_an_unknown_type_or_version() -> None:
    with pytest.raises(UnknownEventVersion):
        make_event("case_teleported", {})
    with pytest.raises(UnknownEventVersion):
        make_event("case_received", received_payload(), schema_version=99)


def test_parse_event_rejects_an_unknown_type_or_version() -> None:
    body = make_event("case_received", received_payload()).to_body()
    with pytest.raises(UnknownEventVersion):
        parse_event({**body, "schema_version": 99})
    with pytest.raises(UnknownEventVersion):
        parse_event({**body, "event_type": "case_teleported"})


@pytest.mark.parametrize(
    "breakage",
    [
        lambda body: "not an object",
        lambda body: [body],
        lambda body: {k: v for k, v in body.items() if k != "event_id"},
        lambda body: {**body, "event_id": "not-a-uuid"},
        lambda body: {**body, "schema_version": "1"},
        lambda body: {**body, "occurred_at": "yesterday"},
        lambda body: {**body, "payload": "{}"},
        lambda body: {**body, "extra": 1},
        lambda body: {**body, "payload": {**body["payload"], "channel": "pigeon"}},
    ],
    ids=[
        "string",
        "list",
        "no-id",
        "bad-id",
        "version-string",
        "bad-time",
        "payload-string",
        "unknown-member",
        "bad-payload",
    ],
)
def test_parse_event_rejects_a_broken_envelope(breakage: Any) -> None:
    body = make_event("case_received", received_payload()).to_body()
    with pytest.raises(InvalidEvent) as caught:
        parse_event(breakage(body))
    # a broken message is not mistaken for a version this code lacks
    assert not isinstance(caught.value, UnknownEventVersion)


def test_parse_event_honours_the_versions_a_consumer_accepts() -> None:
    body = make_event("case_received", received_payload()).to_body()
    assert parse_event(body, {"case_received": {2}}).event_type == "case_received"
    with pytest.raises(UnknownEventVersion):
        parse_event(body, {"case_received": {1}})
    with pytest.raises(UnknownEventVersion):
        parse_event(body, {"case_withdrawn": {1}})


def agent_payload(**overrides: Any) -> dict[str, Any]:
    """The kit's agent payload with an id of its own, a second language and a
    term's end."""
    return agent_event_payload(
        **{
            "agent_id": str(uuid.uuid4()),
            "languages": ["th", "my"],
            "term_end": "2028-05-31",
            **overrides,
        }
    )


def referral_ref(**overrides: Any) -> dict[str, Any]:
    ref = {
        "referral_id": str(uuid.uuid4()),
        "agency": "sso",
        "province_code": "TH-52",
        "office": "sso.TH-52",
        "categories": ["social_security_benefit"],
        "status": "pending",
        "due_accept_at": "2026-11-30T04:00:00+00:00",
        "due_resolve_at": "2026-12-24T04:00:00+00:00",
        "agent_id": None,
    }
    ref.update(overrides)
    return ref


LABEL = {"category": "social_security_benefit", "score": 0.82, "evidence": ["ว่างงาน"]}
SCREENING = {
    "method": "lexicon",
    "needs_review": False,
    "labels": [LABEL],
    "language": "th",
}

SAMPLE_PAYLOADS = {
    "case_received": received_payload,
    "case_withdrawn": withdrawn_payload,
    "case_personal_data_erased": lambda: {
        "reference": "LN-2569-00000001",
        "erased_at": "2026-11-26T04:00:00+00:00",
    },
    "agent_registered": agent_payload,
    "agent_updated": lambda: agent_payload(revision=2, changed=["languages"]),
    "agent_deactivated": lambda: {
        "agent_id": str(uuid.uuid4()),
        "revision": 3,
        "kind": "labour_graduate",
        "reason": None,
        "deactivated_at": "2026-11-26T04:00:00+00:00",
    },
    "case_routed": lambda: {
        "reference": "LN-2569-00000001",
        "screening": SCREENING,
        "referrals": [referral_ref()],
        "routed_at": "2026-11-26T04:00:00+00:00",
    },
    "referral_status_changed": lambda: {
        "referral": referral_ref(status="accepted"),
        "reference": "LN-2569-00000001",
        "previous_status": "pending",
        "note": None,
        "outcome": None,
        "changed_by": "sso.TH-52",
        "changed_at": "2026-11-26T05:00:00+00:00",
    },
    "referral_overdue": lambda: {
        "referral": referral_ref(),
        "reference": "LN-2569-00000001",
        "clock": "accept",
        "due_at": "2026-11-30T04:00:00+00:00",
        "escalated_to": referral_ref(agency="ops", office="ops.TH-52"),
        "detected_at": "2026-11-30T04:00:30+00:00",
    },
    "case_closed": lambda: {
        "reference": "LN-2569-00000001",
        "referrals": [referral_ref(status="resolved")],
        "outcomes": {"r-1": "resolved"},
        "closed_at": "2026-12-01T04:00:00+00:00",
    },
    "referral_issued": lambda: {
        "referral": referral_ref(),
        "reference": "LN-2569-00000001",
        "labels": [LABEL],
        "needs_review": False,
        "description": "ถูกเลิกจ้าง อยากขอเงินว่างงาน",
        "location": {
            "province_code": "TH-52",
            "district_code": "5201",
            "subdistrict_code": "520101",
            "postcode": "52000",
            "lat": 18.29,
            "long": 99.49,
        },
        "abroad_country": None,
        "channel": "phone",
        "language": "th",
        "follow_up_agent": None,
        "hop": 1,
        "escalated_from": None,
        "issued_at": "2026-11-26T04:00:00+00:00",
    },
    "notification_failed": lambda: {
        "delivery_id": str(uuid.uuid4()),
        "event_id": str(uuid.uuid4()),
        "reference": "LN-2569-00000001",
        "recipient_kind": "citizen",
        "recipient_id": "LN-2569-00000001",
        "channel": "sms",
        "message": "case_received",
        "error": "bad_phone_number",
        "attempts": 1,
        "fallback_channel": "email",
        "failed_at": "2026-11-26T04:00:00+00:00",
    },
}


def test_current_versions_match_the_registry() -> None:
    assert set(SAMPLE_PAYLOADS) == set(CURRENT_VERSIONS)
    for event_type, version in CURRENT_VERSIONS.items():
        assert (event_type, version) in EVENT_TYPES
        event = make_event(event_type, SAMPLE_PAYLOADS[event_type]())
        assert event.schema_version == version
        # what a producer makes, a consumer reads back
        assert parse_event(json.loads(json.dumps(event.to_body()))).payload


def test_a_case_received_says_whether_the_citizen_chose_its_language() -> None:
    read = make_event(
        "case_received", received_payload(language="my", language_chosen=False)
    )
    assert read.schema_version == 2
    parsed = parse_event(read.to_body(), {"case_received": {1, 2}})
    assert (parsed.payload["language"], language_chosen(parsed.payload)) == (
        "my",
        False,
    )
    # v2 needs the field; v1 (queued before the upgrade) has none and is read
    # as chosen
    v1 = {k: v for k, v in received_payload().items() if k != "language_chosen"}
    with pytest.raises(InvalidEvent):
        make_event("case_received", v1)
    old = parse_event(make_event("case_received", v1, schema_version=1).to_body())
    assert (old.schema_version, language_chosen(old.payload)) == (1, True)
    with pytest.raises(InvalidEvent):
        make_event("case_received", received_payload(), schema_version=1)


def test_a_case_routed_says_the_language_screening_read() -> None:
    payload = SAMPLE_PAYLOADS["case_routed"]()
    event = make_event("case_routed", payload)
    assert event.schema_version == 2
    assert parse_event(event.to_body()).payload["screening"]["language"] == "th"
    # null for a case screened before routing read languages; never another
    make_event("case_routed", {**payload, "screening": {**SCREENING, "language": None}})
    for refused in ("km", "thai"):
        with pytest.raises(InvalidEvent):
            make_event(
                "case_routed",
                {**payload, "screening": {**SCREENING, "language": refused}},
            )
    # v1 has no language, and still parses
    v1 = {
        **payload,
        "screening": {k: v for k, v in SCREENING.items() if k != "language"},
    }
    with pytest.raises(InvalidEvent):
        make_event("case_routed", v1)
    old = make_event("case_routed", v1, schema_version=1)
    assert parse_event(old.to_body(), {"case_routed": {1, 2}}).schema_version == 1


def test_agent_events_never_carry_a_national_id() -> None:
    for event_type in ("agent_registered", "agent_updated"):
        with pytest.raises(InvalidEvent):
            make_event(event_type, agent_payload(national_id="1101700230705"))


def test_an_agent_area_names_codes_of_its_level() -> None:
    bad = agent_payload(areas=[{"province_code": "52", "district_code": None}])
    with pytest.raises(InvalidEvent):
        make_event("agent_registered", bad)


def test_case_received_v1_has_no_personal_data_fields() -> None:
    fields = set(CaseReceivedV1().fields)
    location = set(CaseReceivedV1().fields["location"].schema.fields)
    personal = {
        "name",
        "citizen",
        "citizen_name",
        "phone",
        "email",
        "national_id",
        "line_user_id",
        "address",
        "tracking_code",
    }
    assert not fields & personal
    assert not location & personal
    # and a payload smuggling them in is refused
    for key in ("phone", "national_id", "email", "name"):
        with pytest.raises(InvalidEvent):
            make_event("case_received", received_payload(**{key: "x"}))


def test_occurred_at_is_utc_iso_8601() -> None:
    event = make_event("case_withdrawn", withdrawn_payload())
    text = event.to_body()["occurred_at"]
    assert datetime.fromisoformat(text).utcoffset() == timedelta(0)


def test_a_referral_message_carries_no_citizen_identity() -> None:
    payload = SAMPLE_PAYLOADS["referral_issued"]()
    for field in ("citizen", "name", "phone", "email", "national_id"):
        with pytest.raises(InvalidEvent):
            make_event("referral_issued", {**payload, field: "x"})


def test_a_referral_names_its_follow_up_agent_by_id_and_v1_still_parses() -> None:
    payload = SAMPLE_PAYLOADS["referral_issued"]()
    agent = {"agent_id": "A-0042", "kind": "labour_volunteer"}
    event = make_event("referral_issued", {**payload, "follow_up_agent": agent})
    assert event.schema_version == 2
    assert parse_event(event.to_body()).payload["follow_up_agent"] == agent
    # v2 refuses the agent's name, phone or LINE id
    for field, value in (
        ("name_th", "มาลี ศรีสุข"),
        ("phone", "+66812345678"),
        ("line_user_id", "U" + "1" * 32),
    ):
        with pytest.raises(InvalidEvent):
            make_event(
                "referral_issued",
                {**payload, "follow_up_agent": {**agent, field: value}},
            )
    # a v1 message queued before the upgrade is still read
    v1_agent = {**agent, "name_th": "มาลี ศรีสุข", "phone": None, "line_user_id": None}
    old = make_event(
        "referral_issued", {**payload, "follow_up_agent": v1_agent}, schema_version=1
    )
    parsed = parse_event(old.to_body(), {"referral_issued": {1, 2}})
    assert (parsed.schema_version, parsed.payload["follow_up_agent"]) == (1, v1_agent)


def test_an_erasure_wipes_every_free_text_field_at_any_depth() -> None:
    body = {
        "event_type": "referral_status_changed",
        "payload": {
            "reference": "LN-2569-00000001",
            "note": "คุณสมชายโทรมาเอง",
            "referral": {"status": "accepted", "note": "ตามที่ลูกจ้างเล่า"},
            "cases": [{"description": "ค่าจ้างค้าง", "category": None}],
        },
    }
    wiped = wipe_free_text(body)
    assert wiped == {
        "event_type": "referral_status_changed",
        "payload": {
            "reference": "LN-2569-00000001",
            "note": ERASED_TEXT,
            "referral": {"status": "accepted", "note": ERASED_TEXT},
            "cases": [{"description": ERASED_TEXT, "category": None}],
        },
    }
    assert body["payload"]["note"] == "คุณสมชายโทรมาเอง"  # a copy, not in place
