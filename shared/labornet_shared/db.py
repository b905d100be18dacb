"""Databases: engines for SQLite and PostgreSQL, and the unit of work.

Each service owns one database. :class:`Database` is the nameko
DependencyProvider that gives every worker a :class:`UnitOfWork`
(:mod:`labornet_shared.unit_of_work`, with :func:`bulk_insert`): one
SQLAlchemy session that commits when the worker succeeds and rolls back when
it raises. The commit happens *before* the entrypoint answers (an HTTP 201 or
an AMQP ack), never after, so a client is never told about a change that was
then lost.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from nameko.extensions import DependencyProvider
from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from labornet_shared.unit_of_work import UnitOfWork as UnitOfWork
from labornet_shared.unit_of_work import bulk_insert as bulk_insert

if TYPE_CHECKING:
    from nameko.containers import WorkerContext

log = logging.getLogger(__name__)

_psycopg_patched = False


def _patch_psycopg_for_eventlet() -> None:
    """Let psycopg2 yield to other green threads while it waits on the wire."""
    global _psycopg_patched
    if _psycopg_patched:
        return
    import eventlet.patcher

    if eventlet.patcher.is_monkey_patched("socket"):
        from psycogreen.eventlet import patch_psycopg

        patch_psycopg()
    _psycopg_patched = True


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` URLs for psycopg2."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://") :]
    return url


def make_engine(url: str, pool_size: int = 10) -> Engine:
    """An engine tuned for the service's workload on SQLite or PostgreSQL."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        # how long a writer waits for another's lock: 30 s, or ?timeout=
        busy_seconds = float(str(make_url(url).query.get("timeout", 30)))
        engine = create_engine(
            url,
            connect_args={"timeout": busy_seconds, "check_same_thread": False},
            # parameters can be personal data: never in an error or a log
            hide_parameters=True,
            pool_size=pool_size,
            max_overflow=pool_size,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets readers run beside the writer; NORMAL sync is durable
            # across process crashes, which is what the outbox needs.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_seconds * 1000)}")
            cursor.close()

        _serialise_green_writers(engine, url)
        return engine
    _patch_psycopg_for_eventlet()
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        hide_parameters=True,
    )


# one lock per SQLite file, shared by every engine of this process
_sqlite_write_locks: dict[str, Any] = {}
_WRITE_LOCK_KEY = "labornet_sqlite_write_lock"
_READ_PREFIXES = ("SELECT", "PRAGMA", "EXPLAIN", "WITH")
SQLITE_WRITE_WAIT_SECONDS = 30.0


def _serialise_green_writers(engine: Engine, url: str) -> None:
    """Make SQLite's writers wait for each other cooperatively under eventlet.

    SQLite lets one connection write at a time and makes the others wait in
    its busy handler, a blocking C loop. Under eventlet that loop stops the
    whole process: if the green thread holding the write lock yields before
    it commits (a network call, an RPC reply, a publish), the holder never
    gets to run, and every green thread — HTTP, consumers, the outbox relay —
    freezes until the busy timeout (30 s) gives up with "database is locked".

    So a green lock per database file is taken before a connection's first
    writing statement and given back when its transaction ends: a second
    writer yields to the first instead of blocking the process. Readers
    (SELECT, WAL mode) never wait. Outside eventlet nothing changes.
    """
    import eventlet.patcher

    if not eventlet.patcher.is_monkey_patched("thread"):
        return
    from eventlet.semaphore import Semaphore

    lock = _sqlite_write_locks.setdefault(url, Semaphore(1))
    _take_lock_before_writing(engine, lock)
    _give_lock_back_when_transaction_ends(engine, lock)


