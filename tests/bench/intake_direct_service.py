"""intake with the naive dual write instead of its outbox — for the bench only.

The same service, the same validation and the same rows, but each event is
published by the request itself, with publisher confirms, through nameko's
own publisher (what ``EventDispatcher`` does), and the relay is off. Beside
intake it isolates what the outbox costs or saves; ``baseline_service`` is the
issue's minimal dual write.

Run as ``nameko run intake_direct_service:IntakeDirectService``.
"""

from __future__ import annotations

from typing import Any

from nameko.amqp.publish import Publisher
from nameko.extensions import DependencyProvider

from labornet_intake.domain import submission
from labornet_intake.service import IntakeService
from labornet_shared.events import Event

_publisher: Publisher | None = None


class DirectDispatch(DependencyProvider):
    """Builds the process's confirming publisher from config."""

    def setup(self) -> None:
        global _publisher
        _publisher = Publisher(
            self.container.config["AMQP_URI"],
            use_confirms=True,
            serializer="json",
            delivery_mode=2,
        )


def publish_now(_session: Any, service: str, event: Event, **_: Any) -> None:
    """The dual write: publish inside the request, wait for the confirm."""
    assert _publisher is not None
    _publisher.publish(
        event.to_body(), exchange=f"{service}.events", routing_key=event.event_type
    )


submission.add_event = publish_now  # type: ignore[assignment]


class IntakeDirectService(IntakeService):
    """intake, dispatching directly."""

    name = "intake"
    direct = DirectDispatch()
