"""Bad input never gets a 500: property-based tests from intake's own OpenAPI.

schemathesis reads the running service's ``/openapi.json`` and generates
requests for each case operation: its coverage cases (boundary values,
missing and wrongly typed values, unexpected methods) and Hypothesis-driven
random ones, schema-conforming and mutated. Every answer must be below 500
and pass schemathesis' checks (documented status codes, media types, headers
and response schemas), and every 4xx must be a problem+json with a ``code``
(a 400 with ``errors`` naming a ``field``). Part of the requests carry an
operator token, part name a case that exists (some with its tracking code)
and part of the new cases have a real place, so the protected and the
successful paths are exercised as well as the refusals.

Deterministic: a fixed seed, derandomized Hypothesis, no example database.
schemathesis' pytest loader (``from_fixture``) fails under pytest 9.2 (it
sets ``Function._nodeid``, which pytest no longer has), so the test drives
the operations itself, through ``iter_coverage_cases``, ``as_strategy`` and
``validate_response``.
"""

from __future__ import annotations

import base64
import copy
from collections import Counter
from random import Random
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from labornet_shared.testing import anonymous_case_payload, case_payload
from labornet_shared.tokens import issue_token

OPERATIONS = [
    ("POST", "/v1/cases"),
    ("GET", "/v1/cases/{reference}"),
    ("GET", "/v1/cases"),
    ("POST", "/v1/cases/{reference}/withdraw"),
    ("DELETE", "/v1/cases/{reference}/personal-data"),
]
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
SEED = 20251126

# A case is checked against the gazetteer, the national ID's check digit and
# the consent rules, and a cursor is opaque: schema-valid input may be a 400
# there (never anything else).
SEMANTIC_400 = {
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "400", "401", "404", "409", "422", "429"]
        }
    }
}
OPERATION_CONFIG = [
    {"include-path": "/v1/cases", "include-method": "POST", **SEMANTIC_400},
    {"include-path": "/v1/cases", "include-method": "GET", **SEMANTIC_400},
]
# Strings are drawn from all of Unicode (Thai text included); header values
# then stay ASCII. With the latin-1 codec header values take any byte a
# client may send, as WSGI reads them, and body strings stay latin-1.
CODECS = ("utf-8", "latin-1")


def config(codec: str) -> Any:
    return schemathesis.Config.from_dict(
        {"seed": SEED, "generation": {"codec": codec}, "operations": OPERATION_CONFIG}
    )


FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    # no shrinking: the first failing request is reported as it was
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)

# places the gazetteer knows, for generated cases that should be taken in
PLACES = [
    {"province_code": "TH-52", "subdistrict_code": "520105"},
    {"province_code": "TH-10", "district_code": "1001"},
    {"province_code": "TH-50", "lat": 18.79, "long": 98.98},
    {"province_code": "TH-90"},
]


def check(case: Any, token: str | None, seen: Counter[tuple[str, int]]) -> None:
    """Send ``case`` and hold the answer to the HTTP conventions."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    response = case.call(headers=headers)
    seen[(case.method.upper(), response.status_code)] += 1
    assert response.status_code < 500, case.as_curl_command(headers)[:1000]
    if 400 <= response.status_code < 500:
        media_type = response.headers.get("content-type")
        assert media_type == ["application/problem+json"], media_type
        problem = response.json()
        assert problem["code"], problem
        assert problem["status"] == response.status_code, problem
        if response.status_code == 400:
            assert problem["errors"], problem
            assert all(error.get("field") for error in problem["errors"]), problem
    # documented status, media type, headers and schema; negative data refused
    case.validate_response(response, headers=headers)


@st.composite
def in_a_known_place(draw: Any, cases: Any) -> Any:
    """A generated POST /v1/cases moved to a place the gazetteer knows."""
    case = draw(cases)
    if isinstance(case.body, dict):
        place = draw(st.sampled_from(PLACES))
        case.body = {**case.body, "location": copy.deepcopy(place)}
    return case


def strategies_for(operation: Any, path: str, known: list[dict[str, Any]]) -> list[Any]:
    """Random requests, and ones that name cases that exist."""
    strategies = [operation.as_strategy(mode) for mode in MODES]
    if path == "/v1/cases" and operation.method.upper() == "POST":
        strategies.append(in_a_known_place(operation.as_strategy()))
    if "{reference}" in path:
        for created in known:
            reference = {"reference": created["reference"]}
            code = {"X-Tracking-Code": created["tracking_code"]}
            for mode in MODES:
                strategies.append(
                    operation.as_strategy(mode, path_parameters=reference)
                )
            strategies.append(
                operation.as_strategy(path_parameters=reference, headers=code)
            )
    return strategies


def regressions(operation: Any) -> list[Any]:
    """Requests that once got a 500, beyond what the generators reach."""
    label = f"{operation.method.upper()} {operation.path}"
    if label == "POST /v1/cases":
        # NUL is not storable in PostgreSQL text
        key = {"Idempotency-Key": "retry\x00"}
        return [operation.Case(headers=key, body=anonymous_case_payload())]
    if label == "GET /v1/cases":
        # json.loads recurses once per level of nesting
        nested = base64.urlsafe_b64encode(b"[" * 2500 + b"]" * 2500).decode()
        return [operation.Case(query={"cursor": nested.rstrip("=")})]
    return []


def test_bad_input_never_gets_a_500(start_intake, intake_config, subtests):
    api = start_intake(RATE_LIMIT_ANONYMOUS="1000000/minute")
    token = issue_token(intake_config["TOKEN_SECRET"], "operator")
    schemas = [
        schemathesis.openapi.from_url(
            f"{api.base_url}/openapi.json", config=config(codec)
        )
        for codec in CODECS
    ]
    # cases that exist, so generated requests also reach the 2xx paths
    known = []
    bodies = [
        case_payload(Random(1)),
        anonymous_case_payload(),
        case_payload(Random(2)),
    ]
    for body in bodies:
        created = api.post("/v1/cases", json=body)
        assert created.status_code == 201, created.text
        known.append(created.json())

    for method, path in OPERATIONS:
        operations = [schema[path][method] for schema in schemas]
        seen: Counter[tuple[str, int]] = Counter()
        with subtests.test(f"{method} {path}"):
            schema, operation = schemas[0], operations[0]
            generation = schema.config.generation_for(
                operation=operation, phase="coverage"
            )
            coverage = schema.iter_coverage_cases(
                operation, generation_modes=MODES, generation_config=generation
            )
            for number, case in enumerate(coverage):
                check(case, token if number % 2 else None, seen)
            for case in regressions(operation):
                check(case, token, seen)

            strategies = [
                strategy
                for each in operations
                for strategy in strategies_for(each, path, known)
            ]

            @FUZZ
            @given(case=st.one_of(strategies), with_token=st.booleans())
            def fuzz(case: Any, with_token: bool) -> None:
                check(case, token if with_token else None, seen)

            fuzz()
            print(method, path, sorted(seen.items()))
            # the generated requests got past the refusals too
            assert any(200 <= status < 300 for (_, status) in seen), seen
