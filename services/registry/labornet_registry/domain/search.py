"""Finding field agents: by kind, status, region, country, place, language
or a name prefix, a page at a time, every search audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from labornet_registry.domain.access import audit
from labornet_registry.domain.names import search_terms
from labornet_registry.models import Agent, AgentArea, AgentLanguage, AgentNameKey
from labornet_shared.tokens import Principal


def covering(*conditions: Any) -> Any:
    """Agents with an area meeting ``conditions``.

    ``IN (SELECT agent_id ...)``, not a correlated EXISTS: SQLite would walk
    every agent and probe the areas for each (hundreds of ms for the
    national network); this way it reads the few matching areas by index.
    """
    return Agent.id.in_(select(AgentArea.agent_id).where(*conditions))


def area_filter(**codes: str | None) -> Any:
    """Agents covering the place of these codes (``province=``, ``district=``,
    ``subdistrict=``) or a place inside it."""
    return covering(
        *(
            getattr(AgentArea, f"{level}_code") == code
            for level, code in codes.items()
            if code is not None
        )
    )


def search_agents(
    session: Session,
    filters: dict[str, Any],
    principal: Principal,
    limit: int,
    after_id: str | None = None,
) -> tuple[list[Agent], str | None]:
    """A page of agents matching ``filters``, in registration order.

    Filters: kind, status, region, country (abroad), province, district,
    subdistrict (agents covering that area or a place inside it), language,
    and ``q``: every word must begin one of the agent's names (Thai or Latin,
    or the whole name run together).
    """
    query = _matching(filters)
    if after_id is not None:
        query = query.where(Agent.id > after_id)
    agents = list(session.scalars(query.limit(limit + 1)))
    next_id = agents[limit - 1].id if len(agents) > limit else None
    agents = agents[:limit]
    audit(
        session,
        principal,
        "list_agents",
        detail=f"{len(agents)} agents",
    )
    return agents, next_id


def _matching(filters: dict[str, Any]) -> Select[tuple[Agent]]:
    """The agents matching ``filters``, in id order."""
    query = select(Agent).order_by(Agent.id)
    for name, column in (
        ("kind", Agent.kind),
        ("status", Agent.status),
        ("region", Agent.region),
        ("country", Agent.abroad_country),
    ):
        if filters.get(name) is not None:
            query = query.where(column == filters[name])
    places = {
        level: filters.get(level)
        for level in ("province", "district", "subdistrict")
        if filters.get(level) is not None
    }
    if places:
        query = query.where(area_filter(**places))
    if filters.get("language") is not None:
        query = query.where(
            Agent.id.in_(
                select(AgentLanguage.agent_id).where(
                    AgentLanguage.language == filters["language"]
                )
            )
        )
    for term in search_terms(filters.get("q") or ""):
        # a prefix is the range [term, term + the highest code point)
        query = query.where(
            Agent.id.in_(
                select(AgentNameKey.agent_id).where(
                    AgentNameKey.key >= term,
                    AgentNameKey.key < term + "\U0010ffff",
                )
            )
        )
    return query
