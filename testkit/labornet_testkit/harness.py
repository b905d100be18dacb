"""Test support shared by every service's tests: factories and fixtures.

Loaded as a pytest plugin by the repository's ``conftest.py``. Databases:
SQLite files by default; ``LABORNET_TEST_DB_URL=postgresql://...`` gives each
test its own PostgreSQL schema instead. Brokers: nameko's ``rabbit_config``
gives each test its own RabbitMQ vhost, with labornet's topology declared.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import kombu
import pytest
import requests

from labornet_shared.config import load_service_config, repo_root
from labornet_shared.logs import JsonFormatter
from labornet_shared.reference import generate_national_id
from labornet_testkit.events import withdrawn_event_body as withdrawn_event_body

TEST_DB_ENV = "LABORNET_TEST_DB_URL"
#: Services refuse config.yml's public secrets unless this is true; the test
#: suite runs them with those (see labornet_shared.local_secrets).
ALLOW_DEVELOPMENT_SECRETS_ENV = "LABORNET_ALLOW_DEVELOPMENT_SECRETS"
MANAGEMENT_URL = os.environ.get(
    "LABORNET_RABBIT_MANAGEMENT_URL", "http://guest:guest@localhost:15672"
)


def pytest_configure(config: Any) -> None:
    """Let the services of this test run use config.yml's development
    secrets: the containers' configs (read from config.yml) and every
    process a test starts with this environment inherit the setting."""
    os.environ.setdefault(ALLOW_DEVELOPMENT_SECRETS_ENV, "true")


# --- factories -----------------------------------------------------------------

DESCRIPTIONS = (
    "นายจ้างค้างจ่ายค่าจ้างสองเดือน รวม 24,000 บาท ขอให้ช่วยติดตาม",
    "ถูกเลิกจ้างโดยไม่ได้รับค่าชดเชย ทำงานมา 6 ปี อยากขอเงินว่างงานด้วย",
    "อยากหางานใหม่ในจังหวัด มีประสบการณ์ขับรถบรรทุก",
    "Fell from scaffolding at the construction site, employer refuses "
    "to report it to the compensation fund",
    "ต้องการสมัครอบรมช่างเชื่อมของกรมพัฒนาฝีมือแรงงาน",
    "โรงงานไม่มีอุปกรณ์ป้องกันเสียงดัง คนงานหูอื้อกันหลายคน",
    "ขอเปลี่ยนโรงพยาบาลตามสิทธิประกันสังคม มาตรา 33",
    "Recruitment agency took 80,000 baht for a job in Taiwan and disappeared",
)
SUBDISTRICTS = ("520105", "100101", "500101", "400101", "900101", "301701")


def case_payload(rng: random.Random | None = None, **overrides: Any) -> dict[str, Any]:
    """A realistic ``POST /v1/cases`` body; keyword arguments override."""
    rng = rng or random.Random()
    subdistrict = rng.choice(SUBDISTRICTS)
    body: dict[str, Any] = {
        "description": rng.choice(DESCRIPTIONS),
        "channel": rng.choice(("web", "line", "phone", "walk_in")),
        "location": {
            "province_code": f"TH-{subdistrict[:2]}",
            "subdistrict_code": subdistrict,
        },
        "citizen": {
            "name": rng.choice(("สมชาย ใจดี", "มาลี ศรีสุข", "Aung Kyaw", "นิตยา ทองคำ")),
            "phone": f"08{rng.randint(1, 9)}{rng.randint(1000000, 9999999)}",
            "national_id": generate_national_id(rng),
            "language": "th",
            "contact_channel": "sms",
        },
        "consent": {
            "purpose": "ติดต่อกลับเรื่องนี้ / contact me about this case",
            "given_at": datetime.now(UTC).isoformat(),
        },
    }
    body.update(overrides)
    return body


def anonymous_case_payload(**overrides: Any) -> dict[str, Any]:
    """A case with no personal data (no consent needed)."""
    body = case_payload(random.Random(7))
    body.pop("citizen")
    body.pop("consent")
    body.update(overrides)
    return body


# --- databases -------------------------------------------------------------------


def _schema_url(base: str, schema: str) -> str:
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Make fresh, empty databases by name: SQLite files, or PostgreSQL
    schemas (dropped at the end), so several services of one test each own
    their database, as they do in production."""
    base = os.environ.get(TEST_DB_ENV)
    schemas: list[str] = []

    def make(name: str) -> str:
        if not base:
            return f"sqlite:///{tmp_path / f'{name}.db'}"
        from sqlalchemy import create_engine, text

        from labornet_shared.db import normalise_url

        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(normalise_url(base))
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        schemas.append(schema)
        return _schema_url(base, schema)

    yield make
    if schemas:
        from sqlalchemy import create_engine, text
        from sqlalchemy.exc import OperationalError

        from labornet_shared.db import normalise_url

        admin = create_engine(normalise_url(str(base)))
        for schema in schemas:
            # a service of the test may still be running (nameko stops its
            # containers after the other fixtures): its transaction and the
            # DROP can deadlock, and PostgreSQL then cancels one of them
            for attempt in range(5):
                try:
                    with admin.begin() as conn:
                        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                    break
                except OperationalError:
                    if attempt == 4:
                        raise
                    time.sleep(0.2 * (attempt + 1))
        admin.dispose()


