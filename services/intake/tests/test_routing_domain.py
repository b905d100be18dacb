"""routing's events applied by intake's rules, on a real database (no broker):
the citizen's timeline, the case's status and intake's copy of its
referrals, whatever order the events come in."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from labornet_intake import domain, views
from labornet_intake.models import (
    Base,
    Case,
    CaseCategory,
    CaseReferral,
    processed_events,
)
from labornet_intake.schemas import CaseCreateSchema
from labornet_shared.db import make_engine
from labornet_shared.events import Event
from labornet_shared.outbox import bind_outbox
from labornet_shared.tokens import Principal
from labornet_testkit.harness import case_payload
from labornet_testkit.intake import (
    case_closed,
    case_routed,
    referral_overdue,
    referral_ref,
    referral_status_changed,
    with_status,
)

PEPPER = "test-pepper"
CONSUMER = "intake.test"
OPERATOR = Principal(scope="operator", subject="operator-somsri")
SUBMITTED = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)


def hour(n: float) -> datetime:
    """``n`` hours after the case was submitted."""
    return SUBMITTED + timedelta(hours=n)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url, pool_size=2)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with bind_outbox(Session(engine, expire_on_commit=False), Base.metadata) as s:
        yield s


@pytest.fixture
def reference(session: Session) -> str:
    """A case submitted (with contact and consent) at SUBMITTED."""
    body = CaseCreateSchema().load(case_payload(random.Random(5)))
    submitted = domain.submit_case(
        session, body, principal=None, pepper=PEPPER, clock=lambda: SUBMITTED
    )
    session.commit()
    return submitted.case.reference


def apply(session: Session, *events: Event) -> list[bool]:
    """Apply events as intake's handlers do: each in its own transaction."""
    applied = []
    for event in events:
        applied.append(domain.apply_routing_event(session, CONSUMER, event))
        session.commit()
    session.expunge_all()
    return applied


def case_of(session: Session, reference: str) -> Case:
    session.expunge_all()
    case = domain._load_case(session, reference)
    assert case is not None
    return case


def steps(case: Case) -> list[tuple[Any, ...]]:
    return [
        (entry.status, entry.agency, entry.office, entry.note, entry.outcome)
        for entry in case.timeline
    ]


def referrals(case: Case) -> dict[str, tuple[Any, ...]]:
    return {
        referral.office: (
            referral.status,
            domain.aware(referral.since),
            referral.last_note,
            referral.outcome,
        )
        for referral in case.referrals
    }


def test_a_case_followed_from_routing_to_closing(session, reference):
    dlpw = referral_ref("dlpw", categories=["termination_severance"])
    sso = referral_ref("sso", categories=["social_security_benefit"])
    apply(session, case_routed(reference, [dlpw, sso], at=hour(1)))
    case = case_of(session, reference)
    assert case.status == "routed"
    assert steps(case) == [
        ("received", None, None, None, None),
        ("routed", "dlpw", "dlpw.TH-52", None, None),
        ("routed", "sso", "sso.TH-52", None, None),
    ]
    assert referrals(case) == {
        "dlpw.TH-52": ("pending", hour(1), None, None),
        "sso.TH-52": ("pending", hour(1), None, None),
    }
    [copy] = [r for r in case.referrals if r.agency == "dlpw"]
    assert copy.referral_id == dlpw["referral_id"]
    assert copy.province_code == "TH-52"
    assert copy.categories == ["termination_severance"]
    assert domain.aware(copy.due_resolve_at) == datetime.fromisoformat(
        dlpw["due_resolve_at"]
    )

    apply(
        session,
        referral_status_changed(reference, dlpw, "accepted", at=hour(2)),
        referral_status_changed(
            reference,
            dlpw,
            "in_progress",
            previous_status="accepted",
            note="นัดนายจ้างไกล่เกลี่ย 12 พ.ค.",
            at=hour(3),
        ),
        referral_status_changed(
            reference,
            dlpw,
            "resolved",
            previous_status="in_progress",
            note="นายจ้างจ่ายค่าชดเชยครบแล้ว",
            outcome="resolved",
            at=hour(4),
        ),
        referral_status_changed(
            reference,
            sso,
            "rejected",
            note="ยังไม่ครบเงื่อนไขการส่งเงินสมทบ",
            at=hour(5),
        ),
    )
    case = case_of(session, reference)
    assert case.status == "routed"
    assert steps(case)[3:] == [
        ("accepted", "dlpw", "dlpw.TH-52", None, None),
        ("in_progress", "dlpw", "dlpw.TH-52", "นัดนายจ้างไกล่เกลี่ย 12 พ.ค.", None),
        ("resolved", "dlpw", "dlpw.TH-52", "นายจ้างจ่ายค่าชดเชยครบแล้ว", "resolved"),
        ("rejected", "sso", "sso.TH-52", "ยังไม่ครบเงื่อนไขการส่งเงินสมทบ", None),
    ]
    assert referrals(case) == {
        "dlpw.TH-52": ("resolved", hour(4), "นายจ้างจ่ายค่าชดเชยครบแล้ว", "resolved"),
        "sso.TH-52": ("rejected", hour(5), "ยังไม่ครบเงื่อนไขการส่งเงินสมทบ", None),
    }

    apply(
        session,
        case_closed(
            reference,
            [with_status(dlpw, "resolved")],
            outcomes={dlpw["referral_id"]: "resolved"},
            at=hour(6),
        ),
    )
    case = case_of(session, reference)
    assert case.status == "closed"
    assert steps(case)[-1] == ("closed", None, None, None, None)
    # closing told nothing new about dlpw: its note and since stay
    assert referrals(case)["dlpw.TH-52"] == (
        "resolved",
        hour(4),
        "นายจ้างจ่ายค่าชดเชยครบแล้ว",
        "resolved",
    )


