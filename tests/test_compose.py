"""Static checks of the deployment files: docker-compose.yml, the Dockerfile
(one, built per service with ``--build-arg SERVICE=...``), each service's
config.yml, and the postgres init script.

No Docker is needed: the files are parsed and compared with each other, so a
service added without its compose entry, a setting that compose forgets to
point at the containers, or a dependency that does not wait for health fails
here rather than at `docker compose up`.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SERVICES_DIR = ROOT / "services"
INIT_SQL = ROOT / "docker" / "postgres-init" / "01-databases.sql"

# The four services of DESIGN.md; each gets its database before it exists.
PLANNED_SERVICES = {"intake", "routing", "registry", "notify"}

CONFIG_VAR = re.compile(r"\$\{(LABORNET_[A-Z0-9_]+)")
CONFIG_VAR_DEFAULT = re.compile(r"\$\{(LABORNET_[A-Z0-9_]+):([^}]*)\}")
LOCAL_DEFAULT = re.compile(r"localhost|127\.0\.0\.1|^sqlite:", re.IGNORECASE)


class _PlainLoader(yaml.SafeLoader):
    """SafeLoader without nameko's ${VAR} resolver, which `nameko test` adds
    to SafeLoader itself: compose's own ${VAR:?...} must stay as written."""

    yaml_implicit_resolvers = {  # noqa: RUF012 - yaml's own class attribute
        first: [r for r in resolvers if r[0] != "!env_var"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


SECRET_NAME = re.compile(r"(SECRET|PEPPER|PASSWORD|KEY)$")
CREATE_DATABASE = re.compile(
    r'CREATE\s+DATABASE\s+"?([A-Za-z_][A-Za-z0-9_]*)"?', re.IGNORECASE
)


def _load_compose() -> dict:
    with COMPOSE_FILE.open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=_PlainLoader)
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), (
        "docker-compose.yml has no services mapping"
    )
    return data


COMPOSE = _load_compose()
SERVICES: dict[str, dict] = COMPOSE["services"]


def _service_dirs() -> list[Path]:
    return sorted(
        p
        for p in SERVICES_DIR.iterdir()
        if p.is_dir() and not p.name.startswith((".", "_"))
    )


def _config_service_dirs() -> list[Path]:
    return [p for p in _service_dirs() if (p / "config.yml").is_file()]


def _environment(service: dict) -> dict[str, str]:
    """A compose service's environment as a dict (mapping or list form)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) for item in env)
        return {p[0]: p[1] if len(p) > 1 else "" for p in pairs}
    return {k: "" if v is None else str(v) for k, v in env.items()}


def _build(service: dict) -> dict | None:
    build = service.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        return {"context": build, "dockerfile": "Dockerfile"}
    return build


def _build_args(build: dict) -> dict[str, str]:
    """A build's args as a dict (mapping or list form)."""
    args = build.get("args") or {}
    if isinstance(args, list):
        pairs = (item.split("=", 1) for item in args)
        return {p[0]: p[1] if len(p) > 1 else "" for p in pairs}
    return {k: "" if v is None else str(v) for k, v in args.items()}


def _source_dir(service: dict) -> Path | None:
    """The services/<name>/ directory this service's image is built from: the
    repository's Dockerfile with SERVICE=<name>."""
    build = _build(service)
    if build is None:
        return None
    context = (ROOT / build.get("context", ".")).resolve()
    dockerfile = (context / build.get("dockerfile", "Dockerfile")).resolve()
    name = _build_args(build).get("SERVICE")
    if dockerfile != DOCKERFILE.resolve() or not name:
        return None
    return SERVICES_DIR / name


def _is_one_shot(service: dict) -> bool:
    # `restart: no` unquoted is YAML false, which compose rejects: demand "no".
    return service.get("restart") == "no"


def _config_text(service_dir: Path) -> str:
    return (service_dir / "config.yml").read_text(encoding="utf-8")


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


BUILT = {name: svc for name, svc in SERVICES.items() if _build(svc) is not None}
LONG_RUNNING = {name: svc for name, svc in SERVICES.items() if not _is_one_shot(svc)}
APP_SERVICES = {
    name: svc for name, svc in SERVICES.items() if _source_dir(svc) is not None
}


