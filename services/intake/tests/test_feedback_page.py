"""``GET /f/{reference}?t=<token>``: the page the link in notify's closing
message opens on a citizen's phone — the form in Thai, English or Myanmar,
or a page saying why not (expired, forged, another case, answered before,
not closed yet) — and the pages a browser gets back when it sends that form
to ``POST /v1/cases/{reference}/feedback``. Driven as a browser would: the
form is read from the HTML and sent as it says."""

from __future__ import annotations

import random
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import pytest

from labornet_intake.testing import closing_events
from labornet_shared.testing import case_payload, wait_until

# what a phone's browser sends
BROWSER = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
}
CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
HOSTILE = '"><script>alert(1)</script>'


class Page(HTMLParser):
    """What a browser makes of a page: its language, forms and fields, the
    text a reader sees, and anything that would load or run."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.lang: str | None = None
        self.metas: list[dict[str, str | None]] = []
        self.forms: list[dict[str, Any]] = []
        self.loads: list[str] = []
        self.links: list[str] = []
        self.words: list[str] = []
        self._textarea: dict[str, Any] | None = None
        self._skip = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "html":
            self.lang = attr.get("lang")
        elif tag == "meta":
            self.metas.append(attr)
        elif tag in ("script", "img", "iframe", "object", "embed", "link"):
            self.loads.append(tag)
        elif tag == "a":
            self.links.append(attr.get("href") or "")
        elif tag == "form":
            self.forms.append({**attr, "fields": []})
        elif tag == "input" and self.forms:
            self.forms[-1]["fields"].append(attr)
        elif tag == "textarea" and self.forms:
            self._textarea = {**attr, "type": "textarea", "value": ""}
            self.forms[-1]["fields"].append(self._textarea)
        self._skip = tag in ("style", "title")
        if any(name.startswith("on") for name in attr) or "src" in attr:
            self.loads.append(f"{tag} with src or a handler")

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        self._skip = False

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea["value"] += data
        elif not self._skip and data.strip():
            self.words.append(" ".join(data.split()))

    @property
    def text(self) -> str:
        return " ".join(self.words)

    def form(self) -> dict[str, Any]:
        [form] = self.forms
        return form

    def hidden(self) -> dict[str, str]:
        return {
            f["name"]: f["value"]
            for f in self.form()["fields"]
            if f.get("type") == "hidden"
        }

    def choices(self, name: str) -> list[str]:
        return [
            f["value"]
            for f in self.form()["fields"]
            if f.get("type") == "radio" and f.get("name") == name
        ]

    def checked(self, name: str) -> list[str]:
        return [
            f["value"]
            for f in self.form()["fields"]
            if f.get("name") == name and "checked" in f
        ]


def page_of(response: Any, status: int) -> Page:
    """The answer is an HTML page of ``status`` with the page's headers."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    page = Page(response.content.decode("utf-8"))
    assert page.loads == [], page.loads  # no script, no external asset
    viewport = [m for m in page.metas if m.get("name") == "viewport"]
    assert viewport and "width=device-width" in (viewport[0]["content"] or "")
    assert {"charset": "utf-8"} in page.metas
    return page


def submit(api: Any) -> dict[str, Any]:
    body = case_payload(random.Random())
    response = api.post("/v1/cases", json=body)
    assert response.status_code == 201, response.text
    return {**response.json(), "body": body}


def status_of(api: Any, created: dict[str, Any]) -> str:
    response = api.get(
        f"/v1/cases/{created['reference']}",
        headers={"X-Tracking-Code": created["tracking_code"]},
    )
    return str(response.json()["status"])


@pytest.fixture
def closed_case(intake_api, publish_routing):
    """A case routing's events closed (``closed_case()``)."""

    def make() -> dict[str, Any]:
        created = submit(intake_api)
        publish_routing(*closing_events(created["reference"]))
        wait_until(lambda: status_of(intake_api, created) == "closed")
        return created

    return make


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
