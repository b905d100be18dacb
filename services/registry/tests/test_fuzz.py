"""Bad input never gets a 500: property-based tests from registry's own OpenAPI.

The harness (:mod:`labornet_testkit.fuzzing`) sends, for each operation,
schemathesis' coverage cases and Hypothesis-driven random requests,
schema-conforming and mutated: every answer must be below 500 and as
documented, and every 4xx a problem+json with a ``code`` (a 400 naming its
fields). Here registry adds what the generators cannot know: agents that
exist (requests name them, some with the agent's own token), places the
gazetteer knows and valid national IDs (so part of the new agents are
registered), rosters shaped like the provinces' spreadsheets, and crafted
requests the generators do not reach. Afterwards the agents that were there
before are still there, once each, under the same national ID: no request,
however mangled, harmed them.
"""

from __future__ import annotations

import base64
import csv
import io
import random
from typing import Any

import schemathesis
from hypothesis import strategies as st

from labornet_registry.domain import roster_view
from labornet_registry.roster import COLUMNS
from labornet_registry.service import XLSX_TYPE
from labornet_shared.reference import generate_national_id
from labornet_shared.tokens import issue_token
from labornet_testkit.fuzzing import MODES, fuzz_operations, signed
from labornet_testkit.registry import agent_input, agent_payload

OPERATIONS = [
    ("POST", "/v1/agents"),
    ("GET", "/v1/agents"),
    ("GET", "/v1/agents/{agent_id}"),
    ("PATCH", "/v1/agents/{agent_id}"),
    ("POST", "/v1/agents/{agent_id}/deactivate"),
    ("GET", "/v1/coverage"),
    ("GET", "/v1/stats"),
    ("POST", "/v1/agents/import"),
    # after the imports: their rejected rows, and the whole roster
    ("GET", "/v1/agents/imports/{import_id}/rejected.csv"),
    ("GET", "/v1/agents/export.csv"),
]

# An agent is checked against the gazetteer, the national ID's check digit and
# the place rules (Thailand or abroad, not both; a term ends after it starts),
# a country against ISO 3166, a roster's query against its file, and a cursor
# is opaque: schema-valid input may be a 400 there (never anything else).
SEMANTIC_400 = {
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "400", "401", "404", "409", "422", "429"]
        }
    }
}
OPERATION_CONFIG = [
    {"include-path": path, "include-method": method, **SEMANTIC_400}
    for method, path in (
        ("POST", "/v1/agents"),
        ("GET", "/v1/agents"),
        ("PATCH", "/v1/agents/{agent_id}"),
        ("GET", "/v1/coverage"),
        ("POST", "/v1/agents/import"),
    )
]
# eight operations at 200 examples each take over a minute on PostgreSQL
MAX_EXAMPLES = 150

# An XLSX roster is bytes on the wire, as any other binary body.
schemathesis.serializer.alias(XLSX_TYPE, "application/octet-stream")

# places the gazetteer knows: coverage areas in Thailand, or a country abroad
AREAS = [
    [{"province_code": "TH-52", "subdistrict_code": "520101"}],
    [{"province_code": "TH-10", "district_code": "1001"}],
    [{"province_code": "TH-95"}],
    [
        {"province_code": "TH-50", "district_code": "5001"},
        {"province_code": "TH-50", "district_code": "5002"},
    ],
]
ABROAD = [("TW", "Taipei"), ("IL", None), ("KR", "Seoul")]
# places that have agents, for GET /v1/coverage
COVERAGE_QUERIES = [
    {"province": "TH-52"},
    {"province": "TH-52", "district": "5201", "subdistrict": "520101"},
    {"province": "TH-10", "district": "1001"},
    {"country": "TW"},
]


@st.composite
def placed(draw: Any, cases: Any) -> Any:
    """A generated agent body moved to a real place (in Thailand or abroad)."""
    case = draw(cases)
    if isinstance(case.body, dict):
        if draw(st.booleans()):
            place = {"areas": draw(st.sampled_from(AREAS)), "abroad_country": None}
        else:
            country, city = draw(st.sampled_from(ABROAD))
            place = {"areas": [], "abroad_country": country, "abroad_city": city}
        case.body = {**case.body, **place}
    return case


