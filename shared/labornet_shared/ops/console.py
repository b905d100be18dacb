"""How the operator commands speak: errors as one line on stderr with an
exit status (never a traceback), and messages read from a queue listed or
replayed the same way by every command that reads one.

Services' own commands (``labornet registry ...``) use it too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer

from labornet_shared.ops.installation import amqp_uri


def err(message: str) -> None:
    """One line on stderr."""
    typer.echo(message, err=True)


@contextmanager
def on_broker(what: str) -> Iterator[None]:
    """Broker errors as one line on stderr and exit status 1, no traceback."""
    import amqp.exceptions
    import kombu.exceptions

    try:
        yield
    except amqp.exceptions.NotFound as exc:
        err(f"error: {what} does not exist; declare it with `labornet setup-broker`")
        raise typer.Exit(1) from exc
    except (
        OSError,
        kombu.exceptions.OperationalError,
        amqp.exceptions.AMQPError,
    ) as exc:
        err(
            f"error: RabbitMQ is not reachable at {amqp_uri().split('@')[-1]} "
            f"({type(exc).__name__}); start it or set LABORNET_AMQP_URI"
        )
        raise typer.Exit(1) from exc


@contextmanager
def on_management(what: str) -> Iterator[None]:
    """Management API errors as one line on stderr and exit status 1."""
    import requests

    from labornet_shared.broker import BrokerUnavailable

    try:
        yield
    except BrokerUnavailable as exc:
        err(f"error: {exc}; start it or set LABORNET_RABBIT_MANAGEMENT_URL")
        raise typer.Exit(1) from exc
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        err(f"error: RabbitMQ's management API refused to {what} (HTTP {status})")
        raise typer.Exit(1) from exc


def show_waiting(
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


def show_replay(queue: str, result: Any, what: str) -> None:
    """What a replay of ``queue`` did, in one line."""
    if not result.republished:
        typer.echo(f"nothing to replay in {queue}")
        return
    typer.echo(
        f"re-published {result.republished} {what}: {result.delivered} "
        f"delivered, {result.came_back} came back to {queue}"
        + (" (no queue binds their key yet)" if result.came_back else "")
    )
