"""The load: field agents registered first, then realistic cases posted to
intake at a steady rate, as citizens, field agents and anonymous people
would post them.

The cases are the benches' (``bench_intake.make_payloads``: the seeded
``case_payload`` generator). Each citizen gets a phone number of their own,
so what the fake SMS gateway received can be counted per case. A case that
gets no answer, a 5xx or a 429 is posted again with the same
``Idempotency-Key`` (as a field agent's phone on a weak network does) until
it is accepted or its time is up; a 4xx is a refusal. With several intake
instances the cases are spread over them, and a re-post goes to the next
instance (as a gateway would send it), so the ``Idempotency-Key`` is
honoured across processes.
"""

from __future__ import annotations

import json
import queue
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests
from bench_intake import make_payloads

from labornet_testkit.harness import SUBDISTRICTS

from .stack import Stack, say

#: a case is posted again for this long after its first try
RETRY_SECONDS = 120.0
WORKERS = 8


@dataclass
class Agent:
    """A field agent registered through registry for one subdistrict."""

    id: str
    subdistrict: str
    line_user_id: str
    token: str


@dataclass
class Submission:
    """One case the load posts, and what intake answered."""

    index: int
    kind: str  # citizen | agent | anonymous
    body: dict[str, Any]
    agent: Agent | None = None
    reference: str | None = None
    tries: int = 0
    answers: list[int] = field(default_factory=list)  # status, 0 = no answer
    refused: str | None = None
    served_by: int | None = None  # which intake instance answered 201

    @property
    def channel(self) -> str | None:
        """How the citizen wants news (sms, line), if there is a citizen."""
        citizen = self.body.get("citizen")
        return str(citizen["contact_channel"]) if citizen else None

    @property
    def address(self) -> str | None:
        """Where the provider fakes see the citizen's messages: the SMS
        gateway's number form, or the LINE user id."""
        citizen = self.body.get("citizen")
        if not citizen:
            return None
        if citizen["contact_channel"] == "line":
            return str(citizen["line_user_id"])
        return "66" + str(citizen["phone"])[1:]

    @property
    def subdistrict(self) -> str:
        """Where the case happened."""
        return str(self.body["location"]["subdistrict_code"])


def register_agents(stack: Stack, operator: str) -> list[Agent]:
    """One field agent per subdistrict the cases use, on LINE, through
    registry's API; each with an agent token from ``labornet token create``."""
    from labornet_testkit.registry import agent_payload

    rng = random.Random(12)
    registries = [p.url for p in stack.instances("registry")]
    agents = []
    for number, subdistrict in enumerate(SUBDISTRICTS):
        registry = registries[number % len(registries)]
        line_user_id = f"U{uuid.uuid4().hex}"
        body = agent_payload(
            rng,
            line_user_id=line_user_id,
            areas=[
                {
                    "province_code": f"TH-{subdistrict[:2]}",
                    "subdistrict_code": subdistrict,
                }
            ],
        )
        answer = requests.post(
            f"{registry}/v1/agents",
            json=body,
            headers={"Authorization": f"Bearer {operator}"},
            timeout=30,
        )
        answer.raise_for_status()
        agent_id = str(answer.json()["id"])
        token = stack.labornet(
            "token", "create", "--scope", "agent", "--agent-id", agent_id
        )
        agents.append(Agent(agent_id, subdistrict, line_user_id, token))
    return agents


def subscribe_webhook(stack: Stack, operator: str, agency: str) -> str:
    """An agency system without AMQP subscribes to its referrals through
    notify; the fake receiver verifies with the secret notify made."""
    answer = requests.post(
        f"{stack.url('notify')}/v1/subscriptions",
        json={
            "url": f"http://127.0.0.1:{stack.proxies['webhook'].port}/hooks",
            "agency": agency,
        },
        headers={"Authorization": f"Bearer {operator}"},
        timeout=30,
    )
    answer.raise_for_status()
    stack.webhooks.set_secrets([answer.json()["secret"]])
    return str(answer.json()["id"])


