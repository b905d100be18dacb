"""``make run`` refuses, in one line and before it migrates anything, what a
newcomer hit: a port an earlier run's leftovers still hold (SO_REUSEPORT let
two intakes share one), a vhost that does not exist (once "RabbitMQ is not
reachable"), a broker without its management plugin. And the service's
access log keeps probes out of INFO.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from labornet_shared import http
from labornet_shared.ops import management_plugin, ports
from labornet_testkit.harness import free_port, run_labornet

HOLDER = """
import socket, sys, time
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
sock.bind(("127.0.0.1", int(sys.argv[1])))
sock.listen()
print("listening", flush=True)
time.sleep(120)
"""


def run_registry(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``labornet run registry`` on its own database under ``tmp_path``."""
    settings = {
        "LABORNET_REGISTRY_DB": f"sqlite:///{tmp_path / 'registry.db'}",
        "LABORNET_REGISTRY_PORT": str(free_port()),
        "LABORNET_SECRETS_FILE": str(tmp_path / "secrets.env"),
        **env,
    }
    return run_labornet("run", "registry", timeout=120, **settings)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The only line a refused run printed (and no traceback)."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    lines = output.splitlines()
    assert len(lines) == 1, output
    return lines[0]


def test_a_second_run_beside_a_process_on_the_port_refuses_naming_it(
    broker: dict[str, Any], tmp_path: Path
) -> None:
    port = free_port()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "listening"
        result = run_registry(
            tmp_path,
            LABORNET_REGISTRY_PORT=str(port),
            LABORNET_AMQP_URI=broker["AMQP_URI"],
        )
        assert result.returncode == 1
        line = one_line(result)
        assert f"registry's port 127.0.0.1:{port} already answers" in line
        assert f"pid {holder.pid} (" in line
        assert "(-c import socket, sys, time sock = socket.socket()" in line
        assert "LABORNET_REGISTRY_PORT" in line
        # refused before migrating: no database was made
        assert not (tmp_path / "registry.db").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_listener_this_user_cannot_see_is_named_by_its_port_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert ports.answers("127.0.0.1", port)
        mine = ports.holders(port)
        assert os.getpid() in dict(mine)
        # no /proc to read and no ss: what is left is the port
        monkeypatch.setenv("PATH", str(tmp_path))
        assert ports.holders(port, proc=tmp_path) == []
        assert ports.describe(port, proc=tmp_path) == "a process this user cannot see"
    assert not ports.answers("127.0.0.1", port)


def test_a_wrong_vhost_is_named_with_its_user(
    broker: dict[str, Any], tmp_path: Path
) -> None:
    # RabbitMQ checks the login first: the right password, a wrong vhost
    result = run_registry(
        tmp_path, LABORNET_AMQP_URI="amqp://guest:guest@127.0.0.1:5672/nosuchhost"
    )
    assert result.returncode == 1
    line = one_line(result)
    assert "no vhost 'nosuchhost' that user 'guest' may use" in line
    assert "not reachable" not in line
    assert not (tmp_path / "registry.db").exists()


def test_a_wrong_password_is_a_refused_user_not_an_unreachable_broker(
    broker: dict[str, Any], tmp_path: Path
) -> None:
    result = run_registry(
        tmp_path, LABORNET_AMQP_URI="amqp://guest:s3cret-pw@127.0.0.1:5672/"
    )
    assert result.returncode == 1
    line = one_line(result)
    assert "refused user 'guest'" in line
    assert "s3cret-pw" not in line


def test_no_management_api_is_one_line_of_advice_before_migrating(
    broker: dict[str, Any], tmp_path: Path
) -> None:
    closed = free_port()
    result = run_registry(
        tmp_path,
        LABORNET_AMQP_URI=broker["AMQP_URI"],
        LABORNET_RABBIT_MANAGEMENT_URL=f"http://guest:s3cret-pw@127.0.0.1:{closed}",
        # a machine without rabbitmq-plugins: only advice is possible
        PATH=str(Path(sys.executable).parent) + ":/usr/bin:/bin",
    )
    assert result.returncode == 1
    line = one_line(result)
    assert f"management API does not answer at http://127.0.0.1:{closed}/" in line
    assert "rabbitmq-plugins enable rabbitmq_management" in line
    assert "s3cret-pw" not in line
    assert not (tmp_path / "registry.db").exists()


def fake_plugins_tool(folder: Path, *, enable_status: int) -> Path:
    """A ``rabbitmq-plugins`` that lists nothing enabled and records each
    call in ``calls.txt`` beside it."""
    tool = folder / "rabbitmq-plugins"
    tool.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {folder / "calls.txt"}\n'
        'if [ "$1" = enable ]; then echo "Error: node down" >&2; '
        f"exit {enable_status}; fi\n"
    )
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    return tool


@pytest.mark.skipif(os.geteuid() != 0, reason="enabling is for root or rabbitmq")
def test_a_local_broker_without_the_plugin_gets_it_enabled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_plugins_tool(tmp_path, enable_status=0)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    url = f"http://guest:guest@127.0.0.1:{free_port()}"
    said: list[str] = []
    assert not management_plugin.ensure(url, said.append, wait_seconds=1)
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert calls == ["list --enabled --minimal", "enable rabbitmq_management"]
    assert said[0] == (
        "enabling RabbitMQ's management plugin: "
        "rabbitmq-plugins enable rabbitmq_management"
    )
    # the fake enables nothing: the port stays closed, and it says so
    assert said[1].startswith("enabled RabbitMQ's management plugin, but nothing")
    assert len(said) == 2


@pytest.mark.skipif(os.geteuid() != 0, reason="enabling is for root or rabbitmq")
def test_a_failing_enable_is_one_line_with_rabbitmqs_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_plugins_tool(tmp_path, enable_status=2)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    said: list[str] = []
    url = f"http://guest:guest@localhost:{free_port()}"
    assert not management_plugin.ensure(url, said.append, wait_seconds=1)
    assert said[-1] == (
        "`rabbitmq-plugins enable rabbitmq_management` failed: Error: node down"
        " — run it yourself, then `make run`"
    )


def test_probes_are_logged_at_debug_and_requests_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="labornet.http")
    for route, status in (
        ("/healthz", 200),
        ("/readyz", 200),
        ("/metrics", 200),
        ("/v1/cases", 201),
        ("/readyz", 503),
    ):
        request = Request(EnvironBuilder(method="GET", path=route).get_environ())
        http._observe(None, request, route, status, 0.001, service="test")
    levels = [(r.getMessage().split()[1], r.levelname) for r in caplog.records]
    assert levels == [
        ("/healthz", "DEBUG"),
        ("/readyz", "DEBUG"),
        ("/metrics", "DEBUG"),
        ("/v1/cases", "INFO"),
        ("/readyz", "WARNING"),  # a failing probe is still worth a line
    ]
