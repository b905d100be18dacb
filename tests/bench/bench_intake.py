"""``make bench``: intake's throughput and event latency against the naive
dual write.

Starts, as separate processes on 127.0.0.1, (a) intake with ``nameko run`` on
a fresh, migrated database and (b) ``baseline_service.py`` (insert one row,
commit, dispatch the event with nameko's EventDispatcher and confirms) on a
fresh database of the same kind; both with ``max_workers`` 10, logging at
WARNING. A fresh RabbitMQ vhost holds labornet's topology and a tap queue
bound to each service's events exchange; a consumer in this process records
when each event arrives while the clients post.

Each target gets the same seeded, realistic cases
(:func:`labornet_testkit.harness.case_payload`) from N keep-alive clients
(threads with a raw-socket HTTP/1.1 client, so the client stays cheap), after
a warm-up. Printed per target: accepted cases/s, p50/p99 latency, the
commit-to-queue latency of the events, errors, a bare ``GET /healthz`` rate
and CPU use; then the ratio intake/baseline. ``--targets`` may add
``intake-direct`` (intake publishing each event itself) and
``baseline-outbox`` (the baseline with the outbox), which isolate the
outbox's own effect on the same work. ``--rate R`` paces submissions
at R cases/s instead and reports the commit-to-queue latency at that rate.
At the end every accepted case's event must have arrived; any error or
missing event exits 1. See README.md in this directory.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

import amqp
import requests

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parents[1]
VENV_BIN = Path(sys.executable).parent
NAMEKO = VENV_BIN / "nameko"

DEFAULT_AMQP = os.environ.get("LABORNET_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
DEFAULT_MANAGEMENT = os.environ.get(
    "LABORNET_RABBIT_MANAGEMENT_URL", "http://guest:guest@127.0.0.1:15672"
)
MAX_WORKERS = 10
START_TIMEOUT = 60.0
STOP_GRACE = 8.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
QUIET_CORES = 0.25  # machine busier than this before a target: figures are noisy

# the targets (issue 3, section 5)
TARGET_RATIO = 1.2
TARGET_P99_COMMIT_TO_QUEUE_MS = 50.0


def say(message: str = "") -> None:
    print(message, flush=True)


# --- numbers ---------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of ``values``; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# --- a small HTTP/1.1 keep-alive client --------------------------------------------


class HttpError(Exception):
    """The connection broke or the answer was not HTTP."""


class RawHttpClient:
    """One keep-alive connection; requests are pre-encoded bytes.

    requests.Session costs ~0.3 ms of CPU per call in this process, on the
    same two cores as the service; this costs a fraction of it.
    """

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.address = (host, port)
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buffer = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.buffer = sock, b""
        return sock

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
        self.sock, self.buffer = None, b""

    def _fill(self, sock: socket.socket) -> None:
        chunk = sock.recv(65536)
        if not chunk:
            raise HttpError("connection closed by the server")
        self.buffer += chunk

    def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one request, read one response: (status, body)."""
        try:
            sock = self.sock or self._connect()
            sock.sendall(raw)
            while b"\r\n\r\n" not in self.buffer:
                self._fill(sock)
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status = int(lines[0].split(b" ", 2)[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                body = self._read_chunked(sock)
            else:
                length = int(headers.get(b"content-length", b"0"))
                while len(self.buffer) < length:
                    self._fill(sock)
                body, self.buffer = self.buffer[:length], self.buffer[length:]
            if headers.get(b"connection", b"").lower() == b"close":
                self.close()
            return status, body
        except (OSError, ValueError, IndexError, HttpError) as exc:
            self.close()
            raise HttpError(str(exc) or type(exc).__name__) from exc

    def _read_chunked(self, sock: socket.socket) -> bytes:
        body = b""
        while True:
            while b"\r\n" not in self.buffer:
                self._fill(sock)
            size_line, _, self.buffer = self.buffer.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(self.buffer) < size + 2:
                self._fill(sock)
            body += self.buffer[:size]
            self.buffer = self.buffer[size + 2 :]
            if size == 0:
                return body


class RequestsClient:
    """The same interface over requests.Session, to show what a heavier
    client does to the figures (``--client requests``)."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.base = f"http://{host}:{port}"
        self.timeout = timeout
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    def request(self, raw: bytes) -> tuple[int, bytes]:
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = dict(line.split(": ", 1) for line in lines[1:])
        headers.pop("Host", None)
        headers.pop("Content-Length", None)
        try:
            response = self.session.request(
                method,
                self.base + path,
                data=body or None,
                headers=headers,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise HttpError(str(exc)) from exc
        return response.status_code, response.content


CLIENTS = {"raw": RawHttpClient, "requests": RequestsClient}


def encode_request(
    method: str, path: str, port: int, body: bytes = b"", **headers: str
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Outcome:
    """What the clients saw for one batch of requests."""

    statuses: list[int]
    latencies: list[float]  # seconds, send to full answer
    answered_at: list[float]  # time.time() when the answer was read
    bodies: list[bytes]
    errors: list[str]
    wall: float
    cpu_self: float  # this process's CPU seconds during the batch
    cpu_service: float  # the service process's CPU seconds during the batch
    cpu_machine: float  # busy CPU seconds of the whole machine
    cpu_groups: dict[str, float]  # broker, database: their CPU seconds

    def ok(self, status: int) -> list[int]:
        return [i for i, s in enumerate(self.statuses) if s == status]


def machine_busy_seconds() -> float:
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / CLK_TCK


BROKER_COMMANDS = {"beam.smp", "erl_child_setup", "epmd", "inet_gethost"}
DATABASE_COMMANDS = {"postgres"}


def cpu_by_process() -> dict[int, tuple[str, float]]:
    """Every process's command name and CPU seconds so far."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                raw = handle.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw.rsplit(")", 1)[1].split()
        out[int(entry)] = (comm, (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return out


def broker_and_database_cpu(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    groups = {"broker": 0.0, "database": 0.0}
    for pid, (comm, seconds) in after.items():
        group = (
            "broker"
            if comm in BROKER_COMMANDS
            else "database"
            if comm in DATABASE_COMMANDS
            else None
        )
        if group is not None:
            groups[group] += seconds - before.get(pid, (comm, 0.0))[1]
    return groups


def process_cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def run_clients(
    port: int,
    requests_: list[bytes],
    clients: int,
    service_pids: list[int],
    rate: float | None = None,
    deadline: float | None = None,
    client_kind: str = "raw",
) -> Outcome:
    """Send every request once over ``clients`` connections.

    Closed loop (each client sends its next request when the last one was
    answered) unless ``rate`` is given: then request i leaves at
    start + i / rate (or as soon as a client is free, if late).
    """
    n = len(requests_)
    statuses = [0] * n
    latencies = [0.0] * n
    answered_at = [0.0] * n
    bodies = [b""] * n
    errors: list[str] = []
    counter = itertools.count()
    ready = threading.Barrier(clients + 1)
    start_box: list[float] = []

    def client() -> None:
        http = CLIENTS[client_kind]("127.0.0.1", port)
        try:
            ready.wait()
            start = start_box[0]
            while True:
                i = next(counter)
                if i >= n:
                    return
                if deadline is not None and time.monotonic() > deadline:
                    errors.append("time limit reached")
                    return
                if rate is not None:
                    delay = start + i / rate - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                sent = time.perf_counter()
                try:
                    status, body = http.request(requests_[i])
                except HttpError as exc:
                    errors.append(f"request {i}: {exc}")
                    continue
                latencies[i] = time.perf_counter() - sent
                answered_at[i] = time.time()
                statuses[i], bodies[i] = status, body
        finally:
            http.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    cpu_self0, cpu_service0 = (
        time.process_time(),
        sum(map(process_cpu_seconds, service_pids)),
    )
    busy0, processes0 = machine_busy_seconds(), cpu_by_process()
    start_box.append(time.perf_counter())
    ready.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start_box[0]
    return Outcome(
        statuses,
        latencies,
        answered_at,
        bodies,
        errors,
        wall,
        time.process_time() - cpu_self0,
        sum(map(process_cpu_seconds, service_pids)) - cpu_service0,
        machine_busy_seconds() - busy0,
        broker_and_database_cpu(processes0, cpu_by_process()),
    )


# --- the broker: a vhost for the run, a tap queue per service ------------------------


class Broker:
    """A throwaway vhost with labornet's topology, deleted at the end."""

    def __init__(self, amqp_uri: str, management_url: str) -> None:
        self.vhost = f"labornet-bench-{uuid.uuid4().hex[:8]}"
        base = urlparse(amqp_uri)
        self.host = base.hostname or "127.0.0.1"
        self.port = base.port or 5672
        self.user = unquote(base.username or "guest")
        self.password = unquote(base.password or "guest")
        self.amqp_uri = (
            f"amqp://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(self.vhost, safe='')}"
        )
        management = urlparse(management_url)
        self.management_url = management_url
        self.api = f"{management.scheme}://{management.hostname}:{management.port}/api"
        self.auth = (
            unquote(management.username or self.user),
            unquote(management.password or self.password),
        )
        self.created = False

    def _call(self, method: str, path: str, **kwargs: Any) -> None:
        response = requests.request(
            method, f"{self.api}/{path}", auth=self.auth, timeout=15, **kwargs
        )
        response.raise_for_status()

    def create(self) -> None:
        from labornet_shared.broker import declare_topology

        name = quote(self.vhost, safe="")
        self._call("PUT", f"vhosts/{name}")
        self.created = True
        self._call(
            "PUT",
            f"permissions/{name}/{quote(self.user, safe='')}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        )
        declare_topology(self.amqp_uri, self.management_url)

    def delete(self) -> None:
        if self.created:
            with contextlib.suppress(Exception):
                self._call("DELETE", f"vhosts/{quote(self.vhost, safe='')}")
            self.created = False

    def connection(self) -> amqp.Connection:
        connection = amqp.Connection(
            host=f"{self.host}:{self.port}",
            userid=self.user,
            password=self.password,
            virtual_host=self.vhost,
            connect_timeout=10,
        )
        connection.connect()
        return connection


class Tap:
    """A queue bound to ``exchange`` (every routing key), consumed by a thread
    that stamps each message with its arrival time."""

    def __init__(self, broker: Broker, exchange: str, queue_type: str) -> None:
        self.broker = broker
        self.queue = f"bench-tap.{exchange}.{uuid.uuid4().hex[:6]}"
        self.received: list[tuple[float, Any]] = []
        self._stop = threading.Event()
        self._error: BaseException | None = None
        connection = broker.connection()
        try:
            channel = connection.channel()
            # exactly nameko's declaration of an events exchange
            channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
            channel.queue_declare(
                self.queue,
                durable=True,
                auto_delete=False,
                arguments={"x-queue-type": queue_type},
            )
            channel.queue_bind(self.queue, exchange, "#")
        finally:
            connection.close()
        self._thread = threading.Thread(target=self._consume, daemon=True)
        self._started = threading.Event()
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError(f"tap on {exchange} did not start: {self._error}")

    def _consume(self) -> None:
        try:
            connection = self.broker.connection()
            channel = connection.channel()
            received = self.received
            now = time.time

            def on_message(message: Any) -> None:
                received.append((now(), message.body))

            channel.basic_consume(self.queue, callback=on_message, no_ack=True)
            self._started.set()
            while not self._stop.is_set():
                with contextlib.suppress(socket.timeout, TimeoutError):
                    connection.drain_events(timeout=0.2)
            channel.queue_delete(self.queue)
            connection.close()
        except BaseException as exc:  # reported by wait_for / stop
            self._error = exc
            self._started.set()

    def wait_for(self, count: int, timeout: float) -> None:
        """Until ``count`` messages arrived (or the timeout), then 0.3 s more
        to catch duplicates."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            if self._error is not None:
                raise RuntimeError(f"tap consumer failed: {self._error!r}")
            time.sleep(0.02)
        time.sleep(0.3)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def events(self) -> list[tuple[float, dict[str, Any]]]:
        out = []
        for arrived, body in self.received:
            if isinstance(body, bytes | bytearray):
                body = body.decode("utf-8")
            out.append((arrived, json.loads(body)))
        return out


# --- databases --------------------------------------------------------------------


class Databases:
    """Fresh databases: SQLite files in a temp dir, or PostgreSQL databases
    created for the run and dropped after it."""

    def __init__(self, spec: str, tmp: Path) -> None:
        self.spec = spec
        self.tmp = tmp
        self.created: list[str] = []
        self.files = 0
        self.kind = "sqlite" if spec == "sqlite" else "postgresql"
        if self.kind == "postgresql" and not spec.startswith(
            ("postgresql://", "postgres://")
        ):
            raise SystemExit("--db is 'sqlite' or a postgresql:// URL")

    def fresh(self, name: str) -> str:
        if self.kind == "sqlite":
            self.files += 1
            return f"sqlite:///{self.tmp / f'{name}-{self.files}.db'}"
        from sqlalchemy import create_engine, make_url, text

        from labornet_shared.db import normalise_url

        database = f"labornet_bench_{name}_{uuid.uuid4().hex[:8]}"
        admin = create_engine(normalise_url(self.spec), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{database}"'))
        finally:
            admin.dispose()
        self.created.append(database)
        url = make_url(normalise_url(self.spec)).set(database=database)
        return url.render_as_string(hide_password=False).replace(
            "postgresql+psycopg2://", "postgresql://"
        )

    def drop_all(self) -> None:
        if not self.created:
            return
        from sqlalchemy import create_engine, text

        from labornet_shared.db import normalise_url

        admin = create_engine(normalise_url(self.spec), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                for database in self.created:
                    with contextlib.suppress(Exception):
                        conn.execute(
                            text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                        )
        finally:
            admin.dispose()
        self.created.clear()


# --- the services -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Target:
    """One service under test: one or more ``nameko run`` processes sharing
    a port (eventlet sets SO_REUSEPORT; the kernel spreads connections)."""

    name: str
    exchange: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    port: int
    db_url: str
    log_path: Path
    count: int = 1
    # environment of the processes after the first (e.g. no second relay)
    env_others: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_files: list[Any] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    round: int = 1

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def start(self) -> None:
        for i in range(self.count):
            log_file = open(self._log(i), "wb")  # noqa: SIM115 - closed in stop
            self.log_files.append(log_file)
            self.processes.append(
                subprocess.Popen(
                    self.command,
                    cwd=self.cwd,
                    env={**self.env, **(self.env_others if i else {})},
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # Ctrl-C reaches us; we stop it
                )
            )
            self._wait_healthy(self.processes[-1])

    def _log(self, i: int) -> Path:
        return self.log_path if i == 0 else self.log_path.with_suffix(f".{i}.log")

    def _wait_healthy(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        raw = encode_request("GET", "/healthz", self.port)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {process.returncode}:\n" + self.log_tail()
                )
            client = RawHttpClient("127.0.0.1", self.port, timeout=2)
            try:
                if client.request(raw)[0] == 200:
                    # with several processes: this one may not have answered
                    # yet, but it listens once nameko has started it
                    time.sleep(0.5 if self.count > 1 else 0)
                    return
            except HttpError:
                pass
            finally:
                client.close()
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer /healthz:\n" + self.log_tail())

    def stop(self) -> None:
        """SIGTERM; an idle nameko may wait for a request to notice, so poke
        it; SIGKILL after the grace period."""
        running = [p for p in self.processes if p.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        pokes = 0
        while any(p.poll() is None for p in running) and time.monotonic() < deadline:
            if pokes < 2 * len(running):
                pokes += 1
                client = RawHttpClient("127.0.0.1", self.port, timeout=1)
                with contextlib.suppress(HttpError):
                    client.request(encode_request("GET", "/healthz", self.port))
                client.close()
            time.sleep(0.1)
        for process in running:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            process.wait(10)
        for log_file in self.log_files:
            log_file.close()
        self.log_files.clear()

    def log_tail(self, lines: int = 30) -> str:
        for log_file in self.log_files:
            log_file.flush()
        out = []
        for i in range(max(1, len(self.processes))):
            try:
                text = self._log(i).read_text(errors="replace")
            except OSError:
                continue
            out += text.splitlines()[-lines:]
        return "\n".join(out)


def migrate(service: str, url: str) -> None:
    """Upgrade ``url`` to ``service``'s newest migration (this checkout's)."""
    from labornet_shared.ops.installation import migrate_service

    env_root = os.environ.get("LABORNET_ROOT")
    os.environ["LABORNET_ROOT"] = str(REPO)
    try:
        migrate_service(service, url)
    finally:
        if env_root is None:
            os.environ.pop("LABORNET_ROOT", None)
        else:
            os.environ["LABORNET_ROOT"] = env_root


def service_target(
    service: str,
    module: str,
    *,
    env: dict[str, str],
    port: int,
    db_url: str,
    log_path: Path,
) -> Target:
    """``nameko run --config services/<service>/config.yml <module>`` from the
    repository root, its events on ``<service>.events``."""
    return Target(
        name=service,
        exchange=f"{service}.events",
        command=[
            str(NAMEKO),
            "run",
            "--config",
            str(REPO / "services" / service / "config.yml"),
            module,
        ],
        env=env,
        cwd=REPO,
        port=port,
        db_url=db_url,
        log_path=log_path,
    )


def make_intake(
    databases: Databases,
    broker: Broker,
    tmp: Path,
    extra_env: dict[str, str],
    service_module: str = "labornet_intake.service",
) -> Target:
    url = databases.fresh("intake")
    migrate("intake", url)
    port = free_port()
    env = {
        **os.environ,
        "LABORNET_ROOT": str(REPO),
        "LABORNET_INTAKE_DB": url,
        "LABORNET_INTAKE_HOST": "127.0.0.1",
        "LABORNET_INTAKE_PORT": str(port),
        "LABORNET_INTAKE_MAX_WORKERS": str(MAX_WORKERS),
        "LABORNET_AMQP_URI": broker.amqp_uri,
        "LABORNET_RABBIT_MANAGEMENT_URL": broker.management_url,
        "LABORNET_LOG_LEVEL": "WARNING",
        # every client of the bench is one anonymous IP address: its limit
        # (120/minute) would answer 429; the limiter still counts each request
        "LABORNET_RATE_LIMIT_ANONYMOUS": "1000000/minute",
        **extra_env,
    }
    return service_target(
        "intake",
        service_module,
        env=env,
        port=port,
        db_url=url,
        log_path=tmp / "intake.log",
    )


def make_baseline(
    databases: Databases,
    broker: Broker,
    tmp: Path,
    extra_env: dict[str, str],
    name: str = "baseline",
    module: str = "baseline_service",
) -> Target:
    """The minimal service (``baseline_service``), or ``module`` in its place
    (``baseline_outbox_service``: the same with the outbox)."""
    import yaml

    url = databases.fresh(name)
    port = free_port()
    config = {
        "AMQP_URI": broker.amqp_uri,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        "max_workers": MAX_WORKERS,
        "serializer": "json",
        "DATABASE_URL": url,
        "DATABASE_POOL_SIZE": MAX_WORKERS,
        # the relay as intake runs it (baseline-outbox only)
        "OUTBOX_LINGER_SECONDS": 0.005,
        "OUTBOX_BATCH_SIZE": 200,
        "LOGGING": {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"stderr": {"class": "logging.StreamHandler"}},
            "root": {"level": "WARNING", "handlers": ["stderr"]},
        },
    }
    config_path = tmp / f"{name}.yml"
    config_path.write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(BENCH_DIR), os.environ.get("PYTHONPATH", "")) if p
        ),
        **extra_env,
    }
    return Target(
        name=name,
        exchange="bench_baseline.events",
        command=[str(NAMEKO), "run", "--config", str(config_path), module],
        env=env,
        cwd=BENCH_DIR,
        port=port,
        db_url=url,
        log_path=tmp / f"{name}.log",
    )


# --- one target's run -------------------------------------------------------------


def case_requests(
    port: int, payloads: list[bytes], idempotency: bool, prefix: str
) -> list[bytes]:
    out = []
    for i, body in enumerate(payloads):
        headers = {"Accept": "application/json"}
        if idempotency:
            headers["Idempotency_Key"] = f"{prefix}-{i}"
        out.append(encode_request("POST", "/v1/cases", port, body, **headers))
    return out


def bench_target(target: Target, broker: Broker, args: argparse.Namespace) -> bool:
    """Warm up, measure /healthz, post the cases, collect the events.
    Returns False on any error."""
    payloads = make_payloads(args.seed, args.warmup + args.cases)
    say(f"\n== {target.name}  (port {target.port}, {target.db_url.split('?')[0]})")
    tap = Tap(broker, target.exchange, args.tap_queue_type)
    try:
        target.start()
        deadline = time.monotonic() + args.max_seconds
        pids = target.pids
        run_id = uuid.uuid4().hex[:8]
        warm = case_requests(
            target.port, payloads[: args.warmup], args.idempotency_keys, run_id + "w"
        )
        main = case_requests(
            target.port, payloads[args.warmup :], args.idempotency_keys, run_id + "m"
        )
        warmup = run_clients(
            target.port,
            warm,
            args.clients,
            pids,
            deadline=deadline,
            client_kind=args.client,
        )
        health = run_clients(
            target.port,
            [encode_request("GET", "/healthz", target.port)] * args.health_requests,
            args.clients,
            pids,
            deadline=deadline,
            client_kind=args.client,
        )
        with profiling(target, pids[0], args.py_spy):
            posted = run_clients(
                target.port,
                main,
                args.clients,
                pids,
                rate=args.rate,
                deadline=deadline,
                client_kind=args.client,
            )
        accepted_refs = []
        for outcome in (warmup, posted):
            for i in outcome.ok(201):
                accepted_refs.append(json.loads(outcome.bodies[i])["reference"])
        tap.wait_for(len(accepted_refs), timeout=args.drain_seconds)
    finally:
        tap.stop()
        target.stop()
    return report_target(target, warmup, health, posted, accepted_refs, tap, args)


@contextlib.contextmanager
def profiling(target: Target, pid: int, out_dir: str | None) -> Iterator[None]:
    """With ``--py-spy DIR``: sample the service with py-spy while it is
    measured; DIR/<target>.txt gets collapsed stacks (flamegraph input)."""
    py_spy = shutil.which("py-spy") or str(VENV_BIN / "py-spy")
    if not out_dir or not Path(py_spy).exists():
        if out_dir:
            say("  (--py-spy: py-spy is not installed; `pip install py-spy`)")
        yield
        return
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    output = Path(out_dir) / f"{target.name}.txt"
    spy = subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(output),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # py-spy attaches
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(15)
        except subprocess.TimeoutExpired:
            spy.kill()
        say(f"  py-spy samples: {output}")


def make_payloads(seed: int, count: int) -> list[bytes]:
    from labornet_testkit.harness import case_payload

    rng = random.Random(seed)
    return [
        json.dumps(case_payload(rng), ensure_ascii=False).encode() for _ in range(count)
    ]


def report_target(
    target: Target,
    warmup: Outcome,
    health: Outcome,
    posted: Outcome,
    accepted_refs: list[str],
    tap: Tap,
    args: argparse.Namespace,
) -> bool:
    events = tap.events()
    seen = Counter(str(body.get("correlation_id")) for _, body in events)
    expected = Counter(accepted_refs)
    missing = sum((expected - seen).values())
    duplicates = sum(count - 1 for count in seen.values() if count > 1)
    unexpected = sum(1 for ref in seen if ref not in expected)

    # commit-to-queue: arrival at the tap minus the event's occurred_at
    # (intake stamps it in the transaction, a little before the commit; the
    # baseline right after its commit). Only events of the measured batch.
    answered = {}
    for i in posted.ok(201):
        answered[json.loads(posted.bodies[i])["reference"]] = posted.answered_at[i]
    to_queue, after_answer = [], []
    for arrived, body in events:
        ref = body.get("correlation_id")
        if ref in answered:
            occurred = datetime.fromisoformat(body["occurred_at"]).timestamp()
            to_queue.append(arrived - occurred)
            after_answer.append(arrived - answered[ref])

    accepted = posted.ok(201)
    # status 0: the request broke (posted.errors says why) or was never sent
    other = Counter(s for s in posted.statuses if s not in (0, 201))
    errors = sum(1 for s in posted.statuses if s != 201)
    warm_errors = sum(1 for s in warmup.statuses if s != 201)
    lat = [posted.latencies[i] for i in accepted]
    rate = len(accepted) / posted.wall if posted.wall else 0.0
    health_ok = len(health.ok(200))
    health_rate = health_ok / health.wall if health.wall else 0.0
    wall = posted.wall or 1.0

    foreign = max(
        0.0,
        posted.cpu_machine
        - posted.cpu_service
        - posted.cpu_self
        - sum(posted.cpu_groups.values()),
    )
    mode = (
        f"paced at {args.rate:g} cases/s"
        if args.rate
        else f"closed loop, {args.clients} clients"
    )
    say(f"  POST /v1/cases x {len(posted.statuses)} ({mode})")
    say(
        f"    accepted {len(accepted)}/{len(posted.statuses)} in {posted.wall:.2f} s"
        f" = {rate:.1f} cases/s    errors {errors}"
        + (f" {dict(other)}" if other else "")
    )
    say(f"    latency  p50 {ms(percentile(lat, 50))}  p99 {ms(percentile(lat, 99))}")
    say(
        f"    commit-to-queue  p50 {ms(percentile(to_queue, 50))}"
        f"  p99 {ms(percentile(to_queue, 99))}  max {ms(max(to_queue, default=0))}"
        f"   (arrival minus the 201 answer, a lower bound:"
        f" p99 {ms(percentile(after_answer, 99))})"
    )
    say(
        f"    events  {sum(seen.values())} for {len(accepted_refs)} accepted"
        f" (warm-up included): missing {missing}, duplicate {duplicates},"
        f" unexpected {unexpected}"
    )
    say(
        f"    CPU  service {posted.cpu_service / wall:.0%} of a core"
        f" ({ms(posted.cpu_service / max(len(accepted), 1))} per case),"
        f" bench {posted.cpu_self / wall:.0%},"
        f" RabbitMQ {posted.cpu_groups['broker'] / wall:.0%},"
        f" PostgreSQL {posted.cpu_groups['database'] / wall:.0%},"
        f" anything else {foreign / wall:.0%}"
        f" (machine {posted.cpu_machine / wall:.0%} of {os.cpu_count()} cores)"
    )
    say(
        f"  GET /healthz x {len(health.statuses)}: {health_rate:.0f} req/s"
        f" (bench CPU {health.cpu_self / (health.wall or 1):.0%},"
        f" service {health.cpu_service / (health.wall or 1):.0%})"
    )
    problems = []
    if warm_errors:
        problems.append(f"{warm_errors} warm-up errors")
    if errors:
        problems.append(f"{errors} errors")
    if missing:
        problems.append(f"{missing} events missing")
    if unexpected:
        problems.append(f"{unexpected} unexpected events")
    if health_ok != len(health.statuses):
        problems.append("/healthz errors")
    for message in (posted.errors + warmup.errors)[:5]:
        say(f"    error: {message}")
    for i, status in enumerate(posted.statuses):
        if status not in (0, 201):
            say(f"    first bad answer {status}: {posted.bodies[i][:300]!r}")
            break
    if problems:
        say(f"  FAILED: {', '.join(problems)}; service log tail:")
        say(target.log_tail())
    target.results = {
        "round": target.round,
        "cpu_case": posted.cpu_service / max(len(accepted), 1),
        "foreign": foreign / wall,
        "rate": rate,
        "p50": percentile(lat, 50),
        "p99": percentile(lat, 99),
        "q99": percentile(to_queue, 99),
        "errors": errors + warm_errors + missing + unexpected,
    }
    return not problems


# --- main -------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="intake vs the naive dual write (see tests/bench/README.md)"
    )
    parser.add_argument(
        "--db",
        default="sqlite",
        help="'sqlite' (files in a temp dir) or a postgresql:// URL: a fresh "
        "database is created there for each service and dropped at the end",
    )
    parser.add_argument("--cases", type=int, default=3000, help="measured, per target")
    parser.add_argument("--warmup", type=int, default=300, help="per target")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default="raw",
        help="raw: a small keep-alive socket client (default); requests: "
        "requests.Session, several times the client CPU per request",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="pace submissions at RATE cases/s (default: as fast as answered)",
    )
    parser.add_argument(
        "--targets",
        default="intake,intake-direct,baseline",
        help="comma-separated: intake, intake-direct (intake with the dual write"
        " instead of the outbox), baseline, baseline-outbox (the baseline with"
        " the outbox instead of the dual write)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat, alternating the order (ABBA); the summary takes medians",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="before each target, wait up to this long for the machine to be idle",
    )
    parser.add_argument("--seed", type=int, default=2568)
    parser.add_argument(
        "--health-requests", type=int, default=3000, help="bare GET /healthz"
    )
    parser.add_argument(
        "--idempotency-keys",
        action="store_true",
        help="send an Idempotency-Key with every POST",
    )
    parser.add_argument(
        "--tap-queue-type",
        choices=("quorum", "classic"),
        default="quorum",
        help="the tap queue stands for the consumers' queues (quorum in labornet)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the intake process (e.g. an OUTBOX_ setting)",
    )
    parser.add_argument(
        "--intake-processes",
        type=int,
        default=1,
        metavar="N",
        help="run N intake processes on one port (SO_REUSEPORT); on SQLite only "
        "the first runs the outbox relay",
    )
    parser.add_argument("--baseline-processes", type=int, default=1, metavar="N")
    parser.add_argument(
        "--intake-service",
        default="labornet_intake.service",
        metavar="MODULE",
        help="the module `nameko run` starts for intake (to measure a variant; "
        "put its directory on the path with --env PYTHONPATH=DIR)",
    )
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=30.0,
        help="how long to wait for the last events",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=300.0,
        help="per target: stop sending after this long",
    )
    parser.add_argument(
        "--enforce",
        action="store_true",
        help="also exit 1 when the issue's targets are missed",
    )
    parser.add_argument(
        "--py-spy",
        metavar="DIR",
        help="sample each service with py-spy during the measured posts",
    )
    parser.add_argument("--amqp-uri", default=DEFAULT_AMQP)
    parser.add_argument("--management-url", default=DEFAULT_MANAGEMENT)
    args = parser.parse_args(argv)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    known = {"intake", "intake-direct", "baseline", "baseline-outbox"}
    if not set(args.targets) <= known or not args.targets:
        parser.error(
            "--targets: intake, intake-direct, baseline and/or baseline-outbox"
        )
    if args.cases < 1 or args.clients < 1 or args.warmup < 0:
        parser.error("--cases and --clients must be positive")
    return args


@contextlib.contextmanager
def workspace(keep: bool = False) -> Iterator[Path]:
    """A temp dir for the run, removed at the end unless ``keep``."""
    tmp = Path(tempfile.mkdtemp(prefix="labornet-bench-"))
    try:
        yield tmp
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def wait_quiet(seconds: float, what: str, figures: str = "low") -> float:
    """Wait up to ``seconds`` for an idle machine; warn if it stays busy.
    Returns how busy it was (a share of one core). ``figures``: how a busy
    machine skews them ("low" throughput, "high" latency)."""
    busy = machine_busy_now()
    deadline = time.monotonic() + seconds
    while busy > QUIET_CORES and time.monotonic() < deadline:
        busy = machine_busy_now()
    if busy > QUIET_CORES:
        say(
            f"  (warning: the machine was busy before the {what}: {busy:.0%} of a"
            f" core; figures will be {figures} and noisy)"
        )
    return busy


def machine_busy_now(seconds: float = 1.0) -> float:
    """How busy the machine is right now, in cores (before a target starts)."""
    busy0, wall0 = machine_busy_seconds(), time.perf_counter()
    time.sleep(seconds)
    return (machine_busy_seconds() - busy0) / (time.perf_counter() - wall0)


def interrupt(signum: int, frame: Any) -> None:
    """A signal handler: SIGTERM cleans up as Ctrl-C does."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # the services under measure run with config.yml's development secrets
    os.environ.setdefault("LABORNET_ALLOW_DEVELOPMENT_SECRETS", "true")
    # `timeout`/kill: clean up (processes, vhost, databases) as for Ctrl-C
    signal.signal(signal.SIGTERM, interrupt)
    # eventlet's and pkg_resources' import-time notices (nameko imports both)
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    extra_env = dict(item.split("=", 1) for item in args.env)
    ok = True
    targets: list[Target] = []
    broker = Broker(args.amqp_uri, args.management_url)
    with workspace() as tmp:
        databases = Databases(args.db, tmp)
        try:
            try:
                broker.create()
            except Exception as exc:
                say(
                    f"bench: cannot prepare RabbitMQ vhost ({type(exc).__name__}: "
                    f"{exc}); is RabbitMQ with its management plugin running?"
                )
                return 1
            say(
                f"labornet bench: {databases.kind}, {args.cases} cases per target"
                f" after {args.warmup} warm-up, {args.clients} clients,"
                f" max_workers {MAX_WORKERS} per process, processes intake"
                f" {args.intake_processes} / baseline {args.baseline_processes},"
                f" vhost {broker.vhost},"
                f" {args.tap_queue_type} tap queues, {os.cpu_count()} cores"
            )
            for round_ in range(args.rounds):
                # ABBA order, so a drift in the machine's load hits both
                order = args.targets if round_ % 2 == 0 else args.targets[::-1]
                for name in order:
                    busy = machine_busy_now()
                    waited = time.monotonic() + args.quiet_wait
                    while busy > QUIET_CORES and time.monotonic() < waited:
                        busy = machine_busy_now()
                    if name == "intake-direct":
                        target = make_intake(
                            databases,
                            broker,
                            tmp,
                            {
                                **extra_env,
                                "LABORNET_INTAKE_OUTBOX_RELAY": "off",
                                "PYTHONPATH": str(BENCH_DIR),
                            },
                            "intake_direct_service:IntakeDirectService",
                        )
                        target.name = "intake-direct"
                        target.log_path = tmp / "intake-direct.log"
                        target.count = args.intake_processes
                    elif name == "intake":
                        target = make_intake(
                            databases, broker, tmp, extra_env, args.intake_service
                        )
                        target.count = args.intake_processes
                        if databases.kind == "sqlite":
                            # SQLite has no advisory lock: two relays would
                            # publish the same rows; one relay drains them all
                            target.env_others = {"LABORNET_INTAKE_OUTBOX_RELAY": "off"}
                    elif name == "baseline-outbox":
                        target = make_baseline(
                            databases,
                            broker,
                            tmp,
                            {},
                            name,
                            "baseline_outbox_service",
                        )
                    else:
                        target = make_baseline(databases, broker, tmp, {})
                        target.count = args.baseline_processes
                    target.round = round_ + 1
                    targets.append(target)
                    if busy > QUIET_CORES:
                        say(
                            f"\n(warning: the machine was already busy before"
                            f" {name} started: {busy:.0%} of a core; figures"
                            " will be low and noisy)"
                        )
                    try:
                        ok = bench_target(target, broker, args) and ok
                    finally:
                        target.stop()
                    target.results["busy_before"] = busy
        except KeyboardInterrupt:
            say("bench: interrupted")
            ok = False
        finally:
            for target in targets:
                target.stop()
            broker.delete()
            databases.drop_all()
        ok = summarise(targets, args) and ok
    return 0 if ok else 1


def summarise(targets: list[Target], args: argparse.Namespace) -> bool:
    runs: dict[str, list[dict[str, Any]]] = {}
    for target in targets:
        if "rate" in target.results:
            runs.setdefault(target.name, []).append(target.results)
    if not runs:
        return False
    say("\n== summary" + (f" (paced at {args.rate:g} cases/s)" if args.rate else ""))
    say(
        f"  {'target':<15} {'round':>5} {'cases/s':>9} {'p50':>9} {'p99':>9}"
        f" {'p99 commit-to-queue':>20} {'CPU/case':>9} {'errors':>7}"
    )
    for name, results in runs.items():
        for r in results:
            say(
                f"  {name:<15} {r['round']:>5} {r['rate']:>9.1f} {ms(r['p50']):>9}"
                f" {ms(r['p99']):>9} {ms(r['q99']):>20} {ms(r['cpu_case']):>9}"
                f" {r['errors']:>7}"
            )
    median = {
        name: {
            key: statistics.median(r[key] for r in results)
            for key in ("rate", "q99", "cpu_case")
        }
        for name, results in runs.items()
    }
    if args.rounds > 1:
        for name, m in median.items():
            say(
                f"  {name:<15} {'median':>5} {m['rate']:>9.1f} {'':>9} {'':>9}"
                f" {ms(m['q99']):>20} {ms(m['cpu_case']):>9}"
            )
    met = True
    if "intake" in median and "baseline" in median and not args.rate:
        ratio = median["intake"]["rate"] / max(median["baseline"]["rate"], 1e-9)
        verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
        say(
            f"  throughput ratio intake/baseline: {ratio:.2f}x"
            f" (target >= {TARGET_RATIO}x: {verdict})"
        )
        met = ratio >= TARGET_RATIO
    if "baseline-outbox" in median and "baseline" in median and not args.rate:
        minimal = median["baseline-outbox"]["rate"] / max(
            median["baseline"]["rate"], 1e-9
        )
        say(
            f"  throughput ratio baseline-outbox/baseline (the minimal service,"
            f" outbox vs dual write): {minimal:.2f}x"
        )
    if "intake" in median and "intake-direct" in median and not args.rate:
        same_work = median["intake"]["rate"] / max(
            median["intake-direct"]["rate"], 1e-9
        )
        say(
            f"  throughput ratio intake/intake-direct (the same service and work,"
            f" outbox vs dual write): {same_work:.2f}x"
        )
    if "intake" in median and args.rate:
        q99 = median["intake"]["q99"] * 1000
        verdict = "met" if q99 <= TARGET_P99_COMMIT_TO_QUEUE_MS else "NOT met"
        say(
            f"  intake p99 commit-to-queue at {args.rate:g} cases/s: {q99:.1f} ms"
            f" (target <= {TARGET_P99_COMMIT_TO_QUEUE_MS:g} ms: {verdict})"
        )
        met = q99 <= TARGET_P99_COMMIT_TO_QUEUE_MS
    return met or not args.enforce


if __name__ == "__main__":
    sys.exit(main())
