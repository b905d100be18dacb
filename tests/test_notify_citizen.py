"""The citizen hears of their case, on the channel they chose, from notify —
which asks intake for the contact at send time and keeps only its masked
form — and answers the closing request to rate the service through the
signed link, which opens intake's page; the receipt's follow link opens
intake's page that follows the case, in the citizen's language.

intake and notify run as nameko containers on one vhost, each on its own
database; the SMS gateway is a local server speaking ThaiBulkSMS's API, the
mail server a real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import html
import logging
import random
import re
from email.header import decode_header, make_header
from typing import Any
from urllib.parse import urljoin

from sqlalchemy import create_engine, inspect, text

from labornet_notify.rendering import render
from labornet_shared.db import normalise_url
from labornet_shared.events import make_event
from labornet_shared.tokens import issue_token
from labornet_shared.written_language import written_language
from labornet_testkit.citizen_pages import BROWSER, page_of
from labornet_testkit.harness import case_payload, publish_event, wait_until
from labornet_testkit.providers import FakeSmtpServer, FakeThaiBulkSms


def operator_headers(config: dict[str, Any]) -> dict[str, str]:
    token = issue_token(config["TOKEN_SECRET"], "operator", name="ops")
    return {"Authorization": f"Bearer {token}"}


def closing_event(reference: str) -> Any:
    """routing's ``case_closed`` for a case with no referral left open."""
    return make_event(
        "case_closed",
        {
            "reference": reference,
            "referrals": [],
            "outcomes": {},
            "closed_at": "2026-11-26T08:00:00+00:00",
        },
        reference,
    )


def sms_settings(gateway: Any, intake: Any = None) -> dict[str, Any]:
    """notify's settings for SMS through the fake gateway, at once (no quiet
    hours, a quick sender) and, with ``intake``, its follow-page links."""
    settings: dict[str, Any] = {
        "SMS_API_KEY": "k",
        "SMS_API_SECRET": "s",
        "SMS_BASE_URL": gateway.url,
        "SMS_QUIET_HOURS": "",
        "DELIVERY_POLL_SECONDS": 0.1,
    }
    if intake is not None:
        settings["FOLLOW_URL"] = intake.base_url + "/t/<reference>?lang=<language>"
    return settings


def test_the_citizen_gets_their_sms_and_rates_the_service(
    start_intake, start_notify, intake_config, notify_config, broker
) -> None:
    with FakeThaiBulkSms(api_key="k", api_secret="s") as gateway:
        intake = start_intake()
        notify = start_notify(
            **sms_settings(gateway, intake),
            # a link without <language> is sent as configured
            FEEDBACK_URL=intake.base_url + "/f/<reference>?t=<token>",
        )
        body = case_payload(random.Random(3))
        body["citizen"].update(contact_channel="sms", language="my")
        phone = body["citizen"]["phone"]
        created = intake.post("/v1/cases", json=body)
        assert created.status_code == 201, created.text
        reference = created.json()["reference"]
        code = created.json()["tracking_code"]

        def texts() -> list[str]:
            return gateway.messages_to("+66" + phone.lstrip("0"))

        (receipt,) = wait_until(texts, timeout=20)
        assert reference in receipt and code in receipt
        # its link asks the code (it carries none), in the citizen's language;
        # the code from the same SMS shows the case
        follow = re.search(r"http://\S+/t/\S+", receipt)
        assert follow and follow.group(0).endswith(f"/t/{reference}?lang=my")
        asked = page_of(intake.get(follow.group(0), headers=BROWSER), 200)
        assert asked.lang == "my" and code not in " ".join(asked.words)
        typed = re.findall(r"\b[A-Z2-7]{5}-[A-Z2-7]{5}\b", receipt)
        shown = intake.post(
            urljoin(follow.group(0), asked.form()["action"]),
            data={**asked.hidden(), "code": typed[0]},
            headers=BROWSER,
        )
        status = page_of(shown, 200)
        assert f"ကိစ္စ {reference}" in status.words and status.forms == []
        assert "လူကြီးမင်း၏ ကိစ္စကို လက်ခံရရှိပါပြီ" in status.words
        # notify keeps who and how, never the number itself
        listed = notify.get(
            "/v1/deliveries",
            params={"reference": reference},
            headers=operator_headers(notify_config),
        ).json()["deliveries"]
        citizen = [d for d in listed if d["recipient_kind"] == "citizen"]
        assert citizen[0]["sent_channel"] == "sms"
        assert phone[-4:] in citizen[0]["address"]
        assert phone[1:-4] not in citizen[0]["address"].replace(" ", "")

        # routing closes the case: the citizen is asked to rate the service
        publish_event(broker["AMQP_URI"], closing_event(reference))
        wait_until(lambda: len(texts()) >= 2, timeout=20)
        link = re.search(r"(http://\S+/f/\S+\?t=([A-Za-z0-9_\-]+))", texts()[1])
        assert link, texts()[1]
        # the link opens intake's page with the form (in Thai: no lang=)
        page = intake.get(link.group(1), headers={"Accept": "text/html"})
        assert page.status_code == 200, page.text
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        assert f'name="token" value="{link.group(2)}"' in page.text
        answer = intake.post(
            f"/v1/cases/{reference}/feedback",
            json={"token": link.group(2), "rating": 5, "solved": True},
        )
        assert answer.status_code == 201, answer.text
        again = intake.post(
            f"/v1/cases/{reference}/feedback",
            json={"token": link.group(2), "rating": 1, "solved": False},
        )
        assert again.status_code == 409
        for api in (intake, notify):
            api.close()


