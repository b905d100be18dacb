"""The deployment files, checked without Docker: docker-compose.yml against
the Compose Specification's JSON schema (tests/compose-spec/) and against
each service's config.yml, the gateway's config (deploy/nginx), the one
Dockerfile (built per service with ``--build-arg SERVICE=...``), the
postgres init script and deploy/make-secrets.sh.

:func:`compose_problems` lists what is wrong with a compose file; the real
file has nothing wrong, and each way of breaking a copy of it (a service
publishing a port, an unknown key, a secret as a plain variable, a service
not waiting for its migration…) is caught — so `docker compose up` is not
where an operator finds out.
"""

from __future__ import annotations

import copy
import fnmatch
import ipaddress
import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from labornet_shared.config import load_config
from labornet_shared.secret_files import FILE_SETTINGS, read_secret_files

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_SCHEMA = ROOT / "tests" / "compose-spec" / "compose-spec.json"
DOCKERFILE = ROOT / "Dockerfile"
SERVICES_DIR = ROOT / "services"
GATEWAY_CONF = ROOT / "deploy" / "nginx" / "labornet.conf"
MAKE_SECRETS = ROOT / "deploy" / "make-secrets.sh"
INIT_SQL = ROOT / "docker" / "postgres-init" / "01-databases.sql"

# The four services of DESIGN.md; each gets its database before it exists.
PLANNED_SERVICES = {"intake", "routing", "registry", "notify"}
GATEWAY = "gateway"
ENTRY_POINT = ["python", "-P", "-m", "labornet_shared.secret_files"]

CONFIG_VAR = re.compile(r"\$\{(LABORNET_[A-Z0-9_]+)")
CONFIG_VAR_DEFAULT = re.compile(r"\$\{(LABORNET_[A-Z0-9_]+):([^}]*)\}")
GATEWAY_SERVICE = re.compile(r"set \$(\w+) ([\w.-]+):(\d+);")
CREATE_DATABASE = re.compile(
    r'CREATE\s+DATABASE\s+"?([A-Za-z_][A-Za-z0-9_]*)"?', re.IGNORECASE
)
SECRET_PATH = re.compile(r"/run/secrets/([A-Za-z0-9._-]+)")


class _PlainLoader(yaml.SafeLoader):
    """SafeLoader without nameko's ${VAR} resolver, which `nameko test` adds
    to SafeLoader itself: compose's own ${VAR} must stay as written."""

    yaml_implicit_resolvers = {  # noqa: RUF012 - yaml's own class attribute
        first: [r for r in resolvers if r[0] != "!env_var"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


def _load_compose() -> dict[str, Any]:
    with COMPOSE_FILE.open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=_PlainLoader)
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), (
        "docker-compose.yml has no services mapping"
    )
    return data


COMPOSE = _load_compose()
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]


def _service_dirs() -> list[Path]:
    return sorted(
        p
        for p in SERVICES_DIR.iterdir()
        if p.is_dir() and not p.name.startswith((".", "_"))
    )


def _config_service_dirs() -> list[Path]:
    return [p for p in _service_dirs() if (p / "config.yml").is_file()]


def _pairs(value: Any) -> dict[str, str]:
    """A compose mapping-or-list (environment, build args) as a dict."""
    if isinstance(value, list):
        pairs = (str(item).split("=", 1) for item in value)
        return {p[0]: p[1] if len(p) > 1 else "" for p in pairs}
    return {k: "" if v is None else str(v) for k, v in (value or {}).items()}


def _environment(service: dict[str, Any]) -> dict[str, str]:
    return _pairs(service.get("environment"))


def _build(service: dict[str, Any]) -> dict[str, Any] | None:
    build = service.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        return {"context": build, "dockerfile": "Dockerfile"}
    return dict(build)


def _source_dir(service: dict[str, Any]) -> Path | None:
    """The services/<name>/ directory this service's image is built from: the
    repository's Dockerfile with SERVICE=<name>."""
    build = _build(service)
    if build is None:
        return None
    context = (ROOT / build.get("context", ".")).resolve()
    dockerfile = (context / build.get("dockerfile", "Dockerfile")).resolve()
    name = _pairs(build.get("args")).get("SERVICE")
    if dockerfile != DOCKERFILE.resolve() or not name:
        return None
    return SERVICES_DIR / name


