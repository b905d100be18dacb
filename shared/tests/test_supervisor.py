"""``make run``'s supervisor keeps the platform up: a service that exits is
started again, with a capped backoff, and says so; Ctrl-C stops everything.

issue 12: when intake died, the supervisor stopped every service, and cases
were refused until a person restarted the platform.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from labornet_shared.config import DEVELOPMENT_TOKEN_SECRET
from labornet_shared.consumer import ReliableQueueConsumer
from labornet_shared.ops.supervisor import Supervision
from labornet_shared.tokens import issue_token
from labornet_testkit.harness import (
    MANAGEMENT_URL,
    ChildProcess,
    free_port,
    repo_root,
    run_labornet,
    wait_until,
)

LABORNET = str(Path(sys.executable).with_name("labornet"))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_service_that_keeps_exiting_is_restarted_with_a_capped_backoff() -> None:
    clock, lines = Clock(), []
    exits = [sys.executable, "-c", "raise SystemExit(3)"]
    supervision = Supervision(
        {"crasher": exits}, dict(os.environ), clock=clock, say=lines.append
    )
    supervision.start()
    waits = []
    try:
        for _ in range(8):
            supervision.processes()["crasher"].wait(timeout=30)
            supervision.poll()
            assert lines[-1].startswith("crasher exited (status 3); restarting in ")
            waits.append(lines[-1].rsplit(" in ", 1)[1])
            clock.now += float(waits[-1].split()[0])
            supervision.poll()
            assert lines[-1] == "crasher restarted"
        # a run that lasted a while was healthy: the next wait starts over
        supervision.processes()["crasher"].wait(timeout=30)
        clock.now += 120
        supervision.poll()
        waits.append(lines[-1].rsplit(" in ", 1)[1])
    finally:
        supervision.stop()
    assert waits == ["1 s", "2 s", "4 s", "8 s", "16 s", "30 s", "30 s", "30 s", "1 s"]


def healthy(port: int) -> bool:
    """Whether the service on ``port`` answers /healthz."""
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok
    except requests.RequestException:
        return False


def listening_on(port: int) -> set[str]:
    """The local addresses with a socket listening on TCP ``port`` (Linux)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if state == "0A" and int(hex_port, 16) == port:  # LISTEN
                if len(address) == 8:  # IPv4, little-endian
                    found.add(".".join(str(b) for b in bytes.fromhex(address)[::-1]))
                else:
                    found.add(f"ipv6:{address}")
    return found


