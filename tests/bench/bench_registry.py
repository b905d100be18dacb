"""``make bench-registry``: the national roster import and agent search.

Issue 4's figures, in one run on 127.0.0.1:

1. IMPORT — the whole synthetic network (``labornet_registry.seed``, 8,879
   agents) is written as a roster CSV and imported with ``labornet registry
   import FILE`` as a child process, exactly as an operator runs it, into a
   fresh, migrated database, with a throwaway RabbitMQ vhost. Printed: the
   wall time from spawn to exit (Python start-up included), rows/s, the
   child's peak RSS, and the time until a tap queue bound to
   ``registry.events`` held every ``agent_registered`` event (each agent
   exactly once). The same file is imported again: every row unchanged, no
   event.
2. BASELINE — the same roster read the same way, then written the way the
   one-by-one API path writes agents (``domain.register_agent`` per agent,
   its event through ``add_event``, all in one transaction) into a second
   fresh database, in this process, without publishing: the ratio
   import/baseline.
3. SEARCH — registry runs with ``nameko run`` on the imported database and
   a seeded mix of operator ``GET /v1/agents`` searches (Thai name prefixes,
   whole names, Latin prefixes, province, language, district, region and
   kind, country), ``GET /v1/coverage`` and ``GET /v1/agents/<id>`` with
   real codes and names from the roster is sent by keep-alive clients: first
   open loop at ``--search-rate`` requests/s (an operator's realistic load,
   where the issue's 50 ms p99 is judged), then closed loop (saturation:
   throughput and p99 under queueing); p50/p99/max per kind. ``GET
   /healthz`` measured closed loop is the HTTP floor (the ratio). The first
   ``--serial`` requests are sent again from one client (each request's own
   time, no queueing), then ``GET /v1/stats`` a few times.

``--import-only`` stops after 1 (the import and the re-import).

Any error (a non-200 answer, a missing or duplicate event, an import that
fails) exits 1; ``--enforce`` also exits 1 when a target of the issue is
missed. See README.md in this directory.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).parent))

from bench_intake import (  # the sibling script, found through sys.path
    DEFAULT_AMQP,
    DEFAULT_MANAGEMENT,
    MAX_WORKERS,
    QUIET_CORES,
    REPO,
    VENV_BIN,
    Broker,
    Databases,
    Outcome,
    Tap,
    Target,
    broker_and_database_cpu,
    cpu_by_process,
    encode_request,
    free_port,
    interrupt,
    machine_busy_seconds,
    migrate,
    ms,
    percentile,
    profiling,
    run_clients,
    say,
    service_target,
    wait_quiet,
    workspace,
)

# the issue's targets (issue 4)
TARGET_IMPORT_SECONDS = 5.0
TARGET_SEARCH_P99_MS = 50.0

IMPORT_TIME_LIMIT = 300.0  # an import still running after this is killed
STATS_REQUESTS = 5

# the request mix: kind -> weight (per 24 requests)
MIX = {
    "q=thai prefix": 3,
    "q=thai first name": 2,
    "q=thai first+last": 2,
    "q=latin prefix": 1,
    "province": 2,
    "province+language": 1,
    "district": 2,
    "region+kind": 1,
    "country": 1,
    "coverage": 5,
    "agent by id": 4,
}
# the kinds that are a search of GET /v1/agents (the issue's 50 ms target)
SEARCH_KINDS = {kind for kind in MIX if kind not in ("coverage", "agent by id")}


# --- the roster -------------------------------------------------------------------


@dataclass
class Network:
    """What the search mix draws from: the roster's names, places, countries."""

    first_th: list[str] = field(default_factory=list)
    full_th: list[str] = field(default_factory=list)
    latin: list[str] = field(default_factory=list)
    provinces: list[str] = field(default_factory=list)
    provinces_my: list[str] = field(default_factory=list)
    districts: list[str] = field(default_factory=list)
    places: list[tuple[str, str, str]] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)


def read_network(path: Path) -> Network:
    """The roster CSV as the search mix needs it (codes, names)."""
    network = Network()
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            network.first_th.append(row["first_name_th"])
            network.full_th.append(row["first_name_th"] + row["last_name_th"])
            if row["first_name_en"]:
                network.latin.append(row["first_name_en"])
            if row["abroad_country"]:
                network.countries.append(row["abroad_country"])
                continue
            network.provinces.append(row["province_code"])
            if "my" in row["languages"].split(","):
                network.provinces_my.append(row["province_code"])
            if row["district"]:
                network.districts.append(row["district"])
            if row["subdistrict"]:
                network.places.append(
                    (row["province_code"], row["district"], row["subdistrict"])
                )
    return network


