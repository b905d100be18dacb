"""The AsyncAPI 3.0 document of every event labornet publishes.

What an agency integrator (or a new service) reads before subscribing: the
exchanges and routing keys, the envelope, every payload schema by version,
and which queue of which service consumes what. It is generated from the
schemas producers and consumers validate with
(:data:`labornet_shared.events.EVENT_TYPES`) and from the subscription table
``labornet setup-broker`` declares
(:data:`labornet_shared.subscriptions.SUBSCRIPTIONS`), so it cannot say
something the code does not do. Every service serves it at
``GET /asyncapi.json``; ``python -m labornet_shared.asyncapi PATH`` writes
the copy committed as ``docs/asyncapi.json`` (``make docs-asyncapi``).
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from labornet_shared.categories import AGENCIES, CATEGORIES
from labornet_shared.events import (
    CURRENT_VERSIONS,
    EVENT_TYPES,
    REFERRALS_EXCHANGE,
    EnvelopeSchema,
)
from labornet_shared.openapi import _ecma_patterns
from labornet_shared.subscriptions import SUBSCRIPTIONS, Subscription

ASYNCAPI_VERSION = "3.0.0"
#: the version of the AMQP bindings' own schema the document follows
AMQP_BINDING_VERSION = "0.3.0"
#: the vhost every exchange and queue lives on (``LABORNET_AMQP_URI``'s)
VHOST = "/"
#: events routing also publishes, as a separate copy with its own
#: ``event_id``, to the agencies' topic exchange :data:`REFERRALS_EXCHANGE`
REFERRAL_EXCHANGE_EVENTS = ("referral_issued", "referral_status_changed")
#: the AMQP headers every event carries (besides its properties)
HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "AMQP application headers, as nameko's event dispatcher "
    "sets them; the properties carry the same values: `message_id` is the "
    "event id, `correlation_id` the case reference, `type` the event type, "
    "`content_type` application/json, `content_encoding` utf-8, "
    "`delivery_mode` 2 (persistent), `timestamp` when it was published.",
    "properties": {
        "nameko.event_id": {
            "type": "string",
            "format": "uuid",
            "description": "the envelope's `event_id`",
        },
        "nameko.correlation_id": {
            "type": "string",
            "description": "the envelope's `correlation_id` (empty when null)",
        },
    },
}
DESCRIPTION = """\
Every event labornet publishes, generated from the schemas its services
validate with (`labornet_shared.events`) and the consumers `labornet
setup-broker` declares (`labornet_shared.subscriptions`).

Each service publishes its events to its own topic exchange,
`<service>.events`, with the event type as routing key, through an outbox:
an event leaves only once the change it reports is committed, and may
arrive more than once — consumers keep the `event_id`s they have handled.
Routing also publishes a copy of each referral's events to
`labornet.referrals`, keyed `<agency>.<province_code>.<category>`: the
exchange an agency's own queue binds to (`labornet agency create CODE` makes
its RabbitMQ user, allowed to bind only its own `CODE.` keys).

Every message is a JSON envelope (`Envelope`) whose `payload` follows the
schema of its `event_type` and `schema_version`. A consumer refuses (and
dead-letters) a type or version it does not know; new events use the
highest version listed, and older versions stay here while messages of
theirs may still be queued. The field-by-field meanings are in the
repository's docs/events.md."""


def _first_paragraph(schema: type[Schema]) -> str:
    doc = (schema.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(doc.split()).replace("``", "`")


def _schemas() -> dict[str, Any]:
    """``components.schemas``: the envelope and every payload version, as
    JSON Schema (nested schemas by name, patterns in ECMA-262 syntax)."""
    spec = APISpec(
        title="labornet events",
        version="1",
        openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()],
    )
    spec.components.schema("Envelope", schema=EnvelopeSchema)
    described = {"Envelope": EnvelopeSchema}
    for _source, payload in EVENT_TYPES.values():
        name = payload.__name__
        if name not in described:
            spec.components.schema(name, schema=payload)
            described[name] = payload
    schemas: dict[str, Any] = spec.to_dict()["components"]["schemas"]
    for name, schema in described.items():
        schemas[name] = {"description": _first_paragraph(schema), **schemas[name]}
    return dict(_ecma_patterns(schemas))


def _message_id(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}"


def _versions(event_type: str) -> list[int]:
    return sorted(v for (t, v) in EVENT_TYPES if t == event_type)


