"""pytest fixtures that run notify for tests (loaded by the root conftest)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from labornet_shared.testing import Api, free_port, migrate, service_config


@pytest.fixture
def notify_db(fresh_database: Callable[[str], str]) -> str:
    """A migrated notify database of its own."""
    url = fresh_database("notify")
    migrate("notify", url)
    return url


@pytest.fixture
def notify_config(notify_db: str, broker: dict[str, Any]) -> dict[str, Any]:
    """notify's config on this test's database, vhost and a free port."""
    return service_config(
        "notify",
        AMQP_URI=broker["AMQP_URI"],
        DATABASE_URL=notify_db,
        WEB_SERVER_ADDRESS=f"127.0.0.1:{free_port()}",
        OUTBOX_POLL_SECONDS=0.2,
        RATE_LIMIT_ANONYMOUS="10000/minute",
        EVENT_BACKOFF_MS=50,
        WEBHOOK_ALLOW_LOCAL=True,
    )


@pytest.fixture
def start_notify(
    container_factory: Callable[..., Any], notify_config: dict[str, Any]
) -> Callable[..., Api]:
    """Start notify (with overrides); returns an API client for it."""

    def start(**overrides: Any) -> Api:
        from labornet_notify.service import NotifyService

        config = {**notify_config, **overrides}
        container = container_factory(NotifyService, config)
        container.start()
        return Api(f"http://{config['WEB_SERVER_ADDRESS']}")

    return start


@pytest.fixture
def notify_api(start_notify: Callable[..., Api]) -> Iterator[Api]:
    """A running notify and a client for it."""
    api = start_notify()
    with api:
        yield api