def _is_one_shot(service: dict[str, Any]) -> bool:
    # `restart: no` unquoted is YAML false, which compose rejects: demand "no".
    return service.get("restart") == "no"


def _config_text(service_dir: Path) -> str:
    return (service_dir / "config.yml").read_text(encoding="utf-8")


def _config_reads(service_dir: Path) -> set[str]:
    return set(CONFIG_VAR.findall(_config_text(service_dir)))


def _config_defaults(service_dir: Path) -> dict[str, str]:
    return dict(CONFIG_VAR_DEFAULT.findall(_config_text(service_dir)))


def _gateway_routes() -> dict[str, tuple[str, int]]:
    """The gateway's services: ``{"intake": ("intake", 8001), ...}``."""
    text = GATEWAY_CONF.read_text(encoding="utf-8")
    return {var: (host, int(port)) for var, host, port in GATEWAY_SERVICE.findall(text)}


def _listening_port(name: str, service: dict[str, Any]) -> str:
    """The port a labornet service listens on: compose's setting, else its
    config.yml's default."""
    source = _source_dir(service)
    assert source is not None
    variable = f"LABORNET_{source.name.upper()}_PORT"
    return _environment(service).get(variable) or _config_defaults(source)[variable]


def _init_databases() -> set[str]:
    sql = re.sub(r"--[^\n]*", "", INIT_SQL.read_text(encoding="utf-8"))
    return {name.lower() for name in CREATE_DATABASE.findall(sql)}


# --- what is wrong with a compose file --------------------------------------


def schema_problems(compose: dict[str, Any]) -> list[str]:
    """The Compose Specification's verdict, one line per error."""
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"schema: {'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in sorted(validator.iter_errors(compose), key=str)
    ]


def _secret_problems(
    compose: dict[str, Any], name: str, service: dict[str, Any]
) -> list[str]:
    """Every secret setting as ``LABORNET_X_FILE=/run/secrets/<secret>``, the
    secret given to the service and declared from a file; none as a value."""
    problems = []
    declared = compose.get("secrets") or {}
    given = {
        item if isinstance(item, str) else item.get("source")
        for item in service.get("secrets") or []
    }
    for variable, value in _environment(service).items():
        setting = variable.removesuffix("_FILE")
        if variable in FILE_SETTINGS:
            problems.append(
                f"{name}: {variable} is a secret: give it as {variable}_FILE"
            )
        elif variable.endswith("_FILE") and setting in FILE_SETTINGS:
            match = SECRET_PATH.fullmatch(value)
            if match is None:
                problems.append(f"{name}: {variable} is not /run/secrets/<secret>")
                continue
            secret = match.group(1)
            if secret not in given:
                problems.append(
                    f"{name}: {variable} reads secret {secret!r}, not given to it"
                )
            if "file" not in (declared.get(secret) or {}):
                problems.append(
                    f"{name}: secret {secret!r} is not declared from a file"
                )
        elif re.search(r"://[^/@\s]*:[^/@\s]+@", value) or re.search(
            r"(PASSWORD|PASS|SECRET|TOKEN)$", variable
        ):
            problems.append(f"{name}: {variable} holds a secret as a plain value")
    return problems


def _app_problems(
    compose: dict[str, Any], name: str, service: dict[str, Any], source: Path
) -> list[str]:
    problems = []
    reads = _config_reads(source)
    env = _environment(service)
    for variable in sorted(v for v in env if v.startswith("LABORNET_")):
        setting = (
            variable.removesuffix("_FILE") if variable.endswith("_FILE") else variable
        )
        if setting not in reads:
            problems.append(
                f"{name}: {variable}: {source.name}'s config.yml reads no {setting}"
            )
    problems += _secret_problems(compose, name, service)
    given = {v.removesuffix("_FILE") for v in env if v.endswith("_FILE")}
    command = service.get("command") or []
    if _is_one_shot(service):
        # a job needs what its command uses: a migration its database
        if command[:2] == ["labornet", "migrate"]:
            needed = {f"LABORNET_{source.name.upper()}_DB"}
        else:
            needed = {"LABORNET_AMQP_URI", "LABORNET_RABBIT_MANAGEMENT_URL"}
    else:
        # a service every secret its config reads
        needed = reads & set(FILE_SETTINGS)
    for setting in sorted(needed - given):
        problems.append(f"{name}: needs {setting}, given no {setting}_FILE")
    if not _is_one_shot(service):
        problems += _long_running_app_problems(compose, name, service, source)
    return problems