def search_mix(
    network: Network, agent_ids: list[str], count: int, seed: int
) -> list[tuple[str, str]]:
    """``count`` (kind, path) pairs, the same for the same seed."""
    rng = random.Random(seed)
    kinds = rng.choices(list(MIX), weights=list(MIX.values()), k=count)
    out = []
    for kind in kinds:
        if kind == "q=thai prefix":
            name = rng.choice(network.first_th)
            query = {"q": name[: rng.randint(1, 3)]}
        elif kind == "q=thai first name":
            query = {"q": rng.choice(network.first_th)}
        elif kind == "q=thai first+last":
            query = {"q": rng.choice(network.full_th)}
        elif kind == "q=latin prefix":
            name = rng.choice(network.latin)
            query = {"q": name[: rng.randint(2, 4)].lower()}
        elif kind == "province":
            query = {"province": rng.choice(network.provinces)}
        elif kind == "province+language":
            query = {"province": rng.choice(network.provinces_my), "language": "my"}
        elif kind == "district":
            query = {"district": rng.choice(network.districts)}
        elif kind == "region+kind":
            query = {
                "region": rng.choice(("north", "northeast", "central", "south")),
                "kind": "labour_graduate",
            }
        elif kind == "country":
            query = {"country": rng.choice(network.countries)}
        elif kind == "coverage":
            province, district, subdistrict = rng.choice(network.places)
            query = {"province": province, "district": district}
            # most lookups name the subdistrict of the citizen's address
            if rng.random() < 0.8:
                query["subdistrict"] = subdistrict
            out.append((kind, "/v1/coverage?" + urlencode(query, quote_via=quote)))
            continue
        else:
            out.append((kind, f"/v1/agents/{rng.choice(agent_ids)}"))
            continue
        out.append((kind, "/v1/agents?" + urlencode(query, quote_via=quote)))
    return out


# --- the import -------------------------------------------------------------------


@dataclass
class ImportRun:
    """One ``labornet registry import`` as the operator runs it."""

    label: str
    status: int = -1
    total: float = float("nan")  # spawn to exit, seconds
    peak_rss_kb: int = 0
    cpu: float = 0.0  # the import's own CPU seconds (user + system)
    cpu_machine: float = 0.0  # busy CPU seconds of the whole machine meanwhile
    cpu_groups: dict[str, float] = field(default_factory=dict)  # broker, database
    delivered: float = float("nan")  # spawn to the last event at the tap
    events: int = 0  # agent_registered events the tap got for this run
    duplicates: int = 0
    other_events: int = 0
    outcome: tuple[int, int, int] | None = None  # registered, updated, unchanged
    cli_lines: list[str] = field(default_factory=list)
    log: str = ""


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
OUTCOME = re.compile(r"(\d+) registered, (\d+) updated, (\d+) unchanged")


def run_import(
    csv_path: Path,
    db_url: str,
    broker: Broker,
    tap: Tap,
    tmp: Path,
    label: str,
    expected_events: int,
    drain_seconds: float,
    py_spy: str | None,
) -> ImportRun:
    """Spawn the import, time it to its exit, then wait for its events."""
    run = ImportRun(label)
    log_path = tmp / f"{label}.log"
    env = {
        **os.environ,
        "LABORNET_ROOT": str(REPO),
        "LABORNET_REGISTRY_DB": db_url,
        "LABORNET_AMQP_URI": broker.amqp_uri,
        "LABORNET_RABBIT_MANAGEMENT_URL": broker.management_url,
        "COLUMNS": "120",
    }
    command = [str(VENV_BIN / "labornet"), "registry", "import", str(csv_path)]
    if py_spy:
        Path(py_spy).mkdir(parents=True, exist_ok=True)
        output = Path(py_spy) / f"{label}.txt"
        command = [
            *(str(VENV_BIN / "py-spy"), "record", "--rate", "200", "--format"),
            *("raw", "--output", str(output), "--"),
            *command,
        ]
    seen_before = len(tap.received)
    busy0, processes0 = machine_busy_seconds(), cpu_by_process()
    with open(log_path, "wb") as log_file:
        spawned_at = time.time()
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us; we stop it
        )
        timer = threading.Timer(IMPORT_TIME_LIMIT, process.kill)
        timer.start()
        try:
            # wait4: the exit and this child's own resource use (peak RSS)
            _pid, wait_status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait(10)
            raise
        finally:
            timer.cancel()
        run.total = time.perf_counter() - started
        run.status = os.waitstatus_to_exitcode(wait_status)
        process.returncode = run.status
        run.peak_rss_kb = usage.ru_maxrss  # kilobytes on Linux
        run.cpu = usage.ru_utime + usage.ru_stime
    run.cpu_machine = machine_busy_seconds() - busy0
    run.cpu_groups = broker_and_database_cpu(processes0, cpu_by_process())
    run.log = ANSI.sub("", log_path.read_text(errors="replace"))
    run.cli_lines = [line.rstrip() for line in run.log.splitlines() if line.strip()]
    match = OUTCOME.search(run.log)
    if match:
        run.outcome = (int(match[1]), int(match[2]), int(match[3]))
    if expected_events:
        tap.wait_for(seen_before + expected_events, timeout=drain_seconds)
    else:
        time.sleep(1.0)  # long enough for an event that should not come
    arrivals: Counter[str] = Counter()
    last = spawned_at
    for arrived, body in tap.events()[seen_before:]:
        if body.get("event_type") != "agent_registered":
            run.other_events += 1
            continue
        arrivals[str(body["payload"]["agent_id"])] += 1
        last = max(last, arrived)
    run.events = len(arrivals)
    run.duplicates = sum(n - 1 for n in arrivals.values())
    if run.events:
        run.delivered = last - spawned_at
    return run


