"""What notify's API answers, built from its rows: the shapes operators see
(masked addresses, never a contact nor a secret).

A subscription's view is the domain's own
(:func:`~labornet_notify.domain.subscriptions.subscription_view`): that it
never shows the secrets is one of its rules.
"""

from __future__ import annotations

from typing import Any

from labornet_notify.channels import SendResult
from labornet_notify.models import Announcement, Delivery, WebhookSubscription
from labornet_shared.clock import aware


def delivery_view(row: Delivery) -> dict[str, Any]:
    """A delivery as operators see it: masked address, never the contact."""
    return {
        "id": row.id,
        "event_id": row.event_id,
        "event_type": row.event_type,
        "reference": row.case_reference,
        "recipient_kind": row.recipient_kind,
        "recipient_id": row.recipient_id,
        "channel": row.channel,
        "sent_channel": row.sent_channel,
        "message": row.message,
        "language": row.language,
        "status": row.status,
        "attempts": row.attempts,
        "address": row.address_masked,
        "provider_response": row.provider_response,
        "last_error": row.last_error,
        "fallback_id": row.fallback_id,
        "next_attempt_at": aware(row.next_attempt_at),
        "sent_at": aware(row.sent_at),
        "created_at": aware(row.created_at),
    }


def secret_view(found: WebhookSubscription, secret: str) -> dict[str, Any]:
    """A new secret, shown this once, and until when the previous one signs."""
    return {
        "secret": secret,
        "rotating_until": aware(found.previous_secret_expires_at),
    }


def ping_result_view(result: SendResult) -> dict[str, Any]:
    """How the test message to an agency's endpoint went."""
    return {
        "delivered": result.accepted,
        "response": result.provider_response,
        "error": result.permanent_error or (None if result.accepted else "transient"),
    }


def announcement_view(
    row: Announcement,
    reach: dict[str, dict[str, int]] | None = None,
    failed: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An announcement as operators see it; with its reach by channel and
    status and the agents it failed to reach when given (never an address)."""
    view: dict[str, Any] = {
        "id": row.id,
        "text_th": row.text_th,
        "text_en": row.text_en,
        "text_my": row.text_my,
        "target": row.target,
        "status": row.status,
        "planned": row.planned,
        "created_by": row.created_by,
        "created_at": aware(row.created_at),
        "planned_at": aware(row.planned_at),
    }
    # every answer carries every field: null where it was not asked for (a
    # list, a new announcement), the figures when read by id
    view["reach"] = reach
    view["failed"] = failed
    return view
