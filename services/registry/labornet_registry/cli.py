"""``labornet registry``: import, template and seed — the rosters operators
handle. Added to the ``labornet`` command through the ``labornet.commands``
entry point.

``import`` works on registry's database directly (like ``labornet migrate``)
and publishes the events it wrote through the outbox relay, waiting for the
broker's confirms, so when it says "delivered" the events are on the broker.
By default it commits every :data:`CHUNK_ROWS` rows (agents and their events
together) and a relay thread publishes each committed chunk while the next
one is written; ``--all-or-nothing`` is one transaction, published after it.

Its relay takes the outbox's lease like any other: while the running
registry's relay holds it, that one publishes the chunks (never both), and
the import waits until every event is on the broker whoever sent it.
"""

from __future__ import annotations

import gc
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

# rows per committed chunk when the good rows go in; the relay publishes a
# chunk's events while the next is written (national roster: ~9 chunks)
CHUNK_ROWS = 1000
# events per publish batch (one SELECT, one wait for confirms, one UPDATE)
PUBLISH_BATCH = 500


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
    chunk_rows: int = typer.Option(
        CHUNK_ROWS, min=1, help="rows per committed chunk (not --all-or-nothing)"
    ),
) -> None:
    """Validate a roster (CSV or XLSX) and import its agents by national ID.

    The good rows go in by chunks (--chunk-rows), each committed with its events,
    which are published while the next chunk is written. If the import stops
    midway (a lost connection, Ctrl-C), the chunks already committed stay, with
    their events; running the same file again imports the rest (rows already
    in are unchanged). --all-or-nothing imports in one transaction.
    """
    # The collector's full passes walk every row read and every library
    # object: 0.25 s during a national roster, and the interpreter's exit
    # runs two or three more (0.2-0.3 s). They find next to nothing (~100
    # objects), so it is off while the command runs and the heap is frozen
    # before the exit.
    gc.disable()
    try:
        _import_file(file, dry_run, all_or_nothing, rejected, publish, show, chunk_rows)
    finally:
        gc.freeze()
        gc.enable()


def _import_file(
    file: Path,
    dry_run: bool,
    all_or_nothing: bool,
    rejected: Path | None,
    publish: bool,
    show: int,
    chunk_rows: int,
) -> None:
    from labornet_registry import domain

    console = _console()
    started = time.perf_counter()
    sheet = _read_sheet(console, file, rejected, show)
    mode, write = domain.import_mode(
        dry_run=dry_run, all_or_nothing=all_or_nothing, rejected=bool(sheet.errors)
    )
    if mode == "all_or_nothing" and sheet.errors:
        console.print("[yellow]--all-or-nothing[/yellow]: nothing imported")
    engine, metadata = _registry_engine()
    # chunks committed one by one, published meanwhile (good rows only:
    # --all-or-nothing is one transaction, published once committed)
    chunked = write and mode == "good_rows"
    outcome, relay = _import_with_progress(
        console,
        engine,
        metadata,
        [row.agent for row in sheet.rows],
        write=write,
        chunked=chunked,
        publish=publish,
        chunk_rows=chunk_rows,
        record=_recorder(file.name, mode, sheet),
    )
    verb = "imported" if write else "would import"
    console.print(
        f"{verb}: {outcome.registered} registered, {outcome.updated} updated, "
        f"{outcome.unchanged} unchanged"
    )
    if write and publish and (outcome.registered or outcome.updated):
        published = relay.result() if relay is not None else _publish(engine, metadata)
        console.print(_published_line(published, outcome.registered + outcome.updated))
    elapsed = time.perf_counter() - started
    console.print(
        f"done in {elapsed:.2f}s ({sheet.total / max(elapsed, 1e-6):,.0f} rows/s"
        " overall; the bar's: writing alone)"
    )
    engine.dispose()
    if sheet.errors:
        raise typer.Exit(EXIT_REJECTED)


def _recorder(filename: str, mode: str, sheet: Any) -> Any:
    """What keeps the import's report, in the import's last transaction: the
    operator is the user running the command."""
    from labornet_registry import domain, roster
    from labornet_shared.tokens import Principal

    principal = Principal(scope="operator", subject=f"cli:{getpass.getuser()}")

    def record(session: Any, outcome: Any) -> Any:
        return domain.record_import(
            session,
            principal,
            filename=filename,
            mode=mode,
            rows_read=sheet.total,
            outcome=outcome,
            rejected=sheet.failed,
            rejected_csv=roster.rejected_rows_csv(sheet) if sheet.errors else None,
        )

    return record


def _read_sheet(console: Any, file: Path, rejected: Path | None, show: int) -> Any:
    """Read and check the roster; show its rejected rows and write them to
    ``rejected`` (FILE.rejected.csv by default). An unusable file exits."""
    from labornet_registry import roster

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
    return sheet


