"""routing's events on the real broker, as routing's outbox publishes them,
through intake's API: the citizen's timeline and referrals, exactly-once and
out-of-order delivery, the dead-letter queue, and the contact an office may
read while it handles the case."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import eventlet
import kombu
import pytest
import requests

from labornet_shared.dlq import list_dead_letters
from labornet_testkit.harness import case_payload, wait_until
from labornet_testkit.intake import (
    case_closed,
    case_routed,
    referral_ref,
    referral_status_changed,
    with_status,
)

TRACKING = "X-Tracking-Code"
CONTACT_FIELDS = {
    "name",
    "phone",
    "email",
    "line_user_id",
    "language",
    "language_chosen",
    "contact_channel",
}


def submit(api: Any, *, agencies_may_contact: bool = True, **overrides: Any) -> dict:
    """A Lampang case whose citizen gave a phone, an e-mail and consent."""
    body = case_payload(random.Random(), **overrides)
    body["location"] = {"province_code": "TH-52", "subdistrict_code": "520105"}
    body["citizen"]["email"] = "malee.s@example.org"
    body["consent"]["agencies_may_contact"] = agencies_may_contact
    response = api.post("/v1/cases", json=body)
    assert response.status_code == 201, response.text
    return {**response.json(), "body": body}


def follow(api: Any, created: dict) -> dict[str, Any]:
    """What the citizen sees with the tracking code."""
    response = api.get(
        f"/v1/cases/{created['reference']}",
        headers={TRACKING: created["tracking_code"]},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def once_steps(api: Any, created: dict, count: int) -> dict[str, Any]:
    """The citizen's view once the timeline has ``count`` steps."""

    def view() -> dict[str, Any] | None:
        seen = follow(api, created)
        return seen if len(seen["timeline"]) >= count else None

    return dict(wait_until(view))


