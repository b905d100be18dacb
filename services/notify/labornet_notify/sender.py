"""The sender: takes due deliveries and sends them, one attempt at a time.

A nameko extension that runs beside the service's entrypoints (like the
outbox relay): every ``DELIVERY_POLL_SECONDS`` it recovers rows whose sender
died, claims due rows (committed before anything is sent), and sends each in
its own green thread through the channel's provider, at the provider's rate.
A citizen's address comes from intake over RPC at send time (an audited
read); only its masked form is stored.

An attempt has two halves. Before the provider is called (the contact from
intake, the message, the broker, the database) any failure is retried:
nothing left. Once it is called, a message without a clear answer may have
left: on SMS and e-mail it is recorded ``interrupted`` and not repeated.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
from datetime import datetime, timedelta
from typing import Any

import eventlet
import eventlet.queue
import kombu
import kombu.exceptions
from eventlet.greenpool import GreenPool
from nameko.amqp.publish import UndeliverableMessage
from nameko.exceptions import RpcTimeout, UnknownService
from nameko.extensions import DependencyProvider
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy.orm import Session, sessionmaker

from labornet_notify import domain, metrics, rendering
from labornet_notify.channels import (
    Channel,
    ConsoleChannel,
    LineChannel,
    Message,
    RateLimiter,
    SendResult,
    SmtpChannel,
    ThaiBulkSmsChannel,
    WebhookChannel,
    console_channels,
    mask_recipient,
)
from labornet_notify.domain import announcements, audience, deliveries
from labornet_notify.models import AgentContact, Delivery, WebhookSubscription
from labornet_shared.config import flag
from labornet_shared.contact import ContactClient
from labornet_shared.db import Database
from labornet_shared.events import parse_event
from labornet_shared.outbox import bind_outbox

log = logging.getLogger("labornet.notify.sender")

#: what asking intake for a contact raises when intake is away or slow (the
#: broker's own connection errors are added from the connection: see
#: :func:`broker_errors`)
RPC_TROUBLE: tuple[type[BaseException], ...] = (
    UnknownService,
    RpcTimeout,
    UndeliverableMessage,
)


def broker_errors(amqp_uri: str) -> tuple[type[BaseException], ...]:
    """What a dropped broker connection raises: the transport's
    ``connection_errors`` and ``recoverable_connection_errors`` and kombu's
    ``OperationalError``, which kombu raises in their place (no I/O here)."""
    connection = kombu.Connection(amqp_uri)
    return tuple(
        dict.fromkeys(
            (
                *connection.connection_errors,
                *connection.recoverable_connection_errors,
                kombu.exceptions.OperationalError,
            )
        )
    )


def build_channels(config: dict[str, Any]) -> dict[str, Channel]:
    """The channels whose providers the config names (others are absent:
    a delivery on them fails over to the recipient's next channel) — or,
    with ``CONSOLE_CHANNEL`` on, the console in their place
    (:mod:`labornet_notify.channels.console`)."""
    channels: dict[str, Channel] = {}
    if config.get("SMS_API_KEY"):
        channels["sms"] = ThaiBulkSmsChannel(
            api_key=str(config["SMS_API_KEY"]),
            api_secret=str(config.get("SMS_API_SECRET", "")),
            sender=str(config.get("SMS_SENDER", "MOL")),
            base_url=str(config.get("SMS_BASE_URL", "https://api-v2.thaibulksms.com")),
            timeout=float(config.get("SMS_TIMEOUT_SECONDS", 10)),
        )
    if config.get("LINE_ACCESS_TOKEN"):
        channels["line"] = LineChannel(
            access_token=str(config["LINE_ACCESS_TOKEN"]),
            base_url=str(config.get("LINE_BASE_URL", "https://api.line.me")),
        )
    if config.get("SMTP_HOST"):
        channels["email"] = SmtpChannel(
            host=str(config["SMTP_HOST"]),
            port=int(config.get("SMTP_PORT", 587)),
            sender=str(config.get("SMTP_SENDER", "labornet@mol.go.th")),
            username=config.get("SMTP_USERNAME") or None,
            password=config.get("SMTP_PASSWORD") or None,
            starttls=flag(config.get("SMTP_STARTTLS", True)),
        )
    channels["webhook"] = WebhookChannel(
        timeout=float(config.get("WEBHOOK_TIMEOUT_SECONDS", 10)),
        allow_insecure_local=flag(config.get("WEBHOOK_ALLOW_LOCAL", False)),
    )
    if flag(config.get("CONSOLE_CHANNEL", False)):
        return console_channels(channels, int(config.get("CONSOLE_KEEP", 500)))
    return channels


#: the links in the messages, unless config says otherwise: ``<reference>``,
#: ``<language>`` (the message's, so the page opens in the language its
#: reader reads) and the signed ``<token>`` of the feedback link (the
#: citizen's, single-use) and of the case link (one field agent's: the
#: recipient's id, 14 days) are filled in
FOLLOW_URL = "https://labornet.mol.go.th/t/<reference>?lang=<language>"
CASE_URL = "https://labornet.mol.go.th/a/<reference>?t=<token>&lang=<language>"
FEEDBACK_URL = "https://labornet.mol.go.th/f/<reference>?t=<token>&lang=<language>"


def fill_link(url: str, **values: str) -> str:
    """``url`` with its ``<name>`` placeholders replaced by ``values``; a
    URL without them stays as it is."""
    for name, value in values.items():
        url = url.replace(f"<{name}>", value)
    return url


def _written_in(message: str, channel: str, language: str) -> str:
    """The language ``message`` is written in on ``channel`` (Thai when
    ``language`` has no template): its links open their pages in it."""
    if rendering.available(message, channel, language):
        return language
    return rendering.FALLBACK_LANGUAGE


class Undeliverable(Exception):
    """Nothing can be sent to this recipient (a recorded skip, not a failure)."""


class DeliverySender(DependencyProvider):
    """Sends due deliveries in the background of a notify container."""

    def __init__(self, database_attr: str = "db") -> None:
        self.database_attr = database_attr
        self._thread: Any = None
        self._running = False
        self.rng = random.Random()

    def setup(self) -> None:
        """Read the settings; build the channels and their rate limits."""
        config = self.container.config
        self.config = config
        self.poll = float(config.get("DELIVERY_POLL_SECONDS", 0.5))
        self.lease = timedelta(seconds=float(config.get("DELIVERY_LEASE_SECONDS", 60)))
        self.window = timedelta(hours=float(config.get("DELIVERY_RETRY_HOURS", 24)))
        self.backoff_base = float(config.get("DELIVERY_BACKOFF_SECONDS", 5))
        self.backoff_cap = float(config.get("DELIVERY_BACKOFF_CAP_SECONDS", 3600))
        self.channels = build_channels(config)
        self.limits = {
            "sms": RateLimiter(float(config.get("SMS_RATE_PER_SECOND", 20)), burst=20),
            "line": RateLimiter(
                float(config.get("LINE_RATE_PER_SECOND", 50)), burst=50
            ),
            "email": RateLimiter(float(config.get("SMTP_RATE_PER_SECOND", 10)), 10),
            "webhook": RateLimiter(100.0, burst=100),
        }
        self.pool = GreenPool(int(config.get("DELIVERY_CONCURRENCY", 10)))
        self._proxies: Any = eventlet.queue.LightQueue()
        self.follow_url = str(config.get("FOLLOW_URL", FOLLOW_URL))
        self.case_url = str(config.get("CASE_URL", CASE_URL))
        self.feedback_url = str(config.get("FEEDBACK_URL", FEEDBACK_URL))
        self.token_secret = str(config.get("TOKEN_SECRET", ""))
        self.rotation = timedelta(hours=float(config.get("WEBHOOK_ROTATION_HOURS", 24)))
        self.rpc_timeout = float(config.get("CONTACT_RPC_TIMEOUT_SECONDS", 10))
        self.contact_errors = (*RPC_TROUBLE, *broker_errors(config["AMQP_URI"]))
        # claimed rows whose attempt failed before their provider was called
        # and could not be put back then (the database was away): put back
        # with the next claim, before their lease could call them interrupted
        self.unsent: set[str] = set()
        # rows this process is attempting now: its own lease recovery leaves
        # them alone however long the attempt takes (another instance's
        # waits for the lease)
        self.in_flight: set[str] = set()
        self.quiet_hours = deliveries.parse_quiet_hours(
            config.get("SMS_QUIET_HOURS", "21:00-08:00")
        )

    def start(self) -> None:
        """Begin sending once the container runs."""
        database = next(
            d for d in self.container.dependencies if isinstance(d, Database)
        )
        assert database.engine is not None
        self.sessions = sessionmaker(bind=database.engine, expire_on_commit=False)
        self.metadata = database.metadata
        for channel in self.channels.values():
            if isinstance(channel, ConsoleChannel):
                channel.log.bind(database.engine)
        self._running = True
        self._thread = self.container.spawn_managed_thread(self._run)

    def stop(self) -> None:
        """Stop claiming; let the sends in flight finish."""
        self._running = False
        self.pool.waitall()
        while not self._proxies.empty():
            proxy, _client = self._proxies.get_nowait()
            proxy.stop()

    def kill(self) -> None:
        """Stop at once (a claimed row's lease runs out; see recover)."""
        self._running = False

    def get_dependency(self, worker_ctx: Any) -> DeliverySender:
        """This sender (the API's retry wakes it)."""
        return self

    # --- the loop ----------------------------------------------------------

    def _session(self) -> Session:
        return bind_outbox(self.sessions(), self.metadata)

    def _run(self) -> None:
        while self._running:
            claimed: list[str] = []
            try:
                self.plan_announcements()
                claimed = self.claim()
                for delivery_id in claimed:
                    self.pool.spawn_n(self.send_one, delivery_id)
            except Exception:
                log.exception("delivery loop failed; retrying")
            # a burst: claim again as soon as a sender is free; else rest
            eventlet.sleep(0 if claimed else self.poll)

    def plan_announcements(self, batches: int = 1) -> None:
        """Plan the announcements being planned, ``batches`` batches each
        at most (each its own transaction): the loop sends between them, so
        a large announcement never holds the loop nor one transaction."""
        with self._session() as session:
            pending = announcements.being_planned(session)
        for announcement_id in pending:
            for _ in range(batches):
                with self._session() as session, session.begin():
                    more = announcements.plan_batch(
                        session, announcement_id, retry_window=self.window
                    )
                eventlet.sleep(0)
                if not more:
                    break

    def claim(self) -> list[str]:
        """Recover interrupted rows and claim due ones (committed)."""
        free = self.pool.free()
        if free <= 0:
            eventlet.sleep(0.005)  # every sender busy: wait for one
            return []
        unsent = set(self.unsent)
        with self._session() as session, session.begin():
            deliveries.release_unsent(session, unsent)
            deliveries.recover_interrupted(session, busy=self.in_flight)
            claimed = deliveries.claim_due(session, free, self.lease)
        self.unsent -= unsent
        self.in_flight.update(claimed)
        return claimed

    def send_one(self, delivery_id: str) -> None:
        """One attempt of one claimed delivery, recorded whatever happens."""
        called = [False]  # whether the provider was called
        try:
            # committed twice: the mark before the provider call, the outcome
            # (an exception leaves the open part rolled back)
            with self._session() as session:
                delivery = session.get(Delivery, delivery_id)
                if delivery is None or delivery.status != "sending":
                    return
                self._attempt(session, delivery, called)
                session.commit()
        except Exception as exc:
            self._not_recorded(delivery_id, exc, called[0])
        finally:
            self.in_flight.discard(delivery_id)

    def _not_recorded(self, delivery_id: str, exc: Exception, called: bool) -> None:
        if called:
            # the message may have left: the lease runs out and
            # recover_interrupted decides
            log.error(
                "delivery %s could not be recorded (%s)",
                delivery_id,
                type(exc).__name__,
            )
            return
        # nothing left: it is put back once the database answers
        self.unsent.add(delivery_id)
        metrics.NOT_SENT.labels("record").inc()
        log.warning(
            "delivery %s not sent (%s); tried again later",
            delivery_id,
            type(exc).__name__,
        )

    def _attempt(
        self, session: Session, delivery: Delivery, called: list[bool]
    ) -> None:
        try:
            prepared = self._prepare(session, delivery)
        except Undeliverable as exc:
            deliveries.skip(session, delivery, str(exc))
            return
        except Exception as exc:
            # before the provider call nothing left: whatever failed (intake,
            # the broker, a template), the delivery is simply tried later
            stage = "contact" if isinstance(exc, self.contact_errors) else "prepare"
            metrics.NOT_SENT.labels(stage).inc()
            if stage == "prepare":
                log.exception("delivery %s could not be prepared", delivery.id)
            else:
                log.warning(
                    "delivery %s: contact unavailable (%s); tried again later",
                    delivery.id,
                    type(exc).__name__,
                )
            deliveries.retry_later(
                session,
                delivery,
                after=deliveries.backoff(
                    delivery.attempts, self.backoff_base, self.backoff_cap, self.rng
                ),
                response=f"not sent: {stage} failed ({type(exc).__name__})",
            )
            return
        if prepared is None:
            return
        channel, channel_name, message, masked, fallback = prepared
        self.limits[channel_name].acquire()
        # from here the message may leave: if this process dies, the lease's
        # recovery must know the provider was called (and on which channel)
        if not deliveries.mark_calling(session, delivery.id, channel_name):
            return
        session.commit()
        called[0] = True
        result: SendResult = channel.send(message)
        self._record(session, delivery, result, channel_name, masked, fallback)

    def _prepare(
        self, session: Session, delivery: Delivery
    ) -> tuple[Channel, str, Message, str, list[str]] | None:
        """The channel and the message of this attempt; None when the
        attempt ends here (recorded: quiet hours, no such channel)."""
        event = (
            announcements.as_event(delivery.event)
            if delivery.event_type == announcements.MESSAGE
            else parse_event(delivery.event)
        )
        channel_name, address, facts, language = self._address(session, delivery, event)
        if (
            channel_name == "sms"
            and not delivery.urgent
            and (
                resume := deliveries.quiet_until(deliveries.utc_now(), self.quiet_hours)
            )
            is not None
        ):
            # no SMS at night: it waits for the morning, without costing a try
            wait = (resume - deliveries.utc_now()).total_seconds()
            deliveries.retry_later(
                session,
                delivery,
                after=wait,
                response="quiet hours",
                count_attempt=False,
            )
            self._show_held(session, delivery, event, address, facts, language, resume)
            return None
        channel = self.channels.get(channel_name)
        fallback = self._fallback(session, delivery, channel_name)
        if channel is None:
            deliveries.fail(
                session, delivery, "channel_not_configured", fallback=fallback
            )
            return None
        message = self._message(
            session, delivery, event, channel_name, address, facts, language
        )
        return (
            channel,
            channel_name,
            message,
            mask_recipient(channel_name, address),
            fallback,
        )

    def _show_held(
        self,
        session: Session,
        delivery: Delivery,
        event: Any,
        address: str,
        facts: dict[str, Any],
        language: str,
        until: datetime,
    ) -> None:
        """On the console, an SMS that quiet hours hold: the text as it will
        leave, and when (a real gateway is told nothing until then)."""
        console = self.channels.get("sms")
        if not isinstance(console, ConsoleChannel):
            return
        try:
            message = self._message(
                session, delivery, event, "sms", address, facts, language
            )
        except Exception as exc:
            # its send in the morning fails the same way, and says so then
            log.warning(
                "delivery %s held; not shown on the console (%s)",
                delivery.id,
                type(exc).__name__,
            )
            return
        console.hold(message, until, session.connection())

    def _record(
        self,
        session: Session,
        delivery: Delivery,
        result: SendResult,
        channel_name: str,
        masked: str,
        fallback: list[str],
    ) -> None:
        """What the provider's answer makes of the delivery."""
        if result.accepted:
            deliveries.sent(
                session,
                delivery,
                channel=channel_name,
                address_masked=masked,
                provider_message_id=result.provider_message_id,
                response=result.provider_response,
            )
            if delivery.recipient_kind == audience.AGENCY_WEBHOOKS:
                domain.webhook_succeeded(session, delivery.recipient_id)
            return
        if delivery.recipient_kind == audience.AGENCY_WEBHOOKS:
            domain.webhook_failed(session, delivery.recipient_id)
        if (
            result.maybe_delivered
            and channel_name not in deliveries.IDEMPOTENT_CHANNELS
        ):
            # it may have left (no answer in time): a provider without an
            # idempotency key would show a repeat, so none is sent
            deliveries.interrupt(
                session,
                delivery,
                "no_answer",
                response=result.provider_response,
                channel=channel_name,
                address_masked=masked,
            )
            return
        if result.retry:
            after = result.retry_after or deliveries.backoff(
                delivery.attempts, self.backoff_base, self.backoff_cap, self.rng
            )
            deliveries.retry_later(
                session,
                delivery,
                after=after,
                response=result.provider_response,
                address_masked=masked,
                fallback=fallback,
            )
            return
        deliveries.fail(
            session,
            delivery,
            result.permanent_error or "refused",
            response=result.provider_response,
            fallback=fallback,
        )

    # --- addresses, facts, messages -----------------------------------------

    def _address(
        self, session: Session, delivery: Delivery, event: Any
    ) -> tuple[str, str, dict[str, Any], str]:
        """(channel, address, facts, language) of this attempt."""
        kind = delivery.recipient_kind
        reference = delivery.case_reference
        if kind == audience.CITIZEN:
            contact = self._contact(
                reference or "", f"{delivery.message} {delivery.channel}"
            )
            channel = delivery.channel
            if channel == deliveries.CITIZENS_CHOICE:
                channel = contact.get("contact_channel") or "none"
            address = {
                "sms": contact.get("phone"),
                "line": contact.get("line_user_id"),
                "email": contact.get("email"),
            }.get(channel)
            if not address:
                raise Undeliverable(f"no {channel} contact")
            language = deliveries.sending_language(contact, delivery.language)
            written = _written_in(delivery.message, channel, language)
            facts: dict[str, Any] = {
                "follow_url": fill_link(
                    self.follow_url, reference=reference or "", language=written
                ),
            }
            if contact.get("tracking_code"):
                facts["tracking_code"] = contact["tracking_code"]
            if delivery.message == "case_closed_rate_us":
                facts["feedback_url"] = self._feedback_url(reference or "", written)
            return channel, str(address), facts, language
        if kind == audience.AGENCY_WEBHOOKS:
            subscription = session.get(WebhookSubscription, delivery.recipient_id)
            if subscription is None:
                raise Undeliverable("subscription removed")
            if subscription.status == "paused":
                raise Undeliverable("subscription paused")
            return "webhook", subscription.url, {}, "th"
        agent = session.get(AgentContact, delivery.recipient_id)
        if agent is None or agent.status != "active":
            raise Undeliverable("agent not active")
        address = {
            "sms": agent.phone,
            "line": agent.line_user_id,
            "email": agent.email,
        }.get(delivery.channel)
        if not address:
            raise Undeliverable(f"no {delivery.channel} contact")
        facts = {
            "recipient_name": agent.name_th,
            "case_url": self._case_url(
                reference or "",
                agent.id,
                _written_in(delivery.message, delivery.channel, delivery.language),
            ),
        }
        return delivery.channel, address, facts, delivery.language

    def _contact(self, reference: str, purpose: str) -> dict[str, Any]:
        """The citizen's contact from intake (an audited read).

        Through a pool of standing RPC proxies: opening a connection and a
        reply queue per message would cost more than sending it. One proxy
        serves one call at a time.
        """
        try:
            proxy, client = self._proxies.get_nowait()
        except eventlet.queue.Empty:
            proxy = ClusterRpcProxy(self.config, timeout=self.rpc_timeout)
            try:
                client = ContactClient(proxy.start())
            except BaseException:
                with contextlib.suppress(Exception):
                    proxy.stop()
                raise
        try:
            contact = client.contact_for(reference, purpose)
        except BaseException:
            proxy.stop()  # a failed proxy is not reused
            raise
        self._proxies.put((proxy, client))
        if contact is None:
            raise Undeliverable("unknown case")
        if contact.get("erased"):
            raise Undeliverable("personal data erased")
        if not contact.get("consent"):
            raise Undeliverable("no consent to contact")
        return dict(contact)

    def _feedback_url(self, reference: str, language: str) -> str:
        from labornet_shared.tokens import issue_feedback_token

        token = issue_feedback_token(self.token_secret, reference, timedelta(days=30))
        return fill_link(
            self.feedback_url, reference=reference, token=token, language=language
        )

    def _case_url(self, reference: str, agent_id: str, language: str) -> str:
        """The case link for one field agent: its token lets that agent,
        and no one else, open the case on intake's page for 14 days."""
        from labornet_shared.tokens import CASE_LINK_TTL, issue_case_link_token

        token = ""
        if "<token>" in self.case_url and reference:
            token = issue_case_link_token(
                self.token_secret, reference, agent_id, CASE_LINK_TTL
            )
        return fill_link(
            self.case_url, reference=reference, token=token, language=language
        )

    def _fallback(self, session: Session, delivery: Delivery, used: str) -> list[str]:
        """The recipient's channels after ``used`` that have an address."""
        order = list(
            announcements.CHANNELS
            if delivery.recipient_kind == announcements.RECIPIENT_KIND
            else audience.CHANNELS.get(delivery.recipient_kind, ())
        )
        if used not in order:
            return []
        later = order[order.index(used) + 1 :]
        if delivery.recipient_kind in (audience.CITIZEN, audience.AGENCY_WEBHOOKS):
            # a citizen's other channels are asked from intake when tried
            return later
        agent = session.get(AgentContact, delivery.recipient_id)
        if agent is None:
            return []
        return [
            c
            for c in later
            if {
                "sms": agent.phone,
                "line": agent.line_user_id,
                "email": agent.email,
            }.get(c)
        ]

    def _message(
        self,
        session: Session,
        delivery: Delivery,
        event: Any,
        channel: str,
        address: str,
        facts: dict[str, Any],
        language: str,
    ) -> Message:
        if channel == "webhook":
            subscription = session.get(WebhookSubscription, delivery.recipient_id)
            assert subscription is not None
            return Message(
                to=address,
                text=json.dumps(delivery.event, ensure_ascii=False, sort_keys=True),
                idempotency_key=delivery.id,
                signing_secrets=tuple(
                    domain.signing_secrets(subscription, deliveries.utc_now())
                ),
            )
        rendered = rendering.render(
            delivery.message, channel, language, rendering.context_for(event, facts)
        )
        return Message(
            to=address,
            text=rendered.text,
            subject=rendered.subject,
            html=rendered.html,
            idempotency_key=delivery.id,
            language=rendered.language,
        )
