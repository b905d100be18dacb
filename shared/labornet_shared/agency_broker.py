"""Agencies on the broker: their RabbitMQ users, and referrals nobody took.

Every referral is published to the topic exchange ``labornet.referrals`` with
routing key ``<agency>.<province_code>.<category>``. An agency's system binds
its own queues there; the broker itself, not trust in the agency, keeps each
agency to its own referrals:

* :func:`create_agency_user` gives an agency a RabbitMQ user whose
  permissions let it declare and read only queues named ``agency.<code>.*``
  and bind them only with keys starting ``<code>.``;
* a referral that no queue binds goes to ``labornet.referrals.unrouted`` (the
  exchange's alternate exchange); :func:`list_unrouted` shows what waits
  there and :func:`replay_unrouted` publishes it again once an agency binds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlparse, urlunparse

from labornet_shared.broker import REFERRALS_UNROUTED_QUEUE, Management
from labornet_shared.categories import AGENCIES
from labornet_shared.events import REFERRALS_EXCHANGE
from labornet_shared.unrouted import ReplayResult, body_of, peek, replay


class UnknownAgency(ValueError):
    """Not one of the ministry's agencies."""


def check_agency(code: str) -> str:
    """``code`` if it is one of :data:`AGENCIES`, else :class:`UnknownAgency`."""
    if code not in AGENCIES:
        raise UnknownAgency(
            f"unknown agency {code!r}; one of {' '.join(sorted(AGENCIES))}"
        )
    return code


def agency_username(code: str, vhost: str = "/") -> str:
    """The agency's RabbitMQ user: ``agency-sso`` on the default vhost.

    Users are broker-wide while permissions are per vhost: on another vhost
    (a staging or training platform on the same broker, a test) the name
    carries the vhost, ``agency-sso@staging``, so creating one environment's
    user never replaces another's password.
    """
    check_agency(code)
    return f"agency-{code}" if vhost == "/" else f"agency-{code}@{vhost}"


def agency_permissions(code: str) -> dict[str, str]:
    """The vhost permissions of an agency's user (regexes on resource names).

    RabbitMQ checks, per AMQP operation (one regex covers exchanges *and*
    queues of that name):

    * ``queue.declare`` / ``queue.delete`` — *configure* on the queue;
    * ``queue.bind`` — *write* on the queue, *read* on the exchange, and,
      on a topic exchange with topic permissions, the topic *read* regex
      against the binding key (see :func:`agency_topic_permissions`);
    * ``basic.consume`` / ``basic.get`` — *read* on the queue;
    * ``basic.publish`` — *write* on the exchange.
    """
    own = rf"^agency\.{re.escape(check_agency(code))}\..*"
    return {
        # declare (and delete) only its own queues, ``agency.sso.main``; an
        # exchange of that name is also allowed and can reach only them
        "configure": own,
        # write on the queue is what queue.bind needs; nothing else matches:
        # not labornet.referrals, not the default exchange (amq.default), so
        # an agency can publish nowhere but into its own names
        "write": own,
        # consume its own queues; read on labornet.referrals is what binding
        # to it needs (it reads no message there: exchanges hold none)
        "read": rf"^(agency\.{re.escape(code)}\..*|{re.escape(REFERRALS_EXCHANGE)})$",
    }


def agency_topic_permissions(code: str) -> dict[str, str]:
    """The topic permissions of an agency's user on ``labornet.referrals``.

    With topic permissions set, RabbitMQ checks the *binding key* of every
    queue.bind (and exchange.bind) against ``read``, and the routing key of
    every publish against ``write``. Without them every key is allowed, so
    they must be set before the user may do anything.
    """
    return {
        "exchange": REFERRALS_EXCHANGE,
        # only keys of its own agency: ``sso.#``, ``sso.TH-52.*``; not
        # ``dlpw.#``, ``#`` or ``*.TH-52.*`` (those would take other
        # agencies' referrals)
        "read": rf"^{re.escape(check_agency(code))}\.",
        # matches no routing key: agencies never publish referrals (the
        # vhost write permission refuses it already; this says it twice)
        "write": "^$",
    }