READ = re.compile(r"rows read in ([0-9.]+)s")
DONE = re.compile(r"done in ([0-9.]+)s")
RATE = re.compile(r"([0-9,]+) rows/s")


def import_phases(run: ImportRun, rows: int) -> list[tuple[str, float]]:
    """Where the import's time went, from what it printed: start-up (Python,
    imports, exit) is the total minus its own "done in"; writing is the rows
    over the progress bar's last rate; publishing is what remains."""
    read, done = READ.search(run.log), DONE.search(run.log)
    bars = [RATE.search(line) for line in run.cli_lines if "━" in line]
    if not (read and done and bars and bars[-1]):
        return []
    rate = float(bars[-1][1].replace(",", ""))
    write = rows / rate if rate else 0.0
    phases = [
        ("start-up and exit", run.total - float(done[1])),
        ("read and validate", float(read[1])),
        ("write", write),
        ("commit, publish, the rest", float(done[1]) - float(read[1]) - write),
    ]
    return phases


def report_import(run: ImportRun, rows: int) -> None:
    """Print one import: what the CLI said, its time, phases, CPU, events."""
    say(f"  labornet registry import (exit {run.status}); it printed:")
    bars = [i for i, line in enumerate(run.cli_lines) if "━" in line]
    for i, line in enumerate(run.cli_lines):
        # the progress bar's redraws: its last state is enough
        if i not in bars[-1:] and i in bars:
            continue
        say(f"    | {line.strip()}")
    say(
        f"    total {run.total:.2f} s spawn to exit = {rows / run.total:,.0f} rows/s,"
        f" peak RSS {run.peak_rss_kb / 1024:.0f} MB"
    )
    phases = import_phases(run, rows)
    if phases:
        say(
            "    phases (from its output): "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in phases)
        )
    # a PostgreSQL backend lives as long as the import's connection, so its
    # CPU is gone from /proc by now: it is in "anything else"
    broker = run.cpu_groups.get("broker", 0.0)
    others = max(0.0, run.cpu_machine - run.cpu - broker)
    say(
        f"    CPU  import {run.cpu:.2f} s ({run.cpu / run.total:.0%} of a core),"
        f" RabbitMQ {broker:.2f} s, the database and anything else {others:.2f} s"
        f" (machine {run.cpu_machine / run.total:.0%} of {os.cpu_count()} cores)"
    )
    say(
        f"    agent_registered at the tap: {run.events} agents"
        f" (duplicates {run.duplicates}, other events {run.other_events}),"
        f" last one {run.delivered:.2f} s after spawn"
        if run.events
        else f"    events at the tap: none (other events {run.other_events})"
    )


# --- the baseline: the one-by-one API path ----------------------------------------


@dataclass
class BaselineRun:
    """register_agent per agent in one transaction, in this process."""

    rows: int = 0
    read: float = 0.0
    write: float = 0.0
    stopped_early: bool = False

    @property
    def total(self) -> float:
        """Read plus write, seconds."""
        return self.read + self.write


