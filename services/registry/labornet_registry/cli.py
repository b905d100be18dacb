"""``labornet registry``: import, template and seed — the rosters operators
handle. Added to the ``labornet`` command through the ``labornet.commands``
entry point.

``import`` works on registry's database directly (like ``labornet migrate``)
in one transaction, then publishes the events it wrote through the outbox
relay and waits for the broker's confirms, so when it says "delivered" the
events are on the broker.
"""

from __future__ import annotations

import getpass
import sys
import time
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(help="the field-agent registry", no_args_is_help=True)

# exit statuses: rows rejected (the good ones may be imported), file unusable
EXIT_REJECTED = 1
EXIT_UNUSABLE = 2


def _console() -> Any:
    from rich.console import Console

    # soft wrap: a long message stays one line in logs and pipes
    return Console(stderr=True, soft_wrap=True)


def _error_table(errors: list[Any], limit: int) -> Any:
    from rich.table import Table

    table = Table(title="rejected rows", show_lines=False)
    for name in ("row", "column", "problem", "detail"):
        table.add_column(name)
    for error in errors[:limit]:
        table.add_row(str(error.row), error.column or "-", error.code, error.detail)
    if len(errors) > limit:
        table.caption = f"... and {len(errors) - limit} more in the rejected-rows CSV"
    return table


@app.command("import")
def import_roster(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    dry_run: bool = typer.Option(False, "--dry-run", help="validate only"),
    all_or_nothing: bool = typer.Option(
        False, "--all-or-nothing", help="import nothing if any row fails"
    ),
    rejected: Path | None = typer.Option(
        None, help="where to write the rejected rows (default FILE.rejected.csv)"
    ),
    publish: bool = typer.Option(
        True, help="publish the events now (else the service's relay does)"
    ),
    show: int = typer.Option(50, help="rejected rows shown in the table"),
) -> None:
    """Validate a roster (CSV or XLSX) and import its agents by national ID."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from labornet_registry import domain, roster
    from labornet_shared.tokens import Principal

    console = _console()
    started = time.perf_counter()
    try:
        sheet = roster.read_roster(file.read_bytes(), file.name)
    except roster.RosterFileError as exc:
        console.print(f"[red]error[/red]: {file.name}: {exc.detail} ({exc.code})")
        raise typer.Exit(EXIT_UNUSABLE) from exc
    read_seconds = time.perf_counter() - started
    console.print(
        f"{file.name}: {sheet.total} rows read in {read_seconds:.2f}s — "
        f"{sheet.ok} good, {sheet.failed} rejected"
    )
    if sheet.errors:
        console.print(_error_table(sheet.errors, show))
        target = rejected or file.with_name(f"{file.stem}.rejected.csv")
        target.write_bytes(roster.rejected_rows_csv(sheet))
        console.print(f"rejected rows with their errors: {target}")
    mode = "dry_run" if dry_run else "all_or_nothing" if all_or_nothing else "good_rows"
    write = mode == "good_rows" or (mode == "all_or_nothing" and not sheet.errors)
    if mode == "all_or_nothing" and sheet.errors:
        console.print("[yellow]--all-or-nothing[/yellow]: nothing imported")
    principal = Principal(scope="operator", subject=f"cli:{getpass.getuser()}")
    engine, metadata = _registry_engine()
    agents = [row.agent for row in sheet.rows]
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} rows/s"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(
            "checking" if not write else "importing", total=len(agents), rate="-"
        )
        write_started = time.perf_counter()

        def advance(done: int) -> None:
            elapsed = max(time.perf_counter() - write_started, 1e-6)
            progress.update(task, completed=done, rate=f"{done / elapsed:,.0f}")

        outcome = _import(
            engine,
            metadata,
            agents,
            write=write,
            advance=advance,
            record=lambda session, outcome: domain.record_import(
                session,
                principal,
                filename=file.name,
                mode=mode,
                rows_read=sheet.total,
                outcome=outcome,
                rejected=sheet.failed,
                rejected_csv=roster.rejected_rows_csv(sheet) if sheet.errors else None,
            ),
        )
    verb = "imported" if write else "would import"
    console.print(
        f"{verb}: {outcome.registered} registered, {outcome.updated} updated, "
        f"{outcome.unchanged} unchanged"
    )
    if write and publish and (outcome.registered or outcome.updated):
        delivered = _publish(engine, metadata)
        if delivered < 0:
            console.print("events: the running registry's relay is publishing them")
        else:
            console.print(f"events delivered to the broker: {delivered}")
    elapsed = time.perf_counter() - started
    console.print(
        f"done in {elapsed:.2f}s ({sheet.total / max(elapsed, 1e-6):,.0f} rows/s)"
    )
    engine.dispose()
    if sheet.errors:
        raise typer.Exit(EXIT_REJECTED)


def _registry_engine() -> tuple[Any, Any]:
    from labornet_registry.models import Base
    from labornet_shared.config import load_service_config
    from labornet_shared.db import make_engine

    config = load_service_config("registry")
    return make_engine(str(config["DATABASE_URL"]), pool_size=2), Base.metadata


def _import(
    engine: Any,
    metadata: Any,
    agents: list[dict[str, Any]],
    *,
    write: bool,
    advance: Any,
    record: Any,
) -> Any:
    """Run the import in one transaction; roll back on any error."""
    from sqlalchemy.orm import Session

    from labornet_registry import domain
    from labornet_shared.outbox import bind_outbox

    with Session(engine) as session, session.begin():
        bind_outbox(session, metadata)
        outcome = domain.import_agents(
            session, agents, dry_run=not write, progress=advance
        )
        record(session, outcome)
    return outcome


def _publish(engine: Any, metadata: Any) -> int:
    """Publish what the outbox holds, waiting for the broker's confirms."""
    from labornet_shared.cli import _amqp_uri, _on_broker
    from labornet_shared.outbox import ConfirmingPublisher, Relay

    with _on_broker("registry.events"):
        publisher = ConfirmingPublisher(_amqp_uri())
        try:
            relay = Relay(engine, metadata, publisher, batch_size=500)
            published = relay.drain()
        finally:
            publisher.close()
    # -1: another relay (the running service) holds the lock and publishes
    return published


