"""Two routing instances check the SLA clocks of one database at the same
time, as a scaled-out deployment does: every overdue referral is escalated
exactly once — one ``referral_overdue``, one referral for ``ops``."""

from __future__ import annotations

from collections import Counter
from typing import Any

from labornet_shared.events import REFERRALS_EXCHANGE
from labornet_shared.tokens import issue_token
from labornet_testkit.harness import free_port, publish_event
from labornet_testkit.routing import case_received_event

CASES = 8


def test_two_instances_escalate_each_overdue_referral_once(
    start_routing, routing_config: dict[str, Any], broker, queue_tap
) -> None:
    # both instances check every 0.2 s; dlpw has no time at all to accept
    first = start_routing(SLA_CHECK_SECONDS=0.2)
    second = start_routing(
        SLA_CHECK_SECONDS=0.2, WEB_SERVER_ADDRESS=f"127.0.0.1:{free_port()}"
    )
    operator = {
        "Authorization": "Bearer "
        + issue_token(routing_config["TOKEN_SECRET"], "operator", name="ops")
    }
    answer = first.put(
        "/v1/sla",
        json={"agency": "dlpw", "accept_days": 0, "resolve_days": 30},
        headers=operator,
    )
    assert answer.status_code == 200, answer.text
    overdue = queue_tap("routing.events", "referral_overdue")
    to_ops_tap = queue_tap(REFERRALS_EXCHANGE, "ops.#")
    for _ in range(CASES):
        publish_event(
            broker["AMQP_URI"],
            case_received_event(description="นายจ้างค้างค่าแรงสองเดือน 24,000 บาท"),
        )
    messages = overdue.drain(expected=CASES, timeout=30)
    # a while longer: a second escalation of any of them would show now
    messages += overdue.drain(expected=0, timeout=2)
    # delivery is at least once (on SQLite both instances' relays may publish
    # one outbox row), so count events, not messages: exactly once is about
    # how many escalations were decided
    escalations = list({e["event_id"]: e for e in messages}.values())
    per_referral = Counter(e["payload"]["referral"]["referral_id"] for e in escalations)
    assert len(per_referral) == CASES
    assert set(per_referral.values()) == {1}
    offices = {e["payload"]["escalated_to"]["office"] for e in escalations}
    assert offices == {"ops.TH-52"}
    to_ops = {m["event_id"] for m in to_ops_tap.drain(expected=CASES, timeout=10)}
    assert len(to_ops) == CASES
    for api in (first, second):
        api.close()
