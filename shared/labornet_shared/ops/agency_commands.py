"""``labornet agency create|delete``: an agency's own RabbitMQ user, which
the broker keeps to that agency's referral queues and routing keys."""

from __future__ import annotations

import sys

import typer

from labornet_shared.ops.console import err, on_management
from labornet_shared.ops.installation import amqp_uri, management_url

app = typer.Typer(help="agencies' RabbitMQ users", no_args_is_help=True)


@app.command("create")
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

    from labornet_shared.agency_broker import UnknownAgency, check_agency
    from labornet_shared.broker import Management

    try:
        check_agency(code)
    except UnknownAgency as exc:
        err(f"error: {exc}")
        raise typer.Exit(2) from exc
    if password_stdin:
        password = sys.stdin.read().rstrip("\r\n")
        if len(password) < 16:
            err("error: the password on stdin must have at least 16 characters")
            raise typer.Exit(2)
    else:
        password = secrets.token_urlsafe(24)
    from labornet_shared.agency_broker import create_agency_user

    management = Management.from_urls(management_url(), amqp_uri())
    with on_management(f"create agency {code}'s user"):
        user = create_agency_user(management, code, password)
    err(
        f"{'reset' if user.replaced else 'created'} RabbitMQ user {user.username} "
        f"on vhost {user.vhost}: queues agency.{code}.* only, bound to "
        f"labornet.referrals with keys {code}.* only"
    )
    err(f"connect with: {user.amqp_uri(amqp_uri())}")
    if not password_stdin:
        typer.echo(password)


@app.command("delete")
def agency_delete(
    code: str = typer.Argument(..., help="ops doe dsd dlpw sso tosh"),
) -> None:
    """Delete the agency's RabbitMQ user (its queues and their referrals stay)."""
    from labornet_shared.agency_broker import (
        UnknownAgency,
        agency_username,
        delete_agency_user,
    )
    from labornet_shared.broker import Management

    management = Management.from_urls(management_url(), amqp_uri())
    try:
        username = agency_username(code, management.vhost)
    except UnknownAgency as exc:
        err(f"error: {exc}")
        raise typer.Exit(2) from exc
    with on_management(f"delete agency {code}'s user"):
        deleted = delete_agency_user(management, code)
    typer.echo(
        f"deleted RabbitMQ user {username}"
        if deleted
        else f"RabbitMQ user {username} did not exist"
    )