def _import_with_progress(
    console: Any,
    engine: Any,
    metadata: Any,
    agents: list[dict[str, Any]],
    *,
    write: bool,
    chunked: bool,
    publish: bool,
    chunk_rows: int,
    record: Any,
) -> tuple[Any, _RelayThread | None]:
    """Run the import under a progress bar: (its outcome, the relay thread
    that published each committed chunk, when ``chunked`` and ``publish``)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

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

        relay = _RelayThread(engine, metadata) if chunked and publish else None
        try:
            outcome = _import(
                engine,
                metadata,
                agents,
                write=write,
                advance=advance,
                after_chunk=relay.wake if relay is not None else None,
                chunk_rows=chunk_rows,
                chunked=chunked,
                record=record,
            )
        finally:
            if relay is not None:
                relay.finish()
    return outcome, relay


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
    chunk_rows: int = CHUNK_ROWS,
    chunked: bool = False,
    after_chunk: Any = None,
) -> Any:
    """Run the import in one transaction, or ``chunked`` (a commit per chunk,
    then ``after_chunk``); roll back the open transaction on any error."""
    from sqlalchemy.orm import Session

    from labornet_registry import domain
    from labornet_shared.outbox import bind_outbox

    # closing the session rolls back whatever was not committed
    with Session(engine) as session:
        bind_outbox(session, metadata)

        def commit_chunk() -> None:
            session.commit()
            if after_chunk is not None:
                after_chunk()

        outcome = domain.import_agents(
            session,
            agents,
            dry_run=not write,
            progress=advance,
            chunk=chunk_rows,
            after_chunk=commit_chunk if chunked else None,
        )
        record(session, outcome)
        session.commit()
    return outcome


def _published_line(published: Any, events: int) -> str:
    """What the import says about its ``events`` (a :class:`Published`)."""
    # those neither this import published nor still wait: the running
    # registry's relay took them (it may without this one seeing its lease)
    others = max(0, events - published.mine - published.waiting)
    line = f"events delivered to the broker: {published.mine + others:,} of {events:,}"
    if others:
        line += (
            f" ({published.mine:,} by this import, {others:,} by the running"
            " registry's relay)"
        )
    if published.waiting:
        line += f"; {published.waiting:,} wait in the outbox for the registry's relay"
    return line


def _relay(engine: Any, metadata: Any) -> Any:
    """A relay like the registry's own (its lease, its settings), publishing
    in the import's larger batches."""
    from labornet_shared.config import load_service_config
    from labornet_shared.ops.installation import amqp_uri as _amqp_uri
    from labornet_shared.outbox import ConfirmingPublisher, Relay, relay_settings

    settings = relay_settings(load_service_config("registry"))
    settings["batch_size"] = PUBLISH_BATCH
    return Relay(
        engine,
        metadata,
        ConfirmingPublisher(_amqp_uri()),
        service="registry",
        **settings,
    )


def _publish(engine: Any, metadata: Any) -> Any:
    """Publish what the outbox holds — or let the relay holding the lease
    (the running registry) do it — and wait until it is on the broker."""
    from labornet_shared.ops.console import on_broker as _on_broker
    from labornet_shared.outbox import publish_all

    with _on_broker("registry.events"):
        relay = _relay(engine, metadata)
        try:
            return publish_all(relay)
        finally:
            relay.release_lease()
            relay.publisher.close()


class _RelayThread:
    """Publishes the committed outbox in a thread while the import writes.

    Woken after each commit; it drains whatever is committed (only committed
    rows are visible to it) when it gets the lease — else the running
    registry's relay holds it and publishes. At the end it waits until every
    event is on the broker. A broker error stops it: the events stay in the
    outbox for the service's relay, and :meth:`result` reports the error.
    """

    def __init__(self, engine: Any, metadata: Any) -> None:
        import threading

        self._relay = _relay(engine, metadata)
        self._publisher = self._relay.publisher
        self._wake = threading.Event()
        self._finished = False
        self._error: BaseException | None = None
        self._elsewhere = False
        self._published: Any = None
        self._thread = threading.Thread(
            target=self._run, name="registry-relay", daemon=True
        )
        self._thread.start()

    def wake(self) -> None:
        """A chunk was committed: publish it."""
        self._wake.set()

    def finish(self) -> None:
        """Publish what is left, then stop (waits for the thread)."""
        self._finished = True
        self._wake.set()
        self._thread.join()
        self._relay.release_lease()
        self._publisher.close()

    def result(self) -> Any:
        """What was published (a :class:`Published`); a broker error of the
        thread is raised here, as ``_publish`` would."""
        from labornet_shared.ops.console import on_broker as _on_broker

        if self._error is not None:
            with _on_broker("registry.events"):
                raise self._error
        published = self._published
        published.mine = self._relay.published
        published.elsewhere = published.elsewhere or self._elsewhere
        return published

    def _run(self) -> None:
        from labornet_shared.outbox import publish_all

        while True:
            self._wake.wait()
            self._wake.clear()
            # read before draining: a commit that lands meanwhile re-wakes us
            finished = self._finished
            try:
                if finished:
                    self._published = publish_all(self._relay)
                    return
                if self._relay.drain() < 0:
                    self._elsewhere = True
            except BaseException as exc:  # reported by result()
                self._error = exc
                return


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
            chunk_rows=CHUNK_ROWS,
        )


def main() -> None:  # pragma: no cover - `python -m labornet_registry.cli`
    """Run these commands on their own."""
    sys.exit(app())