def run_baseline(csv_path: Path, db_url: str, limit_seconds: float) -> BaselineRun:
    """Read the roster as the CLI does, then register each agent one by one."""
    from sqlalchemy.orm import Session

    from labornet_registry import domain, roster
    from labornet_registry.models import Base
    from labornet_shared.db import make_engine
    from labornet_shared.outbox import bind_outbox

    run = BaselineRun()
    started = time.perf_counter()
    sheet = roster.read_roster(csv_path.read_bytes(), csv_path.name)
    run.read = time.perf_counter() - started
    engine = make_engine(db_url, pool_size=2)
    try:
        started = time.perf_counter()
        deadline = time.monotonic() + limit_seconds
        with Session(engine) as session, session.begin():
            bind_outbox(session, Base.metadata)
            for row in sheet.rows:
                domain.register_agent(session, row.agent)
                run.rows += 1
                if time.monotonic() > deadline:
                    run.stopped_early = True
                    break
        run.write = time.perf_counter() - started
    finally:
        engine.dispose()
    return run


# --- search -----------------------------------------------------------------------


def agent_ids(db_url: str, count: int, seed: int) -> list[str]:
    """``count`` registered agent ids, a seeded sample, for ``/v1/agents/<id>``."""
    from sqlalchemy import create_engine, text

    from labornet_shared.db import normalise_url

    engine = create_engine(normalise_url(db_url))
    try:
        with engine.connect() as conn:
            ids = [row[0] for row in conn.execute(text("SELECT id FROM agents"))]
    finally:
        engine.dispose()
    return random.Random(seed).sample(sorted(ids), min(count, len(ids)))


def make_registry(
    db_url: str,
    broker: Broker,
    tmp: Path,
    secret: str,
    service_module: str = "labornet_registry.service:RegistryService",
    extra_env: dict[str, str] | None = None,
) -> Target:
    """registry under ``nameko run`` on ``db_url``, on a free port of 127.0.0.1."""
    port = free_port()
    env = {
        **os.environ,
        "LABORNET_ROOT": str(REPO),
        "LABORNET_REGISTRY_DB": db_url,
        "LABORNET_REGISTRY_HOST": "127.0.0.1",
        "LABORNET_REGISTRY_PORT": str(port),
        "LABORNET_REGISTRY_MAX_WORKERS": str(MAX_WORKERS),
        "LABORNET_AMQP_URI": broker.amqp_uri,
        "LABORNET_RABBIT_MANAGEMENT_URL": broker.management_url,
        "LABORNET_TOKEN_SECRET": secret,
        "LABORNET_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    return service_target(
        "registry",
        service_module,
        env=env,
        port=port,
        db_url=db_url,
        log_path=tmp / "registry.log",
    )


@dataclass
class SearchRun:
    """What the clients saw: per kind latencies, the floor, /v1/stats."""

    by_kind: dict[str, list[float]] = field(default_factory=dict)  # closed loop
    # the same mix paced at --search-rate: the load the target is judged on
    open_by_kind: dict[str, list[float]] = field(default_factory=dict)
    open_outcome: Outcome | None = None
    # the same requests one at a time: the service's own time, no queueing
    serial_by_kind: dict[str, list[float]] = field(default_factory=dict)
    outcome: Outcome | None = None
    health: list[float] = field(default_factory=list)  # 200s of GET /healthz
    health_rate: float = 0.0
    stats: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unsent: int = 0  # requests left when a phase reached --max-seconds

    def latencies(
        self, kinds: set[str] | None = None, serial: bool = False, paced: bool = False
    ) -> list[float]:
        """The answered requests' latencies (of ``kinds``; one client's, or
        the open loop's)."""
        by_kind = (
            self.serial_by_kind
            if serial
            else self.open_by_kind
            if paced
            else self.by_kind
        )
        return [
            value
            for kind, values in by_kind.items()
            if kinds is None or kind in kinds
            for value in values
        ]

    def check(self, outcome: Outcome, paths: list[str], label: str) -> None:
        """Count what was not a 200: an answer, a broken connection, or a
        request never sent because the phase ran out of time."""
        broken = [message for message in outcome.errors if message != TIME_LIMIT]
        self.errors += [f"{label}: {message}" for message in broken]
        unanswered = 0
        for i, status in enumerate(outcome.statuses):
            if status == 0:
                unanswered += 1
            elif status != 200:
                detail = outcome.bodies[i][:200].decode("utf-8", "replace")
                self.errors.append(f"{label} {paths[i]}: {status} {detail}")
        self.unsent += unanswered - len(broken)


def foreign_cores(outcome: Outcome) -> float:
    """Cores other programs (not the service, the bench, RabbitMQ or
    PostgreSQL) kept busy while ``outcome``'s requests ran."""
    others = (
        outcome.cpu_machine
        - outcome.cpu_service
        - outcome.cpu_self
        - sum(outcome.cpu_groups.values())
    )
    return max(0.0, others) / (outcome.wall or 1.0)


TIME_LIMIT = "time limit reached"  # run_clients' word for a phase out of time


