"""``make run``: every service of the checkout as local processes.

Checks the broker first (one line and a hint, never a traceback), migrates
the SQLite databases under ``var/``, declares the topology, starts each
service with ``nameko run`` (its outbox relay runs inside it), prints the
URLs and stops everything on Ctrl-C — escalating to SIGKILL, since an idle
nameko process may sit on SIGTERM until its next request.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from labornet_shared.config import (
    DEVELOPMENT_PEPPER,
    DEVELOPMENT_TOKEN_SECRET,
    load_service_config,
    repo_root,
)

STOP_GRACE_SECONDS = 10


def _say(message: str) -> None:
    print(f"labornet: {message}", flush=True)


def run_platform(services: list[str]) -> int:
    """Run until Ctrl-C; returns the exit status."""
    from labornet_shared.broker import BrokerUnavailable, check_broker, declare_topology
    from labornet_shared.cli import (
        _amqp_uri,
        _management_url,
        _setting,
        migrate_service,
    )

    amqp_uri = _amqp_uri()
    try:
        version = check_broker(amqp_uri)
    except BrokerUnavailable:
        _say(
            f"RabbitMQ is not reachable at {amqp_uri.split('@')[-1]} — start it "
            "(`sudo systemctl start rabbitmq-server` or `rabbitmq-server -detached`, "
            "then `rabbitmq-plugins enable rabbitmq_management`) "
            "or set LABORNET_AMQP_URI."
        )
        return 1
    if _setting("TOKEN_SECRET", DEVELOPMENT_TOKEN_SECRET) == DEVELOPMENT_TOKEN_SECRET:
        _say("warning: using the development token secret; set LABORNET_TOKEN_SECRET")
    if _setting("TRACKING_CODE_PEPPER", DEVELOPMENT_PEPPER) == DEVELOPMENT_PEPPER:
        _say(
            "warning: using the development tracking-code pepper; "
            "set LABORNET_TRACKING_CODE_PEPPER"
        )
    (repo_root() / "var").mkdir(exist_ok=True)
    for service in services:
        migrate_service(service)
    try:
        declare_topology(amqp_uri, _management_url())
    except BrokerUnavailable:
        _say(
            "RabbitMQ's management API is not reachable — run "
            "`rabbitmq-plugins enable rabbitmq_management` or set "
            "LABORNET_RABBIT_MANAGEMENT_URL."
        )
        return 1
    processes: dict[str, subprocess.Popen[bytes]] = {}
    nameko = os.path.join(os.path.dirname(sys.executable), "nameko")
    development = {
        # an agency's webhook endpoint may be a local system on
        # http://127.0.0.1 (never in production)
        "LABORNET_NOTIFY_WEBHOOK_ALLOW_LOCAL": "true",
    }
    if "intake" in services:
        # the messages' links open intake's pages here, in the message's
        # language: following the case, the closing message's rate-us, and
        # a field agent's case link
        intake = f"http://127.0.0.1:{_port('intake')}"
        development["LABORNET_NOTIFY_FOLLOW_URL"] = (
            f"{intake}/t/<reference>?lang=<language>"
        )
        development["LABORNET_NOTIFY_FEEDBACK_URL"] = (
            f"{intake}/f/<reference>?t=<token>&lang=<language>"
        )
        development["LABORNET_NOTIFY_CASE_URL"] = (
            f"{intake}/a/<reference>?t=<token>&lang=<language>"
        )
    for service in services:
        config_path = repo_root() / "services" / service / "config.yml"
        processes[service] = subprocess.Popen(  # noqa: S603 - our own nameko
            [
                nameko,
                "run",
                "--config",
                str(config_path),
                f"labornet_{service}.service",
            ],
            cwd=repo_root(),
            # eventlet's and pkg_resources' start-up warnings are not JSON
            env={
                # the development settings, unless the environment sets them
                **development,
                **os.environ,
                "PYTHONWARNINGS": "ignore",
            },
        )
        _say(f"{service}: http://127.0.0.1:{_port(service)}/  (openapi: /openapi.json)")
    _say(
        f"RabbitMQ {version}, management: http://127.0.0.1:15672/"
        " — Ctrl-C stops everything"
    )
    status = 0
    try:
        while True:
            for service, process in processes.items():
                if process.poll() is not None:
                    _say(f"{service} exited with status {process.returncode}; stopping")
                    status = 1
                    raise KeyboardInterrupt
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        _stop(processes)
    return status


def _port(service: str) -> str:
    """The port a service listens on, as its config (and environment) say."""
    address = str(load_service_config(service)["WEB_SERVER_ADDRESS"])
    return address.rsplit(":", 1)[-1]


def _stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for service, process in processes.items():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _say(f"{service} did not stop in {STOP_GRACE_SECONDS}s; killing it")
            process.kill()
            process.wait()
    _say("stopped")
