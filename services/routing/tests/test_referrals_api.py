"""routing as agencies and operators use it, on the real broker: a case
published by intake becomes referral messages on the agencies' queues, and
offices answer through the API with their own tokens."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from labornet_shared.events import ERASED_TEXT, REFERRALS_EXCHANGE, make_event
from labornet_shared.tokens import issue_token
from labornet_testkit.harness import publish_event, wait_until
from labornet_testkit.routing import case_received_event

PROBLEM = "application/problem+json"
THREE_PROBLEMS = "ถูกเลิกจ้างไม่ได้ค่าชดเชย อยากขอเงินว่างงานและหางานใหม่"


@pytest.fixture
def bearer(routing_config: dict[str, Any]) -> Callable[..., dict[str, str]]:
    secret = routing_config["TOKEN_SECRET"]

    def make(scope: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(secret, scope, **claims)}"}

    return make


@pytest.fixture
def operator(bearer) -> dict[str, str]:
    return bearer("operator", name="operator-somsri")


def assert_problem(response: Any, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == PROBLEM
    document = dict(response.json())
    assert document["code"] == code
    return document


def referrals(api: Any, headers: dict, expected: int, **params: Any) -> list[dict]:
    """The referrals the token sees, once ``expected`` of them exist."""
    found: list[dict] = []

    def enough() -> bool:
        found[:] = api.get("/v1/referrals", params=params, headers=headers).json()[
            "referrals"
        ]
        return len(found) >= expected

    wait_until(enough, timeout=15)
    return found


def test_agencies_queues_receive_exactly_their_referrals(
    routing_api, broker, queue_tap
) -> None:
    sso = queue_tap(REFERRALS_EXCHANGE, "sso.#")
    lampang = queue_tap(REFERRALS_EXCHANGE, "*.TH-52.*")
    lampang_case = case_received_event(description=THREE_PROBLEMS)
    bangkok_case = case_received_event(
        description="นายจ้างไม่จ่ายเงินเดือน 2 เดือนแล้ว รวม 30,000 บาท",
        location={
            "province_code": "TH-10",
            "district_code": "1001",
            "subdistrict_code": "100101",
        },
    )
    for event in (lampang_case, bangkok_case):
        publish_event(broker["AMQP_URI"], event)
    from_sso = sso.drain(expected=1)
    assert [
        (m["event_type"], m["payload"]["referral"]["office"]) for m in from_sso
    ] == [("referral_issued", "sso.TH-52")]
    in_lampang = lampang.drain(expected=3)
    assert sorted(m["payload"]["referral"]["office"] for m in in_lampang) == [
        "dlpw.TH-52",
        "doe.TH-52",
        "sso.TH-52",
    ]
    message = from_sso[0]
    assert message["_properties"]["delivery_mode"] == 2
    assert message["payload"]["reference"] == lampang_case.payload["reference"]
    labels = {label["category"]: label for label in message["payload"]["labels"]}
    assert labels["social_security_benefit"]["evidence"]


def test_the_office_sees_the_language_the_description_is_written_in(
    routing_api, broker, operator
) -> None:
    """A citizen who chose English but wrote in Thai: the office reads that
    English was chosen, and that the description is in Thai."""
    event = case_received_event(
        description="ถูกเลิกจ้างไม่ได้ค่าชดเชย อยากขอเงินว่างงาน", language="en"
    )
    publish_event(broker["AMQP_URI"], event)
    found = referrals(routing_api, operator, 1)
    assert {
        (r["language"], r["language_chosen"], r["screened_language"]) for r in found
    } == {("en", True, "th")}


def test_a_redelivered_case_is_referred_once(routing_api, broker, operator) -> None:
    event = case_received_event(description=THREE_PROBLEMS)
    publish_event(broker["AMQP_URI"], event)
    publish_event(broker["AMQP_URI"], event)  # the relay may send it twice
    copy = make_event(
        "case_received", event.payload, event.correlation_id
    )  # re-published under a new id
    publish_event(broker["AMQP_URI"], copy)
    found = referrals(routing_api, operator, 3)
    time.sleep(1.5)  # time for the duplicates to be handled (and skipped)
    again = routing_api.get("/v1/referrals", headers=operator).json()["referrals"]
    assert len(found) == len(again) == 3


def test_an_office_accepts_and_resolves_and_sees_only_its_own(
    routing_api, broker, bearer, operator, queue_tap
) -> None:
    publish_event(broker["AMQP_URI"], case_received_event(description=THREE_PROBLEMS))
    sso = bearer("agency", agency="sso", province="TH-52")
    (mine,) = referrals(routing_api, sso, 1)
    assert mine["office"] == "sso.TH-52"
    assert mine["categories"] == ["social_security_benefit"]
    # the language the citizen is answered in, and the one they wrote in
    assert (mine["language"], mine["language_chosen"], mine["screened_language"]) == (
        "th",
        True,
        "th",
    )
    # another province's SSO office, and another agency, see nothing of it
    elsewhere = bearer("agency", agency="sso", province="TH-50")
    assert routing_api.get("/v1/referrals", headers=elsewhere).json()["referrals"] == []
    path = f"/v1/referrals/{mine['id']}"
    assert_problem(
        routing_api.get(path, headers=bearer("agency", agency="dlpw")), 404, "not_found"
    )
    assert_problem(
        routing_api.post(f"{path}/accept", headers=elsewhere), 404, "not_found"
    )
    accepted = routing_api.post(f"{path}/accept", headers=sso)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    again = routing_api.post(f"{path}/accept", headers=sso)
    problem = assert_problem(again, 409, "illegal_transition")
    assert again.headers["X-Referral-Status"] == "accepted"
    assert "accepted" in problem["detail"]
    assert_problem(
        routing_api.post(f"{path}/resolve", json={"outcome": "paid"}, headers=sso),
        400,
        "validation_failed",
    )
    done = routing_api.post(
        f"{path}/resolve",
        json={"outcome": "resolved", "note": "อนุมัติเงินทดแทนการว่างงานแล้ว"},
        headers=sso,
    )
    assert done.status_code == 200, done.text
    assert [n["status"] for n in done.json()["notes"]] == ["accepted", "resolved"]


def test_a_rejection_needs_a_reason_and_refers_onwards(
    routing_api, broker, bearer, queue_tap
) -> None:
    lampang = queue_tap(REFERRALS_EXCHANGE, "*.TH-52.*")
    publish_event(
        broker["AMQP_URI"],
        case_received_event(
            description="อยากเรียนช่างเชื่อม มีคอร์สฟรีไหม", category="skill_training"
        ),
    )
    dsd = bearer("agency", agency="dsd")
    (referral,) = referrals(routing_api, dsd, 1)
    path = f"/v1/referrals/{referral['id']}/reject"
    problem = assert_problem(
        routing_api.post(path, json={}, headers=dsd), 400, "validation_failed"
    )
    assert problem["errors"][0]["field"] == "reason"
    rejected = routing_api.post(path, json={"reason": "ไม่ใช่งานของเรา"}, headers=dsd)
    assert rejected.status_code == 200, rejected.text
    messages = lampang.drain(expected=3)
    kinds = [(m["event_type"], m["payload"]["referral"]["office"]) for m in messages]
    assert kinds == [
        ("referral_issued", "dsd.TH-52"),
        ("referral_status_changed", "dsd.TH-52"),
        ("referral_issued", "ops.TH-52"),
    ]
    assert messages[2]["payload"]["hop"] == 2


def test_operators_change_the_rules_without_a_deploy(
    routing_api, broker, operator, queue_tap
) -> None:
    rule = routing_api.post(
        "/v1/rules",
        json={
            "kind": "override",
            "category": "skill_training",
            "province_code": "TH-52",
            "agency": "doe",
            "note": "Lampang's DSD centre is closed for renovation",
        },
        headers=operator,
    )
    assert rule.status_code == 201, rule.text
    doe = queue_tap(REFERRALS_EXCHANGE, "doe.TH-52.*")
    publish_event(
        broker["AMQP_URI"],
        case_received_event(description="อยากฝึกอาชีพ", category="skill_training"),
    )
    (message,) = doe.drain(expected=1)
    assert message["payload"]["referral"]["office"] == "doe.TH-52"
    listed = routing_api.get("/v1/rules", headers=operator).json()["rules"]
    assert rule.json()["id"] in [r["id"] for r in listed]
    assert (
        routing_api.delete(f"/v1/rules/{rule.json()['id']}", headers=operator)
    ).status_code == 204
    assert_problem(
        routing_api.post(
            "/v1/rules", json={"kind": "override", "agency": "doe"}, headers=operator
        ),
        400,
        "validation_failed",
    )


def test_sla_settings_and_holidays(routing_api, operator, bearer) -> None:
    updated = routing_api.put(
        "/v1/sla",
        json={
            "agency": "sso",
            "category": "work_injury",
            "accept_days": 1,
            "resolve_days": 10,
        },
        headers=operator,
    )
    assert updated.status_code == 200, updated.text
    settings = routing_api.get("/v1/sla", headers=operator).json()["settings"]
    assert {
        "agency": "sso",
        "category": "work_injury",
        "accept_days": 1,
        "resolve_days": 10,
    } in settings
    assert_problem(
        routing_api.put(
            "/v1/sla",
            json={"agency": "sso", "accept_days": 5, "resolve_days": 2},
            headers=operator,
        ),
        400,
        "validation_failed",
    )
    holidays = routing_api.get("/v1/holidays", headers=operator).json()["holidays"]
    assert {"day": "2026-04-13", "name": "วันสงกรานต์ Songkran"} in holidays
    assert_problem(
        routing_api.put(
            "/v1/sla",
            json={"agency": "sso", "accept_days": 1, "resolve_days": 2},
            headers=bearer("agency", agency="sso"),
        ),
        404,
        "not_found",
    )


def test_a_withdrawn_case_tells_its_offices(routing_api, broker, queue_tap) -> None:
    lampang = queue_tap(REFERRALS_EXCHANGE, "*.TH-52.*")
    received = case_received_event(description=THREE_PROBLEMS)
    publish_event(broker["AMQP_URI"], received)
    lampang.drain(expected=3)
    withdrawn = make_event(
        "case_withdrawn",
        {
            "reference": received.payload["reference"],
            "withdrawn_at": received.payload["received_at"],
            "withdrawn_by": "citizen",
        },
        received.payload["reference"],
    )
    publish_event(broker["AMQP_URI"], withdrawn)
    told = lampang.drain(expected=3)
    assert {m["payload"]["referral"]["status"] for m in told} == {"withdrawn"}


def test_readyz_checks_the_consumers(routing_api) -> None:
    state = routing_api.get("/readyz").json()
    assert state["ready"] is True
    assert "consumers" in state["checks"]


def test_an_erasure_wipes_the_description_and_the_offices_notes(
    routing_api, broker, bearer, operator
) -> None:
    received = case_received_event(description=THREE_PROBLEMS)
    reference = received.payload["reference"]
    publish_event(broker["AMQP_URI"], received)
    sso = bearer("agency", agency="sso", province="TH-52")
    (mine,) = referrals(routing_api, sso, 1)
    path = f"/v1/referrals/{mine['id']}"
    quote = "คุณสมชาย โทร 081-234-5678 บอกว่านายจ้างค้างเงิน"
    accepted = routing_api.post(f"{path}/accept", json={"note": quote}, headers=sso)
    assert accepted.status_code == 200, accepted.text
    assert quote in accepted.text
    erased = make_event(
        "case_personal_data_erased",
        {"reference": reference, "erased_at": received.payload["received_at"]},
        reference,
    )
    publish_event(broker["AMQP_URI"], erased)
    publish_event(broker["AMQP_URI"], erased)  # redelivered: applied once

    def wiped() -> bool:
        return bool(
            routing_api.get(path, headers=sso).json()["description"] == ERASED_TEXT
        )

    wait_until(wiped, timeout=15)
    seen = routing_api.get(path, headers=sso)
    assert quote not in seen.text
    assert "นายจ้าง" not in seen.text  # nothing of the description either
    # the referral itself stays, for the statistics and the office's work
    assert seen.json()["status"] == "accepted"
    assert [n["status"] for n in seen.json()["notes"]] == ["accepted"]


def test_an_action_may_name_the_version_it_is_meant_for(
    routing_api, broker, bearer
) -> None:
    publish_event(broker["AMQP_URI"], case_received_event(description=THREE_PROBLEMS))
    sso = bearer("agency", agency="sso", province="TH-52")
    (mine,) = referrals(routing_api, sso, 1)
    path = f"/v1/referrals/{mine['id']}"
    seen = routing_api.get(path, headers=sso)
    assert (seen.json()["version"], seen.headers["ETag"]) == (1, '"1"')
    problem = assert_problem(
        routing_api.post(f"{path}/accept", headers={**sso, "If-Match": "²"}),
        400,
        "validation_failed",
    )
    assert problem["errors"][0]["field"] == "If-Match"
    stale = routing_api.post(f"{path}/accept", headers={**sso, "If-Match": '"2"'})
    problem = assert_problem(stale, 409, "referral_changed")
    assert (problem["referral_status"], problem["referral_version"]) == ("pending", 1)
    assert stale.headers["X-Referral-Status"] == "pending"
    accepted = routing_api.post(f"{path}/accept", headers={**sso, "If-Match": '"1"'})
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["version"], accepted.headers["ETag"]) == (2, '"2"')
    again = routing_api.post(f"{path}/accept", headers=sso)
    problem = assert_problem(again, 409, "illegal_transition")
    assert (problem["referral_status"], problem["referral_version"]) == ("accepted", 2)


def test_a_withdrawal_that_comes_before_its_case_waits_for_it(
    routing_api, broker, queue_tap
) -> None:
    lampang = queue_tap(REFERRALS_EXCHANGE, "*.TH-52.*")
    received = case_received_event(description=THREE_PROBLEMS)
    reference = received.payload["reference"]
    withdrawn = make_event(
        "case_withdrawn",
        {
            "reference": reference,
            "withdrawn_at": received.payload["received_at"],
            "withdrawn_by": "citizen",
        },
        reference,
    )
    # the withdrawal's queue is served first: routing has no such case yet
    publish_event(broker["AMQP_URI"], withdrawn)
    time.sleep(0.2)
    publish_event(broker["AMQP_URI"], received)
    told = lampang.drain(expected=6, timeout=20)
    statuses = sorted(
        (m["event_type"], m["payload"]["referral"]["status"]) for m in told
    )
    assert (
        statuses
        == [("referral_issued", "pending")] * 3
        + [("referral_status_changed", "withdrawn")] * 3
    )
