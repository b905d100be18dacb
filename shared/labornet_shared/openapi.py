"""OpenAPI 3.1 documents generated from the services' marshmallow schemas."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "code", "message"],
                "properties": {
                    "field": {"type": "string"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}

# Headers every labornet endpoint reads (labornet_shared.http).
COMMON_HEADERS: tuple[dict[str, Any], ...] = (
    {
        "name": "Accept-Language",
        "description": "Problems in Thai (th) or English (the default).",
        "schema": {"type": "string"},
    },
    {
        "name": "X-Correlation-Id",
        "description": "Carried into the service's log lines.",
        "schema": {"type": "string"},
    },
)

# Headers that problems of these statuses always carry.
PROBLEM_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {"required": True, "schema": {"type": "string"}},
    },
    405: {
        "Allow": {"required": True, "schema": {"type": "string"}},
    },
    429: {
        "Retry-After": {
            "required": True,
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "integer", "minimum": 1},
        },
    },
}


@dataclass(frozen=True)
class Operation:
    """One documented endpoint.

    ``security`` names the schemes a caller may use; with ``anonymous`` a
    caller without credentials is served too. ``headers`` are header
    parameters: a name (any string) or a whole OpenAPI parameter object.
    ``path_schemas`` gives the schema of path parameters (default: string).
    ``response`` may be a tuple of schemas when the answer is one of several
    (documented as ``anyOf``); ``response_headers`` are headers of the
    success answer.
    """

    method: str
    path: str
    summary: str
    request: type[Schema] | None = None
    response: type[Schema] | tuple[type[Schema], ...] | None = None
    status: int = 200
    errors: tuple[int, ...] = (400,)
    security: tuple[str, ...] = ()
    headers: tuple[str | dict[str, Any], ...] = ()
    query: type[Schema] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    request_required: bool = True
    anonymous: bool = False
    path_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    response_headers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: media type of a success answer that is not JSON (a CSV download)
    content_type: str | None = None


def _header_parameter(header: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(header, str):
        return {"in": "header", "name": header, "schema": {"type": "string"}}
    return {"in": "header", "schema": {"type": "string"}, **header}


def build_spec(title: str, version: str, operations: list[Operation]) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``operations``."""
    spec = APISpec(
        title=title,
        version=version,
        openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()],
    )
    spec.components.schema("Problem", PROBLEM_SCHEMA)
    spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    for path, operations_by_method in paths.items():
        spec.path(path=path, operations=operations_by_method)
    return _ecma_patterns(_responses_complete(spec.to_dict()))


def _operation(op: Operation) -> dict[str, Any]:
    """The OpenAPI operation object of one endpoint."""
    operation: dict[str, Any] = {"summary": op.summary, "responses": _responses(op)}
    operation["parameters"] = _parameters(op)
    if op.request is not None:
        operation["requestBody"] = {
            "required": op.request_required,
            "content": {"application/json": {"schema": op.request}},
        }
    if op.security:
        operation["security"] = [{name: []} for name in op.security]
        if op.anonymous:
            operation["security"].append({})
    operation.update(op.extra)
    return operation


def _responses(op: Operation) -> dict[str, Any]:
    """The success answer of an endpoint, then a problem for each error
    status."""
    success: dict[str, Any] = {"description": "success"}
    if isinstance(op.response, tuple):
        schema: Any = {"anyOf": list(op.response)}
        success["content"] = {"application/json": {"schema": schema}}
    elif op.response:
        success["content"] = {"application/json": {"schema": op.response}}
    elif op.content_type:
        success["content"] = {op.content_type: {"schema": {"type": "string"}}}
    if op.response_headers:
        success["headers"] = dict(op.response_headers)
    responses: dict[str, Any] = {str(op.status): success}
    for status in op.errors:
        responses[str(status)] = {
            "description": "problem",
            "content": {"application/problem+json": {"schema": "Problem"}},
            **(
                {"headers": dict(PROBLEM_HEADERS[status])}
                if status in PROBLEM_HEADERS
                else {}
            ),
        }
    return responses


def _parameters(op: Operation) -> list[dict[str, Any]]:
    """An endpoint's header, path and query parameters, in that order."""
    parameters: list[dict[str, Any]] = [
        _header_parameter(header) for header in (*COMMON_HEADERS, *op.headers)
    ]
    for name in _path_parameters(op.path):
        parameters.append(
            {
                "in": "path",
                "name": name,
                "required": True,
                "schema": op.path_schemas.get(name, {"type": "string"}),
            }
        )
    if op.query is not None:
        parameters.append({"in": "query", "schema": op.query})
    return parameters


def _refs(node: Any) -> set[str]:
    """Names of the component schemas that ``node`` refers to."""
    if isinstance(node, dict):
        found = set()
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node))
    return set()


def _closure(names: set[str], schemas: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name not in seen and name in schemas:
            seen.add(name)
            stack += _refs(schemas[name])
    return seen


def _responses_complete(document: dict[str, Any]) -> dict[str, Any]:
    """Answers carry every field of their schema (``null`` when empty): say so.

    marshmallow marks only input fields ``required``; the schemas that only
    answers use list all their properties as required, so a client (and
    schemathesis) can rely on them.
    """
    schemas = document.get("components", {}).get("schemas", {})
    answers: set[str] = set()
    requests: set[str] = set()
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            requests |= _refs(operation.get("parameters", []))
            requests |= _refs(operation.get("requestBody", {}))
            for status, response in operation.get("responses", {}).items():
                if status.startswith("2"):
                    answers |= _refs(response.get("content", {}))
    for name in _closure(answers, schemas) - _closure(requests, schemas):
        properties = schemas[name].get("properties")
        if properties:
            schemas[name]["required"] = list(properties)
    return document


# Python-only anchors in the marshmallow validators' patterns. JSON Schema's
# patterns are ECMA-262, where "\\Z" is a literal "Z" (or an error): a client
# generated from the document would refuse every valid value. ``$`` is the
# same end of the text there (ECMA's ``$`` never matches before a newline).
_PYTHON_ANCHORS = (("\\A", "^"), ("\\Z", "$"))


def _ecma_patterns(node: Any) -> Any:
    """Every ``pattern`` of the document in ECMA-262 syntax (in place)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                for python, ecma in _PYTHON_ANCHORS:
                    value = value.replace(python, ecma)
                node[key] = value
            else:
                _ecma_patterns(value)
    elif isinstance(node, list):
        for item in node:
            _ecma_patterns(item)
    return node


def _path_parameters(path: str) -> list[str]:
    return re.findall(r"{([^}]+)}", path)
