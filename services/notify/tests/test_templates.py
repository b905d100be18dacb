"""Who hears what, and what they read: the audience table, the templates in
every language and channel, SMS lengths, escaping, the webhook body."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from labornet_notify import display_names
from labornet_notify import sender as sender_defaults
from labornet_notify.domain.audience import (
    AGENCY_WEBHOOKS,
    AGENT_PROJECTION_EVENTS,
    AREA_AGENTS,
    CASE_URL,
    CHANNELS,
    CITIZEN,
    CONSUMED_EVENTS,
    FEEDBACK_URL,
    FOLLOW_UP_AGENT,
    FOLLOW_URL,
    RECIPIENT_NAME,
    SUBMITTING_AGENT,
    TRACKING_CODE,
    WHO_HEARS_WHAT,
    Notice,
    channels_of,
    messages,
    notices_for,
)
from labornet_notify.models import AgentContact, Delivery
from labornet_notify.rendering import (
    RenderError,
    available,
    context_for,
    format_day,
    render,
    sms_segments,
)
from labornet_notify.sender import DeliverySender
from labornet_shared.config import load_service_config
from labornet_shared.events import (
    EVENT_TYPES,
    RESOLUTION_OUTCOMES,
    Event,
    make_event,
    parse_event,
)
from labornet_shared.tokens import verify_case_link_token

LANGUAGES = ("th", "en", "my")
ANSWERS = (
    ("accepted", None),
    ("rejected", None),
    ("in_progress", None),
    *(("resolved", outcome) for outcome in RESOLUTION_OUTCOMES),
)

# --- factories: events as intake and routing publish them ----------------------

_numbers = itertools.count(1234)


def new_reference() -> str:
    return f"LN-2569-{next(_numbers):08d}"


def referral(
    agency: str = "dlpw",
    province_code: str = "TH-52",
    status: str = "pending",
    categories: tuple[str, ...] = ("unpaid_wages",),
    agent_id: str | None = "0193f0c2-1111-7c3b-9a51-2f0c4d1e8a10",
    abroad: bool = False,
) -> dict[str, Any]:
    """A referral as routing's events name it."""
    office = f"{agency}.overseas" if abroad else f"{agency}.{province_code}"
    return {
        "referral_id": f"0193f0c2-7a6e-7c3b-9a51-{next(_numbers):012d}",
        "agency": agency,
        "province_code": province_code,
        "office": office,
        "categories": list(categories),
        "status": status,
        "due_accept_at": "2026-11-30T10:00:00+00:00",
        "due_resolve_at": "2026-12-17T10:00:00+00:00",
        "agent_id": agent_id,
    }


def case_received(reference: str | None = None, **overrides: Any) -> Event:
    reference = reference or new_reference()
    payload: dict[str, Any] = {
        "reference": reference,
        "category": "unpaid_wages",
        "description": "นายจ้างค้างจ่ายค่าจ้างสองเดือน รวม 24,000 บาท ขอให้ช่วยติดตาม",
        "location": {
            "province_code": "TH-52",
            "district_code": "5201",
            "subdistrict_code": "520105",
            "postcode": "52000",
            "lat": 18.29,
            "long": 99.49,
        },
        "channel": "field_agent",
        "language": "th",
        "language_chosen": True,
        "abroad_country": None,
        "submitted_by_agent_id": "0193f0c2-1111-7c3b-9a51-2f0c4d1e8a10",
        "received_at": "2026-11-26T03:15:00+00:00",
        **overrides,
    }
    return make_event("case_received", payload, reference)


def case_withdrawn(withdrawn_by: str = "citizen") -> Event:
    reference = new_reference()
    payload = {
        "reference": reference,
        "withdrawn_at": "2026-11-27T02:00:00+00:00",
        "withdrawn_by": withdrawn_by,
    }
    return make_event("case_withdrawn", payload, reference)


def case_routed(*referrals: dict[str, Any]) -> Event:
    reference = new_reference()
    payload = {
        "reference": reference,
        "screening": {
            "method": "lexicon",
            "needs_review": False,
            "labels": [
                {"category": "unpaid_wages", "score": 0.92, "evidence": ["ค้างจ่าย"]}
            ],
            "language": "th",
        },
        "referrals": list(referrals) or [referral()],
        "routed_at": "2026-11-26T03:16:00+00:00",
    }
    return make_event("case_routed", payload, reference)


