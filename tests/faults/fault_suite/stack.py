"""What the fault suite runs: a vhost, a database per service, TCP proxies,
the fake providers and the four services as ``nameko run`` processes —
with ``instances`` above 1, that many processes of each service, each on
its own HTTP port, all of one service on its one PostgreSQL database.

Everything listens on 127.0.0.1. Every service's ``LABORNET_AMQP_URI`` goes
through one proxy in front of RabbitMQ (on a cluster — an ``--amqp-uri`` of
several ``;``-separated nodes — straight to the nodes, which the schedule
stops instead); routing's PostgreSQL database
through another; notify reaches the SMS, LINE and webhook fakes through a
proxy each. Databases come from the benches' :class:`bench_intake.Databases`
(SQLite files in the run's temp dir, or PostgreSQL databases created and
dropped by the run).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from bench_intake import Databases, free_port, migrate
from sqlalchemy import make_url

from labornet_shared.broker import (
    Management,
    broker_addresses,
    declare_topology,
    with_vhost,
)
from labornet_shared.config import repo_root
from labornet_testkit.harness import TcpProxy
from labornet_testkit.providers import FakeLineApi, FakeThaiBulkSms, WebhookReceiver

SERVICES = ("registry", "routing", "intake", "notify")
NAMEKO = str(Path(sys.executable).with_name("nameko"))
LABORNET = str(Path(sys.executable).with_name("labornet"))
SMS_KEY, SMS_SECRET, LINE_TOKEN = "faults-sms-key", "faults-sms-secret", "faults-line"
START_TIMEOUT = 90.0
STOP_GRACE = 8.0
INSTANCES_NEED_POSTGRESQL = (
    "--instances above 1 needs PostgreSQL (--db postgresql://… or"
    " LABORNET_TEST_DB_URL): several processes of a service on one SQLite"
    " file is not a supported deployment"
)


def say(message: str) -> None:
    """One line of the run's progress, on stdout, at once."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def holds_events(queue: str) -> bool:
    """Whether ``queue`` is a handler's queue (``evt-…``) or a retry queue
    (``<service>.retry.<delay>``): an event in either is still on its way,
    and a retry queue may hold one for a minute before it comes back."""
    return queue.startswith("evt-") or ".retry." in queue


def through_proxy(uri: str, port: int) -> str:
    """``uri`` (credentials, path and query kept) sent to 127.0.0.1:``port``."""
    parts = urlsplit(uri)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:{port}" if credentials else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


class Vhost:
    """A RabbitMQ vhost of the run's own, made through the management API,
    with labornet's topology declared (``labornet setup-broker``'s code);
    deleted at the end."""

    def __init__(self, amqp_uri: str, management_url: str) -> None:
        self.name = f"labornet-faults-{uuid.uuid4().hex[:8]}"
        self.amqp_uri = with_vhost(amqp_uri, self.name)
        #: a cluster's nodes (several addresses), or the one broker
        self.addresses = broker_addresses(self.amqp_uri)
        self.broker_port = urlsplit(self.addresses[0]).port or 5672
        self.management_url = management_url
        self.management = Management.from_urls(management_url, self.amqp_uri)
        self.created = False

    def create(self) -> None:
        """Create the vhost, let its user in, declare the topology."""
        vhost = quote(self.name, safe="")
        self.management.request("PUT", f"vhosts/{vhost}")
        self.created = True
        user = quote(self.management.username, safe="")
        self.management.request(
            "PUT",
            f"permissions/{vhost}/{user}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        )
        declare_topology(self.amqp_uri, self.management_url)

    def delete(self) -> None:
        """Delete the vhost and everything in it."""
        if self.created:
            with contextlib.suppress(Exception):
                self.management.request("DELETE", f"vhosts/{quote(self.name, '')}")
            self.created = False

    def get(self, path: str) -> Any:
        """A management API answer (JSON) about this vhost: ``queues``,
        ``connections``."""
        return self.management.request(
            "GET", f"vhosts/{quote(self.name, '')}/{path}"
        ).json()

    def queues(self) -> list[dict[str, Any]]:
        """Every queue of the vhost with its message counts."""
        return list(
            self.management.request("GET", f"queues/{quote(self.name, '')}").json()
        )

    def close_connections(self, reason: str) -> int:
        """Close every client connection of the vhost (what they had
        delivered and not acked is delivered again); returns how many."""
        closed = 0
        for connection in self.get("connections"):
            with contextlib.suppress(Exception):
                self.management.request(
                    "DELETE",
                    f"connections/{quote(connection['name'], safe='')}",
                    headers={"X-Reason": reason},
                )
                closed += 1
        return closed


@dataclass
class ServiceProcess:
    """One process of a service, ``nameko run --config
    services/<service>/config.yml``; killed and restarted by the schedule,
    watched for exits of its own. ``name`` is the service's name, or with
    several instances ``<service>.<n>`` (its log files are named so)."""

    name: str
    env: dict[str, str]
    port: int
    log_dir: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    #: exits nobody asked for: (seconds into the run, status)
    crashes: list[tuple[float, int | None]] = field(default_factory=list)
    _expect_exit: bool = False
    _log: Any = None

    @property
    def service(self) -> str:
        """The service this process runs (``intake`` for ``intake.2``)."""
        return self.name.partition(".")[0]

    @property
    def url(self) -> str:
        """Its HTTP base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> None:
        """Start it (a new log file per start) and wait for ``/healthz``."""
        self.starts += 1
        self._close_log()
        self._log = open(self.log_dir / f"{self.name}.{self.starts}.log", "wb")  # noqa: SIM115
        config = repo_root() / "services" / self.service / "config.yml"
        self.process = subprocess.Popen(
            [
                NAMEKO,
                "run",
                "--config",
                str(config),
                f"labornet_{self.service}.service",
            ],
            cwd=repo_root(),
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._expect_exit = False
        if wait:
            self.wait_healthy()

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        """Until ``/healthz`` answers 200 (RuntimeError if it exits first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log_tail()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} did not answer /healthz:\n{self.log_tail()}")

    def alive(self) -> bool:
        """Whether its process runs."""
        return self.process is not None and self.process.poll() is None

    def check(self, elapsed: float) -> bool:
        """Record an exit nobody asked for; True if there was one."""
        if self.process is None or self._expect_exit or self.alive():
            return False
        self.crashes.append((elapsed, self.process.returncode))
        self._expect_exit = True
        return True

    def kill(self) -> None:
        """SIGKILL, as a machine or the OOM killer would."""
        self._expect_exit = True
        if self.alive():
            assert self.process is not None
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM, a poke (an idle nameko may sit on it), then SIGKILL."""
        self._expect_exit = True
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(requests.RequestException):
                requests.get(f"{self.url}/healthz", timeout=1)
            try:
                self.process.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 40) -> str:
        """The end of its latest log."""
        path = self.log_dir / f"{self.name}.{self.starts}.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class SqliteLock:
    """routing's SQLite database made unwritable from another process: an
    exclusive transaction held on its file. (In WAL mode readers still read;
    every write waits out its busy timeout and fails "database is locked".)
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._release = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self) -> None:
        """Take the lock (returns once it is held)."""
        taken = threading.Event()

        def run() -> None:
            connection = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            try:
                connection.execute("BEGIN EXCLUSIVE")
                taken.set()
                self._release.wait()
                connection.execute("ROLLBACK")
            finally:
                connection.close()
                taken.set()

        self._release.clear()
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        taken.wait(90)

    def release(self) -> None:
        """Let writes through again."""
        self._release.set()
        if self._thread is not None:
            self._thread.join(30)


