"""``make bench-routing``: from a case accepted to its referral on an agency
queue, at a fixed rate.

Issue 5's figure, in one run on 127.0.0.1: intake and routing run with
``nameko run``, each on its own fresh, migrated database, on one throwaway
RabbitMQ vhost where labornet's topology is declared. Two tap queues (quorum,
as an agency's and a consumer's queues are) stamp each message's arrival:

* bound with ``#`` to ``labornet.referrals``: every ``referral_issued``, as
  an agency queue bound to its offices' keys would get it;
* bound with ``#`` to ``intake.events``: every ``case_received`` — the
  baseline, intake alone's commit-to-queue for the same cases in the same run.

Seeded, realistic cases (:func:`labornet_testkit.harness.case_payload`; most
without a ``category``, so routing's screening classifies them; places all
over the country, a few workers abroad) are posted at ``--rate`` cases/s,
open loop (request i leaves at start + i/rate), by keep-alive clients; each
201's arrival is the moment the case was accepted. Printed: p50/p99/max from
accepted to the referral (the first per case, and every one), to
``case_received`` (intake alone), the ratio routing/intake, what routing's
own hop adds, how many referrals the cases got, CPU per case of each process,
and — unless ``--ceiling-cases 0`` — routing's throughput ceiling: cases
queued while routing was stopped, then drained as fast as it can.

Exit status 1 on any non-201, broken connection, case without a referral
after ``--drain-seconds``, referral delivered twice, or a failed start. See
README.md in this directory.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import secrets
import signal
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_intake import (  # the sibling script, found through sys.path
    DEFAULT_AMQP,
    DEFAULT_MANAGEMENT,
    MAX_WORKERS,
    REPO,
    Broker,
    Databases,
    Outcome,
    Tap,
    Target,
    broker_and_database_cpu,
    case_requests,
    cpu_by_process,
    free_port,
    interrupt,
    machine_busy_seconds,
    make_intake,
    migrate,
    ms,
    percentile,
    process_cpu_seconds,
    profiling,
    run_clients,
    say,
    service_target,
    wait_quiet,
    workspace,
)

from labornet_shared.events import REFERRALS_EXCHANGE

SETTLE_SECONDS = 1.0  # after the last case's first referral: its others, repeats

# what a citizen who picks a category picks for each of the factory's
# descriptions (a description missing here is sent without one)
CATEGORY_OF_DESCRIPTION = {
    "นายจ้างค้างจ่ายค่าจ้าง": "unpaid_wages",
    "ถูกเลิกจ้าง": "termination_severance",
    "อยากหางานใหม่": "job_seeking",
    "Fell from scaffolding": "work_injury",
    "ต้องการสมัครอบรม": "skill_training",
    "โรงงานไม่มีอุปกรณ์ป้องกัน": "workplace_safety",
    "ขอเปลี่ยนโรงพยาบาล": "social_security_benefit",
    "Recruitment agency": "overseas_employment",
}
ABROAD_DESCRIPTION = (
    "ทำงานอยู่ไต้หวัน นายจ้างยึดหนังสือเดินทางและไม่จ่ายค่าจ้างสามเดือน"
    " / employer in Taiwan keeps my passport and has not paid me"
)
ABROAD_COUNTRIES = ("TW", "KR", "JP", "IL", "MY", "SA")


# --- the cases --------------------------------------------------------------------


def subdistricts() -> list[str]:
    """Every subdistrict code of the gazetteer's centroid table."""
    text = (
        files("labornet_shared.reference")
        .joinpath("data", "th_subdistrict_centroids.csv")
        .read_text(encoding="utf-8")
    )
    return sorted(row["subdistrict_code"] for row in csv.DictReader(io.StringIO(text)))


@dataclass
class Cases:
    """The bodies to post, in order, and what each one is."""

    bodies: list[bytes] = field(default_factory=list)
    with_category: list[bool] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.bodies)

    def __getitem__(self, part: slice) -> Cases:
        return Cases(self.bodies[part], self.with_category[part])


