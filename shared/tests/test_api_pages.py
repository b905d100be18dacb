"""What a person (or an integrator) opens on a running service: the index at
``/``, swagger-ui at ``/docs`` served from the service itself, and
``/asyncapi.json``.

Where Chromium is installed, one test also loads ``/docs`` in it and checks
that swagger-ui really renders the service's operations under the pages'
Content-Security-Policy (no CDN, no inline script).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from typing import Any

import pytest

from labornet_shared.api_pages import DOCS_ASSETS
from labornet_shared.asyncapi import build_document
from labornet_shared.events import EVENT_TYPES

PROBES = ("docs", "openapi.json", "asyncapi.json", "healthz", "readyz")


class _Page(HTMLParser):
    """The links, stylesheets, scripts and inline scripts of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.stylesheets: list[str] = []
        self.scripts: list[str] = []
        self.inline_scripts = 0
        self.inline_styles = 0
        self.title = ""
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and found.get("href"):
            self.links.append(str(found["href"]))
        if tag == "link" and found.get("rel") == "stylesheet":
            self.stylesheets.append(str(found["href"]))
        if tag == "script":
            if found.get("src"):
                self.scripts.append(str(found["src"]))
            else:
                self.inline_scripts += 1
        if tag == "style" or "style" in found:
            self.inline_styles += 1
        if any(name.startswith("on") for name in found):
            self.inline_scripts += 1
        self._in = tag

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def _policy(answer: Any) -> dict[str, str]:
    """The Content-Security-Policy header, directive → sources."""
    header = answer.headers.get("Content-Security-Policy", "")
    directives = (part.strip().split(None, 1) for part in header.split(";"))
    return {d[0]: (d[1] if len(d) > 1 else "") for d in directives if d}


def _strict(policy: dict[str, str]) -> None:
    assert policy["default-src"] == "'none'"
    for directive, sources in policy.items():
        assert "unsafe" not in sources, directive
        assert "http" not in sources and "*" not in sources, directive
    assert policy.get("frame-ancestors") == "'none'"


def test_the_index_names_the_service_and_links_what_it_serves(intake_api) -> None:
    answer = intake_api.get("/")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    page = _parse(answer.text)
    assert page.title == "labornet intake"
    assert "<strong>intake</strong>" in answer.text
    assert set(PROBES) <= set(page.links)
    assert page.inline_scripts == 0 and page.inline_styles == 0
    _strict(_policy(answer))
    assert "script-src" not in _policy(answer)
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "DENY"
    # every link answers, relative to the index as a browser resolves it
    for href in page.links:
        linked = intake_api.get("/" + href)
        assert linked.status_code == 200, (href, linked.text[:200])
    for href in page.stylesheets:
        style = intake_api.get("/" + href)
        assert style.status_code == 200, href
        assert style.headers["Content-Type"] == "text/css; charset=utf-8"


def test_the_docs_page_serves_swagger_ui_from_the_service(intake_api) -> None:
    answer = intake_api.get("/docs")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    page = _parse(answer.text)
    assert page.inline_scripts == 0 and page.inline_styles == 0
    policy = _policy(answer)
    _strict(policy)
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    # nothing from another host: every script and stylesheet is relative
    for href in page.scripts + page.stylesheets:
        assert not re.match(r"^([a-z]+:)?//", href), href
    assert page.scripts == ["docs/swagger-ui-bundle.js", "docs/labornet-docs.js"]
    assert page.stylesheets == ["docs/swagger-ui.css"]
    expected = {
        "docs/swagger-ui-bundle.js": "text/javascript; charset=utf-8",
        "docs/labornet-docs.js": "text/javascript; charset=utf-8",
        "docs/swagger-ui.css": "text/css; charset=utf-8",
    }
    for href, media_type in expected.items():
        asset = intake_api.get("/" + href)
        assert asset.status_code == 200, href
        assert asset.headers["Content-Type"] == media_type, href
        assert asset.headers["X-Content-Type-Options"] == "nosniff"
        assert "max-age" in asset.headers["Cache-Control"]
    bundle = intake_api.get("/docs/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in bundle.text and len(bundle.content) > 1_000_000
    initializer = intake_api.get("/docs/labornet-docs.js").text
    assert "SwaggerUIBundle(" in initializer and '"openapi.json"' in initializer
    assert "validatorUrl: null" in initializer  # nothing phones home
    icon = intake_api.get("/docs/favicon-32x32.png")
    assert icon.headers["Content-Type"] == "image/png"
    assert icon.content.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "name", ["index.html", "..%2fpyproject.toml", "swagger-ui.js.map", "LICENSE"]
)
def test_the_docs_serve_only_their_own_files(intake_api, name: str) -> None:
    assert name not in DOCS_ASSETS
    answer = intake_api.get(f"/docs/{name}")
    assert answer.status_code == 404
    assert answer.headers["Content-Type"] == "application/problem+json"


def test_asyncapi_json_is_the_generated_document(intake_api) -> None:
    answer = intake_api.get("/asyncapi.json")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert "no-store" not in answer.headers.get("Cache-Control", "")
    served = answer.json()
    assert served == build_document()
    messages = served["components"]["messages"]
    for event_type, version in EVENT_TYPES:
        assert messages[f"{event_type}.v{version}"]["name"] == event_type
    # listed with the probes, for anyone (no security requirement)
    spec = intake_api.get("/openapi.json").json()
    listed = spec["paths"]["/asyncapi.json"]["get"]
    assert "security" not in listed
    assert "application/json" in listed["responses"]["200"]["content"]


def test_every_service_serves_the_pages_and_the_same_asyncapi(
    start_routing, start_registry, start_notify
) -> None:
    document = build_document()
    for name, start in (
        ("routing", start_routing),
        ("registry", start_registry),
        ("notify", start_notify),
    ):
        with start() as api:
            index = api.get("/")
            assert index.status_code == 200, name
            assert _parse(index.text).title == f"labornet {name}"
            assert api.get("/docs").status_code == 200, name
            assert api.get("/asyncapi.json").json() == document, name
            assert "/asyncapi.json" in api.get("/openapi.json").json()["paths"]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine")
def test_swagger_ui_renders_the_api_under_the_policy(intake_api, tmp_path) -> None:
    """A real browser: the viewer draws intake's operations, and nothing the
    page does is refused by its Content-Security-Policy."""
    done = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            f"--user-data-dir={tmp_path}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=15000",
            "--dump-dom",
            intake_api.base_url + "/docs",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    dom, log = done.stdout, done.stderr
    assert done.returncode == 0, log[-2000:]
    assert "Content Security Policy" not in log, [
        line for line in log.splitlines() if "Content Security Policy" in line
    ]
    spec = intake_api.get("/openapi.json").json()
    assert 'class="swagger-ui' in dom
    assert spec["info"]["title"] in dom
    drawn = set(re.findall(r'data-path="([^"]+)"', dom))
    assert drawn == set(spec["paths"]), sorted(set(spec["paths"]) ^ drawn)
