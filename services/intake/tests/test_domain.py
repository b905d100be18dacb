"""intake's rules, driven directly: a real database session, no broker, no HTTP.

Runs on SQLite by default and on a fresh PostgreSQL schema when
``LABORNET_TEST_DB_URL`` is set (the ``db_url`` fixture decides).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from labornet_intake import domain
from labornet_intake.models import (
    AuditLogEntry,
    Base,
    Case,
    CitizenContact,
    IdempotencyKey,
    TimelineEntry,
    outbox_messages,
)
from labornet_intake.schemas import CaseCreateSchema
from labornet_shared.db import make_engine
from labornet_shared.events import parse_event
from labornet_shared.outbox import bind_outbox
from labornet_shared.reference import (
    centroid,
    district_centroid,
    province_centroid,
)
from labornet_shared.reference.case_reference import (
    format_case_reference,
    parse_case_reference,
)
from labornet_shared.tokens import Principal
from labornet_testkit.harness import anonymous_case_payload, case_payload

PEPPER = "test-pepper"
BANGKOK = timezone(timedelta(hours=7))
OPERATOR = Principal(scope="operator", subject="operator-somsri")
AGENT_1 = Principal(scope="agent", subject="agent-001", agent_id="agent-001")
AGENT_2 = Principal(scope="agent", subject="agent-002", agent_id="agent-002")
AGENCY = Principal(scope="agency", subject="sso", agency="sso")

CITIZEN = {
    "name": "สมชาย ใจดี",
    "phone": "081-234-5678",
    "email": "somchai.jaidee@example.co.th",
    "national_id": "1101700230708",
    "language": "th",
    "contact_channel": "sms",
}


# --- fixtures and helpers -------------------------------------------------------------


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url, pool_size=10)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def open_session(engine: Engine) -> Session:
    return bind_outbox(Session(engine, expire_on_commit=False), Base.metadata)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with open_session(engine) as session:
        yield session


def at(moment: datetime) -> domain.Clock:
    return lambda: moment


def load(body: dict[str, Any]) -> dict[str, Any]:
    """What the HTTP layer hands to the domain: the schema's output."""
    return dict(CaseCreateSchema().load(body))


def submit(
    session: Session,
    body: dict[str, Any] | None = None,
    *,
    principal: Principal | None = None,
    when: datetime | None = None,
    **overrides: Any,
) -> domain.SubmittedCase:
    body = body if body is not None else case_payload(random.Random(), **overrides)
    kwargs: dict[str, Any] = {}
    if when is not None:
        kwargs["clock"] = at(when)
    submitted = domain.submit_case(
        session, load(body), principal=principal, pepper=PEPPER, **kwargs
    )
    session.commit()
    return submitted


def with_citizen(**overrides: Any) -> dict[str, Any]:
    body = case_payload(
        random.Random(1),
        citizen=dict(CITIZEN),
        location={"province_code": "TH-52", "subdistrict_code": "520105"},
    )
    body.update(overrides)
    return body


def outbox_rows(session: Session) -> list[Any]:
    return list(session.execute(select(outbox_messages).order_by(outbox_messages.c.id)))


def count(session: Session, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def audit_rows(session: Session, reference: str) -> list[AuditLogEntry]:
    return list(
        session.scalars(
            select(AuditLogEntry)
            .where(AuditLogEntry.case_reference == reference)
            .order_by(AuditLogEntry.id)
        )
    )


def personal_forms() -> list[str]:
    """Every spelling of the citizen's data that must never leave intake."""
    return [
        CITIZEN["name"],
        "สมชาย",
        "ใจดี",
        CITIZEN["email"],
        CITIZEN["national_id"],
        "1-1017-00230-70-8",
        "812345678",  # the phone's national number: inside every spelling
        "081-234-5678",
    ]


# --- references -----------------------------------------------------------------------


def test_reference_format_and_parse_round_trip():
    assert format_case_reference(2568, 1234) == "LN-2568-00001234"
    assert format_case_reference(2569, 1) == "LN-2569-00000001"
    assert parse_case_reference("LN-2568-00001234") == (2568, 1234)
    assert parse_case_reference(format_case_reference(2570, 99999999)) == (
        2570,
        99999999,
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "LN-2568-1234",
        "LN-68-00001234",
        "ln-2568-00001234",
        "LN-2568-000012345",
        "XX-2568-00001234",
        "LN-2568-0000123A",
        " LN-2568-00001234",
        "LN-2568-00001234 ",
        "LN-2568-00001234\n",
        "LN-๒๕๖๘-00001234",
    ],
)
def test_malformed_references_do_not_parse(text):
    assert parse_case_reference(text) is None