def make_cases(
    seed: int, count: int, category_share: float, abroad_share: float
) -> Cases:
    """``count`` seeded case bodies: ``category_share`` name the category
    their description is about, the others leave it to routing's screening;
    most are placed anywhere in the country, ``abroad_share`` abroad."""
    from labornet_testkit.harness import case_payload

    rng = random.Random(seed)
    places = subdistricts()
    cases = Cases()
    for _ in range(count):
        body = case_payload(rng)
        # case_payload's places are six provinces; most cases come from any
        # subdistrict, so rules, offices and routing keys spread as they do
        if rng.random() < 0.7:
            code = rng.choice(places)
            body["location"] = {
                "province_code": f"TH-{code[:2]}",
                "subdistrict_code": code,
            }
        if rng.random() < abroad_share:
            body["description"] = ABROAD_DESCRIPTION
            body["abroad_country"] = rng.choice(ABROAD_COUNTRIES)
        category = next(
            (
                name
                for start, name in CATEGORY_OF_DESCRIPTION.items()
                if body["description"].startswith(start)
            ),
            "overseas_employment" if body.get("abroad_country") else None,
        )
        given = category is not None and rng.random() < category_share
        if given:
            body["category"] = category
        cases.bodies.append(json.dumps(body, ensure_ascii=False).encode())
        cases.with_category.append(given)
    return cases


# --- routing ----------------------------------------------------------------------


def make_routing(
    url: str,
    broker: Broker,
    tmp: Path,
    extra_env: dict[str, str],
    service: str = "labornet_routing.service:RoutingService",
    label: str = "routing",
) -> Target:
    """routing under ``nameko run`` on ``url``, on a free port of 127.0.0.1."""
    port = free_port()
    env = {
        **os.environ,
        "LABORNET_ROOT": str(REPO),
        "LABORNET_ROUTING_DB": url,
        "LABORNET_ROUTING_HOST": "127.0.0.1",
        "LABORNET_ROUTING_PORT": str(port),
        "LABORNET_ROUTING_MAX_WORKERS": str(MAX_WORKERS),
        "LABORNET_AMQP_URI": broker.amqp_uri,
        "LABORNET_RABBIT_MANAGEMENT_URL": broker.management_url,
        "LABORNET_TOKEN_SECRET": secrets.token_urlsafe(32),
        "LABORNET_LOG_LEVEL": "WARNING",
        **extra_env,
    }
    return service_target(
        "routing",
        service,
        env=env,
        port=port,
        db_url=url,
        log_path=tmp / f"{label}.log",
    )


# --- what the taps got ------------------------------------------------------------


class Arrivals:
    """One tap's messages of one event type, by case reference, parsed as
    they come (the tap's thread only appends)."""

    def __init__(
        self, tap: Tap, event_type: str, reference: Callable[[dict[str, Any]], str]
    ) -> None:
        self.tap = tap
        self.event_type = event_type
        self.reference = reference
        self.by_case: dict[str, list[tuple[float, dict[str, Any]]]] = {}
        self.other = 0  # messages of another type (copies of status changes)
        self._read = 0

    def update(self) -> None:
        """Parse the messages that arrived since the last call."""
        received = self.tap.received
        end = len(received)
        for arrived, raw in received[self._read : end]:
            body = json.loads(
                raw.decode() if isinstance(raw, bytes | bytearray) else raw
            )
            if body.get("event_type") != self.event_type:
                self.other += 1
                continue
            self.by_case.setdefault(self.reference(body), []).append((arrived, body))
        self._read = end

    def first(self, reference: str) -> float | None:
        """When the case's first message arrived."""
        messages = self.by_case.get(reference)
        return min(arrived for arrived, _ in messages) if messages else None

    def wait_for(self, references: list[str], timeout: float) -> float:
        """Until every case has a message (or the timeout), then
        SETTLE_SECONDS more for the cases' other messages and any repeat.
        Returns when the last of them had its first message, or nan."""
        deadline = time.monotonic() + timeout
        waiting = set(references)
        while waiting and time.monotonic() < deadline:
            if self.tap._error is not None:  # the tap's consumer died
                raise RuntimeError(f"tap consumer failed: {self.tap._error!r}")
            time.sleep(0.05)
            self.update()
            waiting = {ref for ref in waiting if ref not in self.by_case}
        time.sleep(SETTLE_SECONDS)
        self.update()
        firsts = [self.first(ref) for ref in references]
        arrived = [t for t in firsts if t is not None]
        return max(arrived) if arrived else float("nan")


