"""labornet's ``rpc`` replies only after the worker's unit of work committed.

nameko's own ``@rpc`` replies first and commits afterwards (dependencies see
``worker_result`` after the reply left): a caller acting on the reply at once
may not find the change, and a commit that fails is never reported. A commit
that takes a while (a busy disk, a synchronous replica) makes the difference
certain rather than a matter of luck, so the service here commits slowly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import eventlet
import pytest
from nameko.exceptions import RemoteError
from nameko.rpc import rpc as nameko_rpc
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.utils import get_extension
from sqlalchemy import String, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from labornet_shared.db import Database, make_engine
from labornet_shared.rpc import CommittingRpc, rpc
from labornet_testkit.harness import wait_until


class Base(DeclarativeBase):
    """The NoteKeeper's tables."""


class Note(Base):
    """A note; the session writes it when the unit of work commits."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    text: Mapped[str] = mapped_column(String(100))


metadata = Base.metadata
notes = Note.__table__

COMMIT_SECONDS = 0.5


class SlowCommitDatabase(Database):
    """A database whose commit takes a moment, as a loaded one does."""

    def finish(self, worker_ctx: Any, exc_info: Any) -> Any:
        """Wait, then commit or roll back."""
        eventlet.sleep(COMMIT_SECONDS)
        return super().finish(worker_ctx, exc_info)


class InvalidNote(ValueError):
    """The caller's fault: a note nobody may write."""


class NoteKeeper:
    """Writes notes through labornet's rpc and through nameko's."""

    name = "note_keeper"
    db = SlowCommitDatabase(metadata)

    @rpc(expected_exceptions=InvalidNote, sensitive_arguments=("text",))
    def write(self, note_id: int, text: str) -> int:
        """Store a note; a forbidden one is refused after it was written."""
        self.db.session.add(Note(id=note_id, text=text))
        if text == "forbidden":
            raise InvalidNote("refused")
        return note_id

    @nameko_rpc
    def write_plain(self, note_id: int, text: str) -> int:
        """The same with nameko's rpc: the reply leaves before the commit."""
        self.db.session.add(Note(id=note_id, text=text))
        return note_id


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """The notes database, read over a connection of the test's own."""
    engine = make_engine(db_url, pool_size=2)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def config(engine: Engine, db_url: str, rabbit_config: dict[str, Any]) -> Any:
    """The NoteKeeper's config: the test's vhost and database."""
    return {**rabbit_config, "DATABASE_URL": db_url}


@pytest.fixture
def container(config: dict[str, Any], container_factory: Any) -> Any:
    """A running NoteKeeper."""
    container = container_factory(NoteKeeper, config)
    container.start()
    return container


@pytest.fixture
def note_keeper(container: Any, config: dict[str, Any]) -> Iterator[Any]:
    """A caller of the running NoteKeeper."""
    with ServiceRpcProxy("note_keeper", config) as proxy:
        yield proxy


def stored(engine: Engine) -> dict[int, str]:
    """Every note committed so far."""
    with engine.connect() as conn:
        return {row.id: row.text for row in conn.execute(select(notes))}


def test_the_change_is_committed_when_the_reply_arrives(note_keeper, engine):
    for note_id in range(1, 4):
        assert note_keeper.write(note_id, f"note {note_id}") == note_id
        # read the moment the reply is here, from another connection
        assert stored(engine).get(note_id) == f"note {note_id}"


def test_nameko_rpc_replies_before_its_commit(note_keeper, engine):
    """Why labornet's rpc exists: with nameko's, the reply overtakes the
    commit."""
    assert note_keeper.write_plain(1, "early") == 1
    assert 1 not in stored(engine)
    wait_until(lambda: 1 in stored(engine))


def test_a_failing_rpc_rolls_back_and_the_caller_gets_its_error(note_keeper, engine):
    with pytest.raises(RemoteError) as raised:
        note_keeper.write(1, "forbidden")
    assert raised.value.exc_type == "InvalidNote"
    assert stored(engine) == {}
    # the service goes on serving
    assert note_keeper.write(2, "allowed") == 2
    assert stored(engine) == {2: "allowed"}


def test_a_commit_that_fails_is_the_callers_error(note_keeper, engine):
    with engine.begin() as conn:
        conn.execute(insert(notes).values(id=7, text="already there"))
    # the duplicate key is found only when the unit of work commits
    with pytest.raises(RemoteError) as raised:
        note_keeper.write(7, "second")
    assert raised.value.exc_type == "IntegrityError"
    assert stored(engine) == {7: "already there"}


def test_nameko_rpc_reports_success_when_its_commit_fails(note_keeper, engine):
    """The other half of why: nameko's reply says "stored" for a change that
    its commit then lost."""
    with engine.begin() as conn:
        conn.execute(insert(notes).values(id=7, text="already there"))
    assert note_keeper.write_plain(7, "second") == 7
    assert stored(engine) == {7: "already there"}


def test_nameko_options_are_kept(container):
    entrypoint = get_extension(container, CommittingRpc)
    assert entrypoint.method_name == "write"
    assert entrypoint.expected_exceptions is InvalidNote
    assert entrypoint.sensitive_arguments == ("text",)
