"""routing's rules and state changes: screening a case, referring it to
offices, following every referral to its end.

Plain Python over a SQLAlchemy session; every change writes its events to
the outbox in the same transaction (:mod:`.messages`). One module per part:

* :mod:`.screening` — a case comes in, is screened and referred;
* :mod:`.referrals` — issuing, who sees what, an office's actions, referring
  onwards, escalating to the coordinator, closing the case;
* :mod:`.sla` — the clocks: overdue referrals found and escalated once;
* :mod:`.cases` — a case withdrawn, or its words erased;
* :mod:`.agents` — registry's field agents, and who follows a case;
* :mod:`.settings` — the operators' rules, SLA days and holidays;
* :mod:`.errors` — what the domain refuses.

The names the service and tests use are importable from here.
"""

from labornet_routing.domain.agents import apply_agent, pick_agent
from labornet_routing.domain.cases import erase_case_text, withdraw_case
from labornet_routing.domain.errors import (
    IllegalTransition,
    ReferralChanged,
    ReferralNotFound,
    UnknownCase,
)
from labornet_routing.domain.messages import SERVICE, labels_for, referral_summary
from labornet_routing.domain.referrals import (
    FINISHED_STATUSES,
    OPEN_STATUSES,
    TRANSITIONS,
    act_on_referral,
    close_if_done,
    list_referrals,
    may_see,
    referral_for,
)
from labornet_routing.domain.screening import receive_case
from labornet_routing.domain.settings import (
    DEFAULT_SLA,
    add_holidays,
    add_rule,
    all_holidays,
    all_rules,
    all_sla_settings,
    holidays,
    load_rules,
    remove_rule,
    set_sla,
    sla_days,
)
from labornet_routing.domain.sla import Escalation, check_overdue, is_overdue

__all__ = [
    "DEFAULT_SLA",
    "FINISHED_STATUSES",
    "OPEN_STATUSES",
    "SERVICE",
    "TRANSITIONS",
    "Escalation",
    "IllegalTransition",
    "ReferralChanged",
    "ReferralNotFound",
    "UnknownCase",
    "act_on_referral",
    "add_holidays",
    "add_rule",
    "all_holidays",
    "all_rules",
    "all_sla_settings",
    "apply_agent",
    "check_overdue",
    "close_if_done",
    "erase_case_text",
    "holidays",
    "is_overdue",
    "labels_for",
    "list_referrals",
    "load_rules",
    "may_see",
    "pick_agent",
    "receive_case",
    "referral_for",
    "referral_summary",
    "remove_rule",
    "set_sla",
    "sla_days",
    "withdraw_case",
]