def status_changed(
    status: str = "accepted",
    outcome: str | None = None,
    note: str | None = "รับเรื่องแล้ว จะนัดนายจ้างมาชี้แจงภายในสัปดาห์นี้",
    **where: Any,
) -> Event:
    reference = new_reference()
    payload = {
        "referral": referral(status=status, **where),
        "reference": reference,
        "previous_status": "pending"
        if status in ("accepted", "rejected")
        else "accepted",
        "note": note,
        "outcome": outcome,
        "changed_by": "dlpw.TH-52",
        "changed_at": "2026-11-27T07:30:00+00:00",
    }
    return make_event("referral_status_changed", payload, reference)


def referral_overdue(
    clock: str = "accept", agent_id: str | None = "agent-1", **where: Any
) -> Event:
    reference = new_reference()
    late = referral(status="pending", agent_id=agent_id, **where)
    payload = {
        "referral": late,
        "reference": reference,
        "clock": clock,
        "due_at": late["due_accept_at" if clock == "accept" else "due_resolve_at"],
        "escalated_to": referral(
            agency="ops", province_code=late["province_code"], agent_id=None
        ),
        "detected_at": "2026-11-30T10:00:30+00:00",
    }
    return make_event("referral_overdue", payload, reference)


def case_closed(*referrals: dict[str, Any]) -> Event:
    reference = new_reference()
    done = list(referrals) or [referral(status="resolved")]
    payload = {
        "reference": reference,
        "referrals": done,
        "outcomes": {
            r["referral_id"]: None if r["status"] == "withdrawn" else "resolved"
            for r in done
        },
        "closed_at": "2026-12-10T09:00:00+00:00",
    }
    return make_event("case_closed", payload, reference)


def referral_issued() -> Event:
    reference = new_reference()
    issued = referral(agency="sso", categories=("social_security_benefit",))
    payload = {
        "referral": issued,
        "reference": reference,
        "labels": [
            {
                "category": "social_security_benefit",
                "score": 0.81,
                "evidence": ["ว่างงาน"],
            }
        ],
        "needs_review": False,
        "description": "ถูกเลิกจ้าง อยากขอเงินว่างงาน",
        "location": {
            "province_code": "TH-52",
            "district_code": "5201",
            "subdistrict_code": "520105",
            "postcode": "52000",
            "lat": 18.29,
            "long": 99.49,
        },
        "abroad_country": None,
        "channel": "phone",
        "language": "th",
        "follow_up_agent": None,
        "hop": 0,
        "escalated_from": None,
        "issued_at": "2026-11-26T03:16:00+00:00",
    }
    return make_event("referral_issued", payload, reference)


def facts_for(notice: Notice, event: Event) -> dict[str, Any]:
    """What the sender fetches for this notice, and nothing more."""
    reference = event.payload["reference"]
    known = {
        TRACKING_CODE: "4LB7N-SYDZF",
        FOLLOW_URL: f"https://labornet.mol.go.th/track/{reference}",
        # a signed single-use token, as short as intake can make it
        FEEDBACK_URL: "https://labornet.mol.go.th/f/q7Xb2LmP9vKc4RtY8wNs1EoJ6hZu3GaD5fVi0TyWkQe",
        # one agent's signed 14-day token (56 characters for a UUID agent id)
        CASE_URL: f"https://labornet.mol.go.th/a/{reference}"
        "?t=AQoJAAAE0msa2_ofBl1j_BtOQ5dHJyX3KtM8O0rrcpAcX2qJ7R02L4I5&lang=th",
        RECIPIENT_NAME: "สมชาย ใจดี",
    }
    return {fact: known[fact] for fact in notice.template_facts}