def test_reference_carries_the_bangkok_year_at_the_turn_of_the_year(session):
    # 23:59:59 on 31 December in Bangkok is still 2568 BE ...
    before = submit(session, when=datetime(2025, 12, 31, 16, 59, 59, tzinfo=UTC))
    # ... and one second later it is 1 January 2026 there: 2569 BE, while UTC
    # still reads 31 December 2025
    after = submit(session, when=datetime(2025, 12, 31, 17, 0, 0, tzinfo=UTC))
    assert before.case.reference.startswith("LN-2568-")
    assert after.case.reference.startswith("LN-2569-")
    for submitted in (before, after):
        parsed = parse_case_reference(submitted.case.reference)
        assert parsed is not None
        assert parsed[1] == submitted.case.id


def test_references_are_distinct_and_well_formed(session):
    references = [submit(session).case.reference for _ in range(5)]
    assert len(set(references)) == 5
    assert all(parse_case_reference(r) is not None for r in references)


# --- tracking codes -------------------------------------------------------------------


def test_tracking_code_is_stable_readable_and_secret_per_case():
    code = domain.tracking_code(PEPPER, "LN-2568-00000001")
    assert re.fullmatch(r"[A-Z2-7]{5}-[A-Z2-7]{5}", code)
    assert not set(code) & set("01OI")  # nothing to mishear over the phone
    assert code == domain.tracking_code(PEPPER, "LN-2568-00000001")
    assert code != domain.tracking_code(PEPPER, "LN-2568-00000002")
    assert code != domain.tracking_code("another-pepper", "LN-2568-00000001")


def test_tracking_code_check_forgives_case_dashes_and_spaces_only():
    reference = "LN-2568-00000042"
    code = domain.tracking_code(PEPPER, reference)
    plain = code.replace("-", "")
    for spelling in (
        code,
        code.lower(),
        plain,
        plain.lower(),
        f"  {code}  ",
        f"{plain[:5]} {plain[5:]}",
    ):
        assert domain.check_tracking_code(PEPPER, reference, spelling), spelling
    other = domain.tracking_code(PEPPER, "LN-2568-00000043")
    for wrong in (
        None,
        "",
        other,
        "AAAAA-AAAAA",
        code[:-1],
        code + "A",
        domain.tracking_code("another-pepper", reference),
    ):
        assert not domain.check_tracking_code(PEPPER, reference, wrong), wrong


# --- taking a case in -----------------------------------------------------------------


def test_submit_stores_case_contact_timeline_and_one_clean_event(session):
    body = with_citizen(category="unpaid_wages", channel="line")
    now = datetime(2026, 3, 2, 3, 4, 5, tzinfo=UTC)
    submitted = submit(session, body, when=now)
    reference = submitted.case.reference
    assert submitted.tracking_code == domain.tracking_code(PEPPER, reference)
    session.expunge_all()

    case = session.scalars(select(Case)).one()
    assert case.reference == reference
    assert case.status == "received"
    assert case.category == "unpaid_wages"
    assert case.channel == "line"
    assert case.language == "th"
    assert case.description == body["description"]
    assert domain.aware(case.created_at) == now
    contact = session.get(CitizenContact, case.id)
    assert contact is not None
    assert contact.name == CITIZEN["name"]
    assert contact.phone == "+66812345678"  # stored in E.164
    assert contact.national_id == CITIZEN["national_id"]
    assert contact.email == CITIZEN["email"]
    assert contact.consent_purpose == body["consent"]["purpose"]
    timeline = session.scalars(select(TimelineEntry)).all()
    assert [(t.status, domain.aware(t.occurred_at)) for t in timeline] == [
        ("received", now)
    ]

    [row] = outbox_rows(session)
    assert row.event_type == "case_received"
    assert row.routing_key == "case_received"
    assert row.exchange == "intake.events"
    assert row.correlation_id == reference
    assert row.sent_at is None
    event = parse_event(json.loads(row.body))
    assert event.event_type == "case_received"
    assert event.correlation_id == reference
    assert event.payload["reference"] == reference
    assert event.payload["category"] == "unpaid_wages"
    assert event.payload["channel"] == "line"
    assert event.payload["location"]["province_code"] == "TH-52"
    assert event.payload["submitted_by_agent_id"] is None
    for secret in personal_forms():
        assert secret not in row.body, secret
    assert "citizen" not in event.payload and "consent" not in event.payload


