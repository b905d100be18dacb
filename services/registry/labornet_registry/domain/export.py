"""The whole network as a roster: every field agent, in the importer's columns."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labornet_registry.domain.access import audit
from labornet_registry.domain.snapshots import agent_view
from labornet_registry.models import Agent
from labornet_shared.tokens import Principal


def export_agents(
    session: Session, principal: Principal, batch: int = 1000
) -> Iterator[dict[str, Any]]:
    """Every agent as an agent-input dict (plus id and status), in id order.

    The export is audited once, before the first agent is read.
    """
    audit(session, principal, "export_agents")
    after = ""
    while True:
        agents = session.scalars(
            select(Agent).where(Agent.id > after).order_by(Agent.id).limit(batch)
        ).all()
        if not agents:
            return
        for agent in agents:
            yield agent_view(agent, with_training=False)
        after = agents[-1].id
        session.expunge_all()


def roster_view(agent: dict[str, Any]) -> dict[str, Any]:
    """An agent as a roster row (the importer's columns), for the export."""
    areas = agent.get("areas") or [{}]
    first = areas[0]
    return {
        "kind": agent["kind"],
        "first_name_th": agent["first_name_th"],
        "last_name_th": agent["last_name_th"],
        "first_name_en": agent.get("first_name_en") or "",
        "last_name_en": agent.get("last_name_en") or "",
        "national_id": agent["national_id"],
        "phone": agent.get("phone") or "",
        "email": agent.get("email") or "",
        "line_user_id": agent.get("line_user_id") or "",
        "languages": ",".join(agent.get("languages") or []),
        "province_code": first.get("province_code") or "",
        "district": first.get("district_code") or "",
        "subdistrict": first.get("subdistrict_code") or "",
        "abroad_country": agent.get("abroad_country") or "",
        "abroad_city": agent.get("abroad_city") or "",
        "start_date": _iso(agent.get("start_date")),
        "term_end": _iso(agent.get("term_end")),
    }


def _iso(value: date | None) -> str:
    return value.isoformat() if value else ""