def test_compose_defines_the_infrastructure() -> None:
    assert SERVICES["rabbitmq"]["image"].startswith("rabbitmq:3.13-management")
    assert SERVICES["postgres"]["image"].startswith("postgres:16")
    assert "broker-setup" in SERVICES
    assert _is_one_shot(SERVICES["broker-setup"]), 'broker-setup needs restart: "no"'
    assert _source_dir(SERVICES["broker-setup"]) is not None


def test_there_is_at_least_one_app_service() -> None:
    assert _config_service_dirs(), "no services/<name>/config.yml found"
    assert APP_SERVICES, "no compose service is built from services/<name>/"


# Every service, built or pulled, except one-shot jobs (broker-setup), which run
# and exit and have nothing to be healthy about.
ONE_SHOT = {name for name, svc in SERVICES.items() if _is_one_shot(svc)}
NEEDS_HEALTHCHECK = sorted((set(BUILT) | set(LONG_RUNNING)) - ONE_SHOT)


@pytest.mark.parametrize("name", NEEDS_HEALTHCHECK)
def test_built_or_long_running_services_have_a_healthcheck(name: str) -> None:
    service = SERVICES[name]
    check = service.get("healthcheck")
    assert isinstance(check, dict), f"{name} has no healthcheck"
    assert not check.get("disable"), f"{name} disables its healthcheck"
    test = check.get("test")
    assert test, f"{name}'s healthcheck has no test"
    if isinstance(test, list):
        assert test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1, test


@pytest.mark.parametrize("service_dir", _config_service_dirs(), ids=lambda p: p.name)
def test_each_service_dir_has_dockerfile_and_compose_service(service_dir: Path) -> None:
    name = service_dir.name
    assert DOCKERFILE.is_file(), "the repository has no Dockerfile"
    froms = [a for w, a in _dockerfile_instructions(DOCKERFILE) if w == "FROM"]
    assert any(f.split()[-2:] == ["AS", name] for f in froms), (
        f"the Dockerfile has no stage {name!r}"
    )
    assert name in SERVICES, f"docker-compose.yml has no service {name!r}"
    assert _source_dir(SERVICES[name]) == service_dir, (
        f"compose service {name!r} must build the Dockerfile with SERVICE={name}"
    )
    assert _build(SERVICES[name]).get("context", ".") in {".", "./"}, (
        "the build context is the repository root (the image installs shared/)"
    )


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_compose_sets_only_variables_the_config_reads(name: str) -> None:
    service = APP_SERVICES[name]
    known = set(CONFIG_VAR.findall(_config_text(_source_dir(service))))
    assert known, f"{_source_dir(service)}/config.yml reads no LABORNET_* variable"
    set_here = {k for k in _environment(service) if k.startswith("LABORNET_")}
    unknown = sorted(set_here - known)
    assert not unknown, f"{name} sets variables its config.yml never reads: {unknown}"


@pytest.mark.parametrize("service_dir", _config_service_dirs(), ids=lambda p: p.name)
def test_local_defaults_are_overridden_in_compose(service_dir: Path) -> None:
    name = service_dir.name
    if name not in SERVICES:
        pytest.fail(f"docker-compose.yml has no service {name!r}")
    defaults = dict(CONFIG_VAR_DEFAULT.findall(_config_text(service_dir)))
    local = sorted(v for v, d in defaults.items() if LOCAL_DEFAULT.search(d.strip()))
    # The config this project has always points AMQP and the DB at the host.
    assert "LABORNET_AMQP_URI" in local
    env = _environment(SERVICES[name])
    missing = sorted(v for v in local if v not in env)
    assert not missing, f"{name}: compose keeps localhost/sqlite defaults: {missing}"
    for var in local:
        assert not LOCAL_DEFAULT.search(env[var]), f"{name}: {var}={env[var]}"


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_secrets_are_required_not_written_down(name: str) -> None:
    for var, value in _environment(APP_SERVICES[name]).items():
        if var.startswith("LABORNET_") and SECRET_NAME.search(var):
            assert re.fullmatch(r"\$\{" + var + r":\?[^}]+\}", value), (
                f"{name}: {var} must be ${{{var}:?...}}, not a value in the file"
            )


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_services_wait_for_healthy_dependencies(name: str) -> None:
    depends = APP_SERVICES[name].get("depends_on")
    assert isinstance(depends, dict) and depends, (
        f"{name}: depends_on must be a mapping with conditions"
    )
    for dep, spec in depends.items():
        assert dep in SERVICES, f"{name} depends on unknown service {dep!r}"
        condition = (spec or {}).get("condition")
        if _is_one_shot(SERVICES[dep]):
            assert condition == "service_completed_successfully", (name, dep)
        else:
            assert condition == "service_healthy", (name, dep)
            assert "healthcheck" in SERVICES[dep], f"{dep} has no healthcheck"
    if not _is_one_shot(APP_SERVICES[name]):
        for needed in ("rabbitmq", "broker-setup"):
            assert needed in depends, f"{name} must wait for {needed}"


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_services_using_postgres_wait_for_it(name: str) -> None:
    env = _environment(APP_SERVICES[name])
    if any("@postgres:" in value for value in env.values()):
        depends = APP_SERVICES[name].get("depends_on") or {}
        assert "postgres" in depends, f"{name} uses postgres without waiting for it"


