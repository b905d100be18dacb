"""notify's channels against local servers that speak the real protocols.

Every test here goes over real HTTP or SMTP to a fake provider
(``labornet_testkit.providers``); nothing is patched. Time is injected where the
answer depends on it (Retry-After dates, the rate limiter).
"""

from __future__ import annotations

import base64
import socket
import time
import uuid
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from labornet_notify.channels import (
    LineChannel,
    Message,
    RateLimiter,
    SmtpChannel,
    ThaiBulkSmsChannel,
    UnsafeUrl,
    WebhookChannel,
    check_webhook_url,
    email_message_id,
    fit_sms,
    generate_webhook_secret,
    line_retry_key,
    mask_email,
    mask_line_id,
    mask_recipient,
    sign_webhook,
    sms_encoding,
    sms_segments,
)
from labornet_testkit.providers import (
    FakeLineApi,
    FakeSmtpServer,
    FakeThaiBulkSms,
    WebhookReceiver,
    client_ssl_context,
    self_signed_certificate,
)

REFERENCE = "LN-2569-00001234"
TRACKING_URL = "https://labornet.mol.go.th/t/4LB7N-SYDZF"
CITIZEN_PHONE = "+66812345678"
LINE_USER = "U4af4980629a1b2c3d4e5f60718293a4b"
SENDER = "LABORNET"


def message(**overrides: object) -> Message:
    """A realistic message; keyword arguments override."""
    fields: dict[str, object] = {
        "to": CITIZEN_PHONE,
        "text": f"กรมการจัดหางานได้รับเรื่อง {REFERENCE} ของท่านแล้ว ติดตามได้ที่ {TRACKING_URL}",
        "idempotency_key": str(uuid.uuid4()),
        "subject": f"ได้รับเรื่อง {REFERENCE} แล้ว",
    }
    fields.update(overrides)
    return Message(**fields)  # type: ignore[arg-type]


def long_thai_text() -> str:
    """A case update far longer than three SMS parts."""
    return (
        f"เรื่อง {REFERENCE} ส่งต่อให้สำนักงานประกันสังคมจังหวัดลำปางแล้ว "
        + "เจ้าหน้าที่จะติดต่อกลับภายในสองวันทำการ กรุณาเตรียมสำเนาบัตรประชาชน " * 6
        + f"ติดตามได้ที่ {TRACKING_URL}"
    )


# --- fixtures --------------------------------------------------------------------


@pytest.fixture
def sms_gateway():
    with FakeThaiBulkSms(senders={SENDER}, bad_numbers=["0899999999"]) as fake:
        yield fake


def sms_channel(gateway: FakeThaiBulkSms, **overrides: object) -> ThaiBulkSmsChannel:
    options: dict[str, object] = {
        "base_url": gateway.url,
        "api_key": gateway.api_key,
        "api_secret": gateway.api_secret,
        "sender": SENDER,
        "timeout": 5.0,
    }
    options.update(overrides)
    return ThaiBulkSmsChannel(**options)  # type: ignore[arg-type]


@pytest.fixture
def line_api():
    with FakeLineApi() as fake:
        yield fake


