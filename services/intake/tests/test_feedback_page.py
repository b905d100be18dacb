"""``GET /f/{reference}?t=<token>``: the page the link in notify's closing
message opens on a citizen's phone — the form in Thai, English or Myanmar,
or a page saying why not (expired, forged, another case, answered before,
not closed yet) — and the pages a browser gets back when it sends that form
to ``POST /v1/cases/{reference}/feedback``. Driven as a browser would: the
form is read from the HTML and sent as it says."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urljoin

from labornet_testkit.citizen_pages import BROWSER, HOSTILE, page_of, submit


def feedback_rows(sql: Any) -> list[tuple[Any, ...]]:
    return [
        (row[0], bool(row[1]), row[2])
        for row in sql("SELECT rating, solved, comment FROM case_feedback")
    ]


# --- the page --------------------------------------------------------------------


def test_the_page_shows_the_form_in_thai_english_or_myanmar(
    intake_api, closed_case, feedback_link
):
    created = closed_case()
    reference = created["reference"]
    token = feedback_link(reference)
    asked = {
        # (query, Accept-Language) -> the page's language, a line it shows
        ((), None): ("th", "ให้คะแนนบริการ 1 ถึง 5"),
        ((("lang", "en"),), None): ("en", "Was your problem solved?"),
        ((), "my-MM,my;q=0.9,en;q=0.5"): ("my", "ဝန်ဆောင်မှုကို ၁ မှ ၅ အထိ"),
        ((("lang", "my"),), "en-GB,en;q=0.9"): ("my", "ပေးပို့ရန်"),
        ((), "en-US,en;q=0.9,th;q=0.8"): ("en", "Rate our service"),
        ((("lang", "fr"),), "th-TH"): ("th", "ส่งคำตอบ"),
    }
    for (query, accept_language), (language, line) in asked.items():
        headers = {**BROWSER}
        if accept_language:
            headers["Accept-Language"] = accept_language
        response = intake_api.get(
            f"/f/{reference}", params=[("t", token), *query], headers=headers
        )
        page = page_of(response, 200)
        assert page.lang == language, (query, accept_language)
        assert line in page.text, page.text
        form = page.form()
        assert (form["method"], form["action"]) == (
            "post",
            f"/v1/cases/{reference}/feedback",
        )
        assert page.hidden() == {"token": token, "lang": language}
        assert page.choices("rating") == ["1", "2", "3", "4", "5"]
        assert page.choices("solved") == ["yes", "no"]
        [comment] = [f for f in form["fields"] if f.get("name") == "comment"]
        assert (comment["type"], comment["maxlength"]) == ("textarea", "1000")
        # the other languages, one tap away, with the same link
        assert sorted(page.links) == sorted(
            f"?t={token}&lang={other}" for other in {"th", "en", "my"} - {language}
        )
    # the reference and nothing else of the case: not the citizen's name,
    # phone or words
    citizen = created["body"]["citizen"]
    for personal in (citizen["name"], citizen["phone"], created["body"]["description"]):
        assert personal not in response.text
    assert reference in page.text


def test_links_that_cannot_be_answered_get_a_page_saying_why(
    intake_api, closed_case, feedback_link, publish_routing
):
    closed = closed_case()["reference"]
    genuine = feedback_link(closed)
    flipped = genuine[:-5] + ("A" if genuine[-5] != "A" else "B") + genuine[-4:]
    still_open = submit(intake_api)["reference"]
    pages = [
        # (reference, token, lang) -> status, the page's heading
        ((closed, feedback_link(closed, ttl=timedelta(minutes=-1)), "th"), 401),
        ((closed, flipped, "en"), 401),
        ((closed, None, "en"), 401),
        ((closed, HOSTILE, "th"), 401),
        ((closed, feedback_link("LN-2569-99999999"), "en"), 404),
        (("LN-2569-99999999", feedback_link("LN-2569-99999999"), "th"), 404),
        ((still_open, feedback_link(still_open), "en"), 409),
    ]
    headings = {
        (401, "th"): {"ลิงก์นี้หมดอายุแล้ว", "ลิงก์นี้ไม่ถูกต้อง"},
        (401, "en"): {"This link is not valid"},
        (404, "en"): {"Case not found"},
        (404, "th"): {"ไม่พบเรื่องนี้"},
        (409, "en"): {"This case is still being handled"},
    }
    for (reference, token, language), status in pages:
        params = {"lang": language, **({"t": token} if token is not None else {})}
        response = intake_api.get(f"/f/{reference}", params=params, headers=BROWSER)
        page = page_of(response, status)
        assert page.forms == [], (reference, token)
        assert page.lang == language
        assert set(page.words) & headings[(status, language)], page.text
        if status == 401:
            assert response.headers["WWW-Authenticate"]
            # a link that is not genuine learns nothing of the case
            assert reference not in response.text
        if status == 409:
            assert reference in page.text
    # the expired link's own page
    expired = feedback_link(closed, ttl=timedelta(minutes=-1))
    response = intake_api.get(f"/f/{closed}", params={"t": expired, "lang": "en"})
    assert "This link has expired" in page_of(response, 401).text
    # what the page echoes is escaped: the hostile "token" stays text
    response = intake_api.get(f"/f/{closed}", params={"t": HOSTILE})
    assert "<script" not in response.text
    assert "%3Cscript%3E" in response.text  # in the language links, encoded

    # answered once (here by JSON): the page says so
    answered = intake_api.post(
        f"/v1/cases/{closed}/feedback",
        json={"token": genuine, "rating": 4, "solved": True},
    )
    assert answered.status_code == 201, answered.text
    response = intake_api.get(f"/f/{closed}", params={"t": genuine, "lang": "my"})
    page = page_of(response, 409)
    assert "ဤကိစ္စအတွက် အဖြေ ရရှိပြီးပါပြီ" in page.text
    assert page.forms == []

    # nothing else under /f/ answers JSON to a browser
    page_of(intake_api.get("/f/", headers=BROWSER), 404)
    wrong_method = intake_api.post(f"/f/{closed}", headers=BROWSER)
    page_of(wrong_method, 405)
    assert "GET" in wrong_method.headers["Allow"]


def test_a_browser_rates_the_case_through_the_page(
    intake_api, closed_case, feedback_link, intake_sql
):
    reference = closed_case()["reference"]
    url = intake_api.base_url + f"/f/{reference}"
    # Myanmar by the link, whatever the phone's Accept-Language says
    browser = {**BROWSER, "Accept-Language": "th-TH,th;q=0.9"}
    shown = intake_api.get(
        url, params={"t": feedback_link(reference), "lang": "my"}, headers=browser
    )
    page = page_of(shown, 200)
    form = page.form()

    def send(**answer: str) -> Any:
        return intake_api.post(
            urljoin(shown.url, form["action"]),
            data={**page.hidden(), **answer},
            headers=browser,
        )

    thanks = page_of(send(rating="4", solved="yes", comment="ดีมาก"), 201)
    assert thanks.lang == "my"
    assert "ကျေးဇူးတင်ပါသည်" in thanks.words
    assert feedback_rows(intake_sql) == [(4, True, "ดีมาก")]

    again = page_of(send(rating="1", solved="no"), 409)
    assert "ဤကိစ္စအတွက် အဖြေ ရရှိပြီးပါပြီ" in again.text
    assert again.forms == []
    assert feedback_rows(intake_sql) == [(4, True, "ดีมาก")]


def test_a_form_missing_its_rating_comes_back_naming_it(
    intake_api, closed_case, feedback_link, intake_sql
):
    """A browser without ``required`` support sends the form incomplete."""
    reference = closed_case()["reference"]
    token = feedback_link(reference)
    action = f"/v1/cases/{reference}/feedback"
    comment = "</textarea>" + HOSTILE
    form = {"token": token, "lang": "en", "solved": "no", "comment": comment}

    back = intake_api.post(action, data=form, headers=BROWSER)
    page = page_of(back, 400)
    assert "Please choose a rating from 1 to 5." in page.words
    # the form again, as it was sent, escaped
    assert page.hidden() == {"token": token, "lang": "en"}
    assert page.checked("solved") == ["no"] and page.checked("rating") == []
    [box] = [f for f in page.form()["fields"] if f.get("name") == "comment"]
    assert box["value"] == comment
    assert "<script" not in back.text
    assert feedback_rows(intake_sql) == []

    # in Thai, a language the form does not know is named too
    back = intake_api.post(
        action, data={**form, "lang": "xx", "rating": "9"}, headers=BROWSER
    )
    page = page_of(back, 400)
    assert page.lang == "th"
    assert {"โปรดเลือกคะแนน 1 ถึง 5", "ภาษาที่เลือกไม่ถูกต้อง"} <= set(page.words)

    # an API client sending the same form keeps the problem+json answer
    api = intake_api.post(action, data=form)
    assert api.status_code == 400
    assert api.headers["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in api.json()["errors"]] == ["rating"]

    fixed = intake_api.post(action, data={**form, "rating": "2"}, headers=BROWSER)
    assert "Thank you" in page_of(fixed, 201).words
    assert feedback_rows(intake_sql) == [(2, False, comment)]


def test_too_many_requests_get_a_page_too(start_intake):
    api = start_intake(RATE_LIMIT_ANONYMOUS="2/minute")
    with api:
        for _ in range(2):
            page_of(api.get("/f/LN-2569-00000001", params={"t": "x"}), 401)
        limited = api.get("/f/LN-2569-00000001", params={"t": "x", "lang": "en"})
        assert "Too many requests" in page_of(limited, 429).words
        assert int(limited.headers["Retry-After"]) >= 1


def test_the_api_description_lists_the_page(intake_api):
    spec = intake_api.get("/openapi.json").json()
    page = spec["paths"]["/f/{reference}"]["get"]
    assert {"200", "401", "404", "409", "429"} <= set(page["responses"])
    assert set(page["responses"]["200"]["content"]) == {"text/html"}
    query = {p["name"]: p for p in page["parameters"] if p["in"] == "query"}
    assert query["t"]["required"] is True
    assert query["lang"]["schema"]["enum"] == ["th", "en", "my"]
    answer = spec["paths"]["/v1/cases/{reference}/feedback"]["post"]
    assert set(answer["responses"]["201"]["content"]) == {
        "application/json",
        "text/html",
    }
    form = answer["requestBody"]["content"]["application/x-www-form-urlencoded"]
    name = form["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "lang" in spec["components"]["schemas"][name]["properties"]
