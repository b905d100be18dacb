"""The lexicon file: its settings, its terms, and how a text is read.

``data/lexicon.yml`` (see ``data/README.md``) maps categories to weighted
terms; this module parses it into :class:`Term` values and holds
:func:`normalise`, which puts a description and a term in the same form so
that matching is a plain comparison.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from pythainlp.util import normalize as thai_normalize

from labornet_routing.myanmar import MYANMAR, normalise_myanmar, to_unicode
from labornet_shared.categories import CATEGORIES

__all__ = [
    "IGNORED",
    "NEGATION",
    "LexiconError",
    "Settings",
    "Term",
    "normalise",
    "parse_lexicon",
    "read_text",
]

THAI = re.compile(r"[\u0e00-\u0e7f]")
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
# Zero-width characters come with text pasted from LINE and web forms.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_QUOTES = str.maketrans("’‘`´", "''''")
# Three or more of one letter is emphasis ("ค้างจ่ายยย", "pleaseee"); digits
# are left alone. But อ before a Thai consonant is often real letters: a
# word ending in อ and one starting with ออ ("เรือ|ออก", "ขอ|ออก",
# "หื้อ|ออก"), so exactly three stay; more are a stretched ออ ("ไล่ออออก").
_REPEATS = re.compile(r"([a-z\u0e01-\u0e4e])\1{2,}")
_O_ANG = "\u0e2d"
_CONSONANT = re.compile(r"[\u0e01-\u0e2e]")
_SPACES = re.compile(r"\s+")
_ENGLISH_TERM = re.compile(r"[a-z0-9']+\*?")
_WEIGHT = re.compile(r"-?\d+(?:\.\d+)?")
# The pseudo-category of the lexicon's ``ignore`` phrases and its negations:
# they are found like terms but score nothing.
IGNORED = "(ignored)"
NEGATION = "(negation)"


class LexiconError(ValueError):
    """The lexicon file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Settings:
    """The lexicon's tunable numbers (``settings`` in the data file)."""

    scale: float
    min_score: float
    relative: float
    first_mention_bonus: float
    max_labels: int
    negation_window: int
    fallback: str
    # terms of at least this many letters are also found with one slip...
    fuzzy_min_length: int = 5
    # ...and then count this share of their weight; 0 finds exact terms only
    fuzzy_factor: float = 0.8


@dataclass(frozen=True)
class Term:
    """One lexicon term for one category, parsed."""

    category: str
    weight: float
    key: str  # as written in the file; a category lists a term once
    negatable: bool
    phrase: str = ""  # a Thai or Myanmar phrase, normalised, without spaces
    at_word_start: bool = False
    myanmar: bool = False  # ``phrase`` is in Myanmar script
    shown: str = ""  # the phrase as a correction shows it (``ค่าจ้าง``)
    words: tuple[str, ...] = ()  # English words; "*" ends a stem
    pattern: re.Pattern[str] | None = None


def normalise(text: str) -> str:
    """Return ``text`` as the lexicon reads it (see ``classifier``'s docstring)."""
    return read_text(text, myanmar=True)


def read_text(text: str, myanmar: bool) -> str:
    """:func:`normalise`, with Myanmar read as Myanmar only if ``myanmar``
    (a lexicon without Myanmar terms reads a text as it did before them)."""
    if myanmar and MYANMAR.search(text):
        # Zawgyi is converted before NFC, which would reorder its signs
        text = to_unicode(text.translate(_INVISIBLE))
        text = normalise_myanmar(unicodedata.normalize("NFC", text))
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    text = text.lower().translate(_THAI_DIGITS).translate(_QUOTES)
    if THAI.search(text):
        text = thai_normalize(text)
    text = _REPEATS.sub(_squeeze, text)
    return _SPACES.sub(" ", text).strip()


def _squeeze(run: re.Match[str]) -> str:
    """One letter for a run of emphasis; see ``_REPEATS`` for อ."""
    letter = run.group(1)
    if letter == _O_ANG and _CONSONANT.match(run.string, run.end()):
        return run.group() if len(run.group()) == 3 else _O_ANG * 2
    return letter


