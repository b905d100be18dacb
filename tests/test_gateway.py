"""The nginx gateway (``deploy/nginx``), with Debian's nginx as CI installs it.

* ``nginx -t`` passes on the containers' config and on the local one.
* The containers' config, its services found through a DNS server standing
  in for Docker's: requests spread over every replica of a name, and a
  replica added later is taken in without a reload.
* Every public path of every service reaches that service and nothing else
  passes (the services' probes and metrics stay behind); the client's
  address arrives as the services' rate limits read it; body limits and the
  gateway's own errors (problem+json) are the services' own.
* Intake as three processes on one PostgreSQL behind the gateway: every
  process serves, no case is doubled, each case reads back whichever
  process answers.

Skipped only when nginx is not installed (``.ci/run`` installs it) or, for
the last, when PostgreSQL does not answer.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.test import EnvironBuilder

from labornet_shared.config import repo_root
from labornet_shared.ratelimit import TrustedProxies
from labornet_shared.tokens import issue_token
from labornet_testkit.harness import (
    TEST_DB_ENV,
    ChildProcess,
    case_payload,
    free_port,
    migrate,
    wait_until,
)

NGINX_DIR = repo_root() / "deploy" / "nginx"
SERVICES = ("intake", "routing", "registry", "notify")
PROBLEM = "application/problem+json"
MACHINE_DB = "postgresql://postgres@127.0.0.1:5432/test"
SECRET = "gateway-test-secret-0123456789abcdef"


def nginx_binary() -> str | None:
    """Debian's nginx (in /usr/sbin, not always on a user's PATH)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which("nginx", path=path)


NGINX = nginx_binary()
needs_nginx = pytest.mark.skipif(
    NGINX is None,
    reason="nginx is not installed (.ci/run installs Debian's nginx-light)",
)


def nginx_test(conf: Path, prefix: Path) -> subprocess.CompletedProcess[str]:
    """``nginx -t`` of ``conf``: relative paths under ``prefix``, errors on
    stderr instead of the system's log."""
    assert NGINX is not None
    return subprocess.run(
        [NGINX, "-t", "-q", "-p", f"{prefix}/", "-e", "stderr", "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def render_local(
    port: int, servers: dict[str, list[int]], gateway_dir: Path = NGINX_DIR
) -> str:
    """``local.conf.template`` filled as envsubst would: the gateway's port and
    each service's processes (ports on 127.0.0.1)."""
    values = {
        "GATEWAY_DIR": str(gateway_dir),
        "GATEWAY_PORT": str(port),
        **{
            f"{service.upper()}_SERVERS": " ".join(
                f"server 127.0.0.1:{p};" for p in servers[service]
            )
            for service in SERVICES
        },
    }
    text = (NGINX_DIR / "local.conf.template").read_text()
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    directives = [
        line for line in text.splitlines() if not line.lstrip().startswith("#")
    ]
    assert "${" not in "\n".join(directives), "a name of the template is not filled"
    return text


class Gateway:
    """nginx in a prefix of its own, in the foreground, with the config
    ``render`` makes for its port; its JSON access log read back."""

    def __init__(self, render: Callable[[int], str], options: str = "") -> None:
        assert NGINX is not None
        self.port = free_port()
        # workers run as "nobody" under root: the prefix must be theirs to
        # enter (pytest's tmp_path is 0700)
        self.prefix = Path(tempfile.mkdtemp(prefix="labornet-gateway-"))
        self.prefix.chmod(0o755)
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(render(self.port))
        self.output = (self.prefix / "nginx.out").open("wb")
        self.proc = subprocess.Popen(
            [
                NGINX,
                "-p",
                f"{self.prefix}/",
                "-e",
                "stderr",
                "-c",
                str(self.conf),
                "-g",
                f"daemon off; {options}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until(self._up, timeout=15)
        except AssertionError:
            self.stop()
            raise AssertionError(f"nginx did not start:\n{self.logs()}") from None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"nginx exited:\n{self.logs()}")
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def logs(self) -> str:
        """nginx's own output (errors, warnings)."""
        path = self.prefix / "nginx.out"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def access(self) -> list[dict[str, Any]]:
        """The access log so far, one dict per request."""
        path = self.prefix / "access.log"
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line) for line in lines]

    def stop(self) -> None:
        """SIGQUIT (finish what is in flight), then SIGKILL the group."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.output.close()

    def cleanup(self) -> None:
        shutil.rmtree(self.prefix, ignore_errors=True)


@contextlib.contextmanager
def gateway(
    servers: dict[str, list[int]] | None = None,
    render: Callable[[int], str] | None = None,
    options: str = "",
) -> Iterator[Gateway]:
    """The local config in front of ``servers`` (ports of each service), or
    the config ``render`` makes for a port."""
    if render is None:
        assert servers is not None
        chosen = servers

        def render(port: int) -> str:
            return render_local(port, chosen)

    running = Gateway(render, options)
    try:
        yield running
    finally:
        running.stop()
        print(running.logs())  # shown when the test failed
        running.cleanup()


def call(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    source: str = "127.0.0.1",
) -> tuple[int, dict[str, str], bytes]:
    """One raw request (the path exactly as given: requests would normalise
    it) from ``source``; status, headers (lower-case names) and body."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=10, source_address=(source, 0)
    )
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        got = {name.lower(): value for name, value in answer.getheaders()}
        return answer.status, got, answer.read()
    finally:
        connection.close()


