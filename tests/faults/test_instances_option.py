"""The fault suite's ``--instances`` option, without starting anything:
several processes of a service on one SQLite file is not a supported
deployment, so the suite refuses it at once, in one line, before it makes
a vhost, a database or a process (``make test-instances`` runs it on
PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
RUN = HERE / "fault_suite" / "run.py"
sys.path[:0] = [str(HERE), str(HERE.parent / "bench")]

from fault_suite.driver import parse_args  # noqa: E402


def _suite(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LABORNET_TEST_DB_URL"}
    return subprocess.run(
        [sys.executable, str(RUN), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_several_instances_on_sqlite_are_refused_with_a_reason() -> None:
    done = _suite("--instances", "2", "--db", "sqlite", "--max-seconds", "30")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--instances above 1 needs PostgreSQL" in done.stderr
    assert "not a supported deployment" in done.stderr
    # refused before anything started: no progress line, no vhost
    assert "fault suite:" not in done.stdout
    assert "vhost" not in done.stdout


def test_sqlite_is_the_default_without_a_test_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LABORNET_TEST_DB_URL", raising=False)
    with pytest.raises(SystemExit) as refused:
        parse_args(["--instances", "2"])
    assert refused.value.code == 2


def test_one_instance_is_the_default_and_postgresql_takes_several() -> None:
    assert parse_args(["--db", "sqlite"]).instances == 1
    several = parse_args(["--instances", "2", "--db", "postgresql://u@h/test"])
    assert several.instances == 2
    with pytest.raises(SystemExit):
        parse_args(["--instances", "0", "--db", "postgresql://u@h/test"])


def test_the_stack_itself_refuses_several_instances_on_sqlite(tmp_path: Path) -> None:
    from fault_suite.stack import INSTANCES_NEED_POSTGRESQL, Stack

    with pytest.raises(ValueError) as refused:
        Stack("sqlite", tmp_path, "amqp://guest:guest@127.0.0.1:5672/", "", 2)
    assert str(refused.value) == INSTANCES_NEED_POSTGRESQL


class _Process:
    """A stand-in for one service process: records kills and starts."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.service = name.partition(".")[0]
        self.url = f"http://{name}"
        self.events: list[str] = []

    def kill(self) -> None:
        self.events.append("kill")

    def start(self) -> None:
        self.events.append("start")


class _Stack:
    def __init__(self, names: list[str]) -> None:
        self.services = {name: _Process(name) for name in names}

    def instances(self, service: str) -> list[_Process]:
        return [p for p in self.services.values() if p.service == service]


def test_a_kill_takes_one_instance_and_restarts_that_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fault_suite import faults

    monkeypatch.setattr(faults, "RESTART_AFTER_SECONDS", 0)
    stack = _Stack(["intake.1", "intake.2", "routing.1", "routing.2"])
    load = type("Load", (), {"cases": [None] * 100})()
    schedule = faults.Faults(
        stack,
        load,
        160.0,
        faults.Timeline(),
        seed=3,
    )
    killed = set()
    for _ in range(12):
        schedule.kill_and_restart("routing")
        hit = [p for p in stack.instances("routing") if p.events]
        # one instance at a time, started again; the other never touched
        assert len(hit) == 1 and hit[0].events == ["kill", "start"]
        killed.add(hit[0].name)
        hit[0].events.clear()
    assert killed == {"routing.1", "routing.2"}  # at random, not always one
    assert all(not p.events for p in stack.instances("intake"))