@pytest.mark.parametrize(
    ("language", "description", "recorded"),
    [
        # a Myanmar worker who chose nothing: the language they wrote in
        (None, "အလုပ်ရှင်က လစာ နှစ်လ မပေးသေးပါ ชลบุรี", ("my", False)),
        (None, "My employer has not paid me for two months", ("en", False)),
        (None, "นายจ้างค้างจ่ายค่าจ้างสองเดือน", ("th", False)),
        # no letters: Thai, still not chosen
        (None, "0812345678 !! 2569", ("th", False)),
        # a choice stands, whatever the text is written in
        ("en", "นายจ้างค้างจ่ายค่าจ้างสองเดือน", ("en", True)),
        ("th", "အလုပ်ရှင်က လစာ နှစ်လ မပေးသေးပါ", ("th", True)),
    ],
)
def test_the_case_s_language_is_chosen_or_read_from_the_description(
    session, language, description, recorded
):
    citizen = {k: v for k, v in CITIZEN.items() if k != "language"}
    if language is not None:
        citizen["language"] = language
    submitted = submit(session, with_citizen(description=description, citizen=citizen))
    session.expunge_all()

    case = session.scalars(select(Case)).one()
    assert (case.language, case.language_chosen) == recorded
    [row] = outbox_rows(session)
    event = parse_event(json.loads(row.body))
    assert event.schema_version == 2
    assert (event.payload["language"], event.payload["language_chosen"]) == recorded
    assert submitted.case.reference == event.payload["reference"]


def test_a_case_without_a_citizen_takes_the_language_it_is_written_in(session):
    body = anonymous_case_payload(description="ကျွန်တော့်ကို အလုပ်ရှင်က လစာမပေးဘူး")
    submit(session, body)
    case = session.scalars(select(Case)).one()
    assert (case.language, case.language_chosen) == ("my", False)


def test_anonymous_case_has_an_empty_contact(session):
    submitted = submit(session, anonymous_case_payload())
    contact = submitted.case.contact
    assert contact is not None
    assert (contact.name, contact.phone, contact.national_id) == (None, None, None)
    assert contact.contact_channel == "none"
    assert len(outbox_rows(session)) == 1


def test_consent_time_is_kept_as_the_same_instant(session):
    # a Thai client sends its local time; the record must mean the same moment
    body = with_citizen()
    body["consent"]["given_at"] = "2026-01-10T09:00:00+07:00"
    submitted = submit(session, body)
    session.expunge_all()
    contact = session.get(CitizenContact, submitted.case.id)
    assert contact is not None
    assert domain.aware(contact.consent_given_at) == datetime(
        2026, 1, 10, 2, 0, tzinfo=UTC
    )


def test_field_agent_submission_is_marked_with_the_agent(session):
    submitted = submit(session, with_citizen(channel="web"), principal=AGENT_1)
    case = submitted.case
    assert case.channel == "field_agent"
    assert case.submitted_by_agent_id == "agent-001"
    [row] = outbox_rows(session)
    payload = json.loads(row.body)["payload"]
    assert payload["submitted_by_agent_id"] == "agent-001"
    assert payload["channel"] == "field_agent"


def test_operator_or_citizen_submission_has_no_agent(session):
    case = submit(session, with_citizen(channel="phone"), principal=OPERATOR).case
    assert case.submitted_by_agent_id is None
    assert case.channel == "phone"


# --- location -------------------------------------------------------------------------


def location_of(session: Session, location: dict[str, Any]) -> Case:
    return submit(session, anonymous_case_payload(location=location)).case


def test_subdistrict_fills_district_and_centroid(session):
    case = location_of(
        session, {"province_code": "TH-52", "subdistrict_code": "520105"}
    )
    assert case.district_code == "5201"
    assert case.subdistrict_code == "520105"
    assert (case.lat, case.long) == centroid("520105")
    assert case.coordinates_source == "subdistrict"
    payload = json.loads(outbox_rows(session)[0].body)["payload"]["location"]
    assert payload["district_code"] == "5201"
    assert (payload["lat"], payload["long"]) == centroid("520105")


def test_district_only_takes_the_district_centroid(session):
    case = location_of(session, {"province_code": "TH-52", "district_code": "5201"})
    assert case.subdistrict_code is None
    assert (case.lat, case.long) == district_centroid("5201")
    assert case.coordinates_source == "district"


def test_province_only_takes_the_province_centroid(session):
    case = location_of(session, {"province_code": "TH-52"})
    assert (case.district_code, case.subdistrict_code) == (None, None)
    assert (case.lat, case.long) == province_centroid("TH-52")
    assert case.coordinates_source == "province"


def test_given_coordinates_are_kept(session):
    case = location_of(
        session,
        {
            "province_code": "TH-52",
            "subdistrict_code": "520105",
            "lat": 18.2901,
            "long": 99.4912,
        },
    )
    assert (case.lat, case.long) == (18.2901, 99.4912)
    assert case.coordinates_source == "given"


