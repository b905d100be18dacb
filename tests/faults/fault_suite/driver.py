"""The fault suite's command line: start everything, load, break things,
wait for quiet, reconcile, print the table; exit 0 only if nothing was lost
or doubled and nothing is left over.

The run stops by itself: a hard cap (``--max-seconds``, by default scaled
to the run's size) raises in the main thread, and everything started is
stopped, the vhost and databases dropped, whatever happened.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from bench_intake import workspace
from sqlalchemy import create_engine, text

from labornet_shared.db import normalise_url

from . import evidence
from .faults import Faults, Timeline
from .load import RETRY_SECONDS, Load, plan_cases, register_agents, subscribe_webhook
from .reconcile import bind_agency_queue, reconcile
from .stack import INSTANCES_NEED_POSTGRESQL, SERVICES, Stack, holds_events, say

MIN_DURATION = 160.0  # the schedule needs this long to spread its faults
QUIET_READINGS = 3


class SuiteTimeout(Exception):
    """The hard cap was reached."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options (see ``--help``)."""
    parser = argparse.ArgumentParser(description="labornet's whole-platform faults")
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument(
        "--rate", type=float, default=10.0, help="cases per second at most"
    )
    parser.add_argument(
        "--db",
        default=os.environ.get("LABORNET_TEST_DB_URL") or "sqlite",
        help="sqlite, or a postgresql:// URL (a database per service is made)",
    )
    parser.add_argument(
        "--amqp-uri",
        default=os.environ.get(
            "LABORNET_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"
        ),
    )
    parser.add_argument(
        "--management-url",
        default=os.environ.get(
            "LABORNET_RABBIT_MANAGEMENT_URL", "http://guest:guest@127.0.0.1:15672"
        ),
    )
    parser.add_argument(
        "--min-duration",
        type=float,
        default=MIN_DURATION,
        help="the load lasts at least this long (the schedule spreads over it)",
    )
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="processes of each service, each on its own port, all of one"
        " service on one PostgreSQL database (above 1: PostgreSQL only)",
    )
    parser.add_argument(
        "--quiesce-timeout",
        type=float,
        help="how long to wait for rest after the load (default: scaled)",
    )
    parser.add_argument(
        "--max-seconds", type=float, help="hard cap (default: scaled to the size)"
    )
    parser.add_argument(
        "--schedule",
        choices=("full", "cluster"),
        default="full",
        help="full: every fault (on a cluster a node stops instead of the"
        " broker's proxy being cut); cluster: only the node stop, mid-stream"
        " (--amqp-uri must name the cluster of deploy/rabbitmq-cluster)",
    )
    parser.add_argument("--table", type=Path, help="also write the table here")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temp dir (service logs)"
    )
    args = parser.parse_args(argv)
    if args.cases < 10 or args.rate <= 0:
        parser.error("--cases must be at least 10 and --rate positive")
    if args.instances < 1:
        parser.error("--instances must be at least 1")
    if args.instances > 1 and args.db == "sqlite":
        parser.error(INSTANCES_NEED_POSTGRESQL)
    return args


def _raise_timeout(signum: int, frame: Any) -> None:
    raise SuiteTimeout()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt()


