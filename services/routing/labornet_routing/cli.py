"""``labornet routing``: the routing service's operator commands.

The referral queues' commands (``labornet referrals unrouted``) are the
platform's; what is routing's own is how well screening reads complaints.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

app = typer.Typer(help="screening and referrals", no_args_is_help=True)


class Split(StrEnum):
    """Which labelled cases to measure on."""

    heldout = "heldout"
    train = "train"
    all = "all"


@app.command("evaluate")
def evaluate(
    split: Split = typer.Option(Split.heldout, help="the labelled cases to use"),
    enforce: bool = typer.Option(
        False, "--enforce", help="exit 1 if a held-out goal is missed"
    ),
    misses: bool = typer.Option(
        False, "--misses", help="list the wrong cases (train split only)"
    ),
    exact_only: bool = typer.Option(
        False, "--exact-only", help="no correction of misspelt terms (today's engine)"
    ),
    baseline: Path | None = typer.Option(
        None, metavar="JSON", help="figures to show beside now's"
    ),
    write_baseline: Path | None = typer.Option(
        None, metavar="JSON", help="write this run's figures as a baseline"
    ),
    lexicon: Path | None = typer.Option(
        None, metavar="FILE", help="a lexicon file to evaluate"
    ),
    cases: Path | None = typer.Option(
        None, metavar="CSV", help="a labelled CSV to evaluate on"
    ),
) -> None:
    """Screening's figures per register and per category on the labelled
    cases, beside today's (what `make eval-routing` runs)."""
    from labornet_routing.evaluate import main

    argv = ["--split", split.value]
    argv += ["--enforce"] if enforce else []
    argv += ["--misses"] if misses else []
    argv += ["--lexicon", str(lexicon)] if lexicon else []
    argv += ["--cases", str(cases)] if cases else []
    argv += ["--exact-only"] if exact_only else []
    argv += ["--baseline", str(baseline)] if baseline else []
    argv += ["--write-baseline", str(write_baseline)] if write_baseline else []
    raise typer.Exit(main(argv))