def children(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


@pytest.mark.parametrize(
    "stop",
    # SIGINT, and what a process manager or an IDE's stop button sends
    [signal.SIGINT, signal.SIGTERM],
    ids=["SIGINT", "SIGTERM"],
)
def test_make_run_on_loopback_with_its_own_secrets_restarts_a_killed_service(
    broker: dict[str, Any], tmp_path: Path, stop: signal.Signals
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABORNET_")}
    env.update(
        LABORNET_ALLOW_DEVELOPMENT_SECRETS="false",
        LABORNET_ROOT=str(repo_root()),
        LABORNET_AMQP_URI=broker["AMQP_URI"],
        LABORNET_RABBIT_MANAGEMENT_URL=MANAGEMENT_URL,
        LABORNET_REGISTRY_DB=f"sqlite:///{tmp_path / 'registry.db'}",
        LABORNET_REGISTRY_PORT=str(port),
        # no secret set: make run makes this checkout's own, once
        LABORNET_SECRETS_FILE=str(tmp_path / "secrets.env"),
        LABORNET_LOG_LEVEL="WARNING",
    )
    platform = ChildProcess("run", [LABORNET, "run", "registry"], tmp_path, env)
    services: list[int] = []  # killed at the end should the supervisor fail to
    try:
        wait_until(lambda: healthy(port), timeout=60)
        # loopback only, as the URL it prints says
        assert f"registry: http://127.0.0.1:{port}/" in platform.logs()
        assert listening_on(port) == {"127.0.0.1"}
        # the token `labornet token create` prints works against make run
        created = run_labornet(
            "token",
            "create",
            "--scope",
            "operator",
            LABORNET_SECRETS_FILE=env["LABORNET_SECRETS_FILE"],
            LABORNET_ALLOW_DEVELOPMENT_SECRETS="false",
        )
        assert created.returncode == 0, created.stderr
        for token, status in (
            (created.stdout.strip(), 200),
            (issue_token(DEVELOPMENT_TOKEN_SECRET, "operator"), 401),
        ):
            answer = requests.get(
                f"http://127.0.0.1:{port}/v1/agents",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert answer.status_code == status, answer.text
        (first,) = children(platform.proc.pid)
        services.append(first)
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: "restarting in 1 s" in platform.logs(), timeout=30)
        assert "registry exited (killed by SIGKILL)" in platform.logs()
        wait_until(lambda: healthy(port), timeout=60)
        (second,) = children(platform.proc.pid)
        services.append(second)
        assert second != first
        assert platform.alive(), platform.logs()

        platform.signal(stop)
        time.sleep(0.2)
        platform.signal(stop)  # pressed twice: the stop still completes
        assert platform.proc.wait(timeout=30) == 0, platform.logs()
        assert not Path(f"/proc/{second}").exists() or _zombie(second)
        assert not healthy(port)
        assert_stopped_cleanly(platform)
    finally:
        platform.kill()
        for pid in services:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("when", ["starting", "running"])
def test_ctrl_c_at_a_terminal_stops_a_service_with_timers_once_and_cleanly(
    broker: dict[str, Any], tmp_path: Path, when: str
) -> None:
    """Ctrl-C at a terminal sends SIGINT to the whole foreground process
    group. Services once got it as well as the supervisor's SIGTERM: routing
    (its SLA timer) was stopped twice — `AssertionError: Trying to re-send()
    an already-triggered event` — and hung until killed after 10 s. Pressed
    while routing starts, its handlers, stopped before they consumed, raised
    the same error."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABORNET_")}
    env.update(
        LABORNET_ROOT=str(repo_root()),
        LABORNET_AMQP_URI=broker["AMQP_URI"],
        LABORNET_RABBIT_MANAGEMENT_URL=MANAGEMENT_URL,
        LABORNET_ROUTING_DB=f"sqlite:///{tmp_path / 'routing.db'}",
        LABORNET_ROUTING_PORT=str(port),
        LABORNET_SECRETS_FILE=str(tmp_path / "secrets.env"),
        LABORNET_LOG_LEVEL="WARNING",
    )
    platform = ChildProcess("run", [LABORNET, "run", "routing"], tmp_path, env)
    services: list[int] = []
    try:
        if when == "starting":
            wait_until(lambda: "Ctrl-C stops" in platform.logs(), timeout=120)
            time.sleep(3)  # nameko imported, its extensions starting
        else:
            wait_until(lambda: healthy(port), timeout=120)
        services += children(platform.proc.pid)
        # the test started it as its own session: its group is its pid
        os.killpg(platform.proc.pid, signal.SIGINT)
        assert platform.proc.wait(timeout=30) == 0, platform.logs()
        assert not healthy(port)
        assert_stopped_cleanly(platform)
    finally:
        platform.kill()
        for pid in services:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_handlers_stopped_before_they_consume_are_gone_once() -> None:
    """The window a real Ctrl-C hits only sometimes: every handler of a
    service stopping before its queue consumer is ready."""
    consumer = ReliableQueueConsumer()
    for handler in (object(), object(), object()):
        consumer.unregister_provider(handler)
    assert consumer._last_provider_unregistered.ready()


def assert_stopped_cleanly(platform: ChildProcess) -> None:
    """Each service stopped within the grace, once, and no traceback."""
    output = platform.stdout.read_text() + platform.stderr.read_text()
    assert "Traceback" not in output, output
    assert "did not stop" not in output, output
    assert output.count("labornet: stopped") == 1, output


def _zombie(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    return "\nState:\tZ" in status
