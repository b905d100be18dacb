"""After the run: read every database, queue and fake provider, and say
what was lost, what was doubled, and what is left over.

What the citizen and the field agents *should* have heard is derived from
the events the producers committed (intake's and routing's outboxes) with
notify's own table of who hears what (``labornet_notify.audience``): a
citizen with an SMS contact hears each of their case's notices once; the
agents of the case's subdistrict hear of a new case (not the agent who
submitted it); the submitting agent hears what the table gives them; the
subscribed agency's webhook hears its referrals and their changes.
What they *did* hear is what the fake SMS gateway, LINE API and webhook
receiver accepted. Duplicates are identical SMS texts to one citizen (SMS
has no idempotency key: two notices with the same text would read as one
lost and one doubled), LINE pushes with one retry key (notify's delivery id)
shown twice, or webhooks of one event id received more than once.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import kombu
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from labornet_notify.domain import audience
from labornet_shared.broker import UNROUTED_QUEUE
from labornet_shared.db import normalise_url
from labornet_shared.events import REFERRALS_EXCHANGE
from labornet_shared.reference.case_reference import format_case_reference

from .faults import CONSUMERS, POISON_MARK, Faults
from .load import Agent, Load, Submission
from .stack import SERVICES, Stack, holds_events

#: the agency queue bound before the run (``#``: every referral)
AGENCY_QUEUE = "agency.faults.all"


def bind_agency_queue(stack: Stack) -> None:
    """An agency system's queue on ``labornet.referrals`` taking every key."""
    with kombu.Connection(stack.vhost.amqp_uri) as connection:
        channel = connection.channel()
        channel.queue_declare(
            AGENCY_QUEUE,
            durable=True,
            auto_delete=False,
            arguments={"x-queue-type": "quorum"},
        )
        channel.queue_bind(AGENCY_QUEUE, REFERRALS_EXCHANGE, "#")
        channel.close()


@dataclass
class Row:
    """One line of the table."""

    check: str
    expected: int | str
    found: int | str
    lost: int = 0
    doubled: int = 0
    bad: int = 0  # anything else that fails the run (backlog, stray letters)
    note: str = ""

    @property
    def ok(self) -> bool:
        """No loss, no double, nothing else wrong."""
        return self.lost == 0 and self.doubled == 0 and self.bad == 0


@dataclass
class Report:
    """The table and the verdict."""

    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> None:
        """One more line."""
        self.rows.append(row)

    @property
    def ok(self) -> bool:
        """The run passes: every line is clean."""
        return all(row.ok for row in self.rows)

    def render(self) -> str:
        """The table, fixed-width, with a verdict line."""
        width = max(len(r.check) for r in self.rows)
        head = (
            f"{'check':<{width}} {'expected':>9} {'found':>9} {'lost':>6}"
            f" {'doubled':>8} {'other':>6}  {'':4} note"
        )
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(
                f"{r.check:<{width}} {r.expected!s:>9} {r.found!s:>9} {r.lost:>6}"
                f" {r.doubled:>8} {r.bad:>6}  {'ok' if r.ok else 'FAIL':4} {r.note}"
            )
        lost = sum(r.lost for r in self.rows)
        doubled = sum(r.doubled for r in self.rows)
        other = sum(r.bad for r in self.rows)
        verdict = "PASS" if self.ok else "FAIL"
        lines.append("-" * len(head))
        lines.append(f"{verdict}: {lost} lost, {doubled} doubled, {other} other")
        return "\n".join(lines)


def _rows(url: str, query: str, tries: int = 10) -> list[Any]:
    """A query's rows; a database that refuses a connection for a while (a
    shared PostgreSQL out of connections) is asked again."""
    for attempt in range(tries):
        engine = create_engine(normalise_url(url))
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(query)).all())
        except OperationalError:
            if attempt == tries - 1:
                raise
            time.sleep(3.0)
        finally:
            engine.dispose()
    return []


def _drain(stack: Stack, queue: str) -> list[Any]:
    taken = []
    with kombu.Connection(stack.vhost.amqp_uri) as connection:
        channel = connection.channel()
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            taken.append(message)
        channel.close()
    return taken


def _body(message: Any) -> dict[str, Any] | None:
    try:
        value = json.loads(message.body)
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def _repeats(counts: Iterable[int]) -> int:
    return sum(n - 1 for n in counts if n > 1)