def test_nothing_is_sent_once_the_citizen_s_data_is_erased(
    start_intake, start_notify, intake_config, notify_config, broker
) -> None:
    with FakeThaiBulkSms(api_key="k", api_secret="s") as gateway:
        intake = start_intake()
        # the sender looks for due deliveries every 3 s: the erasure below
        # comes before its first look at this case
        notify = start_notify(**{**sms_settings(gateway), "DELIVERY_POLL_SECONDS": 3})
        body = case_payload(random.Random(4))
        body["citizen"]["contact_channel"] = "sms"
        created = intake.post("/v1/cases", json=body)
        assert created.status_code == 201, created.text
        reference = created.json()["reference"]
        erased = intake.delete(
            f"/v1/cases/{reference}/personal-data",
            headers=operator_headers(intake_config),
        )
        assert erased.status_code == 204

        def skipped() -> list[dict[str, Any]]:
            return [
                d
                for d in notify.get(
                    "/v1/deliveries",
                    params={"reference": reference},
                    headers=operator_headers(notify_config),
                ).json()["deliveries"]
                if d["recipient_kind"] == "citizen" and d["status"] == "skipped"
            ]

        (row,) = wait_until(skipped, timeout=20)
        assert row["last_error"] == "personal data erased"
        assert gateway.sent == []
        for api in (intake, notify):
            api.close()


def test_the_citizen_who_chose_e_mail_gets_one_e_mail_per_event(
    start_intake, start_notify, notify_config, broker, caplog
) -> None:
    """Through the running notify to a real SMTP server: one e-mail per event
    (a redelivered event sends nothing more), Thai subjects encoded for
    transport, plain text and HTML, the configured sender; notify keeps the
    address masked, in its tables and its logs."""
    caplog.set_level(logging.DEBUG, logger="labornet")
    address = "somchai.jaidee@example.co.th"
    sender = "กระทรวงแรงงาน <noreply@mol.example>"
    with FakeSmtpServer() as smtp:
        intake = start_intake()
        notify = start_notify(
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=smtp.port,
            SMTP_STARTTLS="false",
            SMTP_SENDER=sender,
            DELIVERY_POLL_SECONDS=0.1,
            FEEDBACK_URL=intake.base_url + "/f/<reference>?t=<token>",
        )
        body = case_payload(random.Random(5))
        body["citizen"].update(email=address, contact_channel="email", language="th")
        created = intake.post("/v1/cases", json=body)
        assert created.status_code == 201, created.text
        reference = created.json()["reference"]
        code = created.json()["tracking_code"]
        assert len(wait_until(lambda: smtp.messages_to(address), timeout=20)) == 1

        closed = closing_event(reference)
        publish_event(broker["AMQP_URI"], closed)
        publish_event(broker["AMQP_URI"], closed)  # redelivered

        def citizen_rows(status: str) -> list[dict[str, Any]]:
            rows = notify.get(
                "/v1/deliveries",
                params={"reference": reference},
                headers=operator_headers(notify_config),
            ).json()["deliveries"]
            return [
                r
                for r in rows
                if r["recipient_kind"] == "citizen" and r["status"] == status
            ]

        wait_until(lambda: len(citizen_rows("sent")) == 2, timeout=20)
        mails = smtp.messages_to(address)
        assert len(mails) == 2, [m.message["Subject"] for m in mails]
        subjects = [  # the receipt, then the closing with its rate-us link
            f"ได้รับเรื่องของท่านแล้ว เลขที่ {reference}",
            f"เรื่องเลขที่ {reference} ดำเนินการเสร็จสิ้นแล้ว โปรดประเมินบริการ",
        ]
        for mail, subject in zip(mails, subjects, strict=True):
            assert (mail.mail_from, mail.rcpt_tos) == ("noreply@mol.example", [address])
            raw = mail.data.decode("ascii")  # 7-bit on the wire, Thai included
            [header] = re.findall(r"^Subject:(.*(?:\r?\n[ \t].*)*)", raw, re.M)
            assert "=?utf-8?" in header.lower()
            assert str(make_header(decode_header(header))) == subject
            message = mail.message
            assert message["Subject"] == subject
            assert message["From"] == sender and message["To"] == address
            assert message.get_content_type() == "multipart/alternative"
            plain = message.get_body(("plain",))
            rich = message.get_body(("html",))
            assert plain is not None and rich is not None
            assert reference in plain.get_content()
            assert reference in rich.get_content()
        assert code in mails[0].message.get_body(("plain",)).get_content()

        # the closing e-mail's button opens the feedback page
        rich_text = mails[1].message.get_body(("html",)).get_content()
        [link] = re.findall(r'href="([^"]*/f/[^"]*)"', rich_text)
        page = intake.get(html.unescape(link))
        assert page.status_code == 200 and 'name="rating"' in page.text

        # notify keeps the address masked: its answer, its tables, its logs
        rows = citizen_rows("sent")
        assert {(r["sent_channel"], r["address"]) for r in rows} == {
            ("email", "s***@e***.th")
        }
        operator = operator_headers(notify_config)
        assert address not in notify.get("/v1/deliveries", headers=operator).text
        engine = create_engine(normalise_url(notify_config["DATABASE_URL"]))
        with engine.connect() as connection:
            for table in inspect(connection).get_table_names():
                for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                    assert address not in str(tuple(row)), table
        engine.dispose()
        logged = [r.getMessage() for r in caplog.records]
        assert logged and not [line for line in logged if address in line]
        for api in (intake, notify):
            api.close()