@pytest.fixture
def db_url(fresh_database: Callable[[str], str]) -> str:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema."""
    return fresh_database("test")


def migrate(service: str, url: str) -> None:
    """Run a service's alembic migrations on ``url``."""
    from labornet_shared.ops.installation import migrate_service

    migrate_service(service, url)


@pytest.fixture
def on_postgresql() -> bool:
    """Whether this run uses PostgreSQL."""
    return bool(os.environ.get(TEST_DB_ENV))


# --- broker --------------------------------------------------------------------


@pytest.fixture
def broker(rabbit_config: dict[str, Any]) -> dict[str, Any]:
    """nameko's per-test vhost with labornet's topology declared in it, except
    the handlers' queues: each service declares its own as it starts (a test
    starting one service wants no queue of the others filling up, and 21
    quorum queues would cost every test half a second)."""
    from labornet_shared.broker import declare_topology

    declare_topology(rabbit_config["AMQP_URI"], MANAGEMENT_URL, consumer_queues=False)
    return rabbit_config


class QueueTap:
    """A durable queue bound to an exchange, read by the test."""

    def __init__(self, amqp_uri: str, exchange: str, routing_key: str = "#") -> None:
        self.amqp_uri = amqp_uri
        self.name = f"test-tap-{uuid.uuid4().hex[:8]}"
        with kombu.Connection(amqp_uri) as conn:
            channel = conn.channel()
            channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
            channel.queue_declare(self.name, durable=True, auto_delete=False)
            channel.queue_bind(self.name, exchange, routing_key)
            channel.close()

    def drain(self, expected: int = 0, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Collect messages until ``expected`` arrived (and 0.3 s of quiet)."""
        bodies: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        with kombu.Connection(self.amqp_uri) as conn:
            channel = conn.channel()
            while time.monotonic() < deadline:
                message = channel.basic_get(self.name, no_ack=True)
                if message is None:
                    if len(bodies) >= expected and time.monotonic() - quiet_since > 0.3:
                        break
                    time.sleep(0.02)
                    continue
                quiet_since = time.monotonic()
                body = json.loads(message.body)
                body["_headers"] = dict(message.headers or {})
                body["_properties"] = {
                    k: v
                    for k, v in message.properties.items()
                    if k in ("delivery_mode", "message_id", "content_type")
                }
                bodies.append(body)
            channel.close()
        return bodies


# --- logs ---------------------------------------------------------------------------

#: the test's own HTTP client logs its URLs at DEBUG; it is not a service
CLIENT_LOGGERS = ("urllib3", "requests")


class LogCapture(logging.Handler):
    """Every record of the process, raw and as a service's JSON line."""

    def __init__(self, service: str = "test") -> None:
        super().__init__(logging.DEBUG)
        self.json = JsonFormatter(service)
        self.records: list[tuple[str, str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record's name, its full text and its JSON line."""
        if record.name.startswith(CLIENT_LOGGERS):
            return
        raw = record.getMessage()
        if record.exc_info:
            raw += "\n" + logging.Formatter().formatException(record.exc_info)
        if record.stack_info:
            raw += "\n" + record.stack_info
        self.records.append((record.name, raw, self.json.format(record)))


@contextlib.contextmanager
def capture_logs(service: str = "test") -> Iterator[LogCapture]:
    """Capture every log record at DEBUG while the block runs."""
    with logging_everything_to(LogCapture(service)) as capture:
        yield capture


def take_all(amqp_uri: str, queue: str) -> list[Any]:
    """Remove and return every message now in ``queue``."""
    taken = []
    with kombu.Connection(amqp_uri) as connection:
        channel = connection.channel()
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            taken.append(message)
        channel.close()
    return taken


def publish_event(
    amqp_uri: str,
    event: Any,
    exchange: str | None = None,
    routing_key: str | None = None,
) -> None:
    """Publish an :class:`~labornet_shared.events.Event` as a service's outbox
    relay does: JSON, persistent, to ``<source service>.events`` keyed by its
    type (or the exchange and key given)."""
    from labornet_shared.events import source_service

    exchange = exchange or f"{source_service(event.event_type)}.events"
    # confirmed, as the relay does: an unconfirmed publish just before the
    # connection closes may never reach a quorum queue
    with kombu.Connection(
        amqp_uri, transport_options={"confirm_publish": True}
    ) as connection:
        channel = connection.channel()
        channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
        kombu.Producer(channel).publish(
            json.dumps(event.to_body()),
            exchange=exchange,
            routing_key=routing_key or event.event_type,
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
        )
        channel.close()


@pytest.fixture
def queue_tap(broker: dict[str, Any]) -> Callable[..., QueueTap]:
    """Make :class:`QueueTap`s on this test's vhost."""

    def make(exchange: str, routing_key: str = "#") -> QueueTap:
        return QueueTap(broker["AMQP_URI"], exchange, routing_key)

    return make


# --- the labornet command ---------------------------------------------------------


def run_labornet(
    *args: str,
    amqp_uri: str | None = None,
    stdin: str = "",
    timeout: float = 60,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """Run ``labornet ARGS`` as an operator would: its own process, only the
    LABORNET_* settings given here (and the test broker's management URL)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LABORNET_")}
    environment.update(
        LABORNET_RABBIT_MANAGEMENT_URL=MANAGEMENT_URL,
        LABORNET_ROOT=str(repo_root()),
    )
    if ALLOW_DEVELOPMENT_SECRETS_ENV in os.environ:
        environment[ALLOW_DEVELOPMENT_SECRETS_ENV] = os.environ[
            ALLOW_DEVELOPMENT_SECRETS_ENV
        ]
    environment.update(env)
    if amqp_uri:
        environment["LABORNET_AMQP_URI"] = amqp_uri
    return subprocess.run(  # noqa: S603 - our own command
        [str(Path(sys.executable).with_name("labornet")), *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=environment,
        cwd=repo_root(),
        timeout=timeout,
    )


class ChildProcess:
    """A labornet process (a relay, a service) started by a fault test, its
    output kept in files, killed with any signal the test chooses."""

    def __init__(
        self, name: str, argv: list[str], tmp_path: Path, env: dict[str, str]
    ) -> None:
        self.name = name
        self.stdout = tmp_path / f"{name}.stdout"
        self.stderr = tmp_path / f"{name}.stderr"
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.proc = subprocess.Popen(  # noqa: S603 - our own commands
                argv,
                cwd=repo_root(),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    def signal(self, signum: int) -> None:
        """Send ``signum`` if the process still runs."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signum)

    def alive(self) -> bool:
        """Whether it still runs."""
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL (works on a stopped process too) and reap it."""
        self.signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def logs(self) -> str:
        """The end of its output, for a failing test's message."""
        parts = []
        for path in (self.stdout, self.stderr):
            content = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"--- {self.name} {path.suffix[1:]} ---\n{content[-4000:]}")
        return "\n".join(parts)


def service_process(
    service: str, name: str, tmp_path: Path, env: dict[str, str], port: int
) -> ChildProcess:
    """``nameko run`` of a service as its own process, with ``env`` (the
    whole environment), once its ``/readyz`` on ``port`` answers 200."""
    nameko = str(Path(sys.executable).parent / "nameko")
    config = str(repo_root() / "services" / service / "config.yml")
    argv = [nameko, "run", "--config", config, f"labornet_{service}.service"]
    process = ChildProcess(name, argv, tmp_path, env)

    def ready() -> bool:
        try:
            answer = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
        except requests.RequestException:
            return False
        return answer.status_code == 200

    try:
        wait_until(ready, timeout=60)
    except AssertionError:
        process.kill()
        raise AssertionError(process.logs()) from None
    return process


# --- services --------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_config(service: str, **overrides: Any) -> dict[str, Any]:
    """A service's config.yml (defaults) with test overrides."""
    config = load_service_config(service)
    config.pop("LOGGING", None)
    config.update(overrides)
    return config


def service_fixtures(
    service: str, service_class: str, *, own_database: bool = True, **settings: Any
) -> tuple[Any, Any, Any, Any]:
    """The fixtures a service's tests use, made the same way for every service:
    ``<service>_db`` (migrated; its own database, or the test's ``db_url``),
    ``<service>_config`` (that database, the test's vhost, a free port and
    quick test ``settings``), ``start_<service>`` (start a container with
    overrides; an API client back) and ``<service>_api`` (one running).

    A service's ``testing`` module assigns them to module names, which is
    how pytest finds them::

        registry_db, registry_config, start_registry, registry_api = (
            service_fixtures("registry", "labornet_registry.service:RegistryService")
        )
    """

    @pytest.fixture(name=f"{service}_db")
    def database(request: Any) -> str:
        if own_database:
            url = str(request.getfixturevalue("fresh_database")(service))
        else:
            url = str(request.getfixturevalue("db_url"))
        migrate(service, url)
        return url

    @pytest.fixture(name=f"{service}_config")
    def config(request: Any, broker: dict[str, Any]) -> dict[str, Any]:
        return service_config(
            service,
            AMQP_URI=broker["AMQP_URI"],
            DATABASE_URL=request.getfixturevalue(f"{service}_db"),
            WEB_SERVER_ADDRESS=f"127.0.0.1:{free_port()}",
            OUTBOX_POLL_SECONDS=0.2,
            RATE_LIMIT_ANONYMOUS="10000/minute",
            EVENT_RETRY_DELAYS_MS="50,100,200",
            GC_FREEZE=False,
            **settings,
        )

    @pytest.fixture(name=f"start_{service}")
    def start(
        request: Any, container_factory: Callable[..., Any]
    ) -> Callable[..., Api]:
        base = request.getfixturevalue(f"{service}_config")

        def run(**overrides: Any) -> Api:
            import importlib

            module, name = service_class.split(":")
            cls = getattr(importlib.import_module(module), name)
            config = {**base, **overrides}
            container = container_factory(cls, config)
            container.start()
            return Api(f"http://{config['WEB_SERVER_ADDRESS']}")

        return run

    @pytest.fixture(name=f"{service}_api")
    def running(request: Any) -> Iterator[Api]:
        api = request.getfixturevalue(f"start_{service}")()
        with api:
            yield api

    return database, config, start, running


class Api(requests.Session):
    """requests against one service's base URL."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Relative URLs are joined to the base URL."""
        if url.startswith("/"):
            url = self.base_url + url
        kwargs.setdefault("timeout", 30)
        return super().request(method, url, *args, **kwargs)


_Handler = TypeVar("_Handler", bound=logging.Handler)


@contextlib.contextmanager
def logging_everything_to(handler: _Handler) -> Iterator[_Handler]:
    """Every record of this process, from DEBUG up, also goes to ``handler``
    while the block runs (a test looking for what must never be logged)."""
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``predicate`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s")


class TcpProxy:
    """A TCP proxy the test can cut and restore, to fake a network outage.

    Runs in real OS threads so it keeps working beside eventlet-patched code.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._open = threading.Event()
        self._open.set()
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._stop = False

    def start(self) -> TcpProxy:
        """Start accepting on ``127.0.0.1:port``."""
        from eventlet.patcher import original

        real_socket = original("socket")
        real_threading = original("threading")
        self._real_socket = real_socket
        server = real_socket.socket(real_socket.AF_INET, real_socket.SOCK_STREAM)
        server.setsockopt(real_socket.SOL_SOCKET, real_socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        server.settimeout(0.2)
        self._server = server
        real_threading.Thread(target=self._accept, daemon=True).start()
        self._threading = real_threading
        return self

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stop:
            try:
                client, _ = self._server.accept()
            except OSError:
                continue
            if not self._open.is_set():
                client.close()
                continue
            try:
                upstream = self._real_socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)  # idle AMQP connections must survive
            with self._lock:
                # checked under the lock cut() takes: none slips past a cut
                if not self._open.is_set():
                    client.close()
                    upstream.close()
                    continue
                self._connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                self._threading.Thread(
                    target=self._pipe, args=(a, b), daemon=True
                ).start()

    def _pipe(self, source: Any, sink: Any) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                # shutdown first: close() alone does not end a socket the
                # other pipe thread is blocked reading, so the far side (a
                # PostgreSQL backend in a transaction, a broker connection
                # holding unacked messages) would never hear of the close
                with contextlib.suppress(OSError):
                    sock.shutdown(self._real_socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()

    def cut(self) -> None:
        """Drop every connection and refuse new ones."""
        self._open.clear()
        with self._lock:
            connections, self._connections = self._connections, []
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(self._real_socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def restore(self) -> None:
        """Accept connections again."""
        self._open.set()

    def stop(self) -> None:
        """Close everything."""
        self._stop = True
        self.cut()
        if self._server is not None:
            self._server.close()


def amqp_through(amqp_uri: str, port: int) -> str:
    """``amqp_uri`` (credentials and vhost kept) sent to 127.0.0.1:``port``,
    e.g. a :class:`TcpProxy`."""
    parts = urlsplit(amqp_uri)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:{port}" if credentials else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
def broker_proxy(broker: dict[str, Any]) -> Iterator[TcpProxy]:
    """A cuttable TCP proxy in front of this test's RabbitMQ; connect through
    it with ``amqp_through(broker["AMQP_URI"], broker_proxy.port)``."""
    port = urlsplit(broker["AMQP_URI"]).port or 5672
    proxy = TcpProxy(("127.0.0.1", port)).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def repo() -> Path:
    """The checkout the tests run in."""
    return repo_root()
