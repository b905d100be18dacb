"""A stand-in for intake's contact RPC in `make bench-notify`: answers
``contact_for_notification`` as intake does, for made-up citizens who chose
SMS, so that notify's citizen deliveries are part of the measured load
without intake's database. Run with ``nameko run``; used by no test."""

from __future__ import annotations

from typing import Any

from nameko.rpc import rpc


class IntakeContacts:
    """Answers notify's contact lookups instantly."""

    name = "intake"

    @rpc
    def contact_for_notification(self, reference: str, purpose: str) -> dict[str, Any]:
        """A citizen who chose SMS, with consent (the bench's fixed answer)."""
        number = int(reference[-4:]) if reference[-4:].isdigit() else 0
        return {
            "reference": reference,
            "language": "th",
            "contact_channel": "sms",
            "phone": f"+6689{number:07d}",
            "email": None,
            "line_user_id": None,
            "name": "ผู้ร้อง",
            "tracking_code": "ABCDE-FGHJK",
            "consent": True,
            "erased": False,
            "status": "received",
        }
