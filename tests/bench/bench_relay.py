"""What the relay's lease costs per batch: the same relay with and without it.

The relay takes the outbox's lease (``labornet_shared.lease``) before a
batch and confirms it in the transaction that marks the batch sent; when the
outbox is empty it gives it back. This script runs the real relay on a real
database (SQLite file, or PostgreSQL with ``--db``) against a throwaway
vhost, alternating a relay with the lease and the same relay whose lease is
a no-op, in two shapes:

* ``bulk``: ``--events`` events waiting, drained in full batches;
* ``trickle``: ``--trickle`` times one event committed then drained, as the
  inline relay does when each request wakes it (a claim and a release per
  batch: the lease's worst case).

and prints wall and CPU time per batch for each, medians of ``--rounds``.

    .venv/bin/python tests/bench/bench_relay.py [--events 10000] [--db URL]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench_intake import DEFAULT_AMQP, DEFAULT_MANAGEMENT, Broker
from sqlalchemy import MetaData, text
from sqlalchemy.orm import Session

from labornet_shared.db import make_engine
from labornet_shared.events import make_event
from labornet_shared.outbox import (
    ConfirmingPublisher,
    Relay,
    add_events,
    bind_outbox,
    outbox_table,
)


class NoLease:
    """A lease that is always held and costs nothing: the relay as before."""

    seconds = 30.0

    def held(self) -> bool:
        return True

    def claim(self, _engine: Any) -> bool:
        return True

    def confirm(self, _conn: Any, release: bool = False) -> bool:
        return True

    def release(self, _engine: Any) -> None:
        return None

    def forget(self) -> None:
        return None


def agent_event(n: int) -> Any:
    """An ``agent_registered``-sized event (the relay does not read it)."""
    return make_event(
        "case_withdrawn",
        {
            "reference": f"LN-2568-{n:08d}",
            "withdrawn_at": "2025-11-26T04:00:00+00:00",
            "withdrawn_by": "citizen",
        },
        correlation_id=f"LN-2568-{n:08d}",
    )


class Database:
    """A fresh outbox per run: a SQLite file, or a PostgreSQL schema."""

    def __init__(self, base: str | None, workdir: Path) -> None:
        self.base = base
        self.workdir = workdir
        self.schemas: list[str] = []

    def fresh(self) -> Any:
        if not self.base:
            return make_engine(f"sqlite:///{self.workdir / uuid.uuid4().hex}.db", 2)
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = make_engine(self.base, 1)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        self.schemas.append(schema)
        return make_engine(f"{self.base}?options=-csearch_path%3D{schema}", 2)

    def drop(self) -> None:
        """Drop the PostgreSQL schemas made (SQLite files go with the dir)."""
        if not self.schemas:
            return
        admin = make_engine(str(self.base), 1)
        with admin.begin() as conn:
            for schema in self.schemas:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run(
    engine: Any, amqp_uri: str, shape: str, count: int, batch: int, lease: bool
) -> tuple[float, float, int]:
    """(wall s, CPU s, batches) for one shape with or without the lease."""
    metadata = MetaData()
    outbox_table(metadata)
    metadata.create_all(engine)
    publisher = ConfirmingPublisher(amqp_uri)
    relay = Relay(engine, metadata, publisher, batch_size=batch)
    if not lease:
        relay.lease = NoLease()  # type: ignore[assignment]

    def commit(first: int, n: int) -> None:
        with Session(engine) as session:
            bind_outbox(session, metadata)
            add_events(session, "intake", [agent_event(first + i) for i in range(n)])
            session.commit()

    commit(0, 1)
    relay.drain()  # connect and declare first
    wall = cpu = 0.0
    batches = 0
    try:
        if shape == "bulk":
            for start in range(0, count, 1000):
                commit(start, min(1000, count - start))
            started, cpu0 = time.perf_counter(), time.process_time()
            while (published := relay.publish_pending()) > 0:
                batches += 1
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
        else:
            for n in range(count):
                commit(n, 1)  # not timed: the request's own work
                started, cpu0 = time.perf_counter(), time.process_time()
                published = relay.drain()
                wall += time.perf_counter() - started
                cpu += time.process_time() - cpu0
                batches += 1
        assert published >= 0 and relay.pending_count() == 0
    finally:
        publisher.close()
        engine.dispose()
    return wall, cpu, batches


def main(argv: list[str] | None = None) -> int:
    """Alternate with and without the lease; print per-batch medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--trickle", type=int, default=500)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", default=None, help="PostgreSQL URL (else SQLite)")
    parser.add_argument("--amqp-uri", default=DEFAULT_AMQP)
    parser.add_argument("--management-url", default=DEFAULT_MANAGEMENT)
    args = parser.parse_args(argv)
    broker = Broker(args.amqp_uri, args.management_url)
    results: dict[tuple[str, bool], list[tuple[float, float, int]]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        databases = Database(args.db, Path(workdir))
        try:
            broker.create()
            for _ in range(args.rounds):
                for shape, count in (("bulk", args.events), ("trickle", args.trickle)):
                    for lease in (True, False):
                        results.setdefault((shape, lease), []).append(
                            run(
                                databases.fresh(),
                                broker.amqp_uri,
                                shape,
                                count,
                                args.batch,
                                lease,
                            )
                        )
        finally:
            broker.delete()
            databases.drop()
    print(
        f"{'PostgreSQL' if args.db else 'SQLite'}; bulk {args.events} events in"
        f" batches of {args.batch}, trickle {args.trickle} x 1 event;"
        f" medians of {args.rounds} rounds"
    )
    for (shape, lease), runs in results.items():
        batches = runs[0][2]
        wall = statistics.median(r[0] for r in runs) / batches
        cpu = statistics.median(r[1] for r in runs) / batches
        print(
            f"  {shape:<8} {'lease' if lease else 'no lease':<9}"
            f" wall {1e3 * wall:6.2f} ms/batch  CPU {1e3 * cpu:6.2f} ms/batch"
            f"  ({batches} batches)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
