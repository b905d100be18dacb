"""notify's tables: every delivery (written before it is attempted), the
field agents' contacts projected from registry, agencies' webhook
subscriptions, the outbox and the events already applied — and, when the
console channel stands in for the providers (``make run``), the messages as
they would have left.

No citizen contact is kept: a delivery to a citizen holds only the masked
address it was sent to; the contact is asked from intake at send time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from labornet_shared.inbox import processed_events_table
from labornet_shared.model_base import BigId, service_metadata
from labornet_shared.outbox import outbox_table


class Base(DeclarativeBase):
    """notify's declarative base; its metadata is notify's whole schema."""

    metadata = service_metadata()


outbox_messages = outbox_table(Base.metadata)
processed_events = processed_events_table(Base.metadata)


class Delivery(Base):
    """One message to one recipient on one channel, because of one event.

    ``status``: ``pending`` (to be sent at ``next_attempt_at``), ``sending``
    (claimed by a sender until ``lease_until``), ``sent``, ``failed``
    (finally, with ``last_error``), ``skipped`` (nothing to send: no
    consent, no contact, data erased), ``interrupted`` (may have reached a
    provider that cannot drop a repeat, SMS or e-mail: never sent again
    unless an operator retries it; ``last_error`` says ``no_answer`` or
    ``sender_lost``).
    """

    __tablename__ = "deliveries"

    # time-ordered UUID (v7); also the idempotency key given to providers
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(40))
    case_reference: Mapped[str | None] = mapped_column(String(20), index=True)
    recipient_kind: Mapped[str] = mapped_column(String(20))
    # the agent id, the webhook subscription id, or the case reference for
    # its citizen: who, never their address
    recipient_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(5))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    # the event's envelope: what the message says (events carry no
    # personal data); the address is looked up when it is sent
    event: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    give_up_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # the channel used: a citizen's is their choice, known at send time
    sent_channel: Mapped[str | None] = mapped_column(String(10))
    address_masked: Mapped[str | None] = mapped_column(String(100))
    provider_response: Mapped[str | None] = mapped_column(String(500))
    provider_message_id: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(String(500))
    # the delivery on another channel this one fell back to, if any
    fallback_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # at most one delivery per (event, recipient, channel), however
        # often the event arrives
        UniqueConstraint(
            "event_id",
            "recipient_kind",
            "recipient_id",
            "channel",
            name="uq_deliveries_event_recipient_channel",
        ),
        Index("ix_deliveries_status_next_attempt", "status", "next_attempt_at"),
    )


class NotifyCase(Base):
    """What notify remembers of a case from ``case_received``: whose it is
    and where, never the citizen's contact (intake gives it at send time)."""

    __tablename__ = "cases"

    reference: Mapped[str] = mapped_column(String(20), primary_key=True)
    # intake's: the citizen's choice, or the language of the description
    language: Mapped[str] = mapped_column(String(5))
    # false: the citizen chose none (cases from before the column: chosen)
    language_chosen: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=true()
    )
    # the language screening read in the description (routing's case_routed)
    screened_language: Mapped[str | None] = mapped_column(String(5))
    submitted_by_agent_id: Mapped[str | None] = mapped_column(String(64))
    province_code: Mapped[str] = mapped_column(String(5))
    district_code: Mapped[str | None] = mapped_column(String(4))
    subdistrict_code: Mapped[str | None] = mapped_column(String(6))
    abroad_country: Mapped[str | None] = mapped_column(String(2))
    # open, withdrawn or closed: a withdrawn case's citizen hears no more
    status: Mapped[str] = mapped_column(String(10), default="open")