def variants(event_type: str) -> Iterator[Event]:
    """Realistic events of a type, covering what changes the wording."""
    if event_type == "case_received":
        yield case_received()
        yield case_received(category=None, channel="phone")
        yield case_received(
            location={
                "province_code": "TH-10",
                "district_code": None,
                "subdistrict_code": "100101",
                "postcode": "10200",
                "lat": 13.75,
                "long": 100.49,
            },
            abroad_country="TW",
            category="overseas_employment",
        )
    elif event_type == "case_withdrawn":
        yield case_withdrawn("citizen")
        yield case_withdrawn("operator")
    elif event_type == "case_routed":
        yield case_routed(referral())
        yield case_routed(
            referral("dlpw", categories=("termination_severance",)),
            referral("sso", categories=("social_security_benefit",)),
            referral("doe", categories=("job_seeking",)),
        )
        yield case_routed(
            referral("doe", abroad=True, categories=("overseas_employment",))
        )
        yield case_routed(referral("tosh", "TH-10", categories=("workplace_safety",)))
    elif event_type == "referral_status_changed":
        for status, outcome in ANSWERS:
            yield status_changed(status, outcome)
        yield status_changed(
            "accepted", note=None, agency="tosh", province_code="TH-10"
        )
    elif event_type == "referral_overdue":
        yield referral_overdue("accept")
        yield referral_overdue("resolve", agency="sso", province_code="TH-14")
    elif event_type == "case_closed":
        yield case_closed()
        yield case_closed(
            referral("dlpw", status="resolved"), referral("sso", status="withdrawn")
        )
    elif event_type == "referral_issued":
        yield referral_issued()


def rendered_notices() -> list[tuple[Notice, str, str]]:
    """Every (notice, channel, language) a person reads."""
    return [
        (notice, channel, language)
        for notice in WHO_HEARS_WHAT
        for channel in CHANNELS[notice.to]
        if channel != "webhook"
        for language in LANGUAGES
    ]


def _id(value: Any) -> str:
    return f"{value.to}-{value.message}" if isinstance(value, Notice) else str(value)


def texts(rendered: Any) -> list[str]:
    return [t for t in (rendered.subject, rendered.text, rendered.html) if t]


# --- the templates ---------------------------------------------------------------


@pytest.mark.parametrize(("notice", "channel", "language"), rendered_notices(), ids=_id)
def test_every_message_renders_in_its_channels_and_languages(
    notice: Notice, channel: str, language: str
) -> None:
    for event in variants(notice.event_type):
        if not notice.applies_to(event.payload):
            continue
        facts = facts_for(notice, event)
        out = render(notice.message, channel, language, context_for(event, facts))
        assert out.language == language
        for text in texts(out):
            assert "{{" not in text and "{%" not in text and "}}" not in text
            assert "Undefined" not in text and "None" not in text
            assert event.payload["reference"] in text
        if channel == "email":
            assert out.subject and out.html and out.html.startswith("<!DOCTYPE html>")
            assert f'lang="{language}"' in out.html
        else:
            assert out.subject is None and out.html is None
        # the link the message promises is in it
        for fact in (FOLLOW_URL, FEEDBACK_URL, CASE_URL):
            if fact in facts and channel != "sms":
                assert facts[fact] in out.text
        if notice.message == "case_received":
            assert facts[TRACKING_CODE] in out.text
        if notice.message == "case_closed_rate_us":
            assert facts[FEEDBACK_URL] in out.text


def test_an_office_answer_names_the_office_and_what_it_did() -> None:
    event = status_changed("resolved", "not_eligible", province_code="TH-10")
    context = context_for(event, {FOLLOW_URL: "https://labornet.mol.go.th/track"})
    th = render("agency_answered", "line", "th", context).text
    en = render("agency_answered", "line", "en", context).text
    assert "สำนักงานสวัสดิการและคุ้มครองแรงงานกรุงเทพมหานคร" in th
    assert "ไม่เข้าเงื่อนไขการรับสิทธิ" in th
    assert event.payload["note"] in th
    assert "Bangkok Labour Protection and Welfare Office" in en
    assert "not eligible" in en


def test_sms_segments_count_as_gateways_do() -> None:
    assert sms_segments("ก" * 70) == 1
    assert sms_segments("ก" * 71) == 2
    assert sms_segments("ก" * 134) == 2
    assert sms_segments("ก" * 135) == 3
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2
    assert sms_segments("a" * 159 + "€") == 2  # € takes two septets
    assert sms_segments("a" * 69 + "ก") == 1  # one Thai letter: all UCS-2