@st.composite
def registrable(draw: Any, cases: Any) -> Any:
    """A generated POST /v1/agents in a real place, with a valid national ID
    most of the time."""
    case = draw(placed(cases))
    if isinstance(case.body, dict) and draw(st.integers(0, 3)):
        national_id = generate_national_id(draw(st.randoms(use_true_random=False)))
        case.body = {**case.body, "national_id": national_id}
    return case


def roster_csv(columns: Any, rows: list[dict[str, Any]], thai: bool = False) -> str:
    """A roster CSV of these rows (cells by column name), headed in English
    or Thai."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.header_th if thai else c.name for c in columns])
    for row in rows:
        writer.writerow([row[c.name] for c in columns])
    return out.getvalue()


@st.composite
def rosters(draw: Any, known: list[dict[str, Any]]) -> str:
    """A roster as provinces send them: English or Thai headers in any order,
    real agents (some already registered), some cells generated."""
    columns = draw(st.permutations(COLUMNS))
    rows = []
    for _ in range(draw(st.integers(0, 4))):
        agent = agent_input(draw(st.randoms(use_true_random=False)))
        if draw(st.booleans()):
            agent["national_id"] = draw(st.sampled_from(known))["national_id"]
        row = roster_view(agent)
        for column in columns:
            if draw(st.integers(0, 5)) == 0:
                row[column.name] = draw(st.text(max_size=20))
        rows.append(row)
    return roster_csv(columns, rows, thai=draw(st.booleans()))


@st.composite
def with_roster(draw: Any, cases: Any, known: list[dict[str, Any]]) -> Any:
    """A generated POST /v1/agents/import whose file is a roster: a CSV body
    (with or without a BOM) or a multipart upload."""
    case = draw(cases)
    roster = draw(rosters(known))
    # text, not bytes: schemathesis takes bytes for a string schema as a
    # negative case (Windows-874 bytes are in the regressions instead)
    if draw(st.booleans()):
        case.media_type = "text/csv"
        case.body = draw(st.sampled_from(["", "\ufeff"])) + roster
    else:
        case.media_type = "multipart/form-data"
        case.body = {"file": roster}
    return case


def naming_known_agents(known: list[dict[str, Any]], secret: str) -> Any:
    """Strategies for an operation: agents that can be registered, places
    that have agents and rosters (as an operator), and requests that name
    agents that exist (some with the agent's own token)."""
    operator = issue_token(secret, "operator")

    def strategies_for(operation: Any) -> list[Any]:
        label = f"{operation.method.upper()} {operation.path}"
        strategies = []
        if label == "POST /v1/agents":
            strategies.append(signed(registrable(operation.as_strategy()), operator))
        if label == "GET /v1/coverage":
            strategies.extend(
                signed(operation.as_strategy(query=query), operator)
                for query in COVERAGE_QUERIES
            )
        if label == "POST /v1/agents/import":
            roster = with_roster(operation.as_strategy(), known)
            strategies.append(signed(roster, operator))
        if "{import_id}" in operation.path:
            # the imports the fuzzing of POST /v1/agents/import made
            strategies.extend(
                signed(
                    operation.as_strategy(path_parameters={"import_id": number}),
                    operator,
                )
                for number in range(1, 30)
            )
        if "{agent_id}" in operation.path:
            for agent in known:
                agent_id = {"agent_id": agent["id"]}
                own = issue_token(secret, "agent", agent_id=agent["id"])
                strategies.extend(
                    operation.as_strategy(mode, path_parameters=agent_id)
                    for mode in MODES
                )
                strategies.append(
                    signed(operation.as_strategy(path_parameters=agent_id), own)
                )
                if operation.method.upper() == "PATCH":
                    strategies.append(
                        placed(operation.as_strategy(path_parameters=agent_id))
                    )
        return strategies

    return strategies_for


def _cursor(position: bytes) -> str:
    return base64.urlsafe_b64encode(position).decode().rstrip("=")


def regressions(operation: Any) -> list[Any]:
    """Requests the generators do not reach: crafted cursors, text
    PostgreSQL cannot store, rosters in Windows-874 and broken XLSX."""
    label = f"{operation.method.upper()} {operation.path}"
    rng = random.Random(7)
    if label == "POST /v1/agents":
        return [
            # NUL is not storable in PostgreSQL text
            operation.Case(body=agent_payload(rng, first_name_th="สม\x00ชาย")),
            # the same place fifty times is one place
            operation.Case(
                body=agent_payload(
                    rng,
                    areas=[{"province_code": "TH-52", "district_code": "5201"}] * 50,
                )
            ),
        ]
    if label == "GET /v1/agents":
        nested = b"[" * 2500 + b"]" * 2500
        return [
            # json.loads recurses once per level of nesting
            operation.Case(query={"cursor": _cursor(nested)}),
            # a cursor names an agent id: text PostgreSQL (NUL) or UTF-8
            # (a lone surrogate) cannot hold is no agent id
            operation.Case(query={"cursor": _cursor(b'{"id": "\\u0000"}')}),
            operation.Case(query={"cursor": _cursor(b'{"id": "\\ud800"}')}),
            # a name prefix is compared up to the highest code point
            operation.Case(query={"q": "\U0010ffff" * 100}),
        ]
    if label == "GET /v1/coverage":
        # a repeated parameter is refused by name, even an empty name
        return [operation.Case(query={"province": "TH-52", "": ["1", "2"]})]
    if label == "POST /v1/agents/import":
        columns = list(COLUMNS)
        nul = roster_view(agent_input(rng, first_name_th="สม\x00ชาย"))
        twice = roster_view(agent_input(rng))
        thai = roster_csv(columns, [roster_view(agent_input(rng))], thai=True)
        return [
            # Excel on Thai Windows saves CSV in Windows-874
            operation.Case(media_type="text/csv", body=thai.encode("cp874")),
            # a NUL in a cell is a row error, not a database error
            operation.Case(media_type="text/csv", body=roster_csv(columns, [nul])),
            # a duplicate in the file, under a name PostgreSQL cannot store
            operation.Case(
                media_type="text/csv",
                query={"filename": "roster\x00.csv"},
                body=roster_csv(columns, [twice, twice]),
            ),
            operation.Case(media_type="text/csv", body=b"\x00" * 100),
            # a zip that is no workbook is an unreadable roster
            operation.Case(media_type=XLSX_TYPE, body=b"PK\x03\x04not a workbook"),
        ]
    return []


def test_bad_input_never_gets_a_500(start_registry, registry_config, subtests):
    api = start_registry(
        RATE_LIMIT_ANONYMOUS="1000000/minute", RATE_LIMIT_AGENT="1000000/minute"
    )
    secret = registry_config["TOKEN_SECRET"]
    token = issue_token(secret, "operator")
    operator = {"Authorization": f"Bearer {token}"}
    # agents that exist, so generated requests also reach the 2xx paths
    bodies = [
        agent_payload(random.Random(1)),
        agent_payload(
            random.Random(2),
            kind="labour_graduate",
            areas=[{"province_code": "TH-10", "district_code": "1001"}],
        ),
        agent_payload(
            random.Random(3),
            areas=[],
            abroad_country="TW",
            abroad_city="Taipei",
            languages=["th", "zh"],
        ),
    ]
    known = []
    for body in bodies:
        created = api.post("/v1/agents", json=body, headers=operator)
        assert created.status_code == 201, created.text
        known.append(created.json())

    fuzz_operations(
        api.base_url,
        OPERATIONS,
        token,
        subtests,
        strategies_for=naming_known_agents(known, secret),
        regressions=regressions,
        operation_config=OPERATION_CONFIG,
        max_examples=MAX_EXAMPLES,
    )

    # changed, deactivated or re-imported, each agent that was there before is
    # still there, under the same national ID, and no other agent has it
    export = api.get("/v1/agents/export.csv", headers=operator)
    assert export.status_code == 200, export.text
    exported = list(csv.DictReader(io.StringIO(export.text.lstrip("\ufeff"))))
    for agent in known:
        read = api.get(f"/v1/agents/{agent['id']}", headers=operator)
        assert read.status_code == 200, read.text
        assert read.json()["national_id"] == agent["national_id"]
        holders = [
            row["agent_id"]
            for row in exported
            if row["national_id"] == agent["national_id"]
        ]
        assert holders == [agent["id"]]