def plan_cases(count: int, agents: list[Agent], seed: int) -> list[Submission]:
    """``count`` cases: 1 in 10 anonymous, 2 in 10 from a field agent, the
    rest from citizens who want news by SMS, but 1 in 10 by LINE."""
    cases = []
    for index, raw in enumerate(make_payloads(seed, count)):
        body = json.loads(raw)
        slot = index % 10
        if slot == 0:
            body.pop("citizen")
            body.pop("consent")
            cases.append(Submission(index, "anonymous", body))
            continue
        body["citizen"]["phone"] = f"08{10_000_000 + index}"
        body["citizen"]["contact_channel"] = "sms"
        if slot == 3:
            body["citizen"]["contact_channel"] = "line"
            body["citizen"]["line_user_id"] = f"U{index:032x}"
        if slot in (1, 2):
            agent = agents[index % len(agents)]
            cases.append(Submission(index, "agent", body, agent=agent))
        else:
            cases.append(Submission(index, "citizen", body))
    return cases


class Load:
    """Posts ``cases`` at ``rate`` per second from a few worker threads;
    :meth:`burst` adds cases at once."""

    def __init__(
        self, stack: Stack, cases: list[Submission], planned: int, rate: float
    ) -> None:
        self.urls = [f"{p.url}/v1/cases" for p in stack.instances("intake")]
        self.cases = cases
        self.planned = planned  # the steady part; the rest is for bursts
        self.rate = rate
        self.run_id = uuid.uuid4().hex[:8]
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._next_burst = planned
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.done = threading.Event()

    def start(self) -> None:
        """Start the pacer and the workers."""
        self._threads = [
            threading.Thread(target=self._work, daemon=True) for _ in range(WORKERS)
        ]
        for thread in self._threads:
            thread.start()
        pacer = threading.Thread(target=self._pace, daemon=True)
        pacer.start()
        self._pacer = pacer

    def _pace(self) -> None:
        start = time.monotonic()
        for index in range(self.planned):
            delay = start + index / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._queue.put(index)

    def burst(self, count: int) -> int:
        """Post up to ``count`` more cases at once; returns how many."""
        with self._lock:
            first = self._next_burst
            last = min(len(self.cases), first + count)
            self._next_burst = last
        for index in range(first, last):
            self._queue.put(index)
        return last - first

    def wait(self, timeout: float) -> bool:
        """Until every queued case is answered for good (or the timeout)."""
        self._pacer.join(timeout)
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.2)
        for _ in self._threads:
            self._queue.put(None)
        self.done.set()
        return not self._queue.unfinished_tasks

    def _work(self) -> None:
        session = requests.Session()
        while True:
            index = self._queue.get()
            try:
                if index is None:
                    return
                self._post(session, self.cases[index])
            finally:
                self._queue.task_done()

    def _post(self, session: requests.Session, case: Submission) -> None:
        headers = {"Idempotency-Key": f"faults-{self.run_id}-{case.index}"}
        if case.agent is not None:
            headers["Authorization"] = f"Bearer {case.agent.token}"
        give_up = time.monotonic() + RETRY_SECONDS
        while time.monotonic() < give_up:
            # spread over the intake instances; a re-post goes to the next
            instance = (case.index + case.tries) % len(self.urls)
            url = self.urls[instance]
            case.tries += 1
            try:
                answer = session.post(url, json=case.body, headers=headers, timeout=20)
            except requests.RequestException:
                case.answers.append(0)
                time.sleep(1.0)
                continue
            case.answers.append(answer.status_code)
            if answer.status_code == 201:
                case.reference = str(answer.json()["reference"])
                case.served_by = instance
                return
            if answer.status_code < 500 and answer.status_code != 429:
                case.refused = f"{answer.status_code} {answer.text[:200]}"
                say(f"load: case {case.index} refused: {case.refused}")
                return
            time.sleep(1.0)
        case.refused = "no 201 within the retry time"

    def accepted(self) -> list[Submission]:
        """The cases intake answered 201."""
        return [c for c in self.cases if c.reference is not None]

    def posted(self) -> list[Submission]:
        """The cases the load tried to post."""
        return [c for c in self.cases if c.tries]