def test_a_status_change_before_case_routed_is_kept(session, reference):
    ref = referral_ref("doe", categories=["job_seeking"])
    apply(
        session,
        referral_status_changed(reference, ref, "accepted", note="รับเรื่อง", at=hour(2)),
        case_routed(reference, [ref], at=hour(1)),
    )
    case = case_of(session, reference)
    assert case.status == "routed"
    # the older snapshot (pending) did not take the referral back
    assert referrals(case) == {"doe.TH-52": ("accepted", hour(2), "รับเรื่อง", None)}
    # the timeline is in the order things happened, not arrived
    assert [s[0] for s in steps(case)] == ["received", "routed", "accepted"]


def test_swapped_status_changes_never_regress_a_referral(session, reference):
    ref = referral_ref("dlpw")
    apply(
        session,
        case_routed(reference, [ref], at=hour(1)),
        referral_status_changed(
            reference, ref, "in_progress", note="ตรวจสถานประกอบการแล้ว", at=hour(3)
        ),
        referral_status_changed(reference, ref, "accepted", note="รับแล้ว", at=hour(2)),
    )
    case = case_of(session, reference)
    assert referrals(case) == {
        "dlpw.TH-52": ("in_progress", hour(3), "ตรวจสถานประกอบการแล้ว", None)
    }
    assert [s[0] for s in steps(case)] == [
        "received",
        "routed",
        "accepted",
        "in_progress",
    ]


def test_changes_stamped_at_the_same_moment_keep_the_later_status(session, reference):
    ref = referral_ref("sso")
    apply(
        session,
        referral_status_changed(
            reference, ref, "resolved", outcome="resolved", at=hour(2)
        ),
        referral_status_changed(reference, ref, "accepted", at=hour(2)),
    )
    assert referrals(case_of(session, reference))["sso.TH-52"][0] == "resolved"


def test_a_late_note_fills_the_gap_a_closing_snapshot_left(session, reference):
    ref = referral_ref("dlpw")
    apply(
        session,
        case_routed(reference, [ref], at=hour(1)),
        # case_closed overtook the resolution it follows from
        case_closed(reference, [with_status(ref, "resolved")], at=hour(5)),
        referral_status_changed(
            reference,
            ref,
            "resolved",
            note="ได้รับเงินแล้ว",
            outcome="resolved",
            at=hour(4),
        ),
    )
    case = case_of(session, reference)
    assert case.status == "closed"
    # resolved since the office said so, as had the events come in order
    assert referrals(case) == {
        "dlpw.TH-52": ("resolved", hour(4), "ได้รับเงินแล้ว", "resolved")
    }
    assert [s[0] for s in steps(case)] == ["received", "routed", "resolved", "closed"]


