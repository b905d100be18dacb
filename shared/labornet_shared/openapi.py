"""OpenAPI 3.1 documents generated from the services' marshmallow schemas."""

from __future__ import annotations

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
                "properties": {
                    "field": {"type": "string"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}


@dataclass(frozen=True)
class Operation:
    """One documented endpoint."""

    method: str
    path: str
    summary: str
    request: type[Schema] | None = None
    response: type[Schema] | None = None
    status: int = 200
    errors: tuple[int, ...] = (400,)
    security: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    query: type[Schema] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


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
        responses: dict[str, Any] = {
            str(op.status): {
                "description": "success",
                **(
                    {"content": {"application/json": {"schema": op.response}}}
                    if op.response
                    else {}
                ),
            }
        }
        for status in op.errors:
            responses[str(status)] = {
                "description": "problem",
                "content": {"application/problem+json": {"schema": "Problem"}},
            }
        operation: dict[str, Any] = {"summary": op.summary, "responses": responses}
        parameters: list[dict[str, Any]] = [
            {"in": "header", "name": name, "schema": {"type": "string"}}
            for name in op.headers
        ]
        for name in _path_parameters(op.path):
            parameters.append(
                {
                    "in": "path",
                    "name": name,
                    "required": True,
                    "schema": {"type": "string"},
                }
            )
        if op.query is not None:
            parameters.append({"in": "query", "schema": op.query})
        if parameters:
            operation["parameters"] = parameters
        if op.request is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": op.request}},
            }
        if op.security:
            operation["security"] = [{name: []} for name in op.security]
        operation.update(op.extra)
        paths.setdefault(op.path, {})[op.method.lower()] = operation
    for path, operations_by_method in paths.items():
        spec.path(path=path, operations=operations_by_method)
    return spec.to_dict()


def _path_parameters(path: str) -> list[str]:
    import re

    return re.findall(r"{([^}]+)}", path)