def reconcile(stack: Stack, load: Load, faults: Faults, agents: list[Agent]) -> Report:
    """Read everything, fill the table."""
    report = Report()
    urls = stack.urls
    accepted = {c.reference: c for c in load.accepted() if c.reference}
    posted = load.posted()

    # --- cases -------------------------------------------------------------
    refused = [c for c in posted if c.reference is None]
    report.add(
        Row(
            "cases accepted (201)",
            len(posted),
            len(accepted),
            note=f"{len(refused)} never accepted;"
            f" {sum(c.tries - 1 for c in posted)} re-posts",
        )
    )
    in_intake = Counter(
        format_case_reference(be_year, number)
        for number, be_year in _rows(urls["intake"], "SELECT id, be_year FROM cases")
    )
    extra = set(in_intake) - set(accepted)
    report.add(
        Row(
            "cases in intake",
            len(accepted),
            sum(in_intake.values()),
            lost=len(set(accepted) - set(in_intake)),
            doubled=len(extra),
            note="doubled: a case intake holds that no 201 named",
        )
    )
    events = _outbox_events(stack)
    received = Counter(
        e["payload"]["reference"]
        for e in events.values()
        if e["event_type"] == "case_received"
    )
    report.add(
        Row(
            "case_received per case (intake's outbox)",
            len(accepted),
            sum(received.values()),
            lost=len(set(accepted) - set(received)),
            doubled=_repeats(received.values()),
        )
    )
    routed = {r for (r,) in _rows(urls["routing"], "SELECT reference FROM cases")}
    report.add(
        Row(
            "cases routed (routing's database)",
            len(accepted),
            len(routed),
            lost=len(set(accepted) - routed),
            bad=len(routed - set(accepted)),
        )
    )
    referrals = _rows(
        urls["routing"],
        "SELECT id, case_reference, agency, status, replaces, office,"
        " escalated_from FROM referrals",
    )
    _referral_rows(stack, report, events, referrals, faults)

    # --- notices -----------------------------------------------------------
    expected_citizen, expected_agent, expected_hooks = _expected_notices(
        events, accepted, agents, webhook_agency="sso"
    )
    deliveries = _rows(
        urls["notify"],
        "SELECT recipient_kind, status, count(*) FROM deliveries"
        " GROUP BY recipient_kind, status",
    )
    citizen_status = {s: n for kind, s, n in deliveries if kind == "citizen"}
    with_contact = {ref for ref, c in accepted.items() if c.channel}
    planned = _rows(
        urls["notify"],
        "SELECT case_reference, count(*) FROM deliveries"
        " WHERE recipient_kind = 'citizen' GROUP BY case_reference",
    )
    planned_for_citizens = sum(n for ref, n in planned if ref in with_contact)
    why_failed = Counter(
        str(error or "")[:40]
        for (error,) in _rows(
            urls["notify"],
            "SELECT last_error FROM deliveries"
            " WHERE recipient_kind = 'citizen' AND status = 'failed'",
        )
    )
    heard: dict[str, dict[str, list[str]]] = {"line": defaultdict(list)}
    for push in stack.line.pushes:
        # LINE's retry key is notify's delivery id: one per notice
        texts = " ".join(m.get("text", "") for m in push.messages)
        heard["line"][push.to].append(push.retry_key or texts)
    agent_ids = {a.line_user_id for a in agents}
    to_agents = {k: v for k, v in heard["line"].items() if k in agent_ids}
    heard["line"] = {k: v for k, v in heard["line"].items() if k not in agent_ids}
    sms = _sms_by_delivery(stack, accepted, expected_citizen["sms"])
    report.add(
        Row(
            "citizen notices (sms): expected vs sent",
            sum(expected_citizen["sms"].values()),
            sms.received,
            lost=sms.lost,
            doubled=sms.doubled,
            bad=sms.extra,
            note=(
                f"other: sent, not expected; {sms.listed} interrupted (may have"
                " left, the gateway never got it; listed for operators, not"
                f" lost); {sms.same_text} identical texts of distinct notices"
                " to one number (told apart by delivery, not doubled); all"
                f" channels: planned by notify {planned_for_citizens}, notify's"
                f" citizen rows by status {citizen_status}, failed because"
                f" {dict(why_failed)}"
            ),
        )
    )
    lost, doubled, sent, unexpected = _compare(
        expected_citizen["line"], heard["line"], {}
    )
    report.add(
        Row(
            "citizen notices (line): expected vs sent",
            sum(expected_citizen["line"].values()),
            sent,
            lost=lost,
            doubled=doubled,
            bad=unexpected,
            note="other: sent, not expected",
        )
    )
    lost, doubled, sent, unexpected = _compare(expected_agent, to_agents, {})
    agent_status = {
        f"{kind}:{s}": n
        for kind, s, n in deliveries
        if kind.endswith(("agent", "agents"))
    }
    report.add(
        Row(
            "agent notices (LINE): expected vs sent",
            sum(expected_agent.values()),
            sent,
            lost=lost,
            doubled=doubled,
            bad=unexpected,
            note=f"notify's rows {agent_status}",
        )
    )
    hooks = Counter(
        str(h.payload.get("event_id")) if isinstance(h.payload, dict) else h.msg_id
        for h in stack.webhooks.received
    )
    report.add(
        Row(
            "agency webhooks (sso): expected vs received",
            len(expected_hooks),
            sum(hooks.values()),
            lost=len(expected_hooks - set(hooks)),
            bad=len(set(hooks) - expected_hooks),
            note=f"{_repeats(hooks.values())} repeated deliveries of one event"
            " (at-least-once; the agency drops them)",
        )
    )

    # --- what is left over -------------------------------------------------
    for service in SERVICES:
        (backlog,) = _rows(
            urls[service],
            "SELECT count(*) FROM outbox_messages WHERE sent_at IS NULL",
        )[0]
        report.add(Row(f"outbox backlog: {service}", 0, backlog, bad=backlog))
    waiting = {
        q["name"]: (
            int(q.get("messages_ready", 0)),
            int(q.get("messages_unacknowledged", 0)),
        )
        for q in stack.vhost.queues()
        if holds_events(q["name"]) and q.get("messages")
    }
    held = sum(ready + unacked for ready, unacked in waiting.values())
    report.add(
        Row(
            "events still queued (handler and retry queues)",
            0,
            held,
            bad=held,
            note=", ".join(
                f"{name} ready {ready} unacked {unacked}"
                for name, (ready, unacked) in sorted(waiting.items())[:4]
            ),
        )
    )
    unrouted = Counter(
        str(b.get("event_type"))
        for m in _drain(stack, UNROUTED_QUEUE)
        if (b := _body(m)) is not None
    )
    report.add(
        Row(
            "events no queue took (labornet.unrouted)",
            "-",
            sum(unrouted.values()),
            note=f"not failing; by type {dict(unrouted)}",
        )
    )
    for service in CONSUMERS:
        letters = _drain(stack, f"{service}.dlq")
        poison: Counter[str] = Counter()
        valid: Counter[str] = Counter()
        for message in letters:
            reason = str((message.headers or {}).get("x-labornet-error-type", "?"))
            raw = message.body if isinstance(message.body, bytes) else b""
            is_poison = POISON_MARK.encode() in raw or POISON_MARK in str(message.body)
            (poison if is_poison else valid)[reason] += 1
        sent_poison = faults.poison.sent[service]
        report.add(
            Row(
                f"dead letters: {service}.dlq",
                sent_poison,
                len(letters),
                lost=max(0, sent_poison - sum(poison.values())),
                bad=sum(valid.values()),
                note=f"poison {dict(poison)}; valid events parked {dict(valid)}",
            )
        )
    for service, process in stack.services.items():
        report.add(
            Row(
                f"exits of their own: {service}",
                0,
                len(process.crashes),
                bad=len(process.crashes),
                note=", ".join(f"t={t:.0f}s status {s}" for t, s in process.crashes),
            )
        )
    return report


