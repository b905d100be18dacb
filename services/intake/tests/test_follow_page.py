"""``/t/{reference}``: the page the follow link in notify's messages opens on
a citizen's phone. The link carries no tracking code: the page asks it, and
the code (typed as people type it) opens what ``GET /v1/cases/{reference}``
shows its holder, in words, in Thai, English or Myanmar. A wrong code and an
unknown case look alike; guessing is rate limited like the API. Driven as a
browser would: the form is read from the HTML and sent as it says."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

from labornet_shared.tokens import issue_token
from labornet_testkit.citizen_pages import BROWSER, HOSTILE, Page, page_of, submit
from labornet_testkit.harness import wait_until
from labornet_testkit.intake import (
    case_routed,
    referral_ref,
    referral_status_changed,
)

BANGKOK = ZoneInfo("Asia/Bangkok")
NOTE = "นัดไกล่เกลี่ยกับนายจ้าง 3 ธ.ค. ที่สำนักงาน"


def case_json(api: Any, reference: str, code: str) -> dict[str, Any]:
    answer = api.get(f"/v1/cases/{reference}", headers={"X-Tracking-Code": code})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def follow(api: Any, reference: str, code: str, language: str) -> Any:
    """What a browser sends from the page's form."""
    return api.post(
        f"/t/{reference}", data={"code": code, "lang": language}, headers=BROWSER
    )


def audit_rows(sql: Any, reference: str) -> int:
    query = "SELECT count(*) FROM audit_log WHERE case_reference = :reference"
    return int(sql(query, reference=reference)[0][0])


def test_the_link_asks_the_code_and_the_code_shows_the_case(
    intake_api, publish_routing, intake_sql, intake_config
):
    created = submit(intake_api)
    reference, code = created["reference"], created["tracking_code"]
    office = referral_ref("dlpw", "TH-52")
    publish_routing(
        case_routed(reference, [office]),
        referral_status_changed(reference, office, "accepted", note=NOTE),
    )
    wait_until(lambda: len(case_json(intake_api, reference, code)["timeline"]) == 3)

    # the link: a form asking the code, in the link's language
    shown = intake_api.get(f"/t/{reference}", params={"lang": "en"}, headers=BROWSER)
    page = page_of(shown, 200)
    assert page.lang == "en" and "Follow your case" in page.words
    form = page.form()
    assert (form["method"], form["action"]) == ("post", f"/t/{reference}")
    assert page.hidden() == {"lang": "en"}
    [field] = [f for f in form["fields"] if f.get("name") == "code"]
    assert (field["type"], field["value"]) == ("text", "")
    assert sorted(page.links) == ["?lang=my", "?lang=th"]
    for personal in (created["body"]["citizen"]["name"], code):
        assert personal not in shown.text
    # Accept-Language chooses without lang=, Thai without either
    for accept, language in (("my-MM,my;q=0.9", "my"), ("fr-FR", "th")):
        other = intake_api.get(f"/t/{reference}", headers={"Accept-Language": accept})
        assert page_of(other, 200).lang == language

    # the code as a citizen types it: lower case, spaced
    before = audit_rows(intake_sql, reference)
    view = case_json(intake_api, reference, code)
    json_read = audit_rows(intake_sql, reference) - before
    typed = code.lower().replace("-", " ")
    status = page_of(
        intake_api.post(
            urljoin(shown.url, form["action"]),
            data={**page.hidden(), "code": typed},
            headers=BROWSER,
        ),
        200,
    )
    # the page reads the case as the JSON does: audited alike (not at all)
    assert audit_rows(intake_sql, reference) - before == 2 * json_read
    assert status.forms == [] and status.lang == "en"
    for line in (
        f"Case {reference}",
        "Your case is being handled",
        "Department of Labour Protection and Welfare (Lampang)",
        "Referred to the Department of Labour Protection and Welfare (Lampang)",
        "The Department of Labour Protection and Welfare (Lampang) accepted the case",
        f"The office wrote: {NOTE}",
    ):
        assert line in status.text, (line, status.text)
    assert "withdraw" in status.text  # how, as text: no button, no form
    # every step of the JSON's timeline, at its time in Bangkok
    for entry in view["timeline"]:
        local = datetime.fromisoformat(entry["occurred_at"]).astimezone(BANGKOK)
        assert f"{local.day} {local:%b %Y}, {local:%H:%M}" in status.text
    # nothing the JSON does not show its holder
    body = created["body"]
    for personal in (
        body["citizen"]["name"],
        body["citizen"]["phone"],
        body["citizen"]["national_id"],
        body["description"],
        code,
    ):
        assert personal not in status.text

    # in Thai: Buddhist-era years; in Myanmar: its digits and names
    day = datetime.fromisoformat(view["created_at"]).astimezone(BANGKOK)
    thai = page_of(follow(intake_api, reference, code, "th"), 200)
    assert thai.lang == "th" and "เรื่องของท่านอยู่ระหว่างดำเนินการ" in thai.words
    assert f" {day.year + 543} " in f" {thai.text} "
    assert "กรมสวัสดิการและคุ้มครองแรงงาน (ลำปาง)" in thai.text
    myanmar = page_of(follow(intake_api, reference, code, "my"), 200)
    year = str(day.year).translate(str.maketrans("0123456789", "၀၁၂၃၄၅၆၇၈၉"))
    assert f"{year} ခုနှစ်" in myanmar.text
    assert "အလုပ်သမား အကာအကွယ်နှင့် သက်သာချောင်ချိရေး ဦးစီးဌာန" in myanmar.text

    # erased: the anonymous status stays, the office's note (it may quote
    # the citizen) goes, as in the JSON
    operator = issue_token(intake_config["TOKEN_SECRET"], "operator", name="ops")
    erased = intake_api.delete(
        f"/v1/cases/{reference}/personal-data",
        headers={"Authorization": f"Bearer {operator}"},
    )
    assert erased.status_code == 204
    after = page_of(follow(intake_api, reference, code, "en"), 200)
    assert "The Department of Labour Protection and Welfare (Lampang)" in after.text
    assert NOTE not in after.text


