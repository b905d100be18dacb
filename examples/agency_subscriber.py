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

labornet delivers at least once, so the same event may come twice (a relay
that crashed after publishing publishes again; a message whose ack was lost
with a connection is redelivered). The subscriber remembers the
``event_id``s it handled in a small SQLite file (``--seen-db``, the last
``--remember`` of them) and acknowledges a repeat without handling it again.
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import kombu

EXCHANGE = "labornet.referrals"


class Stop(Exception):
    """The subscriber cannot go on; the message in hand stays in the queue."""


def show_referral(event: dict[str, Any], registry: str) -> None:
    """Print a ``referral_issued`` event (v1 or v2) the way an office reads it.

    The follow-up field agent comes by id: the office reads the agent's work
    contact from registry with its agency token (an audited read).
    """
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
        print(f"   field agent: {agent['agent_id']} ({agent['kind']})")
        print(f"   reach them:  GET {registry}/v1/agents/{agent['agent_id']}/contact")
    else:
        print("   field agent: none")


class SeenEvents:
    """The ids of the events already handled, in a SQLite file, so a repeat
    is recognised after a restart too. Keeps the last ``remember`` ids: a
    repeat comes soon after the original (a relay's retry, a redelivery)."""

    def __init__(self, path: str, remember: int) -> None:
        self.remember = remember
        self.db = sqlite3.connect(path)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS seen_events ("
            " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " event_id TEXT NOT NULL UNIQUE,"
            " handled_at REAL NOT NULL)"
        )
        self.db.commit()

    def __contains__(self, event_id: str) -> bool:
        found = self.db.execute(
            "SELECT 1 FROM seen_events WHERE event_id = ?", (event_id,)
        ).fetchone()
        return found is not None

    def add(self, event_id: str) -> None:
        """Remember ``event_id`` (committed before the message is acked)."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO seen_events (event_id, handled_at) VALUES (?, ?)",
            (event_id, time.time()),
        )
        if cursor.lastrowid and cursor.lastrowid % 1000 == 0:
            self.db.execute(
                "DELETE FROM seen_events WHERE seq <= ?",
                (cursor.lastrowid - self.remember,),
            )
        self.db.commit()

    def close(self) -> None:
        """Close the file."""
        self.db.close()


def accept(api: str, token: str, referral_id: str, tries: int = 3) -> str:
    """POST /v1/referrals/{id}/accept.

    A 409 ``illegal_transition`` means it is no longer pending (accepted
    already, or withdrawn): nothing left to do. A 409 ``referral_changed``
    means something else changed it while we asked (another clerk, its
    deadline's escalation): ask again, now that it is settled.
    """
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
        text = error.read().decode("utf-8", "replace")
        if error.code == 409:
            try:
                problem = json.loads(text)
            except ValueError:
                problem = {}
            if problem.get("code") == "referral_changed" and tries > 1:
                return accept(api, token, referral_id, tries - 1)
            return "already handled"
        raise Stop(f"the API answered {error.code} to accept: {text[:300]}") from error
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
    parser.add_argument(
        "--registry",
        default="http://localhost:8003",
        help="registry's URL: where the follow-up agent's contact is read",
    )
    parser.add_argument("--token", help="an agency token, for --accept")
    parser.add_argument("--accept", action="store_true", help="accept each referral")
    parser.add_argument("--max-messages", type=int, help="stop after this many")
    parser.add_argument(
        "--seen-db",
        help="where the handled event ids are kept (default <queue>.seen.sqlite3)",
    )
    parser.add_argument(
        "--remember",
        type=int,
        default=100_000,
        help="how many handled event ids to keep (default 100000)",
    )
    args = parser.parse_args(argv)
    if args.accept and not args.token:
        parser.error("--accept needs --token")
    if not args.api.startswith(("http://", "https://")):
        parser.error("--api must be an http:// or https:// URL")
    queue_name = args.queue or f"agency.{args.agency}.main"
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    # a service manager's stop (SIGTERM) ends it like Ctrl-C does; so does
    # SIGINT when a shell started it in the background (it is ignored then)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.default_int_handler)

    # labornet declares the exchange; an agency may bind to it, not declare it
    exchange = kombu.Exchange(EXCHANGE, type="topic", no_declare=True)
    queue = kombu.Queue(
        queue_name,
        durable=True,  # survives a broker restart, and so do the referrals in it
        queue_arguments={"x-queue-type": "quorum"},
        bindings=[kombu.binding(exchange, routing_key=key) for key in args.bind],
    )
    handled = 0
    seen = SeenEvents(args.seen_db or f"{queue_name}.seen.sqlite3", args.remember)

    def on_decode_error(message: kombu.Message, error: Exception) -> None:
        # labornet sends JSON only; what is not JSON is nothing to act on
        print(f"skipped a message that is not JSON: {error}", file=sys.stderr)
        message.reject()

    def on_message(event: dict[str, Any], message: kombu.Message) -> None:
        nonlocal handled
        if args.max_messages is not None and handled >= args.max_messages:
            return  # not acked: it stays in the queue for the next start
        event_id = str(event.get("event_id") or "")
        if event_id and event_id in seen:
            # delivered again (at least once): handled already, only ack it
            print(f"── event {event_id} again: handled already, skipped")
            message.ack()
            handled += 1
            return
        kind, version = event.get("event_type"), event.get("schema_version")
        # v1 (the agent's contact inside) may still wait in a queue
        if kind == "referral_issued" and version in (1, 2):
            show_referral(event, args.registry)
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
        if event_id:
            seen.add(event_id)
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
    finally:
        seen.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
