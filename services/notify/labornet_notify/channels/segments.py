"""SMS segments: how many parts the network sends a text as (GSM-7 or UCS-2),
and shortening a text to fit a number of parts without cutting a link, a
case reference or a tracking code, nor a Thai letter from its marks.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from dataclasses import dataclass

# GSM 03.38 default alphabet (without the escape character) and its extension
# table, whose characters take two septets.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
_LIMITS = {"gsm7": (160, 153), "ucs2": (70, 67)}  # (single, per concatenated part)

# What shortening must never cut: links, case references, tracking codes.
_PROTECTED = re.compile(
    r"https?://\S+"
    r"|LN-[0-9]{4}-[0-9]{8}"
    r"|(?<![0-9A-Za-z])[0-9A-Z]{5}-[0-9A-Z]{5}(?![0-9A-Za-z])"
)
# Text without spaces longer than this is a run of Thai (or Myanmar) words,
# which are written without spaces between words: cut it inside if needed.
_LONG_RUN = 20
_THAI_LEADING_VOWELS = frozenset("เแโใไ")


def sms_encoding(text: str) -> str:
    """``"gsm7"`` when every character is in the GSM 7-bit alphabet, else
    ``"ucs2"`` (Thai, Myanmar, emoji, "…")."""
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENSION for ch in text):
        return "gsm7"
    return "ucs2"


def _unit_cost(ch: str, encoding: str) -> int:
    if encoding == "gsm7":
        return 2 if ch in _GSM7_EXTENSION else 1
    # UTF-16 code units: characters beyond the BMP take a surrogate pair.
    return 2 if ord(ch) > 0xFFFF else 1


def sms_segments(text: str) -> list[str]:
    """The parts the network sends ``text`` as.

    GSM-7 texts take 160 septets in one SMS, 153 per part when concatenated
    (extension characters such as ``€`` or ``[`` count two); anything else
    is UCS-2: 70 characters in one SMS, 67 per part (characters beyond the
    BMP count two). An escape pair or surrogate pair is never split. The
    gateway bills one credit per part.
    """
    encoding = sms_encoding(text)
    single, per_part = _LIMITS[encoding]
    if sum(_unit_cost(ch, encoding) for ch in text) <= single:
        return [text]
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        cost = _unit_cost(ch, encoding)
        if used + cost > per_part:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += cost
    parts.append("".join(current))
    return parts


@dataclass(frozen=True)
class _Unit:
    separator: str  # the whitespace before the unit
    text: str
    protected: bool


def _units(text: str) -> list[_Unit]:
    """Words and protected tokens, in order, with their leading whitespace."""
    units: list[_Unit] = []
    separator = ""
    position = 0
    matches: list[re.Match[str] | None] = [*_PROTECTED.finditer(text), None]
    for match in matches:
        end = match.start() if match else len(text)
        for piece in re.split(r"(\s+)", text[position:end]):
            if not piece:
                continue
            if piece.isspace():
                separator += piece
            else:
                units.append(_Unit(separator, piece, False))
                separator = ""
        if match:
            units.append(_Unit(separator, match.group(), True))
            separator = ""
            position = match.end()
    return units


def _is_cut_point(text: str, index: int) -> bool:
    """May ``text`` be cut before ``index`` without breaking a letter?"""
    if index <= 0 or index >= len(text):
        return False
    # A combining vowel or tone mark belongs to the letter before it, and a
    # Thai leading vowel to the consonant after it.
    if unicodedata.category(text[index])[0] == "M":
        return False
    return text[index - 1] not in _THAI_LEADING_VOWELS


def _cut_points(run: str) -> list[int]:
    """Where a run of text without spaces may be cut: between words when
    ``pythainlp`` is installed (Thai has no spaces between words), else
    between letters."""
    try:
        from pythainlp.tokenize import word_tokenize
    except ImportError:
        return [i for i in range(len(run)) if _is_cut_point(run, i)]
    points, position = [], 0
    for word in word_tokenize(run, engine="newmm", keep_whitespace=True):
        position += len(word)
        if _is_cut_point(run, position):
            points.append(position)
    return points


def preload_word_breaker() -> None:
    """Load ``pythainlp``'s dictionary now (about a second of CPU) rather than
    inside the first send that shortens a Thai SMS; nothing without it."""
    with contextlib.suppress(ImportError):
        from pythainlp.tokenize import word_tokenize

        word_tokenize("ทดสอบ", engine="newmm")


def fit_sms(text: str, max_segments: int = 3) -> str:
    """``text`` shortened, if needed, to fit in ``max_segments`` SMS parts.

    Words are dropped from the end and an ellipsis added (``…`` in UCS-2
    texts, ``...`` in GSM-7 ones, where ``…`` would force UCS-2). Links,
    case references and tracking codes are never cut: one that falls after
    the cut is kept after the ellipsis. A run of Thai words without spaces
    is cut between words (with ``pythainlp``; between letters, never inside
    a letter with its marks, without it) when the whole run does not fit.
    Only when the protected tokens alone do not fit is the answer longer
    than ``max_segments`` parts.
    """
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")

    def fits(candidate: str) -> bool:
        return len(sms_segments(candidate)) <= max_segments

    if fits(text):
        return text
    units = _units(text)
    ellipsis = "…" if sms_encoding(text) == "ucs2" else "..."

    def render(count: int, partial: str = "") -> str:
        head = "".join(u.separator + u.text for u in units[:count])
        rest = units[count:]
        if partial:
            head += rest[0].separator + partial
            rest = rest[1:]
        head = head.strip() + ellipsis
        kept = [u.text for u in rest if u.protected]
        return " ".join([head, *kept]) if kept else head

    best = 0
    for count in range(len(units)):
        if fits(render(count)):
            best = count
    following = units[best] if best < len(units) else None
    if following and not following.protected and len(following.text) > _LONG_RUN:
        cuts = _cut_points(following.text)
        low, high, chosen = 0, len(cuts) - 1, 0
        while low <= high:
            middle = (low + high) // 2
            if fits(render(best, following.text[: cuts[middle]])):
                chosen, low = cuts[middle], middle + 1
            else:
                high = middle - 1
        if chosen:
            return render(best, following.text[:chosen])
    return render(best)
