"""Fixtures for notify's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from labornet_notify.models import Base
from labornet_shared.outbox import bind_outbox


@pytest.fixture
def session() -> Iterator[Session]:
    """notify's schema in an in-memory SQLite database (no service)."""
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        bind_outbox(session, Base.metadata)
        yield session
    engine.dispose()