def test_handwritten_address_is_matched_when_unambiguous(session):
    case = location_of(
        session,
        {"province_code": "TH-52", "address": "12 หมู่ 3 ต.พระบาท อ.เมือง จ.ลำปาง"},
    )
    assert (case.district_code, case.subdistrict_code) == ("5201", "520105")
    assert case.coordinates_source == "subdistrict"


@pytest.mark.parametrize(
    ("location", "field", "code"),
    [
        ({"province_code": "TH-99"}, "location.province_code", "province_unknown"),
        (
            {"province_code": "TH-10", "subdistrict_code": "520105"},
            "location.subdistrict_code",
            "subdistrict_not_in_province",
        ),
        (
            {"province_code": "TH-10", "district_code": "5201"},
            "location.district_code",
            "district_not_in_province",
        ),
        (
            {
                "province_code": "TH-52",
                "district_code": "5202",
                "subdistrict_code": "520105",
            },
            "location.subdistrict_code",
            "subdistrict_not_in_district",
        ),
        (
            {
                "province_code": "TH-52",
                "subdistrict_code": "520105",
                "postcode": "10200",
            },
            "location.postcode",
            "postcode_mismatch",
        ),
        (
            {"province_code": "TH-52", "lat": 35.0, "long": 139.0},
            "location.lat",
            "coordinates_outside_thailand",
        ),
    ],
)
def test_location_outside_the_gazetteer_is_refused_naming_the_field(
    session, location, field, code
):
    with pytest.raises(domain.CaseInvalid) as raised:
        domain.submit_case(
            session,
            load(anonymous_case_payload(location=location)),
            principal=None,
            pepper=PEPPER,
        )
    assert (field, code) in [(e.field, e.code) for e in raised.value.errors]
    session.rollback()
    assert count(session, Case) == 0
    assert outbox_rows(session) == []


# --- reading --------------------------------------------------------------------------


def test_citizen_reads_with_the_code_only_and_leaves_no_audit(session):
    submitted = submit(session)
    reference = submitted.case.reference
    case = domain.case_for_citizen(session, reference, submitted.tracking_code, PEPPER)
    assert case.reference == reference
    for code in (None, "AAAAA-AAAAA", domain.tracking_code("other", reference)):
        with pytest.raises(domain.CaseNotFound):
            domain.case_for_citizen(session, reference, code, PEPPER)
    with pytest.raises(domain.CaseNotFound):
        domain.case_for_citizen(
            session,
            "LN-2568-99999999",
            domain.tracking_code(PEPPER, "LN-2568-99999999"),
            PEPPER,
        )
    session.commit()
    assert audit_rows(session, reference) == []


def test_operator_and_own_agent_read_whole_case_and_each_read_is_audited(session):
    reference = submit(session, with_citizen(), principal=AGENT_1).case.reference
    when = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)

    case = domain.case_for_principal(session, reference, OPERATOR, clock=at(when))
    assert case.contact is not None and case.contact.name == CITIZEN["name"]
    domain.case_for_principal(session, reference, AGENT_1)
    session.commit()

    rows = audit_rows(session, reference)
    assert [(r.actor_scope, r.actor, r.action) for r in rows] == [
        ("operator", "operator-somsri", "read_case"),
        ("agent", "agent-001", "read_case"),
    ]
    assert domain.aware(rows[0].occurred_at) == when
    # the audit log records who, never what
    for row in rows:
        text = " ".join(str(v) for v in vars(row).values())
        for secret in personal_forms():
            assert secret not in text


@pytest.mark.parametrize("principal", [AGENT_2, AGENCY, None])
def test_others_cannot_read_the_whole_case_and_leave_no_audit(session, principal):
    reference = submit(session, with_citizen(), principal=AGENT_1).case.reference
    with pytest.raises(domain.CaseNotFound):
        domain.case_for_principal(session, reference, principal)
    session.commit()
    assert audit_rows(session, reference) == []


def test_unknown_or_malformed_reference_is_not_found_for_an_operator(session):
    submit(session)
    for reference in ("LN-2568-99999999", "not-a-reference", ""):
        with pytest.raises(domain.CaseNotFound):
            domain.case_for_principal(session, reference, OPERATOR)


# --- withdrawing ----------------------------------------------------------------------


def withdrawn_events(session: Session) -> list[dict[str, Any]]:
    return [
        json.loads(row.body)
        for row in outbox_rows(session)
        if row.event_type == "case_withdrawn"
    ]


