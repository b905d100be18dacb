"""registry's field agents as routing keeps them, and which of them follows
a case: the agent is named in every referral routing issues."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from labornet_routing.models import ProjectedAgent, ProjectedArea, RoutedCase
from labornet_shared.events import Event


def pick_agent(session: Session, case: RoutedCase) -> ProjectedAgent | None:
    """The active agent who follows the case.

    Candidates from the most specific place up: the subdistrict, the whole
    district, the whole province (abroad: the country). The most specific one
    who speaks the citizen's language, else the most specific one.
    """
    levels: list[Any] = []
    if case.abroad_country:
        levels.append(ProjectedAgent.abroad_country == case.abroad_country)
    else:
        area = ProjectedArea
        if case.subdistrict_code:
            levels.append(
                ProjectedAgent.id.in_(
                    select(area.agent_id).where(
                        area.subdistrict_code == case.subdistrict_code
                    )
                )
            )
        if case.district_code:
            levels.append(
                ProjectedAgent.id.in_(
                    select(area.agent_id).where(
                        area.district_code == case.district_code,
                        area.subdistrict_code.is_(None),
                    )
                )
            )
        levels.append(
            ProjectedAgent.id.in_(
                select(area.agent_id).where(
                    area.province_code == case.province_code,
                    area.district_code.is_(None),
                )
            )
        )
    candidates: list[ProjectedAgent] = []
    for condition in levels:
        candidates += session.scalars(
            select(ProjectedAgent)
            .where(ProjectedAgent.status == "active", condition)
            .order_by(ProjectedAgent.id)
        ).all()
    for agent in candidates:
        if case.language in (agent.languages or []):
            return agent
    return candidates[0] if candidates else None


def apply_agent(session: Session, event: Event) -> bool:
    """Project ``agent_registered``/``agent_updated``/``agent_deactivated``.

    A snapshot older than the one kept (by ``revision``) is ignored: events
    of one agent may arrive out of order. A deactivation that comes before
    the agent's registration is kept as an inactive agent with its revision,
    so the older registration that follows does not make it active.
    """
    payload = event.payload
    agent = session.get(ProjectedAgent, payload["agent_id"])
    if agent is not None and agent.revision >= payload["revision"]:
        return False
    if event.event_type == "agent_deactivated":
        if agent is None:
            # only what the event says; a newer snapshot fills in the rest
            agent = ProjectedAgent(
                id=payload["agent_id"], name_th="", languages=[], kind=payload["kind"]
            )
            session.add(agent)
        agent.status = "inactive"
        agent.revision = payload["revision"]
        return True
    if agent is None:
        agent = ProjectedAgent(id=payload["agent_id"])
        session.add(agent)
    agent.revision = payload["revision"]
    agent.kind = payload["kind"]
    agent.status = payload["status"]
    agent.name_th = payload["name_th"]
    agent.languages = list(payload["languages"])
    agent.phone = payload["contact"]["phone"]
    agent.line_user_id = payload["contact"]["line_user_id"]
    agent.abroad_country = payload["abroad_country"]
    session.flush()
    session.execute(delete(ProjectedArea).where(ProjectedArea.agent_id == agent.id))
    session.add_all(
        ProjectedArea(
            agent_id=agent.id,
            province_code=area["province_code"],
            district_code=area["district_code"],
            subdistrict_code=area["subdistrict_code"],
        )
        for area in payload["areas"]
    )
    return True
