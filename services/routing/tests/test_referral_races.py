"""Concurrent changes of one referral, as two offices' clerks (or a clerk and
the SLA clock) make them: two routing processes on one database (SQLite or
PostgreSQL), requests at the same moment over HTTP, the events counted on
the broker. Whatever the timing, the changes apply one after the other —
never two from one starting state, never "accepted" while referred onwards,
one status event and at most one onward referral per transition."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import eventlet
import pytest
import requests

from labornet_shared.events import REFERRALS_EXCHANGE
from labornet_shared.tokens import issue_token
from labornet_testkit.harness import (
    Api,
    ChildProcess,
    free_port,
    publish_event,
    repo_root,
    service_process,
    wait_until,
)
from labornet_testkit.routing import case_received_event

SECRET = "race-test-secret-0123456789abcdef"
PER_SCENARIO = 20
PROBLEM = "application/problem+json"
CONFLICT_CODES = {"illegal_transition", "referral_changed"}


def bearer(scope: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, scope, **claims)}"}


OPERATOR = bearer("operator", name="operator-somsri")
DLPW = bearer("agency", agency="dlpw")


@pytest.fixture
def start_routings(
    routing_db: str, broker: dict[str, Any], tmp_path: Path
) -> Iterator[Callable[..., list[Api]]]:
    """Start routing processes sharing this test's database and vhost."""
    processes: list[ChildProcess] = []

    def start(count: int, sla_check_seconds: float = 3600) -> list[Api]:
        apis = []
        for number in range(count):
            port = free_port()
            env = dict(os.environ)
            env.update(
                LABORNET_ROOT=str(repo_root()),
                LABORNET_ROUTING_DB=routing_db,
                LABORNET_AMQP_URI=broker["AMQP_URI"],
                LABORNET_ROUTING_HOST="127.0.0.1",
                LABORNET_ROUTING_PORT=str(port),
                LABORNET_TOKEN_SECRET=SECRET,
                LABORNET_ROUTING_SLA_CHECK_SECONDS=str(sla_check_seconds),
                LABORNET_OUTBOX_POLL_SECONDS="0.2",
                LABORNET_RATE_LIMIT_AGENCY="100000/minute",
                LABORNET_LOG_LEVEL="WARNING",
                PYTHONWARNINGS="ignore",
            )
            name = f"routing-{number}"
            processes.append(service_process("routing", name, tmp_path, env, port))
            apis.append(Api(f"http://127.0.0.1:{port}"))
        return apis

    yield start
    for process in processes:
        process.kill()
        print(process.logs())  # shown when the test failed


def publish_cases(amqp_uri: str, count: int) -> list[str]:
    """``count`` unpaid-wages cases in Lampang: one dlpw referral each."""
    references = []
    for _ in range(count):
        event = case_received_event(
            description="นายจ้างค้างค่าแรงสองเดือน", category="unpaid_wages"
        )
        publish_event(amqp_uri, event)
        references.append(event.payload["reference"])
    return references


def first_referrals(api: Api, references: list[str]) -> dict[str, dict[str, Any]]:
    """The dlpw referral of each case, once every case is routed."""
    found: dict[str, dict[str, Any]] = {}

    def all_routed() -> bool:
        cursor = None
        while True:
            params = {"agency": "dlpw", "limit": 200}
            if cursor:
                params["cursor"] = cursor
            page = api.get("/v1/referrals", params=params, headers=OPERATOR).json()
            for referral in page["referrals"]:
                if referral["hop"] == 1 and not referral["escalated_from"]:
                    found.setdefault(referral["reference"], referral)
            cursor = page["next_cursor"]
            if not cursor:
                break
        return all(reference in found for reference in references)

    wait_until(all_routed, timeout=60)
    return {reference: found[reference] for reference in references}


def act(api: Api, referral_id: str, action: str, **headers: str) -> Any:
    body = {
        "accept": {},
        "reject": {"reason": "ไม่ใช่งานของสำนักงานนี้"},
        "resolve": {"outcome": "resolved", "note": "จ่ายค่าจ้างครบแล้ว"},
    }[action]
    # a connection of its own: the pairs go out at the same moment
    return requests.post(
        f"{api.base_url}/v1/referrals/{referral_id}/{action}",
        json=body,
        headers={**DLPW, **headers},
        timeout=60,
    )


