"""``labornet``: the one operator command.

token create · setup-broker · migrate · relay · dlq list|replay|purge · run,
and each installed service's own commands (``labornet registry import``).
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import typer

from labornet_shared import SERVICES
from labornet_shared.config import (
    DEFAULT_AMQP_URI,
    DEFAULT_MANAGEMENT_URL,
    DEVELOPMENT_TOKEN_SECRET,
    load_service_config,
    repo_root,
    service_config_path,
)

app = typer.Typer(help="labornet operator commands", no_args_is_help=True)
token_app = typer.Typer(help="bearer tokens", no_args_is_help=True)
dlq_app = typer.Typer(help="dead-letter queues", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(dlq_app, name="dlq")


def _err(message: str) -> None:
    typer.echo(message, err=True)


@contextmanager
def _on_broker(what: str) -> Iterator[None]:
    """Broker errors as one line on stderr and exit status 1, no traceback."""
    import amqp.exceptions
    import kombu.exceptions

    try:
        yield
    except amqp.exceptions.NotFound as exc:
        _err(f"error: {what} does not exist; declare it with `labornet setup-broker`")
        raise typer.Exit(1) from exc
    except (
        OSError,
        kombu.exceptions.OperationalError,
        amqp.exceptions.AMQPError,
    ) as exc:
        _err(
            f"error: RabbitMQ is not reachable at {_amqp_uri().split('@')[-1]} "
            f"({type(exc).__name__}); start it or set LABORNET_AMQP_URI"
        )
        raise typer.Exit(1) from exc


def installed_services() -> list[str]:
    """The services of this checkout (those with a config.yml)."""
    return [s for s in SERVICES if service_config_path(s).exists()]


def _setting(key: str, default: str) -> str:
    """A platform-wide setting, read from the services' config.yml (which
    substitute the LABORNET_* environment); every service reads the same
    variables, so the first one found speaks for all."""
    for service in installed_services() or ["intake"]:
        try:
            value = load_service_config(service).get(key)
        except OSError:
            continue
        if value:
            return str(value)
    return default


def _amqp_uri() -> str:
    return _setting("AMQP_URI", DEFAULT_AMQP_URI)


def _management_url() -> str:
    return _setting("RABBIT_MANAGEMENT_URL", DEFAULT_MANAGEMENT_URL)


def _token_secret() -> str:
    secret = _setting("TOKEN_SECRET", DEVELOPMENT_TOKEN_SECRET)
    if secret == DEVELOPMENT_TOKEN_SECRET:
        _err("warning: LABORNET_TOKEN_SECRET is not set; using the development secret")
    return secret


@token_app.command("create")
def token_create(
    scope: str = typer.Option(..., help="operator | agent | agency | open311"),
    agent_id: str | None = typer.Option(None, "--agent-id"),
    agency: str | None = typer.Option(None, help="ops doe dsd dlpw sso tosh"),
    province: str | None = typer.Option(None, help="TH-xx, narrows an agency token"),
    name: str | None = typer.Option(None, help="who the token is for"),
    ttl_days: int = typer.Option(365, help="days until it expires"),
) -> None:
    """Sign a token; prints only the token on stdout."""
    from labornet_shared.tokens import issue_token

    try:
        token = issue_token(
            _token_secret(),
            scope,
            agent_id=agent_id,
            agency=agency,
            province=province,
            name=name,
            ttl=timedelta(days=ttl_days),
        )
    except ValueError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(2) from exc
    typer.echo(token)


@app.command("setup-broker")
def setup_broker() -> None:
    """Declare exchanges, queues and policies (idempotent)."""
    from labornet_shared.broker import BrokerUnavailable, declare_topology

    try:
        declared = declare_topology(_amqp_uri(), _management_url())
    except BrokerUnavailable as exc:
        _err(f"error: {exc}")
        raise typer.Exit(1) from exc
    for line in declared:
        typer.echo(line)


def migrate_service(service: str, url: str | None = None) -> None:
    """Upgrade one service's database to its newest migration."""
    from alembic import command
    from alembic.config import Config

    config = load_service_config(service)
    url = url or str(config["DATABASE_URL"])
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    ini = repo_root() / "services" / service / "alembic.ini"
    if not ini.exists():  # installed image: /app/alembic.ini
        ini = Path("alembic.ini")
    alembic_config = Config(str(ini))
    alembic_config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(alembic_config, "head")


