"""The broker's holding queues, for operators: ``labornet dlq``
(messages a consumer gave up on), ``labornet unrouted`` (events no consumer
queue took) and ``labornet referrals unrouted`` (referrals no agency queue
took yet). Each lists what waits, and replays it once the cause is fixed."""

from __future__ import annotations

import json

import typer

from labornet_shared.ops.console import on_broker, show_replay, show_waiting
from labornet_shared.ops.installation import amqp_uri

dlq_app = typer.Typer(help="dead-letter queues", no_args_is_help=True)
referrals_app = typer.Typer(
    help="referrals on labornet.referrals", no_args_is_help=True
)
referrals_unrouted_app = typer.Typer(
    help="referrals no agency queue took yet", no_args_is_help=True
)
unrouted_app = typer.Typer(
    help="events no consumer queue took (labornet.unrouted)", no_args_is_help=True
)
referrals_app.add_typer(referrals_unrouted_app, name="unrouted")


@dlq_app.command("list")
def dlq_list(
    service: str, limit: int = 100, as_json: bool = typer.Option(False, "--json")
) -> None:
    """Show the messages parked in SERVICE's dead-letter queue."""
    from labornet_shared.dlq import list_dead_letters

    with on_broker(f"{service}.dlq"):
        letters = list_dead_letters(amqp_uri(), service, limit)
    if as_json:
        typer.echo(json.dumps([letter.as_dict() for letter in letters], indent=2))
        return
    if not letters:
        typer.echo(f"{service}.dlq is empty")
    for letter in letters:
        typer.echo(
            f"{letter.position:>4}  {letter.event_type or '?':<22} "
            f"{letter.event_id or '?'}"
            f"  {letter.correlation_id or '-'}  attempts={letter.attempts}"
            f"  failure={letter.kind or '-'}  queue={letter.queue}"
            f"\n      {letter.error}"
            + (f"\n      gave up: {letter.reason}" if letter.reason else "")
        )


@dlq_app.command("replay")
def dlq_replay(
    service: str, event_id: str | None = typer.Option(None, "--event-id")
) -> None:
    """Send parked messages back to the queues they failed in."""
    from labornet_shared.dlq import replay_dead_letters

    with on_broker(f"{service}.dlq"):
        count = replay_dead_letters(amqp_uri(), service, event_id)
    typer.echo(f"replayed {count} message(s) from {service}.dlq")


@dlq_app.command("purge")
def dlq_purge(
    service: str, yes: bool = typer.Option(False, "--yes", help="no prompt")
) -> None:
    """Delete every parked message of SERVICE."""
    from labornet_shared.dlq import purge_dead_letters

    if not yes:
        typer.confirm(f"Delete every message in {service}.dlq?", abort=True)
    with on_broker(f"{service}.dlq"):
        count = purge_dead_letters(amqp_uri(), service)
    typer.echo(f"purged {count} message(s) from {service}.dlq")


@referrals_unrouted_app.command("list")
def unrouted_list(
    limit: int = typer.Option(100, help="at most this many, oldest first"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show the referrals waiting in labornet.referrals.unrouted."""
    from labornet_shared.agency_broker import list_unrouted
    from labornet_shared.broker import REFERRALS_UNROUTED_QUEUE

    with on_broker(REFERRALS_UNROUTED_QUEUE):
        waiting = list_unrouted(amqp_uri(), limit)
    show_waiting(
        REFERRALS_UNROUTED_QUEUE,
        waiting,
        as_json,
        lambda referral: (
            f"{referral.position:>4}  {referral.routing_key:<44} "
            f"{referral.event_type or '?':<24} {referral.reference or '-'}"
            f"  referral={referral.referral_id or '?'}"
            f"  at={referral.occurred_at or '?'}"
        ),
    )


@referrals_unrouted_app.command("replay")
def unrouted_replay(
    referral_id: str | None = typer.Option(
        None, "--referral-id", help="only this referral's messages"
    ),
) -> None:
    """Publish the waiting referrals again, once an agency has bound its queue.

    Those that still no queue binds come back to the unrouted queue.
    """
    from labornet_shared.agency_broker import replay_unrouted
    from labornet_shared.broker import REFERRALS_UNROUTED_QUEUE
    from labornet_shared.events import REFERRALS_EXCHANGE

    with on_broker(REFERRALS_UNROUTED_QUEUE):
        result = replay_unrouted(amqp_uri(), referral_id)
    show_replay(REFERRALS_UNROUTED_QUEUE, result, f"message(s) to {REFERRALS_EXCHANGE}")


@unrouted_app.command("list")
def events_unrouted_list(
    limit: int = typer.Option(100, help="at most this many, oldest first"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show the events waiting in labornet.unrouted (no consumer queue took
    them; the oldest overflow into labornet.unrouted.dlq)."""
    from labornet_shared.broker import UNROUTED_QUEUE
    from labornet_shared.unrouted import list_unrouted_events

    with on_broker(UNROUTED_QUEUE):
        waiting = list_unrouted_events(amqp_uri(), limit)
    show_waiting(
        UNROUTED_QUEUE,
        waiting,
        as_json,
        lambda event: (
            f"{event.position:>4}  {event.exchange or '?'}  {event.routing_key:<26} "
            f"{event.event_id or '?'}  {event.reference or '-'}"
            f"  at={event.occurred_at or '?'}"
        ),
    )


@unrouted_app.command("replay")
def events_unrouted_replay(
    event_id: str | None = typer.Option(None, "--event-id", help="only this event"),
) -> None:
    """Publish each waiting event once more to its own exchange and routing
    key (after a consumer's queue was bound); those that still no queue
    takes come back."""
    from labornet_shared.broker import UNROUTED_QUEUE
    from labornet_shared.unrouted import replay_unrouted_events

    with on_broker(UNROUTED_QUEUE):
        result = replay_unrouted_events(amqp_uri(), event_id)
    show_replay(UNROUTED_QUEUE, result, "event(s)")
