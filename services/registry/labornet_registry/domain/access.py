"""Who may see which field agent, and the audit log of every read of
agents' personal data."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from labornet_registry.domain.errors import AgentNotFound
from labornet_registry.models import Agent, AuditLogEntry
from labornet_shared.clock import Clock, utc_now
from labornet_shared.tokens import Principal


def load_agent(session: Session, agent_id: str) -> Agent | None:
    """The agent with this id; None for an unknown id or one that is no UUID."""
    try:
        uuid.UUID(agent_id)
    except ValueError:
        return None
    return session.get(Agent, agent_id)


def may_see_agent(principal: Principal | None, agent_id: str) -> bool:
    """Operators see every agent; an agent only themself."""
    if principal is None:
        return False
    if principal.is_operator:
        return True
    return principal.scope == "agent" and principal.agent_id == agent_id


def audit(
    session: Session,
    principal: Principal,
    action: str,
    agent_id: str | None = None,
    detail: str | None = None,
    clock: Clock = utc_now,
) -> None:
    """Write who read agents' personal data (never the data itself)."""
    session.add(
        AuditLogEntry(
            occurred_at=clock(),
            actor_scope=principal.scope,
            actor=principal.agent_id or principal.subject,
            action=action,
            agent_id=agent_id,
            detail=detail,
        )
    )


def agent_for_principal(
    session: Session, agent_id: str, principal: Principal | None
) -> Agent:
    """One agent for an operator or the agent themself; the read is audited."""
    agent = load_agent(session, agent_id)
    if agent is None or principal is None or not may_see_agent(principal, agent_id):
        raise AgentNotFound()
    audit(session, principal, "read_agent", agent_id)
    return agent
