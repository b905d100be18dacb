"""registry's rules: who the field agents are, where they work, and what
changes about them — plain Python over a SQLAlchemy session.

One module per part: :mod:`.agents` (register, change, deactivate),
:mod:`.access` (who sees whom, the audit log), :mod:`.search`,
:mod:`.coverage`, :mod:`.stats`, :mod:`.imports` (rosters in) and
:mod:`.export` (rosters out), on :mod:`.names`, :mod:`.places`,
:mod:`.snapshots` and :mod:`.rows`. Callers use the names re-exported here.
"""

from __future__ import annotations

from labornet_registry.domain.access import (
    agent_for_principal,
    audit,
    load_agent,
    may_see_agent,
)
from labornet_registry.domain.agents import (
    SELF_SERVICE_FIELDS,
    deactivate_agent,
    register_agent,
    update_agent,
)
from labornet_registry.domain.coverage import COVERAGE_LEVELS, CoverageEntry, coverage
from labornet_registry.domain.errors import (
    AgentExists,
    AgentInvalid,
    AgentNotActive,
    AgentNotFound,
)
from labornet_registry.domain.export import export_agents, roster_view
from labornet_registry.domain.imports import (
    ANALYZE_AFTER_ROWS,
    ImportMode,
    ImportOutcome,
    import_agents,
    import_mode,
    record_import,
    refresh_statistics,
    roster_import,
)
from labornet_registry.domain.names import (
    full_name,
    name_keys,
    new_agent_id,
    normalise_name,
    search_terms,
)
from labornet_registry.domain.places import check_areas, check_place, home_of
from labornet_registry.domain.search import search_agents
from labornet_registry.domain.snapshots import (
    ROSTER_FIELDS,
    SERVICE,
    agent_view,
    fingerprint,
    snapshot_payload,
    summary_view,
)
from labornet_registry.domain.stats import network_stats

__all__ = [
    "ANALYZE_AFTER_ROWS",
    "COVERAGE_LEVELS",
    "ROSTER_FIELDS",
    "SELF_SERVICE_FIELDS",
    "SERVICE",
    "AgentExists",
    "AgentInvalid",
    "AgentNotActive",
    "AgentNotFound",
    "CoverageEntry",
    "ImportMode",
    "ImportOutcome",
    "agent_for_principal",
    "agent_view",
    "audit",
    "check_areas",
    "check_place",
    "coverage",
    "deactivate_agent",
    "export_agents",
    "fingerprint",
    "full_name",
    "home_of",
    "import_agents",
    "import_mode",
    "load_agent",
    "may_see_agent",
    "name_keys",
    "network_stats",
    "new_agent_id",
    "normalise_name",
    "record_import",
    "refresh_statistics",
    "register_agent",
    "roster_import",
    "roster_view",
    "search_agents",
    "search_terms",
    "snapshot_payload",
    "summary_view",
    "update_agent",
]