def test_a_late_change_does_not_reopen_a_closed_case(session, reference):
    ref = referral_ref("dlpw")
    apply(
        session,
        case_closed(reference, [with_status(ref, "resolved")], at=hour(5)),
        referral_status_changed(reference, ref, "in_progress", at=hour(3)),
    )
    case = case_of(session, reference)
    assert case.status == "closed"
    assert referrals(case)["dlpw.TH-52"][0] == "resolved"


def test_a_withdrawn_case_stays_withdrawn_and_its_timeline_grows(session, reference):
    domain.withdraw_case(
        session,
        reference,
        principal=OPERATOR,
        code=None,
        pepper=PEPPER,
        clock=lambda: hour(1.5),
    )
    session.commit()
    ref = referral_ref("dlpw")
    apply(
        session,
        case_routed(reference, [ref], at=hour(1)),
        referral_status_changed(reference, ref, "withdrawn", at=hour(2)),
        case_closed(reference, [with_status(ref, "withdrawn")], at=hour(2)),
    )
    case = case_of(session, reference)
    assert case.status == "withdrawn"
    assert [(s[0], s[1]) for s in steps(case)] == [
        ("received", None),
        ("routed", "dlpw"),
        ("withdrawn", None),
        ("withdrawn", "dlpw"),
        ("closed", None),
    ]


def test_an_overdue_referral_is_escalated_to_the_provincial_office(session, reference):
    sso = referral_ref("sso", province_code="TH-52")
    ops = referral_ref("ops", province_code="TH-52", categories=sso["categories"])
    apply(
        session,
        case_routed(reference, [sso], at=hour(1)),
        referral_overdue(reference, sso, ops, at=hour(400)),
    )
    case = case_of(session, reference)
    assert case.status == "routed"
    [overdue] = [e for e in case.timeline if e.status == "overdue"]
    assert (overdue.agency, overdue.office, overdue.escalated_to) == (
        "sso",
        "sso.TH-52",
        "ops.TH-52",
    )
    assert domain.aware(overdue.occurred_at) == hour(400)
    # the coordinator's new referral is the case's now too
    assert referrals(case) == {
        "sso.TH-52": ("pending", hour(1), None, None),
        "ops.TH-52": ("pending", hour(400), None, None),
    }


def test_an_event_is_applied_once(session, reference):
    event = case_routed(reference, [referral_ref("dsd")], at=hour(1))
    assert apply(session, event, event) == [True, False]
    case = case_of(session, reference)
    assert [s[0] for s in steps(case)] == ["received", "routed"]
    assert session.scalar(select(func.count()).select_from(CaseReferral)) == 1


def test_an_event_about_an_unknown_case_fails_and_leaves_nothing(session, reference):
    event = case_routed("LN-2569-99999999", [referral_ref("dsd")])
    with pytest.raises(domain.UnknownCase):
        domain.apply_routing_event(session, CONSUMER, event)
    session.rollback()
    # not recorded as applied, so a replay from the DLQ will be applied
    assert session.scalar(select(func.count()).select_from(processed_events)) == 0
    assert session.scalar(select(func.count()).select_from(CaseReferral)) == 0


def test_office_notes_are_forgotten_with_the_citizen(session, reference):
    ref = referral_ref("dlpw")
    apply(
        session,
        referral_status_changed(
            reference, ref, "in_progress", note="โทรหาคุณสมชาย 081-234-5678", at=hour(2)
        ),
    )
    domain.erase_personal_data(session, reference, OPERATOR)
    session.commit()
    apply(
        session,
        referral_status_changed(
            reference, ref, "resolved", note="คุณสมชายได้รับเงินแล้ว", at=hour(3)
        ),
    )
    case = case_of(session, reference)
    assert [s[3] for s in steps(case)] == [None, None, None]
    assert referrals(case)["dlpw.TH-52"][:3] == ("resolved", hour(3), None)