def _outbox_events(stack: Stack) -> dict[str, dict[str, Any]]:
    """Every event intake and routing committed, by event id, with the
    exchange it goes to."""
    events: dict[str, dict[str, Any]] = {}
    for service in ("intake", "routing"):
        for event_id, exchange, body in _rows(
            stack.urls[service], "SELECT event_id, exchange, body FROM outbox_messages"
        ):
            event = json.loads(body)
            event["_exchange"] = exchange
            events[str(event_id)] = event
    return events


def _referral_rows(
    stack: Stack,
    report: Report,
    events: dict[str, dict[str, Any]],
    referrals: list[Any],
    faults: Faults,
) -> None:
    to_agencies = {
        event_id: e
        for event_id, e in events.items()
        if e["_exchange"] == REFERRALS_EXCHANGE
    }
    messages = [b for m in _drain(stack, AGENCY_QUEUE) if (b := _body(m))]
    copies = Counter(str(b.get("event_id")) for b in messages)
    issued_per_referral: dict[str, set[str]] = defaultdict(set)
    for body in messages:
        if body.get("event_type") == "referral_issued":
            referral_id = str(body["payload"]["referral"]["referral_id"])
            issued_per_referral[referral_id].add(str(body["event_id"]))
    ids = {str(row[0]) for row in referrals}
    report.add(
        Row(
            "referral_issued on agency queues per referral",
            len(ids),
            sum(len(v) for v in issued_per_referral.values()),
            lost=len(ids - set(issued_per_referral)),
            doubled=sum(len(v) - 1 for v in issued_per_referral.values() if len(v) > 1),
            note=f"{_repeats(copies.values())} extra copies of one event id"
            " (at-least-once; agencies drop them)",
        )
    )
    report.add(
        Row(
            "messages to agencies (routing's outbox) on agency queues",
            len(to_agencies),
            len(copies),
            lost=len(set(to_agencies) - set(copies)),
        )
    )
    for row in referral_doubles(referrals):
        report.add(row)
    # two changes from one starting state: the race of issue 12's defect 6
    starts: Counter[tuple[str, str]] = Counter()
    for e in events.values():
        if (
            e["event_type"] == "referral_status_changed"
            and e["_exchange"] != REFERRALS_EXCHANGE
        ):
            payload = e["payload"]
            starts[
                (payload["referral"]["referral_id"], payload["previous_status"])
            ] += 1
    replaced = {str(row[4]) for row in referrals if row[4]}
    onwards = [
        row
        for row in referrals
        if str(row[0]) in replaced and row[3] in ("accepted", "in_progress", "resolved")
    ]
    both = sum(1 for p in faults.pairs if list(p.statuses.values()) == [200, 200])
    answers = Counter(
        f"{action} {status}"
        for p in faults.pairs
        for action, status in p.statuses.items()
    )
    report.add(
        Row(
            "referral changes from one starting state",
            len(faults.pairs),
            sum(starts.values()),
            doubled=_repeats(starts.values()),
            bad=len(onwards),
            note=f"{len(faults.pairs)} concurrent agency pairs, {both} with both"
            f" answered 200 ({dict(sorted(answers.items()))}); other:"
            f" {len(onwards)} referral(s) accepted/resolved while referred onwards",
        )
    )