def bench_search(
    target: Target, network: Network, args: argparse.Namespace, token: str
) -> SearchRun:
    """Start the service, warm it up, measure /healthz, then the mix, then
    /v1/stats; each phase stops sending after --max-seconds."""
    run = SearchRun()
    ids = agent_ids(target.db_url, 500, args.rows_seed)
    mix = search_mix(network, ids, args.warmup + args.requests, args.rows_seed)
    paths = [path for _kind, path in mix]
    auth = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    raws = [encode_request("GET", path, target.port, **auth) for path in paths]
    target.start()
    pids = target.pids

    def send(
        requests_: list[bytes], clients: int, rate: float | None = None
    ) -> Outcome:
        deadline = time.monotonic() + args.max_seconds
        return run_clients(
            target.port, requests_, clients, pids, rate=rate, deadline=deadline
        )

    warmup = send(raws[: args.warmup], args.clients)
    run.check(warmup, paths[: args.warmup], "warm-up")
    health = send(
        [encode_request("GET", "/healthz", target.port)] * args.requests, args.clients
    )
    run.check(health, ["/healthz"] * args.requests, "healthz")
    run.health = [
        latency
        for status, latency in zip(health.statuses, health.latencies, strict=True)
        if status == 200
    ]
    run.health_rate = len(run.health) / (health.wall or 1)
    if args.search_rate:
        # open loop: request i leaves at start + i/rate, whether or not the
        # ones before it were answered, as operators' searches arrive
        end = args.warmup + args.open_requests
        paced = send(raws[args.warmup : end], args.clients, args.search_rate)
        run.open_outcome = paced
        run.check(paced, paths[args.warmup : end], "open loop")
        for (kind, _path), status, latency in zip(
            mix[args.warmup : end], paced.statuses, paced.latencies, strict=True
        ):
            if status == 200:
                run.open_by_kind.setdefault(kind, []).append(latency)
    with profiling(target, pids[0], args.py_spy):
        measured = send(raws[args.warmup :], args.clients)
    run.outcome = measured
    run.check(measured, paths[args.warmup :], "measured")
    for (kind, _path), status, latency in zip(
        mix[args.warmup :], measured.statuses, measured.latencies, strict=True
    ):
        if status == 200:
            run.by_kind.setdefault(kind, []).append(latency)
    serial_mix = mix[args.warmup : args.warmup + args.serial]
    serial = send(raws[args.warmup : args.warmup + args.serial], 1)
    run.check(serial, paths[args.warmup : args.warmup + args.serial], "one client")
    for (kind, _path), status, latency in zip(
        serial_mix, serial.statuses, serial.latencies, strict=True
    ):
        if status == 200:
            run.serial_by_kind.setdefault(kind, []).append(latency)
    # /v1/stats reads the whole network: a few, one at a time
    stats = [encode_request("GET", "/v1/stats", target.port, **auth)]
    for _ in range(STATS_REQUESTS):
        outcome = send(stats, 1)
        run.check(outcome, ["/v1/stats"], "stats")
        if outcome.statuses[0] == 200:
            run.stats.append(outcome.latencies[0])
    return run


