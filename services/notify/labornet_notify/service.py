"""notify's nameko service: entrypoints only — parse, call the domain, answer.

This first part serves agencies' webhook subscriptions; the deliveries to
citizens, field agents and agencies come with the rest of the notify issue.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from werkzeug.wrappers import Request

from labornet_notify import domain
from labornet_notify.channels import Message
from labornet_notify.dependencies import Webhooks, notify_database, notify_relay
from labornet_notify.schemas import (
    PauseSchema,
    PingResultSchema,
    SecretSchema,
    SubscriptionCreatedSchema,
    SubscriptionCreateSchema,
    SubscriptionListSchema,
    SubscriptionSchema,
)
from labornet_shared.http import api, load, read_json
from labornet_shared.openapi import Operation
from labornet_shared.problems import Problem
from labornet_shared.tokens import Principal
from labornet_shared.web import Probes, require_scope

SUBSCRIPTION = SubscriptionSchema()
SUBSCRIPTION_CREATED = SubscriptionCreatedSchema()
SUBSCRIPTION_CREATE = SubscriptionCreateSchema()
SECRET = SecretSchema()
PAUSE = PauseSchema()
PING_RESULT = PingResultSchema()

SUBSCRIPTION_ID = {"type": "string", "format": "uuid"}


def _require_operator(request: Request) -> Principal:
    return require_scope(request, "operator")


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


class NotifyService(Probes):
    """Tells citizens, field agents and agencies what they need to know."""

    name = "notify"
    openapi_title = "labornet notify"
    operations = OPERATIONS

    db = notify_database()
    relay = notify_relay()
    webhooks = Webhooks()

    @api("POST", "/v1/subscriptions")
    def create_subscription(self, request: Request) -> Any:
        """An agency system's endpoint; its secret is returned this once."""
        principal = _require_operator(request)
        data = load(SUBSCRIPTION_CREATE, read_json(request))
        try:
            found, secret = domain.create_subscription(
                self.db.session,
                principal,
                allow_local=self.webhooks.allow_local,
                **data,
            )
        except domain.SubscriptionInvalid as exc:
            raise Problem(400, "validation_failed", exc.errors) from exc
        view = {**domain.subscription_view(found), "secret": secret}
        return (
            201,
            {"Location": f"/v1/subscriptions/{found.id}", "Cache-Control": "no-store"},
            SUBSCRIPTION_CREATED.dump(view),
        )

    @api("GET", "/v1/subscriptions")
    def list_subscriptions(self, request: Request) -> Any:
        """Every webhook subscription, without secrets."""
        _require_operator(request)
        return 200, {
            "subscriptions": [
                SUBSCRIPTION.dump(domain.subscription_view(found))
                for found in domain.list_subscriptions(self.db.session)
            ]
        }

    @api("POST", "/v1/subscriptions/<uuid:subscription_id>/rotate-secret")
    def rotate_secret(self, request: Request, subscription_id: uuid.UUID) -> Any:
        """A new secret, shown once; the previous one signs too for a while."""
        _require_operator(request)
        try:
            found, secret = domain.rotate_secret(
                self.db.session,
                str(subscription_id),
                timedelta(hours=self.webhooks.rotation_hours),
            )
        except domain.SubscriptionNotFound as exc:
            raise Problem(404, "not_found") from exc
        return (
            200,
            {"Cache-Control": "no-store"},
            SECRET.dump(
                {
                    "secret": secret,
                    "rotating_until": domain.aware(found.previous_secret_expires_at),
                }
            ),
        )

    @api("POST", "/v1/subscriptions/<uuid:subscription_id>/ping")
    def ping(self, request: Request, subscription_id: uuid.UUID) -> Any:
        """Send a signed test message to the endpoint and say how it went."""
        _require_operator(request)
        try:
            found = domain.subscription(self.db.session, str(subscription_id))
        except domain.SubscriptionNotFound as exc:
            raise Problem(404, "not_found") from exc
        now = domain.utc_now()
        result = self.webhooks.channel.send(
            Message(
                to=found.url,
                text=json.dumps(domain.ping_body(found, now), ensure_ascii=False),
                idempotency_key=str(uuid.uuid4()),
                signing_secrets=tuple(domain.signing_secrets(found, now)),
            )
        )
        return 200, PING_RESULT.dump(
            {
                "delivered": result.accepted,
                "response": result.provider_response,
                "error": result.permanent_error
                or (None if result.accepted else "transient"),
            }
        )

    @api("POST", "/v1/subscriptions/<uuid:subscription_id>/pause")
    def pause(self, request: Request, subscription_id: uuid.UUID) -> Any:
        """Stop sending to the endpoint (messages wait)."""
        _require_operator(request)
        data = load(PAUSE, read_json(request)) if request.content_length else {}
        return self._set_status(subscription_id, "paused", data.get("reason"))

    @api("POST", "/v1/subscriptions/<uuid:subscription_id>/resume")
    def resume(self, request: Request, subscription_id: uuid.UUID) -> Any:
        """Send to the endpoint again."""
        _require_operator(request)
        return self._set_status(subscription_id, "active", None)

    def _set_status(
        self, subscription_id: uuid.UUID, status: str, reason: str | None
    ) -> Any:
        try:
            found = domain.set_status(
                self.db.session, str(subscription_id), status, reason
            )
        except domain.SubscriptionNotFound as exc:
            raise Problem(404, "not_found") from exc
        return 200, SUBSCRIPTION.dump(domain.subscription_view(found))
