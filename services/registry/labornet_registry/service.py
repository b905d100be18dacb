"""registry's nameko service: entrypoints only — parse, call the domain, answer."""

from __future__ import annotations

import csv
import io
import logging
import uuid
from typing import Any

from werkzeug.wrappers import Request, Response

from labornet_registry import contact, domain, roster
from labornet_registry.dependencies import registry_database, registry_relay
from labornet_registry.models import Agent
from labornet_registry.schemas import (
    AgentContactSchema,
    AgentCreateSchema,
    AgentListQuerySchema,
    AgentListSchema,
    AgentPatchSchema,
    AgentSchema,
    AgentSummarySchema,
    CoverageQuerySchema,
    CoverageSchema,
    DeactivateSchema,
    ImportQuerySchema,
    ImportReportSchema,
    StatsSchema,
)

# the mixin by its module: nameko run serves every class in this module
from labornet_shared import web
from labornet_shared.csvcells import safe_record
from labornet_shared.http import (
    api,
    load,
    read_body,
    read_json,
)
from labornet_shared.ids import is_canonical_uuid
from labornet_shared.openapi import Operation
from labornet_shared.pagination import encode_cursor
from labornet_shared.problems import FieldError, Problem
from labornet_shared.web import (
    cursor_position,
    query_args,
    require_scope,
)

# One instance of each schema: building one deep-copies its fields.
AGENT = AgentSchema()
AGENT_CREATE = AgentCreateSchema()
AGENT_PATCH = AgentPatchSchema()
AGENT_SUMMARY = AgentSummarySchema()
AGENT_CONTACT = AgentContactSchema()
LIST_QUERY = AgentListQuerySchema()
COVERAGE_QUERY = CoverageQuerySchema()
DEACTIVATE = DeactivateSchema()
IMPORT_QUERY = ImportQuerySchema()
IMPORT_REPORT = ImportReportSchema()

log = logging.getLogger("labornet.registry")

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _invalid(exc: domain.AgentInvalid) -> Problem:
    return Problem(400, "validation_failed", exc.errors)


def _summary(agent: Agent) -> dict[str, Any]:
    return dict(AGENT_SUMMARY.dump(domain.summary_view(agent)))


def _whole(agent: Agent) -> dict[str, Any]:
    return dict(AGENT.dump(domain.agent_view(agent)))


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
        return 201, {"Location": f"/v1/agents/{agent_id}"}, _whole(agent)

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
        return 200, {
            "agents": [_summary(agent) for agent in agents],
            "next_cursor": encode_cursor({"id": next_id}) if next_id else None,
        }

    @api("GET", "/v1/agents/export.csv")
    def export_agents(self, request: Request) -> Any:
        """Every agent as a roster the importer reads back (operator)."""
        principal = require_scope(request, "operator")
        out = io.StringIO()
        columns = ["agent_id", "status", *(c.name for c in roster.COLUMNS)]
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        for agent in domain.export_agents(self.db.session, principal):
            # agents write some of these cells themselves (line_user_id)
            writer.writerow(
                safe_record(
                    {
                        "agent_id": agent["id"],
                        "status": agent["status"],
                        **domain.roster_view(agent),
                    }
                )
            )
        return Response(
            "\ufeff" + out.getvalue(),
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
        mode = (
            "dry_run"
            if options["dry_run"]
            else "all_or_nothing"
            if options["all_or_nothing"]
            else "good_rows"
        )
        write = mode == "good_rows" or (mode == "all_or_nothing" and not sheet.errors)
        outcome = domain.import_agents(
            self.db.session, [row.agent for row in sheet.rows], dry_run=not write
        )
        rejected_csv = roster.rejected_rows_csv(sheet) if sheet.errors else None
        report = domain.record_import(
            self.db.session,
            principal,
            filename=filename,
            mode=mode,
            rows_read=sheet.total,
            outcome=outcome,
            rejected=sheet.failed,
            rejected_csv=rejected_csv,
        )
        self.db.after_commit(
            lambda: log.info(
                "roster import %s: %d registered, %d updated, %d rejected",
                mode,
                outcome.registered if write else 0,
                outcome.updated if write else 0,
                sheet.failed,
            )
        )
        return 200, IMPORT_REPORT.dump(
            {
                "import_id": report.id,
                "mode": mode,
                "rows_read": sheet.total,
                "registered": outcome.registered,
                "updated": outcome.updated,
                "unchanged": outcome.unchanged,
                "rejected": sheet.failed,
                "imported": write,
                "errors": [vars(error) for error in sheet.errors],
                "rejected_csv": (
                    f"/v1/agents/imports/{report.id}/rejected.csv"
                    if rejected_csv
                    else None
                ),
            }
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
        return 200, _whole(agent)

    @api("GET", "/v1/agents/<uuid:agent_id>/contact")
    def get_agent_contact(self, request: Request, agent_id: uuid.UUID) -> Any:
        """How an office reaches the field agent following its referral."""
        principal = require_scope(request, "agency", "operator")
        try:
            agent = contact.work_contact(self.db.session, str(agent_id), principal)
        except domain.AgentNotFound as exc:
            raise Problem(404, "not_found") from exc
        return 200, AGENT_CONTACT.dump(contact.contact_view(agent))

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
        return 200, _whole(agent)

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
        return 200, _whole(agent)

    @api("GET", "/v1/coverage")
    def coverage(self, request: Request) -> Any:
        """The active agents responsible for a place, most specific first."""
        principal = require_scope(request, "operator")
        place = query_args(request, COVERAGE_QUERY)
        try:
            entries = domain.coverage(self.db.session, principal, **place)
        except domain.AgentInvalid as exc:
            raise _invalid(exc) from exc
        return 200, {
            "agents": [
                {"level": entry.level, "agent": _summary(entry.agent)}
                for entry in entries
            ]
        }

    @api("GET", "/v1/stats")
    def stats(self, request: Request) -> Any:
        """Counts by kind × region × province × status, and coverage gaps."""
        require_scope(request, "operator")
        return 200, domain.network_stats(self.db.session)
