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
