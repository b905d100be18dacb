"""Who hears what: for each event notify consumes, who is told, with which
message, and whether it may wake them.

The table reads like the issue's list::

    citizen      case received, referred, each agency answer,
                 overdue-and-escalated, closed (with a request to rate us)
    field agent  a new case in their area, a case they submitted changing
                 status, an overdue referral they follow
    agency       every referral and change, as a webhook

A :class:`Notice` names a *kind* of recipient; who that is for one event
(which citizen, which agents, which subscriptions) and their address are
resolved when notify sends. :attr:`Notice.facts` lists what the message
needs beyond the event itself: events carry no personal data, so the
citizen's contact and tracking code come from intake over RPC (one audited
read), an agent's name from notify's own projection, links from
configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# --- recipients --------------------------------------------------------------

#: the citizen whose case it is; only with their consent and a contact, and
#: nothing once their personal data is erased (intake's RPC says which)
CITIZEN = "citizen"
#: the field agents whose coverage areas hold the case's place (registry's
#: areas, projected into notify); not the agent who submitted it, who hears
#: through :data:`SUBMITTING_AGENT`
AREA_AGENTS = "area_agents"
#: the field agent who submitted the case (``case_received``'s
#: ``submitted_by_agent_id``; later events lack it, so notify remembers it)
SUBMITTING_AGENT = "submitting_agent"
#: the field agent following a referral for its office (``referral.agent_id``)
FOLLOW_UP_AGENT = "follow_up_agent"
#: agency systems without AMQP: the webhook subscriptions whose agency,
#: provinces and event types match the referral
AGENCY_WEBHOOKS = "agency_webhooks"

#: the channels each kind of recipient can be reached on, in the order tried
#: when the recipient has no preference (a failed delivery falls back to the
#: next one the recipient has)
CHANNELS: dict[str, tuple[str, ...]] = {
    CITIZEN: ("sms", "line", "email"),
    AREA_AGENTS: ("line", "sms", "email"),
    SUBMITTING_AGENT: ("line", "sms", "email"),
    FOLLOW_UP_AGENT: ("line", "sms", "email"),
    AGENCY_WEBHOOKS: ("webhook",),
}

# --- facts a message needs beyond its event ----------------------------------

#: the citizen's address, channel, language and consent: intake's audited RPC
CONTACT = "contact"
#: the case's tracking code (intake derives it; never in an event)
TRACKING_CODE = "tracking_code"
#: where the citizen follows the case (configuration + the reference)
FOLLOW_URL = "follow_url"
#: the rate-us page with a signed single-use token for intake's
#: ``POST /v1/cases/{reference}/feedback``
FEEDBACK_URL = "feedback_url"
#: where a field agent opens the case in labornet
CASE_URL = "case_url"
#: the field agent's name, from notify's projection of registry's agents
RECIPIENT_NAME = "recipient_name"

#: facts that address the recipient rather than fill the message
ADDRESS_FACTS = frozenset({CONTACT})

#: what every message to a kind of recipient needs beyond its event
RECIPIENT_FACTS: dict[str, tuple[str, ...]] = {
    CITIZEN: (CONTACT, FOLLOW_URL),
    AREA_AGENTS: (RECIPIENT_NAME, CASE_URL),
    SUBMITTING_AGENT: (RECIPIENT_NAME, CASE_URL),
    FOLLOW_UP_AGENT: (RECIPIENT_NAME, CASE_URL),
    AGENCY_WEBHOOKS: (),
}

# --- when a notice applies ---------------------------------------------------

Predicate = Callable[[Mapping[str, Any]], bool]

#: what an office *answers*: the citizen hears these, not a withdrawal
#: (the citizen withdrew the case and needs no echo of it)
ANSWERS = frozenset({"accepted", "rejected", "in_progress", "resolved"})


def always(payload: Mapping[str, Any]) -> bool:
    """Every event of the type."""
    return True


def agency_answered(payload: Mapping[str, Any]) -> bool:
    """An office accepted, rejected (the case is referred on), reported
    progress on or resolved a referral; not a withdrawal."""
    return payload["referral"]["status"] in ANSWERS


def not_a_withdrawal(payload: Mapping[str, Any]) -> bool:
    """A change other than the withdrawal of a withdrawn case's referrals
    (the submitting agent hears of a withdrawal once, from
    ``case_withdrawn``, not once per referral)."""
    return payload["referral"]["status"] != "withdrawn"


def not_withdrawn_by_agent(payload: Mapping[str, Any]) -> bool:
    """The citizen or an operator withdrew the case; an agent who withdrew
    it knows already."""
    return payload["withdrawn_by"] != "agent"


def has_follow_up_agent(payload: Mapping[str, Any]) -> bool:
    """The overdue referral has a field agent following it."""
    return payload["referral"]["agent_id"] is not None


@dataclass(frozen=True)
class Notice:
    """One line of the table: ``event_type`` is told ``to`` a kind of
    recipient as ``message`` when ``when(payload)`` holds.

    ``urgent`` messages (escalations) are sent in quiet hours; the others
    wait for the morning. ``needs`` names what this message needs beyond
    the event and beyond what every message to its recipient needs
    (:data:`RECIPIENT_FACTS`); :attr:`facts` is the whole list the sender
    fetches.
    """

    event_type: str
    to: str
    message: str
    when: Predicate = always
    urgent: bool = False
    needs: tuple[str, ...] = ()

    def applies_to(self, payload: Mapping[str, Any]) -> bool:
        """Whether this event's payload is told to this recipient."""
        return self.when(payload)

    @property
    def facts(self) -> tuple[str, ...]:
        """Every fact the sender must fetch for this message."""
        return (*RECIPIENT_FACTS[self.to], *self.needs)

    @property
    def template_facts(self) -> tuple[str, ...]:
        """The facts the message's templates read (:attr:`facts` without
        the recipient's address)."""
        return tuple(f for f in self.facts if f not in ADDRESS_FACTS)