def lifecycle(reference: str) -> list[Event]:
    """One case's events from routing, in the order they happened: referred to
    sso, accepted, overdue and escalated to ops, resolved by ops, closed."""
    sso = referral_ref("sso", province_code="TH-52")
    ops = referral_ref("ops", province_code="TH-52", categories=sso["categories"])
    accepted = with_status(sso, "accepted")
    return [
        case_routed(reference, [sso], at=hour(1)),
        referral_status_changed(reference, sso, "accepted", note="รับเรื่อง", at=hour(2)),
        referral_overdue(reference, accepted, ops, at=hour(300)),
        referral_status_changed(
            reference, ops, "resolved", outcome="resolved", note="จบแล้ว", at=hour(310)
        ),
        case_closed(
            reference,
            [with_status(ops, "resolved"), with_status(accepted, "withdrawn")],
            outcomes={ops["referral_id"]: "resolved", sso["referral_id"]: None},
            at=hour(311),
        ),
    ]


def test_every_arrival_order_of_a_case_s_events_gives_the_same_case(session):
    """Each of routing's event types has its own queue: intake ends in the
    same state whatever order the five events of a case arrive in."""
    seen = set()
    orders = list(itertools.permutations(range(5)))
    for order in [orders[0], orders[-1], *random.Random(12).sample(orders, 22)]:
        body = CaseCreateSchema().load(case_payload(random.Random(5)))
        submitted = domain.submit_case(
            session, body, principal=None, pepper=PEPPER, clock=lambda: SUBMITTED
        )
        session.commit()
        reference = submitted.case.reference
        events = lifecycle(reference)
        apply(session, *(events[i] for i in order))
        case = case_of(session, reference)
        seen.add(
            (
                case.status,
                tuple(sorted(referrals(case).items())),
                tuple(steps(case)),
            )
        )
    assert len(seen) == 1, "\n".join(map(repr, seen))
    ((status, offices, timeline),) = seen
    assert status == "closed"
    assert dict(offices) == {
        "sso.TH-52": ("withdrawn", hour(311), None, None),
        "ops.TH-52": ("resolved", hour(310), "จบแล้ว", "resolved"),
    }
    assert [step[0] for step in timeline] == [
        "received",
        "routed",
        "accepted",
        "overdue",
        "resolved",
        "closed",
    ]


# --- the categories routing found, and the offices that have them ------------------


def screened_as(event: Event, labels: dict[str, float]) -> Event:
    """``event`` (a ``case_routed``) with screening's labels as ``labels``."""
    event.payload["screening"]["labels"] = [
        {"category": category, "score": score, "evidence": ["ค่าจ้าง"]}
        for category, score in labels.items()
    ]
    return event


def categories_of(session: Session, reference: str) -> list[dict[str, Any]]:
    """The case view's ``categories``, as the operator reads it."""
    case = domain.case_for_principal(session, reference, OPERATOR)
    categories = views.case_view(case, whole=True)["categories"]
    session.rollback()  # the read's audit entry is not what is compared
    session.expunge_all()
    return list(categories)


def listed(session: Session, **filters: Any) -> list[str]:
    """References ``GET /v1/cases`` lists for an operator with ``filters``."""
    cases, _next = domain.list_cases(session, {"limit": 200, **filters}, OPERATOR)
    references = [case.reference for case in cases]
    session.rollback()
    return references


def rerouted_events(reference: str) -> list[Event]:
    """A case screened as unpaid wages (and working conditions, less sure),
    referred to dlpw in Lampang, which rejects it; routing passes it on to
    Lampang's coordinator, whose referral runs out of time and is escalated
    to the coordinator of Lampang's neighbour province."""
    first = referral_ref("dlpw", categories=["unpaid_wages", "working_conditions"])
    onwards = referral_ref("ops", categories=["unpaid_wages", "working_conditions"])
    escalated = referral_ref(
        "ops", "TH-51", categories=["unpaid_wages", "working_conditions"]
    )
    return [
        screened_as(
            case_routed(reference, [first], at=hour(1)),
            {"unpaid_wages": 0.92, "working_conditions": 0.41},
        ),
        referral_status_changed(
            reference, first, "rejected", note="ไม่ใช่เขตของเรา", at=hour(2)
        ),
        screened_as(
            case_routed(reference, [onwards], at=hour(2)),
            {"unpaid_wages": 0.92, "working_conditions": 0.41},
        ),
        referral_overdue(reference, onwards, escalated, at=hour(50)),
    ]