def test_citizen_withdraws_with_the_tracking_code(session):
    # the timeline is in the order things happened
    submitted = submit(session, when=datetime(2026, 3, 30, 2, 0, tzinfo=UTC))
    reference = submitted.case.reference
    when = datetime(2026, 4, 1, 1, 0, tzinfo=UTC)
    case = domain.withdraw_case(
        session,
        reference,
        principal=None,
        code=submitted.tracking_code.lower(),
        pepper=PEPPER,
        reason="ตกลงกับนายจ้างได้แล้ว",
        clock=at(when),
    )
    session.commit()
    assert case.status == "withdrawn"
    session.expunge_all()
    stored = session.scalars(select(Case)).one()
    assert stored.status == "withdrawn"
    assert [(t.status, t.note) for t in stored.timeline] == [
        ("received", None),
        ("withdrawn", "ตกลงกับนายจ้างได้แล้ว"),
    ]
    rows = outbox_rows(session)
    assert [r.event_type for r in rows] == ["case_received", "case_withdrawn"]
    event = parse_event(json.loads(rows[1].body))
    assert event.correlation_id == reference
    assert event.payload["reference"] == reference
    assert event.payload["withdrawn_by"] == "citizen"
    assert datetime.fromisoformat(event.payload["withdrawn_at"]) == when
    # the citizen's reason stays in intake
    assert "นายจ้าง" not in rows[1].body


@pytest.mark.parametrize(
    ("principal", "by"), [(AGENT_1, "agent"), (OPERATOR, "operator")]
)
def test_agent_and_operator_withdraw_by_token(session, principal, by):
    reference = submit(session, principal=AGENT_1).case.reference
    domain.withdraw_case(
        session, reference, principal=principal, code=None, pepper=PEPPER
    )
    session.commit()
    [event] = withdrawn_events(session)
    assert event["payload"]["withdrawn_by"] == by


@pytest.mark.parametrize(
    ("principal", "code"),
    [
        (None, None),
        (None, "AAAAA-AAAAA"),
        (AGENT_2, None),  # another agent's case
        (AGENCY, None),
    ],
)
def test_withdraw_without_right_is_not_found_and_changes_nothing(
    session, principal, code
):
    reference = submit(session, principal=AGENT_1).case.reference
    with pytest.raises(domain.CaseNotFound):
        domain.withdraw_case(
            session, reference, principal=principal, code=code, pepper=PEPPER
        )
    session.rollback()
    assert session.scalars(select(Case.status)).one() == "received"
    assert withdrawn_events(session) == []


@pytest.mark.parametrize("status", ["withdrawn", "closed"])
def test_withdrawing_a_case_that_is_not_open_is_refused(session, status):
    submitted = submit(session)
    session.get(Case, submitted.case.id).status = status
    session.commit()
    with pytest.raises(domain.CaseNotOpen):
        domain.withdraw_case(
            session,
            submitted.case.reference,
            principal=None,
            code=submitted.tracking_code,
            pepper=PEPPER,
        )
    session.rollback()
    assert withdrawn_events(session) == []


def test_second_withdrawal_is_refused_and_announced_once(session):
    submitted = submit(session)
    args = {
        "principal": None,
        "code": submitted.tracking_code,
        "pepper": PEPPER,
    }
    domain.withdraw_case(session, submitted.case.reference, **args)
    session.commit()
    with pytest.raises(domain.CaseNotOpen):
        domain.withdraw_case(session, submitted.case.reference, **args)
    session.rollback()
    assert len(withdrawn_events(session)) == 1


def test_withdrawing_an_unknown_case_is_not_found(session):
    with pytest.raises(domain.CaseNotFound):
        domain.withdraw_case(
            session, "LN-2568-00000077", principal=OPERATOR, code=None, pepper=PEPPER
        )


# --- erasure --------------------------------------------------------------------------


