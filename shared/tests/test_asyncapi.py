"""The AsyncAPI document: valid AsyncAPI 3.0.0, complete, true to the events
the code makes, and committed as generated.

Validity is judged by the official AsyncAPI 3.0.0 JSON Schema
(``asyncapi/asyncapi-3.0.0.schema.json``, vendored from the npm registry's
``@asyncapi/specs``: see ``asyncapi/README.md``), which also checks the AMQP
bindings; broken documents show it can fail. Truth is judged by real events:
each one :func:`~labornet_shared.events.make_event` builds validates against
its message's schema in the document, and one the code refuses, the document
refuses too.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT7

from labornet_shared.asyncapi import (
    REFERRAL_EXCHANGE_EVENTS,
    build_document,
    document_json,
    main,
)
from labornet_shared.events import CURRENT_VERSIONS, EVENT_TYPES, make_event
from labornet_shared.subscriptions import SUBSCRIPTIONS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OFFICIAL_SCHEMA = HERE / "asyncapi" / "asyncapi-3.0.0.schema.json"
COMMITTED = ROOT / "docs" / "asyncapi.json"


def _module(path: Path, name: str) -> ModuleType:
    """A test module by its path (the suite imports in importlib mode)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: a valid payload of every current event type (the event tests' own)
SAMPLE_PAYLOADS: dict[str, Callable[..., dict[str, Any]]] = _module(
    HERE / "test_events.py", "labornet_asyncapi_sample_events"
).SAMPLE_PAYLOADS


@pytest.fixture(scope="module")
def official() -> jsonschema.Draft7Validator:
    schema = json.loads(OFFICIAL_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document()


def _errors(validator: jsonschema.Draft7Validator, document: Any) -> list[str]:
    return [error.message for error in validator.iter_errors(document)]


def test_the_document_is_valid_asyncapi_3(
    official: jsonschema.Draft7Validator, document: dict[str, Any]
) -> None:
    assert document["asyncapi"] == "3.0.0"
    assert _errors(official, document) == []


BREAKAGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "channel address not a string": lambda d: d["channels"][
        "intake.events.case_received"
    ].update(address=42),
    "message payload not a schema": lambda d: d["components"]["messages"][
        "case_received.v1"
    ].update(payload="the envelope"),
    "payload schema of an unknown type": lambda d: d["components"]["schemas"][
        "CaseReceivedV1"
    ].update(type="objekt"),
    "payload schema's required not a list": lambda d: d["components"]["schemas"][
        "CaseReceivedV1"
    ].update(required="reference"),
    "AMQP exchange of an unknown type": lambda d: d["channels"][
        "intake.events.case_received"
    ]["bindings"]["amqp"]["exchange"].update(type="fanoutx"),
    "AMQP channel that is neither key nor queue": lambda d: d["channels"][
        "intake.events.case_received"
    ]["bindings"]["amqp"].update({"is": "exchange"}),
    "operation action of AsyncAPI 2": lambda d: d["operations"][
        "intake.publish.case_received"
    ].update(action="publish"),
    "operation without its channel": lambda d: d["operations"][
        "routing.on_case_received"
    ].pop("channel"),
    "no info": lambda d: d.pop("info"),
    "another AsyncAPI version": lambda d: d.update(asyncapi="2.6.0"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_the_official_schema_refuses_a_broken_document(
    official: jsonschema.Draft7Validator, document: dict[str, Any], breakage: str
) -> None:
    broken = copy.deepcopy(document)
    BREAKAGES[breakage](broken)
    assert broken != document
    assert _errors(official, broken), breakage


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    refs = _refs(document)
    assert len(refs) > 100
    for ref in refs:
        _resolve(document, ref)


def test_an_operation_sends_or_receives_only_its_channels_messages(
    document: dict[str, Any],
) -> None:
    for name, operation in document["operations"].items():
        channel = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel + "/messages/"), name


def test_every_event_type_and_version_has_its_message(
    document: dict[str, Any],
) -> None:
    messages = document["components"]["messages"]
    assert set(messages) == {f"{t}.v{v}" for (t, v) in EVENT_TYPES}
    for (event_type, version), (source, _schema) in EVENT_TYPES.items():
        channel = document["channels"][f"{source}.events.{event_type}"]
        assert channel["address"] == event_type
        assert channel["bindings"]["amqp"]["exchange"]["name"] == f"{source}.events"
        assert channel["bindings"]["amqp"]["exchange"]["type"] == "topic"
        assert f"{event_type}.v{version}" in channel["messages"]
        published = document["operations"][f"{source}.publish.{event_type}"]
        assert published["action"] == "send"
        assert messages[f"{event_type}.v{version}"]["bindings"]["amqp"] == {
            "contentEncoding": "utf-8",
            "messageType": event_type,
            "bindingVersion": "0.3.0",
        }


def test_the_agencies_exchange_carries_the_referral_copies(
    document: dict[str, Any],
) -> None:
    channel = document["channels"]["labornet.referrals"]
    assert channel["address"] == "{agency}.{province_code}.{category}"
    assert set(channel["parameters"]) == {"agency", "province_code", "category"}
    assert channel["bindings"]["amqp"]["exchange"]["name"] == "labornet.referrals"
    assert set(channel["messages"]) == {
        f"{t}.v{v}" for (t, v) in EVENT_TYPES if t in REFERRAL_EXCHANGE_EVENTS
    }
    # the same list docs/events.md is generated with
    docs_test = _module(ROOT / "tests" / "test_docs.py", "labornet_asyncapi_docs")
    assert tuple(docs_test.ALSO_TO_AGENCIES) == REFERRAL_EXCHANGE_EVENTS


def test_every_consumer_has_its_queue_and_receive_operation(
    document: dict[str, Any],
) -> None:
    for subscription in SUBSCRIPTIONS:
        queue = document["channels"][subscription.queue]
        assert queue["bindings"]["amqp"]["is"] == "queue"
        assert queue["bindings"]["amqp"]["queue"]["name"] == subscription.queue
        assert subscription.exchange in queue["description"]
        operation = document["operations"][
            f"{subscription.service}.{subscription.method}"
        ]
        assert operation["action"] == "receive"
        assert operation["channel"]["$ref"] == f"#/channels/{subscription.queue}"


def _payload_validator(
    document: dict[str, Any], message: str
) -> jsonschema.Draft7Validator:
    registry: Registry[Any] = Registry().with_resource(
        "urn:labornet:events", DRAFT7.create_resource(document)
    )
    return jsonschema.Draft7Validator(
        {"$ref": f"urn:labornet:events#/components/messages/{message}/payload"},
        registry=registry,
    )


def _body(event_type: str, payload: dict[str, Any], **kwargs: Any) -> Any:
    event = make_event(event_type, payload, "LN-2569-00000001", **kwargs)
    return json.loads(json.dumps(event.to_body()))


@pytest.mark.parametrize("event_type", sorted(CURRENT_VERSIONS))
def test_a_real_event_matches_its_message_schema(
    document: dict[str, Any], event_type: str
) -> None:
    version = CURRENT_VERSIONS[event_type]
    body = _body(event_type, SAMPLE_PAYLOADS[event_type]())
    validator = _payload_validator(document, f"{event_type}.v{version}")
    assert _errors(validator, body) == []
    # a payload the code refuses, the document refuses
    assert _errors(validator, {**body, "payload": {}})
    # and an event is not another version's or another type's
    other = "case_withdrawn" if event_type != "case_withdrawn" else "case_received"
    assert _errors(_payload_validator(document, f"{other}.v1"), body)


def test_an_older_version_still_matches_its_own_message(
    document: dict[str, Any],
) -> None:
    agent = {"agent_id": "A-0042", "kind": "labour_volunteer"}
    v1_agent = {**agent, "name_th": "มาลี ศรีสุข", "phone": None, "line_user_id": None}
    payload = {**SAMPLE_PAYLOADS["referral_issued"](), "follow_up_agent": v1_agent}
    old = _body("referral_issued", payload, schema_version=1)
    assert _errors(_payload_validator(document, "referral_issued.v1"), old) == []
    # v2 has the agent by id only: v1's name and phone are refused there
    assert _errors(_payload_validator(document, "referral_issued.v2"), old)


def test_a_bad_field_value_is_refused_by_the_document(
    document: dict[str, Any],
) -> None:
    body = _body("case_received", SAMPLE_PAYLOADS["case_received"]())
    validator = _payload_validator(
        document, f"case_received.v{CURRENT_VERSIONS['case_received']}"
    )
    for field, value in (
        ("channel", "pigeon"),
        ("category", "astrology"),
        ("phone", "+66812345678"),
    ):
        broken = {**body, "payload": {**body["payload"], field: value}}
        assert _errors(validator, broken), field
    bad_province = copy.deepcopy(body)
    bad_province["payload"]["location"]["province_code"] = "52"
    assert _errors(validator, bad_province)


def test_the_committed_document_is_the_generated_one() -> None:
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert committed == build_document(), (
        "docs/asyncapi.json is out of date: run `make docs-asyncapi`"
    )
    assert json.loads(document_json()) == committed


def test_the_command_writes_the_document(tmp_path: Path) -> None:
    target = tmp_path / "asyncapi.json"
    assert main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == COMMITTED.read_text(encoding="utf-8")