def later(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


# --- the timeline -------------------------------------------------------------------


def test_the_citizen_follows_the_offices_through_the_timeline(
    intake_api, publish_routing, intake_bearer
):
    created = submit(intake_api)
    reference = created["reference"]
    dlpw = referral_ref("dlpw", categories=["termination_severance"])
    sso = referral_ref("sso", categories=["social_security_benefit"])
    publish_routing(
        case_routed(reference, [dlpw, sso], at=later(1)),
        referral_status_changed(reference, dlpw, "accepted", at=later(2)),
        referral_status_changed(
            reference,
            dlpw,
            "in_progress",
            previous_status="accepted",
            note="นัดไกล่เกลี่ยกับนายจ้าง 12 พ.ค.",
            at=later(3),
        ),
    )
    view = once_steps(intake_api, created, 5)
    assert view["status"] == "routed"
    assert [
        (step["status"], step["agency"], step["office"], step["note"])
        for step in view["timeline"]
    ] == [
        ("received", None, None, None),
        ("routed", "dlpw", "dlpw.TH-52", None),
        ("routed", "sso", "sso.TH-52", None),
        ("accepted", "dlpw", "dlpw.TH-52", None),
        ("in_progress", "dlpw", "dlpw.TH-52", "นัดไกล่เกลี่ยกับนายจ้าง 12 พ.ค."),
    ]
    by_agency = {referral["agency"]: referral for referral in view["referrals"]}
    assert by_agency["dlpw"]["status"] == "in_progress"
    assert by_agency["dlpw"]["note"] == "นัดไกล่เกลี่ยกับนายจ้าง 12 พ.ค."
    assert by_agency["dlpw"]["office"] == "dlpw.TH-52"
    assert by_agency["dlpw"]["agency_name"] == {
        "th": "กรมสวัสดิการและคุ้มครองแรงงาน",
        "en": "Department of Labour Protection and Welfare",
    }
    assert datetime.fromisoformat(by_agency["dlpw"]["since"]) == datetime.fromisoformat(
        view["timeline"][4]["occurred_at"]
    )
    assert datetime.fromisoformat(
        by_agency["sso"]["expected_by"]
    ) == datetime.fromisoformat(sso["due_resolve_at"])
    assert by_agency["sso"]["agency_name"]["th"] == "สำนักงานประกันสังคม"
    assert by_agency["sso"]["status"] == "pending"
    # the citizen's view carries no personal data
    citizen = created["body"]["citizen"]
    raw = json.dumps(view, ensure_ascii=False)
    for secret in (citizen["name"], citizen["phone"][1:], citizen["national_id"]):
        assert secret not in raw
    # the operator's whole case shows the same referrals
    whole = intake_api.get(
        f"/v1/cases/{reference}", headers=intake_bearer("operator")
    ).json()
    assert whole["referrals"] == view["referrals"]
    assert whole["citizen"]["agencies_may_contact"] is True

    resolved_dlpw = with_status(dlpw, "resolved")
    resolved_sso = with_status(sso, "resolved")
    publish_routing(
        referral_status_changed(
            reference,
            dlpw,
            "resolved",
            previous_status="in_progress",
            note="นายจ้างจ่ายค่าชดเชยครบแล้ว",
            outcome="resolved",
            at=later(4),
        ),
        referral_status_changed(
            reference, sso, "resolved", outcome="not_eligible", at=later(5)
        ),
        case_closed(
            reference,
            [resolved_dlpw, resolved_sso],
            {dlpw["referral_id"]: "resolved", sso["referral_id"]: "not_eligible"},
            at=later(6),
        ),
    )
    view = once_steps(intake_api, created, 8)
    assert view["status"] == "closed"
    assert [step["status"] for step in view["timeline"][5:]] == [
        "resolved",
        "resolved",
        "closed",
    ]
    assert view["timeline"][6]["outcome"] == "not_eligible"
    assert {(r["agency"], r["status"], r["outcome"]) for r in view["referrals"]} == {
        ("dlpw", "resolved", "resolved"),
        ("sso", "resolved", "not_eligible"),
    }


def test_a_redelivered_event_is_applied_once(start_intake, publish_routing, intake_sql):
    # one worker: the events of one queue are applied in the order published
    api = start_intake(max_workers=1)
    with api:
        created = submit(api)
        reference = created["reference"]
        ref = referral_ref("dlpw")
        accepted = referral_status_changed(reference, ref, "accepted", at=later(1))
        progress = referral_status_changed(
            reference, ref, "in_progress", note="ออกตรวจแล้ว", at=later(2)
        )
        publish_routing(accepted, accepted, progress)
        view = once_steps(api, created, 3)
        assert [step["status"] for step in view["timeline"]] == [
            "received",
            "accepted",
            "in_progress",
        ]
        applied = intake_sql(
            "SELECT event_id FROM processed_events WHERE consumer = :consumer",
            consumer="intake.on_referral_status_changed",
        )
        assert sorted(row.event_id for row in applied) == sorted(
            [accepted.event_id, progress.event_id]
        )


def test_status_changes_arriving_out_of_order_do_not_regress(
    start_intake, publish_routing
):
    api = start_intake(max_workers=1)
    with api:
        created = submit(api)
        reference = created["reference"]
        ref = referral_ref("doe", categories=["job_seeking"])
        publish_routing(
            referral_status_changed(
                reference, ref, "in_progress", note="ส่งรายชื่องานว่างให้แล้ว", at=later(3)
            ),
            referral_status_changed(reference, ref, "accepted", at=later(2)),
            case_routed(reference, [ref], at=later(1)),
        )
        view = once_steps(api, created, 4)
        assert view["status"] == "routed"
        assert [step["status"] for step in view["timeline"]] == [
            "received",
            "routed",
            "accepted",
            "in_progress",
        ]
        [referral] = view["referrals"]
        assert referral["status"] == "in_progress"
        assert referral["note"] == "ส่งรายชื่องานว่างให้แล้ว"


def test_a_case_without_a_category_is_listed_by_the_one_routing_found(
    intake_api, publish_routing, intake_bearer
):
    created = submit(intake_api)
    assert created["body"].get("category") is None
    reference = created["reference"]
    operator = intake_bearer("operator")
    dlpw = referral_ref("dlpw", categories=["unpaid_wages"])
    publish_routing(case_routed(reference, [dlpw], at=later(1)))
    view = once_steps(intake_api, created, 2)
    assert view["category"] is None
    assert [(c["category"], c["offices"]) for c in view["categories"]] == [
        (
            "unpaid_wages",
            [{"office": "dlpw.TH-52", "agency": "dlpw", "province_code": "TH-52"}],
        )
    ]
    found = intake_api.get(
        "/v1/cases", params={"category": "unpaid_wages"}, headers=operator
    ).json()["cases"]
    assert [(c["reference"], c["category"], c["categories"]) for c in found] == [
        (reference, None, ["unpaid_wages"])
    ]
    # dlpw rejects it; routing passes it on to Lampang's coordinator
    ops = referral_ref("ops", categories=["unpaid_wages"])
    publish_routing(
        case_routed(reference, [ops], at=later(3)),
        referral_status_changed(reference, dlpw, "rejected", at=later(2)),
    )
    view = once_steps(intake_api, created, 4)
    [wages] = view["categories"]
    assert [office["office"] for office in wages["offices"]] == ["ops.TH-52"]
    others = intake_api.get(
        "/v1/cases", params={"category": "job_seeking"}, headers=operator
    ).json()["cases"]
    assert reference not in {c["reference"] for c in others}


# --- what cannot be applied --------------------------------------------------------


def test_an_unknown_schema_version_is_dead_lettered_at_once(
    intake_api, publish_routing, broker
):
    created = submit(intake_api)
    body = case_routed(created["reference"], [referral_ref("sso")]).to_body()
    body["schema_version"] = 99
    publish_routing(body)
    [letter] = wait_until(lambda: list_dead_letters(broker["AMQP_URI"], "intake"))
    assert letter.event_id == body["event_id"]
    assert letter.event_type == "case_routed"
    assert letter.queue == "evt-routing-case_routed--intake.on_case_routed"
    assert "UnknownEventVersion" in (letter.error or "")
    assert letter.attempts == 0  # retrying cannot help: not retried
    assert [step["status"] for step in follow(intake_api, created)["timeline"]] == [
        "received"
    ]


def test_an_event_about_an_unknown_case_is_dead_lettered_after_retries(
    intake_api, publish_routing, broker, intake_config
):
    event = case_routed("LN-2569-99999999", [referral_ref("sso")])
    publish_routing(event)
    [letter] = wait_until(
        lambda: list_dead_letters(broker["AMQP_URI"], "intake"), timeout=30
    )
    assert letter.event_id == event.event_id
    assert letter.correlation_id == "LN-2569-99999999"
    assert "UnknownCase" in (letter.error or "")
    assert letter.attempts == 1 + int(intake_config.get("EVENT_MAX_RETRIES", 5))


# --- the contact an office may read -------------------------------------------------


def contact(api: Any, created: dict, headers: dict[str, str]) -> Any:
    return api.get(f"/v1/cases/{created['reference']}/contact", headers=headers)


def contact_reads(sql: Callable[..., list[Any]], reference: str) -> list[tuple]:
    return [
        (row.actor_scope, row.actor, row.purpose)
        for row in sql(
            "SELECT actor_scope, actor, purpose FROM audit_log "
            "WHERE case_reference = :ref AND action = 'read_contact' ORDER BY id",
            ref=reference,
        )
    ]


@pytest.fixture
def routed(intake_api, publish_routing) -> Callable[..., tuple[dict, dict, dict]]:
    """A case referred to dlpw and sso in Lampang (the refs returned)."""

    def make(**submitted: Any) -> tuple[dict, dict, dict]:
        created = submit(intake_api, **submitted)
        dlpw = referral_ref("dlpw")
        sso = referral_ref("sso", categories=["social_security_benefit"])
        publish_routing(case_routed(created["reference"], [dlpw, sso]))
        once_steps(intake_api, created, 3)
        return created, dlpw, sso

    return make


def test_the_office_handling_the_case_reads_the_contact_and_is_audited(
    intake_api, routed, intake_bearer, intake_sql
):
    created, dlpw, _sso = routed()
    citizen = created["body"]["citizen"]
    reference = created["reference"]

    response = contact(
        intake_api, created, intake_bearer("agency", agency="dlpw", province="TH-52")
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "name": citizen["name"],
        "phone": "+66" + citizen["phone"][1:],
        "email": "malee.s@example.org",
        "line_user_id": None,
        "language": "th",
        "language_chosen": True,
        "contact_channel": "sms",
    }
    nationwide = contact(intake_api, created, intake_bearer("agency", agency="dlpw"))
    assert nationwide.status_code == 200
    operator = contact(intake_api, created, intake_bearer("operator", name="somsri"))
    assert operator.status_code == 200
    assert set(operator.json()) == CONTACT_FIELDS
    assert contact_reads(intake_sql, reference) == [
        ("agency", "dlpw.TH-52", f"referral {dlpw['referral_id']}"),
        ("agency", "dlpw", f"referral {dlpw['referral_id']}"),
        ("operator", "somsri", None),
    ]


def test_nobody_else_reads_the_contact_and_nothing_leaks(
    intake_api, routed, intake_bearer, intake_sql, subtests
):
    created, _dlpw, _sso = routed()
    citizen = created["body"]["citizen"]
    refused = {
        "another agency": intake_bearer("agency", agency="doe"),
        "the agency in another province": intake_bearer(
            "agency", agency="dlpw", province="TH-50"
        ),
        "a field agent": intake_bearer("agent", agent_id="agent-001"),
    }
    for label, headers in refused.items():
        with subtests.test(label):
            response = contact(intake_api, created, headers)
            assert response.status_code == 404, response.text
            assert response.json()["code"] == "not_found"
            assert citizen["name"] not in response.text
    with subtests.test("the citizen, with the tracking code but no token"):
        response = contact(intake_api, created, {TRACKING: created["tracking_code"]})
        assert response.status_code == 401
        assert citizen["name"] not in response.text
    with subtests.test("an unknown case"):
        response = intake_api.get(
            "/v1/cases/LN-2569-99999999/contact",
            headers=intake_bearer("agency", agency="dlpw"),
        )
        assert response.status_code == 404
    assert contact_reads(intake_sql, created["reference"]) == []


def test_the_contact_closes_with_the_referral(
    intake_api, routed, publish_routing, intake_bearer
):
    created, dlpw, sso = routed()
    reference = created["reference"]
    sso_office = intake_bearer("agency", agency="sso", province="TH-52")
    dlpw_office = intake_bearer("agency", agency="dlpw", province="TH-52")
    assert contact(intake_api, created, sso_office).status_code == 200
    publish_routing(
        referral_status_changed(
            reference, sso, "rejected", note="ไม่ใช่ผู้ประกันตน", at=later(1)
        )
    )
    once_steps(intake_api, created, 4)
    assert contact(intake_api, created, sso_office).status_code == 404
    # dlpw still handles it
    assert contact(intake_api, created, dlpw_office).status_code == 200
    publish_routing(
        referral_status_changed(
            reference, dlpw, "resolved", outcome="resolved", at=later(2)
        )
    )
    once_steps(intake_api, created, 5)
    assert contact(intake_api, created, dlpw_office).status_code == 404


def test_without_consent_to_agency_contact_no_office_reads_it(
    intake_api, routed, intake_bearer, intake_sql
):
    created, _dlpw, _sso = routed(agencies_may_contact=False)
    response = contact(intake_api, created, intake_bearer("agency", agency="dlpw"))
    assert response.status_code == 404
    whole = intake_api.get(
        f"/v1/cases/{created['reference']}", headers=intake_bearer("operator")
    ).json()
    assert whole["citizen"]["agencies_may_contact"] is False
    assert contact_reads(intake_sql, created["reference"]) == []


def test_consent_to_agency_contact_is_not_given_by_default(intake_api, intake_bearer):
    body = case_payload(random.Random(11))
    body["location"] = {"province_code": "TH-52"}
    assert "agencies_may_contact" not in body["consent"]
    created = intake_api.post("/v1/cases", json=body).json()
    whole = intake_api.get(
        f"/v1/cases/{created['reference']}", headers=intake_bearer("operator")
    ).json()
    assert whole["citizen"]["agencies_may_contact"] is False


def test_after_erasure_or_withdrawal_nobody_reads_the_contact(
    intake_api, routed, intake_bearer, intake_sql
):
    operator = intake_bearer("operator")
    dlpw_office = intake_bearer("agency", agency="dlpw")
    erased, _dlpw, _sso = routed()
    response = intake_api.delete(
        f"/v1/cases/{erased['reference']}/personal-data", headers=operator
    )
    assert response.status_code == 204
    assert contact(intake_api, erased, dlpw_office).status_code == 404
    assert contact(intake_api, erased, operator).status_code == 404

    withdrawn, _dlpw, _sso = routed()
    response = intake_api.post(
        f"/v1/cases/{withdrawn['reference']}/withdraw",
        headers={TRACKING: withdrawn["tracking_code"]},
    )
    assert response.status_code == 200
    # routing has not withdrawn the referrals yet: the case's word counts
    assert contact(intake_api, withdrawn, dlpw_office).status_code == 404
    for created in (erased, withdrawn):
        assert [
            actor for actor, *_ in contact_reads(intake_sql, created["reference"])
        ] == []


# --- documentation and readiness -----------------------------------------------------


def test_openapi_documents_the_contact_and_the_referrals(intake_api):
    spec = intake_api.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    operation = spec["paths"]["/v1/cases/{reference}/contact"]["get"]
    assert {"200", "401", "404", "429"} <= set(operation["responses"])
    assert operation["security"]
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    name = ok["$ref"].rsplit("/", 1)[-1]
    assert set(schemas[name]["properties"]) == CONTACT_FIELDS
    assert "agencies_may_contact" in schemas["Consent"]["properties"]
    assert "referrals" in schemas["CaseStatus"]["properties"]
    assert {"agency", "agency_name", "office", "status", "since", "expected_by"} <= (
        set(schemas["ReferralOut"]["properties"])
    )


def test_readiness_counts_the_handlers_of_routing_events(intake_api):
    ready = intake_api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["consumers"] is True


def test_not_ready_while_a_handler_queue_is_refused(
    container_factory, intake_config, broker
):
    from labornet_intake.service import IntakeService

    # a stray classic queue under a handler's name: declaring it as quorum
    # fails, and nameko retries for ever while the HTTP API answers
    queue = "evt-routing-case_closed--intake.on_case_closed"
    with kombu.Connection(broker["AMQP_URI"]) as connection:
        channel = connection.channel()
        channel.queue_declare(queue, durable=True, auto_delete=False)
        channel.close()
    container = container_factory(IntakeService, intake_config)
    starting = eventlet.spawn(container.start)
    base = f"http://{intake_config['WEB_SERVER_ADDRESS']}"

    def readiness() -> tuple[int, dict[str, Any]] | None:
        try:
            response = requests.get(f"{base}/readyz", timeout=5)
        except requests.ConnectionError:
            return None  # not listening yet
        return response.status_code, response.json()

    status, state = wait_until(readiness)
    assert status == 503
    assert state["checks"]["consumers"] is False
    assert state["checks"]["database"] is True
    with kombu.Connection(broker["AMQP_URI"]) as connection:
        channel = connection.channel()
        channel.queue_delete(queue)
        channel.close()
    # the next retry declares the queue and consumes
    wait_until(
        lambda: (
            readiness()
            == (
                200,
                {
                    **state,
                    "ready": True,
                    "checks": {**state["checks"], "consumers": True},
                },
            )
        ),
        timeout=15,
    )
    starting.wait()
