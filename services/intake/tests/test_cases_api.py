"""intake's case API as its users rely on it: field agents, operators and
citizens, with signed tokens, on a real RabbitMQ vhost and a real database."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt
import pytest

from labornet_shared.tokens import issue_token
from labornet_testkit.harness import anonymous_case_payload, case_payload

TRACKING = "X-Tracking-Code"
PROBLEM = "application/problem+json"


# --- helpers --------------------------------------------------------------------------


@pytest.fixture
def bearer(intake_config: dict[str, Any]) -> Callable[..., dict[str, str]]:
    """Authorization headers signed with this intake's TOKEN_SECRET."""
    secret = intake_config["TOKEN_SECRET"]

    def make(scope: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(secret, scope, **claims)}"}

    return make


@pytest.fixture
def operator(bearer) -> dict[str, str]:
    return bearer("operator", name="operator-somsri")


@pytest.fixture
def agent_1(bearer) -> dict[str, str]:
    return bearer("agent", agent_id="agent-001")


@pytest.fixture
def agent_2(bearer) -> dict[str, str]:
    return bearer("agent", agent_id="agent-002")


@pytest.fixture
def sql(intake_sql: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
    """A read-only SQL statement on intake's database (the kit's)."""
    return intake_sql


def lampang(**overrides: Any) -> dict[str, Any]:
    body = case_payload(random.Random())
    body["location"] = {"province_code": "TH-52", "subdistrict_code": "520105"}
    body.update(overrides)
    return body


def create(api: Any, body: dict[str, Any], headers: dict | None = None) -> dict:
    response = api.post("/v1/cases", json=body, headers=headers or {})
    assert response.status_code == 201, response.text
    return dict(response.json())


def assert_problem(response: Any, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == code
    return dict(problem)


def audit(sql, reference: str) -> list[tuple[str, str, str]]:
    return [
        (row.actor_scope, row.actor, row.action)
        for row in sql(
            "SELECT actor_scope, actor, action FROM audit_log "
            "WHERE case_reference = :ref ORDER BY id",
            ref=reference,
        )
    ]


# --- field agents ---------------------------------------------------------------------


def test_agent_submission_is_marked_and_readable_whole_by_that_agent_only(
    intake_api, agent_1, agent_2, operator, queue_tap, sql
):
    tap = queue_tap("intake.events", "case_received")
    body = lampang(channel="web")
    created = create(intake_api, body, agent_1)
    reference = created["reference"]

    [event] = tap.drain(expected=1)
    assert event["payload"]["submitted_by_agent_id"] == "agent-001"
    assert event["payload"]["channel"] == "field_agent"

    mine = intake_api.get(f"/v1/cases/{reference}", headers=agent_1)
    assert mine.status_code == 200, mine.text
    case = mine.json()
    assert case["channel"] == "field_agent"
    assert case["submitted_by_agent_id"] == "agent-001"
    assert case["description"] == body["description"]
    citizen = case["citizen"]
    assert citizen["name"] == body["citizen"]["name"]
    assert citizen["national_id"] == body["citizen"]["national_id"]
    assert citizen["phone"] == "+66" + body["citizen"]["phone"][1:]
    assert citizen["consent_purpose"] == body["consent"]["purpose"]
    assert case["location"]["district_code"] == "5201"

    theirs = intake_api.get(f"/v1/cases/{reference}", headers=agent_2)
    problem = assert_problem(theirs, 404, "not_found")
    assert body["citizen"]["name"] not in theirs.text
    assert "agent-001" not in str(problem)

    assert audit(sql, reference) == [("agent", "agent-001", "read_case")]


def test_operator_reads_any_case_whole_and_the_read_is_audited(
    intake_api, operator, sql
):
    body = lampang()
    reference = create(intake_api, body)["reference"]  # a citizen's own case
    assert audit(sql, reference) == []
    response = intake_api.get(f"/v1/cases/{reference}", headers=operator)
    assert response.status_code == 200, response.text
    case = response.json()
    assert case["citizen"]["name"] == body["citizen"]["name"]
    assert case["submitted_by_agent_id"] is None
    assert [t["status"] for t in case["timeline"]] == ["received"]
    assert audit(sql, reference) == [("operator", "operator-somsri", "read_case")]
    intake_api.get(f"/v1/cases/{reference}", headers=operator)
    assert len(audit(sql, reference)) == 2  # every read, not just the first


def test_the_case_says_whether_its_language_was_chosen_or_read(
    intake_api, agent_1, operator
):
    """A field agent files for a Myanmar worker who chose no language: the
    case view shows the language the description is written in and that
    nobody chose it; a citizen's choice stands, whatever they wrote in."""
    read = lampang(channel="web", description="အလုပ်ရှင်က လစာ နှစ်လ မပေးသေးပါ")
    del read["citizen"]["language"]
    chose = lampang()
    chose["citizen"]["language"] = "en"
    views = {}
    for name, body in (("read", read), ("chose", chose)):
        reference = create(intake_api, body, agent_1)["reference"]
        case = intake_api.get(f"/v1/cases/{reference}", headers=operator).json()
        views[name] = (case["language"], case["language_chosen"])
    assert views == {"read": ("my", False), "chose": ("en", True)}


def test_operator_asking_for_an_unknown_case_gets_404(intake_api, operator):
    for reference in ("LN-2568-99999999", "no-such-case"):
        response = intake_api.get(f"/v1/cases/{reference}", headers=operator)
        assert_problem(response, 404, "not_found")


def test_bad_token_is_401_problem(intake_api, intake_config, sql, subtests):
    secret = intake_config["TOKEN_SECRET"]
    forged_secret = "someone-elses-secret-of-plenty-length"
    headers = {
        "forged": "Bearer " + issue_token(forged_secret, "operator"),
        "expired": "Bearer "
        + issue_token(secret, "operator", ttl=timedelta(seconds=-60)),
        "garbage": "Bearer not.a.token",
        "basic": "Basic b3BlcmF0b3I6c2VjcmV0",
        "empty-bearer": "Bearer ",
        "unknown-scope": "Bearer "
        + jwt.encode({"iss": "labornet", "sub": "x", "scope": "root"}, secret),
        "other-issuer": "Bearer "
        + jwt.encode({"iss": "elsewhere", "sub": "x", "scope": "operator"}, secret),
    }
    created = create(intake_api, lampang())
    reference = created["reference"]
    for name, header in headers.items():
        for method, path in (
            ("GET", f"/v1/cases/{reference}"),
            ("GET", "/v1/cases"),
            ("POST", "/v1/cases"),
            ("POST", f"/v1/cases/{reference}/withdraw"),
            ("DELETE", f"/v1/cases/{reference}/personal-data"),
        ):
            with subtests.test(f"{name} {method} {path}"):
                response = intake_api.request(
                    method,
                    path,
                    # a right tracking code does not excuse a bad token
                    headers={
                        "Authorization": header,
                        TRACKING: created["tracking_code"],
                    },
                    json=lampang() if path == "/v1/cases" else None,
                )
                assert_problem(response, 401, "invalid_token")
                assert response.headers["WWW-Authenticate"] == "Bearer"
    assert sql("SELECT count(*) AS n FROM cases")[0].n == 1
    assert [tuple(r) for r in sql("SELECT status FROM cases")] == [("received",)]
    assert audit(sql, reference) == []


# --- listing --------------------------------------------------------------------------


@pytest.fixture
def listed(intake_api, agent_1, agent_2, operator) -> dict[str, dict[str, Any]]:
    """Six cases: two provinces, three categories, channels, agents; one
    withdrawn."""
    specs = {
        "lp_wages_web": (None, "TH-52", "520105", "unpaid_wages", "web"),
        "bkk_injury_phone": (None, "TH-10", "100101", "work_injury", "phone"),
        "lp_job_agent1": (agent_1, "TH-52", "520105", "job_seeking", "web"),
        "cm_none_agent2": (agent_2, "TH-50", "500101", None, "walk_in"),
        "lp_wages_agent1": (agent_1, "TH-52", "520105", "unpaid_wages", "web"),
        "bkk_wages_line": (None, "TH-10", "100101", "unpaid_wages", "line"),
    }
    cases = {}
    for name, (token, province, subdistrict, category, channel) in specs.items():
        body = anonymous_case_payload(
            location={"province_code": province, "subdistrict_code": subdistrict},
            category=category,
            channel=channel,
        )
        cases[name] = create(intake_api, body, token)
    withdrawn = cases["bkk_injury_phone"]
    response = intake_api.post(
        f"/v1/cases/{withdrawn['reference']}/withdraw",
        headers={TRACKING: withdrawn["tracking_code"]},
    )
    assert response.status_code == 200, response.text
    return cases


def list_names(api: Any, listed: dict, headers: dict, **params: Any) -> list[str]:
    response = api.get("/v1/cases", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    by_reference = {case["reference"]: name for name, case in listed.items()}
    return [by_reference[row["reference"]] for row in body["cases"]]


NEWEST_FIRST = [
    "bkk_wages_line",
    "lp_wages_agent1",
    "cm_none_agent2",
    "lp_job_agent1",
    "bkk_injury_phone",
    "lp_wages_web",
]


FILTERS = [
        ({}, NEWEST_FIRST),
        ({"province": "TH-52"}, ["lp_wages_agent1", "lp_job_agent1", "lp_wages_web"]),
        ({"district": "1001"}, ["bkk_wages_line", "bkk_injury_phone"]),
        ({"status": "withdrawn"}, ["bkk_injury_phone"]),
        ({"status": "received", "province": "TH-10"}, ["bkk_wages_line"]),
        ({"category": "unpaid_wages"},
         ["bkk_wages_line", "lp_wages_agent1", "lp_wages_web"]),
        ({"channel": "field_agent"}, ["lp_wages_agent1", "lp_job_agent1"]),
        ({"channel": "line"}, ["bkk_wages_line"]),
        ({"province": "TH-52", "category": "unpaid_wages", "channel": "web"},
         ["lp_wages_web"]),
        ({"province": "TH-96"}, []),
]  # fmt: skip


def test_operator_filters_cases(intake_api, operator, listed, subtests):
    for params, expected in FILTERS:
        with subtests.test(str(params)):
            assert list_names(intake_api, listed, operator, **params) == expected


def test_operator_filters_by_submission_time(intake_api, operator, listed):
    rows = intake_api.get("/v1/cases", headers=operator).json()["cases"]
    by_reference = {case["reference"]: name for name, case in listed.items()}
    times = {by_reference[r["reference"]]: r["created_at"] for r in rows}
    assert all(re.search(r"(Z|[+-]\d\d:\d\d)$", t) for t in times.values())
    # since is inclusive, until exclusive: the boundaries are the server's own
    # timestamps, so no clock is compared with the test's
    since, until = times["cm_none_agent2"], times["bkk_wages_line"]
    assert list_names(intake_api, listed, operator, submitted_since=since) == [
        "bkk_wages_line",
        "lp_wages_agent1",
        "cm_none_agent2",
    ]
    assert list_names(
        intake_api, listed, operator, submitted_since=since, submitted_until=until
    ) == ["lp_wages_agent1", "cm_none_agent2"]
    assert list_names(intake_api, listed, operator, submitted_until=since) == [
        "lp_job_agent1",
        "bkk_injury_phone",
        "lp_wages_web",
    ]


def test_cursor_pages_walk_every_case_once(intake_api, operator, listed):
    for params, expected in (
        ({}, NEWEST_FIRST),
        (
            {"category": "unpaid_wages"},
            ["bkk_wages_line", "lp_wages_agent1", "lp_wages_web"],
        ),
    ):
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
            response = intake_api.get("/v1/cases", params=query, headers=operator)
            assert response.status_code == 200, response.text
            page = response.json()
            assert len(page["cases"]) <= 2
            seen += [row["reference"] for row in page["cases"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
            assert pages < 10
        names = {case["reference"]: name for name, case in listed.items()}
        assert [names[r] for r in seen] == expected
        assert len(set(seen)) == len(seen)


def test_list_rows_carry_no_personal_data(intake_api, operator):
    body = lampang()
    create(intake_api, body)
    response = intake_api.get("/v1/cases", headers=operator)
    [row] = response.json()["cases"]
    assert "citizen" not in row and "description" not in row
    for secret in (body["citizen"]["name"], body["citizen"]["national_id"]):
        assert secret not in response.text


BAD_QUERIES = [
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"cursor": "eyJpZCI6ICJ4In0"}, "cursor"),  # {"id": "x"}
    ({"limit": "0"}, "limit"),
    ({"limit": "201"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"status": "lost"}, "status"),
    ({"province": "Lampang"}, "province"),
    ({"submitted_since": "yesterday"}, "submitted_since"),
    ({"sort": "name"}, "sort"),
    ({"cursor": "eyJpZCI6MTAwMDAwMDAwMDAwMDAwMDAwMDAwMDB9"}, "cursor"),  # 1e22
    ({"cursor": "eyJpZCI6dHJ1ZX0"}, "cursor"),  # {"id":true}
    ({"submitted_since": "0001-01-01T00:00:00+07:00"}, "submitted_since"),
    ({"submitted_until": "9999-12-31T23:59:59-07:00"}, "submitted_until"),
]


def test_bad_list_query_is_400_naming_the_parameter(intake_api, operator, subtests):
    for params, field in BAD_QUERIES:
        with subtests.test(str(params)):
            response = intake_api.get("/v1/cases", params=params, headers=operator)
            problem = assert_problem(response, 400, "validation_failed")
            assert field in {e["field"] for e in problem["errors"]}


def test_agent_lists_only_own_cases(intake_api, agent_1, agent_2, listed):
    assert list_names(intake_api, listed, agent_1) == [
        "lp_wages_agent1",
        "lp_job_agent1",
    ]
    assert list_names(intake_api, listed, agent_2, province="TH-52") == []
    assert list_names(intake_api, listed, agent_2) == ["cm_none_agent2"]


def test_anonymous_and_agency_cannot_list(intake_api, bearer, listed):
    anonymous = intake_api.get("/v1/cases")
    assert_problem(anonymous, 401, "unauthorized")
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    agency = intake_api.get("/v1/cases", headers=bearer("agency", agency="sso"))
    assert_problem(agency, 404, "not_found")
    for response in (anonymous, agency):
        assert listed["lp_wages_web"]["reference"] not in response.text


# --- withdrawing ----------------------------------------------------------------------


def test_citizen_withdraws_with_tracking_code(intake_api, queue_tap, sql):
    tap = queue_tap("intake.events", "case_withdrawn")
    created = create(intake_api, lampang())
    reference, code = created["reference"], created["tracking_code"]

    wrong = intake_api.post(
        f"/v1/cases/{reference}/withdraw", headers={TRACKING: "AAAAA-AAAAA"}
    )
    assert_problem(wrong, 404, "not_found")
    assert_problem(intake_api.post(f"/v1/cases/{reference}/withdraw"), 404, "not_found")

    response = intake_api.post(
        f"/v1/cases/{reference}/withdraw",
        json={"reason": "ได้รับเงินครบแล้ว"},
        headers={TRACKING: code.lower()},
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "withdrawn"

    [event] = tap.drain(expected=1)
    assert event["event_type"] == "case_withdrawn"
    assert event["correlation_id"] == reference
    assert event["payload"]["reference"] == reference
    assert event["payload"]["withdrawn_by"] == "citizen"
    assert "ได้รับเงิน" not in str(event)

    status = intake_api.get(f"/v1/cases/{reference}", headers={TRACKING: code})
    assert status.json()["status"] == "withdrawn"
    assert [(t["status"], t["note"]) for t in status.json()["timeline"]] == [
        ("received", None),
        ("withdrawn", "ได้รับเงินครบแล้ว"),
    ]

    again = intake_api.post(f"/v1/cases/{reference}/withdraw", headers={TRACKING: code})
    assert_problem(again, 409, "case_not_open")
    assert tap.drain(expected=0) == []  # announced once
    [row] = sql("SELECT status FROM cases")
    assert row.status == "withdrawn"


def test_agent_withdraws_own_case_only(intake_api, agent_1, agent_2, queue_tap):
    tap = queue_tap("intake.events", "case_withdrawn")
    reference = create(intake_api, lampang(), agent_1)["reference"]
    other = intake_api.post(f"/v1/cases/{reference}/withdraw", headers=agent_2)
    assert_problem(other, 404, "not_found")
    mine = intake_api.post(f"/v1/cases/{reference}/withdraw", headers=agent_1)
    assert mine.status_code == 200, mine.text
    [event] = tap.drain(expected=1)
    assert event["payload"]["withdrawn_by"] == "agent"


def test_withdraw_reason_is_checked(intake_api):
    created = create(intake_api, lampang())
    response = intake_api.post(
        f"/v1/cases/{created['reference']}/withdraw",
        json={"reason": "ก" * 1001, "extra": 1},
        headers={TRACKING: created["tracking_code"]},
    )
    problem = assert_problem(response, 400, "validation_failed")
    assert {e["field"] for e in problem["errors"]} == {"reason", "extra"}


# --- PDPA erasure ---------------------------------------------------------------------


def test_operator_erases_personal_data_and_the_case_remains(intake_api, operator, sql):
    body = lampang(category="unpaid_wages")
    body["citizen"]["email"] = "malee@example.com"
    body["location"]["address"] = "บ้านเลขที่ 12 หมู่ 3 ต.พระบาท"
    created = create(intake_api, body)
    reference, code = created["reference"], created["tracking_code"]

    response = intake_api.delete(
        f"/v1/cases/{reference}/personal-data", headers=operator
    )
    assert response.status_code == 204, response.text
    assert response.content == b""

    whole = intake_api.get(f"/v1/cases/{reference}", headers=operator)
    assert whole.status_code == 200
    case = whole.json()
    for name in ("name", "phone", "email", "national_id", "line_user_id"):
        assert case["citizen"][name] is None, name
    assert case["location"]["address"] is None
    assert case["personal_data_erased_at"] is not None
    assert case["category"] == "unpaid_wages"
    assert case["location"]["province_code"] == "TH-52"
    for secret in (
        body["citizen"]["name"],
        body["citizen"]["national_id"],
        body["citizen"]["phone"][1:],
        "malee@example.com",
        "บ้านเลขที่ 12",
        body["description"],
    ):
        assert secret not in whole.text, secret

    status = intake_api.get(f"/v1/cases/{reference}", headers={TRACKING: code})
    assert status.status_code == 200
    assert status.json()["status"] == "received"

    assert audit(sql, reference) == [
        ("operator", "operator-somsri", "erase_personal_data"),
        ("operator", "operator-somsri", "read_case"),
    ]
    stored = sql(
        "SELECT name, phone, email, national_id FROM citizen_contacts "
        "WHERE case_id = :case_id",
        case_id=int(reference.rsplit("-", 1)[1]),
    )
    assert [tuple(row) for row in stored] == [(None, None, None, None)]


def test_only_operators_erase(intake_api, agent_1, bearer, sql):
    body = lampang()
    created = create(intake_api, body, agent_1)
    path = f"/v1/cases/{created['reference']}/personal-data"
    assert_problem(intake_api.delete(path), 401, "unauthorized")
    assert_problem(intake_api.delete(path, headers=agent_1), 404, "not_found")
    agency = bearer("agency", agency="dlpw")
    assert_problem(intake_api.delete(path, headers=agency), 404, "not_found")
    assert_problem(
        intake_api.delete(path, headers={TRACKING: created["tracking_code"]}),
        401,
        "unauthorized",
    )
    [row] = sql("SELECT name FROM citizen_contacts")
    assert row.name == body["citizen"]["name"]
    assert audit(sql, created["reference"]) == []


def test_erasing_an_unknown_case_is_404(intake_api, operator):
    response = intake_api.delete(
        "/v1/cases/LN-2568-99999999/personal-data", headers=operator
    )
    assert_problem(response, 404, "not_found")


# --- OpenAPI, metrics, rate limits ----------------------------------------------------


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow $refs (and a nullable ``anyOf: [$ref, null]``) to the schema."""
    if "anyOf" in schema:
        [schema] = [s for s in schema["anyOf"] if s.get("type") != "null"]
    while "$ref" in schema:
        *_, name = schema["$ref"].split("/")
        schema = spec["components"]["schemas"][name]
    return schema


def test_openapi_documents_case_submission(intake_api):
    response = intake_api.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.1")
    post = spec["paths"]["/v1/cases"]["post"]
    schema = resolve(spec, post["requestBody"]["content"]["application/json"]["schema"])
    assert set(schema["properties"]) == {
        "description",
        "category",
        "channel",
        "location",
        "abroad_country",
        "citizen",
        "consent",
    }
    assert set(schema["required"]) == {"description", "location"}
    assert schema["additionalProperties"] is False
    assert schema["properties"]["description"]["minLength"] == 10
    assert schema["properties"]["description"]["maxLength"] == 5000
    assert "unpaid_wages" in schema["properties"]["category"]["enum"]
    citizen = resolve(spec, schema["properties"]["citizen"])
    assert {"name", "phone", "email", "national_id"} <= set(citizen["properties"])
    location = resolve(spec, schema["properties"]["location"])
    assert "province_code" in location["required"]
    assert "201" in post["responses"] and "413" in post["responses"]
    assert {"/v1/cases/{reference}", "/v1/cases/{reference}/withdraw"} <= set(
        spec["paths"]
    )
    assert "delete" in spec["paths"]["/v1/cases/{reference}/personal-data"]


def requests_counted(api: Any, route: str, status: str) -> float:
    response = api.get("/metrics")
    assert response.status_code == 200
    pattern = re.compile(
        r"^labornet_http_requests_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.M
    )
    total = 0.0
    for match in pattern.finditer(response.text):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        if labels == {
            "service": "intake",
            "method": "POST",
            "route": route,
            "status": status,
        }:
            total += float(match["value"])
    return total


def test_metrics_count_answered_requests(intake_api):
    before = requests_counted(intake_api, "/v1/cases", "201")
    create(intake_api, lampang())
    create(intake_api, lampang())
    assert requests_counted(intake_api, "/v1/cases", "201") == before + 2
    text_ = intake_api.get("/metrics").text
    assert "# TYPE labornet_http_requests_total counter" in text_


def test_anonymous_clients_are_rate_limited_but_not_operators(start_intake, bearer):
    api = start_intake(RATE_LIMIT_ANONYMOUS="3/minute")
    operator = bearer("operator")
    agent = bearer("agent", agent_id="agent-009")
    with api:
        created = create(api, lampang(), operator)
        path = f"/v1/cases/{created['reference']}"
        citizen = {TRACKING: created["tracking_code"]}
        for _ in range(3):
            assert api.get(path, headers=citizen).status_code == 200
        limited = api.get(path, headers={**citizen, "Accept-Language": "th"})
        problem = assert_problem(limited, 429, "rate_limited")
        assert re.search(r"[\u0E00-\u0E7F]", problem["title"])
        retry_after = int(limited.headers["Retry-After"])
        assert 1 <= retry_after <= 61
        # the limit is the anonymous client's, not the service's
        for _ in range(10):
            assert api.get(path, headers=operator).status_code == 200
        assert api.get("/v1/cases", headers=agent).status_code == 200
        assert api.post("/v1/cases", json=lampang()).status_code == 429
        # probes and scrapers from the same address are never limited
        for probe in ("/healthz", "/readyz", "/metrics"):
            assert api.get(probe).status_code == 200, probe


def test_abroad_country_is_stored_as_its_iso_code_whatever_spaces_it_came_with(
    intake_api, sql
):
    # the fuzzer's "\r\r Be\r" was accepted, then stored untrimmed: PostgreSQL
    # refused it for the two-letter column (a 500 after the 201 was decided)
    created = create(intake_api, lampang(abroad_country="\r\r Be\r"))
    number = int(created["reference"].rsplit("-", 1)[1])
    stored = sql("SELECT abroad_country FROM cases WHERE id = :id", id=number)
    assert [row.abroad_country for row in stored] == ["BE"]
