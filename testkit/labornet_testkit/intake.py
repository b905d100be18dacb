"""pytest fixtures that run intake for tests (loaded by the root conftest):
routing's events published as routing's outbox publishes them (the events
themselves are made by :mod:`labornet_testkit.events`, re-exported here),
feedback links as notify sends them, and intake's RPC as notify calls it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import kombu
import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, text

from labornet_shared.db import normalise_url
from labornet_shared.events import Event
from labornet_shared.tokens import issue_feedback_token, issue_token
from labornet_testkit.events import case_closed as case_closed
from labornet_testkit.events import case_routed as case_routed
from labornet_testkit.events import closing_events as closing_events
from labornet_testkit.events import referral_overdue as referral_overdue
from labornet_testkit.events import referral_ref as referral_ref
from labornet_testkit.events import referral_status_changed as referral_status_changed
from labornet_testkit.events import with_status as with_status
from labornet_testkit.harness import service_fixtures

intake_db, intake_config, start_intake, intake_api = service_fixtures(
    "intake", "labornet_intake.service:IntakeService", own_database=False
)


@pytest.fixture
def intake_bearer(intake_config: dict[str, Any]) -> Callable[..., dict[str, str]]:
    """Authorization headers signed with this intake's TOKEN_SECRET:
    ``intake_bearer("agency", agency="sso", province="TH-52")``."""
    secret = intake_config["TOKEN_SECRET"]

    def make(scope: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(secret, scope, **claims)}"}

    return make


@pytest.fixture
def intake_sql(intake_db: str) -> Iterator[Callable[..., list[Any]]]:
    """Run a read-only SQL statement on intake's database."""
    engine = create_engine(normalise_url(intake_db))

    def run(statement: str, **params: Any) -> list[Any]:
        with engine.connect() as conn:
            return list(conn.execute(text(statement), params))

    yield run
    engine.dispose()


# --- routing's events ------------------------------------------------------------

ROUTING_EVENTS_EXCHANGE = "routing.events"


def publish_routing_event(
    amqp_uri: str, body: Event | dict[str, Any], routing_key: str | None = None
) -> None:
    """Publish as routing's outbox relay does: persistent JSON on
    ``routing.events``, routing key = the event type."""
    if isinstance(body, Event):
        routing_key = routing_key or body.event_type
        body = body.to_body()
    with kombu.Connection(amqp_uri) as connection:
        connection.Producer().publish(
            body,
            exchange=ROUTING_EVENTS_EXCHANGE,
            routing_key=routing_key or str(body["event_type"]),
            serializer="json",
            delivery_mode=2,
        )


@pytest.fixture
def publish_routing(broker: dict[str, Any]) -> Callable[..., None]:
    """Publish routing events (:class:`Event` or a raw envelope) to this
    test's vhost."""

    def publish(*bodies: Event | dict[str, Any]) -> None:
        for body in bodies:
            publish_routing_event(broker["AMQP_URI"], body)

    return publish


@pytest.fixture
def feedback_link(intake_config: dict[str, Any]) -> Callable[..., str]:
    """The token of a feedback link as notify mints it when a case closes,
    signed with this intake's TOKEN_SECRET: ``feedback_link(reference)``,
    ``feedback_link(reference, ttl=timedelta(minutes=-1))`` (expired)."""
    secret = intake_config["TOKEN_SECRET"]

    def make(reference: str, ttl: timedelta = timedelta(days=30)) -> str:
        return issue_feedback_token(secret, reference, ttl)

    return make


@pytest.fixture
def intake_rpc(intake_api: Any, intake_config: dict[str, Any]) -> Iterator[Any]:
    """intake's RPC as notify calls it: nameko's ClusterRpcProxy on this
    test's vhost, to the running intake (``intake_rpc.contact_for_notification
    (reference, purpose)``)."""
    config = {
        "AMQP_URI": intake_config["AMQP_URI"],
        "serializer": intake_config.get("serializer", "json"),
    }
    with ClusterRpcProxy(config, timeout=30) as cluster:
        yield cluster.intake


def followed_status(api: Any, created: dict[str, Any]) -> str:
    """A case's status as its citizen follows it with the tracking code."""
    response = api.get(
        f"/v1/cases/{created['reference']}",
        headers={"X-Tracking-Code": created["tracking_code"]},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


@pytest.fixture
def closed_case(intake_api: Any, publish_routing: Any) -> Callable[[], dict[str, Any]]:
    """Make cases that routing's events closed: ``closed_case()`` submits
    one to the running intake and waits until it is closed; its answer
    (``reference``, ``tracking_code``) and the ``body`` sent."""
    from labornet_testkit.citizen_pages import submit
    from labornet_testkit.harness import wait_until

    def make() -> dict[str, Any]:
        created = submit(intake_api)
        publish_routing(*closing_events(created["reference"]))
        wait_until(lambda: followed_status(intake_api, created) == "closed")
        return created

    return make
