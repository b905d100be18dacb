"""pytest fixtures that run intake for tests (loaded by the root conftest),
and factories of routing's events as routing's outbox publishes them, of
feedback links as notify sends them, and intake's RPC as notify calls it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import kombu
import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, text

from labornet_shared.db import normalise_url
from labornet_shared.events import Event, make_event
from labornet_shared.tokens import issue_feedback_token, issue_token
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


def referral_ref(
    agency: str = "dlpw",
    province_code: str = "TH-52",
    *,
    status: str = "pending",
    categories: Sequence[str] = ("unpaid_wages",),
    office: str | None = None,
    referral_id: str | None = None,
    due_resolve_at: datetime | None = None,
) -> dict[str, Any]:
    """A referral as routing's events name it (``ReferralRefSchema``)."""
    now = datetime.now(UTC)
    return {
        "referral_id": referral_id or str(uuid.uuid4()),
        "agency": agency,
        "province_code": province_code,
        "office": office or f"{agency}.{province_code}",
        "categories": list(categories),
        "status": status,
        "due_accept_at": (now + timedelta(days=2)).isoformat(),
        "due_resolve_at": (due_resolve_at or now + timedelta(days=15)).isoformat(),
        "agent_id": None,
    }


def with_status(ref: dict[str, Any], status: str) -> dict[str, Any]:
    """The same referral in another status."""
    return {**ref, "status": status}


def case_routed(
    reference: str, referrals: Sequence[dict[str, Any]], at: datetime | None = None
) -> Event:
    """``case_routed``: the case referred to ``referrals`` at ``at``."""
    return make_event(
        "case_routed",
        {
            "reference": reference,
            "screening": {
                "method": "lexicon",
                "needs_review": False,
                "labels": [
                    {"category": category, "score": 0.9, "evidence": ["ค่าจ้าง"]}
                    for ref in referrals
                    for category in ref["categories"]
                ],
            },
            "referrals": list(referrals),
            "routed_at": (at or datetime.now(UTC)).isoformat(),
        },
        correlation_id=reference,
    )


def referral_status_changed(
    reference: str,
    ref: dict[str, Any],
    status: str,
    *,
    previous_status: str = "pending",
    note: str | None = None,
    outcome: str | None = None,
    at: datetime | None = None,
) -> Event:
    """``referral_status_changed``: ``ref`` moved to ``status`` at ``at``."""
    return make_event(
        "referral_status_changed",
        {
            "referral": with_status(ref, status),
            "reference": reference,
            "previous_status": previous_status,
            "note": note,
            "outcome": outcome,
            "changed_by": ref["office"],
            "changed_at": (at or datetime.now(UTC)).isoformat(),
        },
        correlation_id=reference,
    )


def referral_overdue(
    reference: str,
    ref: dict[str, Any],
    escalated_to: dict[str, Any],
    at: datetime | None = None,
) -> Event:
    """``referral_overdue``: ``ref`` missed its resolve deadline; escalated."""
    return make_event(
        "referral_overdue",
        {
            "referral": ref,
            "reference": reference,
            "clock": "resolve",
            "due_at": ref["due_resolve_at"],
            "escalated_to": escalated_to,
            "detected_at": (at or datetime.now(UTC)).isoformat(),
        },
        correlation_id=reference,
    )


def case_closed(
    reference: str,
    referrals: Sequence[dict[str, Any]],
    outcomes: dict[str, str | None] | None = None,
    at: datetime | None = None,
) -> Event:
    """``case_closed``: ``referrals`` (resolved or withdrawn) finish the case."""
    return make_event(
        "case_closed",
        {
            "reference": reference,
            "referrals": list(referrals),
            "outcomes": outcomes
            if outcomes is not None
            else {ref["referral_id"]: "resolved" for ref in referrals},
            "closed_at": (at or datetime.now(UTC)).isoformat(),
        },
        correlation_id=reference,
    )


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


def closing_events(reference: str, agency: str = "dlpw") -> list[Event]:
    """routing's events of a case referred to one office that resolved it:
    routed, accepted, resolved, closed (a minute apart, in order)."""
    now = datetime.now(UTC)
    ref = referral_ref(agency)
    resolved = with_status(ref, "resolved")
    return [
        case_routed(reference, [ref], at=now + timedelta(minutes=1)),
        referral_status_changed(
            reference, ref, "accepted", at=now + timedelta(minutes=2)
        ),
        referral_status_changed(
            reference,
            ref,
            "resolved",
            previous_status="accepted",
            outcome="resolved",
            at=now + timedelta(minutes=3),
        ),
        case_closed(reference, [resolved], at=now + timedelta(minutes=4)),
    ]


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