def _long_running_app_problems(
    compose: dict[str, Any], name: str, service: dict[str, Any], source: Path
) -> list[str]:
    problems = []
    services = compose["services"]
    env = _environment(service)
    depends = service.get("depends_on") or {}
    if not isinstance(depends, dict):
        return [f"{name}: depends_on must be a mapping with conditions"]
    migrations = [
        dep
        for dep, spec in depends.items()
        if dep in services
        and services[dep].get("command") == ["labornet", "migrate", source.name]
        and (spec or {}).get("condition") == "service_completed_successfully"
    ]
    if not migrations:
        problems.append(
            f"{name}: does not wait for a job running `labornet migrate {source.name}`"
        )
    for needed in ("rabbitmq", "postgres", "redis", "broker-setup"):
        if needed not in depends:
            problems.append(f"{name}: must wait for {needed}")
    if service.get("command", [None])[0] != "nameko":
        problems.append(f"{name}: runs {service.get('command')}, not nameko run")
    # the gateway reaches it on the port it listens on, on every interface
    port = _listening_port(name, service)
    routes = {host: p for host, p in _gateway_routes().values()}
    if name in routes and str(routes[name]) != port:
        problems.append(
            f"{name}: listens on {port}, the gateway sends to {routes[name]}"
        )
    if env.get(f"LABORNET_{source.name.upper()}_HOST") != "0.0.0.0":
        problems.append(f"{name}: does not listen on every interface")
    if f"localhost:{port}/readyz" not in str(
        (service.get("healthcheck") or {}).get("test")
    ):
        problems.append(f"{name}: its healthcheck does not ask /readyz on {port}")
    # the client a service counts is the one the gateway saw
    gateway_address = _gateway_address(compose)
    trusted = [p.strip() for p in env.get("LABORNET_TRUSTED_PROXIES", "").split(",")]
    if gateway_address is None or not any(
        p and ipaddress.ip_address(gateway_address) in ipaddress.ip_network(p)
        for p in trusted
    ):
        problems.append(
            f"{name}: LABORNET_TRUSTED_PROXIES {trusted} does not name the gateway"
            f" ({gateway_address})"
        )
    return problems


def _gateway_address(compose: dict[str, Any]) -> str | None:
    networks = (compose["services"].get(GATEWAY) or {}).get("networks") or {}
    if not isinstance(networks, dict):
        return None
    return ((networks.get("default") or {}).get("ipv4_address")) or None


def _network_problems(compose: dict[str, Any]) -> list[str]:
    """A fixed subnet, and the gateway's fixed address in it, outside the
    range other containers are given."""
    address = _gateway_address(compose)
    if address is None:
        return ["gateway: no fixed ipv4_address on the default network"]
    ipam = ((compose.get("networks") or {}).get("default") or {}).get("ipam") or {}
    configs = ipam.get("config") or []
    if not configs or "subnet" not in configs[0]:
        return ["networks: the default network has no fixed subnet"]
    subnet = ipaddress.ip_network(configs[0]["subnet"])
    problems = []
    if ipaddress.ip_address(address) not in subnet:
        problems.append(f"gateway: {address} is outside the subnet {subnet}")
    ip_range = configs[0].get("ip_range")
    if not ip_range or ipaddress.ip_address(address) in ipaddress.ip_network(ip_range):
        problems.append(f"gateway: {address} may be given to another container")
    return problems