MYANMAR_WAGES = "အလုပ်ရှင်က လစာ နှစ်လ မပေးသေးပါ။ ชลบุรี ကျေးဇူးပြု၍ ကူညီပါ။"


def receipt_sms(language: str, reference: str, code: str, follow: str) -> str:
    """The receipt SMS as ``language``'s template writes it."""
    context = {"reference": reference, "tracking_code": code, "follow_url": follow}
    rendered = render("case_received", "sms", language, context)
    assert rendered.language == language  # a template of its own, no fallback
    return rendered.text


def test_a_myanmar_worker_who_chooses_no_language_hears_in_myanmar(
    start_intake, start_routing, start_notify, intake_config, notify_config, broker
) -> None:
    """No language given, a description in Myanmar: intake records Myanmar,
    not chosen; the receipt is the Myanmar template's SMS; routing screens
    Myanmar too, and the referral SMS that follows is in Myanmar."""
    with FakeThaiBulkSms(api_key="k", api_secret="s") as gateway:
        intake = start_intake()
        start_routing()
        notify = start_notify(**sms_settings(gateway, intake))
        body = case_payload(random.Random(8), description=MYANMAR_WAGES)
        del body["citizen"]["language"]
        body["citizen"]["contact_channel"] = "sms"
        created = intake.post("/v1/cases", json=body)
        assert created.status_code == 201, created.text
        reference = created.json()["reference"]
        code = created.json()["tracking_code"]
        phone = body["citizen"]["phone"]

        def texts() -> list[str]:
            return gateway.messages_to("+66" + phone.lstrip("0"))

        sent = wait_until(lambda: len(texts()) >= 2 and texts(), timeout=40)
        # the receipt carries the tracking code; the referral's message not
        [receipt] = [t for t in sent if code in t]
        [referred] = [t for t in sent if code not in t]
        follow = f"{intake.base_url}/t/{reference}?lang=my"
        assert receipt == receipt_sms("my", reference, code, follow)
        # routing's screening read Myanmar: the referral's message is in it
        assert written_language(referred) == "my", referred
        assert follow in referred
        rows = notify.get(
            "/v1/deliveries",
            params={"reference": reference},
            headers=operator_headers(notify_config),
        ).json()["deliveries"]
        assert {
            r["message"]: r["language"]
            for r in rows
            if r["recipient_kind"] == "citizen"
        } == {"case_received": "my", "case_referred": "my"}
        whole = intake.get(
            f"/v1/cases/{reference}", headers=operator_headers(intake_config)
        )
        assert whole.status_code == 200, whole.text
        assert (whole.json()["language"], whole.json()["language_chosen"]) == (
            "my",
            False,
        )
        for api in (intake, notify):
            api.close()


def test_a_citizen_who_chose_english_but_wrote_thai_hears_in_english(
    start_intake, start_notify, broker
) -> None:
    with FakeThaiBulkSms(api_key="k", api_secret="s") as gateway:
        intake = start_intake()
        notify = start_notify(**sms_settings(gateway, intake))
        body = case_payload(
            random.Random(9), description="นายจ้างค้างจ่ายค่าจ้างสองเดือน รวม 24,000 บาท"
        )
        body["citizen"].update(language="en", contact_channel="sms")
        created = intake.post("/v1/cases", json=body)
        assert created.status_code == 201, created.text
        reference = created.json()["reference"]
        code = created.json()["tracking_code"]
        phone = body["citizen"]["phone"]

        (receipt,) = wait_until(
            lambda: gateway.messages_to("+66" + phone.lstrip("0")), timeout=20
        )
        follow = f"{intake.base_url}/t/{reference}?lang=en"
        assert receipt == receipt_sms("en", reference, code, follow)
        for api in (intake, notify):
            api.close()
