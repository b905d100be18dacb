"""A field agent's rows: the ``agents`` columns and the child tables (areas,
languages, name keys, training), written in bulk for one agent or thousands."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from labornet_registry.domain.names import name_keys
from labornet_registry.domain.places import home_of
from labornet_registry.models import (
    AgentArea,
    AgentLanguage,
    AgentNameKey,
    TrainingRecord,
)
from labornet_shared.unit_of_work import bulk_insert


def agent_columns(
    agent_id: str, agent: dict[str, Any], status: str, now: datetime
) -> dict[str, Any]:
    """The ``agents`` row of a new agent (revision 1)."""
    province_code, region, office = home_of(agent)
    return {
        "id": agent_id,
        "kind": agent["kind"],
        "status": status,
        "first_name_th": agent["first_name_th"],
        "last_name_th": agent["last_name_th"],
        "first_name_en": agent.get("first_name_en"),
        "last_name_en": agent.get("last_name_en"),
        "national_id": agent["national_id"],
        "phone": agent.get("phone"),
        "email": agent.get("email"),
        "line_user_id": agent.get("line_user_id"),
        "province_code": province_code,
        "region": region,
        "abroad_country": agent.get("abroad_country"),
        "abroad_city": agent.get("abroad_city"),
        "office": office,
        "start_date": agent.get("start_date"),
        "term_end": agent.get("term_end"),
        "revision": 1,
        "deactivation_reason": None,
        "created_at": now,
        "updated_at": now,
    }


@dataclass
class ChildRows:
    """Rows of the child tables for many agents, inserted in one go each."""

    areas: list[dict[str, Any]] = field(default_factory=list)
    languages: list[dict[str, Any]] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)
    training: list[dict[str, Any]] = field(default_factory=list)

    def add(self, agent_id: str, agent: dict[str, Any]) -> None:
        """Queue the rows of one agent."""
        for area in agent.get("areas") or []:
            self.areas.append(
                {
                    "agent_id": agent_id,
                    "province_code": area["province_code"],
                    "district_code": area.get("district_code"),
                    "subdistrict_code": area.get("subdistrict_code"),
                }
            )
        for position, language in enumerate(agent.get("languages") or []):
            self.languages.append(
                {"agent_id": agent_id, "language": language, "position": position}
            )
        for key in sorted(name_keys(agent)):
            self.keys.append({"agent_id": agent_id, "key": key})
        for record in agent.get("training") or []:
            self.training.append({"agent_id": agent_id, **record})

    def insert(self, session: Session) -> None:
        """Insert every queued row, one statement per table."""
        for table, rows in (
            (AgentArea.__table__, self.areas),
            (AgentLanguage.__table__, self.languages),
            (AgentNameKey.__table__, self.keys),
            (TrainingRecord.__table__, self.training),
        ):
            bulk_insert(session, table, rows)  # type: ignore[arg-type]


def delete_children(
    session: Session, agent_ids: Sequence[str], *, training: bool
) -> None:
    """Delete the agents' child rows (training records only if ``training``)."""
    tables: list[Any] = [AgentArea, AgentLanguage, AgentNameKey]
    if training:
        tables.append(TrainingRecord)
    for start in range(0, len(agent_ids), 500):
        chunk = agent_ids[start : start + 500]
        for model in tables:
            session.execute(delete(model).where(model.agent_id.in_(chunk)))
