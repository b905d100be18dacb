"""intake's RPC ``contact_for_notification``, called as notify calls it (nameko's
ClusterRpcProxy on the real broker, a running intake): how to reach the
citizen, only with consent and never after erasure, every read audited and
committed before the answer arrives, nothing personal in a log line."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from typing import Any

import pytest
from nameko.exceptions import IncorrectSignature, RemoteError

from labornet_testkit.harness import (
    anonymous_case_payload,
    case_payload,
    logging_everything_to,
    wait_until,
)
from labornet_testkit.intake import closing_events

NAME = "มาลี ศรีสุข"
PHONE = "081-234-5678"
EMAIL = "malee.s@example.org"
LINE_ID = "malee_line_2569"
PURPOSE = "case_received sms"


def submit(api: Any, body: dict[str, Any]) -> dict[str, Any]:
    """Take a case in; its reference and tracking code."""
    response = api.post("/v1/cases", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def citizen_case(api: Any, **citizen: Any) -> dict[str, Any]:
    """A case whose citizen consented and gave a phone, e-mail and LINE id."""
    body = case_payload(random.Random())
    body["citizen"].update(
        name=NAME,
        phone=PHONE,
        email=EMAIL,
        line_user_id=LINE_ID,
        language="my",
        contact_channel="line",
        **citizen,
    )
    return submit(api, body)


def contact_reads(sql: Any, reference: str) -> list[tuple[Any, ...]]:
    """The audit log's reads of the case's contact."""
    return [
        tuple(row)
        for row in sql(
            "SELECT actor_scope, actor, action, purpose FROM audit_log "
            "WHERE case_reference = :reference AND action = 'read_contact' "
            "ORDER BY id",
            reference=reference,
        )
    ]


def test_notify_gets_the_contact_and_the_read_is_audited(
    intake_api, intake_rpc, intake_sql
):
    created = citizen_case(intake_api)
    reference = created["reference"]

    answer = intake_rpc.contact_for_notification(reference, PURPOSE)

    assert answer == {
        "reference": reference,
        "language": "my",
        "language_chosen": True,
        "contact_channel": "line",
        "phone": "+66812345678",
        "email": EMAIL,
        "line_user_id": LINE_ID,
        "name": NAME,
        "tracking_code": created["tracking_code"],
        "consent": True,
        "erased": False,
        "status": "received",
    }
    # committed before the answer left: the row is there the moment it arrives
    assert contact_reads(intake_sql, reference) == [
        ("service", "notify", "read_contact", PURPOSE)
    ]
    intake_rpc.contact_for_notification(reference, "case_received email")
    assert [row[3] for row in contact_reads(intake_sql, reference)] == [
        PURPOSE,
        "case_received email",
    ]


def test_a_language_nobody_chose_is_the_one_the_citizen_wrote_in(
    intake_api, intake_rpc
):
    body = case_payload(random.Random())
    del body["citizen"]["language"]
    body["description"] = "အလုပ်ရှင်က လစာ နှစ်လ မပေးသေးပါ ชลบุรี"
    reference = submit(intake_api, body)["reference"]

    answer = intake_rpc.contact_for_notification(reference, PURPOSE)

    assert (answer["language"], answer["language_chosen"]) == ("my", False)
    # a citizen who gives none and writes no letters is written to in Thai
    silent = anonymous_case_payload(description="0812345678 !! 555")
    quiet = submit(intake_api, silent)["reference"]
    answer = intake_rpc.contact_for_notification(quiet, PURPOSE)
    assert (answer["language"], answer["language_chosen"]) == ("th", False)


def test_the_answer_follows_the_case(intake_api, intake_rpc, publish_routing):
    created = citizen_case(intake_api)
    reference = created["reference"]
    publish_routing(*closing_events(reference))

    def status() -> str | None:
        answer = intake_rpc.contact_for_notification(reference, "case_closed line")
        return answer["status"] if answer["status"] == "closed" else None

    assert wait_until(status) == "closed"


@pytest.mark.parametrize(
    "reference", ["LN-2569-99999999", "LN-2569-1", "not a reference", ""]
)
def test_an_unknown_case_is_none(intake_api, intake_rpc, intake_sql, reference):
    assert intake_rpc.contact_for_notification(reference, PURPOSE) is None
    assert intake_sql("SELECT count(*) FROM audit_log")[0][0] == 0


def test_nothing_to_send_after_erasure(
    intake_api, intake_rpc, intake_sql, intake_bearer
):
    created = citizen_case(intake_api)
    reference = created["reference"]
    erased = intake_api.delete(
        f"/v1/cases/{reference}/personal-data", headers=intake_bearer("operator")
    )
    assert erased.status_code == 204

    answer = intake_rpc.contact_for_notification(reference, PURPOSE)

    assert answer == {
        "reference": reference,
        "language": "my",
        "language_chosen": True,
        "contact_channel": "none",
        "phone": None,
        "email": None,
        "line_user_id": None,
        "name": None,
        "tracking_code": created["tracking_code"],
        "consent": True,
        "erased": True,
        "status": "received",
    }
    # no personal data went out: nothing to audit
    assert contact_reads(intake_sql, reference) == []


def test_nothing_to_send_without_consent(intake_api, intake_rpc, intake_sql):
    created = submit(intake_api, anonymous_case_payload())
    reference = created["reference"]

    answer = intake_rpc.contact_for_notification(reference, PURPOSE)

    assert answer["consent"] is False
    assert answer["erased"] is False
    assert answer["contact_channel"] == "none"
    assert [answer[k] for k in ("name", "phone", "email", "line_user_id")] == [None] * 4
    assert answer["tracking_code"] == created["tracking_code"]
    assert contact_reads(intake_sql, reference) == []


@pytest.mark.parametrize(
    ("reference", "purpose"),
    [
        ("LN-2569-00000001", ""),
        ("LN-2569-00000001", "   "),
        ("LN-2569-00000001", "x" * 201),
        ("LN-2569-00000001", None),
        (12345, PURPOSE),
    ],
    ids=["empty", "blank", "too-long", "no-purpose", "reference-not-text"],
)
def test_a_read_without_a_purpose_is_refused(
    intake_api, intake_rpc, intake_sql, reference, purpose
):
    citizen_case(intake_api)
    with pytest.raises(RemoteError) as raised:
        intake_rpc.contact_for_notification(reference, purpose)
    assert raised.value.exc_type == "InvalidRpcArgument"
    assert intake_sql("SELECT count(*) FROM audit_log")[0][0] == 0


def test_a_call_with_the_wrong_arguments_is_refused(intake_api, intake_rpc):
    with pytest.raises(IncorrectSignature):
        intake_rpc.contact_for_notification("LN-2569-00000001")


def is_the_callers(record: logging.LogRecord) -> bool:
    """A record of the test's own clients, not of intake: its HTTP client's,
    and nameko's RPC proxy's, which logs each reply whole at DEBUG — the
    caller (notify) must keep ``nameko.rpc`` at INFO or above."""
    if record.name.startswith(("urllib3", "requests")):
        return True
    return record.name == "nameko.rpc" and record.funcName == "result"


class Capture(logging.Handler):
    """Every log record of intake's side, as text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if is_the_callers(record):
            return
        line = record.getMessage()
        if record.exc_info:
            line += logging.Formatter().formatException(record.exc_info)
        self.lines.append(line)


@pytest.fixture
def logs() -> Iterator[Capture]:
    """Everything logged at DEBUG while the test runs."""
    with logging_everything_to(Capture()) as capture:
        yield capture


def test_no_personal_data_in_the_logs(intake_api, intake_rpc, logs):
    reference = citizen_case(intake_api)["reference"]
    logs.lines.clear()
    answer = intake_rpc.contact_for_notification(reference, PURPOSE)
    assert answer["phone"] == "+66812345678"  # it really went out
    with pytest.raises(RemoteError):
        intake_rpc.contact_for_notification(reference, "")
    assert logs.lines, "nothing was logged: the capture is broken"
    for secret in (NAME, "812345678", "234-5678", EMAIL, LINE_ID):
        assert not [line for line in logs.lines if secret in line], secret