def test_erasure_wipes_personal_data_keeps_the_case_and_is_audited(session):
    body = with_citizen(category="termination_severance")
    body["location"]["address"] = "บ้านเลขที่ 99 หมู่ 4 ต.พระบาท"
    submitted = submit(session, body, principal=AGENT_1)
    reference = submitted.case.reference
    domain.withdraw_case(
        session,
        reference,
        principal=None,
        code=submitted.tracking_code,
        pepper=PEPPER,
        reason="สมชาย ใจดี ขอถอนเรื่อง โทร 081-234-5678",
    )
    session.commit()
    when = datetime(2026, 5, 5, 5, 5, tzinfo=UTC)

    # the relay published case_received; case_withdrawn still waits
    first_event = outbox_rows(session)[0].id
    session.execute(
        update(outbox_messages)
        .where(outbox_messages.c.id == first_event)
        .values(sent_at=when)
    )
    domain.erase_personal_data(session, reference, OPERATOR, clock=at(when))
    session.commit()
    session.expunge_all()
    # the published copy (with the description) is gone; the unsent one stays,
    # and routing and notify are told to wipe their copies
    left = [json.loads(r.body) for r in outbox_rows(session)]
    assert [e["event_type"] for e in left] == [
        "case_withdrawn",
        "case_personal_data_erased",
    ]
    assert left[1]["payload"] == {
        "reference": reference,
        "erased_at": when.isoformat(),
    }

    case = session.scalars(select(Case)).one()
    contact = session.get(CitizenContact, case.id)
    assert contact is not None
    assert (
        contact.name,
        contact.phone,
        contact.email,
        contact.national_id,
        contact.line_user_id,
    ) == (None, None, None, None, None)
    assert contact.contact_channel == "none"
    assert case.address is None
    assert domain.aware(case.personal_data_erased_at) == when
    # the anonymous case and its statistics remain
    assert case.reference == reference
    assert case.status == "withdrawn"
    assert case.category == "termination_severance"
    assert case.province_code == "TH-52"
    assert case.submitted_by_agent_id == "agent-001"
    assert [t.status for t in case.timeline] == ["received", "withdrawn"]
    # nothing the citizen wrote survives in the case's rows
    stored = " ".join(
        str(v)
        for row in (case, contact, *case.timeline)
        for k, v in vars(row).items()
        if not k.startswith("_")
    )
    for secret in (*personal_forms(), "บ้านเลขที่ 99", body["description"]):
        assert secret not in stored, secret
    # the citizen can still follow the (anonymous) case
    assert domain.case_for_citizen(
        session, reference, submitted.tracking_code, PEPPER
    ).status == ("withdrawn")
    [row] = [r for r in audit_rows(session, reference) if r.action != "read_case"]
    assert (row.actor_scope, row.actor, row.action) == (
        "operator",
        "operator-somsri",
        "erase_personal_data",
    )
    assert domain.aware(row.occurred_at) == when


@pytest.mark.parametrize("principal", [AGENT_1, AGENT_2, AGENCY])
def test_only_an_operator_may_erase(session, principal):
    reference = submit(session, with_citizen(), principal=AGENT_1).case.reference
    with pytest.raises(domain.CaseNotFound):
        domain.erase_personal_data(session, reference, principal)
    session.rollback()
    assert session.scalars(select(CitizenContact.name)).one() == CITIZEN["name"]
    assert audit_rows(session, reference) == []


def test_erasing_an_unknown_case_is_not_found(session):
    with pytest.raises(domain.CaseNotFound):
        domain.erase_personal_data(session, "LN-2568-00000001", OPERATOR)


# --- idempotency keys -----------------------------------------------------------------


def submit_once(session: Session, client: str, key: str, body: dict[str, Any]) -> str:
    """Submit with an Idempotency-Key as ``client`` (an agent or anonymous)."""
    principal = (
        None
        if client == "anonymous"
        else Principal(scope="agent", subject=client, agent_id=client)
    )
    try:
        accepted = domain.take_case_in(
            session,
            load(body),
            principal=principal,
            pepper=PEPPER,
            idempotency_key=key,
            fingerprint=domain.request_fingerprint(body),
        )
    except Exception:
        session.rollback()
        raise
    session.commit()
    assert accepted.tracking_code == domain.tracking_code(PEPPER, accepted.reference)
    return accepted.reference


def test_same_key_and_body_give_the_same_case(session):
    body = with_citizen()
    first = submit_once(session, "anonymous", "retry-1", body)
    again = submit_once(session, "anonymous", "retry-1", json.loads(json.dumps(body)))
    assert again == first
    assert count(session, Case) == 1
    assert len(outbox_rows(session)) == 1


def test_same_key_with_another_body_is_refused(session):
    submit_once(session, "anonymous", "retry-2", with_citizen())
    other = with_citizen(description="อีกเรื่องหนึ่ง ไม่ใช่เรื่องเดิมเลย")
    with pytest.raises(domain.IdempotencyKeyReused):
        submit_once(session, "anonymous", "retry-2", other)
    session.rollback()
    assert count(session, Case) == 1


def test_key_of_a_refused_request_is_not_kept(session):
    # the reservation shares the case's transaction: when the case is refused
    # (here by the gazetteer), the key goes with it and a corrected retry works
    bad = with_citizen(location={"province_code": "TH-10", "district_code": "5201"})
    with pytest.raises(domain.CaseInvalid):
        submit_once(session, "anonymous", "retry-3", bad)
    session.rollback()
    assert count(session, IdempotencyKey) == 0
    reference = submit_once(session, "anonymous", "retry-3", with_citizen())
    assert parse_case_reference(reference) is not None


