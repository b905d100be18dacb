"""Roster imports: which rows go in (the import mode), upserting validated
rows by national ID in chunks, and the stored report of each import.

The API and ``labornet registry import`` share all of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from labornet_registry.domain.names import new_agent_id
from labornet_registry.domain.rows import ChildRows, agent_columns, delete_children
from labornet_registry.domain.snapshots import (
    ROSTER_FIELDS,
    SERVICE,
    agent_view,
    fingerprint,
    registered_event,
    updated_event,
)
from labornet_registry.models import Agent, RosterImport
from labornet_shared.clock import Clock, utc_now
from labornet_shared.events import Event
from labornet_shared.outbox import add_events
from labornet_shared.tokens import Principal
from labornet_shared.unit_of_work import bulk_insert

# --- the import mode -----------------------------------------------------------


class ImportMode(NamedTuple):
    """How an import treats its roster: ``name`` is ``dry_run``,
    ``all_or_nothing`` or ``good_rows`` (kept in the report); ``write`` says
    whether the good rows are written."""

    name: str
    write: bool


def import_mode(*, dry_run: bool, all_or_nothing: bool, rejected: bool) -> ImportMode:
    """The mode of an import, and whether it writes, given whether the roster
    has ``rejected`` rows.

    A dry run writes nothing; all-or-nothing writes only a roster without a
    rejected row; otherwise (the default) the good rows go in.
    """
    if dry_run:
        return ImportMode("dry_run", False)
    if all_or_nothing:
        return ImportMode("all_or_nothing", not rejected)
    return ImportMode("good_rows", True)


# --- upserting the rows --------------------------------------------------------


@dataclass
class ImportOutcome:
    """What an import did (or, dry-run, would do)."""

    registered: int = 0
    updated: int = 0
    unchanged: int = 0
    registered_ids: list[str] = field(default_factory=list)
    updated_ids: list[str] = field(default_factory=list)


# (agent id, agent input, new revision, status, changed fields)
_Update = tuple[str, dict[str, Any], int, str, list[str]]
# national ID -> (agent id, revision, status, fingerprint) of a stored agent
_Stored = dict[str, tuple[str, int, str, dict[str, Any]]]


@dataclass
class _Chunk:
    """What one chunk of rows writes: new agents, their events, updates."""

    new_rows: list[dict[str, Any]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    children: ChildRows = field(default_factory=ChildRows)
    changed_ids: list[str] = field(default_factory=list)
    updates: list[_Update] = field(default_factory=list)


def _stored_fingerprints(session: Session, national_ids: Sequence[str]) -> _Stored:
    """national ID -> (agent id, revision, status, fingerprint) of stored agents."""
    found: _Stored = {}
    for start in range(0, len(national_ids), 500):
        chunk = national_ids[start : start + 500]
        rows = session.execute(
            select(Agent).where(Agent.national_id.in_(chunk))
        ).scalars()
        for agent in rows:
            view = agent_view(agent, with_training=False)
            found[agent.national_id] = (
                agent.id,
                agent.revision,
                agent.status,
                fingerprint(view),
            )
        session.expunge_all()
    return found


def import_agents(
    session: Session,
    agents: Sequence[dict[str, Any]],
    *,
    dry_run: bool = False,
    clock: Clock = utc_now,
    progress: Callable[[int], None] | None = None,
    chunk: int = 1000,
    after_chunk: Callable[[], None] | None = None,
) -> ImportOutcome:
    """Upsert validated roster rows by national ID, in the caller's transaction.

    A new national ID registers an agent (``agent_registered``); a known one
    whose roster fields differ is updated (one ``agent_updated`` naming the
    changed fields); an identical one is left alone and emits nothing. An
    agent's status is not the roster's to change: an inactive agent stays
    inactive until an operator reactivates them. ``progress`` is called with
    the number of rows handled after each chunk.

    ``after_chunk`` is called once each chunk's agents and events are
    written: the CLI commits there, so that its relay publishes one chunk's
    events while the next chunk is written. Each chunk is then complete on
    its own (agents, child rows, events), and a re-import after a failure
    registers only what is missing.
    """
    outcome = ImportOutcome()
    stored = _stored_fingerprints(session, [a["national_id"] for a in agents])
    now = clock()
    for start in range(0, len(agents), chunk):
        rows = _sort_chunk(agents[start : start + chunk], stored, outcome, now)
        if not dry_run:
            _write_import_chunk(session, rows, now)
            add_events(
                session,
                SERVICE,
                rows.events
                + [
                    updated_event(
                        agent_id, agent, status, revision, changed, validate=i == 0
                    )
                    for i, (agent_id, agent, revision, status, changed) in enumerate(
                        rows.updates
                    )
                ],
            )
            if after_chunk is not None:
                after_chunk()
        if progress is not None:
            progress(min(start + chunk, len(agents)))
    if not dry_run and outcome.registered + outcome.updated >= ANALYZE_AFTER_ROWS:
        refresh_statistics(session)
    return outcome


def _sort_chunk(
    agents: Sequence[dict[str, Any]],
    stored: _Stored,
    outcome: ImportOutcome,
    now: datetime,
) -> _Chunk:
    """Sort a chunk's rows into new agents, updates and unchanged ones,
    counting each in ``outcome``."""
    rows = _Chunk()
    for agent in agents:
        known = stored.get(agent["national_id"])
        if known is None:
            agent_id = new_agent_id()
            outcome.registered += 1
            outcome.registered_ids.append(agent_id)
            rows.new_rows.append(agent_columns(agent_id, agent, "active", now))
            rows.children.add(agent_id, agent)
            # validating one payload per chunk catches a payload bug;
            # validating all 8,879 of a national roster doubles its time
            rows.events.append(
                registered_event(agent_id, agent, "active", validate=not rows.events)
            )
            continue
        agent_id, revision, status, before = known
        after = fingerprint(agent)
        changed = [name for name in ROSTER_FIELDS if before[name] != after[name]]
        if not changed:
            outcome.unchanged += 1
            continue
        outcome.updated += 1
        outcome.updated_ids.append(agent_id)
        rows.changed_ids.append(agent_id)
        rows.updates.append((agent_id, agent, revision + 1, status, changed))
    return rows


# a bulk change this large makes the planner's statistics stale
ANALYZE_AFTER_ROWS = 500


def refresh_statistics(session: Session) -> None:
    """Let the query planner see the network as it now is.

    Right after a national roster is loaded PostgreSQL believes the tables
    are nearly empty (autovacuum has not analysed them yet) and SQLite has no
    statistics at all; searches then pick slow plans.
    """
    tables = ("agents", "agent_areas", "agent_languages", "agent_name_keys")
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"ANALYZE {', '.join(tables)}"))
    else:
        for table in tables:
            session.execute(text(f"ANALYZE {table}"))


def _write_import_chunk(session: Session, rows: _Chunk, now: datetime) -> None:
    connection = session.connection()
    bulk_insert(session, Agent.__table__, rows.new_rows)  # type: ignore[arg-type]
    if rows.changed_ids:
        # the roster does not carry training records: keep them
        delete_children(session, rows.changed_ids, training=False)
    for agent_id, agent, revision, status, _changed in rows.updates:
        columns = agent_columns(agent_id, agent, status, now)
        for name in ("id", "national_id", "created_at", "deactivation_reason"):
            columns.pop(name)
        columns["revision"] = revision
        connection.execute(
            update(Agent.__table__).where(Agent.__table__.c.id == agent_id),
            columns,
        )
        rows.children.add(agent_id, {**agent, "training": []})
    rows.children.insert(session)


# --- the report ----------------------------------------------------------------


def record_import(
    session: Session,
    principal: Principal,
    *,
    filename: str,
    mode: str,
    rows_read: int,
    outcome: ImportOutcome,
    rejected: int,
    rejected_csv: bytes | None,
    clock: Clock = utc_now,
) -> RosterImport:
    """Keep an import's report, so its rejected rows can be downloaded."""
    report = RosterImport(
        filename=filename[:255],
        actor=principal.agent_id or principal.subject,
        mode=mode,
        rows_read=rows_read,
        registered=outcome.registered,
        updated=outcome.updated,
        unchanged=outcome.unchanged,
        rejected=rejected,
        rejected_csv=rejected_csv,
        created_at=clock(),
    )
    session.add(report)
    session.flush()
    return report


def roster_import(session: Session, import_id: int) -> RosterImport | None:
    """A stored import report."""
    return session.get(RosterImport, import_id)
