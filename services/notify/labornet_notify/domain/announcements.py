"""Announcements: a message from the ministry to field agents, chosen by
region, province, district, kind or country abroad.

The rules:

* the Thai text is required; English and Myanmar are optional. Each text
  must fit the shortest channel: its SMS (:data:`SMS_PARTS` parts at most);
* an announcement is one row; its recipients are delivery rows (``event_id``
  = the announcement's id, one per agent on the agent's first channel, the
  others tried in turn when it fails), sent by the sender with the
  guarantees every delivery has (rate limits, quiet hours, retries, at most
  once on SMS and e-mail);
* planning writes them in batches of :data:`BATCH` agents, one transaction
  each, in agent-id order; the announcement keeps the last agent id written
  (``planned_through``), so a crash resumes where it stopped, and the
  deliveries' unique (event, recipient, channel) key makes a batch written
  twice a no-op;
* the agents are found through :class:`~labornet_notify.models.AgentArea`
  (an index of agent × level × code), never by reading every agent's areas;
  places (regions, provinces, districts, countries abroad) are alternatives,
  kinds narrow them; only active agents are kept in the index;
* the same ``Idempotency-Key`` gives the same announcement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labornet_notify import rendering
from labornet_notify.domain.deliveries.cases_and_agents import area_rows
from labornet_notify.domain.deliveries.planning import (
    _agent_address,
    _agent_language,
    _insert_ignoring_duplicates,
)
from labornet_notify.models import AgentArea, AgentContact, Announcement, Delivery

__all__ = ["area_rows"]
from labornet_shared.clock import Clock, utc_now
from labornet_shared.events import Event
from labornet_shared.ids import new_time_ordered_id
from labornet_shared.problems import FieldError

#: the message's template, and the recipient kind of its deliveries
MESSAGE = "announcement"
RECIPIENT_KIND = "announcement_agent"
#: an agent's channels, in the order tried (as the other agent messages)
CHANNELS: tuple[str, ...] = ("line", "sms", "email")
#: the most SMS parts an announcement may take (3 UCS-2 parts: about 190
#: Thai or Myanmar characters after the ``labornet:`` prefix)
SMS_PARTS = 3
#: agents written per transaction while planning
BATCH = 500
#: the target's fields (lists) and the levels they are looked up at
TARGET_LEVELS = {"regions": "region", "provinces": "province", "districts": "district"}
TARGET_FIELDS = ("regions", "provinces", "districts", "kinds", "abroad_countries")
LANGUAGES = ("th", "en", "my")


class AnnouncementInvalid(ValueError):
    """The announcement cannot be sent as asked; ``errors`` name the fields."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(", ".join(f"{e.field}: {e.code}" for e in errors))
        self.errors = errors


class AnnouncementNotFound(LookupError):
    """No announcement has this id."""


@dataclass(frozen=True)
class Created:
    """The announcement, and whether an earlier request made it (the same
    Idempotency-Key)."""

    announcement: Announcement
    replayed: bool


# --- taking an announcement in ---------------------------------------------------


def _sms_parts(text: str) -> int:
    """How many SMS parts the announcement's SMS takes with this text."""
    rendered = rendering.render(MESSAGE, "sms", "th", {"text": text})
    return rendering.sms_segments(rendered.text)


def check(data: Mapping[str, Any]) -> dict[str, Any]:
    """The announcement's texts and target, checked beyond their shapes:
    each text fits :data:`SMS_PARTS` SMS parts; a target names someone."""
    errors: list[FieldError] = []
    for language in LANGUAGES:
        text = data.get(f"text_{language}")
        if text and _sms_parts(text) > SMS_PARTS:
            errors.append(FieldError(f"text_{language}", "too_long_for_sms"))
    target = dict(data.get("target") or {})
    named = any(target.get(name) for name in TARGET_FIELDS)
    if target.get("all") and named:
        errors.append(FieldError("target.all", "all_with_other_fields"))
    elif not target.get("all") and not named:
        errors.append(FieldError("target", "empty"))
    if errors:
        raise AnnouncementInvalid(errors)
    return {
        "all": bool(target.get("all")),
        **{name: sorted(set(target.get(name) or [])) for name in TARGET_FIELDS},
    }


