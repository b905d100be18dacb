"""A broker drop while an RPC reply is sent must not kill the service.

issue 12: intake died when its connection to RabbitMQ dropped just as it
replied to notify's contact request, and every later submission was refused
until a person restarted it. Here an RPC service runs as its own process
(``nameko run``) behind a TCP proxy in front of RabbitMQ; the proxy is cut
while the service holds a request, so its reply meets a dead broker. The
process must stay alive, and once the broker is back it answers — the held
request (left unacked, so redelivered) and a new call alike.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path
from typing import Any

from nameko.exceptions import UnknownService
from nameko.standalone.rpc import ServiceRpcProxy

from labornet_testkit.harness import (
    ChildProcess,
    TcpProxy,
    amqp_through,
    repo_root,
    wait_until,
)

NAMEKO = str(Path(sys.executable).parent / "nameko")

SERVICE = '''
"""An RPC service that holds a request until the test lets it go."""

import os
import time

from labornet_shared.rpc import rpc

HELD = os.environ["TEST_HELD_FILE"]
RELEASE = os.environ["TEST_RELEASE_FILE"]


class Holder:
    name = "holder"

    @rpc
    def echo(self, value, hold=False):
        if hold and not os.path.exists(RELEASE):
            open(HELD, "w").close()
            deadline = time.monotonic() + 30
            while not os.path.exists(RELEASE) and time.monotonic() < deadline:
                time.sleep(0.05)
        return value
'''


def answers(holder: Any) -> bool:
    """Whether the service consumes its queue yet."""
    try:
        return bool(holder.echo("ready") == "ready")
    except UnknownService:  # its queue is not declared yet
        return False


def gave_up(service: ChildProcess) -> bool:
    """Whether the service is done with the reply it could not send."""
    logs = service.logs()
    return (
        not service.alive()
        or "reply not sent" in logs
        or "killing <ServiceContainer" in logs
    )


def test_a_reply_on_a_dropped_connection_leaves_the_service_running(
    broker: dict[str, Any], broker_proxy: TcpProxy, tmp_path: Path
) -> None:
    (tmp_path / "holder_service.py").write_text(textwrap.dedent(SERVICE))
    held, release = tmp_path / "held", tmp_path / "release"
    config = tmp_path / "config.yml"
    config.write_text(
        f"AMQP_URI: {amqp_through(broker['AMQP_URI'], broker_proxy.port)}\n"
        "serializer: json\n"
        # a dead broker is noticed within seconds, not minutes
        "HEARTBEAT: 2\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(tmp_path), os.environ.get("PYTHONPATH", "")]
        ),
        "PYTHONWARNINGS": "ignore",
        "LABORNET_ROOT": str(repo_root()),
        "TEST_HELD_FILE": str(held),
        "TEST_RELEASE_FILE": str(release),
    }
    argv = [NAMEKO, "run", "--config", str(config), "holder_service"]
    service = ChildProcess("holder", argv, tmp_path, env)
    # the caller reaches RabbitMQ directly: only the service's side is cut
    caller_config = {"AMQP_URI": broker["AMQP_URI"], "serializer": "json"}
    try:
        with ServiceRpcProxy("holder", caller_config, timeout=30) as holder:
            wait_until(lambda: answers(holder), timeout=30)
            pending = holder.echo.call_async("held", hold=True)
            wait_until(held.exists, timeout=10)
            broker_proxy.cut()
            release.touch()
            # until the reply's publish gave up on the dead broker (before
            # the fix, nameko killed the container for it: the process then
            # exits once it can say goodbye to the broker)
            wait_until(lambda: gave_up(service), timeout=60)
            assert service.alive(), service.logs()
            broker_proxy.restore()
            assert pending.result() == "held"
            assert holder.echo("after") == "after"
            assert service.alive(), service.logs()
    finally:
        service.kill()