def main(argv: list[str] | None = None) -> int:
    """One run; the exit status says whether it passed."""
    args = parse_args(argv)
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    duration = max(args.cases / args.rate, args.min_duration)
    # notify's backlog after the full size's outages takes minutes to send
    args.quiesce_timeout = args.quiesce_timeout or max(240.0, 0.06 * args.cases)
    # each further instance of the four services is four more starts
    starts = 60 * (args.instances - 1)
    cap = args.max_seconds or duration * 1.2 + 360 + starts + 2 * args.quiesce_timeout
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGALRM, _raise_timeout)
    signal.alarm(int(cap))
    started = time.monotonic()
    with workspace(args.keep) as tmp:
        stack = Stack(args.db, tmp, args.amqp_uri, args.management_url, args.instances)
        say(
            f"fault suite: {args.cases} cases over {duration:.0f}s"
            f" ({args.cases / duration:.1f}/s), {stack.databases.kind},"
            f" {args.instances} instance(s) of each service,"
            f" vhost {stack.vhost.name}"
            f" ({len(stack.vhost.addresses)} broker node(s)),"
            f" {args.schedule} schedule, hard cap {cap:.0f}s, logs in {tmp}"
        )
        watcher: Watcher | None = None
        try:
            stack.start()
            bind_agency_queue(stack)
            operator = stack.labornet(
                "token", "create", "--scope", "operator", "--name", "fault-suite"
            )
            agents = register_agents(stack, operator)
            subscribe_webhook(stack, operator, "sso")
            wait_for_agents(stack, len(agents))
            reserve = max(10, args.cases // 20)
            cases = plan_cases(args.cases + reserve, agents, args.seed)
            load = Load(stack, cases, args.cases, args.cases / duration)
            timeline = Timeline()
            faults = Faults(
                stack,
                load,
                duration,
                timeline,
                seed=args.seed,
                only_cluster=args.schedule == "cluster",
            )
            watcher = Watcher(stack, faults, timeline)
            load.start()
            faults.start()
            load.wait(duration + RETRY_SECONDS + 60)
            timeline.log(f"load done: {len(load.accepted())} cases accepted")
            faults.stop()
            faults.wait(120)
            quiet = quiesce(stack, args.quiesce_timeout)
            timeline.log(
                "quiet"
                if quiet
                else f"NOT quiet after {args.quiesce_timeout:.0f}s (up to"
                f" {2 * args.quiesce_timeout:.0f}s while still draining)"
            )
            watcher.stop()
            shares = instance_shares(stack, load) if args.instances > 1 else []
            report = reconcile(stack, load, faults, agents)
            if args.keep:
                evidence.dump(stack, tmp)
            for process in stack.services.values():
                process.stop()
            table = report.render()
            say(f"reconciliation after {time.monotonic() - started:.0f}s:")
            print(table, flush=True)
            for line in shares:
                print(line, flush=True)
            if args.table:
                args.table.write_text(table + "\n")
            if not report.ok:
                print_log_tails(stack)
            return 0 if report.ok and quiet else 1
        except SuiteTimeout:
            say(f"fault suite: hard cap of {cap:.0f}s reached; stopping")
            return 2
        except KeyboardInterrupt:
            say("fault suite: interrupted; stopping")
            return 130
        finally:
            signal.alarm(0)
            if watcher is not None:
                watcher.stop()
            stack.close()


class Watcher:
    """Notices a service that exits on its own, records it (the run fails)
    and starts it again after 5 s, as a supervisor should."""

    def __init__(self, stack: Stack, faults: Faults, timeline: Timeline) -> None:
        self.stack = stack
        self.faults = faults
        self.timeline = timeline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            for name, process in self.stack.services.items():
                if process.check(self.timeline.now()):
                    self.timeline.log(f"{name} EXITED on its own; restarting in 5s")
                    threading.Thread(
                        target=self._restart, args=(name,), daemon=True
                    ).start()

    def _restart(self, name: str) -> None:
        if not self._stop.wait(5.0):
            self.faults.restart(name)

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()
        self._thread.join(5)


def _count(url: str, query: str) -> int:
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(query)).scalar() or 0)
    finally:
        engine.dispose()


