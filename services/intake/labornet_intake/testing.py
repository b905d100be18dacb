"""pytest fixtures that run intake for tests (loaded by the root conftest)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from labornet_shared.testing import Api, free_port, migrate, service_config


@pytest.fixture
def intake_db(db_url: str) -> str:
    """A migrated intake database."""
    migrate("intake", db_url)
    return db_url


@pytest.fixture
def intake_config(intake_db: str, broker: dict[str, Any]) -> dict[str, Any]:
    """intake's config on this test's database, vhost and a free port."""
    return service_config(
        "intake",
        AMQP_URI=broker["AMQP_URI"],
        DATABASE_URL=intake_db,
        WEB_SERVER_ADDRESS=f"127.0.0.1:{free_port()}",
        OUTBOX_POLL_SECONDS=0.2,
        RATE_LIMIT_ANONYMOUS="10000/minute",
        EVENT_BACKOFF_MS=50,
    )


@pytest.fixture
def start_intake(
    container_factory: Callable[..., Any], intake_config: dict[str, Any]
) -> Callable[..., Api]:
    """Start intake (with overrides); returns an API client for it."""

    def start(**overrides: Any) -> Api:
        from labornet_intake.service import IntakeService

        config = {**intake_config, **overrides}
        container = container_factory(IntakeService, config)
        container.start()
        return Api(f"http://{config['WEB_SERVER_ADDRESS']}")

    return start


@pytest.fixture
def intake_api(start_intake: Callable[..., Api]) -> Iterator[Api]:
    """A running intake and a client for it."""
    api = start_intake()
    with api:
        yield api