def line_channel(api: FakeLineApi, **overrides: object) -> LineChannel:
    options: dict[str, object] = {
        "base_url": api.url,
        "access_token": api.access_token,
        "timeout": 5.0,
    }
    options.update(overrides)
    return LineChannel(**options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    made = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    if made is None:
        pytest.skip("neither cryptography nor openssl: TLS tested for configuration")
    return made


@pytest.fixture
def smtp_server():
    with FakeSmtpServer() as server:
        yield server


def email(**overrides: object) -> Message:
    fields: dict[str, object] = {
        "to": "somchai.j@example.com",
        "html": f"<p>ได้รับเรื่อง <b>{REFERENCE}</b> แล้ว</p>"
        f'<p><a href="{TRACKING_URL}">ติดตามเรื่อง</a></p>',
    }
    fields.update(overrides)
    return message(**fields)


class FakeClock:
    """Time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# --- SMS: ThaiBulkSMS ------------------------------------------------------------


def test_sms_accepted_by_the_gateway(sms_gateway):
    result = sms_channel(sms_gateway).send(message())

    assert result.accepted and not result.retry and result.permanent_error is None
    [sms] = sms_gateway.sent
    assert result.provider_message_id == sms.message_id
    assert (sms.msisdn, sms.sender, sms.force) == ("66812345678", SENDER, "corporate")
    assert sms.message == message().text
    [request] = sms_gateway.requests
    assert request.headers["content-type"].startswith(
        "application/x-www-form-urlencoded"
    )


def test_sms_to_a_bad_number_fails_at_once(sms_gateway):
    result = sms_channel(sms_gateway).send(message(to="+66899999999"))

    assert not result.accepted and not result.retry
    assert result.permanent_error == "bad_phone_number"
    assert sms_gateway.sent == []
    assert "899999999" not in result.provider_response


def test_sms_to_a_landline_is_refused_by_the_gateway(sms_gateway):
    result = sms_channel(sms_gateway).send(message(to="+6621234567"))

    assert result.permanent_error == "bad_phone_number"
    assert len(sms_gateway.requests) == 1  # the gateway said so, not notify


def test_sms_to_something_that_is_no_phone_number_is_not_sent(sms_gateway):
    result = sms_channel(sms_gateway).send(message(to="call me maybe"))

    assert result.permanent_error == "bad_phone_number"
    assert sms_gateway.requests == []


def test_sms_with_wrong_credentials_fails_permanently(sms_gateway):
    result = sms_channel(sms_gateway, api_secret="not-the-secret").send(message())

    assert not result.accepted and not result.retry
    assert result.permanent_error == "http_401"
    assert "UNAUTHORIZED" in result.provider_response
    assert sms_gateway.sent == []


def test_sms_gateway_503_is_retried_and_the_retry_sends_once(sms_gateway):
    channel = sms_channel(sms_gateway)
    sms_gateway.fail_next(1, status=503)

    first = channel.send(message())
    second = channel.send(message())

    assert first.retry and not first.accepted and first.permanent_error is None
    assert second.accepted
    assert len(sms_gateway.sent) == 1


def test_sms_429_honours_retry_after_seconds(sms_gateway):
    sms_gateway.fail_next(1, status=429, retry_after=30)

    result = sms_channel(sms_gateway).send(message())

    assert result.retry and result.retry_after == 30


def test_retry_after_as_an_http_date_is_read_against_now(sms_gateway):
    now = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)
    sms_gateway.fail_next(1, status=503, retry_after="Thu, 26 Nov 2026 10:02:00 GMT")

    result = sms_channel(sms_gateway, now=lambda: now).send(message())

    assert result.retry and result.retry_after == 120


def test_sms_timeout_is_retried_and_may_have_been_delivered(sms_gateway):
    sms_gateway.slow(3.0)

    result = sms_channel(sms_gateway, timeout=0.2).send(message())

    assert result.retry and not result.accepted
    assert result.maybe_delivered


def test_sms_gateway_down_is_retried_then_sends_when_up(sms_gateway):
    channel = sms_channel(sms_gateway)
    sms_gateway.down()

    down = channel.send(message())
    sms_gateway.up()
    up = channel.send(message())

    assert down.retry and not down.maybe_delivered
    assert up.accepted and len(sms_gateway.sent) == 1


def test_long_sms_is_shortened_to_the_configured_parts(sms_gateway):
    result = sms_channel(sms_gateway, max_segments=2).send(
        message(text=long_thai_text())
    )

    assert result.accepted
    [sms] = sms_gateway.sent
    assert sms.used_credit == 2
    assert REFERENCE in sms.message and TRACKING_URL in sms.message


# --- SMS segment rules -------------------------------------------------------------


def test_thai_is_ucs2_in_70_or_parts_of_67():
    assert sms_encoding("สวัสดี") == "ucs2"
    assert len(sms_segments("ก" * 70)) == 1
    assert [len(p) for p in sms_segments("ก" * 71)] == [67, 4]
    assert [len(p) for p in sms_segments("ก" * 134)] == [67, 67]


def test_english_is_gsm7_in_160_or_parts_of_153():
    assert sms_encoding("Your case was received.") == "gsm7"
    assert len(sms_segments("a" * 160)) == 1
    assert [len(p) for p in sms_segments("a" * 161)] == [153, 8]


def test_gsm7_extension_characters_count_twice_and_are_never_split():
    assert len(sms_segments("€" * 80)) == 1  # 160 septets
    parts = sms_segments("a" + "€" * 80)  # 161 septets
    assert [len(p) for p in parts] == [77, 4]  # 1 + 76 × 2 = 153


def test_emoji_takes_two_ucs2_units():
    assert len(sms_segments("ก" * 68 + "😀")) == 1
    assert len(sms_segments("ก" * 69 + "😀")) == 2


def test_a_text_that_fits_is_left_alone():
    text = message().text

    assert fit_sms(text, len(sms_segments(text))) == text


def test_long_thai_text_is_shortened_keeping_reference_and_url_whole():
    text = long_thai_text()
    assert len(sms_segments(text)) > 3

    short = fit_sms(text, 3)

    assert len(sms_segments(short)) <= 3
    assert REFERENCE in short and TRACKING_URL in short
    assert "…" in short
    # the text's own words, in order; the last may be the start of a run of
    # Thai words written without spaces
    kept, words = short.split("…")[0].split(), text.split()
    assert kept[:-1] == words[: len(kept) - 1]
    assert words[len(kept) - 1].startswith(kept[-1])


def test_a_url_after_the_cut_is_kept_after_the_ellipsis():
    text = long_thai_text()

    short = fit_sms(text, 1)

    assert len(sms_segments(short)) <= 1
    assert short.endswith(TRACKING_URL) and REFERENCE in short


def test_english_is_shortened_on_a_word_with_a_gsm7_ellipsis():
    text = (
        f"Your case {REFERENCE} was sent to the Social Security Office of Lampang. "
        + "An officer will call you within two working days. " * 8
        + f"Follow it at {TRACKING_URL}"
    )

    short = fit_sms(text, 2)

    assert len(sms_segments(short)) <= 2
    assert sms_encoding(short) == "gsm7"  # "…" would have made it UCS-2
    assert TRACKING_URL in short and REFERENCE in short
    head = short.split("...")[0]
    assert head.split()[-1] in text.split()


def test_a_run_of_thai_without_spaces_is_cut_between_letters_not_marks():
    text = f"{REFERENCE} " + "เจ้าหน้าที่จะติดต่อกลับภายในสองวันทำการ" * 10

    short = fit_sms(text, 1)

    assert len(sms_segments(short)) == 1 and short.startswith(REFERENCE)
    before_ellipsis = short.split("…")[0]
    assert not before_ellipsis.endswith(("เ", "แ", "โ", "ใ", "ไ"))
    assert before_ellipsis[-1] not in "่้๊๋ัิีึืุู็์"


# --- LINE ------------------------------------------------------------------------


def test_line_push_retried_with_the_same_key_is_shown_once(line_api):
    channel = line_channel(line_api)
    push = message(to=LINE_USER)

    first = channel.send(push)
    again = channel.send(push)

    assert first.accepted and again.accepted
    assert "409" in again.provider_response
    assert again.provider_message_id == first.provider_message_id
    assert line_api.shown_to(LINE_USER) == [push.text]
    assert [r.status for r in line_api.requests] == [200, 409]


def test_line_retry_key_is_a_stable_uuid_of_the_delivery(line_api):
    line_channel(line_api).send(message(to=LINE_USER, idempotency_key="delivery-42"))

    [push] = line_api.pushes
    assert push.retry_key == line_retry_key("delivery-42")
    assert uuid.UUID(line_retry_key("delivery-42"))
    assert line_retry_key("delivery-42") != line_retry_key("delivery-43")
    delivery_uuid = str(uuid.uuid4())
    assert line_retry_key(delivery_uuid) == delivery_uuid


def test_line_5xx_is_retried_and_the_retry_is_shown(line_api):
    channel = line_channel(line_api)
    push = message(to=LINE_USER)
    line_api.fail_next(1, status=500)

    failed = channel.send(push)
    retried = channel.send(push)

    assert failed.retry and retried.accepted
    assert line_api.shown_to(LINE_USER) == [push.text]


def test_line_rate_limit_is_retried_after_the_pause_asked(line_api):
    line_api.fail_next(1, status=429, retry_after=5)

    result = line_channel(line_api).send(message(to=LINE_USER))

    assert result.retry and result.retry_after == 5


def test_line_monthly_limit_is_not_retried(line_api):
    line_api.fail_next(
        1, status=429, body={"message": "You have reached your monthly limit."}
    )

    result = line_channel(line_api).send(message(to=LINE_USER))

    assert not result.retry and result.permanent_error == "monthly_limit"


def test_line_wrong_token_and_bad_user_id_fail_permanently(line_api):
    wrong_token = line_channel(line_api, access_token="expired").send(
        message(to=LINE_USER)
    )
    bad_user = line_channel(line_api).send(message(to="not-a-line-user"))

    assert wrong_token.permanent_error == "http_401"
    assert bad_user.permanent_error == "http_400"
    assert line_api.pushes == []


# --- e-mail ----------------------------------------------------------------------


def smtp_channel(server: FakeSmtpServer, **overrides: object) -> SmtpChannel:
    options: dict[str, object] = {
        "host": "127.0.0.1",
        "port": server.port,
        "sender": "labornet <no-reply@labornet.mol.go.th>",
        "starttls": False,
        "timeout": 5.0,
    }
    options.update(overrides)
    return SmtpChannel(**options)  # type: ignore[arg-type]


def test_email_carries_plain_text_and_html(smtp_server):
    mail = email()

    result = smtp_channel(smtp_server).send(mail)

    assert result.accepted
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["somchai.j@example.com"]
    assert received.mail_from == "no-reply@labornet.mol.go.th"
    parsed = received.message
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["Subject"] == mail.subject
    plain = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    assert plain.get_content().strip() == mail.text
    assert html.get_content().strip() == mail.html
    assert parsed["Auto-Submitted"] == "auto-generated"


def test_email_message_id_is_the_same_on_a_resend(smtp_server):
    channel = smtp_channel(smtp_server)
    mail = email(idempotency_key="delivery-7")

    first = channel.send(mail)
    second = channel.send(mail)

    expected = email_message_id("delivery-7", "labornet.mol.go.th")
    assert first.provider_message_id == second.provider_message_id == expected
    assert [m.message["Message-ID"] for m in smtp_server.messages] == [expected] * 2


def test_email_without_html_is_plain_text(smtp_server):
    smtp_channel(smtp_server).send(email(html=None))

    [received] = smtp_server.messages
    assert received.message.get_content_type() == "text/plain"


def test_email_4xx_is_retried_and_5xx_fails_permanently(smtp_server):
    channel = smtp_channel(smtp_server)
    smtp_server.fail_next(1, code=451)
    smtp_server.fail_next(1, code=550)

    transient = channel.send(email())
    permanent = channel.send(email())

    assert transient.retry and transient.permanent_error is None
    assert permanent.permanent_error == "smtp_550" and not permanent.retry
    assert smtp_server.messages == []
    assert "example.com" not in permanent.provider_response


def test_email_to_something_that_is_no_address_is_not_sent(smtp_server):
    result = smtp_channel(smtp_server).send(email(to="somchai at home\r\nBcc: x@y.z"))

    assert result.permanent_error == "bad_email_address"
    assert smtp_server.messages == []


def test_email_server_down_is_retried(smtp_server):
    smtp_server.down()

    result = smtp_channel(smtp_server).send(email())

    assert result.retry and not result.maybe_delivered


def test_email_over_starttls_with_login(certificate):
    with FakeSmtpServer(
        tls=certificate, require_starttls=True, credentials=("notify", "s3cret")
    ) as server:
        channel = smtp_channel(
            server,
            host="localhost",
            starttls=True,
            ssl_context=client_ssl_context(certificate[0]),
            username="notify",
            password="s3cret",
        )

        result = channel.send(email())

    assert result.accepted
    [received] = server.messages
    assert received.tls and received.login == "notify"


def test_email_with_a_wrong_smtp_password_fails_permanently(certificate):
    with FakeSmtpServer(tls=certificate, credentials=("notify", "s3cret")) as server:
        result = smtp_channel(
            server,
            host="localhost",
            starttls=True,
            ssl_context=client_ssl_context(certificate[0]),
            username="notify",
            password="wrong",
        ).send(email())

    assert result.permanent_error == "smtp_535"
    assert server.messages == []


def test_starttls_configured_but_not_offered_sends_nothing(smtp_server):
    result = smtp_channel(smtp_server, starttls=True).send(email())

    assert result.permanent_error == "starttls_not_supported"
    assert smtp_server.messages == []


def test_starttls_with_an_untrusted_certificate_sends_nothing(certificate):
    with FakeSmtpServer(tls=certificate, require_starttls=True) as server:
        result = smtp_channel(server, host="localhost", starttls=True).send(email())

    assert result.retry and not result.accepted
    assert server.messages == []


# --- webhooks: signatures --------------------------------------------------------


def test_a_signature_verifies_with_standardwebhooks():
    secret = generate_webhook_secret()
    body = '{"type": "referral_issued", "reference": "LN-2569-00001234"}'

    headers = sign_webhook([secret], "msg_2nXlHc5Ia0", int(time.time()), body)

    assert Webhook(secret).verify(body, headers)["type"] == "referral_issued"
    assert headers["webhook-id"] == "msg_2nXlHc5Ia0"


def test_two_secrets_during_rotation_give_two_signatures_each_valid():
    old, new = generate_webhook_secret(), generate_webhook_secret()
    body = '{"type": "case_closed"}'

    headers = sign_webhook([old, new], "msg_1", int(time.time()), body)

    assert len(headers["webhook-signature"].split(" ")) == 2
    assert all(s.startswith("v1,") for s in headers["webhook-signature"].split())
    assert Webhook(old).verify(body, headers) == Webhook(new).verify(body, headers)


def test_a_tampered_body_or_another_secret_fails_verification():
    secret = generate_webhook_secret()
    body = '{"status": "accepted"}'
    headers = sign_webhook([secret], "msg_1", int(time.time()), body)

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify('{"status": "rejected"}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_webhook_secret()).verify(body, headers)


def test_secrets_are_whsec_and_32_random_bytes():
    first, second = generate_webhook_secret(), generate_webhook_secret()

    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


# --- webhooks: delivery ----------------------------------------------------------


def hook(url: str, secrets: list[str], **overrides: object) -> Message:
    fields: dict[str, object] = {
        "to": url,
        "text": '{"type": "referral_issued", "reference": "LN-2569-00001234"}',
        "signing_secrets": tuple(secrets),
        "idempotency_key": f"msg_{uuid.uuid4().hex}",
    }
    fields.update(overrides)
    return Message(**fields)  # type: ignore[arg-type]


def test_webhook_is_delivered_and_verified_by_the_agency():
    secret = generate_webhook_secret()
    with WebhookReceiver([secret]) as agency:
        sent = hook(f"{agency.url}/labornet/hooks", [secret])

        result = WebhookChannel(allow_insecure_local=True, timeout=5).send(sent)

    assert result.accepted
    [received] = agency.received
    assert received.msg_id == sent.idempotency_key
    assert received.payload["reference"] == "LN-2569-00001234"
    assert received.path == "/labornet/hooks"


def test_during_rotation_an_agency_with_only_the_new_secret_verifies():
    old, new = generate_webhook_secret(), generate_webhook_secret()
    with WebhookReceiver([new]) as agency:
        result = WebhookChannel(allow_insecure_local=True).send(
            hook(f"{agency.url}/hooks", [old, new])
        )

    assert result.accepted and len(agency.received) == 1


def test_an_agency_refusing_the_signature_is_a_permanent_failure():
    with WebhookReceiver([generate_webhook_secret()]) as agency:
        result = WebhookChannel(allow_insecure_local=True).send(
            hook(f"{agency.url}/hooks", [generate_webhook_secret()])
        )

    assert result.permanent_error == "http_401"
    assert agency.received == [] and len(agency.refused) == 1


def test_an_agency_failing_is_retried_with_the_same_webhook_id():
    secret = generate_webhook_secret()
    with WebhookReceiver([secret]) as agency:
        channel = WebhookChannel(allow_insecure_local=True)
        sent = hook(f"{agency.url}/hooks", [secret])
        agency.fail_next(1, status=503, retry_after=10)

        failed = channel.send(sent)
        retried = channel.send(sent)

    assert failed.retry and failed.retry_after == 10
    assert retried.accepted
    assert agency.received_ids() == [sent.idempotency_key]


def test_webhook_goes_to_the_checked_address_with_the_name_as_host():
    secret = generate_webhook_secret()
    with WebhookReceiver([secret]) as agency:
        channel = WebhookChannel(
            allow_insecure_local=True, resolver=lambda host, port: ["127.0.0.1"]
        )

        result = channel.send(hook(f"http://agency.test:{agency.port}/hooks", [secret]))

        assert result.accepted
        assert agency.requests[0].headers["host"] == f"agency.test:{agency.port}"


def test_webhook_over_https_checks_the_certificate_of_the_name(certificate):
    secret = generate_webhook_secret()
    with WebhookReceiver([secret], tls=certificate) as agency:
        trusted = WebhookChannel(
            allow_insecure_local=True, ssl_context=client_ssl_context(certificate[0])
        ).send(hook(f"{agency.url}/hooks", [secret]))
        untrusted = WebhookChannel(allow_insecure_local=True).send(
            hook(f"{agency.url}/hooks", [secret])
        )

    assert agency.url.startswith("https://localhost:")
    assert trusted.accepted
    assert untrusted.retry and not untrusted.accepted
    assert len(agency.received) == 1


def test_a_name_rebound_to_an_inside_address_is_refused_at_send_time():
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])

    def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    url = "https://agency.example.org/hooks"
    secret = generate_webhook_secret()
    check_webhook_url(url, resolver=rebinding)  # when the subscription was made

    with WebhookReceiver([secret]) as agency:
        result = WebhookChannel(resolver=rebinding).send(hook(url, [secret]))

        assert agency.requests == []
    assert result.permanent_error == "unsafe_url"
    assert "loopback" in result.provider_response


def test_a_host_that_does_not_resolve_is_retried():
    def no_such_host(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    result = WebhookChannel(resolver=no_such_host).send(
        hook("https://agency.example.org/hooks", [generate_webhook_secret()])
    )

    assert result.retry


def test_a_webhook_message_without_secrets_is_a_programming_error():
    with pytest.raises(ValueError):
        WebhookChannel().send(hook("https://1.1.1.1/hooks", []))


# --- webhooks: where they may go -------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.1/hooks", "private"),
        ("https://10.0.0.1/hooks", "private"),
        ("https://127.0.0.1/hooks", "loopback"),
        ("https://[::1]/hooks", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "link_local"),
        ("https://localhost/hooks", "localhost"),
        ("https://api.localhost/hooks", "localhost"),
        ("https://192.168.1.20:8443/hooks", "private"),
        ("https://[::ffff:127.0.0.1]/hooks", "loopback"),
        ("https://[::ffff:10.0.0.1]/hooks", "private"),
        ("https://[fe80::1]/hooks", "link_local"),
        ("https://[fd00::1]/hooks", "private"),
        ("https://224.0.0.1/hooks", "multicast"),
        ("https://0.0.0.0/hooks", "unspecified"),
        ("https://100.64.0.1/hooks", "not_global"),
        ("https://2130706433/hooks", "loopback"),  # 127.0.0.1 as one number
        ("https://0x7f.1/hooks", "loopback"),
        ("https://0177.0.0.1/hooks", "loopback"),
        ("http://1.1.1.1/hooks", "scheme"),
        ("ftp://1.1.1.1/hooks", "scheme"),
        ("https://agency:secret@1.1.1.1/hooks", "credentials"),
    ],
)
def test_unsafe_webhook_urls_are_refused(url, reason):
    with pytest.raises(UnsafeUrl) as refused:
        check_webhook_url(url, allow_insecure_local=False)

    assert refused.value.reason == reason


def test_a_name_resolving_to_any_inside_address_is_refused():
    with pytest.raises(UnsafeUrl) as refused:
        check_webhook_url(
            "https://agency.example.org/hooks",
            resolver=lambda host, port: ["93.184.215.14", "10.20.0.5"],
        )

    assert refused.value.reason == "private"


@pytest.mark.parametrize(
    "url",
    [
        "https://1.1.1.1/hooks",
        "https://[2606:4700:4700::1111]/hooks",
        "https://1.1.1.1:8443/hooks?agency=sso",
    ],
)
def test_public_https_webhook_urls_are_accepted(url):
    # accepted: returns without raising UnsafeUrl
    assert check_webhook_url(url, allow_insecure_local=False) is None


def test_a_public_name_is_accepted():
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["164.115.22.10"]

    assert (
        check_webhook_url("https://hooks.sso.go.th/labornet", resolver=resolver) is None
    )
    assert asked == ["hooks.sso.go.th"]  # the name was resolved and its address checked


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "https://127.0.0.1/hooks",
        "http://localhost:9000/hooks",
        "https://localhost/hooks",
        "http://[::1]:8080/hooks",
    ],
)
def test_loopback_is_allowed_with_the_development_flag(url):
    with pytest.raises(UnsafeUrl):
        check_webhook_url(url, allow_insecure_local=False)

    check_webhook_url(
        url, allow_insecure_local=True, resolver=lambda host, port: ["127.0.0.1"]
    )


@pytest.mark.parametrize("url", ["http://10.0.0.1/hooks", "http://1.1.1.1/hooks"])
def test_the_development_flag_allows_loopback_only(url):
    with pytest.raises(UnsafeUrl):
        check_webhook_url(url, allow_insecure_local=True)


# --- masking ---------------------------------------------------------------------


def test_recipients_are_masked_for_storage_and_logs():
    assert mask_recipient("sms", CITIZEN_PHONE) == "+66 8x xxx 5678"
    assert mask_email("somchai.j@gmail.com") == "s***@g***.com"
    assert mask_recipient("email", "somchai.j@gmail.com") == "s***@g***.com"
    assert mask_line_id(LINE_USER) == "U…3a4b"
    assert mask_recipient("webhook", "https://hooks.sso.go.th/x?token=abc") == (
        "https://hooks.sso.go.th/…"
    )


def test_a_message_repr_shows_no_address_or_text():
    shown = repr(message())

    assert "812345678" not in shown and REFERENCE not in shown


# --- rate limiting ---------------------------------------------------------------


def test_a_burst_passes_at_once_then_is_smoothed_to_the_rate():
    clock = FakeClock()
    limiter = RateLimiter(10, burst=5, clock=clock, sleep=clock.sleep)

    finished = []
    for _ in range(105):
        assert limiter.acquire()
        finished.append(clock.now)

    assert finished[:5] == [0.0] * 5
    # the i-th message beyond the burst goes out no sooner than i/rate
    for i, moment in enumerate(finished[5:], start=1):
        assert moment >= i / 10 - 1e-9
    assert finished[-1] == pytest.approx(10.0)


def test_a_waiter_that_cannot_wait_long_enough_takes_nothing():
    clock = FakeClock()
    limiter = RateLimiter(2, burst=1, clock=clock, sleep=clock.sleep)
    assert limiter.acquire()

    assert not limiter.acquire(timeout=0.1)  # the next token is 0.5 s away
    assert not limiter.try_acquire()
    assert limiter.acquire(timeout=0.5)
    assert clock.sleeps == [0.5]


def test_concurrent_waiters_each_get_their_own_slot():
    import threading

    clock = FakeClock()
    waits: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:
        with lock:
            waits.append(round(seconds, 6))

    limiter = RateLimiter(10, burst=2, clock=clock, sleep=record)
    workers = [threading.Thread(target=limiter.acquire) for _ in range(12)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    # time stands still: two free tokens, then one slot every 0.1 s each
    assert sorted(waits) == [round(0.1 * i, 6) for i in range(1, 11)]