class AgentContact(Base):
    """A field agent's work contacts and languages, from registry's events."""

    __tablename__ = "agent_contacts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))
    name_th: Mapped[str] = mapped_column(String(200))
    languages: Mapped[list[str]] = mapped_column(JSON)
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    line_user_id: Mapped[str | None] = mapped_column(String(100))
    # [[province, district, subdistrict], ...] as registry sends them
    areas: Mapped[list[list[str | None]]] = mapped_column(JSON)
    abroad_country: Mapped[str | None] = mapped_column(String(2))
    # labour_graduate / labour_volunteer (agents projected before the column
    # have none until registry's next event about them)
    kind: Mapped[str | None] = mapped_column(String(20), index=True)


class AgentArea(Base):
    """One place an active field agent covers, at one level: the index that
    finds an area's agents without reading every agent's areas.

    An area ``[province, district, subdistrict]`` gives a row for its region,
    its province and, when named, its district and subdistrict; ``exact``
    marks the area's own (most specific) level, registry's coverage rule.
    Kept by the agent events; an inactive or suspended agent has no rows.
    """

    __tablename__ = "agent_areas"

    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # region, province, district or subdistrict
    level: Mapped[str] = mapped_column(String(12), primary_key=True)
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    exact: Mapped[bool] = mapped_column(Boolean, primary_key=True)

    __table_args__ = (Index("ix_agent_areas_level_code", "level", "code"),)


class Announcement(Base):
    """A message from the ministry to field agents by place, kind or
    country abroad (``POST /v1/announcements``).

    ``status``: ``planning`` (its deliveries are being written, in batches;
    ``planned_through`` is the last agent id written, so planning resumes
    after a crash), then ``planned``. Each recipient is one delivery row
    whose ``event_id`` is the announcement's id: the deliveries' unique
    (event, recipient, channel) key makes planning again a no-op.
    """

    __tablename__ = "announcements"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    text_th: Mapped[str] = mapped_column(Text)
    text_en: Mapped[str | None] = mapped_column(Text)
    text_my: Mapped[str | None] = mapped_column(Text)
    # {"all": bool, "regions": [...], "provinces": [...], "districts": [...],
    #  "kinds": [...], "abroad_countries": [...]}
    target: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default="planning")
    planned_through: Mapped[str | None] = mapped_column(String(64))
    planned: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    planned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookSubscription(Base):
    """An agency system that wants referrals and changes as webhooks."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    agency: Mapped[str] = mapped_column(String(10), index=True)
    # empty: every province / every event type
    provinces: Mapped[list[str]] = mapped_column(JSON)
    event_types: Mapped[list[str]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(100))
    # during a rotation the old secret signs too, until it expires
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True)
    )
    status: Mapped[str] = mapped_column(String(10), default="active")
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused_reason: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConsoleMessage(Base):
    """One message as it would have left, written by the console channel
    (``CONSOLE_CHANNEL``: on under ``make run``, off elsewhere) in place of a
    provider: ``labornet messages tail`` and ``GET /console`` show them.

    The full text is kept (the point is to read it) and is personal data:
    it stays in this table, never in a log, and only the last
    ``CONSOLE_KEEP`` rows are kept. The recipient is in its masked form.
    ``status``: ``sent`` (the console took it, as a provider would), ``held``
    (quiet hours: it waits until ``held_until``), or for a webhook, which
    still goes to the agency's endpoint, that endpoint's answer
    (``sent``, ``retry``, ``failed``).
    """

    __tablename__ = "console_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # the channel it stands in for: sms, line, email, webhook
    channel: Mapped[str] = mapped_column(String(10))
    delivery_id: Mapped[str] = mapped_column(String(36))
    case_reference: Mapped[str | None] = mapped_column(String(20), index=True)
    recipient_kind: Mapped[str | None] = mapped_column(String(20))
    recipient_masked: Mapped[str] = mapped_column(String(100))
    # the template (case_received, new_case_in_area ...) and its language
    message: Mapped[str | None] = mapped_column(String(40))
    language: Mapped[str | None] = mapped_column(String(5))
    subject: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    # SMS only: the parts the gateway would bill
    segments: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))
    held_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(String(200))