# --- one batch of cases -----------------------------------------------------------


@dataclass
class Batch:
    """What the clients saw for one batch, and the CPU it cost."""

    label: str
    cases: Cases
    outcome: Outcome
    accepted: dict[str, float] = field(default_factory=dict)  # reference -> 201
    with_category: dict[str, bool] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds
    wall: float = 0.0  # first request sent to the last referral

    @property
    def errors(self) -> int:
        """Answers other than 201, broken connections, requests not sent."""
        return sum(1 for status in self.outcome.statuses if status != 201)


@contextmanager
def cpu_of(
    processes: dict[str, Target], into: dict[str, float]
) -> Iterator[Callable[[], float]]:
    """CPU seconds of each service, RabbitMQ, PostgreSQL and the machine
    while the block runs, into ``into``; yields the elapsed-time clock."""
    pids = {name: target.pids[0] for name, target in processes.items()}
    before = {name: process_cpu_seconds(pid) for name, pid in pids.items()}
    busy0, processes0, self0 = (
        machine_busy_seconds(),
        cpu_by_process(),
        time.process_time(),
    )
    started = time.perf_counter()
    yield lambda: time.perf_counter() - started
    for name, pid in pids.items():
        into[name] = process_cpu_seconds(pid) - before[name]
    into.update(broker_and_database_cpu(processes0, cpu_by_process()))
    into["bench"] = time.process_time() - self0
    into["machine"] = machine_busy_seconds() - busy0
    into["wall"] = time.perf_counter() - started


def post_cases(
    label: str,
    cases: Cases,
    intake: Target,
    args: argparse.Namespace,
    rate: float | None,
) -> Batch:
    """Post the cases (paced at ``rate``, or closed loop when None)."""
    deadline = time.monotonic() + args.max_seconds
    raws = case_requests(intake.port, cases.bodies, False, label)
    outcome = run_clients(
        intake.port, raws, args.clients, intake.pids, rate=rate, deadline=deadline
    )
    batch = Batch(label, cases, outcome)
    for i in outcome.ok(201):
        reference = json.loads(outcome.bodies[i])["reference"]
        batch.accepted[reference] = outcome.answered_at[i]
        batch.with_category[reference] = cases.with_category[i]
    return batch


# --- the run ----------------------------------------------------------------------


@dataclass
class Run:
    """Everything measured, for the report and the exit status."""

    warmup: Batch | None = None
    measured: Batch | None = None
    ceiling: Batch | None = None
    ceiling_cpu: float = 0.0  # routing's CPU seconds, healthy to drained
    ceiling_span: float = float("nan")  # first to last first-referral, seconds
    referrals: Arrivals | None = None
    received: Arrivals | None = None
    busy_before: float = 0.0