# Notice(event, recipient, message, when=..., urgent=..., needs=...)
# fmt: off
WHO_HEARS_WHAT: tuple[Notice, ...] = (
    # the citizen (only with consent and a contact; nothing once erased):
    # received, referred, each agency answer, overdue-and-escalated, closed
    Notice("case_received", CITIZEN, "case_received", needs=(TRACKING_CODE,)),
    # also when referred on after a rejection or an escalation: this is the
    # message that names the new office
    Notice("case_routed", CITIZEN, "case_referred"),
    Notice("referral_status_changed", CITIZEN, "agency_answered",
           when=agency_answered),
    Notice("referral_overdue", CITIZEN, "case_escalated", urgent=True),
    Notice("case_closed", CITIZEN, "case_closed_rate_us", needs=(FEEDBACK_URL,)),
    # (case_withdrawn: nothing more to the citizen)

    # field agents: a new case in their area, a case they submitted
    # changing status, an overdue referral they follow
    Notice("case_received", AREA_AGENTS, "new_case_in_area"),
    Notice("case_routed", SUBMITTING_AGENT, "your_case_referred"),
    Notice("referral_status_changed", SUBMITTING_AGENT, "your_case_changed",
           when=not_a_withdrawal),
    Notice("case_closed", SUBMITTING_AGENT, "your_case_closed"),
    Notice("case_withdrawn", SUBMITTING_AGENT, "your_case_withdrawn",
           when=not_withdrawn_by_agent),
    Notice("referral_overdue", FOLLOW_UP_AGENT, "referral_overdue",
           when=has_follow_up_agent, urgent=True),

    # agency offices without AMQP: every referral and change, as a webhook
    # (what labornet.referrals carries)
    Notice("referral_issued", AGENCY_WEBHOOKS, "referral_issued"),
    Notice("referral_status_changed", AGENCY_WEBHOOKS, "referral_changed"),
)
# fmt: on

#: events notify consumes only to keep its own projection of field agents'
#: contacts and areas; nobody is told of them
AGENT_PROJECTION_EVENTS: tuple[str, ...] = (
    "agent_registered",
    "agent_updated",
    "agent_deactivated",
)

#: every event type notify consumes
CONSUMED_EVENTS: tuple[str, ...] = (
    *dict.fromkeys(n.event_type for n in WHO_HEARS_WHAT),
    *AGENT_PROJECTION_EVENTS,
)


def notices_for(
    event_type: str, payload: Mapping[str, Any] | None = None
) -> list[Notice]:
    """The table's lines for ``event_type``; given the payload, only those
    whose ``when`` holds for it. An event type nobody hears: ``[]``."""
    return [
        n
        for n in WHO_HEARS_WHAT
        if n.event_type == event_type and (payload is None or n.applies_to(payload))
    ]


def channels_of(message: str) -> tuple[str, ...]:
    """Every channel ``message`` may be sent on (its recipients' channels)."""
    kinds = [n.to for n in WHO_HEARS_WHAT if n.message == message]
    if not kinds:
        raise KeyError(message)
    return tuple(dict.fromkeys(c for kind in kinds for c in CHANNELS[kind]))


def messages() -> tuple[str, ...]:
    """Every message name the table uses, in table order."""
    return tuple(dict.fromkeys(n.message for n in WHO_HEARS_WHAT))
