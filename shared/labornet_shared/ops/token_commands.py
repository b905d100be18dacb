"""``labornet token create``: bearer tokens signed with the secret the
services check them with, never living longer than their scope allows."""

from __future__ import annotations

import os
from datetime import timedelta

import typer

from labornet_shared.config import DEVELOPMENT_TOKEN_SECRET, flag
from labornet_shared.ops.console import err
from labornet_shared.ops.installation import setting

app = typer.Typer(help="bearer tokens", no_args_is_help=True)


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
            err(f"made this checkout's secrets in {secrets_file()} (mode 0600)")
        return values["LABORNET_TOKEN_SECRET"]
    secret = setting("TOKEN_SECRET", DEVELOPMENT_TOKEN_SECRET)
    if secret in PUBLIC_SECRETS and not flag(setting(ALLOW_SETTING, "false")):
        err(
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


@app.command("create")
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
                f"TOKEN_MAX_HOURS_{scope.upper()}": setting(
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
        err(f"error: {exc}")
        raise typer.Exit(2) from exc
    typer.echo(token)
