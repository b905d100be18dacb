"""intake's tables: cases, the citizen's contact and consent, the timeline,
intake's copy of each case's referrals and of the categories routing found
for it (from routing's events), the cases
filed through Open311, the citizen's feedback on closed cases, the audit log of
personal-data reads, idempotency keys, outbox and applied events.

The citizen's personal data lives only in ``citizen_contacts`` (one row per
case), so PDPA erasure wipes one row and leaves the case and its statistics.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from labornet_shared.inbox import processed_events_table
from labornet_shared.model_base import BigId, service_metadata
from labornet_shared.outbox import outbox_table
from labornet_shared.reference.case_reference import format_case_reference


class Base(DeclarativeBase):
    """intake's declarative base; its metadata is intake's whole schema."""

    metadata = service_metadata()


outbox_messages = outbox_table(Base.metadata)
processed_events = processed_events_table(Base.metadata)


class Case(Base):
    """A labour problem brought to the ministry, as submitted."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # the reference LN-<be_year>-<id:08d> is derived, not stored: the id is
    # the database's own sequence, so no second write is needed to record it
    be_year: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[str] = mapped_column(String(20), default="received")
    category: Mapped[str | None] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(5), default="th")
    # false: the citizen gave no language and ``language`` is the one the
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
    coordinates_source: Mapped[str] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(Text)
    abroad_country: Mapped[str | None] = mapped_column(String(2))
    submitted_by_agent_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    personal_data_erased_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True)
    )

    @property
    def reference(self) -> str:
        """``LN-2569-00001234``: Buddhist-era year and the 8-digit case number."""
        return format_case_reference(self.be_year, self.id)

    contact: Mapped[CitizenContact | None] = relationship(
        back_populates="case", uselist=False, cascade="all, delete-orphan"
    )
    # by when each step happened: routing's events may arrive out of order
    timeline: Mapped[list[TimelineEntry]] = relationship(
        back_populates="case",
        order_by=lambda: [TimelineEntry.occurred_at, TimelineEntry.id],
        cascade="all, delete-orphan",
    )
    referrals: Mapped[list[CaseReferral]] = relationship(
        back_populates="case",
        order_by="CaseReferral.id",
        cascade="all, delete-orphan",
    )
    # best first: screening's surest problem, then those only offices got
    screened_categories: Mapped[list[CaseCategory]] = relationship(
        back_populates="case",
        order_by=lambda: [
            CaseCategory.score.desc().nulls_last(),
            CaseCategory.category,
        ],
        cascade="all, delete-orphan",
    )
    # set when the case was filed through Open311
    open311: Mapped[Open311Request | None] = relationship(
        back_populates="case", uselist=False, cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index("ix_cases_created_at_id", "created_at", "id"),
        Index("ix_cases_province_status", "province_code", "status"),
    )


class CitizenContact(Base):
    """The citizen's personal data and consent for one case (PDPA)."""

    __tablename__ = "citizen_contacts"

    case_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    national_id: Mapped[str | None] = mapped_column(String(13))
    line_user_id: Mapped[str | None] = mapped_column(String(100))
    contact_channel: Mapped[str] = mapped_column(String(10), default="none")
    consent_purpose: Mapped[str | None] = mapped_column(Text)
    consent_given_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the consent covers contact by the agencies handling the case
    agencies_may_contact: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )

    case: Mapped[Case] = relationship(back_populates="contact")


class TimelineEntry(Base):
    """One timestamped step of a case, as the citizen follows it."""

    __tablename__ = "timeline_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(20))
    # what the office said (a reason, a progress note, the outcome's note)
    note: Mapped[str | None] = mapped_column(Text)
    agency: Mapped[str | None] = mapped_column(String(10))
    office: Mapped[str | None] = mapped_column(String(60))
    outcome: Mapped[str | None] = mapped_column(String(30))
    # an overdue referral: the office it was escalated to
    escalated_to: Mapped[str | None] = mapped_column(String(60))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event_id: Mapped[str | None] = mapped_column(String(36))

    case: Mapped[Case] = relationship(back_populates="timeline")


class CaseReferral(Base):
    """intake's copy of one referral of a case, kept from routing's events:
    which office has the case, in which status since when, what it said, and
    when it is expected to resolve it. Decides who may read the contact."""

    __tablename__ = "case_referrals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(String(64), unique=True)
    case_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    agency: Mapped[str] = mapped_column(String(10))
    province_code: Mapped[str] = mapped_column(String(5))
    office: Mapped[str] = mapped_column(String(60))
    categories: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))
    # when the referral entered its status
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_resolve_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_note: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(30))
    # routing's time of the newest change applied: an older event never
    # overwrites a newer one
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    case: Mapped[Case] = relationship(back_populates="referrals")


class CaseCategory(Base):
    """One problem routing found in a case (case × category), from
    ``case_routed``'s screening labels and the categories of every referral
    routing's events name: what ``GET /v1/cases?category=`` finds besides
    the category the citizen gave. Only ever added to (a rejected
    referral's problems go on to the next office), so events applied in any
    order end in the same rows."""

    __tablename__ = "case_categories"

    case_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(String(40), primary_key=True)
    # screening's best score for it, 0–1; null: an office was given it
    # without a screening label (the citizen's own category, told so)
    score: Mapped[float | None] = mapped_column(Float)
    # an office was referred the problem (not only found by screening)
    referred: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )

    case: Mapped[Case] = relationship(back_populates="screened_categories")

    __table_args__ = (
        # the list's filter: the cases of one category, newest first
        Index("ix_case_categories_category_case_id", "category", "case_id"),
    )


class Open311Request(Base):
    """A case filed through Open311 GeoReport v2: which api_key filed it (only
    that client sees what the citizen wrote and where exactly) and the
    ``media_url`` it gave. Open311 lists only these cases."""

    __tablename__ = "open311_requests"

    case_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    # "<key name>#<digest of the key>": one client's key, never the key itself
    filed_by: Mapped[str] = mapped_column(String(200))
    # a photo may show the citizen: erased with their personal data
    media_url: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case] = relationship(back_populates="open311")


class CaseFeedback(Base):
    """The citizen's answer once the case closed: a rating of the service
    (1–5), whether the problem was solved and an optional comment, given once
    through the single-use link notify sent (``token_id`` names the link)."""

    __tablename__ = "case_feedback"

    # one answer per case, however many links reached the citizen
    case_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    rating: Mapped[int] = mapped_column(SmallInteger)
    solved: Mapped[bool] = mapped_column(Boolean)
    # the citizen's own words: wiped with their personal data
    comment: Mapped[str | None] = mapped_column(Text)
    token_id: Mapped[str] = mapped_column(String(16), unique=True)
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="ck_case_feedback_rating"),
    )


class AuditLogEntry(Base):
    """Who read or erased personal data, when, and why (never the data)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_scope: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    case_reference: Mapped[str] = mapped_column(String(20), index=True)
    purpose: Mapped[str | None] = mapped_column(String(200))


class IdempotencyKey(Base):
    """Which case a create request made, so a retry gets the same case.

    The answer is rebuilt from the case, so no secret (the tracking code) is
    stored here.
    """

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    case_reference: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("client", "key", name="uq_idempotency_client_key"),
    )
