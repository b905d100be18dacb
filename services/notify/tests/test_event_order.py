"""Events of one case arrive in any order: each event type has its own queue.

A ``case_routed`` (or a withdrawal, a closing, an office's answer) that comes
before its ``case_received`` is not acknowledged with nobody told: it plans
nothing, is retried, and plans the citizen's "your case was referred"
exactly once after ``case_received``. A notice that finds nobody for a case
notify knows is counted with its reason.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from nameko.testing.services import entrypoint_hook
from prometheus_client import REGISTRY
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from labornet_notify.domain import deliveries
from labornet_notify.models import Delivery
from labornet_notify.service import NotifyService
from labornet_shared.consumer import PrerequisiteMissing
from labornet_shared.db import normalise_url
from labornet_shared.events import Event, make_event
from labornet_shared.tokens import issue_token
from labornet_testkit.harness import publish_event, wait_until
from labornet_testkit.routing import case_received_event

WINDOW = timedelta(hours=24)
_numbers = itertools.count(1)


def referral(status: str = "pending") -> dict[str, Any]:
    """A referral as routing's events name it."""
    return {
        "referral_id": f"0193f0c2-7a6e-7c3b-9a51-{next(_numbers):012d}",
        "agency": "dlpw",
        "province_code": "TH-52",
        "office": "dlpw.TH-52",
        "categories": ["unpaid_wages"],
        "status": status,
        "due_accept_at": "2026-11-30T10:00:00+00:00",
        "due_resolve_at": "2026-12-17T10:00:00+00:00",
        "agent_id": None,
    }


def case_routed(reference: str) -> Event:
    """routing's ``case_routed`` for ``reference``: one office."""
    payload = {
        "reference": reference,
        "screening": {
            "method": "lexicon",
            "needs_review": False,
            "labels": [
                {"category": "unpaid_wages", "score": 0.92, "evidence": ["ค้างจ่าย"]}
            ],
            "language": "th",
        },
        "referrals": [referral()],
        "routed_at": "2026-11-26T03:16:00+00:00",
    }
    return make_event("case_routed", payload, reference)


def withdrawn(reference: str) -> Event:
    """intake's ``case_withdrawn`` (by the citizen)."""
    payload = {
        "reference": reference,
        "withdrawn_at": "2026-11-27T02:00:00+00:00",
        "withdrawn_by": "citizen",
    }
    return make_event("case_withdrawn", payload, reference)


def not_planned(event_type: str, message: str, reason: str) -> float:
    """The counter of notices planned for nobody, as /metrics shows it."""
    value = REGISTRY.get_sample_value(
        "labornet_notify_notices_not_planned_total",
        {"event_type": event_type, "message": message, "reason": reason},
    )
    return value or 0.0


def referred_notices(session: Session, reference: str) -> list[Delivery]:
    return list(
        session.scalars(
            select(Delivery).where(
                Delivery.case_reference == reference,
                Delivery.message == "case_referred",
            )
        )
    )


# --- the rule, on a session ----------------------------------------------------


def test_a_case_routed_before_its_case_is_known_waits(session) -> None:
    received = case_received_event()
    reference = received.payload["reference"]
    routed = case_routed(reference)
    waiting = not_planned("case_routed", "any", "case_not_received_yet")
    with pytest.raises(PrerequisiteMissing, match=reference):
        deliveries.plan(session, routed, retry_window=WINDOW)
    assert referred_notices(session, reference) == []
    assert not_planned("case_routed", "any", "case_not_received_yet") == waiting + 1
    deliveries.remember_case(session, received)
    deliveries.plan(session, received, retry_window=WINDOW)
    assert deliveries.plan(session, routed, retry_window=WINDOW) >= 1
    assert deliveries.plan(session, routed, retry_window=WINDOW) == 0
    (notice,) = referred_notices(session, reference)
    assert notice.recipient_kind == "citizen"


def test_a_withdrawal_before_its_case_is_known_waits_too(session) -> None:
    received = case_received_event()
    reference = received.payload["reference"]
    with pytest.raises(PrerequisiteMissing):
        deliveries.note_case_state(session, withdrawn(reference))
    deliveries.remember_case(session, received)
    deliveries.note_case_state(session, withdrawn(reference))
    # a withdrawn case's citizen hears no more: known, and counted as such
    before = not_planned("case_routed", "case_referred", "case_withdrawn")
    deliveries.plan(session, case_routed(reference), retry_window=WINDOW)
    assert referred_notices(session, reference) == []
    assert not_planned("case_routed", "case_referred", "case_withdrawn") == before + 1


