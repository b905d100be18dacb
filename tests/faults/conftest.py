"""Fixtures of the fault tests: a view of intake's outbox from outside."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from labornet_intake.models import outbox_messages
from labornet_shared.db import make_engine


class OutboxState:
    """Reads intake's outbox table on its own connection (committed state)."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url, pool_size=2)

    def _count(self, sent: bool) -> int:
        column = outbox_messages.c.sent_at
        condition = column.is_not(None) if sent else column.is_(None)
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(outbox_messages).where(condition)
                ).scalar()
                or 0
            )

    def unsent(self) -> int:
        """Events still waiting for the relay."""
        return self._count(sent=False)

    def sent(self) -> int:
        """Events the relay published, had confirmed and marked sent."""
        return self._count(sent=True)

    def event_ids(self) -> list[str]:
        """Every event id, in the order the relay publishes them."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(outbox_messages.c.event_id).order_by(outbox_messages.c.id)
                ).scalars()
            )

    def body(self, event_id: str) -> str:
        """The stored envelope of one event, as the relay publishes it."""
        with self.engine.connect() as conn:
            return str(
                conn.execute(
                    select(outbox_messages.c.body).where(
                        outbox_messages.c.event_id == event_id
                    )
                ).scalar_one()
            )

    def close(self) -> None:
        """Return the connections."""
        self.engine.dispose()


@pytest.fixture
def intake_outbox(intake_db: str) -> Iterator[OutboxState]:
    """intake's outbox on this test's (migrated) database."""
    state = OutboxState(intake_db)
    try:
        yield state
    finally:
        state.close()