@pytest.mark.parametrize("language", LANGUAGES)
def test_citizen_sms_fit_three_parts_even_for_the_longest_names(language: str) -> None:
    # Phra Nakhon Si Ayutthaya has the longest province name, Labour
    # Protection and Welfare the longest office name
    far = {"province_code": "TH-14"}
    events = [
        (
            "case_received",
            case_received(location={**case_received().payload["location"], **far}),
        ),
        ("case_referred", case_routed(referral(**far))),
        ("case_referred", case_routed(referral(**far), referral("sso", **far))),
        (
            "case_referred",
            case_routed(
                referral(**far), referral("sso", **far), referral("doe", **far)
            ),
        ),
        ("case_referred", case_routed(referral("tosh", **far))),
        *(
            ("agency_answered", status_changed(status, outcome, agency=agency, **far))
            for status, outcome in ANSWERS
            for agency in ("dlpw", "tosh")
        ),
        *(
            ("case_escalated", referral_overdue(clock, **far))
            for clock in ("accept", "resolve")
        ),
        ("case_closed_rate_us", case_closed(referral(status="resolved", **far))),
    ]
    limit = 3 if language != "en" else 2  # English is GSM-7: 153 a part
    for message, event in events:
        (notice,) = [
            n
            for n in notices_for(event.event_type)
            if n.to == CITIZEN and n.message == message
        ]
        sms = render(
            message, "sms", language, context_for(event, facts_for(notice, event))
        )
        assert "\n" not in sms.text
        assert sms_segments(sms.text) <= limit, (message, len(sms.text), sms.text)


def _letters(text: str) -> list[str]:
    return [c for c in text if c.isalpha() and not c.isascii()]


@pytest.mark.parametrize(("notice", "channel", "language"), rendered_notices(), ids=_id)
def test_each_language_is_written_in_its_own_script(
    notice: Notice, channel: str, language: str
) -> None:
    event = next(e for e in variants(notice.event_type) if notice.applies_to(e.payload))
    facts = facts_for(notice, event)
    if RECIPIENT_NAME in facts:
        facts[RECIPIENT_NAME] = "Somchai Jaidee"
    payload = dict(event.payload)
    # what people wrote is shown as written; the template's words are checked
    for free_text in ("description", "note"):
        if free_text in payload:
            payload[free_text] = "..."
    event = make_event(event.event_type, payload, event.correlation_id)
    out = render(notice.message, channel, language, context_for(event, facts))
    for text in texts(out):
        letters = _letters(re.sub(r"<[^>]+>", "", text))
        myanmar = [c for c in letters if "\u1000" <= c <= "\u109f"]
        thai = [c for c in letters if "\u0e00" <= c <= "\u0e7f"]
        if language == "my":
            assert myanmar and not thai, text
        elif language == "th":
            assert thai and not myanmar, text
        else:
            assert not letters, text


def test_a_language_without_templates_falls_back_to_thai() -> None:
    event = case_received()
    (notice,) = [n for n in notices_for("case_received") if n.to == CITIZEN]
    context = context_for(event, facts_for(notice, event))
    assert not available("case_received", "sms", "km")
    assert available("case_received", "sms", "th")
    khmer = render("case_received", "sms", "km", context)
    assert khmer.language == "th"
    assert khmer == render("case_received", "sms", "th", context)
    assert render("case_received", "email", "lo", context).language == "th"


def test_a_missing_fact_is_an_error_naming_it() -> None:
    for notice in WHO_HEARS_WHAT:
        event = next(variants(notice.event_type))
        for fact in notice.template_facts:
            facts = facts_for(notice, event)
            del facts[fact]
            # every fact the notice declares is read by some channel, and
            # its absence is named, not rendered as a gap
            failures = []
            for channel in CHANNELS[notice.to]:
                try:
                    render(notice.message, channel, "th", context_for(event, facts))
                except RenderError as exc:
                    failures.append(str(exc))
            assert any(fact in message for message in failures), (notice, fact)


def test_an_unknown_message_is_an_error() -> None:
    with pytest.raises(RenderError):
        render("case_exploded", "sms", "th", {})
    with pytest.raises(RenderError):
        render("case_received", "webhook", "th", {})
    assert not available("case_received", "fax", "th")


def test_html_escapes_what_people_wrote_and_text_keeps_it() -> None:
    attack = 'ค่าจ้างค้าง <script>alert("x")</script> & <b>ด่วน</b>'
    event = case_received(description=attack)
    (notice,) = [n for n in notices_for("case_received") if n.to == CITIZEN]
    email = render(
        "case_received", "email", "th", context_for(event, facts_for(notice, event))
    )
    assert email.html is not None
    assert "<script>" not in email.html and "<b>ด่วน" not in email.html
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;" in email.html
    )
    assert attack in email.text

    answered = status_changed(note=attack)
    (notice,) = [n for n in notices_for("referral_status_changed") if n.to == CITIZEN]
    email = render(
        "agency_answered",
        "email",
        "en",
        context_for(answered, facts_for(notice, answered)),
    )
    assert email.html is not None and "<script>" not in email.html
    assert attack in email.text


