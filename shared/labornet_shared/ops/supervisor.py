"""``make run``: every service of the checkout as local processes.

Refuses to start beside a process already on a service's port, checks the
broker and its management plugin (one line and a hint, never a traceback),
migrates the SQLite databases under ``var/``, declares the topology, starts
each service with ``nameko run`` (its outbox relay runs inside it) in its own
process group, prints the URLs, restarts a service that exits (with backoff,
saying so) and, on Ctrl-C or SIGTERM, sends each service one SIGTERM —
escalating to SIGKILL after 10 s.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from labornet_shared.config import load_service_config, repo_root
from labornet_shared.local_secrets import SECRET_VARIABLES, local_secrets, secrets_file
from labornet_shared.ops import installation, management_plugin, ports

STOP_GRACE_SECONDS = 10
PR_SET_PDEATHSIG = 1  # prctl(2)
# a service that exits is started again after 1 s, then 2, 4 … at most 30 s
# while it keeps exiting; a run of a minute counts as healthy again
RESTART_FIRST_SECONDS = 1.0
RESTART_MAX_SECONDS = 30.0
RESTART_STABLE_SECONDS = 60.0


def _say(message: str) -> None:
    print(f"labornet: {message}", flush=True)


def run_platform(services: list[str]) -> int:
    """Run until Ctrl-C (or SIGTERM); returns the exit status."""
    if _ports_taken(services):
        return 1
    amqp_uri = installation.amqp_uri()
    version = _broker_version(amqp_uri)
    if version is None:
        return 1
    management = installation.management_url()
    if not management_plugin.ensure(management, _say):
        return 1
    secrets = _platform_secrets()
    if not _migrate_and_declare(services, amqp_uri, management):
        return 1
    nameko = os.path.join(os.path.dirname(sys.executable), "nameko")
    environment = _service_environment(services, secrets)
    supervision = Supervision(
        {service: _service_command(nameko, service) for service in services},
        environment,
    )
    return _supervise(supervision, services, version, management)


def _ports_taken(services: list[str]) -> bool:
    """Whether a service's port already answers (having said which)."""
    # before anything is migrated or started: leftovers of an earlier run
    # would share the ports (SO_REUSEPORT) and the databases without a word
    for service in services:
        host, port = _address(service)
        if ports.answers(host, port):
            _say(
                f"{service}'s port {host}:{port} already answers, held by "
                f"{ports.describe(port)} — stop it (an earlier `make run`?) "
                f"or set LABORNET_{service.upper()}_PORT; not starting"
            )
            return True
    return False


def _broker_version(amqp_uri: str) -> str | None:
    """RabbitMQ's version, or None when it refuses or does not answer (having
    said what to do)."""
    from labornet_shared.broker import BrokerRefused, BrokerUnavailable, check_broker

    broker_at = amqp_uri.split("@")[-1]
    try:
        return check_broker(amqp_uri)
    except BrokerRefused as exc:
        if exc.reason == "vhost":
            _say(
                f"RabbitMQ at {broker_at} has no vhost {exc.vhost!r} that user "
                f"{exc.user!r} may use (it does not exist, or access is "
                f"refused) — `sudo rabbitmqctl add_vhost {exc.vhost}` and "
                f"`sudo rabbitmqctl set_permissions -p {exc.vhost} {exc.user} "
                "'.*' '.*' '.*'`, or fix LABORNET_AMQP_URI."
            )
        else:
            _say(
                f"RabbitMQ at {broker_at} refused user {exc.user!r} (wrong "
                "password, or guest from another machine) — fix "
                "LABORNET_AMQP_URI."
            )
        return None
    except BrokerUnavailable:
        _say(
            f"RabbitMQ is not reachable at {broker_at} — start it "
            "(`sudo systemctl start rabbitmq-server` or `rabbitmq-server -detached`, "
            "then `rabbitmq-plugins enable rabbitmq_management`) "
            "or set LABORNET_AMQP_URI."
        )
        return None


def _migrate_and_declare(services: list[str], amqp_uri: str, management: str) -> bool:
    """Migrate each service's database and declare the broker's topology;
    False when the topology could not be declared (having said why)."""
    from labornet_shared.broker import BrokerUnavailable, declare_topology

    (repo_root() / "var").mkdir(exist_ok=True)
    for service in services:
        installation.migrate_service(service)
    try:
        declare_topology(amqp_uri, management)
    except BrokerUnavailable as exc:
        _say(
            f"cannot declare the broker's topology through the management API "
            f"at {management_plugin.public_url(management)}: {exc}"
        )
        return False
    return True


def _service_environment(
    services: list[str], secrets: dict[str, str]
) -> dict[str, str]:
    """The services' environment: development settings and this checkout's
    secrets, unless the environment sets them."""
    development = {
        # an agency's webhook endpoint may be a local system on
        # http://127.0.0.1 (never in production)
        "LABORNET_NOTIFY_WEBHOOK_ALLOW_LOCAL": "true",
        # no provider is set up here: the console channel shows each message
        # as it would leave (`labornet messages tail`); a provider configured
        # in the environment is still used for its channel
        "LABORNET_NOTIFY_CONSOLE_CHANNEL": "true",
    }
    if "intake" in services:
        # the messages' links open intake's pages here, in the message's
        # language: following the case, the closing message's rate-us, and
        # a field agent's case link
        intake = _base_url("intake")
        development["LABORNET_NOTIFY_FOLLOW_URL"] = (
            f"{intake}/t/<reference>?lang=<language>"
        )
        development["LABORNET_NOTIFY_FEEDBACK_URL"] = (
            f"{intake}/f/<reference>?t=<token>&lang=<language>"
        )
        development["LABORNET_NOTIFY_CASE_URL"] = (
            f"{intake}/a/<reference>?t=<token>&lang=<language>"
        )
    return {
        # the development settings, unless the environment sets them
        **development,
        **secrets,
        **os.environ,
        # eventlet's and pkg_resources' start-up warnings are not JSON
        "PYTHONWARNINGS": "ignore",
    }


