"""routing's rules and state changes on its migrated database (SQLite, or
PostgreSQL with LABORNET_TEST_DB_URL), with a fake screening classifier."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from labornet_routing import domain, versions
from labornet_routing.models import Base, Referral, RoutedCase, outbox_messages
from labornet_shared.consumer import PrerequisiteMissing
from labornet_shared.db import make_engine
from labornet_shared.events import make_event, parse_event
from labornet_shared.outbox import bind_outbox
from labornet_shared.tokens import Principal
from labornet_shared.written_language import written_language
from labornet_testkit.routing import agent_event, case_received_event

OPERATOR = Principal(scope="operator", subject="operator-somsri")
DLPW = Principal(scope="agency", subject="dlpw", agency="dlpw")
DLPW_LAMPANG = Principal(
    scope="agency", subject="dlpw", agency="dlpw", province="TH-52"
)
SSO_CHIANG_MAI = Principal(
    scope="agency", subject="sso", agency="sso", province="TH-50"
)


class FakeClassifier:
    """Finds the categories it was given, as the real one would."""

    def __init__(self, *categories: str, needs_review: bool = False) -> None:
        self.categories = categories or ("unpaid_wages",)
        self.needs_review = needs_review

    def screen(self, description: str, category: str | None = None) -> Any:
        # the language as the real one reads it: the shared rule
        language = written_language(description) or "th"
        if category is not None:
            return SimpleNamespace(
                labels=(SimpleNamespace(category=category, score=1.0, evidence=()),),
                needs_review=False,
                method="given",
                language=language,
            )
        return SimpleNamespace(
            labels=tuple(
                SimpleNamespace(category=c, score=0.9, evidence=("เลิกจ้าง",))
                for c in self.categories
            ),
            needs_review=self.needs_review,
            method="lexicon",
            language=language,
        )


THREE_PROBLEMS = FakeClassifier(
    "termination_severance", "social_security_benefit", "job_seeking"
)


@pytest.fixture
def engine(routing_db: str) -> Iterator[Any]:
    engine = make_engine(routing_db, pool_size=4)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        bind_outbox(session, Base.metadata)
        yield session


def outbox(session: Session) -> list[tuple[str, str, Any]]:
    """(exchange, routing key, parsed event) of everything in the outbox."""
    session.flush()
    rows = session.execute(
        select(
            outbox_messages.c.exchange,
            outbox_messages.c.routing_key,
            outbox_messages.c.body,
        ).order_by(outbox_messages.c.id)
    ).all()
    return [(x, key, parse_event(json.loads(body))) for x, key, body in rows]


def referrals_of(session: Session, reference: str) -> dict[str, Referral]:
    return {
        r.office: r
        for r in session.scalars(
            select(Referral).where(Referral.case_reference == reference)
        )
    }


def test_a_case_with_three_problems_gets_one_referral_per_office(session) -> None:
    event = case_received_event()
    case = domain.receive_case(session, event, THREE_PROBLEMS)
    assert case is not None
    assert set(referrals_of(session, case.reference)) == {
        "dlpw.TH-52",
        "sso.TH-52",
        "doe.TH-52",
    }
    sent = outbox(session)
    routed = [e for x, _key, e in sent if e.event_type == "case_routed"]
    assert len(routed) == 1 and routed[0].correlation_id == case.reference
    issued = {key for x, key, e in sent if x == "labornet.referrals"}
    assert issued == {
        "dlpw.TH-52.termination_severance",
        "sso.TH-52.social_security_benefit",
        "doe.TH-52.job_seeking",
    }
    message = next(e for x, _k, e in sent if e.event_type == "referral_issued")
    assert message.payload["labels"][0]["evidence"] == ["เลิกจ้าง"]
    assert message.payload["description"] == event.payload["description"]


def test_the_case_keeps_the_language_screening_read_and_case_routed_tells_it(
    session,
) -> None:
    # a Myanmar worker who chose no language: intake read it too
    event = case_received_event(
        description="အလုပ်ရှင်က လစာ နှစ်လ မပေးသေးပါ ลำปาง",
        language="my",
        language_chosen=False,
    )
    case = domain.receive_case(session, event, THREE_PROBLEMS)
    assert case is not None
    assert (case.language, case.language_chosen, case.screened_language) == (
        "my",
        False,
        "my",
    )
    [routed] = [e for _x, _k, e in outbox(session) if e.event_type == "case_routed"]
    assert routed.schema_version == 2
    assert routed.payload["screening"]["language"] == "my"
    # a case intake still sends as v1 is screened the same way
    old = make_event(
        "case_received",
        {
            k: v
            for k, v in case_received_event(
                description="Unpaid for two months"
            ).payload.items()
            if k != "language_chosen"
        },
        schema_version=1,
    )
    case = domain.receive_case(session, old, THREE_PROBLEMS)
    assert case is not None
    assert (case.language_chosen, case.screened_language) == (True, "en")


def test_a_case_screened_before_languages_were_read_is_referred_on_with_none(
    session,
) -> None:
    """A case routed before the upgrade has no screened language: when an
    office rejects it onwards, ``case_routed`` v2 says null, not a guess."""
    case = domain.receive_case(
        session, case_received_event(), FakeClassifier("skill_training")
    )
    assert case is not None
    case.screened_language = None  # as the migration left it
    first = referrals_of(session, case.reference)["dsd.TH-52"]
    domain.act_on_referral(session, first.id, OPERATOR, "reject", note="not ours")
    told = [
        e.payload["screening"]
        for _x, _k, e in outbox(session)
        if e.event_type == "case_routed"
    ]
    assert [s["language"] for s in told] == ["th", None]
    assert told[1]["labels"] == told[0]["labels"]


def test_the_same_case_is_never_referred_twice(session) -> None:
    event = case_received_event()
    domain.receive_case(session, event, THREE_PROBLEMS)
    again = case_received_event(reference=event.payload["reference"])
    assert domain.receive_case(session, again, THREE_PROBLEMS) is None
    assert len(referrals_of(session, event.payload["reference"])) == 3


def test_a_category_given_by_the_citizen_is_kept(session) -> None:
    case = domain.receive_case(
        session, case_received_event(category="work_injury"), THREE_PROBLEMS
    )
    assert set(referrals_of(session, case.reference)) == {"sso.TH-52"}
    assert case.screening["method"] == "given"


def test_low_confidence_goes_to_ops_flagged(session) -> None:
    unsure = FakeClassifier("general_inquiry", needs_review=True)
    case = domain.receive_case(session, case_received_event(), unsure)
    (referral,) = referrals_of(session, case.reference).values()
    assert (referral.office, referral.needs_review) == ("ops.TH-52", True)


def test_the_standing_rules_send_workers_abroad_overseas(session) -> None:
    case = domain.receive_case(
        session, case_received_event(abroad_country="TW"), THREE_PROBLEMS
    )
    assert set(referrals_of(session, case.reference)) == {"doe.overseas"}
    keys = {key for x, key, _e in outbox(session) if x == "labornet.referrals"}
    assert keys == {"doe.TH-52.termination_severance"}


def test_an_office_sees_and_changes_only_its_own_referrals(session) -> None:
    case = domain.receive_case(session, case_received_event(), THREE_PROBLEMS)
    dlpw = referrals_of(session, case.reference)["dlpw.TH-52"]
    with pytest.raises(domain.ReferralNotFound):
        domain.act_on_referral(session, dlpw.id, SSO_CHIANG_MAI, "accept")
    domain.act_on_referral(session, dlpw.id, DLPW_LAMPANG, "accept")
    with pytest.raises(domain.IllegalTransition) as raised:
        domain.act_on_referral(session, dlpw.id, DLPW, "accept")
    assert raised.value.status == "accepted"
    mine, _next = domain.list_referrals(session, DLPW_LAMPANG, {}, 50, None)
    assert [r.office for r in mine] == ["dlpw.TH-52"]


def test_a_rejected_referral_goes_onwards_and_never_back(session) -> None:
    case = domain.receive_case(
        session, case_received_event(), FakeClassifier("skill_training")
    )
    domain.add_rule(
        session, OPERATOR, kind="override", category="skill_training", agency="doe"
    )
    first = referrals_of(session, case.reference)["dsd.TH-52"]
    domain.act_on_referral(session, first.id, OPERATOR, "reject", note="not ours")
    # the rule now says doe; dsd rejected it already
    second = referrals_of(session, case.reference)["doe.TH-52"]
    assert (second.hop, second.replaces) == (2, first.id)
    domain.act_on_referral(session, second.id, OPERATOR, "reject", note="no")
    third = referrals_of(session, case.reference)["ops.TH-52"]
    assert (third.hop, third.needs_review) == (3, True)
    changes = [
        e.payload["referral"]["status"]
        for _x, _k, e in outbox(session)
        if e.event_type == "referral_status_changed"
    ]
    assert changes.count("rejected") == 4  # each on routing.events and to the office
    # intake hears of each onward referral, to show it and to let that office
    # ask for the contact
    routed = [
        [r["office"] for r in e.payload["referrals"]]
        for _x, _k, e in outbox(session)
        if e.event_type == "case_routed"
    ]
    assert routed == [["dsd.TH-52"], ["doe.TH-52"], ["ops.TH-52"]]


def test_the_last_resolution_closes_the_case(session) -> None:
    case = domain.receive_case(
        session, case_received_event(), FakeClassifier("unpaid_wages", "job_seeking")
    )
    offices = referrals_of(session, case.reference)
    for referral in offices.values():
        domain.act_on_referral(session, referral.id, OPERATOR, "accept")
    domain.act_on_referral(
        session, offices["dlpw.TH-52"].id, OPERATOR, "resolve", outcome="resolved"
    )
    assert not [e for _x, _k, e in outbox(session) if e.event_type == "case_closed"]
    domain.act_on_referral(
        session,
        offices["doe.TH-52"].id,
        OPERATOR,
        "resolve",
        outcome="not_eligible",
    )
    (closed,) = [e for _x, _k, e in outbox(session) if e.event_type == "case_closed"]
    assert set(closed.payload["outcomes"].values()) == {"resolved", "not_eligible"}
    assert session.get(RoutedCase, case.reference).status == "closed"


def test_a_withdrawn_case_withdraws_its_open_referrals(session) -> None:
    received = case_received_event()
    case = domain.receive_case(session, received, THREE_PROBLEMS)
    withdrawn = SimpleNamespace(payload={"reference": case.reference})
    assert domain.withdraw_case(session, withdrawn) == 3  # type: ignore[arg-type]
    to_offices = [
        key
        for x, key, e in outbox(session)
        if x == "labornet.referrals" and e.event_type == "referral_status_changed"
    ]
    assert sorted(to_offices) == [
        "dlpw.TH-52.termination_severance",
        "doe.TH-52.job_seeking",
        "sso.TH-52.social_security_benefit",
    ]


# --- SLA clocks --------------------------------------------------------------


def later(days: int) -> Any:
    return lambda: datetime.now(UTC) + timedelta(days=days)


def test_an_overdue_referral_is_escalated_once(session) -> None:
    case = domain.receive_case(
        session, case_received_event(), FakeClassifier("unpaid_wages")
    )
    assert domain.check_overdue(session) == []
    escalations = domain.check_overdue(session, clock=later(10))
    assert [(e.clock, e.escalated_to) for e in escalations] == [("accept", "ops.TH-52")]
    # not again: the same moment, and an hour on (ops's own referral has at
    # least a working day; a whole day on it may be due, whatever the hour)
    assert domain.check_overdue(session, clock=later(10)) == []
    an_hour_on = later(10)() + timedelta(hours=1)
    assert domain.check_overdue(session, clock=lambda: an_hour_on) == []
    (overdue,) = [
        e for _x, _k, e in outbox(session) if e.event_type == "referral_overdue"
    ]
    assert overdue.payload["escalated_to"]["office"] == "ops.TH-52"
    assert "ops.TH-52.unpaid_wages" in {
        key for x, key, _e in outbox(session) if x == "labornet.referrals"
    }
    assert set(referrals_of(session, case.reference)) == {"dlpw.TH-52", "ops.TH-52"}


def test_two_instances_escalate_each_referral_once(engine) -> None:
    with Session(engine) as session:
        bind_outbox(session, Base.metadata)
        for _ in range(5):
            domain.receive_case(
                session, case_received_event(), FakeClassifier("unpaid_wages")
            )
        session.commit()
    results: list[int] = []
    barrier = threading.Barrier(2)

    def instance() -> None:
        with Session(engine) as session:
            bind_outbox(session, Base.metadata)
            barrier.wait()
            results.append(len(domain.check_overdue(session, clock=later(10))))
            session.commit()

    threads = [threading.Thread(target=instance) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(results) == 5
    with Session(engine) as session:
        bind_outbox(session, Base.metadata)
        overdue = [
            e for _x, _k, e in outbox(session) if e.event_type == "referral_overdue"
        ]
    assert len(overdue) == 5
    assert len({e.payload["referral"]["referral_id"] for e in overdue}) == 5


# --- registry's agents -------------------------------------------------------


def test_the_follow_up_agent_is_the_most_specific_speaker(session) -> None:
    domain.apply_agent(session, agent_event(agent_id="volunteer-th"))
    domain.apply_agent(
        session,
        agent_event(
            agent_id="graduate-my",
            kind="labour_graduate",
            languages=["th", "my"],
            areas=[
                {
                    "province_code": "TH-52",
                    "district_code": None,
                    "subdistrict_code": None,
                }
            ],
        ),
    )
    thai = domain.receive_case(session, case_received_event(), THREE_PROBLEMS)
    burmese = domain.receive_case(
        session, case_received_event(language="my"), THREE_PROBLEMS
    )
    assert {r.agent_id for r in referrals_of(session, thai.reference).values()} == {
        "volunteer-th"
    }
    assert {r.agent_id for r in referrals_of(session, burmese.reference).values()} == {
        "graduate-my"
    }


def test_a_referral_names_its_follow_up_agent_by_id_only(session) -> None:
    contact = {"phone": "+66812345678", "email": None, "line_user_id": "U" + "2" * 32}
    domain.apply_agent(session, agent_event(contact=contact))
    case = domain.receive_case(session, case_received_event(), THREE_PROBLEMS)
    assert case is not None
    issued = [
        (exchange, e)
        for exchange, _k, e in outbox(session)
        if e.event_type == "referral_issued"
    ]
    # three offices' queues, and routing.events for notify
    assert sorted(exchange for exchange, _e in issued) == (
        ["labornet.referrals"] * 3 + ["routing.events"] * 3
    )
    for _exchange, event in issued:
        assert event.schema_version == 2
        assert event.payload["follow_up_agent"] == {
            "agent_id": "agent-0001",
            "kind": "labour_volunteer",
        }
        body = json.dumps(event.to_body(), ensure_ascii=False)
        for personal in ("สมชาย", "ใจดี", "812345678", "U" + "2" * 32):
            assert personal not in body


def test_an_older_agent_snapshot_never_overwrites_a_newer_one(session) -> None:
    domain.apply_agent(session, agent_event(revision=3, languages=["th", "km"]))
    assert not domain.apply_agent(
        session, agent_event("agent_updated", revision=2, languages=["th"])
    )
    domain.apply_agent(session, _deactivated("agent-0001", 4))
    case = domain.receive_case(session, case_received_event(), THREE_PROBLEMS)
    assert {r.agent_id for r in referrals_of(session, case.reference).values()} == {
        None
    }


def _deactivated(agent_id: str, revision: int) -> Any:
    return make_event(
        "agent_deactivated",
        {
            "agent_id": agent_id,
            "revision": revision,
            "kind": "labour_volunteer",
            "reason": None,
            "deactivated_at": datetime.now(UTC).isoformat(),
        },
    )


# --- concurrent changes and events out of order ------------------------------


def test_an_action_meant_for_a_state_that_is_gone_changes_nothing(session) -> None:
    case = domain.receive_case(
        session, case_received_event(), FakeClassifier("unpaid_wages")
    )
    (referral,) = referrals_of(session, case.reference).values()
    as_issued = referral.version
    # the accept clock ran out and the referral was escalated meanwhile
    assert len(domain.check_overdue(session, clock=later(10))) == 1
    with pytest.raises(domain.ReferralChanged) as raised:
        domain.act_on_referral(
            session, referral.id, DLPW, "accept", expected_version=as_issued
        )
    assert (raised.value.status, raised.value.version) == ("pending", as_issued + 1)
    assert not [
        e for _x, _k, e in outbox(session) if e.event_type == "referral_status_changed"
    ]
    # an office that saw the escalation may still take its referral
    domain.act_on_referral(
        session, referral.id, DLPW, "accept", expected_version=as_issued + 1
    )
    assert referral.status == "accepted"


def test_an_escalation_claims_only_the_state_it_read(session) -> None:
    case = domain.receive_case(
        session, case_received_event(), FakeClassifier("unpaid_wages")
    )
    (referral,) = referrals_of(session, case.reference).values()
    domain.act_on_referral(session, referral.id, DLPW, "accept")
    # what an SLA check that read "pending" just before would claim: nothing
    assert not versions.compare_and_set(
        session,
        referral,
        referral.version - 1,
        Referral.status == "pending",
        accept_overdue_at=datetime.now(UTC),
    )
    assert domain.check_overdue(session, clock=later(10)) == []
    assert referral.accept_overdue_at is None


def test_a_withdrawal_leaves_a_closed_case_closed(session) -> None:
    case = domain.receive_case(
        session, case_received_event(), FakeClassifier("unpaid_wages")
    )
    (referral,) = referrals_of(session, case.reference).values()
    domain.act_on_referral(session, referral.id, DLPW, "accept")
    domain.act_on_referral(session, referral.id, DLPW, "resolve", outcome="resolved")
    withdrawn = SimpleNamespace(payload={"reference": case.reference})
    assert domain.withdraw_case(session, withdrawn) == 0  # type: ignore[arg-type]
    assert session.get(RoutedCase, case.reference).status == "closed"
    assert referral.status == "resolved"


def test_events_before_their_case_wait_for_it(session) -> None:
    early = SimpleNamespace(payload={"reference": "LN-2569-99999999"})
    with pytest.raises(PrerequisiteMissing):
        domain.withdraw_case(session, early)  # type: ignore[arg-type]
    with pytest.raises(PrerequisiteMissing):
        domain.erase_case_text(session, early)  # type: ignore[arg-type]


def test_a_deactivation_before_the_registration_keeps_the_agent_out(session) -> None:
    assert domain.apply_agent(session, _deactivated("agent-0001", 2))
    assert not domain.apply_agent(session, agent_event(revision=1))
    case = domain.receive_case(session, case_received_event(), THREE_PROBLEMS)
    assert {r.agent_id for r in referrals_of(session, case.reference).values()} == {
        None
    }
    # a newer snapshot (reactivated) counts again
    assert domain.apply_agent(session, agent_event("agent_updated", revision=3))
    case = domain.receive_case(session, case_received_event(), THREE_PROBLEMS)
    assert {r.agent_id for r in referrals_of(session, case.reference).values()} == {
        "agent-0001"
    }
