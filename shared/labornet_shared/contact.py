"""The citizen's contact for notify: the one RPC between labornet's services.

notify does not keep a citizen's address: at each send it asks intake how to
reach the citizen of a case, for a purpose that intake writes to its audit
log (``"case_received sms"``). The contract is defined here once — the
method and its version, the arguments' rules, the answer's schema — and
:class:`ContactClient` is the typed call notify makes; intake's entrypoint
checks its arguments with :func:`check_arguments` and answers with
:class:`NotificationContactSchema`.

Plain Python and marshmallow: the client is handed a started nameko cluster
proxy (what ``ClusterRpcProxy.start()`` returns), it does not make one.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict, cast

from marshmallow import Schema, fields

#: the service that answers, and its RPC method
SERVICE = "intake"
METHOD = "contact_for_notification"
#: the contract's version: an answer an older caller could not read would
#: be a new method, never a change to this one (a field added to the answer,
#: as ``language_chosen`` was, leaves an older caller reading what it knew)
VERSION = 1
#: the longest purpose (after stripping white space), as the audit log keeps it
MAX_PURPOSE = 200


class InvalidRpcArgument(ValueError):
    """An RPC called with arguments of the wrong kind (the caller's fault).

    The caller sees it as nameko's ``RemoteError`` with this class's name as
    ``exc_type``."""


def check_arguments(reference: Any, purpose: Any) -> tuple[str, str]:
    """The call's (reference, purpose), the purpose stripped; else
    :class:`InvalidRpcArgument`."""
    if not isinstance(reference, str) or not isinstance(purpose, str):
        raise InvalidRpcArgument("reference and purpose are text")
    purpose = purpose.strip()
    if not 1 <= len(purpose) <= MAX_PURPOSE:
        raise InvalidRpcArgument("purpose must be 1 to 200 characters")
    return reference, purpose


class NotificationContactSchema(Schema):
    """intake's RPC ``contact_for_notification``: how notify reaches the
    citizen. The contact (name, phone, email, LINE id) is null and the
    channel ``none`` without consent or once erased. ``language`` is the
    one the citizen chose, or — ``language_chosen`` false — the one intake
    read from the script of the description."""

    reference = fields.String()
    language = fields.String()
    language_chosen = fields.Boolean()
    contact_channel = fields.String()
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    line_user_id = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    tracking_code = fields.String()
    consent = fields.Boolean()
    erased = fields.Boolean()
    status = fields.String()


class CaseContact(TypedDict):
    """The answer as notify reads it (:class:`NotificationContactSchema`)."""

    reference: str
    language: str
    # absent from an intake older than the field: read as chosen
    language_chosen: NotRequired[bool]
    contact_channel: str
    phone: str | None
    email: str | None
    line_user_id: str | None
    name: str | None
    tracking_code: str
    consent: bool
    erased: bool
    status: str


class ContactClient:
    """notify's side of the contract, over a started nameko cluster proxy.

    Whatever the transport raises (intake away, a timeout, the broker gone)
    reaches the caller unchanged: retrying is its business.
    """

    def __init__(self, cluster: Any) -> None:
        self._cluster = cluster

    def contact_for(self, reference: str, purpose: str) -> CaseContact | None:
        """How to reach the citizen of ``reference`` for ``purpose``; None
        for a case intake does not have."""
        method = getattr(getattr(self._cluster, SERVICE), METHOD)
        answer = method(reference, purpose)
        return None if answer is None else cast(CaseContact, answer)