def bench(
    run: Run,
    args: argparse.Namespace,
    broker: Broker,
    databases: Databases,
    tmp: Path,
    started: list[Target],
    taps: list[Tap],
) -> None:
    """Start both services, warm up, measure, then the ceiling. Whatever is
    started goes into ``started`` and ``taps``, for the caller to stop."""
    extra_env = dict(item.split("=", 1) for item in args.env)
    cases = make_cases(
        args.seed,
        args.warmup + args.cases + args.ceiling_cases,
        args.category_share,
        args.abroad_share,
    )
    routing_url = databases.fresh("routing")
    migrate("routing", routing_url)
    routing = make_routing(routing_url, broker, tmp, extra_env, args.routing_service)
    intake = make_intake(databases, broker, tmp, extra_env, args.intake_service)
    taps.append(Tap(broker, REFERRALS_EXCHANGE, args.tap_queue_type))
    run.referrals = Arrivals(taps[-1], "referral_issued", payload_reference)
    taps.append(Tap(broker, "intake.events", args.tap_queue_type))
    run.received = Arrivals(taps[-1], "case_received", payload_reference)
    # routing first: its queue for case_received exists before any case
    for target in (routing, intake):
        started.append(target)
        target.start()
    say(
        f"  intake  port {intake.port}, {intake.db_url.split('?')[0]}\n"
        f"  routing port {routing.port}, {routing_url.split('?')[0]}"
    )

    # the warm-up at the same rate, drained before the measured cases, so
    # that they never queue behind it
    run.warmup = post_cases("warm-up", cases[: args.warmup], intake, args, args.rate)
    run.referrals.wait_for(list(run.warmup.accepted), args.drain_seconds)

    run.busy_before = wait_quiet(args.quiet_wait, "measured cases", "high")
    measured = cases[args.warmup : args.warmup + args.cases]
    cpu: dict[str, float] = {}
    with ExitStack() as stack:
        elapsed = stack.enter_context(
            cpu_of({"intake": intake, "routing": routing}, cpu)
        )
        for target in (intake, routing):
            stack.enter_context(profiling(target, target.pids[0], args.py_spy))
        run.measured = post_cases("measured", measured, intake, args, args.rate)
        run.referrals.wait_for(list(run.measured.accepted), args.drain_seconds)
        run.measured.wall = elapsed()
    run.measured.cpu = cpu
    run.received.update()

    if args.ceiling_cases:
        # routing stopped, intake takes the cases (closed loop): they wait in
        # routing's queue; routing starts again and drains it flat out
        routing.stop()
        run.ceiling = post_cases(
            "ceiling", cases[args.warmup + args.cases :], intake, args, None
        )
        run.received.wait_for(list(run.ceiling.accepted), args.drain_seconds)
        again = make_routing(
            routing_url, broker, tmp, extra_env, args.routing_service, "routing-again"
        )
        started.append(again)
        clock = time.perf_counter()
        again.start()
        cpu_healthy = process_cpu_seconds(again.pids[0])
        run.referrals.wait_for(list(run.ceiling.accepted), args.drain_seconds)
        # minus the settling wait, which is idle
        run.ceiling.wall = time.perf_counter() - clock - SETTLE_SECONDS
        run.ceiling_cpu = process_cpu_seconds(again.pids[0]) - cpu_healthy
        firsts = sorted(
            t
            for t in (run.referrals.first(ref) for ref in run.ceiling.accepted)
            if t is not None
        )
        if len(firsts) > 1:
            run.ceiling_span = firsts[-1] - firsts[0]


def payload_reference(body: dict[str, Any]) -> str:
    """The case an event is about (``case_received``, ``referral_issued``)."""
    return str(body["payload"]["reference"])


# --- the report -------------------------------------------------------------------


def stats(values: list[float]) -> str:
    """p50, p99, max (and n) of latencies in seconds."""
    if not values:
        return "no values"
    return (
        f"p50 {ms(percentile(values, 50)):>9}  p99 {ms(percentile(values, 99)):>9}"
        f"  max {ms(max(values)):>9}  (n {len(values)})"
    )


@dataclass
class Figures:
    """The measured batch's latencies (seconds) and counts."""

    first: list[float] = field(default_factory=list)  # 201 -> first referral
    every: list[float] = field(default_factory=list)  # 201 -> each referral
    first_given: list[float] = field(default_factory=list)  # category given
    first_classified: list[float] = field(default_factory=list)  # not given
    intake: list[float] = field(default_factory=list)  # 201 -> case_received
    hop: list[float] = field(default_factory=list)  # case_received -> referral
    per_case: Counter[int] = field(default_factory=Counter)  # referrals: cases
    missing: int = 0  # accepted cases (all batches) without a referral
    missing_received: int = 0  # ... without a case_received
    duplicates: int = 0  # referral ids delivered more than once
    unexpected: int = 0  # referrals of cases this run did not post


