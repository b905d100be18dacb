"""What routing's domain refuses, for the service to answer (404, 409) or
the event consumer to retry (a case not received yet)."""

from __future__ import annotations

from labornet_shared.inbox import PrerequisiteMissing


class ReferralNotFound(LookupError):
    """No such referral, or not one this principal may see."""


class IllegalTransition(ValueError):
    """The referral's status does not allow this action."""

    def __init__(self, status: str, version: int | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.version = version


class ReferralChanged(IllegalTransition):
    """The referral changed since the action's starting state was read
    (another action, an escalation): the action is not applied to a state
    it was not meant for. Carries the current status and version."""


class UnknownCase(PrerequisiteMissing, LookupError):
    """An event names a case routing has not received (yet): its
    ``case_received`` may still be on its way on another queue."""
