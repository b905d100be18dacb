"""Reading the citizen's pages (``/f/``, ``/t/``) as a phone's browser
would, for the tests: what it sends (:data:`BROWSER`), what it makes of a
page (:class:`Page`), and the headers every page must carry
(:func:`page_of`)."""

from __future__ import annotations

import random
from html.parser import HTMLParser
from typing import Any

from labornet_testkit.harness import case_payload

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
    """The answer is an HTML page of ``status`` with the pages' headers,
    read as a browser would."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    page = Page(response.content.decode("utf-8"))
    assert page.loads == [], page.loads  # no script, no external asset
    viewport = [m for m in page.metas if m.get("name") == "viewport"]
    assert viewport and "width=device-width" in (viewport[0]["content"] or "")
    assert {"charset": "utf-8"} in page.metas
    return page


def submit(api: Any, **overrides: Any) -> dict[str, Any]:
    """A realistic case submitted to the running intake: its answer
    (``reference``, ``tracking_code``) and the ``body`` sent."""
    body = case_payload(random.Random(), **overrides)
    response = api.post("/v1/cases", json=body)
    assert response.status_code == 201, response.text
    return {**response.json(), "body": body}
