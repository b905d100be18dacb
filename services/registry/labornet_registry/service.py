"""registry's nameko service: entrypoints only — parse, call the domain, answer.

The OpenAPI table is in :mod:`.openapi_operations`, the answers' shapes in
:mod:`.views`.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from werkzeug.wrappers import Request, Response

from labornet_registry import contact, domain, roster, views
from labornet_registry.dependencies import registry_database, registry_relay
from labornet_registry.models import Agent
from labornet_registry.openapi_operations import OPERATIONS, XLSX_TYPE
from labornet_registry.schemas import (
    AgentCreateSchema,
    AgentListQuerySchema,
    AgentPatchSchema,
    CoverageQuerySchema,
    DeactivateSchema,
    ImportQuerySchema,
)

# the mixin by its module: nameko run serves every class in this module
from labornet_shared import web
from labornet_shared.http import (
    api,
    load,
    read_body,
    read_json,
)
from labornet_shared.ids import is_canonical_uuid
from labornet_shared.problems import FieldError, Problem
from labornet_shared.web import (
    cursor_position,
    query_args,
    require_scope,
)

__all__ = ["XLSX_TYPE", "RegistryService"]

# One instance of each schema: building one deep-copies its fields.
AGENT_CREATE = AgentCreateSchema()
AGENT_PATCH = AgentPatchSchema()
LIST_QUERY = AgentListQuerySchema()
COVERAGE_QUERY = CoverageQuerySchema()
DEACTIVATE = DeactivateSchema()
IMPORT_QUERY = ImportQuerySchema()

log = logging.getLogger("labornet.registry")


def _invalid(exc: domain.AgentInvalid) -> Problem:
    return Problem(400, "validation_failed", exc.errors)


def _upload(request: Request, filename: str) -> tuple[bytes, str]:
    """The roster file: a raw CSV/XLSX body, or a multipart ``file`` field."""
    mimetype = request.mimetype or ""
    if mimetype == "multipart/form-data":
        read_body(request)  # size check before werkzeug parses the form
        upload = request.files.get("file")
        if upload is None:
            raise Problem(400, "validation_failed", [FieldError("file", "required")])
        return upload.read(), upload.filename or filename
    if mimetype in ("text/csv", "application/csv", "text/plain"):
        name = filename if filename.lower().endswith(".csv") else f"{filename}.csv"
        return read_body(request), name
    if mimetype in (XLSX_TYPE, "application/octet-stream"):
        name = filename if filename.lower().endswith(".xlsx") else f"{filename}.xlsx"
        return read_body(request), name
    raise Problem(415, "unsupported_media_type")


class RegistryService(web.Probes):
    """The field-agent network: who, where, which languages, since when."""

    name = "registry"
    openapi_title = "labornet registry"
    operations = OPERATIONS

    db = registry_database()
    relay = registry_relay()

    @api("POST", "/v1/agents")
    def register_agent(self, request: Request) -> Any:
        """Register one agent; the national ID must be new."""
        require_scope(request, "operator")
        data = load(AGENT_CREATE, read_json(request))
        try:
            agent_id = domain.register_agent(self.db.session, data)
        except domain.AgentInvalid as exc:
            raise _invalid(exc) from exc
        except domain.AgentExists as exc:
            raise Problem(
                409,
                "agent_exists",
                headers={"Location": f"/v1/agents/{exc.agent_id}"},
            ) from exc
        agent = self.db.session.get(Agent, agent_id)
        return 201, {"Location": f"/v1/agents/{agent_id}"}, views.agent_json(agent)

    @api("GET", "/v1/agents")
    def list_agents(self, request: Request) -> Any:
        """Search agents: by kind, place, region, country, language, status,
        or a name prefix."""
        principal = require_scope(request, "operator")
        filters = query_args(request, LIST_QUERY)
        after = cursor_position(filters.pop("cursor", None), is_canonical_uuid)
        limit = filters.pop("limit")
        agents, next_id = domain.search_agents(
            self.db.session, filters, principal, limit, after
        )
        return 200, views.agents_page_json(agents, next_id)

    @api("GET", "/v1/agents/export.csv")
    def export_agents(self, request: Request) -> Any:
        """Every agent as a roster the importer reads back (operator)."""
        principal = require_scope(request, "operator")
        agents = domain.export_agents(self.db.session, principal)
        return Response(
            views.roster_csv(agents),
            mimetype="text/csv",
            headers={
                "Content-Disposition": 'attachment; filename="agents.csv"',
                "Cache-Control": "no-store",
            },
        )

    @api("POST", "/v1/agents/import", max_body_setting="MAX_IMPORT_BYTES")
    def import_roster(self, request: Request) -> Any:
        """Validate a roster and import its good rows (or none, or only check)."""
        principal = require_scope(request, "operator")
        options = query_args(request, IMPORT_QUERY)
        data, filename = _upload(request, options["filename"])
        try:
            sheet = roster.read_roster(data, filename)
        except roster.RosterFileError as exc:
            raise Problem(
                422,
                "roster_unreadable",
                [FieldError("file", exc.code)],
                detail=exc.detail,
            ) from exc
        mode = domain.import_mode(
            dry_run=options["dry_run"],
            all_or_nothing=options["all_or_nothing"],
            rejected=bool(sheet.errors),
        )
        outcome = domain.import_agents(
            self.db.session, [row.agent for row in sheet.rows], dry_run=not mode.write
        )
        rejected_csv = roster.rejected_rows_csv(sheet) if sheet.errors else None
        report = domain.record_import(
            self.db.session,
            principal,
            filename=filename,
            mode=mode.name,
            rows_read=sheet.total,
            outcome=outcome,
            rejected=sheet.failed,
            rejected_csv=rejected_csv,
        )
        self.db.after_commit(
            lambda: log.info(
                "roster import %s: %d registered, %d updated, %d rejected",
                mode.name,
                outcome.registered if mode.write else 0,
                outcome.updated if mode.write else 0,
                sheet.failed,
            )
        )
        return 200, views.import_report_json(
            report.id, mode, sheet, outcome, rejected_csv
        )

    @api("GET", "/v1/agents/imports/<int:import_id>/rejected.csv")
    def rejected_rows(self, request: Request, import_id: int) -> Any:
        """The rows an import rejected, with their errors, as CSV."""
        require_scope(request, "operator")
        report = domain.roster_import(self.db.session, import_id)
        if report is None or report.rejected_csv is None:
            raise Problem(404, "not_found")
        return Response(
            report.rejected_csv,
            mimetype="text/csv",
            headers={
                "Content-Disposition": (
                    f'attachment; filename="rejected-{import_id}.csv"'
                ),
                "Cache-Control": "no-store",
            },
        )

    @api("GET", "/v1/agents/<uuid:agent_id>")
    def get_agent(self, request: Request, agent_id: uuid.UUID) -> Any:
        """One agent, whole: an operator, or the agent themself."""
        principal = require_scope(request, "operator", "agent")
        try:
            agent = domain.agent_for_principal(
                self.db.session, str(agent_id), principal
            )
        except domain.AgentNotFound as exc:
            raise Problem(404, "not_found") from exc
        return 200, views.agent_json(agent)

    @api("GET", "/v1/agents/<uuid:agent_id>/contact")
    def get_agent_contact(self, request: Request, agent_id: uuid.UUID) -> Any:
        """How an office reaches the field agent following its referral."""
        principal = require_scope(request, "agency", "operator")
        try:
            agent = contact.work_contact(self.db.session, str(agent_id), principal)
        except domain.AgentNotFound as exc:
            raise Problem(404, "not_found") from exc
        return 200, views.contact_json(agent)

    @api("PATCH", "/v1/agents/<uuid:agent_id>")
    def update_agent(self, request: Request, agent_id: uuid.UUID) -> Any:
        """Change an agent; an agent token only its own contact and languages."""
        principal = require_scope(request, "operator", "agent")
        changes = load(AGENT_PATCH, read_json(request))
        try:
            agent = domain.update_agent(
                self.db.session, str(agent_id), changes, principal
            )
        except domain.AgentNotFound as exc:
            raise Problem(404, "not_found") from exc
        except domain.AgentInvalid as exc:
            raise _invalid(exc) from exc
        return 200, views.agent_json(agent)

    @api("POST", "/v1/agents/<uuid:agent_id>/deactivate")
    def deactivate_agent(self, request: Request, agent_id: uuid.UUID) -> Any:
        """The agent takes no more cases (operator)."""
        require_scope(request, "operator")
        data = load(DEACTIVATE, read_json(request)) if request.content_length else {}
        try:
            agent = domain.deactivate_agent(
                self.db.session, str(agent_id), data.get("reason")
            )
        except domain.AgentNotFound as exc:
            raise Problem(404, "not_found") from exc
        except domain.AgentNotActive as exc:
            raise Problem(409, "agent_not_active") from exc
        return 200, views.agent_json(agent)

    @api("GET", "/v1/coverage")
    def coverage(self, request: Request) -> Any:
        """The active agents responsible for a place, most specific first."""
        principal = require_scope(request, "operator")
        place = query_args(request, COVERAGE_QUERY)
        try:
            entries = domain.coverage(self.db.session, principal, **place)
        except domain.AgentInvalid as exc:
            raise _invalid(exc) from exc
        return 200, views.coverage_json(entries)

    @api("GET", "/v1/stats")
    def stats(self, request: Request) -> Any:
        """Counts by kind × region × province × status, and coverage gaps."""
        require_scope(request, "operator")
        return 200, domain.network_stats(self.db.session)
