"""The broker's topology, declared once at deploy time, idempotently.

nameko declares a handler's queue only when that service starts, and an event
published while no queue is bound is dropped by RabbitMQ. ``labornet
setup-broker`` therefore declares, before any service runs:

* every service's events exchange (``<service>.events``, as nameko declares it);
* every event handler's queue (:data:`~labornet_shared.subscriptions.
  SUBSCRIPTIONS`, named and declared as nameko and the consumer declare them)
  bound to its source's exchange, so no event is missed before its consumer
  first starts;
* ``labornet.unrouted``: an alternate exchange (set by policy, so nameko's own
  declaration still matches) with a queue that keeps every event no consumer
  queue takes (``labornet unrouted list|replay``); a policy bounds it
  (``max-length``), the oldest overflowing into ``labornet.unrouted.dlq``,
  itself bounded;
* each consuming service's dead-letter queue ``<service>.dlq`` and its retry
  queues, one per delay level (``<service>.retry.5s``);
* a policy per consuming service on its quorum handler queues: a
  ``delivery-limit`` after which RabbitMQ itself dead-letters a message that
  keeps crashing the process;
* ``labornet.referrals``, the topic exchange agencies bind their queues to
  (routing key ``<agency>.<province_code>.<category>``), declared exactly as
  routing's outbox relay declares it, and its own alternate exchange
  ``labornet.referrals.unrouted`` (again by policy) whose queue keeps every
  referral no agency queue took yet, until ``labornet referrals unrouted
  replay`` sends it again;
* on a cluster (more than one node), a policy mirroring labornet's classic
  queues on every node — nameko's RPC queues (``rpc-<service>`` and the
  callers' reply queues) and the consumers' retry queues: a classic queue
  whose node is down refuses every declaration and publish (``NOT_FOUND -
  home node ... is down``), which would stop RPC and retries until that
  node returns. Every other labornet queue is a quorum queue, replicated by
  itself.

``LABORNET_AMQP_URI`` may name several addresses separated by ``;`` (a
cluster's nodes, ``amqp://a:5672/;amqp://b:5672/``): kombu tries them in
turn (:func:`broker_addresses`); ``LABORNET_RABBIT_MANAGEMENT_URL`` may do the
same, and :class:`Management` asks the next when one does not answer.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlparse, urlsplit, urlunsplit

import kombu
import requests
from amqp.exceptions import AccessRefused, NotAllowed
from kombu import Exchange, Queue

from labornet_shared import SERVICES
from labornet_shared.consumer import dead_letter_queue, retry_queues
from labornet_shared.events import REFERRALS_EXCHANGE
from labornet_shared.failures import DEFAULT_RETRY_DELAYS_MS
from labornet_shared.subscriptions import SUBSCRIPTIONS, Subscription

log = logging.getLogger(__name__)

UNROUTED_EXCHANGE = "labornet.unrouted"
UNROUTED_QUEUE = "labornet.unrouted"
# events nobody consumes (notification_failed, for one) must not fill the
# broker: past this many the oldest go to the overflow queue, and past its
# own bound the oldest there are dropped
UNROUTED_MAX_LENGTH = 10_000
UNROUTED_OVERFLOW_QUEUE = "labornet.unrouted.dlq"
UNROUTED_OVERFLOW_MAX_LENGTH = 100_000
DELIVERY_LIMIT = 20
# referrals no agency queue binds wait here, apart from unrouted events, so
# operators replay them on their own once an agency binds
REFERRALS_UNROUTED_EXCHANGE = f"{REFERRALS_EXCHANGE}.unrouted"
REFERRALS_UNROUTED_QUEUE = f"{REFERRALS_EXCHANGE}.unrouted"


class BrokerUnavailable(RuntimeError):
    """RabbitMQ (or its management API) cannot be reached."""


def broker_addresses(uri: str) -> list[str]:
    """The addresses in ``uri``, in order: one, or a cluster's several
    separated by ``;`` (kombu's own failover syntax, which nameko passes on
    untouched)."""
    return [part.strip() for part in uri.split(";") if part.strip()]


def with_vhost(amqp_uri: str, vhost: str) -> str:
    """``amqp_uri`` (every address of it) on ``vhost``."""
    path = "/" + quote(vhost, safe="")
    return ";".join(
        urlunsplit(urlsplit(address)._replace(path=path))
        for address in broker_addresses(amqp_uri)
    )


class BrokerRefused(BrokerUnavailable):
    """RabbitMQ answers but turns the connection away: ``vhost`` does not
    exist or ``user`` may not use it (``reason`` "vhost"), or it refuses the
    user's login (``reason`` "login"). Never holds the password."""

    def __init__(self, message: str, *, reason: str, user: str, vhost: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.user = user
        self.vhost = vhost


@dataclass(frozen=True)
class Management:
    """A client for RabbitMQ's management HTTP API on one vhost.

    On a cluster, ``fallback_urls`` are the other nodes' APIs: a request
    that finds no answer at one (a node stopped) goes to the next; an HTTP
    error is an answer, and is not tried elsewhere.
    """

    base_url: str
    username: str
    password: str
    vhost: str
    fallback_urls: tuple[str, ...] = ()

    @classmethod
    def from_urls(cls, management_url: str, amqp_uri: str) -> Management:
        """Credentials from the (first) management URL, the vhost from the
        (first) AMQP address; several management URLs separated by ``;``
        are tried in turn."""
        urls = broker_addresses(management_url) or ["http://localhost:15672"]
        parsed = urlparse(urls[0])
        amqp = urlparse((broker_addresses(amqp_uri) or [""])[0])
        vhost = unquote(amqp.path[1:]) if amqp.path not in ("", "/") else "/"

        def base(url: str) -> str:
            one = urlparse(url)
            netloc = one.hostname or "localhost"
            if one.port:
                netloc += f":{one.port}"
            return f"{one.scheme}://{netloc}"

        return cls(
            base_url=base(urls[0]),
            username=unquote(parsed.username or amqp.username or "guest"),
            password=unquote(parsed.password or amqp.password or "guest"),
            vhost=vhost,
            fallback_urls=tuple(base(url) for url in urls[1:]),
        )

    def _url(self, path: str) -> str:
        return f"{self.base_url}/api/{path}"

    def request(self, method: str, path: str, **kwargs: object) -> requests.Response:
        """One call to the management API (the next node's when one does
        not answer); raises BrokerUnavailable if none does."""
        tried = (self.base_url, *self.fallback_urls)
        for base_url in tried:
            try:
                response = requests.request(
                    method,
                    f"{base_url}/api/{path}",
                    auth=(self.username, self.password),
                    timeout=10,
                    **kwargs,  # type: ignore[arg-type]
                )
            except requests.RequestException as exc:
                error: Exception = exc
                continue
            response.raise_for_status()
            return response
        raise BrokerUnavailable(
            f"RabbitMQ management API at {', '.join(tried)} unreachable"
        ) from error

    def cluster_size(self) -> int:
        """How many nodes the broker has (1 unless it is a cluster)."""
        return len(self.request("GET", "nodes?columns=name").json()) or 1

    def set_policy(
        self, name: str, definition: dict[str, object], **spec: object
    ) -> None:
        """Create or replace a policy on this vhost."""
        self.request(
            "PUT",
            f"policies/{quote(self.vhost, safe='')}/{quote(name, safe='')}",
            json={"definition": definition, **spec},
        )

    def _path(self, *parts: str) -> str:
        return "/".join(quote(part, safe="") for part in parts)

    def user(self, name: str) -> dict[str, object] | None:
        """A broker user (name, tags), or None if there is none."""
        try:
            return dict(self.request("GET", f"users/{self._path(name)}").json())
        except requests.HTTPError as exc:
            if exc.response is not None and exc.response.status_code == 404:
                return None
            raise

    def put_user(self, name: str, password: str, tags: str = "") -> None:
        """Create a user, or replace its password and tags.

        Users are broker-wide; what they may do is set per vhost.
        """
        self.request(
            "PUT",
            f"users/{self._path(name)}",
            json={"password": password, "tags": tags},
        )

    def delete_user(self, name: str) -> bool:
        """Delete a user; False if there was none."""
        try:
            self.request("DELETE", f"users/{self._path(name)}")
        except requests.HTTPError as exc:
            if exc.response is not None and exc.response.status_code == 404:
                return False
            raise
        return True

    def set_permissions(
        self, user: str, *, configure: str, write: str, read: str
    ) -> None:
        """A user's configure/write/read regexes on this vhost's exchanges
        and queues (they also grant access to the vhost)."""
        self.request(
            "PUT",
            f"permissions/{self._path(self.vhost, user)}",
            json={"configure": configure, "write": write, "read": read},
        )

    def set_topic_permissions(
        self, user: str, exchange: str, *, write: str, read: str
    ) -> None:
        """A user's routing-key regexes on one topic exchange of this vhost:
        ``write`` for what it publishes, ``read`` for what it binds."""
        self.request(
            "PUT",
            f"topic-permissions/{self._path(self.vhost, user)}",
            json={"exchange": exchange, "write": write, "read": read},
        )

    def topic_permissions(self, user: str) -> list[dict[str, object]]:
        """A user's topic permissions on this vhost."""
        try:
            answer = self.request(
                "GET", f"topic-permissions/{self._path(self.vhost, user)}"
            ).json()
        except requests.HTTPError as exc:
            if exc.response is not None and exc.response.status_code == 404:
                return []
            raise
        return [dict(entry) for entry in answer]

    def queue_bindings(self, queue: str) -> list[dict[str, object]]:
        """The bindings of a queue on this vhost (read at once, no stats lag)."""
        answer = self.request(
            "GET", f"queues/{self._path(self.vhost, queue)}/bindings"
        ).json()
        return [dict(entry) for entry in answer]

    def queue(self, name: str) -> dict[str, object]:
        """A queue's state (messages, consumers, effective policy)."""
        return dict(
            self.request(
                "GET", f"queues/{quote(self.vhost, safe='')}/{quote(name, safe='')}"
            ).json()
        )


def check_broker(amqp_uri: str, timeout: float = 3.0) -> str:
    """The broker's version; :class:`BrokerUnavailable` unless RabbitMQ
    accepts a connection."""
    connection = kombu.Connection(amqp_uri, connect_timeout=timeout)
    try:
        # each of a cluster's addresses once (kombu moves to the next)
        retries = max(1, len(connection.alt or []) - 1)
        connection.ensure_connection(max_retries=retries, timeout=timeout)
        properties = connection.connection.server_properties or {}
        return str(properties.get("version", "unknown"))
    except (NotAllowed, AccessRefused) as exc:
        # it answered: a wrong vhost or login is no "unreachable" broker
        user, vhost = str(connection.userid), str(connection.virtual_host)
        reason = "vhost" if isinstance(exc, NotAllowed) else "login"
        raise BrokerRefused(
            f"RabbitMQ refused user {user!r} on vhost {vhost!r}: {exc}",
            reason=reason,
            user=user,
            vhost=vhost,
        ) from exc
    except Exception as exc:
        raise BrokerUnavailable(f"cannot connect to RabbitMQ: {exc}") from exc
    finally:
        connection.release()


def events_exchange(service: str) -> Exchange:
    """A service's events exchange, exactly as nameko declares it."""
    return Exchange(f"{service}.events", type="topic", durable=True, auto_delete=False)


def handler_queue(subscription: Subscription) -> Queue:
    """An event handler's queue and binding, exactly as the consumer
    declares them (quorum; the rest of its arguments come by policy)."""
    return Queue(
        subscription.queue,
        exchange=events_exchange(subscription.source),
        routing_key=subscription.event_type,
        durable=True,
        auto_delete=False,
        exclusive=False,
        queue_arguments={"x-queue-type": "quorum"},
    )


def declare_topology(
    amqp_uri: str,
    management_url: str,
    services: tuple[str, ...] = SERVICES,
    retry_delays_ms: tuple[int, ...] = DEFAULT_RETRY_DELAYS_MS,
    *,
    consumer_queues: bool = True,
    unrouted_max_length: int = UNROUTED_MAX_LENGTH,
) -> list[str]:
    """Declare exchanges, queues and policies; safe to run any number of times.

    ``consumer_queues=False`` leaves the handlers' queues (and retry queues)
    to the services, as nameko declares them when they start: for tests that
    start one service and want no queue of the others filling up.
    Returns what was declared, for the operator to read.
    """
    declared = _declare_exchanges_and_queues(
        amqp_uri, services, retry_delays_ms, consumer_queues
    )
    management = Management.from_urls(management_url, amqp_uri)
    names = "|".join(services)
    declared += _set_unrouted_policies(management, names, unrouted_max_length)
    declared += _set_handler_policies(management, services)
    declared += _set_referrals_unrouted_policy(management)
    declared += _set_cluster_mirroring_policy(management, names)
    declared += _declare_referrals_exchange(amqp_uri)
    return declared


def _declare_exchanges_and_queues(
    amqp_uri: str,
    services: tuple[str, ...],
    retry_delays_ms: tuple[int, ...],
    consumer_queues: bool,
) -> list[str]:
    """Declare every exchange and queue but the referrals exchange, on one
    connection."""
    declared: list[str] = []
    connection = kombu.Connection(amqp_uri, connect_timeout=5)
    try:
        channel = connection.channel()
        declared += _declare_unrouted(channel)
        declared += _declare_referrals_unrouted(channel)
        declared += _declare_service_exchanges(channel, services)
        if consumer_queues:
            declared += _declare_handler_queues(channel, services)
            declared += _declare_retry_queues(channel, services, retry_delays_ms)
    except Exception as exc:
        raise BrokerUnavailable(f"cannot declare topology: {exc}") from exc
    finally:
        connection.release()
    return declared


def _declare_unrouted(channel: Any) -> list[str]:
    """Declare the events' unrouted exchange, its queue and its overflow queue."""
    unrouted = Exchange(UNROUTED_EXCHANGE, type="fanout", durable=True)
    unrouted(channel).declare()
    Queue(
        UNROUTED_QUEUE,
        exchange=unrouted,
        durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )(channel).declare()
    Queue(
        UNROUTED_OVERFLOW_QUEUE,
        exchange=None,
        routing_key=UNROUTED_OVERFLOW_QUEUE,
        durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )(channel).declare()
    return [
        f"exchange {UNROUTED_EXCHANGE}",
        f"queue {UNROUTED_QUEUE}",
        f"queue {UNROUTED_OVERFLOW_QUEUE}",
    ]


def _declare_referrals_unrouted(channel: Any) -> list[str]:
    """Declare the referrals' unrouted exchange and its queue."""
    referrals_unrouted = Exchange(
        REFERRALS_UNROUTED_EXCHANGE, type="fanout", durable=True
    )
    referrals_unrouted(channel).declare()
    Queue(
        REFERRALS_UNROUTED_QUEUE,
        exchange=referrals_unrouted,
        durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )(channel).declare()
    return [
        f"exchange {REFERRALS_UNROUTED_EXCHANGE}",
        f"queue {REFERRALS_UNROUTED_QUEUE}",
    ]


def _declare_service_exchanges(channel: Any, services: tuple[str, ...]) -> list[str]:
    """Declare each service's events exchange and dead-letter queue."""
    declared: list[str] = []
    for service in services:
        events_exchange(service)(channel).declare()
        dead_letter_queue(service)(channel).declare()
        declared += [f"exchange {service}.events", f"queue {service}.dlq"]
    return declared


def _declare_handler_queues(channel: Any, services: tuple[str, ...]) -> list[str]:
    """Declare the event handlers' queues of ``services``, with their bindings."""
    declared: list[str] = []
    for subscription in SUBSCRIPTIONS:
        if subscription.service not in services:
            continue
        events_exchange(subscription.source)(channel).declare()
        handler_queue(subscription)(channel).declare()
        declared.append(
            f"queue {subscription.queue} "
            f"<- {subscription.exchange} {subscription.event_type}"
        )
    return declared


def _declare_retry_queues(
    channel: Any, services: tuple[str, ...], retry_delays_ms: tuple[int, ...]
) -> list[str]:
    """Declare the retry queues of each of ``services`` that handles events."""
    declared: list[str] = []
    consumers = {s.service for s in SUBSCRIPTIONS}
    for service in sorted(consumers & set(services)):
        for queue in retry_queues(service, retry_delays_ms):
            queue(channel).declare()
            declared.append(f"queue {queue.name}")
    return declared


def _set_unrouted_policies(
    management: Management, names: str, unrouted_max_length: int
) -> list[str]:
    """Set the events' alternate exchange and the unrouted queues' bounds."""
    declared: list[str] = []
    management.set_policy(
        "labornet-events-unrouted",
        {"alternate-exchange": UNROUTED_EXCHANGE},
        pattern=rf"^({names})\.events$",
        **{"apply-to": "exchanges", "priority": 0},
    )
    declared.append("policy labornet-events-unrouted")
    # a bound by policy, not by queue arguments: a queue declared before
    # with other arguments would refuse the declaration (PRECONDITION_FAILED)
    management.set_policy(
        "labornet-unrouted-bound",
        {
            "max-length": unrouted_max_length,
            "overflow": "drop-head",
            "dead-letter-exchange": "",
            "dead-letter-routing-key": UNROUTED_OVERFLOW_QUEUE,
        },
        pattern=rf"^{re.escape(UNROUTED_QUEUE)}$",
        **{"apply-to": "queues", "priority": 0},
    )
    management.set_policy(
        "labornet-unrouted-overflow-bound",
        {"max-length": UNROUTED_OVERFLOW_MAX_LENGTH, "overflow": "drop-head"},
        pattern=rf"^{re.escape(UNROUTED_OVERFLOW_QUEUE)}$",
        **{"apply-to": "queues", "priority": 0},
    )
    declared += [
        "policy labornet-unrouted-bound",
        "policy labornet-unrouted-overflow-bound",
    ]
    return declared


def _set_handler_policies(
    management: Management, services: tuple[str, ...]
) -> list[str]:
    """Set each service's handler queues' delivery limit and dead-letter queue."""
    declared: list[str] = []
    for service in services:
        management.set_policy(
            f"labornet-{service}-handlers",
            {
                "delivery-limit": DELIVERY_LIMIT,
                "dead-letter-exchange": "",
                "dead-letter-routing-key": f"{service}.dlq",
            },
            pattern=rf"^evt-.+--{service}\.[^.]+$",
            **{"apply-to": "queues", "priority": 0},
        )
        declared.append(f"policy labornet-{service}-handlers")
    return declared


def _set_referrals_unrouted_policy(management: Management) -> list[str]:
    """Set the referrals exchange's alternate exchange."""
    management.set_policy(
        "labornet-referrals-unrouted",
        {"alternate-exchange": REFERRALS_UNROUTED_EXCHANGE},
        pattern=rf"^{re.escape(REFERRALS_EXCHANGE)}$",
        **{"apply-to": "exchanges", "priority": 0},
    )
    return ["policy labornet-referrals-unrouted"]


def _set_cluster_mirroring_policy(management: Management, names: str) -> list[str]:
    """Mirror the classic queues across the nodes, on a cluster only."""
    if management.cluster_size() > 1:
        # nameko's RPC queues and the retry queues are classic (a reply queue
        # cannot be a quorum queue: it is auto-delete; turning a deployed
        # queue into a quorum queue would need it deleted): mirrored, another
        # node takes over a stopped node's. Only on a cluster, as RabbitMQ 4
        # refuses ha-* keys (there the retry queues would move to quorum).
        management.set_policy(
            "labornet-classic-mirrored",
            {"ha-mode": "all", "ha-sync-mode": "automatic"},
            pattern=rf"^(rpc[.-]|({names})\.retry\.)",
            **{"apply-to": "queues", "priority": 0},
        )
        return ["policy labornet-classic-mirrored"]
    return []


def _declare_referrals_exchange(amqp_uri: str) -> list[str]:
    """Declare the referrals exchange, once its policy is in place."""
    # only once its policy is in place: routing's relay cannot publish a
    # referral before the exchange exists (NOT_FOUND; it keeps it and
    # retries), so no referral ever meets it without its alternate exchange
    connection = kombu.Connection(amqp_uri, connect_timeout=5)
    try:
        # exactly as routing's outbox relay would declare it (no arguments):
        # the alternate exchange comes from the policy, so they never disagree
        Exchange(REFERRALS_EXCHANGE, type="topic", durable=True, auto_delete=False)(
            connection.channel()
        ).declare()
    except Exception as exc:
        raise BrokerUnavailable(f"cannot declare topology: {exc}") from exc
    finally:
        connection.release()
    return [f"exchange {REFERRALS_EXCHANGE}"]