@app.command("template")
def template(
    path: Path = typer.Argument(
        Path("roster-template.xlsx"), help=".xlsx (with explanations) or .csv"
    ),
) -> None:
    """Write an empty roster with both header rows (English and Thai)."""
    from labornet_registry import roster

    if path.suffix.lower() not in (".xlsx", ".csv"):
        typer.echo("error: the template is .xlsx or .csv", err=True)
        raise typer.Exit(EXIT_UNUSABLE)
    roster.write_template(path)
    for name, thai, required, meaning in roster.explain_columns():
        typer.echo(f"{name:<16} {thai:<24} {required:<9} {meaning}")
    typer.echo(f"template written: {path}", err=True)


@app.command("seed")
def seed(
    out: Path = typer.Option(Path("var/registry-seed.csv"), help="CSV to write"),
    seed_value: int = typer.Option(2568, "--seed", help="same seed, same network"),
    graduates: int = typer.Option(725),
    volunteers: int = typer.Option(7_746),
    abroad: int = typer.Option(408),
    then_import: bool = typer.Option(
        False, "--import", help="import the written roster as well"
    ),
) -> None:
    """Write a realistic synthetic network as a roster CSV (and import it)."""
    from labornet_registry.seed import write_network_csv

    out.parent.mkdir(parents=True, exist_ok=True)
    rows = write_network_csv(
        out, seed_value, graduates=graduates, volunteers=volunteers, abroad=abroad
    )
    typer.echo(f"{rows} agents written to {out} (seed {seed_value})", err=True)
    if then_import:
        import_roster(
            file=out,
            dry_run=False,
            all_or_nothing=True,
            rejected=None,
            publish=True,
            show=50,
        )


def main() -> None:  # pragma: no cover - `python -m labornet_registry.cli`
    """Run these commands on their own."""
    sys.exit(app())
