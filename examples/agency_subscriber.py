#!/usr/bin/env python3
"""An agency's subscriber to labornet's referrals: bind, print, accept.

Needs only kombu (``pip install kombu``) and the credentials an operator gives
you (see README.md in this folder)::

    python agency_subscriber.py \\
        --amqp-uri 'amqp://agency-sso:PASSWORD@localhost:5672/' \\
        --agency sso --bind 'sso.#' --queue agency.sso.main \\
        --api http://localhost:8002 --token "$TOKEN" --accept

Each referral is printed, accepted through routing's agency API (with
``--accept``), and only then acknowledged: if this program stops halfway,
the referral is delivered again on the next start, never lost.
"""

from __future__ import annotations

import argparse
import signal
import sys
import urllib.error
import urllib.request
from typing import Any

import kombu

EXCHANGE = "labornet.referrals"


class Stop(Exception):
    """The subscriber cannot go on; the message in hand stays in the queue."""


def show_referral(event: dict[str, Any]) -> None:
    """Print a ``referral_issued`` event the way an office reads it."""
    payload = event["payload"]
    referral = payload["referral"]
    scores = {label["category"]: label for label in payload["labels"]}
    location = payload["location"]
    place = " / ".join(
        code
        for code in (
            location["province_code"],
            location.get("district_code"),
            location.get("subdistrict_code"),
        )
        if code
    )
    print(f"── referral {referral['referral_id']} — case {payload['reference']}")
    print(f"   office:      {referral['office']}  (status {referral['status']})")
    for category in referral["categories"]:
        label = scores.get(category)
        if label:
            evidence = ", ".join(label["evidence"]) or "-"
            print(f"   category:    {category}  {label['score']:.2f}  ({evidence})")
        else:
            print(f"   category:    {category}")
    if payload["needs_review"]:
        print("   screening:   uncertain, please check the categories")
    print(f"   description: {payload['description']}")
    abroad = payload["abroad_country"]
    print(
        f"   location:    {place}  ({location['lat']:.4f}, {location['long']:.4f})"
        + (f"  abroad: {abroad}" if abroad else "")
    )
    print(f"   accept by:   {referral['due_accept_at']}")
    print(f"   resolve by:  {referral['due_resolve_at']}")
    agent = payload["follow_up_agent"]
    if agent:
        contacts = ", ".join(
            contact for contact in (agent["phone"], agent["line_user_id"]) if contact
        )
        print(
            f"   field agent: {agent['name_th']} ({agent['kind']}) {contacts}".rstrip()
        )
    else:
        print("   field agent: none")


def accept(api: str, token: str, referral_id: str) -> str:
    """POST /v1/referrals/{id}/accept; a 409 means it is no longer pending
    (accepted already, or withdrawn): nothing left to do either way."""
    request = urllib.request.Request(  # noqa: S310 - http(s) checked in main
        f"{api.rstrip('/')}/v1/referrals/{referral_id}/accept",
        data=b"{}",
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30):  # noqa: S310
            return "accepted"
    except urllib.error.HTTPError as error:
        if error.code == 409:
            return "already handled"
        problem = error.read().decode("utf-8", "replace")[:300]
        raise Stop(f"the API answered {error.code} to accept: {problem}") from error
    except OSError as error:
        raise Stop(f"the API at {api} is not reachable: {error}") from error


def main(argv: list[str] | None = None) -> int:
    """Run the subscriber until Ctrl-C (or ``--max-messages``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amqp-uri", required=True)
    parser.add_argument("--agency", required=True, help="your agency's code: sso")
    parser.add_argument(
        "--bind",
        action="append",
        required=True,
        help="a binding key, repeatable: 'sso.#', 'sso.TH-52.*'",
    )
    parser.add_argument("--queue", help="default agency.<agency>.main")
    parser.add_argument("--api", default="http://localhost:8002")
    parser.add_argument("--token", help="an agency token, for --accept")
    parser.add_argument("--accept", action="store_true", help="accept each referral")
    parser.add_argument("--max-messages", type=int, help="stop after this many")
    args = parser.parse_args(argv)
    if args.accept and not args.token:
        parser.error("--accept needs --token")
    if not args.api.startswith(("http://", "https://")):
        parser.error("--api must be an http:// or https:// URL")
    queue_name = args.queue or f"agency.{args.agency}.main"
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    # a service manager's stop (SIGTERM) ends it like Ctrl-C does
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    # labornet declares the exchange; an agency may bind to it, not declare it
    exchange = kombu.Exchange(EXCHANGE, type="topic", no_declare=True)
    queue = kombu.Queue(
        queue_name,
        durable=True,  # survives a broker restart, and so do the referrals in it
        queue_arguments={"x-queue-type": "quorum"},
        bindings=[kombu.binding(exchange, routing_key=key) for key in args.bind],
    )
    handled = 0

    def on_decode_error(message: kombu.Message, error: Exception) -> None:
        # labornet sends JSON only; what is not JSON is nothing to act on
        print(f"skipped a message that is not JSON: {error}", file=sys.stderr)
        message.reject()

    def on_message(event: dict[str, Any], message: kombu.Message) -> None:
        nonlocal handled
        if args.max_messages is not None and handled >= args.max_messages:
            return  # not acked: it stays in the queue for the next start
        kind, version = event.get("event_type"), event.get("schema_version")
        if kind == "referral_issued" and version == 1:
            show_referral(event)
            if args.accept:
                referral_id = event["payload"]["referral"]["referral_id"]
                outcome = accept(args.api, args.token, referral_id)
                print(f"   → {outcome}")
        elif kind == "referral_status_changed" and version == 1:
            change = event["payload"]
            print(
                f"── referral {change['referral']['referral_id']} — case "
                f"{change['reference']}: {change['previous_status']} → "
                f"{change['referral']['status']} ({change['changed_by']})"
            )
        else:
            print(f"── {kind} v{version}: a version this reader does not know")
        message.ack()  # only now: what was not handled is delivered again
        handled += 1

    try:
        with (
            kombu.Connection(args.amqp_uri, connect_timeout=10) as connection,
            kombu.Consumer(
                connection,
                queues=[queue],
                callbacks=[on_message],
                accept=["json"],
                on_decode_error=on_decode_error,
                prefetch_count=10,
            ),
        ):
            print(
                f"listening on {queue_name} ({', '.join(args.bind)}); Ctrl-C stops",
                file=sys.stderr,
            )
            while args.max_messages is None or handled < args.max_messages:
                try:
                    connection.drain_events(timeout=1)
                except TimeoutError:
                    continue
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    except Stop as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        # ACCESS_REFUSED (a key or queue not yours), a wrong password, no
        # broker: RabbitMQ's own words say which
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