def figures(run: Run) -> Figures:
    """Latencies of the measured cases; missing and repeated messages of all."""
    assert run.referrals is not None and run.received is not None
    out = Figures()
    batch = run.measured
    if batch is not None:
        for reference, accepted in batch.accepted.items():
            messages = run.referrals.by_case.get(reference, [])
            arrivals = [arrived - accepted for arrived, _ in messages]
            out.per_case[len(messages)] += 1
            received = run.received.first(reference)
            if received is not None:
                out.intake.append(received - accepted)
            if not arrivals:
                continue
            out.every += arrivals
            out.first.append(min(arrivals))
            given = batch.with_category[reference]
            (out.first_given if given else out.first_classified).append(min(arrivals))
            if received is not None:
                out.hop.append(min(arrivals) + accepted - received)
    accepted_all: set[str] = set()
    for each in (run.warmup, run.measured, run.ceiling):
        if each is not None:
            accepted_all |= set(each.accepted)
    out.missing = sum(1 for ref in accepted_all if ref not in run.referrals.by_case)
    out.missing_received = sum(
        1 for ref in accepted_all if ref not in run.received.by_case
    )
    out.unexpected = sum(1 for ref in run.referrals.by_case if ref not in accepted_all)
    ids = Counter(
        str(body["payload"]["referral"]["referral_id"])
        for messages in run.referrals.by_case.values()
        for _, body in messages
    )
    out.duplicates = sum(count - 1 for count in ids.values() if count > 1)
    return out