def by_event_id(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # delivery is at least once: a relay may publish a row twice
    return list({m["event_id"]: m for m in messages}.values())


def drain_events(tap: Any, expected: int, timeout: float = 30) -> list[dict[str, Any]]:
    """Distinct events from ``tap`` until ``expected`` of them came, and then
    a moment more (to see any that should not come)."""
    found: list[dict[str, Any]] = []

    def enough() -> bool:
        found.extend(tap.drain(timeout=1))
        return len(by_event_id(found)) >= expected

    wait_until(enough, timeout=timeout)
    found.extend(tap.drain(timeout=1.5))
    return by_event_id(found)


def assert_conflict(answer: Any) -> None:
    assert answer.status_code == 409, answer.text
    assert answer.headers["Content-Type"] == PROBLEM
    problem = answer.json()
    assert problem["code"] in CONFLICT_CODES
    # the current state, in the body and in the header
    assert problem["referral_status"] == answer.headers["X-Referral-Status"]


def test_concurrent_office_actions_apply_one_after_the_other(
    start_routings, broker, queue_tap
) -> None:
    events = queue_tap("routing.events", "#")
    to_offices = queue_tap(REFERRALS_EXCHANGE, "dlpw.#")
    first, second = start_routings(2)
    scenarios = {
        ("accept", "reject"): publish_cases(broker["AMQP_URI"], PER_SCENARIO),
        ("accept", "resolve"): publish_cases(broker["AMQP_URI"], PER_SCENARIO),
        ("reject", "reject"): publish_cases(broker["AMQP_URI"], PER_SCENARIO),
    }
    everything = [
        reference for references in scenarios.values() for reference in references
    ]
    referrals = first_referrals(first, everything)
    # the routing of every case is on the broker before the race starts
    issued = drain_events(events, 2 * len(everything))
    assert len(issued) == 2 * len(everything)  # case_routed + referral_issued

    answers = race_pairs(first, second, scenarios, referrals)
    succeeded = {
        reference: [action for action, a in pairs if a.status_code == 200]
        for reference, pairs in answers.items()
    }
    for pairs in answers.values():
        for _action, answer in pairs:
            if answer.status_code != 200:
                assert_conflict(answer)

    published = assert_broker_carries_each_change_once(
        events, to_offices, referrals, succeeded
    )
    status_events, onward = changes_by_case(published)
    for (one, other), references in scenarios.items():
        for reference in references:
            applied = succeeded[reference]
            changed = status_events[reference]
            # never two changes from the same starting state
            starts = Counter(change["previous_status"] for change in changed)
            assert set(starts.values()) <= {1}, (reference, applied, changed)
            assert len(changed) == len(applied), (reference, applied, changed)
            assert onward[reference] == applied.count("reject")
            final = first.get(
                f"/v1/referrals/{referrals[reference]['id']}", headers=OPERATOR
            ).json()["status"]
            assert_final_status(final, applied, onward[reference])
            if (one, other) == ("reject", "reject"):
                assert applied == ["reject"], answers[reference]
            if (one, other) == ("accept", "reject") and applied == ["accept"]:
                # the rejection lost the race: it is told the referral's state
                (loser,) = [a for action, a in answers[reference] if action != "accept"]
                assert loser.json()["referral_status"] == "accepted"


def race_pairs(
    first: Api,
    second: Api,
    scenarios: dict[tuple[str, str], list[str]],
    referrals: dict[str, dict[str, Any]],
) -> dict[str, list[tuple[str, Any]]]:
    """Each case's pair of actions at the same moment, one to each process:
    the answers by case reference."""
    for api in (first, second):  # both processes warm, so their work overlaps
        for _ in range(5):
            api.get("/v1/referrals", params={"limit": 1}, headers=DLPW)
    pool = eventlet.GreenPool(2 * len(referrals))
    pending = []
    for (one, other), references in scenarios.items():
        for reference in references:
            referral_id = referrals[reference]["id"]
            for api, action in ((first, one), (second, other)):
                pending.append(
                    (reference, action, pool.spawn(act, api, referral_id, action))
                )
    answers: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    for reference, action, thread in pending:
        answers[reference].append((action, thread.wait()))
    return answers


def assert_broker_carries_each_change_once(
    events: Any,
    to_offices: Any,
    referrals: dict[str, dict[str, Any]],
    succeeded: dict[str, list[str]],
) -> list[dict[str, Any]]:
    """One status event per applied change, one onward referral per applied
    rejection, one case_closed per resolution; the offices get a copy of each
    status change. Returns the routing.events messages."""
    changes = sum(len(actions) for actions in succeeded.values())
    rejections = sum(actions.count("reject") for actions in succeeded.values())
    resolutions = sum(actions.count("resolve") for actions in succeeded.values())
    expected = changes + 2 * rejections + resolutions
    published = drain_events(events, expected)
    kinds = Counter(m["event_type"] for m in published)
    assert kinds == Counter(
        {
            k: v
            for k, v in {
                "referral_status_changed": changes,
                "case_routed": rejections,
                "referral_issued": rejections,
                "case_closed": resolutions,
            }.items()
            if v
        }
    ), kinds
    office_copies = Counter(
        m["event_type"]
        for m in drain_events(to_offices, len(referrals) + changes)
        if m["payload"]["reference"] in referrals
    )
    assert office_copies["referral_status_changed"] == changes
    return published


def changes_by_case(
    published: list[dict[str, Any]],
) -> tuple[dict[str, list[dict[str, Any]]], Counter[str]]:
    """Each case's status changes, and how many onward referrals it got."""
    status_events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    onward: Counter[str] = Counter()
    for message in published:
        payload = message["payload"]
        if message["event_type"] == "referral_status_changed":
            status_events[payload["reference"]].append(payload)
        elif message["event_type"] == "referral_issued":
            onward[payload["reference"]] += 1
            assert payload["hop"] == 2
    return status_events, onward


def assert_final_status(final: str, applied: list[str], onward: int) -> None:
    """The referral ends as the strongest action that won left it."""
    if "reject" in applied:
        assert final == "rejected"
    elif "resolve" in applied:
        assert final == "resolved"
    elif "accept" in applied:
        assert final == "accepted"
    # "accepted" (or resolved) and referred onwards: never
    assert not (final in ("accepted", "resolved") and onward)


def test_the_sla_clock_and_an_accept_race_exactly_one_wins(
    start_routings, broker, queue_tap
) -> None:
    overdue = queue_tap("routing.events", "referral_overdue")
    changed = queue_tap("routing.events", "referral_status_changed")
    # both processes check the clocks all the time; dlpw has no time to accept
    first, second = start_routings(2, sla_check_seconds=0.05)
    answer = first.put(
        "/v1/sla",
        json={"agency": "dlpw", "accept_days": 0, "resolve_days": 30},
        headers=OPERATOR,
    )
    assert answer.status_code == 200, answer.text
    references = publish_cases(broker["AMQP_URI"], PER_SCENARIO)
    # each accept is for the referral as it was issued (version 1): it wins
    # only if no escalation came first, and an escalation only if no accept did
    accepted: dict[str, Any] = {}
    pool = eventlet.GreenPool(PER_SCENARIO)
    threads = []
    for number, (reference, referral) in enumerate(
        first_referrals(first, references).items()
    ):
        api = (first, second)[number % 2]
        threads.append(
            (
                reference,
                pool.spawn(act, api, referral["id"], "accept", **{"If-Match": '"1"'}),
            )
        )
    for reference, thread in threads:
        accepted[reference] = thread.wait()

    winners = {
        reference for reference, answer in accepted.items() if answer.status_code == 200
    }
    for reference, answer in accepted.items():
        if reference not in winners:
            assert_conflict(answer)
            assert answer.json()["code"] == "referral_changed"
    escalated_count = len(references) - len(winners)
    escalations = drain_events(overdue, escalated_count)
    escalated = Counter(m["payload"]["reference"] for m in escalations)
    # exactly one wins: the escalated referrals are those whose accept lost
    assert set(escalated) == set(references) - winners, (escalated, winners)
    assert set(escalated.values()) <= {1}
    for message in escalations:
        assert message["payload"]["referral"]["status"] == "pending"
        assert message["payload"]["clock"] == "accept"
    accepts = [
        m
        for m in drain_events(changed, len(winners))
        if m["payload"]["referral"]["status"] == "accepted"
    ]
    assert {m["payload"]["reference"] for m in accepts} == winners
    assert len(accepts) == len(winners)