def referral_doubles(referrals: list[Any]) -> list[Row]:
    """Two lines from routing's referral rows (id, case_reference, agency,
    status, replaces, office, escalated_from): a case referred twice to one
    office (two routers applied one ``case_received``), and one rejected
    referral replaced twice (two routers applied one rejection)."""
    first = Counter(
        (str(row[1]), str(row[5])) for row in referrals if not row[4] and not row[6]
    )
    replacing = Counter(str(row[4]) for row in referrals if row[4])
    return [
        Row(
            "first referrals per case and office (routing's database)",
            len(first),
            sum(first.values()),
            doubled=_repeats(first.values()),
        ),
        Row(
            "referrals replacing one rejected referral",
            len(replacing),
            sum(replacing.values()),
            doubled=_repeats(replacing.values()),
        ),
    ]


def _expected_notices(
    events: dict[str, dict[str, Any]],
    cases: dict[str, Submission],
    agents: list[Agent],
    webhook_agency: str,
) -> tuple[dict[str, Counter[str]], Counter[str], set[str]]:
    """(citizens' notices per channel and address, agents' LINE pushes per
    LINE user id, webhook event ids) the committed events call for, by
    notify's own table."""
    citizen: dict[str, Counter[str]] = {"sms": Counter(), "line": Counter()}
    line: Counter[str] = Counter()
    hooks: set[str] = set()
    by_id = {a.id: a for a in agents}
    for event_id, event in events.items():
        if event["_exchange"] == REFERRALS_EXCHANGE:
            continue  # the agencies' copy; notify hears the one on routing.events
        case = cases.get(str(event.get("correlation_id")))
        payload = event["payload"]
        for notice in audience.notices_for(event["event_type"], payload):
            if notice.to == audience.CITIZEN:
                if case is not None and case.channel in citizen:
                    citizen[str(case.channel)][str(case.address)] += 1
            elif notice.to == audience.AREA_AGENTS and case is not None:
                submitter = case.agent.id if case.agent else None
                for agent in agents:
                    if agent.subdistrict == case.subdistrict and agent.id != submitter:
                        line[agent.line_user_id] += 1
            elif notice.to == audience.SUBMITTING_AGENT:
                if case is not None and case.agent is not None:
                    line[case.agent.line_user_id] += 1
            elif notice.to == audience.FOLLOW_UP_AGENT:
                follower = by_id.get(str(payload["referral"].get("agent_id")))
                if follower is not None:
                    line[follower.line_user_id] += 1
            elif (
                notice.to == audience.AGENCY_WEBHOOKS
                and payload["referral"]["agency"] == webhook_agency
            ):
                hooks.add(event_id)
    return citizen, line, hooks