def report(run: Run, args: argparse.Namespace) -> list[str]:
    """Print the figures; return the problems (exit status 1)."""
    problems: list[str] = []
    batch = run.measured
    if batch is None or run.referrals is None:
        return ["the measured cases were not posted"]
    fig = figures(run)
    outcome = batch.outcome
    sent = len(outcome.statuses)
    accepted = len(batch.accepted)
    classified = sum(1 for given in batch.cases.with_category if not given)
    say(
        f"\n== {sent} cases at {args.rate:g} cases/s, open loop, {args.clients}"
        f" keep-alive clients ({classified} without a category, screened by"
        " routing)"
    )
    post = [outcome.latencies[i] for i in outcome.ok(201)]
    say(
        f"  POST /v1/cases  accepted {accepted}/{sent} in {outcome.wall:.2f} s"
        f" = {accepted / (outcome.wall or 1):.1f} cases/s, errors {batch.errors};"
        f" {stats(post)}"
    )
    if accepted / (outcome.wall or 1) < 0.95 * args.rate:
        say(
            f"  (the clients fell behind {args.rate:g} cases/s: all {args.clients}"
            " were waiting for answers; intake did not answer at that rate on"
            " this machine)"
        )
    say("  from the 201 to the message at the tap:")
    say(f"    referral_issued, first per case  {stats(fig.first)}")
    say(f"    referral_issued, every one       {stats(fig.every)}")
    say(f"      first, category given          {stats(fig.first_given)}")
    say(f"      first, screened by routing     {stats(fig.first_classified)}")
    say(f"    case_received (intake alone)     {stats(fig.intake)}")
    say(f"  routing's own hop, case_received to its first referral {stats(fig.hop)}")
    spread = ", ".join(
        f"{n} referral{'s' if n != 1 else ''}: {cases}"
        for n, cases in sorted(fig.per_case.items())
    )
    issued = sum(len(messages) for messages in run.referrals.by_case.values())
    say(
        f"  referrals per case: {spread}; {issued}"
        f" referral_issued in the run, other messages on the exchange"
        f" {run.referrals.other}"
    )
    say(
        f"  missing: {fig.missing} cases without a referral after"
        f" {args.drain_seconds:g} s ({fig.missing_received} without"
        f" case_received), duplicate referrals {fig.duplicates}, unexpected"
        f" {fig.unexpected}  (warm-up and ceiling included)"
    )
    cpu, wall = batch.cpu, batch.cpu.get("wall") or 1.0
    if cpu:
        foreign = max(
            0.0,
            cpu["machine"]
            - cpu["intake"]
            - cpu["routing"]
            - cpu["bench"]
            - cpu["broker"]
            - cpu["database"],
        )
        per_case = max(accepted, 1)
        say(
            f"  CPU over {wall:.2f} s (posting and the last referrals):"
            f" intake {cpu['intake'] / wall:.0%} of a core"
            f" ({ms(cpu['intake'] / per_case)} per case),"
            f" routing {cpu['routing'] / wall:.0%}"
            f" ({ms(cpu['routing'] / per_case)} per case),"
            f" RabbitMQ {cpu['broker'] / wall:.0%}, PostgreSQL"
            f" {cpu['database'] / wall:.0%}, bench {cpu['bench'] / wall:.0%},"
            f" anything else {foreign / wall:.0%}"
            f" (machine {cpu['machine'] / wall:.0%} of {os.cpu_count()} cores)"
        )
    if run.ceiling is not None:
        drained = sum(1 for ref in run.ceiling.accepted if ref in run.referrals.by_case)
        rate = (drained - 1) / run.ceiling_span if run.ceiling_span > 0 else 0.0
        say(
            f"  ceiling: {drained}/{len(run.ceiling.accepted)} cases queued while"
            f" routing was stopped, drained at {rate:.0f} cases/s (first to last"
            f" referral; {run.ceiling.wall:.1f} s from spawn, start-up included);"
            f" routing CPU {ms(run.ceiling_cpu / max(drained, 1))} per case"
        )
    for message in outcome.errors[:5]:
        say(f"    error: {message}")
    for i, status in enumerate(outcome.statuses):
        if status not in (0, 201):
            say(f"    first bad answer {status}: {outcome.bodies[i][:300]!r}")
            break

    ratio50 = percentile(fig.first, 50) / percentile(fig.intake, 50)
    ratio99 = percentile(fig.first, 99) / percentile(fig.intake, 99)
    say(f"\n== summary ({'SQLite' if args.db == 'sqlite' else 'PostgreSQL'})")
    say(
        f"  accepted to first referral at {args.rate:g} cases/s:"
        f" p50 {ms(percentile(fig.first, 50))}, p99 {ms(percentile(fig.first, 99))}"
        f"; every referral p50 {ms(percentile(fig.every, 50))},"
        f" p99 {ms(percentile(fig.every, 99))}"
    )
    say(
        f"  baseline, accepted to case_received (intake alone):"
        f" p50 {ms(percentile(fig.intake, 50))}, p99 {ms(percentile(fig.intake, 99))}"
    )
    say(f"  ratio routing/intake: p50 {ratio50:.1f}x, p99 {ratio99:.1f}x")
    for each in (run.warmup, run.measured, run.ceiling):
        if each is not None and each.errors:
            problems.append(f"{each.errors} non-201 in the {each.label} batch")
    if fig.missing:
        problems.append(f"{fig.missing} cases without a referral")
    if fig.duplicates:
        problems.append(f"{fig.duplicates} duplicate referrals")
    if fig.unexpected:
        problems.append(f"{fig.unexpected} referrals of unknown cases")
    return problems