@pytest.mark.parametrize(
    "make", [referral_issued, status_changed], ids=["issued", "changed"]
)
def test_a_webhook_carries_the_event_as_on_the_referrals_exchange(make: Any) -> None:
    event = make()
    (notice,) = [n for n in notices_for(event.event_type) if n.to == AGENCY_WEBHOOKS]
    body = render(notice.message, "webhook", "th", context_for(event)).text
    assert json.loads(body) == event.to_body()
    assert parse_event(json.loads(body)).event_id == event.event_id
    # a retry signs the same bytes
    assert render(notice.message, "webhook", "my", context_for(event)).text == body
    # UTF-8 as written, not \u escapes
    assert "\\u0e" not in body


def test_facts_may_not_shadow_the_event() -> None:
    with pytest.raises(ValueError, match="reference"):
        context_for(case_received(), {"reference": "LN-2569-99999999"})


# --- names and dates -------------------------------------------------------------


def test_every_agency_and_category_is_named_in_every_language(monkeypatch) -> None:
    assert display_names.check_tables() is None  # the tables as shipped are complete
    # and the check does catch a missing name
    without_myanmar = {
        k: v
        for k, v in display_names.CATEGORY_NAMES["unpaid_wages"].items()
        if k != "my"
    }
    monkeypatch.setitem(display_names.CATEGORY_NAMES, "unpaid_wages", without_myanmar)
    with pytest.raises(LookupError, match=r"unpaid_wages: no name in \['my'\]"):
        display_names.check_tables()


def test_offices_are_named_as_the_public_knows_them() -> None:
    sso = referral("sso", "TH-52")
    assert display_names.office_name(sso, "th") == "สำนักงานประกันสังคมจังหวัดลำปาง"
    assert display_names.office_name(sso, "th", short=True) == "สนง.ประกันสังคม จ.ลำปาง"
    assert (
        display_names.office_name(sso, "en")
        == "Lampang Provincial Social Security Office"
    )
    assert display_names.office_name(sso, "my") == "Lampang ပြည်နယ် လူမှုဖူလုံရေးရုံး"
    bangkok = referral("ops", "TH-10")
    assert display_names.office_name(bangkok, "th") == "สำนักงานแรงงานกรุงเทพมหานคร"
    assert display_names.office_name(bangkok, "en") == "Bangkok Labour Office"
    abroad = referral("doe", abroad=True)
    assert display_names.office_name(abroad, "th").startswith("กรมการจัดหางาน")
    assert "abroad" in display_names.office_name(abroad, "en")
    # a language with no names reads Thai
    assert display_names.office_name(sso, "km") == display_names.office_name(sso, "th")


def test_places_read_as_addresses_do() -> None:
    location = case_received().payload["location"]
    assert display_names.place_name(location, "th") == "ต.พระบาท อ.เมืองลำปาง จ.ลำปาง"
    assert (
        display_names.place_name(location, "en") == "Phra Bat, Mueang Lampang, Lampang"
    )
    bangkok = {
        "province_code": "TH-10",
        "district_code": None,
        "subdistrict_code": "100101",
    }
    assert display_names.place_name(bangkok, "th") == (
        "แขวงพระบรมมหาราชวัง เขตพระนคร กรุงเทพมหานคร"
    )


def test_dates_are_bangkok_days_in_each_calendar() -> None:
    # 18:00 UTC on 31 December is already New Year's Day in Bangkok
    moment = "2025-12-31T18:00:00+00:00"
    assert format_day(moment, "th") == "1 ม.ค. 2569"
    assert format_day(moment, "en") == "1 Jan 2026"
    assert format_day(moment, "my") == "၂၀၂၆ ခုနှစ် ဇန်နဝါရီလ ၁ ရက်"


# --- the audience table ----------------------------------------------------------


def test_the_table_covers_every_event_notify_consumes() -> None:
    known = {event_type for event_type, _version in EVENT_TYPES}
    assert set(CONSUMED_EVENTS) <= known
    # everything intake, routing and registry publish that someone must hear
    assert set(CONSUMED_EVENTS) == {
        "case_received",
        "case_withdrawn",
        "case_routed",
        "referral_status_changed",
        "referral_overdue",
        "case_closed",
        "referral_issued",
        *AGENT_PROJECTION_EVENTS,
    }
    for event_type in CONSUMED_EVENTS:
        told = notices_for(event_type)
        assert bool(told) == (event_type not in AGENT_PROJECTION_EVENTS), event_type
    # every recipient kind can be reached, every message has its templates
    assert {n.to for n in WHO_HEARS_WHAT} == set(CHANNELS)
    for message in messages():
        for channel in channels_of(message):
            for language in LANGUAGES:
                assert available(message, channel, language), (
                    message,
                    channel,
                    language,
                )