def test_keys_belong_to_their_client(session):
    body = with_citizen()
    mine = submit_once(session, "agent-001", "k", body)
    theirs = submit_once(session, "agent-002", "k", body)
    assert mine != theirs
    assert count(session, IdempotencyKey) == 2


def test_key_whose_first_request_is_unfinished_is_in_progress(engine):
    body = with_citizen()
    fingerprint = domain.request_fingerprint(body)
    with open_session(engine) as first:
        row = domain.reserve_idempotency_key(first, "anonymous", "slow", fingerprint)
        assert isinstance(row, IdempotencyKey)
        first.commit()  # reserved, no case yet
    with (
        open_session(engine) as second,
        pytest.raises(domain.IdempotencyKeyInProgress),
    ):
        domain.reserve_idempotency_key(second, "anonymous", "slow", fingerprint)


def test_concurrent_retry_waits_for_the_first_and_gets_its_case(engine):
    body = with_citizen()
    fingerprint = domain.request_fingerprint(body)
    outcome: list[Any] = []
    second_started = threading.Event()

    def retry() -> None:
        with open_session(engine) as second:
            second_started.set()
            try:
                outcome.append(
                    domain.reserve_idempotency_key(
                        second, "anonymous", "twice", fingerprint
                    )
                )
            except Exception as exc:  # reported below
                outcome.append(exc)

    with open_session(engine) as first:
        row = domain.reserve_idempotency_key(first, "anonymous", "twice", fingerprint)
        assert isinstance(row, IdempotencyKey)
        thread = threading.Thread(target=retry)
        thread.start()
        second_started.wait()
        time.sleep(0.2)  # let the retry reach the key's unique index
        submitted = domain.submit_case(first, load(body), principal=None, pepper=PEPPER)
        domain.complete_idempotency_key(row, submitted.case.reference)
        first.commit()
    thread.join(timeout=30)
    assert outcome == [submitted.case.reference]
    with open_session(engine) as check:
        assert count(check, Case) == 1
        assert count(check, IdempotencyKey) == 1


def test_fingerprint_ignores_key_order_and_sees_every_value():
    body = with_citizen()
    reordered = dict(reversed(list(body.items())))
    assert domain.request_fingerprint(body) == domain.request_fingerprint(reordered)
    changed = json.loads(json.dumps(body))
    changed["citizen"]["phone"] = "0812345679"
    assert domain.request_fingerprint(body) != domain.request_fingerprint(changed)


# --- listing --------------------------------------------------------------------------


T0 = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def listed(session: Session) -> dict[str, str]:
    """Five cases across provinces, categories, channels, agents and days."""

    def add(days: int, principal: Principal | None, **fields: Any) -> str:
        subdistrict = fields.pop("subdistrict", "520105")
        body = anonymous_case_payload(
            location={
                "province_code": f"TH-{subdistrict[:2]}",
                "subdistrict_code": subdistrict,
            },
            **fields,
        )
        case = submit(
            session, body, principal=principal, when=T0 + timedelta(days=days)
        ).case
        return str(case.reference)

    cases = {
        "lampang_wages": add(0, None, category="unpaid_wages", channel="web"),
        "bangkok_injury": add(
            1, None, category="work_injury", channel="phone", subdistrict="100101"
        ),
        "agent1_job": add(2, AGENT_1, category="job_seeking", channel="web"),
        "agent2_cm": add(
            3, AGENT_2, category=None, channel="walk_in", subdistrict="500101"
        ),
        "agent1_wages": add(4, AGENT_1, category="unpaid_wages", channel="web"),
    }
    case = domain._load_case(session, cases["bangkok_injury"])
    assert case is not None
    case.status = "withdrawn"
    session.commit()
    return cases


