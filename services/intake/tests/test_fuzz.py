"""Bad input never gets a 500: property-based tests from intake's own OpenAPI.

The harness (:mod:`labornet_testkit.fuzzing`) sends, for each case operation,
schemathesis' coverage cases and Hypothesis-driven random requests,
schema-conforming and mutated: every answer must be below 500 and as
documented, and every 4xx a problem+json with a ``code`` (a 400 naming its
fields). Here intake adds what the generators cannot know: cases that exist
(some requests name them, some with their tracking code), places the
gazetteer knows (so part of the new cases are taken in), closed cases and
genuine feedback links for them (as JSON and as a web form), and the requests
that once got a 500.
"""

from __future__ import annotations

import base64
import copy
from random import Random
from typing import Any

from hypothesis import strategies as st

from labornet_shared.tokens import issue_feedback_token, issue_token
from labornet_testkit.fuzzing import MODES, fuzz_operations
from labornet_testkit.harness import anonymous_case_payload, case_payload, wait_until
from labornet_testkit.intake import closing_events

OPERATIONS = [
    ("POST", "/v1/cases"),
    ("GET", "/v1/cases/{reference}"),
    ("GET", "/v1/cases"),
    ("GET", "/v1/cases/{reference}/contact"),
    ("POST", "/v1/cases/{reference}/withdraw"),
    ("DELETE", "/v1/cases/{reference}/personal-data"),
    ("POST", "/v1/cases/{reference}/feedback"),
]

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
# a well-formed answer with a token that is not a genuine link, for another
# case, for a case not closed or answered before is refused
FEEDBACK_REFUSED = {
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "401", "404", "409", "429"]
        }
    }
}
OPERATION_CONFIG = [
    {"include-path": "/v1/cases", "include-method": "POST", **SEMANTIC_400},
    {"include-path": "/v1/cases", "include-method": "GET", **SEMANTIC_400},
    {
        "include-path": "/v1/cases/{reference}/feedback",
        "include-method": "POST",
        **FEEDBACK_REFUSED,
    },
]

# places the gazetteer knows, for generated cases that should be taken in
PLACES = [
    {"province_code": "TH-52", "subdistrict_code": "520105"},
    {"province_code": "TH-10", "district_code": "1001"},
    {"province_code": "TH-50", "lat": 18.79, "long": 98.98},
    {"province_code": "TH-90"},
]


@st.composite
def in_a_known_place(draw: Any, cases: Any) -> Any:
    """A generated POST /v1/cases moved to a place the gazetteer knows."""
    case = draw(cases)
    if isinstance(case.body, dict):
        place = draw(st.sampled_from(PLACES))
        case.body = {**case.body, "location": copy.deepcopy(place)}
    return case


def naming_known_cases(known: list[dict[str, Any]]) -> Any:
    """Strategies for an operation: new cases in a known place, and requests
    that name cases that exist (with and without their tracking code)."""

    def strategies_for(operation: Any) -> list[Any]:
        strategies = []
        if operation.path == "/v1/cases" and operation.method.upper() == "POST":
            strategies.append(in_a_known_place(operation.as_strategy()))
        if "{reference}" in operation.path:
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

    return strategies_for


def feedback_answers(secret: str, closed: list[str]) -> Any:
    """Genuine answers to the feedback of ``closed`` cases, alternately as
    JSON and from a web form, each sent twice (the second is refused)."""

    def cases(operation: Any) -> list[Any]:
        made = []
        for number, reference in enumerate(closed):
            token = issue_feedback_token(secret, reference)
            if number % 2:
                body: dict[str, Any] = {"token": token, "rating": "4", "solved": "yes"}
                media_type = "application/x-www-form-urlencoded"
            else:
                body = {"token": token, "rating": 5, "solved": True, "comment": "ดี"}
                media_type = "application/json"
            for _ in range(2):
                made.append(
                    operation.Case(
                        path_parameters={"reference": reference},
                        body=body,
                        media_type=media_type,
                    )
                )
        return made

    return cases


def regressions(operation: Any, feedback: Any = None) -> list[Any]:
    """Requests that once got a 500, beyond what the generators reach, and
    the genuine feedback answers ``feedback(operation)`` makes."""
    label = f"{operation.method.upper()} {operation.path}"
    if label == "POST /v1/cases/{reference}/feedback" and feedback is not None:
        return list(feedback(operation))
    if label == "POST /v1/cases":
        # NUL is not storable in PostgreSQL text
        key = {"Idempotency-Key": "retry\x00"}
        return [operation.Case(headers=key, body=anonymous_case_payload())]
    if label == "GET /v1/cases":
        # json.loads recurses once per level of nesting
        nested = base64.urlsafe_b64encode(b"[" * 2500 + b"]" * 2500).decode()
        return [operation.Case(query={"cursor": nested.rstrip("=")})]
    return []


def test_bad_input_never_gets_a_500(
    start_intake, intake_config, publish_routing, subtests
):
    api = start_intake(RATE_LIMIT_ANONYMOUS="1000000/minute")
    token = issue_token(intake_config["TOKEN_SECRET"], "operator")
    # cases that exist, so generated requests also reach the 2xx paths
    known = []
    bodies = [
        case_payload(Random(1)),
        anonymous_case_payload(),
        case_payload(Random(2)),
        case_payload(Random(3)),
        case_payload(Random(4)),
    ]
    for body in bodies:
        created = api.post("/v1/cases", json=body)
        assert created.status_code == 201, created.text
        known.append(created.json())
    # two of them closed, for their citizens' feedback
    closed = [created["reference"] for created in known[3:]]
    for reference in closed:
        publish_routing(*closing_events(reference))
    for created in known[3:]:
        wait_until(
            lambda created=created: (
                api.get(
                    f"/v1/cases/{created['reference']}",
                    headers={"X-Tracking-Code": created["tracking_code"]},
                ).json()["status"]
                == "closed"
            )
        )
    feedback = feedback_answers(intake_config["TOKEN_SECRET"], closed)

    seen = fuzz_operations(
        api.base_url,
        OPERATIONS,
        token,
        subtests,
        strategies_for=naming_known_cases(known),
        regressions=lambda operation: regressions(operation, feedback),
        operation_config=OPERATION_CONFIG,
    )
    served = {
        f"{method.upper()} {path}"
        for path, operations in api.get("/openapi.json").json()["paths"].items()
        for method in operations
        if not path.startswith(
            ("/healthz", "/readyz", "/metrics", "/openapi", "/asyncapi")
        )
    }
    # the HTML pages and Open311 answer in their own formats and have their
    # own tests (test_*_page.py, test_open311.py); every JSON operation here
    # is fuzzed, so a new one cannot be forgotten
    own_formats = ("/t/", "/f/", "/a/", "/open311/")
    assert set(seen) == {
        label for label in served if not label.split(" ", 1)[1].startswith(own_formats)
    }
