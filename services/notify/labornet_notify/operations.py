"""The OpenAPI operations of notify's HTTP API: what ``/openapi.json``
describes for each route of :class:`~labornet_notify.service.NotifyService`.
"""

from __future__ import annotations

from typing import Any

from labornet_notify.schemas import (
    AnnouncementCreateSchema,
    AnnouncementListSchema,
    AnnouncementQuerySchema,
    AnnouncementSchema,
    ConsoleQuerySchema,
    DeliveryListSchema,
    DeliveryQuerySchema,
    DeliverySchema,
    PauseSchema,
    PingResultSchema,
    SecretSchema,
    SubscriptionCreatedSchema,
    SubscriptionCreateSchema,
    SubscriptionListSchema,
    SubscriptionSchema,
)
from labornet_shared.openapi import Operation

SUBSCRIPTION_ID = {"type": "string", "format": "uuid"}


def _subscription_operation(action: str, summary: str, **extra: Any) -> Operation:
    return Operation(
        "POST",
        f"/v1/subscriptions/{{subscription_id}}/{action}",
        summary,
        errors=(400, 401, 404, 413, 415, 429),
        path_schemas={"subscription_id": SUBSCRIPTION_ID},
        security=("bearer",),
        **extra,
    )


OPERATIONS = [
    Operation(
        "GET",
        "/console",
        "The messages notify's console channel showed in place of the "
        "providers (make run: LABORNET_NOTIFY_CONSOLE_CHANNEL), newest first: "
        "each in its language as it would leave, the SMS's parts, the "
        "recipient masked, one held by quiet hours as such. HTML for a "
        "browser; an operator token, or a browser on this machine while the "
        "console channel is on",
        query=ConsoleQuerySchema,
        errors=(400, 401, 404, 429),
        security=("bearer",),
        content_type="text/html",
    ),
    Operation(
        "GET",
        "/v1/deliveries",
        "Deliveries by case, recipient, channel and status (operator)",
        query=DeliveryQuerySchema,
        response=DeliveryListSchema,
        errors=(400, 401, 404, 429),
        security=("bearer",),
    ),
    Operation(
        "POST",
        "/v1/deliveries/{delivery_id}/retry",
        "Send a failed, skipped or interrupted delivery again (operator)",
        response=DeliverySchema,
        errors=(401, 404, 409, 429),
        path_schemas={"delivery_id": {"type": "string", "format": "uuid"}},
        security=("bearer",),
    ),
    Operation(
        "POST",
        "/v1/announcements",
        "Send an announcement to field agents by region, province, district, "
        "kind or country abroad, or to all (operator). Thai text required, "
        "English and Myanmar optional; each must fit three SMS parts. Each "
        "agent gets it once, on their first channel, in their language when "
        "given (else Thai); planned in batches, then sent as every delivery "
        "(rate limits, quiet hours for SMS, retries). The same "
        "Idempotency-Key gives the same announcement",
        request=AnnouncementCreateSchema,
        response=AnnouncementSchema,
        status=201,
        response_headers={
            "Location": {"required": True, "schema": {"type": "string"}},
        },
        errors=(400, 401, 404, 413, 415, 429),
        headers=(
            {
                "name": "Idempotency-Key",
                "description": "The same key gives the same announcement, "
                "never a second.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 200},
            },
        ),
        security=("bearer",),
    ),
    Operation(
        "GET",
        "/v1/announcements",
        "Announcements, newest first (operator)",
        query=AnnouncementQuerySchema,
        response=AnnouncementListSchema,
        errors=(400, 401, 404, 429),
        security=("bearer",),
    ),
    Operation(
        "GET",
        "/v1/announcements/{announcement_id}",
        "An announcement and its reach: deliveries by channel and status, "
        "the agents it failed to reach and why (operator)",
        response=AnnouncementSchema,
        errors=(401, 404, 429),
        path_schemas={"announcement_id": {"type": "string", "format": "uuid"}},
        security=("bearer",),
    ),
    Operation(
        "POST",
        "/v1/subscriptions",
        "Subscribe an agency system to webhooks; the whsec_ secret is shown once",
        request=SubscriptionCreateSchema,
        response=SubscriptionCreatedSchema,
        status=201,
        errors=(400, 401, 404, 413, 415, 429),
        security=("bearer",),
    ),
    Operation(
        "GET",
        "/v1/subscriptions",
        "Webhook subscriptions (operator)",
        response=SubscriptionListSchema,
        errors=(401, 404, 429),
        security=("bearer",),
    ),
    _subscription_operation(
        "rotate-secret",
        "A new secret; the previous one keeps signing for a while",
        response=SecretSchema,
    ),
    _subscription_operation(
        "ping", "Send a signed test message now", response=PingResultSchema
    ),
    _subscription_operation(
        "pause",
        "Stop sending to this endpoint",
        request=PauseSchema,
        request_required=False,
        response=SubscriptionSchema,
    ),
    _subscription_operation(
        "resume", "Send to this endpoint again", response=SubscriptionSchema
    ),
]