def wait_for_agents(stack: Stack, count: int, timeout: float = 60.0) -> None:
    """Until routing and notify both know every field agent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        routing = _count(stack.urls["routing"], "SELECT count(*) FROM agents")
        notify = _count(stack.urls["notify"], "SELECT count(*) FROM agent_contacts")
        if routing >= count and notify >= count:
            return
        time.sleep(0.5)
    say("warning: the field agents did not reach routing and notify in time")


def _busy(stack: Stack) -> tuple[int, int, int]:
    """(unsent outbox rows, notify's deliveries still to try, messages in
    handler and retry queues); -1 where it could not be read."""
    try:
        outbox = sum(
            _count(
                stack.urls[s],
                "SELECT count(*) FROM outbox_messages WHERE sent_at IS NULL",
            )
            for s in SERVICES
        )
        todo = _count(
            stack.urls["notify"],
            "SELECT count(*) FROM deliveries WHERE status IN ('pending', 'sending')",
        )
    except Exception as exc:  # e.g. a shared PostgreSQL out of connections
        say(f"quiesce: cannot read a database ({type(exc).__name__}); again")
        outbox = todo = -1
    try:
        queued = sum(
            int(q.get("messages", 0))
            for q in stack.vhost.queues()
            if holds_events(q["name"])
        )
    except Exception:  # the management API itself: try again
        queued = -1
    return outbox, todo, queued


def quiesce(stack: Stack, timeout: float) -> bool:
    """Until no outbox holds an unsent event, notify has no delivery left
    to try and no handler or retry queue holds a message — several readings
    in a row (the management API's counts lag a few seconds).

    ``timeout`` is the wait for a platform that has stopped making
    progress: while the backlog still shrinks (a loaded machine drains
    slowly) the wait goes on, up to twice ``timeout``; what is left is
    printed every 30 s, so a notify that drains slowly is told apart from
    one that does not drain at all."""
    started = time.monotonic()
    deadline = started + timeout
    limit = started + 2 * timeout
    quiet = 0
    best: int | None = None
    progress_at = started
    shown = started
    while time.monotonic() < deadline:
        outbox, todo, queued = _busy(stack)
        unreadable = -1 in (outbox, todo, queued)
        busy = 1 if unreadable else outbox + todo + queued
        quiet = quiet + 1 if busy == 0 else 0
        if quiet >= QUIET_READINGS:
            return True
        now = time.monotonic()
        if not unreadable and (best is None or busy < best):
            best, progress_at = busy, now
        if now - progress_at < 30:  # still draining: give it 30 s more
            deadline = min(limit, max(deadline, now + 30))
        if now - shown >= 30:
            shown = now
            say(
                f"quiesce: {now - started:.0f}s, left: outbox {outbox},"
                f" notify deliveries {todo}, queued {queued}; least so far"
                f" {best} ({now - progress_at:.0f}s ago); waiting up to"
                f" {deadline - started:.0f}s"
            )
        time.sleep(2.0)
    return False


def instance_shares(stack: Stack, load: Load) -> list[str]:
    """With several instances, what shows each one took its share: the
    cases each intake answered 201, the cases each routing referred (its
    logs' "referred to" lines, over every start), and the consumers on each
    service's handler queues (one per running instance)."""
    accepted = Counter(c.served_by for c in load.accepted())
    intakes = stack.instances("intake")
    lines = [
        "intake, cases answered 201: "
        + ", ".join(f"{p.name} {accepted[i]}" for i, p in enumerate(intakes))
    ]
    referred = []
    for process in stack.instances("routing"):
        count = 0
        for start in range(1, process.starts + 1):
            log = stack.tmp / f"{process.name}.{start}.log"
            with contextlib.suppress(OSError):
                count += log.read_text(errors="replace").count(" office(s)")
        referred.append(f"{process.name} {count}")
    lines.append("routing, cases referred (its logs): " + ", ".join(referred))
    try:
        queues = stack.vhost.queues()
    except Exception as exc:  # the management API: the summary is not the verdict
        return [*lines, f"consumers: not read ({type(exc).__name__})"]
    consumers: dict[str, Counter[int]] = defaultdict(Counter)
    for queue in queues:
        name = str(queue["name"])
        if name.startswith("evt-") and not name.endswith(".retry"):
            service = name.split("--")[-1].partition(".")[0]
            consumers[service][int(queue.get("consumers", 0))] += 1
    lines.append(
        "consumers per handler queue: "
        + "; ".join(
            f"{service} "
            + ", ".join(f"{n} queue(s) with {k}" for k, n in sorted(counts.items()))
            for service, counts in sorted(consumers.items())
        )
    )
    return lines


def print_log_tails(stack: Stack) -> None:
    """The end of each service's latest log, for a failed run."""
    for name, process in stack.services.items():
        tail = process.log_tail(15)
        print(f"--- {name} (start {process.starts}), last lines ---\n{tail}")


if __name__ == "__main__":
    sys.exit(main())
