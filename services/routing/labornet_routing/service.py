"""routing's nameko service: entrypoints only — parse, call the domain, answer.

What the answers look like is in :mod:`labornet_routing.views`, the OpenAPI
operations in :mod:`labornet_routing.openapi_operations`.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from werkzeug.wrappers import Request

from labornet_routing import domain
from labornet_routing.dependencies import Screener, routing_database, routing_relay
from labornet_routing.metrics import referral_metrics
from labornet_routing.models import Referral
from labornet_routing.openapi_operations import OPERATIONS
from labornet_routing.schemas import (
    AcceptSchema,
    HolidaySchema,
    ProgressSchema,
    ReferralListQuerySchema,
    RejectSchema,
    ResolveSchema,
    RuleCreateSchema,
    SlaSchema,
)
from labornet_routing.views import holiday_view, referral_view, rule_view, sla_view

# the mixin by its module: nameko run serves every class in this module
from labornet_shared import web
from labornet_shared.consumer import apply_once, event_handler
from labornet_shared.events import Event
from labornet_shared.http import api, load, read_json
from labornet_shared.ids import is_canonical_uuid
from labornet_shared.logs import correlation_id_var
from labornet_shared.pagination import encode_cursor
from labornet_shared.problems import FieldError, Problem
from labornet_shared.timers import every
from labornet_shared.web import (
    cursor_position,
    query_args,
    require_scope,
)

# One instance of each request schema: building one deep-copies its fields.
LIST_QUERY = ReferralListQuerySchema()
ACTIONS = {
    "accept": AcceptSchema(),
    "reject": RejectSchema(),
    "progress": ProgressSchema(),
    "resolve": ResolveSchema(),
}
RULE_CREATE = RuleCreateSchema()
SLA = SlaSchema()
HOLIDAY = HolidaySchema()

log = logging.getLogger("labornet.routing")


def _etag(referral: Referral) -> dict[str, str]:
    return {"ETag": f'"{referral.version}"'}


def _if_match(request: Request) -> int | None:
    """The version an action is meant for (``If-Match: "3"``), if named."""
    value = request.headers.get("If-Match")
    if value is None:
        return None
    tag = value.strip().removeprefix("W/").strip('"')
    if not (tag.isascii() and tag.isdigit()) or not 0 < int(tag) < 2**31:
        raise Problem(400, "validation_failed", [FieldError("If-Match", "format")])
    return int(tag)


class RoutingService(web.Probes):
    """Screens cases, refers them to offices, follows every referral."""

    name = "routing"
    openapi_title = "labornet routing"
    operations = OPERATIONS

    db = routing_database()
    relay = routing_relay()
    classifier = Screener()
    referral_gauges = referral_metrics()

    # --- events ------------------------------------------------------------

    # v2 says whether the citizen chose the language (v1: chosen)
    @event_handler("intake", "case_received", accept_versions={1, 2})
    def on_case_received(self, event: Event) -> None:
        """Screen the case and refer it (once, however often it arrives)."""
        if not apply_once(self.db, "routing.on_case_received", event):
            return
        case = domain.receive_case(self.db.session, event, self.classifier)
        if case is not None:
            offices = len(case.referrals)
            self.db.after_commit(
                lambda: log.info(
                    "case %s referred to %d office(s)", case.reference, offices
                )
            )

    @event_handler("intake", "case_withdrawn", accept_versions={1})
    def on_case_withdrawn(self, event: Event) -> None:
        """Withdraw the case's open referrals and tell their offices."""
        if not apply_once(self.db, "routing.on_case_withdrawn", event):
            return
        domain.withdraw_case(self.db.session, event)

    @event_handler("intake", "case_personal_data_erased", accept_versions={1})
    def on_case_personal_data_erased(self, event: Event) -> None:
        """Wipe routing's copies of the citizen's words (PDPA erasure)."""
        if not apply_once(self.db, "routing.on_case_personal_data_erased", event):
            return
        domain.erase_case_text(self.db.session, event)

    @event_handler("registry", "agent_registered", accept_versions={1})
    def on_agent_registered(self, event: Event) -> None:
        """Project a new field agent."""
        if apply_once(self.db, "routing.on_agent_registered", event):
            domain.apply_agent(self.db.session, event)

    @event_handler("registry", "agent_updated", accept_versions={1})
    def on_agent_updated(self, event: Event) -> None:
        """Project a changed field agent (a newer revision only)."""
        if apply_once(self.db, "routing.on_agent_updated", event):
            domain.apply_agent(self.db.session, event)

    @event_handler("registry", "agent_deactivated", accept_versions={1})
    def on_agent_deactivated(self, event: Event) -> None:
        """An agent no longer follows new cases."""
        if apply_once(self.db, "routing.on_agent_deactivated", event):
            domain.apply_agent(self.db.session, event)

    @every("SLA_CHECK_SECONDS", default=30)
    def check_sla(self) -> None:
        """Escalate referrals whose clock ran out (each exactly once)."""
        escalations = domain.check_overdue(self.db.session)
        if escalations:
            count = len(escalations)
            self.db.after_commit(lambda: log.info("%d referral(s) escalated", count))

    # --- the agency API ------------------------------------------------------

    @api("GET", "/v1/referrals")
    def list_referrals(self, request: Request) -> Any:
        """The referrals the token may see; filters and cursor pages."""
        principal = require_scope(request, "agency", "operator")
        filters = query_args(request, LIST_QUERY)
        after = cursor_position(filters.pop("cursor", None), is_canonical_uuid)
        limit = filters.pop("limit")
        referrals, next_id = domain.list_referrals(
            self.db.session, principal, filters, limit, after
        )
        return 200, {
            "referrals": [referral_view(r) for r in referrals],
            "next_cursor": encode_cursor({"id": next_id}) if next_id else None,
        }

    @api("GET", "/v1/referrals/<uuid:referral_id>")
    def get_referral(self, request: Request, referral_id: uuid.UUID) -> Any:
        """One referral of the token's agency."""
        principal = require_scope(request, "agency", "operator")
        try:
            referral = domain.referral_for(self.db.session, str(referral_id), principal)
        except domain.ReferralNotFound as exc:
            raise Problem(404, "not_found") from exc
        return 200, _etag(referral), referral_view(referral)

    @api("POST", "/v1/referrals/<uuid:referral_id>/<action>")
    def act(self, request: Request, referral_id: uuid.UUID, action: str) -> Any:
        """accept | reject | progress | resolve."""
        schema = ACTIONS.get(action)
        if schema is None:
            raise Problem(404, "not_found")
        principal = require_scope(request, "agency", "operator")
        body = (
            read_json(request) if request.content_length or action != "accept" else {}
        )
        data = load(schema, body)
        try:
            referral = domain.act_on_referral(
                self.db.session,
                str(referral_id),
                principal,
                action,
                note=data.get("note") or data.get("reason"),
                outcome=data.get("outcome"),
                expected_version=_if_match(request),
            )
        except domain.ReferralNotFound as exc:
            raise Problem(404, "not_found") from exc
        except domain.IllegalTransition as exc:
            changed = isinstance(exc, domain.ReferralChanged)
            raise Problem(
                409,
                "referral_changed" if changed else "illegal_transition",
                detail=f"the referral is {exc.status}"
                + (" (it changed meanwhile)" if changed else ""),
                headers={"X-Referral-Status": exc.status},
                extensions={
                    "referral_status": exc.status,
                    "referral_version": exc.version,
                },
            ) from exc
        correlation_id_var.set(referral.case_reference)
        return 200, _etag(referral), referral_view(referral)

    # --- operators' settings -------------------------------------------------

    @api("GET", "/v1/rules")
    def list_rules(self, request: Request) -> Any:
        """Every routing rule."""
        require_scope(request, "operator")
        rules = domain.all_rules(self.db.session)
        return 200, {"rules": [rule_view(rule) for rule in rules]}

    @api("POST", "/v1/rules")
    def add_rule(self, request: Request) -> Any:
        """A new rule, in force for the next case."""
        principal = require_scope(request, "operator")
        data = load(RULE_CREATE, read_json(request))
        rule = domain.add_rule(self.db.session, principal, **data)
        return 201, {"Location": f"/v1/rules/{rule.id}"}, rule_view(rule)

    @api("DELETE", "/v1/rules/<int:rule_id>")
    def remove_rule(self, request: Request, rule_id: int) -> Any:
        """Remove a rule."""
        require_scope(request, "operator")
        if not domain.remove_rule(self.db.session, rule_id):
            raise Problem(404, "not_found")
        return 204, ""

    @api("GET", "/v1/sla")
    def list_sla(self, request: Request) -> Any:
        """Every SLA setting."""
        require_scope(request, "operator")
        rows = domain.all_sla_settings(self.db.session)
        return 200, {"settings": [sla_view(row) for row in rows]}

    @api("PUT", "/v1/sla")
    def set_sla(self, request: Request) -> Any:
        """Set an agency's (× category's) clocks; new referrals use them."""
        require_scope(request, "operator")
        data = load(SLA, read_json(request))
        row = domain.set_sla(self.db.session, **data)
        return 200, sla_view(row)

    @api("GET", "/v1/holidays")
    def list_holidays(self, request: Request) -> Any:
        """The public holidays the clocks skip."""
        require_scope(request, "operator", "agency")
        rows = domain.all_holidays(self.db.session)
        return 200, {"holidays": [holiday_view(r.day, r.name) for r in rows]}

    @api("POST", "/v1/holidays")
    def add_holiday(self, request: Request) -> Any:
        """Add (or rename) a public holiday."""
        require_scope(request, "operator")
        data = load(HOLIDAY, read_json(request))
        domain.add_holidays(self.db.session, [(data["day"], data["name"])])
        return 201, holiday_view(data["day"], data["name"])