@dataclass(frozen=True)
class AgencyUser:
    """An agency's RabbitMQ user on one vhost."""

    code: str
    username: str
    vhost: str
    replaced: bool  # the user existed: its password and permissions were reset

    def amqp_uri(
        self,
        operator_amqp_uri: str,
        password: str = "PASSWORD",  # noqa: S107 - a placeholder
    ) -> str:
        """The URI the agency connects with: the operator's broker and vhost,
        the agency's user (``PASSWORD`` as a placeholder unless given)."""
        parsed = urlparse(operator_amqp_uri)
        host = parsed.hostname or "localhost"
        if parsed.port:
            host += f":{parsed.port}"
        credentials = f"{quote(self.username, safe='')}:{quote(password, safe='')}"
        return urlunparse(parsed._replace(netloc=f"{credentials}@{host}"))


def create_agency_user(management: Management, code: str, password: str) -> AgencyUser:
    """Create (or reset) agency ``code``'s user on the management's vhost.

    The topic permissions are set before the vhost permissions: a user gets
    into the vhost only with the latter, so there is no moment at which it
    could bind any key it likes.
    """
    username = agency_username(code, management.vhost)
    replaced = management.user(username) is not None
    # no tags: agencies get no management UI or API
    management.put_user(username, password, tags="")
    topic = agency_topic_permissions(code)
    management.set_topic_permissions(
        username, topic["exchange"], write=topic["write"], read=topic["read"]
    )
    management.set_permissions(username, **agency_permissions(code))
    return AgencyUser(code, username, management.vhost, replaced)


def delete_agency_user(management: Management, code: str) -> bool:
    """Delete agency ``code``'s user on the management's vhost (its queues
    and the referrals in them stay); False if there was none."""
    return management.delete_user(agency_username(code, management.vhost))


# --- referrals no agency queue took -------------------------------------------------


@dataclass(frozen=True)
class UnroutedReferral:
    """One message waiting in ``labornet.referrals.unrouted``."""

    position: int
    routing_key: str
    event_id: str | None
    event_type: str | None
    reference: str | None
    referral_id: str | None
    office: str | None
    occurred_at: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


def _describe(position: int, message: Any) -> UnroutedReferral:
    body = body_of(message)
    payload = body.get("payload")
    referral = payload.get("referral") if isinstance(payload, dict) else None
    referral = referral if isinstance(referral, dict) else {}
    return UnroutedReferral(
        position=position,
        # the alternate exchange keeps the key the message was published with
        routing_key=str(message.delivery_info.get("routing_key", "")),
        event_id=body.get("event_id"),
        event_type=body.get("event_type"),
        reference=body.get("correlation_id"),
        referral_id=referral.get("referral_id"),
        office=referral.get("office"),
        occurred_at=body.get("occurred_at"),
    )


def list_unrouted(amqp_uri: str, limit: int = 100) -> list[UnroutedReferral]:
    """Read up to ``limit`` unrouted referrals, oldest first, without
    removing them."""
    return peek(amqp_uri, REFERRALS_UNROUTED_QUEUE, _describe, limit)


def replay_unrouted(amqp_uri: str, referral_id: str | None = None) -> ReplayResult:
    """Publish unrouted referrals again to ``labornet.referrals``.

    Each message goes out with its original routing key and properties,
    persistent; only once the broker confirmed it is it acked (removed) from
    the unrouted queue, so a failure midway loses nothing (at worst a message
    is delivered twice; consumers are idempotent). A message that still no
    queue binds comes back into the unrouted queue by the alternate exchange.
    With ``referral_id`` only the messages of that referral are replayed.
    """

    def target(message: Any) -> tuple[str, str] | None:
        described = _describe(0, message)
        if referral_id is not None and described.referral_id != referral_id:
            return None
        return REFERRALS_EXCHANGE, described.routing_key

    return replay(amqp_uri, REFERRALS_UNROUTED_QUEUE, target)
