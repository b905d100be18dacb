"""The pages a person opens on a service: an index at ``/`` and the OpenAPI
viewer at ``/docs``.

The viewer is swagger-ui, served by the service itself from the files the
``swagger-ui-bundle-v2`` package ships (no CDN: it works on a machine with no
network), started by a script file of ours rather than an inline one. Both
pages keep a strict Content-Security-Policy: scripts, styles, images and
requests from this service only, no inline script or style, no framing.
"""

from __future__ import annotations

import functools
from html import escape
from pathlib import Path

from werkzeug.wrappers import Response

from labornet_shared.problems import Problem

HTML = "text/html; charset=utf-8"
JAVASCRIPT = "text/javascript; charset=utf-8"
CSS = "text/css; charset=utf-8"
PNG = "image/png"

#: the index: nothing but this service's stylesheet and icon may load
INDEX_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
#: the viewer: swagger-ui's script and styles and the API description, all
#: from this service (its stylesheet's icons are ``data:`` images); "Try it
#: out" calls this service only
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def page_headers(policy: str) -> dict[str, str]:
    """What every page sends besides its body."""
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "public, max-age=300",
    }


#: swagger-ui's initializer, as a file (no inline script under the policy);
#: relative URLs, so the page works under any prefix a gateway gives it
DOCS_SCRIPT = """\
"use strict";
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: new URL("openapi.json", document.baseURI).href,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
"""

INDEX_STYLE = """\
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 44rem;
  padding: 0 1rem; color: #1b1b1b; line-height: 1.5; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
dt { margin-top: 0.8rem; font-family: ui-monospace, monospace; }
dd { margin-left: 1.5rem; color: #444; }
"""

#: what the index links to: (href, what it is)
INDEX_LINKS: tuple[tuple[str, str], ...] = (
    ("docs", "browse and try this service's HTTP API (swagger-ui)"),
    ("openapi.json", "the OpenAPI 3.1 description of this service's HTTP API"),
    (
        "asyncapi.json",
        "the AsyncAPI 3.0 description of every event labornet publishes:"
        " exchanges, routing keys, the envelope, each payload by version",
    ),
    ("healthz", "liveness: the process answers"),
    ("readyz", "readiness: database, broker, outbox relay and event consumers"),
)


def _swagger_ui_dir() -> Path:
    from swagger_ui_bundle import swagger_ui_path

    return Path(str(swagger_ui_path))


#: the files ``/docs/<name>`` serves: swagger-ui's own, then ours
_SWAGGER_FILES = {
    "swagger-ui.css": CSS,
    "swagger-ui-bundle.js": JAVASCRIPT,
    "favicon-16x16.png": PNG,
    "favicon-32x32.png": PNG,
}
_OWN_FILES = {
    "labornet-docs.js": (DOCS_SCRIPT, JAVASCRIPT),
    "labornet.css": (INDEX_STYLE, CSS),
}
DOCS_ASSETS: frozenset[str] = frozenset(_SWAGGER_FILES) | frozenset(_OWN_FILES)


@functools.cache
def _asset(name: str) -> tuple[bytes, str]:
    if name in _OWN_FILES:
        text, media_type = _OWN_FILES[name]
        return text.encode("utf-8"), media_type
    return (_swagger_ui_dir() / name).read_bytes(), _SWAGGER_FILES[name]


def docs_asset(name: str) -> Response:
    """One of :data:`DOCS_ASSETS` (the same for everyone, cached a day);
    any other name is a 404."""
    if name not in DOCS_ASSETS:
        raise Problem(404, "not_found")
    body, media_type = _asset(name)
    return Response(
        body,
        content_type=media_type,
        headers={
            "Cache-Control": "public, max-age=86400",
            "X-Content-Type-Options": "nosniff",
        },
    )


def index_page(service: str, title: str) -> Response:
    """``GET /``: the service's name and links to what it serves."""
    links = "\n".join(
        f'<dt><a href="{href}">/{href}</a></dt><dd>{escape(what)}</dd>'
        for href, what in INDEX_LINKS
    )
    body = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="stylesheet" href="docs/labornet.css">
<link rel="icon" type="image/png" href="docs/favicon-32x32.png">
</head>
<body>
<h1>{escape(title)}</h1>
<p>The <strong>{escape(service)}</strong> service of labornet, the Ministry of
Labour's case-referral platform.</p>
<dl>
{links}
</dl>
</body>
</html>
"""
    return Response(body, content_type=HTML, headers=page_headers(INDEX_POLICY))


def docs_page(title: str) -> Response:
    """``GET /docs``: swagger-ui over this service's ``/openapi.json``."""
    body = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} — API</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/labornet-docs.js"></script>
</body>
</html>
"""
    return Response(body, content_type=HTML, headers=page_headers(DOCS_POLICY))