class Stack:
    """Everything the run starts, and stops again in :meth:`close`.

    ``services`` holds every process by name: the service's name with one
    instance each; ``intake.1``, ``intake.2``… with ``instances`` of each
    (:meth:`instances` gives one service's)."""

    def __init__(
        self,
        db_spec: str,
        tmp: Path,
        amqp_uri: str,
        management_url: str,
        instances: int = 1,
    ) -> None:
        self.tmp = tmp
        self.databases = Databases(db_spec, tmp)
        if instances > 1 and self.databases.kind != "postgresql":
            # several processes on one SQLite file is not a deployment
            raise ValueError(INSTANCES_NEED_POSTGRESQL)
        self.instance_count = instances
        self.vhost = Vhost(amqp_uri, management_url)
        # the run's own secrets: the services refuse config.yml's public ones
        self.token_secret = f"faults-{uuid.uuid4().hex}"
        self.pepper = f"faults-{uuid.uuid4().hex}"
        self.urls: dict[str, str] = {}
        self.proxies: dict[str, TcpProxy] = {}
        self.services: dict[str, ServiceProcess] = {}
        self.sms = FakeThaiBulkSms(api_key=SMS_KEY, api_secret=SMS_SECRET)
        self.line = FakeLineApi(access_token=LINE_TOKEN)
        self.webhooks = WebhookReceiver(["whsec_" + "MDAwMDAwMDAwMDAwMDAwMA=="])
        self.routing_lock: SqliteLock | None = None

    @property
    def on_cluster(self) -> bool:
        """Whether the broker is a cluster (several addresses): the services
        then reach its nodes directly and fail over between them."""
        return len(self.vhost.addresses) > 1

    @property
    def on_postgresql(self) -> bool:
        """Whether the services' databases are PostgreSQL."""
        return self.databases.kind == "postgresql"

    def start(self) -> None:
        """Vhost, databases, proxies, fakes, then the services in order."""
        self.vhost.create()
        for service in SERVICES:
            self.urls[service] = self.databases.fresh(service)
            migrate(service, self.urls[service])
        if not self.on_cluster:
            target = ("127.0.0.1", self.vhost.broker_port)
            self.proxies["broker"] = TcpProxy(target).start()
        if self.on_postgresql:
            routing = make_url(self.urls["routing"])
            target = (routing.host or "127.0.0.1", routing.port or 5432)
            self.proxies["database"] = TcpProxy(target).start()
        else:
            self.routing_lock = SqliteLock(str(make_url(self.urls["routing"]).database))
        for name, fake in (
            ("sms", self.sms),
            ("line", self.line),
            ("webhook", self.webhooks),
        ):
            fake.start()
            self.proxies[name] = TcpProxy(("127.0.0.1", fake.port)).start()
        for service in SERVICES:
            for name in self._names(service):
                port = free_port()
                process = ServiceProcess(name, self._env(service, port), port, self.tmp)
                self.services[name] = process
                process.start()
                say(f"{name} up on {process.url}")

    def _names(self, service: str) -> list[str]:
        if self.instance_count == 1:
            return [service]
        return [f"{service}.{n}" for n in range(1, self.instance_count + 1)]

    def instances(self, service: str) -> list[ServiceProcess]:
        """Every process of ``service``, in start order."""
        return [p for p in self.services.values() if p.service == service]

    def url(self, service: str) -> str:
        """The HTTP base URL of ``service``'s first process."""
        return self.instances(service)[0].url

    def service_db_url(self, service: str) -> str:
        """The database URL the service itself uses (routing's on
        PostgreSQL goes through the database proxy)."""
        url = self.urls[service]
        if service == "routing" and "database" in self.proxies:
            return through_proxy(url, self.proxies["database"].port)
        return url

    def _env(self, service: str, port: int) -> dict[str, str]:
        prefix = f"LABORNET_{service.upper()}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LABORNET_")}
        amqp = self.vhost.amqp_uri
        if not self.on_cluster:
            amqp = through_proxy(amqp, self.proxies["broker"].port)
        env.update(
            {
                "LABORNET_ROOT": str(repo_root()),
                "LABORNET_AMQP_URI": amqp,
                "LABORNET_RABBIT_MANAGEMENT_URL": self.vhost.management_url,
                "LABORNET_TOKEN_SECRET": self.token_secret,
                "LABORNET_TRACKING_CODE_PEPPER": self.pepper,
                "LABORNET_LOG_LEVEL": "INFO",
                # one load generator is one address: its cases are not abuse
                "LABORNET_RATE_LIMIT_ANONYMOUS": "1000000/minute",
                "LABORNET_RATE_LIMIT_AGENT": "1000000/minute",
                "LABORNET_RATE_LIMIT_AGENCY": "1000000/minute",
                "PYTHONWARNINGS": "ignore",
                f"{prefix}_DB": self.service_db_url(service),
                f"{prefix}_HOST": "127.0.0.1",
                f"{prefix}_PORT": str(port),
            }
        )
        if self.on_postgresql:
            # a good neighbour on a PostgreSQL shared with other test runs
            env[f"{prefix}_DB_POOL_SIZE"] = "5"
        if service == "notify":
            env.update(
                {
                    "LABORNET_NOTIFY_SMS_API_KEY": SMS_KEY,
                    "LABORNET_NOTIFY_SMS_API_SECRET": SMS_SECRET,
                    "LABORNET_NOTIFY_SMS_BASE_URL": self._fake_url("sms"),
                    "LABORNET_NOTIFY_SMS_RATE_PER_SECOND": "1000",
                    "LABORNET_NOTIFY_SMS_QUIET_HOURS": "",
                    "LABORNET_NOTIFY_LINE_ACCESS_TOKEN": LINE_TOKEN,
                    "LABORNET_NOTIFY_LINE_BASE_URL": self._fake_url("line"),
                    "LABORNET_NOTIFY_LINE_RATE_PER_SECOND": "1000",
                    "LABORNET_NOTIFY_WEBHOOK_ALLOW_LOCAL": "true",
                    "LABORNET_NOTIFY_DELIVERY_POLL_SECONDS": "0.2",
                    # a failed send is retried within the run, not an hour on
                    "LABORNET_NOTIFY_DELIVERY_BACKOFF_CAP_SECONDS": "20",
                }
            )
        return env

    def _fake_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.proxies[name].port}"

    def labornet(self, *args: str) -> str:
        """``labornet ARGS`` with the run's settings; its stdout."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("LABORNET_")}
        env.update(
            LABORNET_ROOT=str(repo_root()),
            LABORNET_TOKEN_SECRET=self.token_secret,
            LABORNET_TRACKING_CODE_PEPPER=self.pepper,
            LABORNET_AMQP_URI=self.vhost.amqp_uri,
            LABORNET_RABBIT_MANAGEMENT_URL=self.vhost.management_url,
            PYTHONWARNINGS="ignore",
        )
        done = subprocess.run(
            [LABORNET, *args],
            env=env,
            cwd=repo_root(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip()

    def close(self) -> None:
        """Stop every process, proxy and fake; drop the vhost and databases."""
        for process in self.services.values():
            with contextlib.suppress(Exception):
                process.stop()
        if self.routing_lock is not None:
            self.routing_lock.release()
        for proxy in self.proxies.values():
            with contextlib.suppress(Exception):
                proxy.stop()
        for fake in (self.sms, self.line, self.webhooks):
            with contextlib.suppress(Exception):
                fake.stop()
        self.vhost.delete()
        self.databases.drop_all()