def _gateway_problems(compose: dict[str, Any]) -> list[str]:
    gateway = compose["services"].get(GATEWAY)
    if gateway is None:
        return ["gateway: no nginx gateway service"]
    problems = []
    image = str(gateway.get("image", ""))
    if not image.startswith("nginx:") or "alpine" in image:
        problems.append(f"gateway: {image!r} is not the official (Debian) nginx image")
    if "./deploy/nginx:/etc/nginx/labornet:ro" not in gateway.get("volumes", []):
        problems.append(
            "gateway: deploy/nginx is not mounted read-only at /etc/nginx/labornet"
        )
    expected = ["nginx", "-c", "/etc/nginx/labornet/labornet.conf", "-g", "daemon off;"]
    if gateway.get("command") != expected:
        problems.append(f"gateway: command is not {expected}")
    if [str(p).rsplit(":", 1)[-1] for p in gateway.get("ports", [])] != ["8080"]:
        problems.append("gateway: does not publish its port 8080 (only)")
    if "8080/healthz" not in str((gateway.get("healthcheck") or {}).get("test")):
        problems.append("gateway: its healthcheck does not ask /healthz")
    for host, _ in _gateway_routes().values():
        if host not in compose["services"]:
            problems.append(f"gateway: sends to {host!r}, no such service")
    return problems


def _infrastructure_problems(compose: dict[str, Any]) -> list[str]:
    services = compose["services"]
    problems = []
    rabbitmq = services.get("rabbitmq") or {}
    env = _environment(rabbitmq)
    if not rabbitmq.get("hostname"):
        problems.append(
            "rabbitmq: no fixed hostname (its node name and data follow it)"
        )
    if not any(
        str(v).endswith(":/var/lib/rabbitmq") for v in rabbitmq.get("volumes", [])
    ):
        problems.append("rabbitmq: no volume for /var/lib/rabbitmq")
    if env.get("RABBITMQ_DEFAULT_USER", "guest") == "guest":
        problems.append("rabbitmq: runs with guest, not a user of its own")
    if "RABBITMQ_DEFAULT_PASS" in env or "/run/secrets/" not in str(
        rabbitmq.get("command")
    ):
        problems.append("rabbitmq: its password is not read from a secret")
    postgres = services.get("postgres") or {}
    if "POSTGRES_PASSWORD" in _environment(postgres) or not _environment(postgres).get(
        "POSTGRES_PASSWORD_FILE", ""
    ).startswith("/run/secrets/"):
        problems.append("postgres: its password is not read from a secret")
    if "redis" not in services:
        problems.append("redis: no Redis for the shared rate limits")
    return problems


def compose_problems(compose: dict[str, Any]) -> list[str]:
    """Everything wrong with a compose file, one line each; [] when nothing."""
    problems = schema_problems(compose)
    services = compose.get("services") or {}
    for name, service in services.items():
        if "restart" not in service:
            problems.append(f"{name}: no restart policy")
        if service.get("ports") and name != GATEWAY:
            problems.append(
                f"{name} publishes ports {service['ports']}: only the gateway may"
                " (a published port stops `--scale`)"
            )
        check = service.get("healthcheck") or {}
        if _is_one_shot(service):
            if _build(service) is not None and not check.get("disable"):
                problems.append(
                    f"{name}: a one-shot job keeps the image's /readyz check"
                )
        elif check.get("disable") or not check.get("test"):
            problems.append(f"{name}: no healthcheck")
        for dep, spec in (service.get("depends_on") or {}).items():
            if not isinstance(spec, dict) or dep not in services:
                problems.append(f"{name}: depends on {dep!r} without a known service")
                continue
            wanted = (
                "service_completed_successfully"
                if _is_one_shot(services[dep])
                else "service_healthy"
            )
            if spec.get("condition") != wanted:
                problems.append(f"{name}: waits for {dep} without {wanted}")
        source = _source_dir(service)
        if source is not None:
            problems += _app_problems(compose, name, service, source)
    problems += _gateway_problems(compose)
    problems += _network_problems(compose)
    problems += _infrastructure_problems(compose)
    return problems


# --- the compose file -------------------------------------------------------


def test_the_compose_file_is_valid_compose_specification() -> None:
    assert schema_problems(COMPOSE) == []