def test_a_closing_before_its_case_is_known_waits(session) -> None:
    reference = "LN-2569-00000999"
    closed = make_event(
        "case_closed",
        {
            "reference": reference,
            "referrals": [],
            "outcomes": {},
            "closed_at": "2026-11-26T08:00:00+00:00",
        },
        reference,
    )
    with pytest.raises(PrerequisiteMissing):
        deliveries.note_case_state(session, closed)
    with pytest.raises(PrerequisiteMissing):
        deliveries.plan(session, closed, retry_window=WINDOW)


def test_an_office_s_change_needs_no_case_and_says_why_nobody_hears(
    session, caplog
) -> None:
    """A withdrawn referral is told only to agencies' webhooks, which need
    the referral, not the case: with no subscription nothing is planned, and
    the reason is counted and logged (no retry)."""
    reference = "LN-2569-00000998"
    change = make_event(
        "referral_status_changed",
        {
            "referral": referral("withdrawn"),
            "reference": reference,
            "previous_status": "pending",
            "note": None,
            "outcome": None,
            "changed_by": "system",
            "changed_at": "2026-11-26T08:00:00+00:00",
        },
        reference,
    )
    labels = ("referral_status_changed", "referral_changed", "no_subscription")
    before = not_planned(*labels)
    caplog.set_level("INFO", logger="labornet.notify.deliveries")
    assert deliveries.plan(session, change, retry_window=WINDOW) == 0
    assert not_planned(*labels) == before + 1
    assert "referral_changed:no_subscription" in caplog.text


# --- through the service: its handlers, then real queues ------------------------


def test_the_handlers_plan_the_referred_notice_once_whatever_the_order(
    container_factory, notify_config
) -> None:
    container = container_factory(NotifyService, notify_config)
    container.start()
    received = case_received_event()
    reference = received.payload["reference"]
    routed = case_routed(reference)
    with (
        pytest.raises(PrerequisiteMissing),
        entrypoint_hook(container, "on_case_routed") as handle,
    ):
        handle(routed)
    with entrypoint_hook(container, "on_case_received") as handle:
        handle(received)
    for _ in range(2):  # the retry, and a redelivery of it
        with entrypoint_hook(container, "on_case_routed") as handle:
            handle(routed)
    engine = create_engine(normalise_url(notify_config["DATABASE_URL"]))
    with Session(engine) as session:
        (notice,) = referred_notices(session, reference)
    engine.dispose()
    assert notice.event_id == routed.event_id


def test_case_routed_first_on_real_queues_is_planned_once_case_received_comes(
    start_notify, notify_config, broker
) -> None:
    # retried long enough for this test to publish case_received in between
    api = start_notify(EVENT_RETRY_DELAYS_MS="300")
    operator = {
        "Authorization": "Bearer "
        + issue_token(notify_config["TOKEN_SECRET"], "operator", name="ops")
    }
    received = case_received_event()
    reference = received.payload["reference"]
    waiting = not_planned("case_routed", "any", "case_not_received_yet")
    with api:
        publish_event(broker["AMQP_URI"], case_routed(reference))
        wait_until(
            lambda: (
                not_planned("case_routed", "any", "case_not_received_yet") > waiting
            ),
            timeout=15,
        )
        publish_event(broker["AMQP_URI"], received)

        def referred() -> list[dict[str, Any]]:
            answer = api.get(
                "/v1/deliveries", params={"reference": reference}, headers=operator
            )
            assert answer.status_code == 200, answer.text
            return [
                row
                for row in answer.json()["deliveries"]
                if row["message"] == "case_referred"
            ]

        (notice,) = wait_until(referred, timeout=20)
        assert notice["recipient_kind"] == "citizen"
        metrics = api.get("/metrics").text
    assert (
        'labornet_notify_notices_not_planned_total{event_type="case_routed",'
        'message="any",reason="case_not_received_yet"}'
    ) in metrics
