"""routing's tables: the cases it screened, their referrals and what offices
said about them, the referral rules and SLA clocks operators set, the
holidays the clocks skip, the projection of registry's field agents, the
outbox and the events already applied."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from labornet_shared.inbox import processed_events_table
from labornet_shared.model_base import BigId, service_metadata
from labornet_shared.outbox import outbox_table


class Base(DeclarativeBase):
    """routing's declarative base; its metadata is routing's whole schema."""

    metadata = service_metadata()


outbox_messages = outbox_table(Base.metadata)
processed_events = processed_events_table(Base.metadata)


class RoutedCase(Base):
    """A case as routing knows it from ``case_received``: no citizen identity."""

    __tablename__ = "cases"

    reference: Mapped[str] = mapped_column(String(20), primary_key=True)
    description: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(5))
    # false: the citizen chose no language and intake took the one the
    # description is written in (cases from before the column: chosen)
    language_chosen: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=true()
    )
    province_code: Mapped[str] = mapped_column(String(5))
    district_code: Mapped[str | None] = mapped_column(String(4))
    subdistrict_code: Mapped[str | None] = mapped_column(String(6))
    postcode: Mapped[str | None] = mapped_column(String(5))
    lat: Mapped[float] = mapped_column(Float)
    long: Mapped[float] = mapped_column(Float)
    abroad_country: Mapped[str | None] = mapped_column(String(2))
    submitted_by_agent_id: Mapped[str | None] = mapped_column(String(64))
    # the screening: method, needs_review and the labels with their evidence
    screening: Mapped[dict[str, Any]] = mapped_column(JSON)
    # the language the description is written in (th, my, en), as screening
    # read it; null for a case screened before screening read languages
    screened_language: Mapped[str | None] = mapped_column(String(5))
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    # routed, closed or withdrawn
    status: Mapped[str] = mapped_column(String(20), default="routed")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    routed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # bumped by every change of the case's referrals: the UPDATE that bumps
    # it makes concurrent changes of one case wait for each other
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    referrals: Mapped[list[Referral]] = relationship(
        back_populates="case", order_by="Referral.created_at"
    )


class Referral(Base):
    """One office's part of a case, with its own status and SLA clocks."""

    __tablename__ = "referrals"

    # time-ordered UUID (v7)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_reference: Mapped[str] = mapped_column(
        String(20), ForeignKey("cases.reference"), index=True
    )
    agency: Mapped[str] = mapped_column(String(10))
    province_code: Mapped[str] = mapped_column(String(5))
    office: Mapped[str] = mapped_column(String(30))
    # the categories this office handles in the case, best first
    categories: Mapped[list[str]] = mapped_column(JSON)
    main_category: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    outcome: Mapped[str | None] = mapped_column(String(30))
    agent_id: Mapped[str | None] = mapped_column(String(64))
    # 1 for the first referral of a category; +1 each time an office rejects
    hop: Mapped[int] = mapped_column(Integer, default=1)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    escalated_from: Mapped[str | None] = mapped_column(String(36))
    replaces: Mapped[str | None] = mapped_column(String(36))
    due_accept_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_resolve_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # set once, by the first instance that sees the clock run out: the
    # conditional UPDATE on these makes each escalation happen exactly once
    accept_overdue_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolve_overdue_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # +1 at every change of state; a change applies only to the version it
    # started from (a conditional UPDATE), so two never start from one state
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    case: Mapped[RoutedCase] = relationship(back_populates="referrals")
    notes: Mapped[list[ReferralNote]] = relationship(
        order_by="ReferralNote.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index(
            "ix_referrals_agency_province_status", "agency", "province_code", "status"
        ),
        Index("ix_referrals_status_due_accept", "status", "due_accept_at"),
        Index("ix_referrals_status_due_resolve", "status", "due_resolve_at"),
    )


class ReferralNote(Base):
    """What an office said: a reason, a progress note, an outcome."""

    __tablename__ = "referral_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("referrals.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RoutingRule(Base):
    """A rule operators set without a deploy.

    * ``override``: ``category`` (in ``province_code``, or everywhere) goes to
      ``agency`` instead of its default agency;
    * ``extra``: ``category`` (when ``with_category`` is also found, if set)
      goes to ``agency`` as well;
    * ``abroad``: a worker abroad's ``category`` (every category when null)
      goes to ``agency``'s overseas office.
    """

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(10))
    category: Mapped[str | None] = mapped_column(String(40))
    province_code: Mapped[str | None] = mapped_column(String(5))
    with_category: Mapped[str | None] = mapped_column(String(40))
    agency: Mapped[str] = mapped_column(String(10))
    note: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SlaSetting(Base):
    """Working days to accept and to resolve, per agency × category.

    ``category`` null is the agency's default.
    """

    __tablename__ = "sla_settings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agency: Mapped[str] = mapped_column(String(10))
    category: Mapped[str | None] = mapped_column(String(40))
    accept_days: Mapped[int] = mapped_column(Integer)
    resolve_days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_sla_agency_category", "agency", "category", unique=True),
    )


class Holiday(Base):
    """A Thai public holiday: SLA clocks do not count it."""

    __tablename__ = "holidays"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class ProjectedAgent(Base):
    """registry's field agent as routing needs it, from ``agent_*`` events."""

    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10))
    name_th: Mapped[str] = mapped_column(String(200))
    languages: Mapped[list[str]] = mapped_column(JSON)
    phone: Mapped[str | None] = mapped_column(String(20))
    line_user_id: Mapped[str | None] = mapped_column(String(100))
    abroad_country: Mapped[str | None] = mapped_column(String(2), index=True)


class ProjectedArea(Base):
    """A place a projected agent covers."""

    __tablename__ = "agent_areas"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agent_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    province_code: Mapped[str] = mapped_column(String(5), index=True)
    district_code: Mapped[str | None] = mapped_column(String(4), index=True)
    subdistrict_code: Mapped[str | None] = mapped_column(String(6), index=True)
