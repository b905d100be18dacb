"""What notify keeps of cases and field agents to find who hears of an
event: whose a case is and where, whether it is withdrawn or closed, and each
agent's channels and areas (never a citizen's contact).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from labornet_notify.domain.deliveries.planning import _not_planned
from labornet_notify.models import AgentArea, AgentContact, Delivery, NotifyCase
from labornet_shared.events import Event, language_chosen, wipe_free_text
from labornet_shared.inbox import PrerequisiteMissing
from labornet_shared.reference.geography.provinces import province

#: events that change what notify knows of the case: they need it too
CASE_STATE_EVENTS = frozenset({"case_withdrawn", "case_closed"})


def remember_case(session: Session, event: Event) -> NotifyCase:
    """Keep whose a received case is and where (no contact)."""
    payload = event.payload
    case = session.get(NotifyCase, payload["reference"])
    if case is None:
        location = payload["location"]
        case = NotifyCase(
            reference=payload["reference"],
            language=payload["language"],
            language_chosen=language_chosen(payload),
            submitted_by_agent_id=payload.get("submitted_by_agent_id"),
            province_code=location["province_code"],
            district_code=location.get("district_code"),
            subdistrict_code=location.get("subdistrict_code"),
            abroad_country=payload.get("abroad_country"),
            status="open",
        )
        session.add(case)
    return case


def erase_case_text(session: Session, reference: str) -> int:
    """PDPA erasure: wipe the citizen's words (the description, offices'
    notes) from the events kept with the case's deliveries. A delivery not
    yet sent then says the text was erased; the citizen is sent nothing more
    (intake answers no contact). Returns how many deliveries were wiped."""
    wiped = 0
    for delivery in session.scalars(
        select(Delivery).where(Delivery.case_reference == reference)
    ):
        event = wipe_free_text(delivery.event)
        if event != delivery.event:
            delivery.event = event
            wiped += 1
    return wiped


def apply_agent(session: Session, event: Event) -> bool:
    """Project an ``agent_*`` event (an older revision is ignored)."""
    payload = event.payload
    agent = session.get(AgentContact, payload["agent_id"])
    if agent is not None and agent.revision >= payload["revision"]:
        return False
    if event.event_type == "agent_deactivated":
        if agent is not None:
            agent.status = "inactive"
            agent.revision = payload["revision"]
            index_agent(session, agent)
        return agent is not None
    if agent is None:
        agent = AgentContact(id=payload["agent_id"])
        session.add(agent)
    agent.revision = payload["revision"]
    agent.status = payload["status"]
    agent.name_th = payload["name_th"]
    agent.languages = list(payload["languages"])
    agent.phone = payload["contact"]["phone"]
    agent.email = payload["contact"]["email"]
    agent.line_user_id = payload["contact"]["line_user_id"]
    agent.areas = [
        [a["province_code"], a["district_code"], a["subdistrict_code"]]
        for a in payload["areas"]
    ]
    agent.abroad_country = payload["abroad_country"]
    agent.kind = payload["kind"]
    session.flush()
    index_agent(session, agent)
    return True


def note_case_state(session: Session, event: Event) -> None:
    """A withdrawal or a closing, kept with the case (a withdrawn case's
    citizen hears no more). Raises :class:`PrerequisiteMissing` before its
    ``case_received``: applied now, the case would open afterwards."""
    reference = event.payload["reference"]
    case = session.get(NotifyCase, reference)
    if case is None:
        _not_planned(event, "any", "case_not_received_yet")
        raise PrerequisiteMissing(f"case {reference} not received yet")
    case.status = "withdrawn" if event.event_type == "case_withdrawn" else "closed"


def area_rows(agent_id: str, areas: Iterable[list[str | None]]) -> list[dict[str, Any]]:
    """The :class:`AgentArea` rows of an agent's areas
    (``[[province, district, subdistrict], ...]``)."""
    found: dict[tuple[str, str, bool], None] = {}
    for province_code, district, subdistrict in areas:
        if province_code is None:
            continue
        info = province(province_code)
        if info is not None:
            found[("region", info.region, False)] = None
        found[("province", province_code, district is None)] = None
        if district is not None:
            found[("district", district, subdistrict is None)] = None
        if subdistrict is not None:
            found[("subdistrict", subdistrict, True)] = None
    return [
        {"agent_id": agent_id, "level": level, "code": code, "exact": exact}
        for level, code, exact in found
    ]


def index_agent(session: Session, agent: AgentContact) -> None:
    """Rewrite the agent's rows in the area index (none when not active)."""
    session.execute(delete(AgentArea).where(AgentArea.agent_id == agent.id))
    if agent.status == "active":
        rows = area_rows(agent.id, agent.areas or [])
        if rows:
            session.execute(AgentArea.__table__.insert(), rows)
