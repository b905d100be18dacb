"""What the registry's rules refuse: each error names what was wrong."""

from __future__ import annotations

from labornet_shared.problems import FieldError


class AgentNotFound(LookupError):
    """No such agent, or not one this principal may see."""


class AgentInvalid(ValueError):
    """The agent's data breaks a rule; one entry per field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(",".join(f"{e.field}:{e.code}" for e in errors))
        self.errors = errors


class AgentExists(ValueError):
    """An agent with this national ID is already registered."""

    def __init__(self, agent_id: str) -> None:
        super().__init__("agent_exists")
        self.agent_id = agent_id


class AgentNotActive(ValueError):
    """The agent is already inactive."""
