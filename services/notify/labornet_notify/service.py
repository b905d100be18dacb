"""notify's nameko service: entrypoints only — parse, call the domain, answer.

Event handlers turn events into delivery rows (the table in
:mod:`labornet_notify.domain.audience`); the sender
(:mod:`labornet_notify.sender`) sends them; the API shows deliveries and
manages agencies' webhooks. The API's OpenAPI operations are in
:mod:`labornet_notify.operations`, the shapes it answers in
:mod:`labornet_notify.views`.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from werkzeug.wrappers import Request

from labornet_notify import console_page, domain
from labornet_notify.channels import ConsoleChannel, Message
from labornet_notify.dependencies import (
    Webhooks,
    delivery_metrics,
    notify_database,
    notify_relay,
)
from labornet_notify.domain import announcements, deliveries
from labornet_notify.domain.audience import AGENT_PROJECTION_EVENTS
from labornet_notify.operations import OPERATIONS
from labornet_notify.schemas import (
    AnnouncementCreateSchema,
    AnnouncementQuerySchema,
    AnnouncementSchema,
    ConsoleQuerySchema,
    DeliveryQuerySchema,
    DeliverySchema,
    PauseSchema,
    PingResultSchema,
    SecretSchema,
    SubscriptionCreatedSchema,
    SubscriptionCreateSchema,
    SubscriptionSchema,
)
from labornet_notify.sender import DeliverySender
from labornet_notify.views import (
    announcement_view,
    delivery_view,
    ping_result_view,
    secret_view,
)

# the mixin by its module: nameko run serves every class in this module
from labornet_shared import web
from labornet_shared.clock import utc_now
from labornet_shared.consumer import apply_once, event_handler
from labornet_shared.events import Event
from labornet_shared.http import api, load, read_json
from labornet_shared.ids import is_canonical_uuid
from labornet_shared.pagination import encode_cursor
from labornet_shared.problems import FieldError, Problem
from labornet_shared.tokens import Principal
from labornet_shared.web import cursor_position, query_args, require_scope

DELIVERY = DeliverySchema()
DELIVERY_QUERY = DeliveryQuerySchema()
SUBSCRIPTION = SubscriptionSchema()
SUBSCRIPTION_CREATED = SubscriptionCreatedSchema()
SUBSCRIPTION_CREATE = SubscriptionCreateSchema()
SECRET = SecretSchema()
PAUSE = PauseSchema()
PING_RESULT = PingResultSchema()
CONSOLE_QUERY = ConsoleQuerySchema()
ANNOUNCEMENT = AnnouncementSchema()
ANNOUNCEMENT_CREATE = AnnouncementCreateSchema()
ANNOUNCEMENT_QUERY = AnnouncementQuerySchema()
#: the longest ``Idempotency-Key`` header taken (as intake's)
IDEMPOTENCY_KEY_MAX = 200


def _require_operator(request: Request) -> Principal:
    return require_scope(request, "operator")


class NotifyService(web.Probes):
    """Tells citizens, field agents and agencies what they need to know."""

    name = "notify"
    openapi_title = "labornet notify"
    operations = OPERATIONS

    db = notify_database()
    relay = notify_relay()
    delivery_gauges = delivery_metrics()
    webhooks = Webhooks()
    sender = DeliverySender()

    # --- events: who hears of them (delivery rows, in the same transaction) ---

    def _plan(self, consumer: str, event: Event) -> None:
        if not apply_once(self.db, f"notify.{consumer}", event):
            return
        session = self.db.session
        if event.event_type == "case_received":
            deliveries.remember_case(session, event)
        elif event.event_type == "case_routed":
            # before planning: its notices go out in the screened language
            deliveries.note_screened_language(session, event)
        elif event.event_type in deliveries.CASE_STATE_EVENTS:
            # before its case_received: PrerequisiteMissing, retried later
            deliveries.note_case_state(session, event)
        if event.event_type in AGENT_PROJECTION_EVENTS:
            deliveries.apply_agent(session, event)
            return
        deliveries.plan(session, event, retry_window=self.sender.window)

    # v1 (no language_chosen) reads as a chosen language
    @event_handler("intake", "case_received", accept_versions={1, 2})
    def on_case_received(self, event: Event) -> None:
        """The citizen's receipt, the area's agents' new case."""
        self._plan("on_case_received", event)

    @event_handler("intake", "case_withdrawn", accept_versions={1})
    def on_case_withdrawn(self, event: Event) -> None:
        """The submitting agent hears; the citizen hears no more."""
        self._plan("on_case_withdrawn", event)

    @event_handler("intake", "case_personal_data_erased", accept_versions={1})
    def on_case_personal_data_erased(self, event: Event) -> None:
        """Wipe the citizen's words from the events kept with deliveries."""
        if not apply_once(self.db, "notify.on_case_personal_data_erased", event):
            return
        deliveries.erase_case_text(self.db.session, event.payload["reference"])

    # v2 tells the language screening read in the description
    @event_handler("routing", "case_routed", accept_versions={1, 2})
    def on_case_routed(self, event: Event) -> None:
        """Which offices have the case."""
        self._plan("on_case_routed", event)

    @event_handler("routing", "referral_issued", accept_versions={1, 2})
    def on_referral_issued(self, event: Event) -> None:
        """Agencies without AMQP get the referral as a webhook."""
        self._plan("on_referral_issued", event)

    @event_handler("routing", "referral_status_changed", accept_versions={1})
    def on_referral_status_changed(self, event: Event) -> None:
        """Each office's answer."""
        self._plan("on_referral_status_changed", event)

    @event_handler("routing", "referral_overdue", accept_versions={1})
    def on_referral_overdue(self, event: Event) -> None:
        """Overdue and escalated (urgent: sent in quiet hours too)."""
        self._plan("on_referral_overdue", event)

    @event_handler("routing", "case_closed", accept_versions={1})
    def on_case_closed(self, event: Event) -> None:
        """Closed, with the request to rate the service."""
        self._plan("on_case_closed", event)

    @event_handler("registry", "agent_registered", accept_versions={1})
    def on_agent_registered(self, event: Event) -> None:
        """How to reach a new field agent."""
        self._plan("on_agent_registered", event)

    @event_handler("registry", "agent_updated", accept_versions={1})
    def on_agent_updated(self, event: Event) -> None:
        """A field agent's new contacts (a newer revision only)."""
        self._plan("on_agent_updated", event)

    @event_handler("registry", "agent_deactivated", accept_versions={1})
    def on_agent_deactivated(self, event: Event) -> None:
        """A field agent hears no more."""
        self._plan("on_agent_deactivated", event)

    # --- deliveries ----------------------------------------------------------

    @api("GET", "/v1/deliveries")
    def list_deliveries(self, request: Request) -> Any:
        """Deliveries by case, recipient, channel, status (operator)."""
        _require_operator(request)
        filters = query_args(request, DELIVERY_QUERY)
        after = cursor_position(filters.pop("cursor", None), is_canonical_uuid)
        limit = filters.pop("limit")
        rows, next_id = deliveries.list_deliveries(
            self.db.session, filters, limit, after
        )
        return 200, {
            "deliveries": [DELIVERY.dump(delivery_view(row)) for row in rows],
            "next_cursor": encode_cursor({"id": next_id}) if next_id else None,
        }

    @api("POST", "/v1/deliveries/<uuid:delivery_id>/retry")
    def retry_delivery(self, request: Request, delivery_id: uuid.UUID) -> Any:
        """Send a failed, skipped or interrupted delivery again (operator)."""
        _require_operator(request)
        try:
            row = deliveries.retry_now(
                self.db.session, str(delivery_id), self.sender.window
            )
        except ValueError as exc:
            raise Problem(409, "conflict", detail=f"the delivery is {exc}") from exc
        if row is None:
            raise Problem(404, "not_found")
        return 200, DELIVERY.dump(delivery_view(row))

    # --- announcements to field agents ------------------------------------------

    @api("POST", "/v1/announcements")
    def create_announcement(self, request: Request) -> Any:
        """A message to field agents by place, kind or country abroad
        (operator); the same Idempotency-Key gives the same announcement.
        The sender plans its deliveries in batches, then sends them."""
        principal = _require_operator(request)
        data = load(ANNOUNCEMENT_CREATE, read_json(request))
        key = request.headers.get("Idempotency-Key")
        if key is not None and (
            not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX or "\x00" in key
        ):
            raise Problem(
                400, "validation_failed", [FieldError("Idempotency-Key", "length")]
            )
        try:
            created = announcements.create(
                self.db.session,
                data,
                created_by=principal.subject,
                idempotency_key=key,
            )
        except announcements.AnnouncementInvalid as exc:
            raise Problem(400, "validation_failed", exc.errors) from exc
        row = created.announcement
        return (
            201,
            {"Location": f"/v1/announcements/{row.id}"},
            ANNOUNCEMENT.dump(announcement_view(row)),
        )

    @api("GET", "/v1/announcements")
    def list_announcements(self, request: Request) -> Any:
        """Announcements, newest first (operator)."""
        _require_operator(request)
        filters = query_args(request, ANNOUNCEMENT_QUERY)
        after = cursor_position(filters.pop("cursor", None), is_canonical_uuid)
        rows, next_id = announcements.list_announcements(
            self.db.session, filters["limit"], after
        )
        return 200, {
            "announcements": [ANNOUNCEMENT.dump(announcement_view(r)) for r in rows],
            "next_cursor": encode_cursor({"id": next_id}) if next_id else None,
        }

    @api("GET", "/v1/announcements/<uuid:announcement_id>")
    def get_announcement(self, request: Request, announcement_id: uuid.UUID) -> Any:
        """An announcement and how far it reached: deliveries by channel and
        status, the agents it failed to reach and why (operator)."""
        _require_operator(request)
        session = self.db.session
        try:
            row = announcements.get(session, str(announcement_id))
        except announcements.AnnouncementNotFound as exc:
            raise Problem(404, "not_found") from exc
        view = announcement_view(
            row,
            announcements.reach(session, row.id),
            announcements.failures(session, row.id),
        )
        return 200, ANNOUNCEMENT.dump(view)

    # --- the console channel's messages (make run) ------------------------------

    @api("GET", "/console")
    def console(self, request: Request) -> Any:
        """The messages the console channel showed, as a page (an operator,
        or a browser on this machine while the console is on)."""
        console_on = any(
            isinstance(channel, ConsoleChannel)
            for channel in self.sender.channels.values()
        )
        console_page.check_reader(request, console_on)
        filters = query_args(request, CONSOLE_QUERY)
        rows = console_page.recent(
            self.db.session,
            channel=filters.get("channel"),
            case=filters.get("case"),
            limit=filters["limit"],
        )
        return console_page.page(rows, console_on=console_on, filters=filters)

    # --- agencies' webhook subscriptions ----------------------------------------

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
            SECRET.dump(secret_view(found, secret)),
        )

    @api("POST", "/v1/subscriptions/<uuid:subscription_id>/ping")
    def ping(self, request: Request, subscription_id: uuid.UUID) -> Any:
        """Send a signed test message to the endpoint and say how it went."""
        _require_operator(request)
        try:
            found = domain.subscription(self.db.session, str(subscription_id))
        except domain.SubscriptionNotFound as exc:
            raise Problem(404, "not_found") from exc
        now = utc_now()
        result = self.webhooks.channel.send(
            Message(
                to=found.url,
                text=json.dumps(domain.ping_body(found, now), ensure_ascii=False),
                idempotency_key=str(uuid.uuid4()),
                signing_secrets=tuple(domain.signing_secrets(found, now)),
            )
        )
        return 200, PING_RESULT.dump(ping_result_view(result))

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