def _message(event_type: str, version: int) -> dict[str, Any]:
    _source, payload = EVENT_TYPES[(event_type, version)]
    current = CURRENT_VERSIONS[event_type]
    status = (
        "the version new events have"
        if version == current
        else f"still read (messages queued before v{current}); new events are "
        f"v{current}"
    )
    return {
        "name": event_type,
        "title": f"{event_type} v{version}",
        "summary": _first_paragraph(payload),
        "description": f"`{event_type}` v{version}: {status}.",
        "contentType": "application/json",
        "correlationId": {
            "description": "the case reference the event is about (null: none)",
            "location": "$message.payload#/correlation_id",
        },
        "headers": {"$ref": "#/components/schemas/AmqpHeaders"},
        "payload": {
            "allOf": [
                {"$ref": "#/components/schemas/Envelope"},
                {
                    "type": "object",
                    "properties": {
                        "event_type": {"const": event_type},
                        "schema_version": {"const": version},
                        "payload": {"$ref": f"#/components/schemas/{payload.__name__}"},
                    },
                },
            ]
        },
        "bindings": {
            "amqp": {
                "contentEncoding": "utf-8",
                "messageType": event_type,
                "bindingVersion": AMQP_BINDING_VERSION,
            }
        },
    }


def _exchange(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "topic",
        "durable": True,
        "autoDelete": False,
        "vhost": VHOST,
    }


def _channel_messages(event_types: list[str]) -> dict[str, Any]:
    return {
        _message_id(t, v): {"$ref": f"#/components/messages/{_message_id(t, v)}"}
        for t in event_types
        for v in _versions(t)
    }


def _operation_messages(channel: str, channel_body: dict[str, Any]) -> list[Any]:
    return [
        {"$ref": f"#/channels/{channel}/messages/{message}"}
        for message in channel_body["messages"]
    ]


def _events_channel(event_type: str, source: str) -> dict[str, Any]:
    consumers = [s for s in SUBSCRIPTIONS if s.event_type == event_type]
    consumed = (
        "consumed inside labornet by "
        + ", ".join(f"{s.service} (queue `{s.queue}`)" for s in consumers)
        if consumers
        else "consumed by nobody inside labornet: without a bound queue it is "
        "kept in `labornet.unrouted` (`labornet unrouted list`)"
    )
    return {
        "address": event_type,
        "title": f"{event_type} on {source}.events",
        "description": f"{source} publishes `{event_type}` to the topic "
        f"exchange `{source}.events` with routing key `{event_type}`; "
        f"{consumed}.",
        "messages": _channel_messages([event_type]),
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": _exchange(f"{source}.events"),
                "bindingVersion": AMQP_BINDING_VERSION,
            }
        },
    }


def _referrals_channel() -> dict[str, Any]:
    return {
        "address": "{agency}.{province_code}.{category}",
        "title": f"referrals on {REFERRALS_EXCHANGE}",
        "description": "Routing publishes a copy of each referral's "
        + " and ".join(f"`{t}`" for t in REFERRAL_EXCHANGE_EVENTS)
        + f" (with its own `event_id`) to the topic exchange "
        f"`{REFERRALS_EXCHANGE}`, keyed by the office that must act and the "
        "referral's main category. An agency binds its queue "
        "(`agency.<CODE>.<name>`) with keys such as `sso.#` or "
        "`sso.TH-52.*`; a referral no queue takes waits in "
        f"`{REFERRALS_EXCHANGE}.unrouted` until replayed.",
        "parameters": {
            "agency": {
                "description": "the agency that must act",
                "enum": list(AGENCIES),
            },
            "province_code": {
                "description": "the office's province, ISO 3166-2 (`TH-52`)",
                "examples": ["TH-52", "TH-10"],
            },
            "category": {
                "description": "the referral's main category",
                "enum": list(CATEGORIES),
            },
        },
        "messages": _channel_messages(list(REFERRAL_EXCHANGE_EVENTS)),
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": _exchange(REFERRALS_EXCHANGE),
                "bindingVersion": AMQP_BINDING_VERSION,
            }
        },
    }


def _queue_channel(subscription: Subscription) -> dict[str, Any]:
    return {
        "address": subscription.queue,
        "title": f"{subscription.service}'s queue of {subscription.event_type}",
        "description": f"A quorum queue bound to `{subscription.exchange}` "
        f"with key `{subscription.event_type}`, declared by `labornet "
        f"setup-broker`; retried, then dead-lettered to "
        f"`{subscription.service}.dlq`.",
        "messages": _channel_messages([subscription.event_type]),
        "bindings": {
            "amqp": {
                "is": "queue",
                "queue": {
                    "name": subscription.queue,
                    "durable": True,
                    "exclusive": False,
                    "autoDelete": False,
                    "vhost": VHOST,
                },
                "bindingVersion": AMQP_BINDING_VERSION,
            }
        },
    }