@app.command("migrate")
def migrate(services: list[str] = typer.Argument(None)) -> None:
    """Migrate the databases of the given services (default: all)."""
    for service in services or installed_services():
        migrate_service(service)
        typer.echo(f"{service}: migrated")


@app.command("relay")
def relay(service: str) -> None:
    """Run a service's outbox relay as its own process (OUTBOX_RELAY: off)."""
    import importlib

    from labornet_shared.db import make_engine
    from labornet_shared.logs import setup_logging
    from labornet_shared.outbox import ConfirmingPublisher, Relay, RelayLoop

    config = load_service_config(service)
    setup_logging(f"{service}-relay", str(config.get("LOG_LEVEL", "INFO")))
    models = importlib.import_module(f"labornet_{service}.models")
    loop = RelayLoop(
        Relay(
            make_engine(str(config["DATABASE_URL"]), pool_size=2),
            models.Base.metadata,
            ConfirmingPublisher(str(config["AMQP_URI"])),
            batch_size=int(config.get("OUTBOX_BATCH_SIZE", 200)),
        ),
        poll_seconds=min(0.05, float(config.get("OUTBOX_POLL_SECONDS", 1.0))),
    )
    import logging

    logging.getLogger("labornet.relay").info(
        "outbox relay for %s running: batches of %d, polling every %.2fs",
        service,
        loop.relay.batch_size,
        loop.poll_seconds,
    )
    try:
        loop.run()
    except KeyboardInterrupt:
        loop.stop()


@dlq_app.command("list")
def dlq_list(
    service: str, limit: int = 100, as_json: bool = typer.Option(False, "--json")
) -> None:
    """Show the messages parked in SERVICE's dead-letter queue."""
    from labornet_shared.dlq import list_dead_letters

    with _on_broker(f"{service}.dlq"):
        letters = list_dead_letters(_amqp_uri(), service, limit)
    if as_json:
        typer.echo(json.dumps([letter.as_dict() for letter in letters], indent=2))
        return
    if not letters:
        typer.echo(f"{service}.dlq is empty")
    for letter in letters:
        typer.echo(
            f"{letter.position:>4}  {letter.event_type or '?':<22} "
            f"{letter.event_id or '?'}"
            f"  {letter.correlation_id or '-'}  attempts={letter.attempts}"
            f"  queue={letter.queue}\n      {letter.error}"
        )


@dlq_app.command("replay")
def dlq_replay(
    service: str, event_id: str | None = typer.Option(None, "--event-id")
) -> None:
    """Send parked messages back to the queues they failed in."""
    from labornet_shared.dlq import replay_dead_letters

    with _on_broker(f"{service}.dlq"):
        count = replay_dead_letters(_amqp_uri(), service, event_id)
    typer.echo(f"replayed {count} message(s) from {service}.dlq")


@dlq_app.command("purge")
def dlq_purge(
    service: str, yes: bool = typer.Option(False, "--yes", help="no prompt")
) -> None:
    """Delete every parked message of SERVICE."""
    from labornet_shared.dlq import purge_dead_letters

    if not yes:
        typer.confirm(f"Delete every message in {service}.dlq?", abort=True)
    with _on_broker(f"{service}.dlq"):
        count = purge_dead_letters(_amqp_uri(), service)
    typer.echo(f"purged {count} message(s) from {service}.dlq")


@app.command("run")
def run() -> None:
    """Migrate, declare the broker, run every service; Ctrl-C stops all."""
    from labornet_shared.supervisor import run_platform

    raise typer.Exit(run_platform(installed_services()))


def _add_service_commands() -> None:
    """Add each installed service's own commands (``labornet registry ...``).

    A service offers them under the ``labornet.commands`` entry-point group,
    so this shared CLI never imports a service package by name.
    """
    from importlib.metadata import entry_points

    for entry in entry_points(group="labornet.commands"):
        app.add_typer(entry.load(), name=entry.name)


def main() -> None:
    """Entry point of the ``labornet`` script."""
    # what nameko's imports say about eventlet and pkg_resources is for
    # developers, not for an operator reading this command's few lines
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    warnings.filterwarnings("ignore", message=r"pkg_resources is deprecated")
    _add_service_commands()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
