"""registry's API as OpenAPI describes it: one :class:`Operation` per route."""

from __future__ import annotations

from labornet_registry.schemas import (
    AgentContactSchema,
    AgentCreateSchema,
    AgentListQuerySchema,
    AgentListSchema,
    AgentPatchSchema,
    AgentSchema,
    CoverageQuerySchema,
    CoverageSchema,
    DeactivateSchema,
    ImportQuerySchema,
    ImportReportSchema,
    StatsSchema,
)
from labornet_shared.openapi import Operation

# a roster uploaded as an Excel workbook
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

AGENT_ID = {"type": "string", "format": "uuid"}

OPERATIONS = [
    Operation(
        "POST",
        "/v1/agents",
        "Register a field agent (operator)",
        request=AgentCreateSchema,
        response=AgentSchema,
        status=201,
        errors=(400, 401, 404, 409, 413, 415, 429),
        security=("bearer",),
    ),
    Operation(
        "GET",
        "/v1/agents",
        "Search field agents (operator)",
        query=AgentListQuerySchema,
        response=AgentListSchema,
        errors=(400, 401, 404, 429),
        security=("bearer",),
    ),
    Operation(
        "GET",
        "/v1/agents/{agent_id}",
        "One field agent (operator, or the agent themself); audited",
        response=AgentSchema,
        errors=(401, 404, 429),
        path_schemas={"agent_id": AGENT_ID},
        security=("bearer",),
    ),
    Operation(
        "GET",
        "/v1/agents/{agent_id}/contact",
        "A field agent's work contact (agency: an active agent of its "
        "province or abroad; operator); audited",
        response=AgentContactSchema,
        errors=(401, 404, 429),
        path_schemas={"agent_id": AGENT_ID},
        security=("bearer",),
    ),
    Operation(
        "PATCH",
        "/v1/agents/{agent_id}",
        "Change a field agent (the agent themself: contact and languages)",
        request=AgentPatchSchema,
        response=AgentSchema,
        errors=(400, 401, 404, 413, 415, 429),
        path_schemas={"agent_id": AGENT_ID},
        security=("bearer",),
    ),
    Operation(
        "POST",
        "/v1/agents/{agent_id}/deactivate",
        "Deactivate a field agent (operator)",
        request=DeactivateSchema,
        request_required=False,
        response=AgentSchema,
        errors=(400, 401, 404, 409, 413, 415, 429),
        path_schemas={"agent_id": AGENT_ID},
        security=("bearer",),
    ),
    Operation(
        "POST",
        "/v1/agents/import",
        "Import a roster (CSV or XLSX body, or multipart 'file'; operator)",
        query=ImportQuerySchema,
        extra={
            "requestBody": {
                "required": True,
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "file": {"type": "string", "format": "binary"}
                            },
                            "required": ["file"],
                        }
                    },
                },
            }
        },
        response=ImportReportSchema,
        errors=(400, 401, 404, 413, 415, 422, 429),
        security=("bearer",),
    ),
    Operation(
        "GET",
        "/v1/agents/imports/{import_id}/rejected.csv",
        "The rejected rows of an import, as CSV (operator)",
        errors=(401, 404, 429),
        path_schemas={"import_id": {"type": "integer"}},
        security=("bearer",),
        content_type="text/csv",
    ),
    Operation(
        "GET",
        "/v1/agents/export.csv",
        "Every agent as a roster CSV (operator); audited",
        errors=(401, 404, 429),
        security=("bearer",),
        content_type="text/csv",
    ),
    Operation(
        "GET",
        "/v1/coverage",
        "The active agents responsible for a place, most specific first",
        query=CoverageQuerySchema,
        response=CoverageSchema,
        errors=(400, 401, 404, 429),
        security=("bearer",),
    ),
    Operation(
        "GET",
        "/v1/stats",
        "The network by kind, region, province and status; coverage gaps",
        response=StatsSchema,
        errors=(401, 404, 429),
        security=("bearer",),
    ),
]
