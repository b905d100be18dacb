"""``labornet``: the one operator command.

token create · setup-broker · migrate · relay · outbox list|retry ·
dlq list|replay|purge · unrouted list|replay · referrals unrouted list|replay ·
agency create|delete · run, and each
installed service's own commands (``labornet registry import``).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import typer

from labornet_shared import SERVICES
from labornet_shared.config import (
    DEFAULT_AMQP_URI,
    DEFAULT_MANAGEMENT_URL,
    DEVELOPMENT_TOKEN_SECRET,
    flag,
    load_service_config,
    repo_root,
    service_config_path,
)
from labornet_shared.outbox_admin import app as outbox_app

app = typer.Typer(help="labornet operator commands", no_args_is_help=True)
token_app = typer.Typer(help="bearer tokens", no_args_is_help=True)
dlq_app = typer.Typer(help="dead-letter queues", no_args_is_help=True)
referrals_app = typer.Typer(
    help="referrals on labornet.referrals", no_args_is_help=True
)
referrals_unrouted_app = typer.Typer(
    help="referrals no agency queue took yet", no_args_is_help=True
)
unrouted_app = typer.Typer(
    help="events no consumer queue took (labornet.unrouted)", no_args_is_help=True
)
agency_app = typer.Typer(help="agencies' RabbitMQ users", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(dlq_app, name="dlq")
app.add_typer(referrals_app, name="referrals")
app.add_typer(unrouted_app, name="unrouted")
referrals_app.add_typer(referrals_unrouted_app, name="unrouted")
app.add_typer(agency_app, name="agency")
app.add_typer(outbox_app, name="outbox")


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
    """The secret the services check tokens with: LABORNET_TOKEN_SECRET, else
    this checkout's ``var/secrets.env`` (which ``make run`` uses too)."""
    from labornet_shared.local_secrets import (
        ALLOW_SETTING,
        PUBLIC_SECRETS,
        local_secrets,
        secrets_file,
    )

    if not os.environ.get("LABORNET_TOKEN_SECRET"):
        values, made = local_secrets()
        if made:
            _err(f"made this checkout's secrets in {secrets_file()} (mode 0600)")
        return values["LABORNET_TOKEN_SECRET"]
    secret = _setting("TOKEN_SECRET", DEVELOPMENT_TOKEN_SECRET)
    if secret in PUBLIC_SECRETS and not flag(_setting(ALLOW_SETTING, "false")):
        _err(
            "error: LABORNET_TOKEN_SECRET is a public development value; no"
            " service accepts tokens signed with it (unset it to use"
            " var/secrets.env, as `make run` does)"
        )
        raise typer.Exit(2)
    return secret


_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def _duration(text: str) -> timedelta:
    """``90m``, ``12h``, ``30d``: ValueError for anything else."""
    number, unit = text[:-1], text[-1:].lower()
    if unit not in _DURATION_UNITS or not number.isdigit() or int(number) <= 0:
        raise ValueError(f"--ttl {text}: a positive number of m, h or d (e.g. 12h)")
    return timedelta(**{_DURATION_UNITS[unit]: int(number)})


def _spoken(duration: timedelta) -> str:
    hours = duration.total_seconds() / 3600
    return f"{hours / 24:g}d" if hours >= 24 and hours % 24 == 0 else f"{hours:g}h"


@token_app.command("create")
def token_create(
    scope: str = typer.Option(..., help="operator | agent | agency | open311"),
    agent_id: str | None = typer.Option(None, "--agent-id"),
    agency: str | None = typer.Option(None, help="ops doe dsd dlpw sso tosh"),
    province: str | None = typer.Option(None, help="TH-xx, narrows an agency token"),
    name: str | None = typer.Option(None, help="who the token is for"),
    ttl: str | None = typer.Option(
        None,
        help="how long it lives (90m, 12h, 30d); default and most: the scope's"
        " TOKEN_MAX_HOURS (operator 12h, agent 30d, agency and open311 365d)",
    ),
) -> None:
    """Sign a token; prints only the token on stdout."""
    from labornet_shared.tokens import SCOPES, issue_token, token_lifetimes

    try:
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
        longest = token_lifetimes(
            {
                f"TOKEN_MAX_HOURS_{scope.upper()}": _setting(
                    f"TOKEN_MAX_HOURS_{scope.upper()}", ""
                )
            }
        )[scope]
        lifetime = _duration(ttl) if ttl else longest
        if lifetime > longest:
            raise ValueError(
                f"--ttl {ttl} is longer than the {scope} scope allows"
                f" ({_spoken(longest)}, LABORNET_TOKEN_MAX_HOURS_{scope.upper()})"
            )
        token = issue_token(
            _token_secret(),
            scope,
            agent_id=agent_id,
            agency=agency,
            province=province,
            name=name,
            ttl=lifetime,
        )
    except ValueError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(2) from exc
    typer.echo(token)