@dataclass
class SmsTally:
    """Citizens' SMS, told apart by notify's delivery rows."""

    received: int = 0  # messages the gateway took
    lost: int = 0
    doubled: int = 0
    extra: int = 0  # notices delivered that no committed event calls for
    listed: int = 0  # interrupted rows whose message never arrived
    same_text: int = 0  # repeated texts to one number that are distinct notices


def _sms_by_delivery(
    stack: Stack, cases: dict[str, Submission], expected: Counter[str]
) -> SmsTally:
    """Per number: the notices the events call for against the notices the
    gateway took, each message tied to its delivery row.

    The gateway answers each SMS with a message id that notify records on
    the row it marks ``sent``, so a message whose id a ``sent`` row holds is
    that row's notice, once. A message whose id no row holds came from an
    ``interrupted`` row (the sender called the gateway and never heard
    back: the message may have left, and is never repeated) — or, beyond
    the interrupted rows of that number, it is a double. Two rows for the
    same event and template are a double planned. Interrupted rows whose
    message never arrived are listed for operators, not lost. Texts are not
    compared for doubles: two distinct notices can read the same (a case
    referred twice to the same office)."""
    address = {ref: str(c.address) for ref, c in cases.items() if c.channel == "sms"}
    rows = _rows(
        stack.urls["notify"],
        "SELECT case_reference, status, provider_message_id, event_id, message"
        " FROM deliveries WHERE recipient_kind = 'citizen'"
        " AND COALESCE(sent_channel, channel) = 'sms'"
        " AND status IN ('sent', 'interrupted')",
    )
    row_of_message = {
        str(mid): str(address.get(ref))
        for ref, status, mid, _, _ in rows
        if status == "sent" and mid
    }
    interrupted: Counter[str] = Counter(
        address[ref]
        for ref, status, *_ in rows
        if status == "interrupted"
        if ref in address
    )
    planned: Counter[tuple[str, str, str]] = Counter(
        (str(address.get(ref)), str(event_id), str(message))
        for ref, _, _, event_id, message in rows
    )
    planned_twice: Counter[str] = Counter()
    for (number, _, _), n in planned.items():
        planned_twice[number] += n - 1
    matched: Counter[str] = Counter()
    unmatched: Counter[str] = Counter()
    texts: dict[str, Counter[str]] = defaultdict(Counter)
    tally = SmsTally()
    for sms in stack.sms.sent:
        tally.received += 1
        texts[sms.msisdn][sms.message] += 1
        if row_of_message.get(sms.message_id) == sms.msisdn:
            matched[sms.msisdn] += 1
        else:
            unmatched[sms.msisdn] += 1
    for number in set(expected) | set(matched) | set(unmatched) | set(interrupted):
        arrived = min(unmatched[number], interrupted[number])
        delivered = matched[number] + arrived
        listed = interrupted[number] - arrived
        tally.listed += listed
        tally.doubled += unmatched[number] - arrived + planned_twice[number]
        tally.lost += max(0, expected[number] - delivered - listed)
        tally.extra += max(0, delivered - planned_twice[number] - expected[number])
        tally.same_text += sum(n - 1 for n in texts[number].values())
    tally.same_text -= tally.doubled
    tally.same_text = max(0, tally.same_text)
    return tally


def _compare(
    expected: Counter[str],
    received: dict[str, list[str]],
    listed: Counter[str] | dict[str, int],
) -> tuple[int, int, int, int]:
    """(lost, doubled, received, extra) over recipients: a repeated identical
    text is a double; fewer distinct texts than expected is a loss, more is
    extra. ``listed``: per recipient, notices notify recorded interrupted
    that never arrived (not lost: listed for operators)."""
    lost = doubled = total = extra = 0
    for key in set(expected) | set(received):
        texts = received.get(key, [])
        distinct = len(set(texts))
        total += len(texts)
        doubled += len(texts) - distinct
        lost += max(0, expected.get(key, 0) - distinct - listed.get(key, 0))
        extra += max(0, distinct - expected.get(key, 0))
    return lost, doubled, total, extra