def test_a_case_without_a_category_is_found_by_the_one_routing_found(
    session: Session, reference: str
) -> None:
    assert listed(session, category="unpaid_wages") == []
    [routed] = rerouted_events(reference)[:1]
    apply(session, routed)
    assert listed(session, category="unpaid_wages") == [reference]
    assert listed(session, category="working_conditions") == [reference]
    assert listed(session, category="job_seeking") == []
    case = domain.case_for_principal(session, reference, OPERATOR)
    view = views.case_view(case, whole=True)
    session.rollback()
    assert view["category"] is None  # what the citizen gave: nothing
    assert view["categories"] == [
        {
            "category": "unpaid_wages",
            "score": 0.92,
            "referred": True,
            "offices": [
                {"office": "dlpw.TH-52", "agency": "dlpw", "province_code": "TH-52"}
            ],
        },
        {
            "category": "working_conditions",
            "score": 0.41,
            "referred": True,
            "offices": [
                {"office": "dlpw.TH-52", "agency": "dlpw", "province_code": "TH-52"}
            ],
        },
    ]
    [row] = [
        views.summary_view(c)
        for c in domain.list_cases(session, {"category": "unpaid_wages"}, OPERATOR)[0]
    ]
    assert row["category"] is None
    assert row["categories"] == ["unpaid_wages", "working_conditions"]


def test_the_given_category_still_finds_the_case(session: Session) -> None:
    body = CaseCreateSchema().load(
        case_payload(random.Random(6), category="social_security_benefit")
    )
    given = domain.submit_case(
        session, body, principal=None, pepper=PEPPER, clock=lambda: SUBMITTED
    ).case.reference
    session.commit()
    assert listed(session, category="social_security_benefit") == [given]
    # routing agreed and found one more: both categories find it, once
    sso = referral_ref("sso", categories=["social_security_benefit", "work_injury"])
    apply(session, case_routed(given, [sso], at=hour(1)))
    assert listed(session, category="social_security_benefit") == [given]
    assert listed(session, category="work_injury") == [given]


def test_a_reroute_and_an_escalation_move_the_offices(
    session: Session, reference: str
) -> None:
    routed, rejected, onwards, overdue = rerouted_events(reference)
    apply(session, routed, rejected, onwards)
    [wages, _conditions] = categories_of(session, reference)
    # the office that rejected it is no longer listed; the next one is
    assert [o["office"] for o in wages["offices"]] == ["ops.TH-52"]
    apply(session, overdue)
    [wages, conditions] = categories_of(session, reference)
    assert [o["office"] for o in wages["offices"]] == ["ops.TH-52", "ops.TH-51"]
    assert conditions["offices"] == wages["offices"]
    assert listed(session, category="unpaid_wages") == [reference]


def test_the_same_event_twice_leaves_one_row_per_category(
    session: Session, reference: str
) -> None:
    routed = rerouted_events(reference)[0]
    assert apply(session, routed, routed) == [True, False]
    rows = session.execute(
        select(CaseCategory.category, func.count())
        .join(Case, Case.id == CaseCategory.case_id)
        .group_by(CaseCategory.category)
    ).all()
    assert sorted(rows) == [("unpaid_wages", 1), ("working_conditions", 1)]


def test_any_order_of_arrival_ends_in_the_same_categories_and_offices(
    session: Session,
) -> None:
    seen = []
    for order in itertools.permutations(range(4)):
        body = CaseCreateSchema().load(case_payload(random.Random(7)))
        reference = domain.submit_case(
            session, body, principal=None, pepper=PEPPER, clock=lambda: SUBMITTED
        ).case.reference
        session.commit()
        events = rerouted_events(reference)
        apply(session, *(events[i] for i in order))
        seen.append(categories_of(session, reference))
    assert all(categories == seen[0] for categories in seen)
    assert [c["category"] for c in seen[0]] == ["unpaid_wages", "working_conditions"]
    assert [o["office"] for o in seen[0][0]["offices"]] == ["ops.TH-52", "ops.TH-51"]