@app.command("setup-broker")
def setup_broker() -> None:
    """Declare exchanges, every consumer's queue, retry queues and policies
    (idempotent)."""
    from labornet_shared.broker import BrokerUnavailable, declare_topology
    from labornet_shared.failures import DEFAULT_RETRY_DELAYS_MS, retry_delays

    delays = retry_delays(
        _setting("EVENT_RETRY_DELAYS_MS", ",".join(map(str, DEFAULT_RETRY_DELAYS_MS)))
    )
    try:
        declared = declare_topology(
            _amqp_uri(), _management_url(), retry_delays_ms=delays
        )
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
    from labornet_shared.outbox import (
        ConfirmingPublisher,
        Relay,
        RelayLoop,
        relay_settings,
    )

    config = load_service_config(service)
    setup_logging(f"{service}-relay", str(config.get("LOG_LEVEL", "INFO")))
    models = importlib.import_module(f"labornet_{service}.models")
    loop = RelayLoop(
        Relay(
            make_engine(str(config["DATABASE_URL"]), pool_size=2),
            models.Base.metadata,
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
            f"  failure={letter.kind or '-'}  queue={letter.queue}"
            f"\n      {letter.error}"
            + (f"\n      gave up: {letter.reason}" if letter.reason else "")
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


@referrals_unrouted_app.command("list")
def unrouted_list(
    limit: int = typer.Option(100, help="at most this many, oldest first"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show the referrals waiting in labornet.referrals.unrouted."""
    from labornet_shared.agencies import list_unrouted
    from labornet_shared.broker import REFERRALS_UNROUTED_QUEUE

    with _on_broker(REFERRALS_UNROUTED_QUEUE):
        waiting = list_unrouted(_amqp_uri(), limit)
    _show_waiting(
        REFERRALS_UNROUTED_QUEUE,
        waiting,
        as_json,
        lambda referral: (
            f"{referral.position:>4}  {referral.routing_key:<44} "
            f"{referral.event_type or '?':<24} {referral.reference or '-'}"
            f"  referral={referral.referral_id or '?'}"
            f"  at={referral.occurred_at or '?'}"
        ),
    )


def _show_waiting(
    queue: str, waiting: list[Any], as_json: bool, line: Callable[[Any], str]
) -> None:
    """Messages read from ``queue``: as JSON, or one ``line`` each."""
    if as_json:
        typer.echo(json.dumps([item.as_dict() for item in waiting], indent=2))
        return
    if not waiting:
        typer.echo(f"{queue} is empty")
    for item in waiting:
        typer.echo(line(item))


@referrals_unrouted_app.command("replay")
def unrouted_replay(
    referral_id: str | None = typer.Option(
        None, "--referral-id", help="only this referral's messages"
    ),
) -> None:
    """Publish the waiting referrals again, once an agency has bound its queue.

    Those that still no queue binds come back to the unrouted queue.
    """
    from labornet_shared.agencies import replay_unrouted
    from labornet_shared.broker import REFERRALS_UNROUTED_QUEUE
    from labornet_shared.events import REFERRALS_EXCHANGE

    with _on_broker(REFERRALS_UNROUTED_QUEUE):
        result = replay_unrouted(_amqp_uri(), referral_id)
    _show_replay(
        REFERRALS_UNROUTED_QUEUE, result, f"message(s) to {REFERRALS_EXCHANGE}"
    )


def _show_replay(queue: str, result: Any, what: str) -> None:
    """What a replay of ``queue`` did, in one line."""
    if not result.republished:
        typer.echo(f"nothing to replay in {queue}")
        return
    typer.echo(
        f"re-published {result.republished} {what}: {result.delivered} "
        f"delivered, {result.came_back} came back to {queue}"
        + (" (no queue binds their key yet)" if result.came_back else "")
    )


@unrouted_app.command("list")
def events_unrouted_list(
    limit: int = typer.Option(100, help="at most this many, oldest first"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show the events waiting in labornet.unrouted (no consumer queue took
    them; the oldest overflow into labornet.unrouted.dlq)."""
    from labornet_shared.broker import UNROUTED_QUEUE
    from labornet_shared.unrouted import list_unrouted_events

    with _on_broker(UNROUTED_QUEUE):
        waiting = list_unrouted_events(_amqp_uri(), limit)
    _show_waiting(
        UNROUTED_QUEUE,
        waiting,
        as_json,
        lambda event: (
            f"{event.position:>4}  {event.exchange or '?'}  {event.routing_key:<26} "
            f"{event.event_id or '?'}  {event.reference or '-'}"
            f"  at={event.occurred_at or '?'}"
        ),
    )


@unrouted_app.command("replay")
def events_unrouted_replay(
    event_id: str | None = typer.Option(None, "--event-id", help="only this event"),
) -> None:
    """Publish each waiting event once more to its own exchange and routing
    key (after a consumer's queue was bound); those that still no queue
    takes come back."""
    from labornet_shared.broker import UNROUTED_QUEUE
    from labornet_shared.unrouted import replay_unrouted_events

    with _on_broker(UNROUTED_QUEUE):
        result = replay_unrouted_events(_amqp_uri(), event_id)
    _show_replay(UNROUTED_QUEUE, result, "event(s)")


@contextmanager
def _on_management(what: str) -> Iterator[None]:
    """Management API errors as one line on stderr and exit status 1."""
    import requests

    from labornet_shared.broker import BrokerUnavailable

    try:
        yield
    except BrokerUnavailable as exc:
        _err(f"error: {exc}; start it or set LABORNET_RABBIT_MANAGEMENT_URL")
        raise typer.Exit(1) from exc
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        _err(f"error: RabbitMQ's management API refused to {what} (HTTP {status})")
        raise typer.Exit(1) from exc


@agency_app.command("create")
def agency_create(
    code: str = typer.Argument(..., help="ops doe dsd dlpw sso tosh"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="read the password from stdin"
    ),
) -> None:
    """Create (or reset) an agency's RabbitMQ user; prints only a new password.

    The user may declare and read only queues agency.CODE.*, and bind them to
    labornet.referrals only with keys CODE.*; RabbitMQ refuses anything else.
    """
    import secrets

    from labornet_shared.agencies import UnknownAgency, check_agency
    from labornet_shared.broker import Management

    try:
        check_agency(code)
    except UnknownAgency as exc:
        _err(f"error: {exc}")
        raise typer.Exit(2) from exc
    if password_stdin:
        password = sys.stdin.read().rstrip("\r\n")
        if len(password) < 16:
            _err("error: the password on stdin must have at least 16 characters")
            raise typer.Exit(2)
    else:
        password = secrets.token_urlsafe(24)
    from labornet_shared.agencies import create_agency_user

    management = Management.from_urls(_management_url(), _amqp_uri())
    with _on_management(f"create agency {code}'s user"):
        user = create_agency_user(management, code, password)
    _err(
        f"{'reset' if user.replaced else 'created'} RabbitMQ user {user.username} "
        f"on vhost {user.vhost}: queues agency.{code}.* only, bound to "
        f"labornet.referrals with keys {code}.* only"
    )
    _err(f"connect with: {user.amqp_uri(_amqp_uri())}")
    if not password_stdin:
        typer.echo(password)


@agency_app.command("delete")
def agency_delete(
    code: str = typer.Argument(..., help="ops doe dsd dlpw sso tosh"),
) -> None:
    """Delete the agency's RabbitMQ user (its queues and their referrals stay)."""
    from labornet_shared.agencies import (
        UnknownAgency,
        agency_username,
        delete_agency_user,
    )
    from labornet_shared.broker import Management

    management = Management.from_urls(_management_url(), _amqp_uri())
    try:
        username = agency_username(code, management.vhost)
    except UnknownAgency as exc:
        _err(f"error: {exc}")
        raise typer.Exit(2) from exc
    with _on_management(f"delete agency {code}'s user"):
        deleted = delete_agency_user(management, code)
    typer.echo(
        f"deleted RabbitMQ user {username}"
        if deleted
        else f"RabbitMQ user {username} did not exist"
    )


@app.command("run")
def run(
    services: list[str] | None = typer.Argument(
        None, help="only these services (default: every installed one)"
    ),
) -> None:
    """Migrate, declare the broker, run every service (a service that exits
    is restarted); Ctrl-C stops all."""
    from labornet_shared.supervisor import run_platform

    installed = installed_services()
    unknown = sorted(set(services or ()) - set(installed))
    if unknown:
        known = ", ".join(installed)
        _err(f"error: unknown service {', '.join(unknown)}; one of {known}")
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
    _add_service_commands()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
