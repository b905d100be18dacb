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