# --- a stand-in for each service: says who it is and what it received -----------


class Echo:
    """An HTTP server answering every request with what it received, named
    after the service it stands in for."""

    def __init__(self, service: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.service = service
        self.host = host
        self.seen: list[dict[str, Any]] = []
        echo = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received = self.rfile.read(length) if length else b""
                record = {
                    "service": echo.service,
                    "method": self.command,
                    "path": self.path,
                    "headers": {k: v for k, v in self.headers.items()},
                    "forwarded": self.headers.get_all("Forwarded"),
                    "body_length": len(received),
                }
                echo.seen.append(record)
                data = json.dumps(record).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def echoes() -> Iterator[dict[str, Echo]]:
    started = {service: Echo(service) for service in SERVICES}
    try:
        yield started
    finally:
        for echo in started.values():
            echo.stop()


def public_operations() -> list[tuple[str, str, str]]:
    """(service, method, path) of every public operation: each service's
    OpenAPI operations and intake's Open311 routes (described apart), the
    path parameters filled with something of their shape."""
    from labornet_intake.service import IntakeService
    from labornet_notify.service import NotifyService
    from labornet_registry.service import RegistryService
    from labornet_routing.service import RoutingService

    found: list[tuple[str, str, str]] = []
    classes = (IntakeService, RoutingService, RegistryService, NotifyService)
    for service, cls in zip(SERVICES, classes, strict=True):
        for operation in cls.operations:
            if operation.path not in DEVELOPER_PAGES:
                found.append((service, operation.method, operation.path))
    intake_source = (
        repo_root() / "services/intake/labornet_intake/open311/endpoints.py"
    ).read_text()
    for method, path in re.findall(
        r'@open311_api\(\s*"(\w+)",\s*"([^"]+)"', intake_source
    ):
        found.append(("intake", method, path))
    assert len(found) > 40, found
    assert sum(1 for service, _, path in found if path.startswith("/open311")) >= 4

    def fill(path: str) -> str:
        path = re.sub(r"<fmt>|\{fmt\}", "json", path)
        path = re.sub(r"<(?:\w+:)?reference>|\{reference\}", "LN-2568-00000042", path)
        return re.sub(r"<[^>]+>|\{[^}]+\}", str(uuid.uuid4()), path)

    return [(service, method, fill(path)) for service, method, path in found]


#: notify's message console: for `make run` on one machine, never behind the
#: gateway (it is off in containers)
DEVELOPER_PAGES = ("/console",)

#: not public: answered 404 by the gateway itself, never passed on
NOT_PUBLIC = (
    *DEVELOPER_PAGES,
    "/",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/v1/casesx",
    "/v1/case",
    "/v1/nothing",
    "/open3110",
    "/tx/LN-2568-00000042",
    "/v1/cases/../../metrics",
    "/v1/cases/%2e%2e/%2e%2e/metrics",
    "/t/../readyz",
    "/_problems/502",
)


# --- nginx -t ------------------------------------------------------------------


@needs_nginx
def test_container_config_passes_nginx_t(tmp_path: Path) -> None:
    """The file the gateway container runs, as it is: no hosts file needed.

    Its services are variables ("intake:8001"), resolved through Docker's DNS
    per request, so `nginx -t` resolves no name here (where "intake" means
    nothing). An `upstream` block naming them would be resolved at load
    time and fail this check; the second half shows it does.
    """
    checked = nginx_test(NGINX_DIR / "labornet.conf", tmp_path)
    assert checked.returncode == 0, checked.stderr

    # what the variables avoid: a service name in an upstream block
    (tmp_path / "upstream.conf").write_text(
        "events {}\nhttp { upstream intake { server intake.invalid:8001; }\n"
        "server { listen 127.0.0.1:1; location / { proxy_pass http://intake; } } }\n"
    )
    refused = nginx_test(tmp_path / "upstream.conf", tmp_path)
    assert refused.returncode != 0
    assert "host not found in upstream" in refused.stderr


@needs_nginx
def test_local_config_passes_nginx_t(tmp_path: Path) -> None:
    servers = {service: [8001 + n] for n, service in enumerate(SERVICES)}
    servers["intake"] = [8001, 8011, 8021]
    (tmp_path / "nginx.conf").write_text(render_local(8080, servers))
    checked = nginx_test(tmp_path / "nginx.conf", tmp_path)
    assert checked.returncode == 0, checked.stderr


def test_both_configs_share_routes_and_limits() -> None:
    """The local config is the containers' with other addresses: both
    include the same two files and set the same four variables."""
    container = (NGINX_DIR / "labornet.conf").read_text()
    local = (NGINX_DIR / "local.conf.template").read_text()
    for text in (container, local):
        assert re.search(r"include\s+(\$\{GATEWAY_DIR\}/)?common\.conf;", text)
        assert re.search(r"include\s+(\$\{GATEWAY_DIR\}/)?locations\.conf;", text)
        for service in SERVICES:
            assert re.search(rf"set \${service} {service}\b", text), service
    locations = (NGINX_DIR / "locations.conf").read_text()
    # no location sets headers of its own: they would replace common.conf's
    assert "proxy_set_header" not in locations


# --- routes, headers, limits, errors ----------------------------------------------


@needs_nginx
def test_every_public_path_reaches_its_service(echoes: dict[str, Echo]) -> None:
    servers = {service: [echo.port] for service, echo in echoes.items()}
    with gateway(servers) as gw:
        for service, method, path in public_operations():
            body = b"{}" if method in ("POST", "PUT", "PATCH") else None
            status, _, answer = call(gw.port, method, path, body=body)
            assert status == 200, (method, path, status, answer[:300])
            record = json.loads(answer)
            assert (record["service"], record["path"]) == (service, path)

        passed = sum(len(echo.seen) for echo in echoes.values())
        for path in NOT_PUBLIC:
            status, headers, answer = call(gw.port, "GET", path)
            assert status == 404, (path, status)
            assert headers["content-type"] == PROBLEM
            assert json.loads(answer)["code"] == "not_found"
        assert sum(len(echo.seen) for echo in echoes.values()) == passed

        # the gateway's own liveness
        status, _, answer = call(gw.port, "GET", "/healthz")
        assert (status, json.loads(answer)) == (200, {"status": "ok"})


@needs_nginx
def test_services_see_the_client_not_what_it_claims(echoes: dict[str, Echo]) -> None:
    """A client on 127.0.0.2 forging every forwarding header: the service
    behind, trusting the gateway (127.0.0.1) only, counts 127.0.0.2."""
    servers = {service: [echo.port] for service, echo in echoes.items()}
    forged = {
        "X-Forwarded-For": "203.0.113.9",
        "Forwarded": "for=198.51.100.7",
        "X-Real-IP": "198.51.100.8",
    }
    with gateway(servers) as gw:
        status, _, answer = call(
            gw.port,
            "GET",
            "/v1/cases/LN-2568-00000042",
            headers=forged,
            source="127.0.0.2",
        )
        assert status == 200
        seen = json.loads(answer)
    headers = seen["headers"]
    assert headers["X-Forwarded-For"] == "203.0.113.9, 127.0.0.2"
    assert headers["X-Real-IP"] == "127.0.0.2"
    assert seen["forwarded"] is None, "a client's Forwarded header passed"
    assert headers["Host"] == f"127.0.0.1:{gw.port}"
    assert headers["X-Forwarded-Proto"] == "http"

    # what labornet_shared.ratelimit makes of it, as a service behind would
    request = EnvironBuilder(
        path="/v1/cases/LN-2568-00000042",
        headers={k: v for k, v in headers.items() if k != "Host"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    ).get_request()
    assert TrustedProxies("127.0.0.1").client_of(request) == "127.0.0.2"


@needs_nginx
def test_body_limits_are_the_services(echoes: dict[str, Echo]) -> None:
    """MAX_BODY_BYTES (1 MiB) everywhere, MAX_IMPORT_BYTES for the roster:
    a body at the limit passes, one byte more is the gateway's 413."""
    servers = {service: [echo.port] for service, echo in echoes.items()}
    limit = 1048576
    with gateway(servers) as gw:
        status, _, answer = call(gw.port, "POST", "/v1/cases", body=b"x" * limit)
        assert status == 200
        assert json.loads(answer)["body_length"] == limit

        for language, title in (
            ("en", "The request body is larger than allowed."),
            ("th", "ขนาดข้อมูลที่ส่งมาเกินกำหนด"),
        ):
            status, headers, answer = call(
                gw.port,
                "POST",
                "/v1/cases",
                body=b"x" * (limit + 1),
                headers={"Accept-Language": language},
            )
            assert status == 413
            assert headers["content-type"] == PROBLEM
            problem = json.loads(answer)
            assert problem == {
                "type": "urn:labornet:problem:payload_too_large",
                "title": title,
                "status": 413,
                "code": "payload_too_large",
            }

        roster = b"x" * (2 * limit)
        status, _, answer = call(gw.port, "POST", "/v1/agents/import", body=roster)
        assert status == 200
        assert json.loads(answer) | {"headers": None} == {
            "service": "registry",
            "method": "POST",
            "path": "/v1/agents/import",
            "headers": None,
            "forwarded": None,
            "body_length": 2 * limit,
        }
        status, _, _ = call(gw.port, "POST", "/v1/agents", body=roster)
        assert status == 413


@needs_nginx
def test_a_service_down_is_a_problem_502(echoes: dict[str, Echo]) -> None:
    servers = {service: [echo.port] for service, echo in echoes.items()}
    servers["notify"] = [free_port()]  # nobody listens there
    with gateway(servers) as gw:
        status, headers, answer = call(gw.port, "GET", "/v1/deliveries")
        assert status == 502
        assert headers["content-type"] == PROBLEM
        assert headers["retry-after"] == "5"
        assert json.loads(answer)["code"] == "bad_gateway"
        # the others are unaffected
        status, _, _ = call(gw.port, "GET", "/v1/agents")
        assert status == 200


@needs_nginx
def test_a_service_too_slow_is_a_problem_504(
    echoes: dict[str, Echo], tmp_path: Path
) -> None:
    """A service that takes the connection and never answers: 504 once the
    read timeout is over (1 s here instead of common.conf's 30 s)."""
    shared = tmp_path / "nginx"
    shared.mkdir()
    shared.chmod(0o755)
    common = (NGINX_DIR / "common.conf").read_text()
    assert "proxy_read_timeout 30s;" in common
    (shared / "common.conf").write_text(
        common.replace("proxy_read_timeout 30s;", "proxy_read_timeout 1s;")
    )
    shutil.copy(NGINX_DIR / "locations.conf", shared / "locations.conf")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # connections wait in the backlog, never answered
    servers = {service: [echo.port] for service, echo in echoes.items()}
    servers["routing"] = [int(silent.getsockname()[1])]
    try:
        with gateway(render=lambda port: render_local(port, servers, shared)) as gw:
            started = time.monotonic()
            status, headers, answer = call(
                gw.port, "GET", "/v1/referrals", headers={"Accept-Language": "th"}
            )
            assert status == 504
            assert time.monotonic() - started < 5
            assert headers["content-type"] == PROBLEM
            assert headers["retry-after"] == "5"
            assert json.loads(answer) == {
                "type": "urn:labornet:problem:gateway_timeout",
                "title": "ระบบตอบกลับไม่ทันเวลา กรุณาลองใหม่ภายหลัง",
                "status": 504,
                "code": "gateway_timeout",
            }
    finally:
        silent.close()


# --- the containers' config, its services found through DNS -------------------------


class Dns:
    """A DNS server on 127.0.0.1 answering A queries for service names, as
    Docker's embedded DNS does for a compose service: every replica's
    address, in one answer. Names it does not know: NXDOMAIN."""

    def __init__(self) -> None:
        self.records: dict[str, list[str]] = {}
        self.queries: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                query, client = self.sock.recvfrom(512)
            except OSError:
                continue
            with contextlib.suppress(Exception):
                self.sock.sendto(self._answer(query), client)

    def _answer(self, query: bytes) -> bytes:
        labels, at = [], 12
        while query[at]:
            labels.append(query[at + 1 : at + 1 + query[at]].decode())
            at += 1 + query[at]
        question = query[12 : at + 5]  # name, type, class
        qtype = struct.unpack("!H", query[at + 1 : at + 3])[0]
        name = ".".join(labels).lower()
        self.queries.append(name)
        addresses = self.records.get(name)
        flags = 0x8180 if addresses is not None else 0x8183  # NXDOMAIN
        answers = [
            b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 1, 4) + socket.inet_aton(address)
            for address in (addresses or [])
            if qtype == 1
        ]
        header = query[:2] + struct.pack("!HHHHH", flags, 1, len(answers), 0, 0)
        return header + question + b"".join(answers)

    def stop(self) -> None:
        self.running = False
        self.thread.join(timeout=2)
        self.sock.close()


def render_container(port: int, dns_port: int, intake_port: int) -> str:
    """``labornet.conf`` as the containers run it, with what Docker gives it
    replaced by this machine's: the DNS server's address (and a shorter
    cache, so the test need not wait 10 s), the listening address, intake's
    port, and the shared files by their full path."""
    text = (NGINX_DIR / "labornet.conf").read_text()
    for old, new in (
        ("resolver 127.0.0.11 valid=10s", f"resolver 127.0.0.1:{dns_port} valid=1s"),
        ("listen 8080;", f"listen 127.0.0.1:{port};"),
        ("intake:8001", f"intake:{intake_port}"),
        ("include common.conf;", f"include {NGINX_DIR}/common.conf;"),
        ("include locations.conf;", f"include {NGINX_DIR}/locations.conf;"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    return text


@needs_nginx
def test_container_config_spreads_over_every_replica(tmp_path: Path) -> None:
    """``--scale intake=3``, then 4, as nginx sees it: one name, several
    addresses. Requests spread over every replica, a fourth is taken in
    without a reload, and a name that does not resolve is a 502 problem."""
    port = free_port()
    replicas = [Echo("intake", "127.0.0.21", port)]
    replicas += [Echo("intake", f"127.0.0.{n}", port) for n in (22, 23, 24)]
    dns = Dns()
    dns.records["intake"] = [echo.host for echo in replicas[:3]]
    try:
        with gateway(
            render=lambda p: render_container(p, dns.port, port),
            options=f"pid {tmp_path}/nginx.pid;",
        ) as gw:
            for _ in range(60):
                assert call(gw.port, "GET", "/v1/cases/LN-2568-00000042")[0] == 200
            served = [len(echo.seen) for echo in replicas]
            assert all(served[:3]) and served[3] == 0, served
            assert sum(served) == 60

            dns.records["intake"].append(replicas[3].host)  # --scale intake=4
            time.sleep(2.5)  # the resolver's cache: valid=1s here (10s there)
            for _ in range(60):
                assert call(gw.port, "GET", "/v1/cases/LN-2568-00000042")[0] == 200
            assert replicas[3].seen, ([len(e.seen) for e in replicas], dns.queries)

            # routing is not running: its name does not resolve
            status, headers, answer = call(gw.port, "GET", "/v1/referrals")
            assert status == 502
            assert headers["content-type"] == PROBLEM
            assert json.loads(answer)["code"] == "bad_gateway"
            assert "routing" in dns.queries
    finally:
        dns.stop()
        for echo in replicas:
            echo.stop()


# --- three intakes on PostgreSQL behind the gateway --------------------------------


def postgresql_url() -> str | None:
    """LABORNET_TEST_DB_URL, else the machine's test database, if it answers."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    from labornet_shared.db import normalise_url

    url = os.environ.get(TEST_DB_ENV) or MACHINE_DB
    if not url.startswith("postgresql"):
        return None
    try:
        engine = create_engine(normalise_url(url), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except SQLAlchemyError:
        return None
    return url


def intake_ready(port: int) -> bool:
    try:
        answer = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
    except requests.RequestException:
        return False
    return answer.status_code == 200


RECEIVED = re.compile(r"case (LN-\d{4}-\d{8}) received")


@pytest.mark.slow
@needs_nginx
def test_three_intakes_behind_the_gateway(
    request: Any,
    broker: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """30 cases (and 6 retries of them) posted through the gateway to three
    intake processes on one PostgreSQL database: each process takes cases,
    each case is stored once, and each reads back through the gateway from
    every process (the gateway's access log names the process that
    answered, each process's log the cases it took in)."""
    url = postgresql_url()
    if url is None:
        pytest.skip("PostgreSQL does not answer (LABORNET_TEST_DB_URL or " + MACHINE_DB)
    monkeypatch.setenv(TEST_DB_ENV, url)
    database = request.getfixturevalue("fresh_database")("intake")
    migrate("intake", database)

    processes: list[ChildProcess] = []
    ports = [free_port() for _ in range(3)]
    try:
        for number, port in enumerate(ports):
            env = dict(os.environ)
            env.update(
                LABORNET_ROOT=str(repo_root()),
                LABORNET_INTAKE_DB=database,
                LABORNET_AMQP_URI=broker["AMQP_URI"],
                LABORNET_INTAKE_HOST="127.0.0.1",
                LABORNET_INTAKE_PORT=str(port),
                LABORNET_TOKEN_SECRET=SECRET,
                LABORNET_TRUSTED_PROXIES="127.0.0.1",
                LABORNET_RATE_LIMIT_ANONYMOUS="100000/minute",
                LABORNET_INTAKE_MAX_WORKERS="4",
                LABORNET_INTAKE_DB_POOL_SIZE="4",
                LABORNET_LOG_LEVEL="INFO",
                PYTHONWARNINGS="ignore",
            )
            processes.append(
                ChildProcess(f"intake-{number}", _nameko_intake(), tmp_path, env)
            )
        try:
            wait_until(lambda: all(intake_ready(p) for p in ports), timeout=60)
        except AssertionError:
            raise AssertionError(
                "\n".join(process.logs() for process in processes)
            ) from None

        others = {service: [free_port()] for service in SERVICES if service != "intake"}
        with gateway({"intake": ports, **others}) as gw, requests.Session() as http:
            deadline = time.monotonic() + 60
            created: dict[str, dict[str, Any]] = {}
            for _ in range(30):
                assert time.monotonic() < deadline, "posting took over 60 s"
                key = str(uuid.uuid4())
                body = case_payload()
                answer = http.post(
                    f"{gw.url}/v1/cases",
                    json=body,
                    headers={"Idempotency-Key": key},
                    timeout=10,
                )
                assert answer.status_code == 201, answer.text
                reference = answer.json()["reference"]
                assert reference not in created
                created[reference] = {
                    "key": key,
                    "body": body,
                    "code": answer.json()["tracking_code"],
                }
            # a client's retries, landing on whichever process is next
            for reference, case in list(created.items())[:6]:
                again = http.post(
                    f"{gw.url}/v1/cases",
                    json=case["body"],
                    headers={"Idempotency-Key": case["key"]},
                    timeout=10,
                )
                assert again.status_code in (200, 201), again.text
                assert again.json()["reference"] == reference
            # each case three times in a row: round-robin, so every process
            # reads every case, whichever took it in
            for reference, case in created.items():
                assert time.monotonic() < deadline, "reading took over 60 s"
                for _ in range(3):
                    read = http.get(
                        f"{gw.url}/v1/cases/{reference}",
                        headers={"X-Tracking-Code": case["code"]},
                        timeout=10,
                    )
                    assert read.status_code == 200, read.text
                    assert read.json()["reference"] == reference
            operator = {
                "Authorization": "Bearer "
                + issue_token(SECRET, "operator", name="operator-somsri")
            }
            listed = http.get(
                f"{gw.url}/v1/cases", params={"limit": 200}, headers=operator
            ).json()
            references = [case["reference"] for case in listed["cases"]]
            access = gw.access()

        # the database: each case once
        assert sorted(references) == sorted(created)
        assert listed["next_cursor"] is None

        # the gateway: every process served posts and reads
        upstream = {f"127.0.0.1:{port}" for port in ports}
        posts = Counter(
            line["upstream"]
            for line in access
            if line["method"] == "POST" and line["path"] == "/v1/cases"
        )
        readers: dict[str, set[str]] = {reference: set() for reference in created}
        for line in access:
            if line["method"] == "GET" and line["path"].startswith("/v1/cases/"):
                readers[line["path"].rsplit("/", 1)[1]].add(line["upstream"])
        reads = Counter(u for found in readers.values() for u in found)
        assert set(posts) == upstream, posts
        assert sum(posts.values()) == 36
        assert all(found == upstream for found in readers.values()), readers
        assert all(line["status"] < 300 for line in access), access

        # each process's own log: the cases it took in, none in two logs
        taken = {
            process.name: RECEIVED.findall(process.stderr.read_text())
            for process in processes
        }
        assert all(taken.values()), taken
        every = [reference for found in taken.values() for reference in found]
        assert Counter(every) == Counter(list(created)), taken
        print(
            "gateway to 3 intakes:",
            {name: len(found) for name, found in taken.items()},
            "cases taken;",
            dict(posts),
            "posts;",
            dict(reads),
            "cases read by each",
        )
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            print(process.logs())  # shown when the test failed


def _nameko_intake() -> list[str]:
    nameko = str(Path(sys.executable).parent / "nameko")
    config = str(repo_root() / "services" / "intake" / "config.yml")
    return [nameko, "run", "--config", config, "labornet_intake.service"]
