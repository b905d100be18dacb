"""Who consumes which event: the contract ``labornet setup-broker`` declares.

nameko declares an event handler's queue only when its service starts; an
event published before that goes to ``labornet.unrouted`` and its consumer
never sees it. So the broker setup declares every handler's queue and binding
up front, from this table. Each service's ``@event_handler`` methods must
match it exactly (``tests/test_subscriptions.py`` checks, importing the
services; this module imports none of them).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Subscription:
    """One event handler: ``service.method`` consumes ``source``'s
    ``event_type``."""

    source: str
    event_type: str
    service: str
    method: str

    @property
    def queue(self) -> str:
        """The handler's queue, named as nameko names it."""
        return f"evt-{self.source}-{self.event_type}--{self.service}.{self.method}"

    @property
    def exchange(self) -> str:
        """The exchange it is bound to (routing key: the event type)."""
        return f"{self.source}.events"


_ = Subscription  # one row a line

SUBSCRIPTIONS: tuple[Subscription, ...] = (
    # source, event type, consuming service, method
    # intake keeps the citizen's timeline from routing's events
    _("routing", "case_routed", "intake", "on_case_routed"),
    _("routing", "referral_status_changed", "intake", "on_referral_status_changed"),
    _("routing", "referral_overdue", "intake", "on_referral_overdue"),
    _("routing", "case_closed", "intake", "on_case_closed"),
    # routing screens and refers cases, and projects the field agents
    _("intake", "case_received", "routing", "on_case_received"),
    _("intake", "case_withdrawn", "routing", "on_case_withdrawn"),
    _("intake", "case_personal_data_erased", "routing", "on_case_personal_data_erased"),
    _("registry", "agent_registered", "routing", "on_agent_registered"),
    _("registry", "agent_updated", "routing", "on_agent_updated"),
    _("registry", "agent_deactivated", "routing", "on_agent_deactivated"),
    # notify tells citizens, field agents and agencies
    _("intake", "case_received", "notify", "on_case_received"),
    _("intake", "case_withdrawn", "notify", "on_case_withdrawn"),
    _("intake", "case_personal_data_erased", "notify", "on_case_personal_data_erased"),
    _("routing", "case_routed", "notify", "on_case_routed"),
    _("routing", "referral_issued", "notify", "on_referral_issued"),
    _("routing", "referral_status_changed", "notify", "on_referral_status_changed"),
    _("routing", "referral_overdue", "notify", "on_referral_overdue"),
    _("routing", "case_closed", "notify", "on_case_closed"),
    _("registry", "agent_registered", "notify", "on_agent_registered"),
    _("registry", "agent_updated", "notify", "on_agent_updated"),
    _("registry", "agent_deactivated", "notify", "on_agent_deactivated"),
)
"""Every event handler of the platform."""