@pytest.mark.parametrize("service_dir", _config_service_dirs(), ids=lambda p: p.name)
def test_published_port_matches_the_configured_one(service_dir: Path) -> None:
    name = service_dir.name
    service = SERVICES.get(name)
    assert service is not None, f"docker-compose.yml has no service {name!r}"
    port = _environment(service).get(f"LABORNET_{name.upper()}_PORT")
    assert port, f"{name}: compose sets no LABORNET_{name.upper()}_PORT"
    published = [str(p).rsplit(":", 1)[-1] for p in service.get("ports", [])]
    assert port in published, f"{name} listens on {port}, publishes {published}"
    assert f"localhost:{port}/readyz" in str(service["healthcheck"]["test"])
    instructions = _image_instructions(name)
    assert ("EXPOSE", port) in instructions, f"the {name} image exposes no {port}"
    assert ("ENV", f"SERVICE_PORT={port}") in instructions


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


def _init_databases() -> set[str]:
    sql = re.sub(r"--[^\n]*", "", INIT_SQL.read_text(encoding="utf-8"))
    return {name.lower() for name in CREATE_DATABASE.findall(sql)}


def test_postgres_mounts_the_init_scripts() -> None:
    volumes = [str(v) for v in SERVICES["postgres"].get("volumes", [])]
    assert any(
        v.split(":")[0].rstrip("/")
        in {"./docker/postgres-init", "docker/postgres-init"}
        and v.split(":")[1] == "/docker-entrypoint-initdb.d"
        for v in volumes
    ), volumes
    named = COMPOSE.get("volumes") or {}
    assert any(v.split(":")[0] in named for v in volumes), "postgres data volume"


def test_init_script_creates_a_database_per_service() -> None:
    databases = _init_databases()
    expected = {p.name for p in _service_dirs()} | PLANNED_SERVICES
    assert expected <= databases, f"missing databases: {sorted(expected - databases)}"


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_database_urls_name_an_initialised_database(name: str) -> None:
    databases = _init_databases()
    for var, value in _environment(APP_SERVICES[name]).items():
        if var.endswith("_DB") and value.startswith("postgresql"):
            db = value.rsplit("/", 1)[-1].split("?", 1)[0]
            assert db in databases, f"{name}: {var} names {db!r}, not created"


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
def test_services_listen_on_loopback_unless_a_container_runs_them(
    service_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make run` on a laptop must not open the API to the network; inside a
    container the service must listen on every interface to be reached."""
    from labornet_shared.config import load_config

    name = service_dir.name
    variable = f"LABORNET_{name.upper()}_HOST"
    monkeypatch.delenv(variable, raising=False)
    address = str(load_config(service_dir / "config.yml")["WEB_SERVER_ADDRESS"])
    assert address.rpartition(":")[0] == "127.0.0.1", address
    assert _environment(SERVICES[name]).get(variable) == "0.0.0.0"
    instructions = _image_instructions(name)
    assert ("ENV", f"{variable}=0.0.0.0") in instructions
