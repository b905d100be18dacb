"""An office reads a field agent's work contact (``GET /v1/agents/{id}/contact``).

``referral_issued`` names the follow-up agent by id only, so that no agent's
name or phone rides the broker unaudited; the office that must call the
agent reads the contact here, and every read is written to the audit log.

Who may read: registry does not know referrals, so the rule is what it can
check. Field agents are public-service workers and this is their *work*
contact (name, kind, phone, LINE id, e-mail, languages, office; never the
national ID, areas, dates or training): an operator reads any agent's; an
agency token reads an *active* agent's, and a token narrowed to one
province only an agent who covers a place in that province or serves
abroad (routing picks the follow-up agent of a case in the case's province,
or an agent abroad for a case abroad, so every office a referral reaches
can read its agent). Anyone else, an inactive agent or an unknown one: 404.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from labornet_registry.domain import AgentNotFound, audit, full_name, load_agent
from labornet_registry.models import Agent
from labornet_shared.tokens import Principal


def may_read_contact(principal: Principal, agent: Agent) -> bool:
    """The rule above, for one agent."""
    if principal.is_operator:
        return True
    if principal.scope != "agency" or agent.status != "active":
        return False
    if principal.province is None or agent.abroad_country:
        return True
    return any(area.province_code == principal.province for area in agent.areas)


def work_contact(session: Session, agent_id: str, principal: Principal) -> Agent:
    """The agent, if ``principal`` may read its work contact; the read is
    audited (who, which agent; never the contact itself).

    Raises:
        AgentNotFound: no such agent, or not this principal's to read.
    """
    agent = load_agent(session, agent_id)
    if agent is None or not may_read_contact(principal, agent):
        raise AgentNotFound()
    audit(session, principal, "read_agent_contact", agent_id, detail=_office(principal))
    return agent


def _office(principal: Principal) -> str | None:
    """Which office read, for the audit row (``sso.TH-52``, ``sso``)."""
    if principal.scope != "agency":
        return None
    return ".".join(part for part in (principal.agency, principal.province) if part)


def contact_view(agent: Agent) -> dict[str, Any]:
    """An agent's work contact: how an office reaches them, nothing more."""
    return {
        "agent_id": agent.id,
        "kind": agent.kind,
        "status": agent.status,
        "name_th": f"{agent.first_name_th} {agent.last_name_th}",
        "name_en": full_name(agent.first_name_en, agent.last_name_en),
        "phone": agent.phone,
        "email": agent.email,
        "line_user_id": agent.line_user_id,
        "languages": [row.language for row in agent.languages],
        "office": agent.office,
    }