def _take_lock_before_writing(engine: Engine, lock: Any) -> None:
    """A connection's first writing statement waits for the file's green lock
    (``SQLITE_WRITE_WAIT_SECONDS`` at most, then "database is locked")."""
    from sqlalchemy import exc as sa_exc

    @event.listens_for(engine, "before_cursor_execute")
    def _take(conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        info = conn.info
        if info.get(_WRITE_LOCK_KEY):
            return
        if statement.lstrip()[:7].upper().startswith(_READ_PREFIXES):
            return
        if not lock.acquire(timeout=SQLITE_WRITE_WAIT_SECONDS):
            raise sa_exc.OperationalError(
                statement, None, Exception("database is locked (green writer)")
            )
        info[_WRITE_LOCK_KEY] = True


def _give_lock_back_when_transaction_ends(engine: Engine, lock: Any) -> None:
    """The lock goes when the transaction ends, however it ends (commit,
    rollback, or the connection going back to the pool, reset, closed or
    invalidated); sqlite3's commit does not yield, so giving it back just
    before is safe."""

    def release(info: dict[str, Any]) -> None:
        if info.pop(_WRITE_LOCK_KEY, False):
            lock.release()

    def on_transaction_end(conn: Any) -> None:
        release(conn.info)

    def on_checkin(_dbapi: Any, record: Any) -> None:
        if record is not None:
            release(record.info)

    def on_reset(_dbapi: Any, record: Any, _state: Any) -> None:
        on_checkin(_dbapi, record)

    def on_invalidate(_dbapi: Any, record: Any, _exc: Any) -> None:
        on_checkin(_dbapi, record)

    event.listen(engine, "commit", on_transaction_end)
    event.listen(engine, "rollback", on_transaction_end)
    event.listen(engine.pool, "reset", on_reset)
    event.listen(engine.pool, "checkin", on_checkin)
    event.listen(engine.pool, "close", on_checkin)
    event.listen(engine.pool, "invalidate", on_invalidate)


def is_postgresql(engine: Engine) -> bool:
    """Whether the engine talks to PostgreSQL (else SQLite)."""
    return engine.dialect.name == "postgresql"


class Database(DependencyProvider):
    """nameko DependencyProvider: a :class:`UnitOfWork` for every worker.

    ``config_key`` names the config entry with the database URL. Units of work
    are finished by :func:`finish_units_of_work`, which labornet's entrypoints
    call before they answer; ``worker_result`` is the fallback for plain
    nameko entrypoints.
    """

    def __init__(self, metadata: MetaData, config_key: str = "DATABASE_URL") -> None:
        self.metadata = metadata
        self.config_key = config_key
        self.engine: Engine | None = None
        self.sessionmaker: sessionmaker[Session] | None = None
        self.units: weakref.WeakKeyDictionary[WorkerContext, UnitOfWork] = (
            weakref.WeakKeyDictionary()
        )
        self._after_commit_hooks: list[Callable[[UnitOfWork], None]] = []

    def setup(self) -> None:
        """Create the engine from the service's config."""
        config = self.container.config
        self.engine = make_engine(
            config[self.config_key], int(config.get("DATABASE_POOL_SIZE", 10))
        )
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)

    def stop(self) -> None:
        """Close the pool's connections."""
        if self.engine is not None:
            self.engine.dispose()

    def add_after_commit_hook(self, hook: Callable[[UnitOfWork], None]) -> None:
        """Let another extension (the outbox relay) hear about every commit."""
        self._after_commit_hooks.append(hook)

    def get_dependency(self, worker_ctx: WorkerContext) -> UnitOfWork:
        """The worker's unit of work, created on first use."""
        assert self.sessionmaker is not None
        session = self.sessionmaker()
        session.info["metadata"] = self.metadata
        unit = UnitOfWork(session)
        for hook in self._after_commit_hooks:
            unit.after_commit(partial(hook, unit))
        self.units[worker_ctx] = unit
        return unit

    def finish(self, worker_ctx: WorkerContext, exc_info: Any) -> Any:
        """Commit or roll back this worker's unit of work."""
        unit = self.units.get(worker_ctx)
        if unit is None:
            return exc_info
        return unit.finish(exc_info)

    def worker_result(
        self, worker_ctx: WorkerContext, result: Any = None, exc_info: Any = None
    ) -> None:
        """Fallback for entrypoints that did not finish the unit of work."""
        self.finish(worker_ctx, exc_info)

    def worker_teardown(self, worker_ctx: WorkerContext) -> None:
        """Close the session."""
        unit = self.units.pop(worker_ctx, None)
        if unit is not None:
            if not unit.finished:
                unit.rollback()
            unit.close()


def finish_units_of_work(worker_ctx: WorkerContext, exc_info: Any) -> Any:
    """Finish every :class:`Database` of the worker's container.

    Entrypoints call this in ``handle_result``, before they answer or ack, so
    that nothing is acknowledged that was not committed.
    """
    for provider in worker_ctx.container.dependencies:
        if isinstance(provider, Database):
            exc_info = provider.finish(worker_ctx, exc_info)
    return exc_info