def report_search(run: SearchRun, args: argparse.Namespace) -> None:
    """Print the search: rates, per kind p50/p99/max (open loop, closed
    loop, one client), the floor, CPU, stats."""
    measured = run.outcome
    assert measured is not None
    ok = sum(1 for s in measured.statuses if s == 200)
    paced = run.open_outcome
    if paced is not None:
        answered = sum(1 for s in paced.statuses if s == 200)
        say(
            f"  {len(paced.statuses)} requests open loop at {args.search_rate:g}"
            f" req/s (answered {answered} in {paced.wall:.1f} s), then"
        )
    say(
        f"  {len(measured.statuses)} requests after {args.warmup} warm-up,"
        f" {args.clients} keep-alive clients, closed loop:"
        f" {ok / (measured.wall or 1):,.0f} req/s, errors {len(run.errors)}"
        + (f", not sent (--max-seconds) {run.unsent}" if run.unsent else "")
    )
    blocks = [
        (f"open loop, {args.search_rate:g} req/s", {"paced": True}),
        (f"closed loop, {args.clients} clients", {}),
        (f"then one client, the first {args.serial}", {"serial": True}),
    ]
    if paced is None:
        blocks = blocks[1:]
    say(f"    {'':<20}" + "".join(f" {title:^35}" for title, _ in blocks))
    say(
        f"    {'kind':<20}"
        + f" {'n':>5} {'p50':>9} {'p99':>9} {'max':>9}" * len(blocks)
    )
    rows: list[tuple[str, list[list[float]]]] = [
        (kind, [run.latencies({kind}, **options) for _, options in blocks])
        for kind in MIX
    ]
    rows += [
        (
            "GET /v1/agents?...",
            [run.latencies(SEARCH_KINDS, **options) for _, options in blocks],
        ),
        ("all", [run.latencies(None, **options) for _, options in blocks]),
    ]
    for kind, samples in rows:
        line = f"    {kind:<20}"
        for sample in samples:
            line += (
                f" {len(sample):>5} {ms(percentile(sample, 50)):>9}"
                f" {ms(percentile(sample, 99)):>9}"
                f" {ms(max(sample, default=0)):>9}"
                if sample
                else f" {'':>35}"
            )
        say(line.rstrip())
    floor = run.health
    say(
        f"    {'GET /healthz':<20}"
        + f" {'':>35}" * (len(blocks) - 2)
        + f" {len(floor):>5} {ms(percentile(floor, 50)):>9}"
        f" {ms(percentile(floor, 99)):>9} {ms(max(floor, default=0)):>9}"
        f"   (the HTTP floor, {run.health_rate:,.0f} req/s)"
    )
    for label, outcome in (("open loop", paced), ("closed loop", measured)):
        if outcome is None:
            continue
        wall = outcome.wall or 1.0
        answered = max(sum(1 for s in outcome.statuses if s == 200), 1)
        say(
            f"    CPU {label:<11} service {outcome.cpu_service / wall:.0%} of a core"
            f" ({ms(outcome.cpu_service / answered)} per request),"
            f" bench {outcome.cpu_self / wall:.0%},"
            f" PostgreSQL {outcome.cpu_groups['database'] / wall:.0%},"
            f" anything else {foreign_cores(outcome):.0%}"
            f" (machine {outcome.cpu_machine / wall:.0%} of {os.cpu_count()} cores)"
        )
    say(
        f"  GET /v1/stats x {len(run.stats)}, one at a time:"
        f" p50 {ms(percentile(run.stats, 50))}, max {ms(max(run.stats, default=0))}"
    )
    for message in run.errors[:5]:
        say(f"    error: {message}")


