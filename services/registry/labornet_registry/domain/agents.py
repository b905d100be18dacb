"""Registering, changing and deactivating one field agent.

Every change writes its event (``agent_registered``, ``agent_updated``,
``agent_deactivated``) to the outbox in the same transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from labornet_registry.domain.access import load_agent, may_see_agent
from labornet_registry.domain.errors import (
    AgentExists,
    AgentInvalid,
    AgentNotActive,
    AgentNotFound,
)
from labornet_registry.domain.names import new_agent_id
from labornet_registry.domain.places import area_tuple, check_areas, check_place
from labornet_registry.domain.rows import ChildRows, agent_columns, delete_children
from labornet_registry.domain.snapshots import (
    ROSTER_FIELDS,
    SERVICE,
    agent_view,
    registered_event,
    updated_event,
)
from labornet_registry.models import Agent
from labornet_shared.clock import Clock, utc_now
from labornet_shared.events import make_event
from labornet_shared.outbox import add_event
from labornet_shared.problems import FieldError
from labornet_shared.tokens import Principal

# an agent token may change only these of its own record
SELF_SERVICE_FIELDS = frozenset({"phone", "email", "line_user_id", "languages"})


def register_agent(
    session: Session, agent: dict[str, Any], clock: Clock = utc_now
) -> str:
    """Register one agent (API); returns the new agent id.

    Raises:
        AgentInvalid: a place or date rule is broken.
        AgentExists: the national ID is already registered.
    """
    agent = {**agent, "areas": check_areas(agent.get("areas") or [])}
    check_place(agent)
    existing = session.scalar(
        select(Agent.id).where(Agent.national_id == agent["national_id"])
    )
    if existing is not None:
        raise AgentExists(existing)
    agent_id = new_agent_id()
    status = agent.get("status") or "active"
    session.connection().execute(
        insert(Agent.__table__), [agent_columns(agent_id, agent, status, clock())]
    )
    children = ChildRows()
    children.add(agent_id, agent)
    children.insert(session)
    add_event(session, SERVICE, registered_event(agent_id, agent, status))
    return agent_id


def update_agent(
    session: Session,
    agent_id: str,
    changes: dict[str, Any],
    principal: Principal,
    clock: Clock = utc_now,
) -> Agent:
    """Change an agent (PATCH); emits one ``agent_updated`` if anything changed.

    Raises:
        AgentNotFound: no such agent, or not this principal's to change.
        AgentInvalid: a field the principal may not change, or a broken rule.
    """
    agent = load_agent(session, agent_id)
    if agent is None or not may_see_agent(principal, agent_id):
        raise AgentNotFound()
    if not principal.is_operator:
        refused = sorted(set(changes) - SELF_SERVICE_FIELDS)
        if refused:
            raise AgentInvalid([FieldError(name, "read_only") for name in refused])
    before = agent_view(agent)
    after = {**before, **changes}
    if "areas" in changes:
        after["areas"] = check_areas(changes["areas"])
    check_place(after)
    changed = [
        name
        for name in (*ROSTER_FIELDS, "status", "training")
        if name in changes and _comparable(name, before) != _comparable(name, after)
    ]
    if changed:
        _apply_changes(session, agent, before, after, changed, clock)
    return agent


def _comparable(name: str, agent: dict[str, Any]) -> Any:
    if name == "areas":
        return sorted(area_tuple(a) for a in agent.get("areas") or [])
    return agent.get(name)


def _apply_changes(
    session: Session,
    agent: Agent,
    before: dict[str, Any],
    after: dict[str, Any],
    changed: list[str],
    clock: Clock,
) -> None:
    """Write ``after`` over ``agent`` and emit its ``agent_updated``."""
    columns = agent_columns(agent.id, after, after["status"], clock())
    for name in ("id", "national_id", "created_at", "revision", "deactivation_reason"):
        columns.pop(name)
    columns["revision"] = before["revision"] + 1
    if after["status"] == "active":
        columns["deactivation_reason"] = None
    session.execute(update(Agent).where(Agent.id == agent.id).values(**columns))
    delete_children(session, [agent.id], training="training" in changed)
    children = ChildRows()
    children.add(
        agent.id,
        {**after, "training": after["training"] if "training" in changed else []},
    )
    children.insert(session)
    add_event(
        session,
        SERVICE,
        updated_event(agent.id, after, after["status"], columns["revision"], changed),
    )
    session.expire(agent)


def deactivate_agent(
    session: Session,
    agent_id: str,
    reason: str | None,
    clock: Clock = utc_now,
) -> Agent:
    """Make an agent inactive; emits ``agent_deactivated``.

    Raises:
        AgentNotFound: no such agent.
        AgentNotActive: already inactive.
    """
    agent = load_agent(session, agent_id)
    if agent is None:
        raise AgentNotFound()
    if agent.status == "inactive":
        raise AgentNotActive()
    now = clock()
    revision = agent.revision + 1
    session.execute(
        update(Agent)
        .where(Agent.id == agent_id)
        .values(
            status="inactive",
            deactivation_reason=reason,
            revision=revision,
            updated_at=now,
        )
    )
    add_event(
        session,
        SERVICE,
        make_event(
            "agent_deactivated",
            {
                "agent_id": agent_id,
                "revision": revision,
                "kind": agent.kind,
                "reason": reason,
                "deactivated_at": now.isoformat(),
            },
        ),
    )
    session.expire(agent)
    return agent