def test_a_wrong_code_and_an_unknown_case_get_the_same_page(intake_api):
    created = submit(intake_api)
    reference, code = created["reference"], created["tracking_code"]
    unknown = reference[:8] + "99999999"
    wrong = code[:-1] + ("A" if code[-1] != "A" else "B")

    def refused(ref: str, typed: str) -> Page:
        answer = follow(intake_api, ref, typed, "en")
        page = page_of(answer, 404)
        assert "The reference and tracking code match no case." in page.text
        assert page.form()["action"] == f"/t/{ref}"  # to type it again
        return page

    # the same page, but for the reference in the address
    pages = [refused(reference, wrong), refused(unknown, wrong)]
    words = [
        " ".join(p.words).replace(r, "#") for p, r in zip(pages, (reference, unknown))
    ]
    assert words[0] == words[1]
    assert refused(unknown, code).words  # another case's code opens nothing

    # what cannot be a code is named, and shown again as typed
    for typed in ("", "ABCDE-FGH2", "ABCDE-FGHIO", HOSTILE):
        answer = follow(intake_api, reference, typed, "th")
        page = page_of(answer, 400)
        assert "รหัสติดตามมีตัวอักษรและตัวเลข 10 ตัว" in page.text
        [field] = [f for f in page.form()["fields"] if f.get("name") == "code"]
        assert field["value"] == typed[:40]
        assert "<script" not in answer.text

    # everything under /t/ answers a browser with a page
    page_of(intake_api.get("/t/not-a-reference", headers=BROWSER), 404)
    page_of(intake_api.get("/t/", headers=BROWSER), 404)
    wrong_method = intake_api.put(f"/t/{reference}", headers=BROWSER)
    page_of(wrong_method, 405)
    assert set(wrong_method.headers["Allow"].split(", ")) >= {"GET", "POST"}
    as_json = intake_api.post(f"/t/{reference}", json={"code": code})
    assert page_of(as_json, 415).forms == []

    # the API description lists both
    spec = intake_api.get("/openapi.json").json()
    shown, sent = (spec["paths"]["/t/{reference}"][m] for m in ("get", "post"))
    assert set(shown["responses"]["200"]["content"]) == {"text/html"}
    assert [p["name"] for p in shown["parameters"] if p["in"] == "query"] == ["lang"]
    assert {"200", "400", "404", "429"} <= set(sent["responses"])
    form = sent["requestBody"]["content"]["application/x-www-form-urlencoded"]
    name = form["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(spec["components"]["schemas"][name]["properties"]) == {"code", "lang"}


def test_guessing_codes_is_limited_with_the_api(start_intake):
    api = start_intake(RATE_LIMIT_ANONYMOUS="3/minute")
    reference = "LN-2569-00000001"
    with api:
        page_of(api.get(f"/t/{reference}"), 200)
        page_of(follow(api, reference, "ABCDE-FGH23", "en"), 404)
        guessed = api.get(f"/v1/cases/{reference}", headers={"X-Tracking-Code": "x"})
        assert guessed.status_code == 404
        limited = follow(api, reference, "ABCDE-FGH24", "en")
        assert "Too many requests" in page_of(limited, 429).words
        assert int(limited.headers["Retry-After"]) >= 1
