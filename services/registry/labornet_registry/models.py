"""registry's tables: field agents, their coverage areas, languages, name
search keys and training; roster imports; the audit log of personal-data
reads; the outbox.

An agent's personal data (national ID, phone, email, LINE id) lives in the
``agents`` row; everything routing needs travels in events without the
national ID.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from labornet_shared.model_base import BigId, service_metadata
from labornet_shared.outbox import outbox_table

# Name keys are compared by code point (a prefix is a range of keys). On
# PostgreSQL a locale collation would reorder Thai (leading vowels are
# sorted after the consonant), so the column collates "C"; SQLite compares
# bytes already.
NameKey = String(200).with_variant(String(200, collation="C"), "postgresql")


class Base(DeclarativeBase):
    """registry's declarative base; its metadata is registry's whole schema."""

    metadata = service_metadata()


outbox_messages = outbox_table(Base.metadata)


class Agent(Base):
    """A labour graduate or labour volunteer of the field network."""

    __tablename__ = "agents"

    # time-ordered UUID (v7): stable public id, and pages in registration order
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), default="active")
    first_name_th: Mapped[str] = mapped_column(String(100))
    last_name_th: Mapped[str] = mapped_column(String(100))
    first_name_en: Mapped[str | None] = mapped_column(String(100))
    last_name_en: Mapped[str | None] = mapped_column(String(100))
    national_id: Mapped[str] = mapped_column(String(13), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    line_user_id: Mapped[str | None] = mapped_column(String(100))
    # the agent's home province and region (first area), for stats and filters
    province_code: Mapped[str | None] = mapped_column(String(5))
    region: Mapped[str] = mapped_column(String(10))
    abroad_country: Mapped[str | None] = mapped_column(String(2))
    abroad_city: Mapped[str | None] = mapped_column(String(100))
    # the provincial labour office the agent reports to: "ops.TH-52"; abroad,
    # the Department of Employment's overseas office: "doe.abroad"
    office: Mapped[str] = mapped_column(String(20))
    start_date: Mapped[date | None] = mapped_column(Date)
    term_end: Mapped[date | None] = mapped_column(Date)
    # increases with every change; events carry it so a projection can
    # ignore a snapshot older than the one it has
    revision: Mapped[int] = mapped_column(Integer, default=1)
    deactivation_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    areas: Mapped[list[AgentArea]] = relationship(
        order_by="AgentArea.id", cascade="all, delete-orphan", lazy="selectin"
    )
    languages: Mapped[list[AgentLanguage]] = relationship(
        order_by="AgentLanguage.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )
    # loaded when read (one agent's page), not with every page of summaries
    training: Mapped[list[TrainingRecord]] = relationship(
        order_by="TrainingRecord.id", cascade="all, delete-orphan", lazy="select"
    )

    __table_args__ = (
        Index("ix_agents_province_status", "province_code", "status"),
        Index("ix_agents_region_status", "region", "status"),
        Index("ix_agents_abroad_country", "abroad_country"),
    )


class AgentArea(Base):
    """One place an agent covers: a province, a district or a subdistrict."""

    __tablename__ = "agent_areas"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agent_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    province_code: Mapped[str] = mapped_column(String(5), index=True)
    # NULL below the level the agent covers: a graduate of the whole
    # province has neither district nor subdistrict
    district_code: Mapped[str | None] = mapped_column(String(4), index=True)
    subdistrict_code: Mapped[str | None] = mapped_column(String(6), index=True)


class AgentLanguage(Base):
    """A language an agent speaks (ISO 639-1), in the order given."""

    __tablename__ = "agent_languages"

    agent_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(3), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class AgentNameKey(Base):
    """A normalised name under which an agent is found by prefix.

    Thai is written without spaces, so besides each name there is the whole
    name run together ("สมชายใจดี"): "สมชายใจ" finds สมชาย ใจดี.
    """

    __tablename__ = "agent_name_keys"

    agent_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(NameKey, primary_key=True, index=True)


class TrainingRecord(Base):
    """A course an agent completed."""

    __tablename__ = "training_records"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agent_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    course: Mapped[str] = mapped_column(String(200))
    completed_on: Mapped[date] = mapped_column(Date)
    certificate: Mapped[str | None] = mapped_column(String(100))


class RosterImport(Base):
    """One roster file imported (or dry-run): its counts and rejected rows."""

    __tablename__ = "roster_imports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(String(255))
    actor: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(20))
    rows_read: Mapped[int] = mapped_column(Integer)
    registered: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    # the rejected rows as the CSV the operator downloads (personal data:
    # kept in registry's own database like the agents themselves)
    rejected_csv: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditLogEntry(Base):
    """Who read or changed agents' personal data, when (never the data)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_scope: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    # one agent id, or how many agents a list, coverage or export showed
    agent_id: Mapped[str | None] = mapped_column(String(36), index=True)
    detail: Mapped[str | None] = mapped_column(Text)
