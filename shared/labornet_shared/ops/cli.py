"""``labornet``: the one operator command.

token create · setup-broker · migrate · relay · outbox list|retry ·
dlq list|replay|purge · unrouted list|replay · referrals unrouted list|replay ·
agency create|delete · run, and each
installed service's own commands (``labornet registry import``).

This module holds the app and the platform-wide commands; each group of
commands has its own module beside it.
"""

from __future__ import annotations

import os
import sys
import warnings

import typer

from labornet_shared.config import load_service_config
from labornet_shared.ops import help_types, status_command
from labornet_shared.ops.agency_commands import app as agency_app
from labornet_shared.ops.console import err
from labornet_shared.ops.installation import (
    amqp_uri,
    installed_services,
    management_url,
    migrate_service,
    service_tables,
    setting,
)
from labornet_shared.ops.message_commands import app as messages_app
from labornet_shared.ops.outbox_admin import app as outbox_app
from labornet_shared.ops.queue_commands import dlq_app, referrals_app, unrouted_app
from labornet_shared.ops.token_commands import app as token_app

app = typer.Typer(help="labornet operator commands", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(dlq_app, name="dlq")
app.add_typer(referrals_app, name="referrals")
app.add_typer(unrouted_app, name="unrouted")
app.add_typer(agency_app, name="agency")
app.add_typer(outbox_app, name="outbox")
app.add_typer(messages_app, name="messages")
app.command("status")(status_command.status)


@app.command("setup-broker")
def setup_broker() -> None:
    """Declare exchanges, every consumer's queue, retry queues and policies
    (idempotent)."""
    from labornet_shared.broker import BrokerUnavailable, declare_topology
    from labornet_shared.failures import DEFAULT_RETRY_DELAYS_MS, retry_delays

    delays = retry_delays(
        setting("EVENT_RETRY_DELAYS_MS", ",".join(map(str, DEFAULT_RETRY_DELAYS_MS)))
    )
    try:
        declared = declare_topology(
            amqp_uri(), management_url(), retry_delays_ms=delays
        )
    except BrokerUnavailable as exc:
        err(f"error: {exc}")
        raise typer.Exit(1) from exc
    for line in declared:
        typer.echo(line)


@app.command("migrate")
def migrate(services: list[str] = typer.Argument(None)) -> None:
    """Migrate the databases of the given services (default: all)."""
    for service in services or installed_services():
        migrate_service(service)
        typer.echo(f"{service}: migrated")


@app.command("relay")
def relay(service: str) -> None:
    """Run a service's outbox relay as its own process (OUTBOX_RELAY: off)."""
    from labornet_shared.db import make_engine
    from labornet_shared.logs import setup_logging
    from labornet_shared.outbox import (
        ConfirmingPublisher,
        Relay,
        RelayLoop,
        relay_settings,
    )

    config = load_service_config(service)
    setup_logging(f"{service}-relay", str(config.get("LOG_LEVEL", "INFO")))
    tables = service_tables(service)
    loop = RelayLoop(
        Relay(
            make_engine(str(config["DATABASE_URL"]), pool_size=2),
            tables,
            ConfirmingPublisher(str(config["AMQP_URI"])),
            service=service,
            **relay_settings(config),
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
    finally:
        loop.relay.release_lease()


@app.command("run")
def run(
    services: list[str] | None = typer.Argument(
        None, help="only these services (default: every installed one)"
    ),
) -> None:
    """Migrate, declare the broker, run every service (a service that exits
    is restarted); Ctrl-C stops all."""
    from labornet_shared.ops.supervisor import run_platform

    installed = installed_services()
    unknown = sorted(set(services or ()) - set(installed))
    if unknown:
        known = ", ".join(installed)
        err(f"error: unknown service {', '.join(unknown)}; one of {known}")
        raise typer.Exit(2)
    raise typer.Exit(run_platform(services or installed))


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
    # the command is no green service: eventlet's DNS replacement, loaded
    # when a command imports nameko, would only add dnspython's start-up
    os.environ.setdefault("EVENTLET_NO_GREENDNS", "yes")
    # what nameko's imports say about eventlet and pkg_resources is for
    # developers, not for an operator reading this command's few lines
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    warnings.filterwarnings("ignore", message=r"pkg_resources is deprecated")
    # secrets given as files (LABORNET_X_FILE) become plain values for every
    # command, and for the services `labornet run` starts
    from labornet_shared.secret_files import SecretFileError, apply_secret_files

    try:
        apply_secret_files()
    except SecretFileError as exc:
        err(f"labornet: error: {exc}")
        raise
    _add_service_commands()
    help_types.install()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