def _publish(channel: str, body: dict[str, Any], summary: str) -> dict[str, Any]:
    return {
        "action": "send",
        "channel": {"$ref": f"#/channels/{channel}"},
        "summary": summary,
        "messages": _operation_messages(channel, body),
        "bindings": {
            "amqp": {
                "deliveryMode": 2,
                "mandatory": False,
                "timestamp": True,
                "bindingVersion": AMQP_BINDING_VERSION,
            }
        },
    }


def _receive(channel: str, body: dict[str, Any], summary: str) -> dict[str, Any]:
    return {
        "action": "receive",
        "channel": {"$ref": f"#/channels/{channel}"},
        "summary": summary,
        "messages": _operation_messages(channel, body),
        "bindings": {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING_VERSION}},
    }


def build_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document, built anew from the registries."""
    channels, operations = _channels_and_operations()
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:labornet:events",
        "info": {
            "title": "labornet events",
            "version": "1.0.0",
            "description": DESCRIPTION,
        },
        "defaultContentType": "application/json",
        "servers": _servers(),
        "channels": channels,
        "operations": operations,
        "components": _components(),
    }


def _channels_and_operations() -> tuple[dict[str, Any], dict[str, Any]]:
    """Every channel (the events exchanges' keys, the referrals exchange, the
    consumers' queues) and the operations that send to or read from it."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for event_type, version in CURRENT_VERSIONS.items():
        source = EVENT_TYPES[(event_type, version)][0]
        name = f"{source}.events.{event_type}"
        channels[name] = _events_channel(event_type, source)
        operations[f"{source}.publish.{event_type}"] = _publish(
            name, channels[name], f"{source} publishes {event_type}"
        )
    channels[REFERRALS_EXCHANGE] = _referrals_channel()
    operations["routing.publish.referrals"] = _publish(
        REFERRALS_EXCHANGE,
        channels[REFERRALS_EXCHANGE],
        "routing publishes each referral's events to the agencies",
    )
    operations["agency.receive.referrals"] = _receive(
        REFERRALS_EXCHANGE,
        channels[REFERRALS_EXCHANGE],
        "an agency's system reads its offices' referrals from its own queue",
    )
    for subscription in SUBSCRIPTIONS:
        name = subscription.queue
        channels[name] = _queue_channel(subscription)
        operations[f"{subscription.service}.{subscription.method}"] = _receive(
            name,
            channels[name],
            f"{subscription.service} handles {subscription.event_type}",
        )
    return channels, operations


def _servers() -> dict[str, Any]:
    """The deployment's broker."""
    return {
        "rabbitmq": {
            "host": "{host}",
            "protocol": "amqp",
            "protocolVersion": "0-9-1",
            "title": "RabbitMQ",
            "description": "The deployment's broker (`LABORNET_AMQP_URI`), "
            f"vhost `{VHOST}`.",
            "variables": {
                "host": {
                    "default": "localhost:5672",
                    "description": "host and port of LABORNET_AMQP_URI",
                }
            },
            "security": [{"$ref": "#/components/securitySchemes/agencyUser"}],
        }
    }


def _components() -> dict[str, Any]:
    """The payload schemas, one message per event version, and the agencies'
    security scheme."""
    schemas = {**_schemas(), "AmqpHeaders": HEADERS_SCHEMA}
    return {
        "schemas": schemas,
        "messages": {
            _message_id(t, v): _message(t, v) for (t, v) in sorted(EVENT_TYPES)
        },
        "securitySchemes": {
            "agencyUser": {
                "type": "userPassword",
                "description": "A RabbitMQ user and password; an agency's "
                "is made by `labornet agency create CODE`, which lets it "
                f"bind only `CODE.` keys on `{REFERRALS_EXCHANGE}` and read "
                "only its own `agency.CODE.*` queues.",
            }
        },
    }


@functools.cache
def document_json() -> bytes:
    """The document as ``GET /asyncapi.json`` serves it (built once)."""
    return json.dumps(build_document(), ensure_ascii=False).encode("utf-8")


def document_text() -> str:
    """The document as ``docs/asyncapi.json`` holds it (indented, one
    trailing newline)."""
    return json.dumps(build_document(), ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m labornet_shared.asyncapi [PATH]``: write the document to
    PATH (default: print it)."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        sys.stdout.write(document_text())
        return 0
    path = Path(args[0])
    path.write_text(document_text(), encoding="utf-8")
    sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
