"""notify's rules without a broker: planning deliveries, quiet hours,
backoff, and the pausing of a webhook endpoint that keeps failing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select

from labornet_notify import domain
from labornet_notify.domain import deliveries
from labornet_notify.models import Delivery
from labornet_shared.events import ERASED_TEXT
from labornet_shared.tokens import Principal
from labornet_testkit.routing import agent_event, case_received_event

OPERATOR = Principal(scope="operator", subject="ops")
WINDOW = timedelta(hours=24)


def line_agent(agent_id: str = "agent-1") -> object:
    contact = {"phone": "+66812345678", "email": None, "line_user_id": "U" + "b" * 32}
    return agent_event(agent_id=agent_id, contact=contact)


def test_a_redelivered_event_plans_nothing_more(session) -> None:
    deliveries.apply_agent(session, line_agent())
    case = case_received_event()
    deliveries.remember_case(session, case)
    first = deliveries.plan(session, case, retry_window=WINDOW)
    again = deliveries.plan(session, case, retry_window=WINDOW)
    assert (first, again) == (2, 0)  # the citizen and the area's agent
    planned = session.scalars(select(Delivery)).all()
    assert {(d.recipient_kind, d.channel) for d in planned} == {
        ("citizen", "auto"),
        ("area_agents", "line"),
    }


def test_an_agent_abroad_speaking_no_language_of_the_templates_hears_in_thai(
    session,
) -> None:
    # a volunteer in Finland (th is not always listed first, fi has no
    # templates): Myanmar, English or Thai, whichever they speak, else Thai
    contact = {"phone": "+66812345678", "email": None, "line_user_id": None}
    for agent_id, languages, expected in (
        ("agent-fi", ["fi", "sv"], "th"),
        ("agent-fi-en", ["fi", "en"], "en"),
    ):
        deliveries.apply_agent(
            session,
            agent_event(agent_id=agent_id, contact=contact, languages=languages),
        )
        case = case_received_event()
        deliveries.remember_case(session, case)
        deliveries.plan(session, case, retry_window=WINDOW)
        planned = {
            d.language
            for d in session.scalars(select(Delivery))
            if d.recipient_id == agent_id
        }
        assert planned == {expected}, languages


def test_the_submitting_agent_is_not_told_of_their_own_new_case(session) -> None:
    deliveries.apply_agent(session, line_agent("agent-1"))
    case = case_received_event(submitted_by_agent_id="agent-1")
    deliveries.remember_case(session, case)
    deliveries.plan(session, case, retry_window=WINDOW)
    kinds = [d.recipient_kind for d in session.scalars(select(Delivery))]
    assert kinds == ["citizen"]


def test_an_erasure_wipes_the_description_kept_with_the_deliveries(session) -> None:
    deliveries.apply_agent(session, line_agent())
    words = "คุณสมชาย บ้านเลขที่ 99 นายจ้างค้างค่าจ้าง"
    case = case_received_event(description=words)
    other = case_received_event(description=words)
    for event in (case, other):
        deliveries.remember_case(session, event)
        deliveries.plan(session, event, retry_window=WINDOW)
    session.flush()
    assert deliveries.erase_case_text(session, case.payload["reference"]) == 2
    session.flush()
    session.expire_all()
    kept = {
        d.case_reference: d.event["payload"]["description"]
        for d in session.scalars(select(Delivery))
    }
    # only the erased case's copies; another citizen's case is untouched
    assert kept == {
        case.payload["reference"]: ERASED_TEXT,
        other.payload["reference"]: words,
    }
    # the rest of the event stays for the messages still to send
    row = session.scalars(
        select(Delivery).where(Delivery.case_reference == case.payload["reference"])
    ).first()
    assert row is not None
    assert row.event["payload"]["location"] == case.payload["location"]


def test_quiet_hours_wait_for_the_morning_in_bangkok() -> None:
    hours = (time(21, 0), time(8, 0))
    night = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)  # 22:30 in Bangkok
    assert deliveries.quiet_until(night, hours) == datetime(
        2026, 11, 27, 1, 0, tzinfo=UTC
    )  # 08:00 in Bangkok
    day = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # 10:00 in Bangkok
    assert deliveries.quiet_until(day, hours) is None
    assert deliveries.quiet_until(night, None) is None


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    rng = random.Random(1)
    waits = [deliveries.backoff(n, 5.0, 60.0, rng) for n in range(1, 8)]
    assert 2.5 <= waits[0] <= 5.0  # the first retry within 10 seconds
    assert all(w <= 60.0 for w in waits)
    assert waits[4] >= 30.0  # 5 * 2**4 = 80, capped at 60, jitter above half


def test_an_endpoint_failing_for_a_day_is_paused(session) -> None:
    found, _secret = domain.create_subscription(
        session,
        OPERATOR,
        url="http://127.0.0.1:9/hooks",
        agency="sso",
        provinces=[],
        event_types=[],
        allow_local=True,
    )
    start = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
    assert not domain.webhook_failed(session, found.id, clock=lambda: start)
    later = start + timedelta(hours=23)
    assert not domain.webhook_failed(session, found.id, clock=lambda: later)
    assert found.status == "active"
    a_day = start + timedelta(days=1, minutes=1)
    assert domain.webhook_failed(session, found.id, clock=lambda: a_day)
    assert (found.status, found.paused_reason) == ("paused", "failing for a day")
    # one success in between starts the day again
    resumed = domain.set_status(session, found.id, "active")
    domain.webhook_failed(session, found.id, clock=lambda: a_day)
    domain.webhook_succeeded(session, found.id)
    assert resumed.failing_since is None


def _claimed_and_abandoned(session) -> dict[str, Delivery]:
    """A new case's deliveries (the citizen's, an SMS-only agent's) claimed
    by a sender that then died: its lease ran out. By recipient kind."""
    contact = {"phone": "+66812345678", "email": None, "line_user_id": None}
    deliveries.apply_agent(session, agent_event(agent_id="agent-1", contact=contact))
    case = case_received_event()
    deliveries.remember_case(session, case)
    deliveries.plan(session, case, retry_window=WINDOW)
    then = datetime.now(UTC)
    claimed = deliveries.claim_due(
        session, 10, timedelta(seconds=60), clock=lambda: then
    )
    assert len(claimed) == 2
    return {d.recipient_kind: d for d in session.scalars(select(Delivery)).all()}


def later() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=2)


def test_a_sender_lost_before_calling_its_provider_leaves_the_row_due(
    session,
) -> None:
    rows = _claimed_and_abandoned(session)
    # the citizen's SMS was on its way (its provider called: the sender
    # marks it so, see test_interrupted); the agent's SMS was still waiting
    # for its contact and message
    assert rows["area_agents"].channel == "sms"
    rows["citizen"].sent_channel = "sms"
    session.flush()
    deliveries.recover_interrupted(session, clock=later)
    session.flush()
    session.expire_all()
    assert rows["area_agents"].status == "pending"  # nothing left: sent again
    assert rows["citizen"].status == deliveries.INTERRUPTED
    assert rows["citizen"].last_error == "sender_lost"


def test_a_citizen_notice_lost_mid_call_on_line_is_sent_again(session) -> None:
    # a citizen's delivery is on "auto" until the sender reads their
    # contact: LINE drops a repeat (its retry key), so it is sent again
    rows = _claimed_and_abandoned(session)
    assert rows["citizen"].channel == deliveries.CITIZENS_CHOICE
    rows["citizen"].sent_channel = "line"
    session.flush()
    deliveries.recover_interrupted(session, clock=later)
    session.flush()
    session.expire_all()
    assert rows["citizen"].status == "pending"