def names(listed: dict[str, str], cases: list[Case]) -> list[str]:
    by_reference = {v: k for k, v in listed.items()}
    return [by_reference[str(c.reference)] for c in cases]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["agent1_wages", "agent2_cm", "agent1_job", "bangkok_injury",
              "lampang_wages"]),
        ({"province": "TH-52"}, ["agent1_wages", "agent1_job", "lampang_wages"]),
        ({"district": "1001"}, ["bangkok_injury"]),
        ({"status": "withdrawn"}, ["bangkok_injury"]),
        ({"category": "unpaid_wages"}, ["agent1_wages", "lampang_wages"]),
        ({"channel": "field_agent"}, ["agent1_wages", "agent1_job"]),
        ({"province": "TH-52", "category": "unpaid_wages", "channel": "web"},
         ["lampang_wages"]),
        # since is inclusive, until exclusive
        ({"submitted_since": T0 + timedelta(days=2)},
         ["agent1_wages", "agent2_cm", "agent1_job"]),
        ({"submitted_until": T0 + timedelta(days=2)},
         ["bangkok_injury", "lampang_wages"]),
        ({"submitted_since": T0 + timedelta(days=1),
          "submitted_until": T0 + timedelta(days=3)},
         ["agent1_job", "bangkok_injury"]),
        # the same instants written in Bangkok time select the same cases
        ({"submitted_since": (T0 + timedelta(days=2)).astimezone(BANGKOK)},
         ["agent1_wages", "agent2_cm", "agent1_job"]),
        ({"submitted_until": (T0 + timedelta(days=2)).astimezone(BANGKOK)},
         ["bangkok_injury", "lampang_wages"]),
        ({"province": "TH-96"}, []),
    ],
)  # fmt: skip
def test_operator_filters(session, listed, filters, expected):
    cases, next_after = domain.list_cases(session, dict(filters), OPERATOR)
    assert names(listed, cases) == expected
    assert next_after is None


def test_agent_sees_only_own_cases_even_when_filtering(session, listed):
    cases, _ = domain.list_cases(session, {}, AGENT_1)
    assert names(listed, cases) == ["agent1_wages", "agent1_job"]
    cases, _ = domain.list_cases(session, {"province": "TH-50"}, AGENT_1)
    assert cases == []
    cases, _ = domain.list_cases(session, {"category": "unpaid_wages"}, AGENT_2)
    assert cases == []


@pytest.mark.parametrize(
    "principal",
    [
        AGENCY,
        Principal(scope="open311", subject="georeport"),
        # an agent token without an agent id must not match the citizens'
        # cases (submitted_by_agent_id IS NULL)
        Principal(scope="agent", subject="broken"),
    ],
)
def test_other_scopes_list_nothing(session, listed, principal):
    cases, next_after = domain.list_cases(session, {}, principal)
    assert cases == [] and next_after is None


def test_pages_walk_every_case_once_newest_first(session, listed):
    seen: list[Case] = []
    after = None
    pages = 0
    while True:
        filters: dict[str, Any] = {"limit": 2}
        if after is not None:
            filters["after_id"] = after
        cases, after = domain.list_cases(session, filters, OPERATOR)
        assert len(cases) <= 2
        seen += cases
        pages += 1
        if after is None:
            break
    assert pages == 3
    assert names(listed, seen) == [
        "agent1_wages",
        "agent2_cm",
        "agent1_job",
        "bangkok_injury",
        "lampang_wages",
    ]


def test_a_full_last_page_has_no_next_page(session, listed):
    cases, after = domain.list_cases(session, {"limit": 5}, OPERATOR)
    assert len(cases) == 5 and after is None


# --- references under concurrency -----------------------------------------------------


def test_references_stay_unique_when_many_workers_submit_at_once(engine, on_postgresql):
    if not on_postgresql:
        pytest.skip(
            "SQLite serialises every writer on one file lock, so there is no "
            "concurrent issuing to test; set LABORNET_TEST_DB_URL for PostgreSQL"
        )
    workers, per_worker = 8, 25
    references: list[str] = []
    failures: list[BaseException] = []
    start = threading.Event()
    in_flight = [0, 0]  # now, most at once

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        start.wait()
        try:
            for _ in range(per_worker):
                with open_session(engine) as session:
                    in_flight[0] += 1
                    in_flight[1] = max(in_flight)
                    submitted = domain.submit_case(
                        session,
                        load(case_payload(rng)),
                        principal=None,
                        pepper=PEPPER,
                    )
                    session.commit()
                    in_flight[0] -= 1
                    references.append(str(submitted.case.reference))
        except BaseException as exc:  # reported below
            failures.append(exc)

    # under `nameko test` these are green threads; psycopg2 is patched to
    # yield while it waits on PostgreSQL, so the transactions interleave
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    start.set()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert in_flight[1] > 1, "the submissions never overlapped"
    total = workers * per_worker
    assert len(references) == total
    assert len(set(references)) == total
    assert all(parse_case_reference(r) is not None for r in references)
    with open_session(engine) as session:
        assert count(session, Case) == total
        stored = {case.reference for case in session.scalars(select(Case))}
        assert stored == set(references)
        rows = outbox_rows(session)
        assert len(rows) == total
        assert {r.correlation_id for r in rows} == set(references)
