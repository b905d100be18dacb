"""Messages rendered from Jinja2 templates: one per message, channel and
language.

Templates live in ``templates/<language>/``: ``<message>.txt`` holds one
block per text channel (``sms``, ``line``, ``email_subject``,
``email_text``) so a translator sees a message's variants together, and
``<message>.html`` the e-mail's HTML (it extends ``_layout.html``). Only
HTML is autoescaped; an undefined variable is an error, never an empty gap.

A template knows its language from its folder, so the filters that name
offices, categories, places and dates (``{{ referral|office }}``) speak it
without being told. A webhook is not a template: its body is the event's
envelope, as agencies get it on ``labornet.referrals``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jinja2 import (
    Environment,
    PackageLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context

from labornet_notify import display_names
from labornet_notify.domain.audience import AGENCY_WEBHOOKS, WHO_HEARS_WHAT
from labornet_shared.events import Event
from labornet_shared.reference.calendar import BANGKOK, to_buddhist_year

FALLBACK_LANGUAGE = "th"
WEBHOOK = "webhook"
TEXT_CHANNELS = ("sms", "line", "email")

# the blocks of ``<message>.txt`` each channel renders
_BLOCKS: dict[str, tuple[str, ...]] = {
    "sms": ("sms",),
    "line": ("line",),
    "email": ("email_subject", "email_text"),
}

_THAI_MONTHS = [
    "ม.ค.",
    "ก.พ.",
    "มี.ค.",
    "เม.ย.",
    "พ.ค.",
    "มิ.ย.",
    "ก.ค.",
    "ส.ค.",
    "ก.ย.",
    "ต.ค.",
    "พ.ย.",
    "ธ.ค.",
]
_EN_MONTHS = [
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
]
_MY_MONTHS = [
    "ဇန်နဝါရီ",
    "ဖေဖော်ဝါရီ",
    "မတ်",
    "ဧပြီ",
    "မေ",
    "ဇွန်",
    "ဇူလိုင်",
    "ဩဂုတ်",
    "စက်တင်ဘာ",
    "အောက်တိုဘာ",
    "နိုဝင်ဘာ",
    "ဒီဇင်ဘာ",
]
_MY_DIGITS = str.maketrans("0123456789", "၀၁၂၃၄၅၆၇၈၉")

# GSM 03.38: the basic set (one septet) and the extension (two septets)
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


class RenderError(ValueError):
    """A message cannot be rendered: no such template, or a variable it
    needs is missing from the context (named; never the context's values)."""


@dataclass(frozen=True)
class Rendered:
    """A message ready for its channel. ``language`` is the one it is
    written in (Thai when the wanted language has no template)."""

    subject: str | None
    text: str
    html: str | None
    language: str


# --- filters: names and dates in the template's own language -------------------


def _language_of(context: Context) -> str:
    """``th`` for ``th/case_received.txt`` (and the macros it imports)."""
    name = context.name or ""
    return name.split("/", 1)[0] if "/" in name else FALLBACK_LANGUAGE


@pass_context
def _office(context: Context, referral: Mapping[str, Any]) -> str:
    return display_names.office_name(referral, _language_of(context))


@pass_context
def _office_short(context: Context, referral: Mapping[str, Any]) -> str:
    return display_names.office_name(referral, _language_of(context), short=True)


@pass_context
def _agency(context: Context, code: str) -> str:
    return display_names.agency_name(code, _language_of(context))


@pass_context
def _category(context: Context, code: str | None) -> str:
    return display_names.category_name(code, _language_of(context))


@pass_context
def _place(context: Context, location: Mapping[str, Any]) -> str:
    return display_names.place_name(location, _language_of(context))


@pass_context
def _and_list(context: Context, items: Iterable[Any]) -> str:
    """``ก, ข และ ค`` / ``a, b and c`` / ``က၊ ခ နှင့် ဂ``."""
    names = [str(i) for i in items]
    language = _language_of(context)
    joiner, comma = {
        "th": (" และ ", " "),
        "en": (" and ", ", "),
        "my": (" နှင့် ", "၊ "),
    }.get(language, (" และ ", " "))
    if len(names) <= 1:
        return "".join(names)
    return comma.join(names[:-1]) + joiner + names[-1]


def format_day(value: str | datetime, language: str) -> str:
    """A date as the language writes it, in Bangkok: ``26 พ.ย. 2569``,
    ``26 Nov 2026``, ``၂၀၂၆ ခုနှစ် နိုဝင်ဘာလ ၂၆ ရက်``."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    day = moment.astimezone(BANGKOK).date()
    if language == "en":
        return f"{day.day} {_EN_MONTHS[day.month - 1]} {day.year}"
    if language == "my":
        text = f"{day.year} ခုနှစ် {_MY_MONTHS[day.month - 1]}လ {day.day} ရက်"
        return text.translate(_MY_DIGITS)
    return f"{day.day} {_THAI_MONTHS[day.month - 1]} {to_buddhist_year(day.year)}"


@pass_context
def _day(context: Context, value: str | datetime) -> str:
    return format_day(value, _language_of(context))


# --- the environment -------------------------------------------------------------


@functools.cache
def environment() -> Environment:
    """The template environment, built once per process."""
    env = Environment(
        loader=PackageLoader("labornet_notify", "templates"),
        autoescape=select_autoescape(
            enabled_extensions=("html",), default_for_string=False, default=False
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(
        office=_office,
        office_short=_office_short,
        agency=_agency,
        category=_category,
        place=_place,
        and_list=_and_list,
        day=_day,
    )
    return env


@functools.cache
def _template(name: str) -> Template | None:
    try:
        return environment().get_template(name)
    except TemplateNotFound:
        return None


@functools.cache
def _webhook_messages() -> frozenset[str]:
    return frozenset(n.message for n in WHO_HEARS_WHAT if n.to == AGENCY_WEBHOOKS)


def available(message: str, channel: str, language: str) -> bool:
    """Whether ``message`` has a template for ``channel`` in ``language``
    (a webhook body is the same in every language)."""
    if channel == WEBHOOK:
        return message in _webhook_messages()
    blocks = _BLOCKS.get(channel)
    text = _template(f"{language}/{message}.txt")
    if blocks is None or text is None:
        return False
    if not all(block in text.blocks for block in blocks):
        return False
    return channel != "email" or _template(f"{language}/{message}.html") is not None


def _render_block(template: Template, block: str, context: Mapping[str, Any]) -> str:
    return "".join(template.blocks[block](template.new_context(dict(context))))


def _tidy(text: str, channel: str) -> str:
    """SMS: one line, single spaces (every character is paid for); other
    text: no trailing spaces, at most one empty line in a row."""
    if channel == "sms":
        return " ".join(text.split())
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def render(
    message: str, channel: str, language: str, context: Mapping[str, Any]
) -> Rendered:
    """Render ``message`` for ``channel`` in ``language``, or in Thai when
    ``language`` has no template for it.

    ``context`` is the event's payload and the facts the message needs
    (see :func:`context_for` and ``Notice.needs``).

    Raises:
        RenderError: no template for the message and channel (not even in
            Thai), or a variable the template reads is missing.
    """
    if channel == WEBHOOK:
        return _render_webhook(message, language, context)
    if not available(message, channel, language):
        if not available(message, channel, FALLBACK_LANGUAGE):
            raise RenderError(f"no template for {message!r} on {channel!r}")
        language = FALLBACK_LANGUAGE
    text_template = _template(f"{language}/{message}.txt")
    assert text_template is not None  # available() checked it
    try:
        if channel == "email":
            html_template = _template(f"{language}/{message}.html")
            assert html_template is not None
            subject = _tidy(
                _render_block(text_template, "email_subject", context), "sms"
            )
            return Rendered(
                subject=subject,
                text=_tidy(
                    _render_block(text_template, "email_text", context), channel
                ),
                html=html_template.render(dict(context)).strip(),
                language=language,
            )
        text = _render_block(text_template, channel, context)
    except TemplateError as exc:
        # the message names the variable, never a value from the context
        raise RenderError(f"{language}/{message} ({channel}): {exc.message}") from exc
    return Rendered(
        subject=None, text=_tidy(text, channel), html=None, language=language
    )


def _render_webhook(
    message: str, language: str, context: Mapping[str, Any]
) -> Rendered:
    """The event's envelope as JSON: what ``labornet.referrals`` carries, so
    an agency's system reads a webhook and a queued message alike. Keys are
    sorted so that a retried delivery sends (and signs) the same bytes."""
    if message not in _webhook_messages():
        raise RenderError(f"no webhook for {message!r}")
    envelope = context.get("event")
    if not isinstance(envelope, Mapping):
        raise RenderError(f"webhook {message!r} needs the event's envelope")
    body = json.dumps(
        envelope, ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )
    return Rendered(subject=None, text=body, html=None, language=language)


def context_for(event: Event, facts: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A message's context: the event's payload, the facts its notice
    needs, and the envelope as ``event`` (the body of a webhook).

    Raises:
        ValueError: a fact has the name of a payload field.
    """
    facts = dict(facts or {})
    clash = sorted(set(facts) & (set(event.payload) | {"event"}))
    if clash:
        raise ValueError(f"facts shadow the event: {clash}")
    return {**event.payload, **facts, "event": event.to_body()}


def sms_segments(text: str) -> int:
    """How many SMS ``text`` takes: GSM-7 when every character is in the
    GSM alphabet (160 septets, 153 a part when longer), else UCS-2 (70
    characters, 67 a part; characters outside the BMP count twice)."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text):
        length = sum(2 if c in _GSM_EXTENDED else 1 for c in text)
        single, part = 160, 153
    else:
        length = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
    if length <= single:
        return 1
    return -(-length // part)
