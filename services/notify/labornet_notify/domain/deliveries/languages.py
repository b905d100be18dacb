"""The language a citizen's notice is written in.

* The citizen **chose** a language (intake's ``language_chosen``; a
  ``case_received`` v1, and an answer of an intake that does not send the
  field, count as chosen): that one, as intake's contact says at send time.
* The citizen chose **none**: intake took the language the description is
  written in. Once routing's ``case_routed`` (v2) says which language
  screening read in it, the notices planned after that are in the screened
  one. Both read the script by one rule
  (:func:`labornet_shared.written_language.written_language`), so they
  agree; should they ever differ, screening wins from then on. A notice
  keeps the language it was planned in (``Delivery.language``): a receipt
  planned before the routing is not rewritten by it.

Templates exist in Thai, English and Myanmar; a language without one is
rendered in Thai (:mod:`labornet_notify.rendering`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from labornet_notify.models import NotifyCase
from labornet_shared.events import Event


def citizens_language(case: NotifyCase) -> str:
    """The language a notice to the case's citizen is planned in: the one
    they chose, else the one screening read (once known), else intake's
    reading of the description."""
    if case.language_chosen:
        return case.language
    return case.screened_language or case.language


def note_screened_language(session: Session, event: Event) -> None:
    """Keep the language a ``case_routed`` says screening read (v2's
    ``screening.language``; v1 and a case screened before say nothing).
    A case notify has not received yet is left to :func:`plan`, which
    waits for it."""
    screened = event.payload["screening"].get("language")
    case = session.get(NotifyCase, event.payload["reference"])
    if case is not None and screened:
        case.screened_language = screened


def sending_language(contact: Mapping[str, Any], planned: str) -> str:
    """The language a citizen's notice goes out in, given intake's contact:
    the citizen's chosen language, or — chosen none — the one the notice
    was planned in (:func:`citizens_language` when it was planned)."""
    if contact.get("language_chosen", True):
        return str(contact.get("language") or planned)
    return planned
