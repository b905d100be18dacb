"""The broker's topology, declared once at deploy time, idempotently.

nameko declares a handler's queue only when that service starts, and an event
published while no queue is bound is dropped by RabbitMQ. ``labornet
setup-broker`` therefore declares, before any service runs:

* every service's events exchange (``<service>.events``, as nameko declares it);
* ``labornet.unrouted``: an alternate exchange (set by policy, so nameko's own
  declaration still matches) with a queue that keeps every event no consumer
  queue took yet;
* each consuming service's dead-letter queue ``<service>.dlq``;
* a policy per consuming service on its quorum handler queues: a
  ``delivery-limit`` after which RabbitMQ itself dead-letters a message that
  keeps crashing the process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlparse

import kombu
import requests
from kombu import Exchange, Queue

from labornet_shared import SERVICES
from labornet_shared.consumer import dead_letter_queue

log = logging.getLogger(__name__)

UNROUTED_EXCHANGE = "labornet.unrouted"
UNROUTED_QUEUE = "labornet.unrouted"
DELIVERY_LIMIT = 20


class BrokerUnavailable(RuntimeError):
    """RabbitMQ (or its management API) cannot be reached."""


@dataclass(frozen=True)
class Management:
    """A client for RabbitMQ's management HTTP API on one vhost."""

    base_url: str
    username: str
    password: str
    vhost: str

    @classmethod
    def from_urls(cls, management_url: str, amqp_uri: str) -> Management:
        """Credentials from the management URL, the vhost from the AMQP URI."""
        parsed = urlparse(management_url)
        amqp = urlparse(amqp_uri)
        vhost = unquote(amqp.path[1:]) if amqp.path not in ("", "/") else "/"
        netloc = parsed.hostname or "localhost"
        if parsed.port:
            netloc += f":{parsed.port}"
        return cls(
            base_url=f"{parsed.scheme}://{netloc}",
            username=unquote(parsed.username or amqp.username or "guest"),
            password=unquote(parsed.password or amqp.password or "guest"),
            vhost=vhost,
        )

    def _url(self, path: str) -> str:
        return f"{self.base_url}/api/{path}"

    def request(self, method: str, path: str, **kwargs: object) -> requests.Response:
        """One call to the management API; raises BrokerUnavailable if down."""
        try:
            response = requests.request(
                method,
                self._url(path),
                auth=(self.username, self.password),
                timeout=10,
                **kwargs,  # type: ignore[arg-type]
            )
        except requests.RequestException as exc:
            raise BrokerUnavailable(
                f"RabbitMQ management API at {self.base_url} unreachable"
            ) from exc
        response.raise_for_status()
        return response

    def set_policy(
        self, name: str, definition: dict[str, object], **spec: object
    ) -> None:
        """Create or replace a policy on this vhost."""
        self.request(
            "PUT",
            f"policies/{quote(self.vhost, safe='')}/{quote(name, safe='')}",
            json={"definition": definition, **spec},
        )

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
        connection.ensure_connection(max_retries=1, timeout=timeout)
        properties = connection.connection.server_properties or {}
        return str(properties.get("version", "unknown"))
    except Exception as exc:
        raise BrokerUnavailable(f"cannot connect to RabbitMQ: {exc}") from exc
    finally:
        connection.release()


def declare_topology(
    amqp_uri: str, management_url: str, services: tuple[str, ...] = SERVICES
) -> list[str]:
    """Declare exchanges, queues and policies; safe to run any number of times.

    Returns what was declared, for the operator to read.
    """
    declared: list[str] = []
    connection = kombu.Connection(amqp_uri, connect_timeout=5)
    try:
        channel = connection.channel()
        unrouted = Exchange(UNROUTED_EXCHANGE, type="fanout", durable=True)
        unrouted(channel).declare()
        Queue(
            UNROUTED_QUEUE,
            exchange=unrouted,
            durable=True,
            queue_arguments={"x-queue-type": "quorum"},
        )(channel).declare()
        declared += [f"exchange {UNROUTED_EXCHANGE}", f"queue {UNROUTED_QUEUE}"]
        for service in services:
            # exactly nameko's declaration of the events exchange
            Exchange(
                f"{service}.events", type="topic", durable=True, auto_delete=False
            )(channel).declare()
            dead_letter_queue(service)(channel).declare()
            declared += [f"exchange {service}.events", f"queue {service}.dlq"]
    except Exception as exc:
        raise BrokerUnavailable(f"cannot declare topology: {exc}") from exc
    finally:
        connection.release()

    management = Management.from_urls(management_url, amqp_uri)
    names = "|".join(services)
    management.set_policy(
        "labornet-events-unrouted",
        {"alternate-exchange": UNROUTED_EXCHANGE},
        pattern=rf"^({names})\.events$",
        **{"apply-to": "exchanges", "priority": 0},
    )
    declared.append("policy labornet-events-unrouted")
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
