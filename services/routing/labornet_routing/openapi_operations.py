"""routing's API as its OpenAPI document lists it: one :class:`Operation`
per route of :class:`labornet_routing.service.RoutingService`."""

from __future__ import annotations

from labornet_routing.schemas import (
    AcceptSchema,
    HolidayListSchema,
    HolidaySchema,
    ProgressSchema,
    ReferralListQuerySchema,
    ReferralListSchema,
    ReferralSchema,
    RejectSchema,
    ResolveSchema,
    RuleCreateSchema,
    RuleListSchema,
    RuleSchema,
    SlaListSchema,
    SlaSchema,
)
from labornet_shared.openapi import Operation

REFERRAL_ID = {"type": "string", "format": "uuid"}


def action_operation(action: str, schema: type, summary: str) -> Operation:
    """An office's action on a referral: ``POST .../{action}`` with ``If-Match``."""
    return Operation(
        "POST",
        f"/v1/referrals/{{referral_id}}/{action}",
        summary,
        request=schema,
        request_required=action in ("reject", "progress", "resolve"),
        response=ReferralSchema,
        errors=(400, 401, 404, 409, 413, 415, 429),
        path_schemas={"referral_id": REFERRAL_ID},
        security=("bearer",),
        headers=(
            {
                "name": "If-Match",
                "description": "the referral's version the action is meant "
                'for, e.g. "3": 409 referral_changed if it changed since',
                "schema": {"type": "string", "pattern": '^(W/)?"?[0-9]{1,9}"?$'},
            },
        ),
        response_headers={"ETag": {"schema": {"type": "string"}}},
    )


OPERATIONS = [
    Operation(
        "GET",
        "/v1/referrals",
        "The referrals of the token's agency (operators: all)",
        query=ReferralListQuerySchema,
        response=ReferralListSchema,
        errors=(400, 401, 404, 429),
        security=("bearer",),
    ),
    Operation(
        "GET",
        "/v1/referrals/{referral_id}",
        "One referral with its labels, notes and clocks",
        response=ReferralSchema,
        errors=(401, 404, 429),
        path_schemas={"referral_id": REFERRAL_ID},
        security=("bearer",),
    ),
    action_operation("accept", AcceptSchema, "The office takes the referral"),
    action_operation("reject", RejectSchema, "Not ours: refer it onwards"),
    action_operation("progress", ProgressSchema, "What the office did so far"),
    action_operation("resolve", ResolveSchema, "How it ended"),
    Operation(
        "GET",
        "/v1/rules",
        "Routing rules (operator)",
        response=RuleListSchema,
        errors=(401, 404, 429),
        security=("bearer",),
    ),
    Operation(
        "POST",
        "/v1/rules",
        "Add a routing rule, in force for the next case (operator)",
        request=RuleCreateSchema,
        response=RuleSchema,
        status=201,
        errors=(400, 401, 404, 413, 415, 429),
        security=("bearer",),
    ),
    Operation(
        "DELETE",
        "/v1/rules/{rule_id}",
        "Remove a routing rule (operator)",
        status=204,
        errors=(401, 404, 429),
        path_schemas={"rule_id": {"type": "integer"}},
        security=("bearer",),
    ),
    Operation(
        "GET",
        "/v1/sla",
        "SLA clocks per agency × category (operator)",
        response=SlaListSchema,
        errors=(401, 404, 429),
        security=("bearer",),
    ),
    Operation(
        "PUT",
        "/v1/sla",
        "Set an agency's (× category's) working days (operator)",
        request=SlaSchema,
        response=SlaSchema,
        errors=(400, 401, 404, 413, 415, 429),
        security=("bearer",),
    ),
    Operation(
        "GET",
        "/v1/holidays",
        "Public holidays the clocks skip",
        response=HolidayListSchema,
        errors=(401, 404, 429),
        security=("bearer",),
    ),
    Operation(
        "POST",
        "/v1/holidays",
        "Add a public holiday (operator)",
        request=HolidaySchema,
        response=HolidaySchema,
        status=201,
        errors=(400, 401, 404, 413, 415, 429),
        security=("bearer",),
    ),
]