def test_at_most_one_message_per_event_and_recipient() -> None:
    pairs = [(n.event_type, n.to) for n in WHO_HEARS_WHAT]
    assert len(pairs) == len(set(pairs))


@pytest.mark.parametrize(("status", "outcome"), ANSWERS)
def test_the_citizen_hears_each_agency_answer(status: str, outcome: str | None) -> None:
    event = status_changed(status, outcome)
    told = {n.to: n.message for n in notices_for(event.event_type, event.payload)}
    assert told == {
        CITIZEN: "agency_answered",
        SUBMITTING_AGENT: "your_case_changed",
        AGENCY_WEBHOOKS: "referral_changed",
    }


def test_a_withdrawal_is_not_told_to_the_citizen_as_an_answer() -> None:
    event = status_changed("withdrawn", note="the citizen withdrew the case")
    told = {n.to for n in notices_for(event.event_type, event.payload)}
    # the office's system still hears it; the agent hears it once, from
    # case_withdrawn
    assert told == {AGENCY_WEBHOOKS}


def test_a_withdrawn_case_tells_the_citizen_nothing_more() -> None:
    by_citizen = case_withdrawn("citizen")
    told = notices_for("case_withdrawn", by_citizen.payload)
    assert [(n.to, n.message) for n in told] == [
        (SUBMITTING_AGENT, "your_case_withdrawn")
    ]
    assert notices_for("case_withdrawn", case_withdrawn("agent").payload) == []


def test_only_escalations_are_urgent() -> None:
    urgent = {(n.event_type, n.to) for n in WHO_HEARS_WHAT if n.urgent}
    assert urgent == {
        ("referral_overdue", CITIZEN),
        ("referral_overdue", FOLLOW_UP_AGENT),
    }


def test_an_overdue_referral_without_a_follow_up_agent_tells_the_citizen_only() -> None:
    followed = referral_overdue(agent_id="agent-7")
    alone = referral_overdue(agent_id=None)
    assert {n.to for n in notices_for("referral_overdue", followed.payload)} == {
        CITIZEN,
        FOLLOW_UP_AGENT,
    }
    assert {n.to for n in notices_for("referral_overdue", alone.payload)} == {CITIZEN}


def test_citizen_notices_need_the_contact_from_intake() -> None:
    for notice in WHO_HEARS_WHAT:
        assert ("contact" in notice.facts) == (notice.to == CITIZEN), notice
        assert "contact" not in notice.template_facts
    (received,) = [n for n in notices_for("case_received") if n.to == CITIZEN]
    assert TRACKING_CODE in received.facts
    assert received.facts == ("contact", FOLLOW_URL, TRACKING_CODE)


