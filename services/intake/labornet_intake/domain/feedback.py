"""The citizen's feedback on a closed case, once, through the link notify
sent (its token is single-use)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from labornet_intake.domain.cases import CaseNotFound, _load_case
from labornet_intake.models import Case, CaseFeedback
from labornet_shared.clock import Clock, now_from, utc_now
from labornet_shared.reference.case_reference import parse_case_reference
from labornet_shared.tokens import FeedbackToken, verify_feedback_token


class CaseNotClosed(Exception):
    """Feedback is asked for once the case is closed, not before."""


class FeedbackAlreadyGiven(Exception):
    """This case's feedback was given (the link is single-use)."""


@dataclass(frozen=True)
class FeedbackGiven:
    """The answer as stored."""

    reference: str
    rating: int
    solved: bool
    answered_at: datetime


def give_feedback(
    session: Session,
    reference: str,
    data: dict[str, Any],
    secret: str,
    clock: Clock = utc_now,
) -> FeedbackGiven:
    """Store the citizen's rating of case ``reference`` once, from the link
    notify sent when it closed (``data["token"]``).

    Raises :class:`~labornet_shared.tokens.InvalidToken` (forged, malformed)
    or its :class:`~labornet_shared.tokens.ExpiredToken`, :class:`CaseNotFound`
    (a genuine token of another case), :class:`CaseNotClosed`, or
    :class:`FeedbackAlreadyGiven` (this token, or another link of the case,
    was answered before).
    """
    now = now_from(clock)
    claim = verify_feedback_token(secret, data["token"], now=now)
    if claim.reference != reference:
        raise CaseNotFound()
    case = _load_case(session, reference)
    if case is None:
        raise CaseNotFound()
    if case.status != "closed":
        raise CaseNotClosed()
    values = {
        "case_id": case.id,
        "rating": data["rating"],
        "solved": data["solved"],
        # a citizen who asked to be forgotten leaves only the numbers
        "comment": None if case.personal_data_erased_at else data.get("comment"),
        "token_id": claim.token_id,
        "answered_at": now,
    }
    # any conflict (the case's answer, the token's) means "given before"; a
    # concurrent second answer waits on the key, then conflicts
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql_insert(CaseFeedback).values(values)
    else:
        statement = sqlite_insert(CaseFeedback).values(values)
    inserted = session.execute(statement.on_conflict_do_nothing())
    if getattr(inserted, "rowcount", 0) != 1:
        raise FeedbackAlreadyGiven()
    return FeedbackGiven(reference, data["rating"], data["solved"], now)


def open_feedback_link(
    session: Session,
    reference: str,
    token: str,
    secret: str,
    clock: Clock = utc_now,
) -> FeedbackToken:
    """Whether the link the citizen opened may still be answered: what its
    token says, for the feedback page to show the form. Reads only; the
    answer (:func:`give_feedback`) decides.

    Raises as :func:`give_feedback` does:
    :class:`~labornet_shared.tokens.InvalidToken` or its
    :class:`~labornet_shared.tokens.ExpiredToken` (checked first, so a forged
    link learns nothing about the case), :class:`CaseNotFound`,
    :class:`CaseNotClosed`, :class:`FeedbackAlreadyGiven`.
    """
    claim = verify_feedback_token(secret, token, now=now_from(clock))
    if claim.reference != reference:
        raise CaseNotFound()
    parsed = parse_case_reference(reference)
    case = (
        None
        if parsed is None
        else session.scalars(
            select(Case).where(Case.id == parsed[1], Case.be_year == parsed[0])
        ).first()
    )
    if case is None:
        raise CaseNotFound()
    if case.status != "closed":
        raise CaseNotClosed()
    if session.get(CaseFeedback, case.id) is not None:
        raise FeedbackAlreadyGiven()
    return claim
