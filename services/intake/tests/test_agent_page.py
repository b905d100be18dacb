"""``/a/{reference}?t=<token>``: the page a field agent's case link in
notify's messages opens on a phone, without logging in. notify mints the
link's token for each agent it tells about the case — the one who submitted
it, the agents of its area, one following an overdue referral — and the page
shows any of them an anonymous summary in words: never the citizen's
personal data, the description or an office's note (the link is easily
forwarded), so nothing is audited. A forged or expired link, or one to
another case, shows nothing of the case."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

from labornet_shared.reference.national_id import generate_national_id
from labornet_shared.tokens import (
    issue_case_link_token,
    issue_feedback_token,
    issue_token,
)
from labornet_testkit.citizen_pages import BROWSER, HOSTILE, page_of
from labornet_testkit.harness import case_payload, wait_until
from labornet_testkit.intake import case_routed, referral_ref, referral_status_changed

NOTE = "นัดไกล่เกลี่ยกับนายจ้าง 3 ธ.ค. ที่สำนักงาน"
DESCRIPTION = "โรงงานแปรรูปไม้ค้างจ่ายค่าจ้างสามเดือน หัวหน้าคนงานขู่ไล่ออก"
ADDRESS = "99/7 หมู่ 4 ซอยร่มไม้"


def agent_case(api: Any, secret: str, agent_id: str) -> dict[str, Any]:
    """A case the agent submitted (their bearer token): its answer and body,
    with every kind of personal data the page must not show."""
    body = case_payload(
        random.Random(),
        description=DESCRIPTION,
        location={
            "province_code": "TH-52",
            "subdistrict_code": "520101",
            "address": ADDRESS,
        },
        category="unpaid_wages",
        channel="web",  # through the agent's app: "field_agent"
    )
    body["citizen"].update(
        email="somchai@example.org",
        national_id=generate_national_id(random.Random(1)),  # ...3175: no 0
    )
    token = issue_token(secret, "agent", agent_id=agent_id)
    created = api.post(
        "/v1/cases", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code == 201, created.text
    return {**created.json(), "body": body, "bearer": token}


def audit_rows(sql: Any, reference: str) -> int:
    query = "SELECT count(*) FROM audit_log WHERE case_reference = :reference"
    return int(sql(query, reference=reference)[0][0])


def test_any_agent_the_link_was_sent_to_sees_an_anonymous_summary(
    intake_api, intake_config, intake_sql, publish_routing
):
    secret = intake_config["TOKEN_SECRET"]
    submitter, area_agent = str(uuid.uuid4()), str(uuid.uuid4())
    created = agent_case(intake_api, secret, submitter)
    reference, code = created["reference"], created["tracking_code"]
    office = referral_ref("dlpw", "TH-52")
    publish_routing(
        case_routed(reference, [office]),
        referral_status_changed(reference, office, "accepted", note=NOTE),
    )

    def routed_and_accepted() -> bool:
        # the tracking code's read: not audited
        answer = intake_api.get(
            f"/v1/cases/{reference}", headers={"X-Tracking-Code": code}
        )
        assert answer.status_code == 200, answer.text
        return len(answer.json()["timeline"]) == 3

    wait_until(routed_and_accepted)
    before = audit_rows(intake_sql, reference)
    citizen = created["body"]["citizen"]
    national_id = citizen["national_id"]
    personal = (
        citizen["name"],
        citizen["phone"],
        citizen["email"],
        national_id,
        national_id[-4:],
        f"{national_id[-3:-1]}-{national_id[-1]}",  # its masked form's tail
        "x-xxxx",
        created["body"]["consent"]["purpose"],
        ADDRESS,
        *DESCRIPTION.split(),
        DESCRIPTION[:8],
        NOTE,
        code,
    )

    # the agent of the case's area, who did not submit it, and the one who did
    for agent in (area_agent, submitter):
        token = issue_case_link_token(secret, reference, agent)
        shown = intake_api.get(
            f"/a/{reference}", params={"t": token, "lang": "en"}, headers=BROWSER
        )
        page = page_of(shown, 200)
        assert page.lang == "en" and page.forms == []
        for line in (
            f"Case {reference}",
            "Referred",
            "Problem unpaid wages",
            "Place Wiang Nuea, Mueang Lampang, Lampang",
            "Received",
            "The citizen's contact and what they said are in the labornet app",
            "Department of Labour Protection and Welfare (Lampang) accepted · since",
            "expected to be done by",
            "Referred to the Department of Labour Protection and Welfare (Lampang)",
            "The Department of Labour Protection and Welfare (Lampang) accepted"
            " the case",
        ):
            assert line in page.text, (line, page.text)
        for hidden in personal:
            assert hidden not in shown.text, hidden
        for label in ("Name", "Phone", "E-mail", "National ID", "Consent"):
            assert f" {label} " not in f" {page.text} ", label
        # no tel: or mailto: links; the other languages keep the link
        assert sorted(page.links) == [f"?t={token}&lang=my", f"?t={token}&lang=th"]

    # Thai by default, Myanmar asked
    thai = page_of(intake_api.get(f"/a/{reference}", params={"t": token}), 200)
    assert thai.lang == "th"
    for line in ("ค่าจ้างค้างจ่าย", "ต.เวียงเหนือ อ.เมืองลำปาง จ.ลำปาง", "ส่งเรื่องให้หน่วยงานแล้ว"):
        assert line in thai.text, (line, thai.text)
    myanmar = intake_api.get(f"/a/{reference}", params={"t": token, "lang": "my"})
    assert "မရသေးသော လုပ်ခလစာ" in page_of(myanmar, 200).text
    for hidden in (citizen["name"], NOTE, DESCRIPTION[:8]):
        assert hidden not in thai.text and hidden not in myanmar.text

    # nothing personal read, nothing audited
    assert audit_rows(intake_sql, reference) == before

    # erased: the summary is the same, it never needed the personal data
    operator = issue_token(secret, "operator", name="ops")
    erased = intake_api.delete(
        f"/v1/cases/{reference}/personal-data",
        headers={"Authorization": f"Bearer {operator}"},
    )
    assert erased.status_code == 204
    after = page_of(
        intake_api.get(f"/a/{reference}", params={"t": token, "lang": "en"}), 200
    )
    assert "Wiang Nuea, Mueang Lampang, Lampang" in after.text


def test_a_link_that_is_not_this_case_s_shows_nothing_of_it(
    intake_api, intake_config, intake_sql
):
    secret = intake_config["TOKEN_SECRET"]
    agent = str(uuid.uuid4())
    created = agent_case(intake_api, secret, agent)
    reference = created["reference"]
    other_case = agent_case(intake_api, secret, agent)["reference"]
    genuine = issue_case_link_token(secret, reference, agent)
    flipped = genuine[:-5] + ("A" if genuine[-5] != "A" else "B") + genuine[-4:]
    unknown = "LN-2569-99999999"
    refused = [
        # (token, lang, status): another case's, another secret's, forged,
        # missing, hostile, another purpose's tokens
        (issue_case_link_token(secret, other_case, agent), "en", 404),
        (issue_case_link_token(secret, other_case, "agent-001"), "th", 404),
        (
            issue_case_link_token("another-secret-0123456789", reference, agent),
            "en",
            401,
        ),
        (flipped, "en", 401),
        (None, "en", 401),
        (HOSTILE, "my", 401),
        (issue_feedback_token(secret, reference), "en", 401),
        (created["bearer"], "en", 401),
    ]
    lines = {
        (404, "en"): "Case not found",
        (404, "th"): "ไม่พบเรื่องนี้",
        (401, "en"): "This link is not valid",
        (401, "my"): "ဤလင့်ခ် မမှန်ကန်ပါ",
    }
    expired = issue_case_link_token(secret, reference, agent, timedelta(minutes=-1))
    before = audit_rows(intake_sql, reference)
    for token, language, status in [*refused, (expired, "en", 401)]:
        params = {"lang": language, **({"t": token} if token is not None else {})}
        response = intake_api.get(f"/a/{reference}", params=params, headers=BROWSER)
        page = page_of(response, status)
        assert page.lang == language and page.forms == [] and page.links == []
        if token != expired:
            assert lines[(status, language)] in page.text, (token, page.text)
        if status == 401:
            assert response.headers["WWW-Authenticate"] == 'Token realm="case_link"'
        # nothing of the case, not even its reference
        for hidden in (reference, created["body"]["citizen"]["name"], DESCRIPTION):
            assert hidden not in response.text
    # the expired link says what to do instead
    assert "This link has expired" in page.text
    assert "labornet app" in page.text and "ask the office" in page.text
    # an unknown case: 404, whether the link names it or another
    for link in (issue_case_link_token(secret, unknown, agent), genuine):
        page_of(intake_api.get(f"/a/{unknown}", params={"t": link}), 404)
    assert audit_rows(intake_sql, reference) == before

    # everything under /a/ answers a browser with a page
    page_of(intake_api.get("/a/", headers=BROWSER), 404)
    wrong_method = intake_api.post(f"/a/{reference}", headers=BROWSER)
    page_of(wrong_method, 405)
    assert "GET" in wrong_method.headers["Allow"]

    # the API description lists the page
    spec = intake_api.get("/openapi.json").json()
    shown = spec["paths"]["/a/{reference}"]["get"]
    assert {"200", "401", "404", "429"} <= set(shown["responses"])
    assert set(shown["responses"]["200"]["content"]) == {"text/html"}
    query = {p["name"]: p for p in shown["parameters"] if p["in"] == "query"}
    assert query["t"]["required"] is True
    assert query["lang"]["schema"]["enum"] == ["th", "en", "my"]