def test_the_citizen_s_links_open_the_pages_in_the_message_s_language(
    monkeypatch,
) -> None:
    """The sender fills the links' ``<language>`` with the language the
    message is written in: a Myanmar reader's SMS and e-mail open the
    follow and feedback pages in Myanmar; a language without templates is
    read in Thai, and so are its pages; a link without the placeholder is
    sent as configured."""
    for name in ("FOLLOW_URL", "FEEDBACK_URL"):
        monkeypatch.delenv(f"LABORNET_NOTIFY_{name}", raising=False)
    config = load_service_config("notify")  # config.yml's defaults, as deployed
    assert (config["FOLLOW_URL"], config["FEEDBACK_URL"]) == (
        sender_defaults.FOLLOW_URL,
        sender_defaults.FEEDBACK_URL,
    )
    sender = DeliverySender()
    sender.container = SimpleNamespace(config=config)
    sender.setup()
    contact = {
        "phone": "+66812345678",
        "email": "aung.kyaw@example.com",
        "tracking_code": "4LB7N-SYDZF",
    }

    def links(message: str, channel: str, language: str) -> list[str]:
        """The links of the message as it is sent."""
        event = case_received() if message == "case_received" else case_closed()
        reference = event.payload["reference"]
        sender._contact = lambda *_: {**contact, "language": language}  # type: ignore[method-assign]
        delivery = Delivery(
            recipient_kind=CITIZEN,
            case_reference=reference,
            channel=channel,
            message=message,
            language="th",
        )
        used, address, facts, written = sender._address(None, delivery, event)  # type: ignore[arg-type]
        sent = sender._message(None, delivery, event, used, address, facts, written)  # type: ignore[arg-type]
        found = re.findall(r"https://[^\s\"<]+", f"{sent.text} {sent.html}")
        assert found and all(reference in link for link in found), found
        return [link.replace("&amp;", "&") for link in found]

    follow = r"https://labornet\.mol\.go\.th/t/LN-\d{4}-\d{8}\?lang="
    rate = r"https://labornet\.mol\.go\.th/f/LN-\d{4}-\d{8}\?t=[\w.-]+&lang="
    for channel in ("sms", "email"):
        received = links("case_received", channel, "my")
        assert all(re.fullmatch(follow + "my", link) for link in received), received
        closing = links("case_closed_rate_us", channel, "my")
        assert any(re.fullmatch(rate + "my", link) for link in closing), closing
        assert all(link.endswith("lang=my") for link in closing), closing
    [thai] = links("case_received", "sms", "km")
    assert re.fullmatch(follow + "th", thai), thai

    sender.follow_url = "https://labornet.mol.go.th/track/<reference>"
    [link] = links("case_received", "sms", "my")
    assert link.startswith("https://labornet.mol.go.th/track/LN-") and "?" not in link


def test_an_agent_s_message_carries_a_case_link_for_that_agent_only(
    monkeypatch,
) -> None:
    """The case link in a field agent's LINE, SMS and e-mail messages opens
    intake's ``/a/`` page in the message's language with a token minted for
    the recipient: it verifies (with intake's shared TOKEN_SECRET) to that
    agent and that case, for 14 days."""
    monkeypatch.delenv("LABORNET_NOTIFY_CASE_URL", raising=False)
    config = load_service_config("notify")  # config.yml's defaults, as deployed
    assert config["CASE_URL"] == sender_defaults.CASE_URL
    sender = DeliverySender()
    sender.container = SimpleNamespace(config=config)
    sender.setup()
    agents = {
        agent_id: AgentContact(
            id=agent_id,
            status="active",
            name_th="สมชาย ใจดี",
            phone="+66812345678",
            email="somchai@example.org",
            line_user_id="U4af4980629f8d2a1b0c3e5d7f9a1b2c3",
        )
        for agent_id in (
            "0193f0c2-1111-7c3b-9a51-2f0c4d1e8a10",  # registry's ids: UUIDs
            "0193f0c2-2222-7c3b-9a51-2f0c4d1e8a10",
        )
    }
    session = SimpleNamespace(get=lambda model, key: agents.get(key))
    link = re.compile(
        r"https://labornet\.mol\.go\.th/a/(LN-\d{4}-\d{8})\?t=([\w-]+)&lang=(\w+)"
    )
    cases = [
        (case_received(), AREA_AGENTS, "new_case_in_area"),
        (status_changed(), SUBMITTING_AGENT, "your_case_changed"),
        (referral_overdue(), FOLLOW_UP_AGENT, "referral_overdue"),
    ]
    for (event, kind, message), agent_id, (channel, language) in zip(
        cases * 2,
        itertools.cycle(agents),
        itertools.product(("line", "sms", "email"), ("my", "th")),
        strict=False,
    ):
        reference = event.payload["reference"]
        delivery = Delivery(
            id="d-1",
            recipient_kind=kind,
            recipient_id=agent_id,
            case_reference=reference,
            channel=channel,
            message=message,
            language=language,
        )
        used, address, facts, written = sender._address(session, delivery, event)  # type: ignore[arg-type]
        sent = sender._message(session, delivery, event, used, address, facts, written)  # type: ignore[arg-type]
        both = f"{sent.text} {sent.html or ''}".replace("&amp;", "&")
        found = {match.groups() for match in link.finditer(both)}
        assert len(found) == 1, (message, channel, sent.text)
        [(linked, token, opens_in)] = found
        assert (linked, opens_in) == (reference, language)
        claim = verify_case_link_token(config["TOKEN_SECRET"], token)
        assert (claim.reference, claim.agent_id) == (reference, agent_id)
        assert len(token) == 56
