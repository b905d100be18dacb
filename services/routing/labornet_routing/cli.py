"""``labornet routing``: the routing service's operator commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="screening and referrals", no_args_is_help=True)