# --- main -------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see ``--help``)."""
    parser = argparse.ArgumentParser(
        description="routing: from a case accepted to its referral on an agency"
        " queue (see tests/bench/README.md)"
    )
    parser.add_argument(
        "--db",
        default="sqlite",
        help="'sqlite' (files in a temp dir) or a postgresql:// URL: a fresh "
        "database is created there for each service and dropped at the end",
    )
    parser.add_argument("--cases", type=int, default=3000, help="measured")
    parser.add_argument("--rate", type=float, default=200.0, help="cases/s, open loop")
    parser.add_argument(
        "--warmup",
        type=int,
        default=300,
        help="cases posted at the same rate and drained before the measured ones",
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--category-share",
        type=float,
        default=0.4,
        metavar="FRACTION",
        help="cases whose citizen picked a category (the others are screened"
        " by routing's classifier)",
    )
    parser.add_argument(
        "--abroad-share",
        type=float,
        default=0.05,
        metavar="FRACTION",
        help="cases of workers abroad (routed to doe.overseas)",
    )
    parser.add_argument(
        "--ceiling-cases",
        type=int,
        default=2000,
        metavar="N",
        help="then N cases queued while routing is stopped and drained when it"
        " starts again: its throughput ceiling (0: skip)",
    )
    parser.add_argument("--seed", type=int, default=2568)
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=30.0,
        help="how long to wait for each batch's last referral",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=300.0,
        help="per batch: stop sending after this long",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="before the measured cases, wait up to this long for the machine"
        " to be idle",
    )
    parser.add_argument(
        "--tap-queue-type",
        choices=("quorum", "classic"),
        default="quorum",
        help="the taps stand for the agencies' and consumers' queues (quorum)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for both services (e.g. an OUTBOX_ setting)",
    )
    parser.add_argument(
        "--py-spy",
        metavar="DIR",
        help="sample intake and routing with py-spy during the measured cases:"
        " DIR/intake.txt, DIR/routing.txt (collapsed stacks)",
    )
    # the service class named: `nameko run MODULE` starts every class with
    # entrypoints it finds there, a mixin imported by name included
    parser.add_argument(
        "--routing-service",
        default="labornet_routing.service:RoutingService",
        metavar="MODULE[:CLASS]",
        help="what `nameko run` starts for routing (a variant: put its"
        " directory on the path with --env PYTHONPATH=DIR)",
    )
    parser.add_argument(
        "--intake-service",
        default="labornet_intake.service:IntakeService",
        metavar="MODULE[:CLASS]",
        help="what `nameko run` starts for intake",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temp dir (service logs, SQLite files)",
    )
    parser.add_argument("--amqp-uri", default=DEFAULT_AMQP)
    parser.add_argument("--management-url", default=DEFAULT_MANAGEMENT)
    args = parser.parse_args(argv)
    if args.cases < 1 or args.clients < 1 or args.warmup < 0 or args.rate <= 0:
        parser.error("--cases, --clients and --rate must be positive")
    if args.ceiling_cases < 0:
        parser.error("--ceiling-cases must be 0 or more")
    return args


def main(argv: list[str] | None = None) -> int:
    """One run: start, warm up, measure, ceiling, report; the exit status."""
    args = parse_args(argv)
    # the services under measure run with config.yml's development secrets
    os.environ.setdefault("LABORNET_ALLOW_DEVELOPMENT_SECRETS", "true")
    # `timeout`/kill: clean up (processes, vhost, databases) as for Ctrl-C
    signal.signal(signal.SIGTERM, interrupt)
    # eventlet's and pkg_resources' import-time notices (nameko imports both)
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    run = Run()
    problems: list[str] = []
    started: list[Target] = []
    taps: list[Tap] = []
    broker = Broker(args.amqp_uri, args.management_url)
    with workspace(keep=args.keep) as tmp:
        databases = Databases(args.db, tmp)
        try:
            try:
                broker.create()
            except Exception as exc:
                say(
                    f"bench: cannot prepare RabbitMQ vhost ({type(exc).__name__}: "
                    f"{exc}); is RabbitMQ with its management plugin running?"
                )
                return 1
            say(
                f"labornet bench routing: {databases.kind}, {args.cases} cases at"
                f" {args.rate:g} cases/s after {args.warmup} warm-up,"
                f" max_workers {MAX_WORKERS}, vhost {broker.vhost},"
                f" {args.tap_queue_type} taps, {os.cpu_count()} cores"
                + (f", files in {tmp}" if args.keep else "")
            )
            bench(run, args, broker, databases, tmp, started, taps)
        except KeyboardInterrupt:
            say("bench: interrupted")
            problems.append("interrupted")
        except Exception as exc:
            say(f"bench: failed: {type(exc).__name__}: {exc}")
            problems.append(type(exc).__name__)
            for target in started:
                say(f"  {target.log_path.name} tail:\n{target.log_tail(15)}")
        finally:
            for target in started:
                target.stop()
            for tap in taps:
                tap.stop()
            broker.delete()
            databases.drop_all()
        if run.measured is not None:
            problems += report(run, args)
    for problem in problems:
        say(f"  FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
