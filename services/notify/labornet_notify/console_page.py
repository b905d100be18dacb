"""``GET /console``: the messages the console channel showed, as a page.

Who may read it: an operator's token, from anywhere; or, while the console
channel is on (``make run``), a browser on this machine without a token — a
client on loopback that no proxy forwarded. Any other token gets 404, no
token 401, as on notify's other operator endpoints. The texts are personal
data: the page is never cached, framed or scripted (a strict
Content-Security-Policy, as on intake's citizen pages: no script at all; it
reloads itself with a meta refresh).
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Request, Response

from labornet_notify.models import ConsoleMessage
from labornet_shared.problems import Problem

BANGKOK = ZoneInfo("Asia/Bangkok")
HTML = "text/html; charset=utf-8"
#: nothing may load but the page's own inline style; no frame, no referrer
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
#: headers a reverse proxy adds: such a request came from elsewhere, even if
#: the proxy connects from loopback
_PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
REFRESH_SECONDS = 5


def check_reader(request: Request, console_on: bool) -> None:
    """Let an operator through, or a direct loopback client while the
    console channel is on; 401 without a token, 404 for any other token."""
    principal = getattr(request, "principal", None)
    if principal is not None:
        if principal.scope != "operator":
            raise Problem(404, "not_found")
        return
    if console_on and direct_loopback(request):
        return
    raise Problem(401, "unauthorized", headers={"WWW-Authenticate": "Bearer"})


def direct_loopback(request: Request) -> bool:
    """Whether the client is on this machine and no proxy forwarded it."""
    if any(header in request.headers for header in _PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def recent(
    session: Session,
    *,
    channel: str | None = None,
    case: str | None = None,
    limit: int = 50,
) -> list[ConsoleMessage]:
    """The newest ``limit`` console messages (of one channel, one case),
    newest first."""
    query = select(ConsoleMessage).order_by(ConsoleMessage.id.desc()).limit(limit)
    if channel:
        query = query.where(ConsoleMessage.channel == channel)
    if case:
        query = query.where(ConsoleMessage.case_reference == case)
    return list(session.scalars(query))


def bangkok(moment: datetime) -> datetime:
    """``moment`` in Bangkok time (SQLite gives it back without a zone: UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BANGKOK)


def held_words(until: datetime, recorded: datetime) -> str:
    """``held until 08:00`` (with the date when it is not the same day)."""
    local, then = bangkok(until), bangkok(recorded)
    if local.date() == then.date():
        return f"held until {local:%H:%M}"
    return f"held until {local:%H:%M} on {local:%Y-%m-%d}"


def page(
    rows: list[ConsoleMessage], *, console_on: bool, filters: dict[str, Any]
) -> Response:
    """The page listing ``rows``."""
    items = "\n".join(_item(row) for row in rows) or (
        "<p class=none>No message yet."
        + (
            ""
            if console_on
            else " The console channel is off (LABORNET_NOTIFY_CONSOLE_CHANNEL)."
        )
        + "</p>"
    )
    channel = filters.get("channel") or ""
    options = "".join(
        f'<option value="{value}"{" selected" if value == channel else ""}>'
        f"{label}</option>"
        for value, label in (
            ("", "every channel"),
            ("sms", "SMS"),
            ("line", "LINE"),
            ("email", "e-mail"),
            ("webhook", "webhook"),
        )
    )
    body = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<title>labornet notify — console</title>
<style>
body{{font-family:system-ui,"Noto Sans Thai",sans-serif;margin:1.5rem;max-width:60rem}}
article{{border-top:1px solid #ccc;padding:.6rem 0}}
.meta{{color:#444;font-size:.9rem}} .held{{color:#a40;font-weight:bold}}
pre{{white-space:pre-wrap;font-family:inherit;margin:.4rem 0 0 1rem}}
</style>
</head>
<body>
<h1>Messages as they would leave</h1>
<p>What notify's console channel showed in place of the SMS gateway, LINE
and the mail relay, and the webhooks with their endpoint's answer; newest
first, times in Bangkok.</p>
<form method="get" action="/console">
<label>Channel <select name="channel">{options}</select></label>
<label>Case <input name="case" value="{escape(filters.get("case") or "")}"
 placeholder="LN-2569-00000042" size="18"></label>
<button>Show</button>
</form>
{items}
</body>
</html>
"""
    return Response(body, status=200, headers=PAGE_HEADERS, content_type=HTML)


def _item(row: ConsoleMessage) -> str:
    status = (
        f'<span class="held">{escape(held_words(row.held_until, row.recorded_at))}'
        "</span>"
        if row.status == "held" and row.held_until is not None
        else escape(row.status)
    )
    parts = [
        f"{bangkok(row.recorded_at):%Y-%m-%d %H:%M:%S}",
        f"{row.channel.upper()} → {escape(row.recipient_masked)}"
        + (f" ({escape(row.recipient_kind)})" if row.recipient_kind else ""),
        escape(row.language or "-"),
        escape(row.case_reference or "-"),
        escape(row.message or "-"),
    ]
    if row.segments is not None:
        parts.append(f"{row.segments} SMS part{'s' if row.segments != 1 else ''}")
    parts.append(status)
    if row.note and row.status != "held":
        parts.append(escape(row.note))
    subject = f"<p><strong>{escape(row.subject)}</strong></p>" if row.subject else ""
    lang = f' lang="{escape(row.language)}"' if row.language else ""
    return (
        f'<article id="m{row.id}"><p class="meta">{" · ".join(parts)}'
        f" · delivery {escape(row.delivery_id)}</p>{subject}"
        f"<pre{lang}>{escape(row.text)}</pre></article>"
    )