def create(
    session: Session,
    data: Mapping[str, Any],
    *,
    created_by: str,
    idempotency_key: str | None,
    clock: Clock = utc_now,
) -> Created:
    """Take an announcement in (status ``planning``: the sender plans it).

    The same ``idempotency_key`` gives the announcement made first.

    Raises:
        AnnouncementInvalid: a text too long for an SMS, or no target.
    """
    if idempotency_key is not None:
        found = session.scalar(
            select(Announcement).where(Announcement.idempotency_key == idempotency_key)
        )
        if found is not None:
            return Created(found, replayed=True)
    target = check(data)
    announcement = Announcement(
        id=new_time_ordered_id(),
        text_th=data["text_th"],
        text_en=data.get("text_en") or None,
        text_my=data.get("text_my") or None,
        target=target,
        status="planning",
        planned=0,
        idempotency_key=idempotency_key,
        created_by=created_by,
        created_at=clock(),
    )
    try:
        with session.begin_nested():
            session.add(announcement)
    except IntegrityError:
        # the same key from a request that committed meanwhile
        found = session.scalar(
            select(Announcement).where(Announcement.idempotency_key == idempotency_key)
        )
        if found is None:
            raise
        return Created(found, replayed=True)
    return Created(announcement, replayed=False)


# --- who hears it ------------------------------------------------------------------


def targeted(target: Mapping[str, Any]) -> Select[tuple[str]]:
    """The ids of the active agents ``target`` names (a query, in id order):
    any of its places (regions, provinces, districts, countries abroad), of
    one of its kinds when it names kinds; everyone with ``all``."""
    query = select(AgentContact.id).where(AgentContact.status == "active")
    if target.get("kinds"):
        query = query.where(AgentContact.kind.in_(target["kinds"]))
    places = []
    for name, level in TARGET_LEVELS.items():
        if target.get(name):
            places.append(
                select(AgentArea.agent_id).where(
                    AgentArea.level == level, AgentArea.code.in_(target[name])
                )
            )
    if target.get("abroad_countries"):
        places.append(
            select(AgentContact.id).where(
                AgentContact.abroad_country.in_(target["abroad_countries"])
            )
        )
    if places:
        query = query.where(
            AgentContact.id.in_(places[0].union(*places[1:]).scalar_subquery())
            if len(places) > 1
            else AgentContact.id.in_(places[0].scalar_subquery())
        )
    return query.order_by(AgentContact.id)


def text_in(announcement: Announcement, language: str) -> tuple[str, str]:
    """(language, text) an agent reading ``language`` is sent: the text in
    their language when given, else the Thai one."""
    text = (
        getattr(announcement, f"text_{language}", None)
        if language in LANGUAGES
        else None
    )
    if text:
        return language, text
    return "th", announcement.text_th


def _event(announcement: Announcement, language: str, text: str) -> Event:
    """What the delivery keeps to render the message (never a contact)."""
    return Event(
        event_id=announcement.id,
        event_type=MESSAGE,
        schema_version=1,
        occurred_at=announcement.created_at,
        correlation_id=None,
        payload={"announcement_id": announcement.id, "text": text},
    )


