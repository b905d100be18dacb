"""intake's Open311 GeoReport v2 endpoints (``/open311/v2/``): parse with the
package's vocabulary, call the domain, answer in the spec's format.

A mixin of :class:`~labornet_intake.service.IntakeService`, which brings the
database and the settings; imported by its module there (``nameko run``
serves every class with entrypoints in the service's module).
"""

from __future__ import annotations

import logging
from typing import Any

from werkzeug.wrappers import Request

from labornet_intake import domain, open311
from labornet_intake.dependencies import Settings
from labornet_intake.open311 import Open311Error, open311_api
from labornet_intake.schemas import CaseCreateSchema, idempotency_key_error
from labornet_shared.http import load
from labornet_shared.logs import correlation_id_var
from labornet_shared.problems import Problem
from labornet_shared.web import principal_of

CASE_CREATE = CaseCreateSchema()

log = logging.getLogger("labornet.intake")


class Open311Endpoints:
    """The Open311 routes of intake; the service gives ``db`` and
    ``settings``."""

    db: Any
    settings: Settings

    @open311_api("GET", "/open311/v2/discovery.<fmt>")
    def open311_discovery(self, request: Request, fmt: str) -> Any:
        """Service Discovery: this endpoint, its formats, how to get a key."""
        open311.check_format(fmt)
        base = self.settings.open311_base_url or (
            request.host_url.rstrip("/") + "/open311/v2"
        )
        view = open311.discovery_view(
            base, self.settings.open311_endpoint_type, open311.locale_of(request)
        )
        return open311.respond(fmt, "discovery", view)

    @open311_api("GET", "/open311/v2/services.<fmt>")
    def open311_services(self, request: Request, fmt: str) -> Any:
        """The case categories as services, grouped by agency."""
        open311.check_format(fmt)
        open311.check_jurisdiction(request.args, self.settings.open311_jurisdiction)
        locale = open311.locale_of(request)
        services = [
            open311.service_view(service, locale)
            for service in open311.catalogue().services.values()
        ]
        return open311.respond(fmt, "services", services)

    @open311_api("GET", "/open311/v2/services/<service_code>.<fmt>")
    def open311_service_definition(
        self, request: Request, service_code: str, fmt: str
    ) -> Any:
        """A service's attributes, the consent among them."""
        open311.check_format(fmt)
        open311.check_jurisdiction(request.args, self.settings.open311_jurisdiction)
        service = open311.service_of(service_code)
        view = open311.definition_view(service, open311.locale_of(request))
        return open311.respond(fmt, "service_definition", view)

    @open311_api("POST", "/open311/v2/requests.<fmt>")
    def open311_file_request(self, request: Request, fmt: str) -> Any:
        """File a case (api_key required); the answer names it at once."""
        open311.check_format(fmt)
        params = open311.form_of(request)
        principal = principal_of(request)
        if principal is None:
            raise Open311Error(403, ("api_key_missing", "api_key"))
        open311.check_jurisdiction(params, self.settings.open311_jurisdiction)
        service = open311.service_of(open311.single(params, "service_code"))
        locale = open311.locale_of(request)
        filing = open311.read_filing(params, service, domain.utc_now())
        try:
            data = load(CASE_CREATE, filing.case)
        except Problem as exc:
            raise open311.from_field_errors(exc.errors, filing.place_param) from exc
        key = request.headers.get("Idempotency-Key")
        if idempotency_key_error(key) is not None:
            raise open311.invalid(("invalid", "Idempotency-Key"))
        try:
            accepted = domain.file_open311_request(
                self.db.session,
                data,
                principal=principal,
                pepper=self.settings.pepper,
                media_url=filing.media_url,
                idempotency_key=key,
                fingerprint=open311.filing_fingerprint(params),
            )
        except domain.CaseInvalid as exc:
            raise open311.from_field_errors(exc.errors, filing.place_param) from exc
        except domain.IdempotencyKeyReused as exc:
            raise open311.invalid(
                ("idempotency_key_reused", "Idempotency-Key")
            ) from exc
        except domain.IdempotencyKeyInProgress as exc:
            raise Open311Error(
                400,
                ("idempotency_key_in_progress", "Idempotency-Key"),
                headers={"Retry-After": "1"},
            ) from exc
        reference = accepted.reference
        if not accepted.replayed:
            correlation_id_var.set(reference)
            self.db.after_commit(
                lambda: log.info("case %s received (open311)", reference)
            )
        view = open311.created_view(reference, accepted.tracking_code, locale)
        location = {"Location": f"/open311/v2/requests/{reference}.{fmt}"}
        return open311.respond(fmt, "service_requests", view, 201, location)

    @open311_api("GET", "/open311/v2/requests.<fmt>")
    def open311_requests(self, request: Request, fmt: str) -> Any:
        """Requests filed through Open311, newest first: public fields only."""
        open311.check_format(fmt)
        params = request.args
        open311.check_jurisdiction(params, self.settings.open311_jurisdiction)
        query = open311.request_query(params, domain.utc_now())
        cases = domain.open311_requests(
            self.db.session,
            references=query.references,
            service_codes=query.service_codes,
            statuses=query.statuses,
            since=query.since,
            until=query.until,
            limit=open311.MAX_RESULTS,
        )
        locale = open311.locale_of(request)
        # a list never shows what the citizen wrote, not even to its filer
        views = [open311.request_view(case, None, locale) for case in cases]
        return open311.respond(fmt, "service_requests", views)

    @open311_api("GET", "/open311/v2/requests/<service_request_id>.<fmt>")
    def open311_request(
        self, request: Request, service_request_id: str, fmt: str
    ) -> Any:
        """One request; its filer's api_key also sees the citizen's words."""
        open311.check_format(fmt)
        open311.check_jurisdiction(request.args, self.settings.open311_jurisdiction)
        try:
            case = domain.open311_request(self.db.session, service_request_id)
        except domain.CaseNotFound as exc:
            raise Open311Error(
                404, ("request_not_found", "service_request_id")
            ) from exc
        viewer = principal_of(request)
        if viewer is not None and open311.is_filer(case, viewer):
            domain.audit(
                self.db.session, viewer, "read_open311_request", case.reference
            )
        view = open311.request_view(case, viewer, open311.locale_of(request))
        return open311.respond(fmt, "service_requests", [view])

    @open311_api("GET", "/open311/v2/tokens/<token>.<fmt>")
    def open311_token(self, request: Request, token: str, fmt: str) -> Any:
        """A request's id from its token (a request's token is its id)."""
        open311.check_format(fmt)
        open311.check_jurisdiction(request.args, self.settings.open311_jurisdiction)
        try:
            case = domain.open311_request(self.db.session, token)
        except domain.CaseNotFound as exc:
            raise Open311Error(404, ("token_not_found", "token")) from exc
        return open311.respond(
            fmt, "service_requests", open311.token_view(case.reference)
        )

    # routing's events keep the timeline; one queue and handler per type