# --- main -------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see ``--help``)."""
    parser = argparse.ArgumentParser(
        description="registry: the national roster import and agent search"
        " (see tests/bench/README.md)"
    )
    parser.add_argument(
        "--db",
        default="sqlite",
        help="'sqlite' (files in a temp dir) or a postgresql:// URL: fresh "
        "databases are created there and dropped at the end",
    )
    parser.add_argument(
        "--rows-seed",
        type=int,
        default=2568,
        help="seed of the synthetic network (and of the request mix)",
    )
    parser.add_argument("--requests", type=int, default=3000, help="measured")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--search-rate",
        type=float,
        default=20.0,
        metavar="R",
        help="first send the mix open loop at R requests/s (request i leaves at"
        " start + i/R): the load the 50 ms p99 is judged on (0: skip)",
    )
    parser.add_argument(
        "--open-requests",
        type=int,
        default=1200,
        metavar="N",
        help="how many of the measured requests go open loop (N/R seconds)",
    )
    parser.add_argument(
        "--serial",
        type=int,
        default=500,
        metavar="N",
        help="then send the first N of the measured requests again from one"
        " client: each request's own time, without queueing behind the others",
    )
    parser.add_argument(
        "--baseline-seconds",
        type=float,
        default=120.0,
        help="stop the one-by-one baseline after this long (its rate is then"
        " taken from the rows it wrote)",
    )
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=30.0,
        help="how long to wait for the import's last events",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=300.0,
        help="search: each phase (warm-up, /healthz, the mix, /v1/stats) stops"
        " sending after this long",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="before the import and the search, wait up to this long for the"
        " machine to be idle",
    )
    parser.add_argument(
        "--import-only",
        action="store_true",
        help="only the import and the re-import: no baseline, no search",
    )
    parser.add_argument(
        "--enforce",
        action="store_true",
        help="also exit 1 when the issue's targets are missed",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temp dir (roster CSV, import output, service log, SQLite"
        " files) for inspection; PostgreSQL databases are dropped all the same",
    )
    parser.add_argument(
        "--py-spy",
        metavar="DIR",
        help="sample the imports and the service (during the measured"
        " requests) with py-spy: DIR/<name>.txt (slows the imports)",
    )
    parser.add_argument(
        "--registry-service",
        # the class named: `nameko run MODULE` starts every class with
        # entrypoints it finds there, a mixin imported by name included
        default="labornet_registry.service:RegistryService",
        metavar="MODULE[:CLASS]",
        help="the module `nameko run` starts for the search (to measure a"
        " variant; put its directory on the path with --env PYTHONPATH=DIR)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the registry service (not the import)",
    )
    parser.add_argument("--amqp-uri", default=DEFAULT_AMQP)
    parser.add_argument("--management-url", default=DEFAULT_MANAGEMENT)
    args = parser.parse_args(argv)
    if args.requests < 1 or args.clients < 1 or args.warmup < 0:
        parser.error("--requests and --clients must be positive")
    if args.search_rate < 0 or not 0 < args.open_requests <= args.requests:
        parser.error("--search-rate >= 0, 0 < --open-requests <= --requests")
    return args


@dataclass
class Results:
    """Everything measured, for the summary; problems make the exit status 1."""

    rows: int = 0
    first: ImportRun | None = None
    again: ImportRun | None = None
    baseline: BaselineRun | None = None
    search: SearchRun | None = None
    problems: list[str] = field(default_factory=list)


def main(argv: list[str] | None = None) -> int:
    """One run: import, re-import, baseline, search, summary; exit status."""
    args = parse_args(argv)
    # the services under measure run with config.yml's development secrets
    os.environ.setdefault("LABORNET_ALLOW_DEVELOPMENT_SECRETS", "true")
    # `timeout`/kill: clean up (processes, vhost, databases) as for Ctrl-C
    signal.signal(signal.SIGTERM, interrupt)
    # eventlet's and pkg_resources' import-time notices (nameko imports both)
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    results = Results()
    broker = Broker(args.amqp_uri, args.management_url)
    target: Target | None = None
    tap: Tap | None = None
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
            from labornet_registry.seed import write_network_csv

            csv_path = tmp / "registry-network.csv"
            results.rows = write_network_csv(csv_path, args.rows_seed)
            say(
                f"labornet bench registry: {databases.kind}, {results.rows:,} agents"
                f" (seed {args.rows_seed}), vhost {broker.vhost},"
                f" {os.cpu_count()} cores" + (f", files in {tmp}" if args.keep else "")
            )
            url = databases.fresh("registry")
            migrate("registry", url)
            tap = Tap(broker, "registry.events", "quorum")

            say(f"\n== import  ({url.split('?')[0]})")
            wait_quiet(args.quiet_wait, "import")
            results.first = run_import(
                csv_path,
                url,
                broker,
                tap,
                tmp,
                "import",
                results.rows,
                args.drain_seconds,
                args.py_spy,
            )
            report_import(results.first, results.rows)
            say("\n== the same file again")
            results.again = run_import(
                csv_path,
                url,
                broker,
                tap,
                tmp,
                "reimport",
                0,
                args.drain_seconds,
                args.py_spy,
            )
            report_import(results.again, results.rows)
            tap.stop()
            tap = None

            if not args.import_only:
                baseline_url = databases.fresh("registry_baseline")
                migrate("registry", baseline_url)
                say(
                    "\n== baseline: domain.register_agent per agent, one transaction,"
                    " in this process, no relay"
                )
                results.baseline = run_baseline(
                    csv_path, baseline_url, args.baseline_seconds
                )
                base = results.baseline
                say(
                    f"  read the roster {base.read:.2f} s, registered"
                    f" {base.rows:,} agents one by one in {base.write:.2f} s"
                    f" ({base.rows / max(base.write, 1e-9):,.0f} rows/s)"
                    + (
                        "  (stopped at --baseline-seconds)"
                        if base.stopped_early
                        else ""
                    )
                )

                say(f"\n== search  (nameko run, {url.split('?')[0]})")
                wait_quiet(args.quiet_wait, "search")
                from labornet_shared.tokens import issue_token

                secret = secrets.token_urlsafe(32)
                token = issue_token(secret, "operator", name="bench")
                target = make_registry(
                    url,
                    broker,
                    tmp,
                    secret,
                    args.registry_service,
                    dict(item.split("=", 1) for item in args.env),
                )
                try:
                    results.search = bench_search(
                        target, read_network(csv_path), args, token
                    )
                finally:
                    target.stop()
                report_search(results.search, args)
                if results.search.errors:
                    say("  service log tail:")
                    say(target.log_tail())
        except KeyboardInterrupt:
            say("bench: interrupted")
            results.problems.append("interrupted")
        except Exception as exc:
            say(f"bench: failed: {type(exc).__name__}: {exc}")
            results.problems.append(f"{type(exc).__name__}")
        finally:
            if target is not None:
                target.stop()
            if tap is not None:
                tap.stop()
            broker.delete()
            databases.drop_all()
        met = summarise(results, args)
    if results.problems:
        return 1
    return 0 if met or not args.enforce else 1


def summarise(results: Results, args: argparse.Namespace) -> bool:
    """The summary table; returns whether every target was met. Errors go
    into ``results.problems``."""
    rows, first, again = results.rows, results.first, results.again
    problems = results.problems
    met = True
    say("\n== summary")
    if first is not None:
        if first.status != 0:
            problems.append(f"import exited {first.status}")
        if first.outcome != (rows, 0, 0):
            problems.append(f"import outcome {first.outcome}, not {rows} registered")
        if first.events != rows or first.duplicates or first.other_events:
            problems.append("import events missing, duplicate or unexpected")
        import_met = first.total <= TARGET_IMPORT_SECONDS
        met = met and import_met
        say(
            f"  import       {rows:,} rows in {first.total:.2f} s spawn to exit"
            f" = {rows / first.total:,.0f} rows/s, peak RSS"
            f" {first.peak_rss_kb / 1024:.0f} MB"
            f"   (target <= {TARGET_IMPORT_SECONDS:g} s: "
            f"{'met' if import_met else 'NOT met'})"
        )
        say(
            f"  events       agent_registered delivered {first.events:,}/{rows:,},"
            f" duplicates {first.duplicates}, the last {first.delivered:.2f} s"
            " after spawn"
        )
    if again is not None:
        if again.status != 0 or again.outcome != (0, 0, rows):
            problems.append(f"re-import outcome {again.outcome}, exit {again.status}")
        if again.events or again.other_events:
            problems.append("re-import emitted events")
        unchanged = again.outcome[2] if again.outcome else "?"
        say(
            f"  re-import    {again.total:.2f} s: {unchanged} unchanged,"
            f" {again.events + again.other_events} events"
        )
    base = results.baseline
    if base is not None and first is not None and base.rows:
        per_row = base.total / base.rows * rows if base.stopped_early else base.total
        say(
            f"  baseline     one by one: read {base.read:.2f} s + write"
            f" {base.write:.2f} s for {base.rows:,} rows"
            + (f" (~{per_row:.1f} s for {rows:,})" if base.stopped_early else "")
            + f"; import/baseline time {first.total / per_row:.2f}x"
            f" ({per_row / first.total:.1f}x faster)"
        )
    search = results.search
    if search is not None and search.outcome is not None:
        if search.errors:
            problems.append(f"{len(search.errors)} search errors")
        if search.unsent:
            problems.append(f"{search.unsent} requests not sent (--max-seconds)")
        closed = percentile(search.latencies(SEARCH_KINDS), 99) * 1000
        floor = percentile(search.health, 99) * 1000
        serial = percentile(search.latencies(SEARCH_KINDS, serial=True), 99) * 1000
        outcome = search.outcome
        rate = sum(1 for s in outcome.statuses if s == 200) / (outcome.wall or 1)
        if search.open_outcome is not None:
            # the target is judged at an operator's load (--search-rate, open
            # loop): a saturated closed loop measures queueing, not a search
            paced = percentile(search.latencies(SEARCH_KINDS, paced=True), 99) * 1000
            search_met = paced <= TARGET_SEARCH_P99_MS
            met = met and search_met
            say(
                f"  search       GET /v1/agents?... p99 {paced:.1f} ms open loop at"
                f" {args.search_rate:g} req/s (all kinds"
                f" {percentile(search.latencies(paced=True), 99) * 1000:.1f} ms)"
                f"   (target <= {TARGET_SEARCH_P99_MS:g} ms:"
                f" {'met' if search_met else 'NOT met'})"
            )
            busy = foreign_cores(search.open_outcome)
            if busy > QUIET_CORES:
                say(
                    f"               (other programs kept {busy:.0%} of a core busy"
                    " meanwhile: the p99 includes waiting for the CPU; run again"
                    " on a quiet machine)"
                )
        say(
            f"  saturation   GET /v1/agents?... p99 {closed:.1f} ms closed loop,"
            f" {args.clients} clients at {rate:,.0f} req/s (all kinds"
            f" {percentile(search.latencies(), 99) * 1000:.1f} ms); one client"
            f" {serial:.1f} ms"
        )
        say(
            f"  floor        GET /healthz p99 {floor:.1f} ms with {args.clients}"
            f" clients: closed-loop search p99 / healthz p99 = {closed / floor:.1f}x"
        )
        say(f"  stats        GET /v1/stats p50 {ms(percentile(search.stats, 50))}")
    for problem in problems:
        say(f"  FAILED: {problem}")
    return met


if __name__ == "__main__":
    sys.exit(main())