def plan_batch(
    session: Session,
    announcement_id: str,
    *,
    retry_window: timedelta,
    batch: int = BATCH,
    clock: Clock = utc_now,
) -> bool:
    """Write the deliveries of the next ``batch`` agents of an announcement
    being planned (the caller commits). Returns whether more remain."""
    announcement = session.get(Announcement, announcement_id, with_for_update=True)
    if announcement is None or announcement.status != "planning":
        return False
    query = targeted(announcement.target)
    if announcement.planned_through is not None:
        query = query.where(AgentContact.id > announcement.planned_through)
    ids = list(session.scalars(query.limit(batch)))
    now = clock()
    agents = (
        session.scalars(
            select(AgentContact)
            .where(AgentContact.id.in_(ids))
            .order_by(AgentContact.id)
        ).all()
        if ids
        else []
    )
    rows = []
    for agent in agents:
        channel = next((c for c in CHANNELS if _agent_address(agent, c)), None)
        if channel is None:
            continue
        language, text = text_in(announcement, _agent_language(agent))
        rows.append(
            _delivery_row(
                announcement, agent.id, channel, language, text, now, retry_window
            )
        )
    announcement.planned += _insert_ignoring_duplicates(session, rows)
    if len(ids) < batch:
        announcement.status = "planned"
        announcement.planned_at = now
        return False
    announcement.planned_through = ids[-1]
    return True


def _delivery_row(
    announcement: Announcement,
    agent_id: str,
    channel: str,
    language: str,
    text: str,
    now: datetime,
    retry_window: timedelta,
) -> dict[str, Any]:
    return {
        "id": new_time_ordered_id(),
        "event_id": announcement.id,
        "event_type": MESSAGE,
        "case_reference": None,
        "recipient_kind": RECIPIENT_KIND,
        "recipient_id": agent_id,
        "channel": channel,
        "message": MESSAGE,
        "language": language,
        "urgent": False,
        "event": _event(announcement, language, text).to_body(),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "give_up_at": now + retry_window,
        "created_at": now,
        "updated_at": now,
    }


def being_planned(session: Session) -> list[str]:
    """The ids of the announcements whose planning is not finished."""
    return list(
        session.scalars(
            select(Announcement.id)
            .where(Announcement.status == "planning")
            .order_by(Announcement.id)
        )
    )


def as_event(body: Mapping[str, Any]) -> Event:
    """A delivery's kept envelope as an event (an announcement is no event
    of the registry: its envelope is notify's own)."""
    return Event(
        event_id=str(body["event_id"]),
        event_type=str(body["event_type"]),
        schema_version=int(body["schema_version"]),
        occurred_at=datetime.fromisoformat(str(body["occurred_at"])),
        correlation_id=None,
        payload=dict(body["payload"]),
    )


# --- what operators see --------------------------------------------------------------


def get(session: Session, announcement_id: str) -> Announcement:
    """The announcement. Raises :class:`AnnouncementNotFound`."""
    found = session.get(Announcement, announcement_id)
    if found is None:
        raise AnnouncementNotFound(announcement_id)
    return found


def reach(session: Session, announcement_id: str) -> dict[str, dict[str, int]]:
    """How many deliveries the announcement has, by channel and status."""
    counts: dict[str, dict[str, int]] = {}
    for channel, status, count in session.execute(
        select(Delivery.channel, Delivery.status, func.count())
        .where(Delivery.event_id == announcement_id)
        .group_by(Delivery.channel, Delivery.status)
    ):
        counts.setdefault(channel, {})[status] = count
    return counts


def failures(
    session: Session, announcement_id: str, limit: int = 500
) -> list[dict[str, Any]]:
    """The deliveries that failed, were skipped or interrupted: the agent,
    the channel and why (never an address)."""
    return [
        {
            "agent_id": row.recipient_id,
            "channel": row.channel,
            "status": row.status,
            "reason": row.last_error,
        }
        for row in session.scalars(
            select(Delivery)
            .where(
                Delivery.event_id == announcement_id,
                Delivery.status.in_(("failed", "skipped", "interrupted")),
            )
            .order_by(Delivery.recipient_id, Delivery.channel)
            .limit(limit)
        )
    ]


def list_announcements(
    session: Session, limit: int, after: str | None
) -> tuple[list[Announcement], str | None]:
    """A page of announcements, newest first, and the id to continue after."""
    query = select(Announcement).order_by(Announcement.id.desc())
    if after is not None:
        query = query.where(Announcement.id < after)
    rows = list(session.scalars(query.limit(limit + 1)))
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].id
    return rows, None
