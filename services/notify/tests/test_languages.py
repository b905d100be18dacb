"""The language a citizen is written to in: the one they chose; else the
one their description is written in — intake's reading, then, for the
notices planned after routing's ``case_routed``, screening's. An old
``case_received`` (v1) names a chosen language.

Through notify's own event handlers on its database (the path the broker's
messages take), and the sender's rule against intake's contact answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from nameko.testing.services import entrypoint_hook
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from labornet_notify.domain import deliveries
from labornet_notify.models import Delivery, NotifyCase
from labornet_notify.service import NotifyService
from labornet_shared.db import normalise_url
from labornet_shared.events import Event, make_event
from labornet_testkit.events import case_received_event, case_routed, referral_ref


@pytest.fixture
def handle(container_factory, notify_config) -> Iterator[Any]:
    """Hand events to a running notify's handlers, as its queues do."""
    container = container_factory(NotifyService, notify_config)
    container.start()

    def deliver(*events: Event) -> None:
        for event in events:
            with entrypoint_hook(container, f"on_{event.event_type}") as handler:
                handler(event)

    yield deliver


@pytest.fixture
def notify_session(notify_config) -> Iterator[Session]:
    engine = create_engine(normalise_url(notify_config["DATABASE_URL"]))
    with Session(engine) as session:
        yield session
    engine.dispose()


def routed(reference: str, screened: str | None) -> Event:
    """routing's ``case_routed`` (v2) saying which language it read."""
    event = case_routed(reference, [referral_ref()])
    payload = {**event.payload}
    payload["screening"] = {**payload["screening"], "language": screened}
    return make_event("case_routed", payload, reference)


def citizen_languages(session: Session, reference: str) -> dict[str, str]:
    """message → the language the citizen's notice was planned in."""
    session.expire_all()
    return {
        row.message: row.language
        for row in session.scalars(
            select(Delivery).where(
                Delivery.case_reference == reference,
                Delivery.recipient_kind == "citizen",
            )
        )
    }


def test_a_citizen_who_chose_none_hears_in_the_language_they_wrote_in(
    handle, notify_session
) -> None:
    received = case_received_event(
        description="အလုပ်ရှင်က လစာ နှစ်လ မပေးသေးပါ",
        language="my",
        language_chosen=False,
    )
    reference = received.payload["reference"]
    handle(received, routed(reference, "my"))
    assert citizen_languages(notify_session, reference) == {
        "case_received": "my",
        "case_referred": "my",
    }


def test_the_screened_language_wins_for_the_notices_planned_after_it(
    handle, notify_session
) -> None:
    """Should screening ever read another language than intake did, the
    receipt keeps intake's and what follows the routing is in screening's."""
    received = case_received_event(language="th", language_chosen=False)
    reference = received.payload["reference"]
    handle(received, routed(reference, "my"))
    assert citizen_languages(notify_session, reference) == {
        "case_received": "th",
        "case_referred": "my",
    }
    case = notify_session.get(NotifyCase, reference)
    assert case is not None
    assert (case.language, case.language_chosen, case.screened_language) == (
        "th",
        False,
        "my",
    )


@pytest.mark.parametrize(
    ("received", "screened"),
    [
        # the citizen chose English and wrote in Thai
        (case_received_event(language="en", language_chosen=True), "th"),
        # a v1 event, queued before intake said whether it was chosen
        (None, "my"),
        # a case screened before screening read languages
        (case_received_event(language="en", language_chosen=False), None),
    ],
    ids=["chosen", "v1-reads-as-chosen", "nothing-screened"],
)
def test_a_chosen_language_stands_and_nothing_screened_changes_nothing(
    handle, notify_session, received, screened
) -> None:
    if received is None:
        v2 = case_received_event(language="en")
        payload = {k: v for k, v in v2.payload.items() if k != "language_chosen"}
        received = make_event(
            "case_received", payload, payload["reference"], schema_version=1
        )
    reference = received.payload["reference"]
    handle(received, routed(reference, screened))
    assert citizen_languages(notify_session, reference) == {
        "case_received": "en",
        "case_referred": "en",
    }


def test_the_sender_takes_a_chosen_language_from_intake_else_the_planned_one():
    """At send time intake's contact answers: a chosen language is the
    citizen's; an unchosen one yields to the language the notice was planned
    in (intake's reading, or screening's once routed); an intake that does
    not say is read as chosen."""
    chose = {"language": "en", "language_chosen": True}
    read = {"language": "th", "language_chosen": False}
    older_intake = {"language": "en"}
    assert deliveries.sending_language(chose, "th") == "en"
    assert deliveries.sending_language(read, "my") == "my"
    assert deliveries.sending_language(read, "th") == "th"
    assert deliveries.sending_language(older_intake, "th") == "en"
