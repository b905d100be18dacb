"""What registry's API answers: field agents, coverage, import reports and
the roster export, built from the domain's objects."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from labornet_registry import contact, domain, roster
from labornet_registry.models import Agent
from labornet_registry.schemas import (
    AgentContactSchema,
    AgentSchema,
    AgentSummarySchema,
    ImportReportSchema,
)
from labornet_shared.csvcells import safe_record
from labornet_shared.pagination import encode_cursor

# One instance of each schema: building one deep-copies its fields.
AGENT = AgentSchema()
AGENT_SUMMARY = AgentSummarySchema()
AGENT_CONTACT = AgentContactSchema()
IMPORT_REPORT = ImportReportSchema()


def agent_json(agent: Agent) -> dict[str, Any]:
    """An agent, whole (operators and the agent themself)."""
    return dict(AGENT.dump(domain.agent_view(agent)))


def agent_summary_json(agent: Agent) -> dict[str, Any]:
    """An agent as lists and coverage show it."""
    return dict(AGENT_SUMMARY.dump(domain.summary_view(agent)))


def agents_page_json(agents: Sequence[Agent], next_id: str | None) -> dict[str, Any]:
    """A page of search results and the cursor of the next page."""
    return {
        "agents": [agent_summary_json(agent) for agent in agents],
        "next_cursor": encode_cursor({"id": next_id}) if next_id else None,
    }


def contact_json(agent: Agent) -> dict[str, Any]:
    """An agent's work contact, for the office following a referral."""
    return dict(AGENT_CONTACT.dump(contact.contact_view(agent)))


def coverage_json(entries: Sequence[domain.CoverageEntry]) -> dict[str, Any]:
    """The agents responsible for a place, each with its level."""
    return {
        "agents": [
            {"level": entry.level, "agent": agent_summary_json(entry.agent)}
            for entry in entries
        ]
    }


def roster_csv(agents: Iterable[dict[str, Any]]) -> str:
    """Agents as a roster CSV the importer reads back (with a BOM for Excel),
    each row led by the agent's id and status."""
    out = io.StringIO()
    columns = ["agent_id", "status", *(c.name for c in roster.COLUMNS)]
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    for agent in agents:
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
    return "\ufeff" + out.getvalue()


def import_report_json(
    report_id: int,
    mode: domain.ImportMode,
    sheet: roster.Roster,
    outcome: domain.ImportOutcome,
    rejected_csv: bytes | None,
) -> dict[str, Any]:
    """What an import did, and where its rejected rows can be downloaded."""
    return dict(
        IMPORT_REPORT.dump(
            {
                "import_id": report_id,
                "mode": mode.name,
                "rows_read": sheet.total,
                "registered": outcome.registered,
                "updated": outcome.updated,
                "unchanged": outcome.unchanged,
                "rejected": sheet.failed,
                "imported": mode.write,
                "errors": [vars(error) for error in sheet.errors],
                "rejected_csv": (
                    f"/v1/agents/imports/{report_id}/rejected.csv"
                    if rejected_csv
                    else None
                ),
            }
        )
    )
