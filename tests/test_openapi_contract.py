"""The four services' OpenAPI documents say what the services accept, in
JSON Schema's own terms, so that a client generated from them is right.

The documents are built as ``/openapi.json`` serves them, from each service's
operations (no service runs here); the services' answers to requests drawn
from the same documents are checked by each service's ``test_fuzz.py``.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
from marshmallow import Schema, fields, validate

from labornet_shared.openapi import Operation, build_spec
from labornet_shared.reference import (
    ReferenceError,
    normalize_phone,
    validate_country,
    validate_national_id,
)
from labornet_shared.web import PROBE_OPERATIONS

SERVICES = {
    "intake": "IntakeService",
    "registry": "RegistryService",
    "routing": "RoutingService",
    "notify": "NotifyService",
}


def document(service: str) -> dict[str, Any]:
    module = importlib.import_module(f"labornet_{service}.service")
    cls = getattr(module, SERVICES[service])
    return build_spec(cls.openapi_title, "1.0.0", [*cls.operations, *PROBE_OPERATIONS])


def patterns(node: Any, where: str = "") -> list[tuple[str, str]]:
    if isinstance(node, dict):
        found = []
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                found.append((where, value))
            else:
                found += patterns(value, f"{where}/{key}")
        return found
    if isinstance(node, list):
        return [p for i, item in enumerate(node) for p in patterns(item, where)]
    return []


# syntax Python's re has and ECMA-262 (JSON Schema's patterns) has not, or
# reads otherwise: \Z and \A are literal letters there
PYTHON_ONLY = re.compile(r"\\[AZ]|\(\?P[<=]|\(\?[aiLmsux]+[:)]")


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_pattern_is_json_schema_regex(service: str) -> None:
    found = patterns(document(service))
    assert found, "no pattern at all: the walk is broken"
    wrong = [(where, p) for where, p in found if PYTHON_ONLY.search(p)]
    assert not wrong, wrong


def test_a_marshmallow_pattern_reads_the_same_in_the_document() -> None:
    class Place(Schema):
        province = fields.String(
            validate=validate.Regexp(r"^TH-[0-9]{2}\Z", error="province_format")
        )

    spec = build_spec("t", "1", [Operation("POST", "/p", "p", request=Place)])
    pattern = spec["components"]["schemas"]["Place"]["properties"]["province"][
        "pattern"
    ]
    assert pattern == "^TH-[0-9]{2}$"
    # what the service accepts, the document accepts; what it refuses, too
    for value in ("TH-52", "TH-52Z", "TH-5", "XTH-52"):
        accepted = not Place().validate({"province": value})
        assert bool(re.search(pattern, value)) == accepted, value


def test_webhook_urls_the_service_refuses_outright_the_document_refuses() -> None:
    spec = document("notify")
    url = spec["components"]["schemas"]["SubscriptionCreate"]["properties"]["url"]
    pattern = url["pattern"]
    for good in ("https://hooks.sso.go.th/labornet", "HTTP://127.0.0.1:9/h"):
        assert re.search(pattern, good), good
    for bad in (
        "https://hooks.example/a\r\nX-Injected: 1",
        "https://hooks.example/a b",
        "https://hooks.example/\t",
        "ftp://hooks.example/a",
        "javascript:alert(1)",
    ):
        assert not re.search(pattern, bad), bad


def field_schema(service: str, component: str, name: str) -> dict[str, Any]:
    schemas = document(service)["components"]["schemas"]
    return dict(schemas[component]["properties"][name])


# (service, component, field): values the service takes, and values whose
# shape it refuses — the document must say the same of each
SHAPES = [
    (
        ("intake", "Citizen", "national_id"),
        ["1101700230708", "1-1017-00230-70-8", " 1 1017 00230 70 8 ", "๑๑๐๑๗๐๐๒๓๐๗๐๘"],
        ["1101700230708x", "abc", "-1101700230708", ""],
    ),
    (
        ("registry", "AgentCreate", "national_id"),
        ["1101700230708", "1-1017-00230-70-8"],
        ["1101700230708x", "11017.00230708"],
    ),
    (("intake", "CaseCreate", "abroad_country"), ["TW", "tw", " KR "], ["TWN", "T1"]),
    (("registry", "AgentCreate", "abroad_country"), ["TW", "il"], ["Taiwan", "1"]),
    (
        ("intake", "Citizen", "phone"),
        [
            "081-234-5678",
            "+66 81 234 5678",
            "(02) 123-4567",
            "๐๘๑๒๓๔๕๖๗๘",
            "+886912345678",
        ],
        ["081-234-5678 ext 2", "tel:0812345678", "call me", ""],
    ),
]


@pytest.mark.parametrize(("where", "taken", "refused"), SHAPES)
def test_the_document_takes_what_the_service_takes(
    where: tuple[str, str, str], taken: list[str], refused: list[str]
) -> None:
    pattern = field_schema(*where)["pattern"]
    check = {
        "abroad_country": validate_country,
        "national_id": validate_national_id,
        "phone": normalize_phone,
    }[where[2]]
    for value in taken:
        check(value)  # the service takes it
        assert re.search(pattern, value), (where, value)
    for value in refused:
        with pytest.raises(ReferenceError):
            check(value)
        assert not re.search(pattern, value), (where, value)
