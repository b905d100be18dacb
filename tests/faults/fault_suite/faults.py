"""The fault schedule: what goes wrong, when, during the load.

Times are fractions of the load's duration, so the same schedule spreads
over a short CI run and over the full-size one; outages last what the issue
says (broker 30 s, routing's database 45 s) whatever the size. Each fault
runs in its own thread and logs when it starts and ends. With several
instances of each service, a kill takes one instance picked at random (the
others keep serving), and the two answers of an agency's concurrent pair go
to two different routing instances.
"""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kombu
import requests

from labornet_shared.categories import AGENCIES
from labornet_shared.config import repo_root

from .load import Load
from .stack import Stack, say

BROKER_OUTAGE_SECONDS = 30.0
#: how long a cluster node stays stopped (``--amqp-uri`` naming a cluster)
NODE_DOWN_SECONDS = 30.0
#: the node the cluster schedule stops: every service's first address, the
#: node their connections open on and where the queues' leaders were elected
STOPPED_NODE = "a"
CLUSTER_SCRIPT = repo_root() / "deploy" / "rabbitmq-cluster" / "cluster.sh"
DATABASE_OUTAGE_SECONDS = 45.0
#: how late the SMS gateway answers: more than notify's 10 s client timeout
SMS_SLOW_SECONDS = 12.0
SMS_SLOW_FOR_SECONDS = 25.0
RESTART_AFTER_SECONDS = 2.0
#: the marker every poison message carries, so dead letters can be told apart
POISON_MARK = "faults-poison"
#: the consuming services (registry consumes nothing)
CONSUMERS = ("intake", "routing", "notify")


@dataclass
class Timeline:
    """What happened when, in seconds since the load started."""

    start: float = field(default_factory=time.monotonic)
    entries: list[tuple[float, str]] = field(default_factory=list)

    def now(self) -> float:
        """Seconds since the start."""
        return time.monotonic() - self.start

    def log(self, text: str) -> None:
        """Record and print one line."""
        at = self.now()
        self.entries.append((at, text))
        say(f"t={at:6.1f}s {text}")


@dataclass
class AgencyPair:
    """Two agency actions sent at once on one referral, and the answers."""

    referral_id: str
    agency: str
    actions: tuple[str, str]
    #: each action's answer (0: none)
    statuses: dict[str, int] = field(default_factory=dict)


@dataclass
class Poison:
    """Poison messages published, per service and kind."""

    sent: Counter[str] = field(default_factory=Counter)  # service -> count
    kinds: Counter[tuple[str, str]] = field(default_factory=Counter)