def test_the_compose_file_has_no_problems() -> None:
    assert compose_problems(COMPOSE) == []


def test_there_are_the_infrastructure_and_one_migration_job_per_service() -> None:
    assert SERVICES["rabbitmq"]["image"].startswith("rabbitmq:3.13-management")
    assert SERVICES["postgres"]["image"].startswith("postgres:16")
    assert SERVICES["redis"]["image"].startswith("redis:")
    assert _is_one_shot(SERVICES["broker-setup"])
    assert SERVICES["broker-setup"]["command"] == ["labornet", "setup-broker"]
    for service_dir in _config_service_dirs():
        job = SERVICES[f"{service_dir.name}-migrate"]
        assert job["command"] == ["labornet", "migrate", service_dir.name]
        assert _is_one_shot(job) and _source_dir(job) == service_dir


def _broken(change: Callable[[dict[str, Any]], None]) -> list[str]:
    compose = copy.deepcopy(COMPOSE)
    change(compose["services"])
    return compose_problems(compose)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(services: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = services
        for key in parents:
            node = node[key]
        node[last] = value

    return change


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def change(services: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = services
        for key in parents:
            node = node[key]
        del node[last]

    return change


BREAKAGES = {
    "a service publishing a port": (
        _set("intake.ports", ["8001:8001"]),
        "intake publishes ports",
    ),
    "an unknown key": (
        _set("routing.replicas", 4),
        "schema: services/routing: 'replicas'",
    ),
    "a restart policy that is not a string": (
        _set("registry.restart", False),
        "schema: services/registry/restart",
    ),
    "a secret as a plain variable": (
        _set("routing.environment.LABORNET_TOKEN_SECRET", "s3cret"),
        "routing: LABORNET_TOKEN_SECRET is a secret",
    ),
    "a password in a URL": (
        _set("notify.environment.LABORNET_NOTIFY_SMS_BASE_URL", "https://u:pw@sms/"),
        "notify: LABORNET_NOTIFY_SMS_BASE_URL holds a secret",
    ),
    "a secret file the service is not given": (
        _set("registry.secrets", ["amqp_uri", "rabbit_management_url"]),
        "registry: LABORNET_TOKEN_SECRET_FILE reads secret 'token_secret', not given",
    ),
    "a secret the service needs left out": (
        _delete("intake.environment.LABORNET_TRACKING_CODE_PEPPER_FILE"),
        "intake: needs LABORNET_TRACKING_CODE_PEPPER",
    ),
    "a variable no config.yml reads": (
        _set("notify.environment.LABORNET_NOTIFY_PORTS", "8004"),
        "notify: LABORNET_NOTIFY_PORTS: notify's config.yml reads no",
    ),
    "no restart policy": (_delete("postgres.restart"), "postgres: no restart policy"),
    "no healthcheck": (_delete("redis.healthcheck"), "redis: no healthcheck"),
    "a port the gateway does not send to": (
        _set("intake.environment.LABORNET_INTAKE_PORT", "9001"),
        "intake: listens on 9001, the gateway sends to 8001",
    ),
    "migrations at each service's start": (
        _delete("routing.depends_on.routing-migrate"),
        "routing: does not wait for a job running `labornet migrate routing`",
    ),
    "a dependency without its condition": (
        _set("notify.depends_on.postgres", {"condition": "service_started"}),
        "notify: waits for postgres without service_healthy",
    ),
    "the gateway not trusted": (
        _set("intake.environment.LABORNET_TRUSTED_PROXIES", "172.30.15.0/30"),
        "intake: LABORNET_TRUSTED_PROXIES",
    ),
    "RabbitMQ's guest": (
        _delete("rabbitmq.environment.RABBITMQ_DEFAULT_USER"),
        "rabbitmq: runs with guest",
    ),
    "RabbitMQ's management on every interface": (
        _set("rabbitmq.ports", ["15672:15672"]),
        "rabbitmq publishes ports",
    ),
    "a gateway address others may get": (
        _set("gateway.networks.default.ipv4_address", "172.30.15.200"),
        "gateway: 172.30.15.200 may be given to another container",
    ),
    "the gateway config not mounted": (
        _set("gateway.volumes", []),
        "gateway: deploy/nginx is not mounted",
    ),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_broken_compose_file_is_caught(breakage: str) -> None:
    change, expected = BREAKAGES[breakage]
    problems = _broken(change)
    assert any(expected in problem for problem in problems), problems


# --- the gateway, the services and their images -----------------------------


def test_the_gateway_sends_to_every_service_on_its_port() -> None:
    routes = _gateway_routes()
    assert {host for host, _ in routes.values()} == PLANNED_SERVICES
    for host, port in routes.values():
        service_dir = SERVICES_DIR / host
        default = _config_defaults(service_dir)[f"LABORNET_{host.upper()}_PORT"]
        assert str(port) == default == _listening_port(host, SERVICES[host])
        assert ("EXPOSE", str(port)) in _image_instructions(host)
        assert ("ENV", f"SERVICE_PORT={port}") in _image_instructions(host)


@pytest.mark.parametrize("service_dir", _config_service_dirs(), ids=lambda p: p.name)
def test_each_service_dir_has_dockerfile_and_compose_service(service_dir: Path) -> None:
    name = service_dir.name
    froms = [a for w, a in _dockerfile_instructions(DOCKERFILE) if w == "FROM"]
    assert any(f.split()[-2:] == ["AS", name] for f in froms), (
        f"the Dockerfile has no stage {name!r}"
    )
    assert name in SERVICES, f"docker-compose.yml has no service {name!r}"
    assert _source_dir(SERVICES[name]) == service_dir, (
        f"compose service {name!r} must build the Dockerfile with SERVICE={name}"
    )
    assert (_build(SERVICES[name]) or {}).get("context", ".") in {".", "./"}, (
        "the build context is the repository root (the image installs shared/)"
    )


@pytest.mark.parametrize("service_dir", _config_service_dirs(), ids=lambda p: p.name)
def test_local_defaults_are_overridden_in_compose(service_dir: Path) -> None:
    """Every setting whose default points at this machine (localhost, a
    SQLite file) is given, as a value or a file."""
    local = sorted(
        v
        for v, d in _config_defaults(service_dir).items()
        if re.search(r"localhost|127\.0\.0\.1|^sqlite:|^memory:", d.strip())
    )
    assert {"LABORNET_AMQP_URI", "LABORNET_RATE_LIMIT_STORAGE"} <= set(local)
    env = _environment(SERVICES[service_dir.name])
    missing = [v for v in local if v not in env and f"{v}_FILE" not in env]
    assert not missing, f"{service_dir.name}: compose keeps local defaults: {missing}"


@pytest.mark.parametrize("service_dir", _config_service_dirs(), ids=lambda p: p.name)
def test_images_start_through_the_secret_files_entry_point(service_dir: Path) -> None:
    entry = [a for w, a in _image_instructions(service_dir.name) if w == "ENTRYPOINT"]
    assert entry and json.loads(entry[-1]) == ENTRY_POINT
    # and a compose service does not replace it
    assert "entrypoint" not in SERVICES[service_dir.name]


def _dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _image_instructions(name: str) -> list[tuple[str, str]]:
    """The Dockerfile's instructions that make service ``name``'s image: the
    final stage and the stages it is built on, base first, with ``${SERVICE}``
    replaced by ``name``."""
    stages: dict[str, list[tuple[str, str]]] = {}
    order: list[list[tuple[str, str]]] = []
    for word, args in _dockerfile_instructions(DOCKERFILE):
        args = re.sub(r"\$\{?SERVICE\}?(?![A-Z_])", name, args)
        if word == "FROM":
            order.append([])
            parts = args.split()
            if len(parts) == 3 and parts[1].upper() == "AS":
                stages[parts[2]] = order[-1]
        if order:
            order[-1].append((word, args))
    assert order, "the Dockerfile has no FROM"
    chain = [order[-1]]
    while (parent := chain[0][0][1].split()[0]) in stages:
        assert len(chain) <= len(order), "the Dockerfile's stages build on a loop"
        chain.insert(0, stages[parent])
    return [instruction for stage in chain for instruction in stage]


def _dockerignored(rel: str) -> bool:
    """Whether .dockerignore excludes rel or one of its parents (no `!` rules)."""
    ignore = ROOT / ".dockerignore"
    if not ignore.is_file():
        return False
    patterns = [
        line.strip().rstrip("/")
        for line in ignore.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "!"))
    ]
    parts = Path(rel).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        anywhere = pattern.startswith("**/")
        bare = pattern.removeprefix("**/")
        for prefix in prefixes:
            tails = [prefix]
            if anywhere:
                tails += ["/".join(prefix.split("/")[i:]) for i in range(1, 9)]
            if any(tail and fnmatch.fnmatchcase(tail, bare) for tail in tails):
                return True
    return False


@pytest.mark.parametrize("service_dir", _config_service_dirs(), ids=lambda p: p.name)
def test_dockerfile_copies_only_what_the_context_has(service_dir: Path) -> None:
    """docker build fails on a COPY source that is missing or dockerignored."""
    build = _build(SERVICES.get(service_dir.name, {})) or {"context": "."}
    context = (ROOT / build.get("context", ".")).resolve()
    sources = []
    for word, args in _image_instructions(service_dir.name):
        if word in {"COPY", "ADD"}:
            words = [w for w in args.split() if not w.startswith("--")]
            sources += words[:-1]
    assert sources, "the Dockerfile copies nothing from the context"
    missing = [s for s in sources if not (context / s).exists()]
    assert not missing, f"COPY sources missing from the build context: {missing}"
    ignored = [s for s in sources if _dockerignored(s.rstrip("/"))]
    assert not ignored, f"COPY sources excluded by .dockerignore: {ignored}"


@pytest.mark.parametrize("service_dir", _config_service_dirs(), ids=lambda p: p.name)
def test_dockerfile_runs_as_non_root_with_healthcheck(service_dir: Path) -> None:
    instructions = _image_instructions(service_dir.name)
    users = [args for word, args in instructions if word == "USER"]
    assert users, "Dockerfile has no USER line"
    user = users[-1].split(":", 1)[0].strip()
    assert user not in {"root", "0", ""}, f"final USER is {users[-1]!r}"
    checks = [args for word, args in instructions if word == "HEALTHCHECK"]
    assert checks and "NONE" not in checks[-1].upper().split(), "no HEALTHCHECK"
    assert "/readyz" in checks[-1]
    froms = [args for word, args in instructions if word == "FROM"]
    assert froms and froms[0].startswith("python:3.11-slim")


def test_secrets_are_kept_out_of_the_image_and_git() -> None:
    assert _dockerignored("secrets/token_secret")
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "/secrets/" in ignored


# --- PostgreSQL ----------------------------------------------------------------


def test_postgres_mounts_the_init_scripts() -> None:
    volumes = [str(v) for v in SERVICES["postgres"].get("volumes", [])]
    assert "./docker/postgres-init:/docker-entrypoint-initdb.d:ro" in volumes
    named = COMPOSE.get("volumes") or {}
    assert any(v.split(":")[0] in named for v in volumes), "postgres data volume"


def test_init_script_creates_a_database_per_service() -> None:
    databases = _init_databases()
    expected = {p.name for p in _service_dirs()} | PLANNED_SERVICES
    assert expected <= databases, f"missing databases: {sorted(expected - databases)}"


# --- the secret files -----------------------------------------------------------


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What deploy/make-secrets.sh makes, as an operator runs it."""
    directory = tmp_path_factory.mktemp("deploy") / "secrets"
    subprocess.run(
        ["sh", str(MAKE_SECRETS), str(directory)], check=True, capture_output=True
    )
    return directory


def test_make_secrets_makes_every_file_compose_mounts(secrets_dir: Path) -> None:
    declared = {
        name: Path(spec["file"])
        for name, spec in (COMPOSE.get("secrets") or {}).items()
    }
    assert declared
    for name, path in declared.items():
        assert path.parts[:2] == ("secrets", name), path
        made = secrets_dir / name
        assert made.is_file(), f"make-secrets.sh makes no {name}"
        # readable by the services' uid in the container; the directory
        # keeps the host's other users out
        assert made.stat().st_mode & 0o777 == 0o644
    assert secrets_dir.stat().st_mode & 0o777 == 0o700


def test_make_secrets_keeps_what_exists(secrets_dir: Path) -> None:
    before = {p.name: p.read_text() for p in secrets_dir.iterdir()}
    (secrets_dir / "token_secret").unlink()
    subprocess.run(
        ["sh", str(MAKE_SECRETS), str(secrets_dir)], check=True, capture_output=True
    )
    after = {p.name: p.read_text() for p in secrets_dir.iterdir()}
    assert after.keys() == before.keys()
    assert after["token_secret"] != before["token_secret"]
    assert {k: v for k, v in after.items() if k != "token_secret"} == {
        k: v for k, v in before.items() if k != "token_secret"
    }


def _as_mounted(service: dict[str, Any], secrets_dir: Path) -> dict[str, str]:
    """The service's environment with /run/secrets/ where the files are."""
    return {
        k: SECRET_PATH.sub(lambda m: str(secrets_dir / m.group(1)), v)
        for k, v in _environment(service).items()
    }


@pytest.mark.parametrize("name", sorted(PLANNED_SERVICES))
def test_each_service_reads_working_settings_from_the_made_files(
    name: str, secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files make-secrets.sh writes, read as the service reads them,
    agree with the infrastructure's passwords."""
    for variable in list(os.environ):
        if variable.startswith("LABORNET_"):
            monkeypatch.delenv(variable)
    for variable, value in _as_mounted(SERVICES[name], secrets_dir).items():
        monkeypatch.setenv(variable, value)
    config = load_config(SERVICES_DIR / name / "config.yml")

    def first_line(secret: str) -> str:
        return (secrets_dir / secret).read_text(encoding="utf-8").splitlines()[0]

    amqp = urlsplit(str(config["AMQP_URI"]))
    rabbit_user = _environment(SERVICES["rabbitmq"])["RABBITMQ_DEFAULT_USER"]
    assert (amqp.hostname, amqp.username) == ("rabbitmq", rabbit_user)
    assert amqp.password == first_line("rabbitmq_password")
    management = urlsplit(str(config["RABBIT_MANAGEMENT_URL"]))
    assert (management.hostname, management.port) == ("rabbitmq", 15672)
    assert management.password == first_line("rabbitmq_password")
    database = urlsplit(str(config["DATABASE_URL"]))
    assert (database.scheme, database.hostname) == ("postgresql", "postgres")
    assert database.password == first_line("postgres_password")
    assert database.path == f"/{name}" and name in _init_databases()
    storage = urlsplit(str(config["RATE_LIMIT_STORAGE"]))
    assert (storage.scheme, storage.hostname) == ("redis", "redis")
    assert f"requirepass {storage.password}" == first_line("redis_conf")
    assert len(str(config["TOKEN_SECRET"])) >= 43
    assert config["TRUSTED_PROXIES"] == _gateway_address(COMPOSE)


def test_the_jobs_read_their_secrets_from_the_made_files(secrets_dir: Path) -> None:
    for name, service in SERVICES.items():
        if _is_one_shot(service):
            values = read_secret_files(_as_mounted(service, secrets_dir))
            assert values, f"{name} reads no secret"
            assert all(values.values()), f"{name}: an empty secret"


@pytest.mark.parametrize("service_dir", _config_service_dirs(), ids=lambda p: p.name)
def test_services_listen_on_loopback_unless_a_container_runs_them(
    service_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make run` on a laptop must not open the API to the network; inside a
    container the service must listen on every interface to be reached."""
    name = service_dir.name
    variable = f"LABORNET_{name.upper()}_HOST"
    monkeypatch.delenv(variable, raising=False)
    address = str(load_config(service_dir / "config.yml")["WEB_SERVER_ADDRESS"])
    assert address.rpartition(":")[0] == "127.0.0.1", address
    assert _environment(SERVICES[name]).get(variable) == "0.0.0.0"
    instructions = _image_instructions(name)
    assert ("ENV", f"{variable}=0.0.0.0") in instructions
