"""pytest fixtures that run notify for tests (loaded by the root conftest)."""

from __future__ import annotations

from labornet_testkit.harness import service_fixtures

notify_db, notify_config, start_notify, notify_api = service_fixtures(
    "notify", "labornet_notify.service:NotifyService", WEBHOOK_ALLOW_LOCAL=True
)