def _supervise(
    supervision: Supervision, services: list[str], version: str, management: str
) -> int:
    """Start the services, print their URLs, keep them running until Ctrl-C
    (or SIGTERM, SIGHUP), then stop them; returns the exit status."""
    # a process manager's or an IDE's stop (SIGTERM), or a closed terminal
    # (SIGHUP), stops the services as Ctrl-C does, instead of orphaning them;
    # SIGINT too, since a shell starting us in the background ignores it and
    # Python then installs no handler of its own
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    supervision.start()
    for service in services:
        _say(f"{service}: {_base_url(service)}/  (openapi: /openapi.json)")
    _say(
        f"RabbitMQ {version}, management: {management_plugin.public_url(management)}"
        " — Ctrl-C stops everything"
    )
    try:
        while True:
            supervision.poll()
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        # a second Ctrl-C (people press it twice) must not cut the stop
        # short and orphan the services still stopping
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        supervision.stop()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _platform_secrets() -> dict[str, str]:
    """This checkout's own random secrets (``var/secrets.env``, made once)
    for those the environment does not set; {} when it sets them all."""
    if all(os.environ.get(name) for name in SECRET_VARIABLES):
        return {}
    values, made = local_secrets()
    if made:
        _say(f"made this checkout's secrets in {secrets_file()} (mode 0600)")
    return values


def _service_command(nameko: str, service: str) -> list[str]:
    config_path = repo_root() / "services" / service / "config.yml"
    module = installation.service_module(service)
    return [nameko, "run", "--config", str(config_path), module]


def exit_status(returncode: int) -> str:
    """How a process ended, in words: ``status 1`` or ``killed by SIGKILL``."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"status {returncode}"


@dataclass
class _Child:
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    # the wait before the next restart; doubles while it keeps crashing
    delay: float = 0.0
    restart_at: float | None = None


class Supervision:
    """Keeps each service's process running: one that exits is started again
    after a capped exponential backoff (1 s, 2 s, 4 s … 30 s), reset once it
    has stayed up for ``stable_seconds``, with one line saying so each time.

    ``clock`` and ``say`` are seams for tests; processes are real.
    """

    def __init__(
        self,
        commands: dict[str, list[str]],
        env: dict[str, str],
        *,
        first_delay: float = RESTART_FIRST_SECONDS,
        max_delay: float = RESTART_MAX_SECONDS,
        stable_seconds: float = RESTART_STABLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        say: Callable[[str], None] = _say,
    ) -> None:
        self.children = {name: _Child(list(argv)) for name, argv in commands.items()}
        self.env = env
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.stable_seconds = stable_seconds
        self.clock = clock
        self.say = say

    def start(self) -> None:
        """Start every service."""
        for child in self.children.values():
            self._launch(child)

    def _launch(self, child: _Child) -> None:
        child.process = subprocess.Popen(  # noqa: S603 - our own nameko
            child.argv,
            cwd=repo_root(),
            env=self.env,
            # its own process group: Ctrl-C at the terminal reaches only the
            # supervisor, which stops each service once; nameko stopped both
            # by the terminal's SIGINT and by our SIGTERM stops twice (an
            # AssertionError traceback) and may hang until killed
            process_group=0,
            preexec_fn=_stop_with_parent,
        )
        child.started_at = self.clock()
        child.restart_at = None

    def poll(self) -> None:
        """Notice the services that exited and restart those whose wait is
        over; call it every fraction of a second."""
        now = self.clock()
        for name, child in self.children.items():
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self._launch(child)
                    self.say(f"{name} restarted")
                continue
            process = child.process
            if process is None or process.poll() is None:
                continue
            if now - child.started_at >= self.stable_seconds:
                child.delay = self.first_delay  # it had been running well
            else:
                child.delay = min(
                    self.max_delay, max(self.first_delay, child.delay * 2)
                )
            child.restart_at = now + child.delay
            self.say(
                f"{name} exited ({exit_status(process.returncode)});"
                f" restarting in {child.delay:g} s"
            )

    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        """The current process of each service."""
        return {
            name: child.process
            for name, child in self.children.items()
            if child.process is not None
        }

    def stop(self) -> None:
        """Stop every service (no restart after this)."""
        for child in self.children.values():
            child.restart_at = None
        _stop(self.processes())


def _address(service: str) -> tuple[str, int]:
    """The host and port a service listens on, as its config (and the
    environment) say: ``LABORNET_<SERVICE>_HOST`` and ``_PORT``."""
    address = str(load_service_config(service)["WEB_SERVER_ADDRESS"])
    host, _, port = address.rpartition(":")
    return host, int(port)


def _base_url(service: str) -> str:
    """The URL a service answers on (127.0.0.1 when it listens on every
    interface)."""
    host, port = _address(service)
    # every interface: loopback too
    if host in ("", "0.0.0.0", "::", "[::]"):  # noqa: S104 - read, not bound
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def _stop_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the supervisor dies,
    even by SIGKILL, so that no service outlives it as an orphan."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the ports check remains
        pass


def _stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    # SIGTERM once to each: nameko finishes its workers' in-flight work and
    # closes its consumers (unacknowledged messages go back to their queues)
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