class Faults:
    """Runs the schedule against a :class:`Stack` under a :class:`Load`."""

    def __init__(
        self,
        stack: Stack,
        load: Load,
        duration: float,
        timeline: Timeline,
        seed: int = 0,
        only_cluster: bool = False,
    ) -> None:
        self.only_cluster = only_cluster
        self.stack = stack
        self._rng = random.Random(seed)
        self.load = load
        self.duration = duration
        self.timeline = timeline
        self.poison = Poison()
        self.pairs: list[AgencyPair] = []
        self.max_pairs = max(10, len(load.cases) // 50)
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.agency_tokens: dict[str, str] = {}

    def schedule(self) -> list[tuple[float, str, Callable[[], None]]]:
        """(fraction of the load's duration, name, action). On a cluster a
        node stops where a single broker's proxy is cut; ``only_cluster``:
        that node stop alone, mid-stream (``make test-cluster``)."""
        node_stop = (0.30, f"cluster node {STOPPED_NODE} stops", self.node_stop)
        if self.only_cluster:
            return [node_stop]
        outage = (0.10, "broker unreachable", self.broker_outage)
        if self.stack.on_cluster:
            outage = (0.10, *node_stop[1:])
        return [
            (0.04, "poison messages", self.publish_poison),
            (0.06, "channels closed before ack", self.close_channels),
            outage,
            (0.15, "agencies act concurrently", self.agency_actions),
            (0.30, "channels closed before ack", self.close_channels),
            (0.33, "routing killed", lambda: self.kill_and_restart("routing")),
            (0.40, "SMS provider slow", self.sms_slow),
            (0.45, "intake killed", lambda: self.kill_and_restart("intake")),
            (0.52, "routing's database unreachable", self.database_outage),
            (0.62, "channels closed before ack", self.close_channels),
            (0.70, "notify killed mid-burst", self.notify_mid_burst),
            (0.82, "routing killed", lambda: self.kill_and_restart("routing")),
            (0.90, "channels closed before ack", self.close_channels),
        ]

    def start(self) -> None:
        """Start the schedule's clock (in its own thread)."""
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _run(self) -> None:
        for fraction, name, action in self.schedule():
            delay = fraction * self.duration - self.timeline.now()
            if delay > 0 and self._stop.wait(delay):
                return
            self.timeline.log(f"fault: {name}")
            thread = threading.Thread(target=self._guarded(name, action), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _guarded(self, name: str, action: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                action()
            except Exception as exc:  # the run goes on; the log says why
                self.timeline.log(f"fault {name} failed: {type(exc).__name__}: {exc}")

        return run

    def wait(self, timeout: float) -> None:
        """Until every fault has ended (outages restored, services back)."""
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.1, deadline - time.monotonic()))

    def stop(self) -> None:
        """Stop starting faults (those running finish)."""
        self._stop.set()

    # --- the faults -------------------------------------------------------------

    def broker_outage(self) -> None:
        """Every connection to RabbitMQ cut, none accepted, for 30 s."""
        proxy = self.stack.proxies["broker"]
        proxy.cut()
        time.sleep(BROKER_OUTAGE_SECONDS)
        proxy.restore()
        self.timeline.log("broker reachable again")

    def node_stop(self) -> None:
        """One cluster node's RabbitMQ stopped (``rabbitmqctl stop_app``: its
        clients' connections closed, its queue replicas gone) for 30 s, then
        started again; where the clients and the queue leaders went is
        logged."""
        self._cluster("stop-node", STOPPED_NODE)
        self.timeline.log(f"node {STOPPED_NODE} stopped")
        time.sleep(NODE_DOWN_SECONDS / 2)
        self.timeline.log(f"while it is down: {self._whereabouts()}")
        time.sleep(NODE_DOWN_SECONDS / 2)
        self._cluster("start-node", STOPPED_NODE)
        self.timeline.log(f"node {STOPPED_NODE} running again")

    def _cluster(self, *args: str) -> None:
        subprocess.run(
            [str(CLUSTER_SCRIPT), *args], check=True, timeout=120, capture_output=True
        )

    def _whereabouts(self) -> str:
        """Client connections and quorum queue leaders, by node."""
        connections: Counter[str] = Counter()
        leaders: Counter[str] = Counter()
        try:
            for connection in self.stack.vhost.get("connections"):
                connections[str(connection.get("node", "?")).split("@")[0]] += 1
            for queue in self.stack.vhost.queues():
                if queue.get("type") == "quorum":
                    leaders[str(queue.get("leader", "?")).split("@")[0]] += 1
        except Exception as exc:  # the management API itself: say so
            return f"cannot read the management API ({type(exc).__name__})"
        return (
            f"connections by node {dict(sorted(connections.items()))},"
            f" quorum queue leaders by node {dict(sorted(leaders.items()))}"
        )

    def database_outage(self) -> None:
        """routing's database unreachable for 45 s: its proxy cut on
        PostgreSQL; on SQLite an exclusive lock held on its file."""
        if "database" in self.stack.proxies:
            proxy = self.stack.proxies["database"]
            proxy.cut()
            time.sleep(DATABASE_OUTAGE_SECONDS)
            proxy.restore()
        else:
            assert self.stack.routing_lock is not None
            self.stack.routing_lock.hold()
            time.sleep(DATABASE_OUTAGE_SECONDS)
            self.stack.routing_lock.release()
        self.timeline.log("routing's database reachable again")

    def sms_slow(self) -> None:
        """The SMS gateway answers later than notify's client timeout."""
        self.stack.sms.slow(SMS_SLOW_SECONDS)
        time.sleep(SMS_SLOW_FOR_SECONDS)
        self.stack.sms.slow(0)
        self.timeline.log("SMS provider answers in time again")

    def kill_and_restart(self, service: str) -> None:
        """SIGKILL one process of ``service`` (one instance at random when
        there are several), then start it again as its supervisor would."""
        process = self._rng.choice(self.stack.instances(service))
        if process.name != service:
            self.timeline.log(f"{process.name} is the {service} instance killed")
        process.kill()
        time.sleep(RESTART_AFTER_SECONDS)
        self.restart(process.name)

    def restart(self, name: str) -> None:
        """Start the process ``name`` (a key of ``stack.services``) again,
        trying until it answers."""
        process = self.stack.services[name]
        for _ in range(5):
            try:
                process.start()
                self.timeline.log(f"{name} restarted")
                return
            except RuntimeError as exc:
                self.timeline.log(f"{name} failed to start: {str(exc)[-300:]}")
                process.kill()
                time.sleep(3)

    def notify_mid_burst(self) -> None:
        """A burst of cases, and notify killed while it plans and sends."""
        burst = self.load.burst(max(10, len(self.load.cases) // 20))
        self.timeline.log(f"burst of {burst} cases")
        time.sleep(1.5)
        self.kill_and_restart("notify")

    def close_channels(self) -> None:
        """Every client connection of the vhost closed by the broker: what
        consumers had received and not acked is delivered again."""
        closed = self.stack.vhost.close_connections("fault suite: redelivery")
        self.timeline.log(f"{closed} connection(s) closed by the broker")

    def publish_poison(self) -> None:
        """To one handler queue of every consuming service: an invalid
        envelope, an unknown schema version, a payload its schema refuses,
        and a body that is not JSON."""
        queues = [q["name"] for q in self.stack.vhost.queues()]
        # confirmed: unconfirmed messages published just before the
        # connection closes may never reach a quorum queue (seen: notify's
        # last three poison messages missing from its dead-letter queue)
        with kombu.Connection(
            self.stack.vhost.amqp_uri, transport_options={"confirm_publish": True}
        ) as connection:
            producer = kombu.Producer(connection.channel())
            for service in CONSUMERS:
                mine = sorted(
                    q
                    for q in queues
                    if q.startswith("evt-")
                    and q.split("--")[-1].startswith(f"{service}.")
                    and not q.endswith(".retry")
                )
                if not mine:
                    self.timeline.log(f"poison: no handler queue of {service}")
                    continue
                target = mine[0]
                event_type = target.split("--")[0].split("-", 2)[2]
                for kind, body, content_type in poison_bodies(event_type):
                    producer.publish(
                        body,
                        exchange="",
                        routing_key=target,
                        content_type=content_type,
                        content_encoding="utf-8",
                        delivery_mode=2,
                    )
                    self.poison.sent[service] += 1
                    self.poison.kinds[(service, kind)] += 1
        self.timeline.log(f"poison published: {dict(self.poison.sent)}")

    def agency_actions(self) -> None:
        """Agencies answer their referrals, two answers at once on one
        referral: accept + reject on pending ones, then resolve + reject on
        those accepted; until the load's 85 % mark."""
        for agency in AGENCIES:
            self.agency_tokens[agency] = self.stack.labornet(
                "token", "create", "--scope", "agency", "--agency", agency
            )
        touched: set[str] = set()
        agencies = itertools.cycle(self.agency_tokens.items())
        # spread over the run, through the outages and restarts
        pause = max(1.0, 0.7 * self.duration / self.max_pairs)
        until = 0.85 * self.duration
        while self.timeline.now() < until and len(self.pairs) < self.max_pairs:
            agency, token = next(agencies)
            # the instances running now: a pair's two answers race on two
            # live processes, not on one the schedule has just killed
            routing = [p.url for p in self.stack.instances("routing") if p.alive()]
            routing = routing or [self.stack.url("routing")]
            found = self._pending(routing, agency, token, touched)
            for referral_id in found:
                touched.add(referral_id)
                pair = self._race(
                    routing, referral_id, agency, token, ("accept", "reject")
                )
                if pair.statuses.get("accept") == 200:
                    self._race(
                        routing, referral_id, agency, token, ("resolve", "reject")
                    )
            # an agency with nothing pending does not use up the run's pairs'
            # time: the next one is asked a second later
            time.sleep(pause if found else 1.0)
        self.timeline.log(f"agencies sent {len(self.pairs)} concurrent pairs")

    def _pending(
        self, routing: list[str], agency: str, token: str, touched: set[str]
    ) -> list[str]:
        try:
            answer = requests.get(
                f"{self._rng.choice(routing)}/v1/referrals",
                params={"status": "pending", "limit": "5"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
        except requests.RequestException:
            return []
        if answer.status_code != 200:
            return []
        found = [str(r["id"]) for r in answer.json()["referrals"]]
        return [r for r in found if r not in touched][:1]

    def _race(
        self,
        routing: list[str],
        referral_id: str,
        agency: str,
        token: str,
        actions: tuple[str, str],
    ) -> AgencyPair:
        pair = AgencyPair(referral_id, agency, actions)
        barrier = threading.Barrier(len(actions))
        bodies = {
            "accept": {},
            "reject": {"reason": "not our office's matter (fault suite)"},
            "resolve": {"outcome": "resolved", "note": "paid in full"},
        }

        def send(action: str) -> None:
            # with several routing instances, each answer goes to another one
            base = routing[actions.index(action) % len(routing)]
            barrier.wait()
            try:
                answer = requests.post(
                    f"{base}/v1/referrals/{referral_id}/{action}",
                    json=bodies[action],
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=30,
                )
                pair.statuses[action] = answer.status_code
            except requests.RequestException:
                pair.statuses[action] = 0

        threads = [threading.Thread(target=send, args=(a,)) for a in actions]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.pairs.append(pair)
        return pair


def poison_bodies(event_type: str) -> list[tuple[str, str, str]]:
    """(kind, body, content type) of the four poison messages for a queue of
    ``event_type``."""
    now = datetime.now(UTC).isoformat()

    def envelope(version: int, payload: dict[str, Any]) -> str:
        return json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "event_type": event_type,
                "schema_version": version,
                "occurred_at": now,
                "correlation_id": POISON_MARK,
                "payload": payload,
            }
        )

    return [
        (
            "invalid envelope",
            json.dumps({POISON_MARK: "invalid envelope"}),
            "application/json",
        ),
        ("unknown schema version", envelope(99, {}), "application/json"),
        (
            "payload its schema refuses",
            envelope(1, {POISON_MARK: True}),
            "application/json",
        ),
        ("not JSON", f"{POISON_MARK}: {{not json", "application/json"),
    ]