def parse_lexicon(text: str) -> tuple[Settings, list[Term]]:
    """The settings and terms of a lexicon's YAML text.

    Raises :class:`LexiconError` when the text is not a usable lexicon.
    """
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LexiconError(f"lexicon is not valid YAML: {exc}") from exc
    if not isinstance(document, Mapping):
        raise LexiconError("a lexicon is a mapping with settings and categories")
    settings = _parse_settings(document.get("settings"))
    terms = list(_parse_categories(document.get("categories")))
    for section, category in (("negations", NEGATION), ("ignore", IGNORED)):
        listed = document.get(section) or []
        if not isinstance(listed, list):
            raise LexiconError(f"{section} must be a list of words and phrases")
        terms.extend(_parse_term(category, 0.0, str(item)) for item in listed)
    return settings, terms


def _parse_settings(raw: Any) -> Settings:
    if not isinstance(raw, Mapping):
        raise LexiconError("a lexicon needs a 'settings' mapping")
    try:
        settings = Settings(
            scale=float(raw["scale"]),
            min_score=float(raw["min_score"]),
            relative=float(raw["relative"]),
            first_mention_bonus=float(raw.get("first_mention_bonus", 0.0)),
            max_labels=int(raw["max_labels"]),
            negation_window=int(raw["negation_window"]),
            fallback=str(raw["fallback"]),
            fuzzy_min_length=int(raw.get("fuzzy_min_length", 5)),
            fuzzy_factor=float(raw.get("fuzzy_factor", 0.8)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LexiconError(f"settings: missing or bad value {exc}") from exc
    if settings.scale <= 0 or settings.max_labels < 1:
        raise LexiconError("settings: scale must be > 0 and max_labels >= 1")
    if not 0 < settings.min_score < 1 or not 0 <= settings.relative <= 1:
        raise LexiconError("settings: min_score in (0, 1), relative in [0, 1]")
    if settings.fuzzy_min_length < 4 or not 0 <= settings.fuzzy_factor <= 1:
        raise LexiconError("settings: fuzzy_min_length >= 4, fuzzy_factor in [0, 1]")
    if settings.fallback not in CATEGORIES:
        raise LexiconError(f"settings: unknown fallback {settings.fallback!r}")
    return settings


def _parse_categories(raw: Any) -> Iterator[Term]:
    if not isinstance(raw, Mapping):
        raise LexiconError("a lexicon needs a 'categories' mapping")
    for category, groups in raw.items():
        if category not in CATEGORIES:
            raise LexiconError(f"unknown category {category!r}")
        if not isinstance(groups, Mapping):
            raise LexiconError(f"{category}: map weights to lists of terms")
        keys: set[str] = set()
        for weight, terms in groups.items():
            if not _WEIGHT.fullmatch(str(weight)) or not isinstance(terms, list):
                raise LexiconError(f"{category}: {weight!r} must be 'weight: [terms]'")
            for item in terms:
                term = _parse_term(category, float(weight), str(item))
                if term.key in keys:
                    raise LexiconError(f"{category}: {item!r} is listed twice")
                keys.add(term.key)
                yield term


def _parse_term(category: str, weight: float, written: str) -> Term:
    """Parse one term: ``~`` negatable, ``=`` at a word start, ``re:``."""
    key = written.strip()
    body = key.removeprefix("~")
    negatable = body != key
    if not body:
        raise LexiconError(f"{category}: empty term")
    if body.startswith("re:"):
        try:
            pattern = re.compile(body[3:])
        except re.error as exc:
            raise LexiconError(f"{category}: bad pattern {written!r}: {exc}") from exc
        return Term(category, weight, key, negatable, pattern=pattern)
    at_word_start = body.startswith("=")
    body = normalise(body.removeprefix("="))
    myanmar = bool(MYANMAR.search(body))
    if myanmar or THAI.search(body):
        phrase = body.replace(" ", "")
        if len(phrase) < 2:
            raise LexiconError(f"{category}: {written!r} is too short to match")
        return Term(
            category, weight, key, negatable, phrase, at_word_start, myanmar, body
        )
    words = tuple(body.split(" "))
    if not all(_ENGLISH_TERM.fullmatch(w) for w in words):
        raise LexiconError(f"{category}: {written!r} must be words, a stem* or re:")
    if words[0].endswith("*") and len(words[0]) < 4:
        raise LexiconError(f"{category}: stem {written!r} needs three letters")
    return Term(category, weight, key, negatable, words=words, shown=body)
