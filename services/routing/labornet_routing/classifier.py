"""Screening: which problems does a case hold?

A case that arrives without a category (most cases from the phone, LINE and
walk-ins) is classified from its description with a weighted lexicon of Thai
and English words and phrases, ``data/lexicon.yml``. Each category's score
comes from the lexicon entries found in the text, and those entries are the
label's evidence, so an agency (and the citizen) can see why a case came to
it. Everything that can be tuned -- words, weights, thresholds, negations --
lives in the data file; this module only applies it.

How a description is read:

1. normalised: Unicode NFC, lower case, Thai digits as Arabic digits, Thai
   spelling repaired by PyThaiNLP (doubled vowels, ``เเ`` for ``แ``), runs of
   three or more identical letters squeezed to one (``ค้างจ่ายยย``), spaces
   collapsed;
2. tokenised with PyThaiNLP's ``newmm`` engine (Thai is written without
   spaces) -- the tokens give word boundaries and the distance to a negation;
3. matched against the lexicon: Thai phrases anywhere in the text with its
   spaces removed (writers often split a word with a space, and tokenisation
   splits misspelt words unpredictably); Thai phrases marked ``=`` only where
   a token starts (so ``หางาน`` is not found inside ``ปัญหางาน``); English
   words and phrases as whole words, ``*`` closing a stem; ``re:`` regular
   expressions on the normalised text (``ม.33``, ``มาตรา 39``);
4. a phrase inside a longer matched phrase gives way to it (``เงินทดแทน``
   inside ``เงินทดแทนการขาดรายได้``), and an entry marked ``~`` does not count
   right after a negation (``ไม่ได้ถูกเลิกจ้าง``);
5. each category's points are the sum of its distinct entries' weights and
   its score is ``1 - exp(-points / scale)``; a category is a problem of the
   case when its score reaches ``min_score`` and ``relative`` times the best
   score. When none does, the case goes to ``general_inquiry`` (the
   province's labour office) and is flagged for screening by a person.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from labornet_shared.categories import CATEGORIES
from pythainlp.tokenize import word_tokenize
from pythainlp.util import normalize as thai_normalize

__all__ = [
    "Classifier",
    "Label",
    "LexiconError",
    "Screening",
    "normalise",
]

METHOD_LEXICON = "lexicon"
METHOD_GIVEN = "given"

_THAI = re.compile(r"[\u0e00-\u0e7f]")
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
# Zero-width characters come in with text pasted from LINE and web forms.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_QUOTES = str.maketrans("’‘`´", "''''")
# Three or more of the same letter is emphasis ("ค้างจ่ายยย", "pleaseee");
# numbers are left alone.
_REPEATS = re.compile(r"([a-z\u0e01-\u0e4e])\1{2,}")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")
_WEIGHT_KEY = re.compile(r"^-?\d+(\.\d+)?$")
# The pseudo-category of the lexicon's ``ignore`` phrases: they claim their
# span of text, so no word inside them counts, and score nothing themselves.
_IGNORED = ""


class LexiconError(ValueError):
    """The lexicon file cannot be used: its message says where and why."""


@dataclass(frozen=True)
class Label:
    """One problem found in a case: its category, how sure, and why.

    ``score`` is between 0 and 1; ``evidence`` lists the words and phrases
    that decided the label, as they appear (normalised) in the description,
    strongest first.
    """

    category: str
    score: float
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class Screening:
    """The problems a case holds: one label per problem, best first.

    ``needs_review`` asks for screening by a person (nothing in the text was
    clear enough); ``method`` is ``"lexicon"`` when the description was
    classified and ``"given"`` when the citizen or agent chose the category.
    """

    labels: tuple[Label, ...]
    needs_review: bool
    method: str

    @property
    def categories(self) -> tuple[str, ...]:
        """The labels' categories, best first."""
        return tuple(label.category for label in self.labels)


@dataclass(frozen=True)
class Settings:
    """The lexicon's tunable numbers (see ``data/README.md``)."""

    scale: float
    min_score: float
    relative: float
    max_labels: int
    negation_window: int
    fallback: str


@dataclass(frozen=True)
class _Entry:
    """One lexicon entry: a word, phrase or pattern, for one category."""

    category: str
    weight: float
    key: str  # the entry as written in the lexicon, unique per category
    negatable: bool


@dataclass(frozen=True)
class _ThaiEntry(_Entry):
    phrase: str  # normalised, without spaces
    at_word_start: bool


@dataclass(frozen=True)
class _WordsEntry(_Entry):
    words: tuple[str, ...]  # a trailing "*" makes a word a stem


@dataclass(frozen=True)
class _PatternEntry(_Entry):
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class _Match:
    entry: _Entry
    start: int  # offsets into the normalised text
    end: int


def normalise(text: str) -> str:
    """Return ``text`` as the lexicon sees it (see the module's docstring)."""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    text = text.lower().translate(_THAI_DIGITS).translate(_QUOTES)
    if _THAI.search(text):
        text = thai_normalize(text)
    text = _REPEATS.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip()


class Classifier:
    """Screens case descriptions with a lexicon loaded from a data file."""

    def __init__(
        self,
        settings: Settings,
        entries: Iterable[_Entry],
        negators: Iterable[str],
    ) -> None:
        """Build the matching indexes; use :meth:`load` to read a file."""
        self.settings = settings
        self._thai: dict[str, list[_ThaiEntry]] = {}
        self._words: dict[str, list[_WordsEntry]] = {}
        self._stems: dict[str, list[_WordsEntry]] = {}
        self._patterns: list[_PatternEntry] = []
        for entry in entries:
            if isinstance(entry, _ThaiEntry):
                # indexed by the first two letters: a text is read once, left
                # to right, instead of searching for every phrase
                self._thai.setdefault(entry.phrase[:2], []).append(entry)
            elif isinstance(entry, _WordsEntry):
                first = entry.words[0]
                if first.endswith("*"):
                    self._stems.setdefault(first[:-1], []).append(entry)
                else:
                    self._words.setdefault(first, []).append(entry)
            elif isinstance(entry, _PatternEntry):
                self._patterns.append(entry)
        self._stem_lengths = sorted({len(stem) for stem in self._stems})
        negation = [_parse_term("~negation", 0.0, text) for text in negators]
        self._negators = Classifier._negation_index(negation)

    @staticmethod
    def _negation_index(entries: list[_Entry]) -> Classifier._Index:
        index = Classifier._Index()
        for entry in entries:
            index.add(entry)
        return index

    class _Index:
        """A small index for the negations (Thai phrases and English words)."""

        def __init__(self) -> None:
            self.thai: dict[str, list[_ThaiEntry]] = {}
            self.words: dict[str, list[_WordsEntry]] = {}

        def add(self, entry: _Entry) -> None:
            if isinstance(entry, _ThaiEntry):
                self.thai.setdefault(entry.phrase[:2], []).append(entry)
            elif isinstance(entry, _WordsEntry):
                self.words.setdefault(entry.words[0], []).append(entry)
            else:
                raise LexiconError("negations are Thai phrases or English words")

    @classmethod
    def load(cls, lexicon_path: Path | None = None) -> Classifier:
        """Load a lexicon file; without a path, the packaged one (cached).

        Raises :class:`LexiconError` when the file is not a usable lexicon.
        """
        if lexicon_path is None:
            return _default_classifier()
        return cls.from_text(Path(lexicon_path).read_text(encoding="utf-8"))

    @classmethod
    def from_text(cls, text: str) -> Classifier:
        """Build a classifier from a lexicon's YAML text."""
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise LexiconError(f"lexicon is not valid YAML: {exc}") from exc
        if not isinstance(document, Mapping):
            raise LexiconError("lexicon must be a mapping")
        settings = _parse_settings(document.get("settings"))
        entries = list(_parse_categories(document.get("categories")))
        ignored = document.get("ignore") or []
        if not isinstance(ignored, list) or not all(
            isinstance(i, str) and i.strip() for i in ignored
        ):
            raise LexiconError("ignore must be a list of words and phrases")
        entries.extend(_parse_term(_IGNORED, 0.0, term) for term in ignored)
        negators = document.get("negations") or []
        if not isinstance(negators, list) or not all(
            isinstance(n, str) and n.strip() for n in negators
        ):
            raise LexiconError("negations must be a list of words and phrases")
        return cls(settings, entries, negators)

    def screen(self, description: str, category: str | None = None) -> Screening:
        """Screen one case: the problems its description holds, best first.

        A category chosen by the citizen or agent is kept as it is. Otherwise
        the description is classified; when nothing in it is clear enough the
        case goes to the fallback category, flagged for review by a person.
        """
        if category:
            if category not in CATEGORIES:
                raise ValueError(f"unknown category {category!r}")
            return Screening((Label(category, 1.0, ()),), False, METHOD_GIVEN)
        points, evidence, first_seen = self._weigh(normalise(description))
        settings = self.settings
        scores = {
            cat: round(1.0 - math.exp(-max(p, 0.0) / settings.scale), 3)
            for cat, p in points.items()
        }
        candidates = [c for c, s in scores.items() if s >= settings.min_score]
        # best first; a tie goes to the problem mentioned first
        candidates.sort(key=lambda c: (-scores[c], first_seen[c]))
        if candidates and candidates[0] == settings.fallback:
            # the description is itself a general enquiry ("office hours?"):
            # the provincial office takes it, nothing else is referred
            candidates = candidates[:1]
        else:
            candidates = [c for c in candidates if c != settings.fallback]
        if candidates:
            floor = settings.relative * scores[candidates[0]]
            chosen = [c for c in candidates if scores[c] >= floor]
            labels = tuple(
                Label(c, scores[c], evidence[c])
                for c in chosen[: settings.max_labels]
            )
            return Screening(labels, False, METHOD_LEXICON)
        fallback = settings.fallback
        label = Label(fallback, scores.get(fallback, 0.0), evidence.get(fallback, ()))
        return Screening((label,), True, METHOD_LEXICON)

    def _weigh(
        self, text: str
    ) -> tuple[dict[str, float], dict[str, tuple[str, ...]], dict[str, int]]:
        """Points, evidence and first position of each category in ``text``."""
        compact, offsets = _compact(text)
        token_starts = _token_starts(text)
        matches = self._find(text, compact, offsets, token_starts)
        negations = _find_in(self._negators, text, compact, offsets, token_starts)
        kept = _outermost(matches)
        window = self.settings.negation_window
        points: dict[str, float] = {}
        found: dict[str, dict[str, tuple[float, int, str]]] = {}
        for match in kept:
            entry = match.entry
            if entry.category == _IGNORED:
                continue
            if entry.negatable and _negated(match, negations, token_starts, window):
                continue
            seen = found.setdefault(entry.category, {})
            if entry.key in seen:  # a word said twice counts once
                continue
            seen[entry.key] = (entry.weight, match.start, text[match.start : match.end])
            points[entry.category] = points.get(entry.category, 0.0) + entry.weight
        evidence: dict[str, tuple[str, ...]] = {}
        first_seen: dict[str, int] = {}
        for category, seen in found.items():
            ranked = sorted(seen.values(), key=lambda f: (-f[0], f[1]))
            words: list[str] = []
            for weight, _, word in ranked:
                if weight > 0 and word not in words:
                    words.append(word)
            evidence[category] = tuple(words)
            first_seen[category] = min(f[1] for f in seen.values() if f[0] > 0) if (
                words
            ) else len(text)
        return points, evidence, first_seen

    def _find(
        self,
        text: str,
        compact: str,
        offsets: list[int],
        token_starts: list[int],
    ) -> list[_Match]:
        matches: list[_Match] = []
        matches.extend(_find_thai(self._thai, compact, offsets, token_starts))
        words = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]
        for i, (word, _, _) in enumerate(words):
            candidates = list(self._words.get(word, ()))
            for length in self._stem_lengths:
                if length > len(word):
                    break
                candidates.extend(self._stems.get(word[:length], ()))
            for entry in candidates:
                end = _words_end(entry.words, words, i)
                if end is not None:
                    matches.append(_Match(entry, words[i][1], end))
        for pattern_entry in self._patterns:
            for found in pattern_entry.pattern.finditer(text):
                if found.end() > found.start():
                    matches.append(_Match(pattern_entry, found.start(), found.end()))
        return matches


@functools.cache
def _default_classifier() -> Classifier:
    text = (
        resources.files("labornet_routing")
        .joinpath("data/lexicon.yml")
        .read_text(encoding="utf-8")
    )
    classifier = Classifier.from_text(text)
    # PyThaiNLP reads its dictionary on first use (~0.4 s): pay that here,
    # once, not on the first case
    classifier.screen("ค่าจ้าง")
    return classifier


def _compact(text: str) -> tuple[str, list[int]]:
    """``text`` without spaces, and each kept character's offset in ``text``."""
    offsets = [i for i, ch in enumerate(text) if ch != " "]
    return "".join(text[i] for i in offsets), offsets


def _token_starts(text: str) -> list[int]:
    """Offsets in ``text`` where a PyThaiNLP token (not a space) starts."""
    starts: list[int] = []
    position = 0
    for token in word_tokenize(text, engine="newmm", keep_whitespace=True):
        if not token.isspace():
            starts.append(position)
        position += len(token)
    return starts


def _find_thai(
    index: Mapping[str, list[_ThaiEntry]],
    compact: str,
    offsets: list[int],
    token_starts: list[int],
) -> Iterable[_Match]:
    starts = set(token_starts)
    for i in range(len(compact) - 1):
        for entry in index.get(compact[i : i + 2], ()):
            if not compact.startswith(entry.phrase, i):
                continue
            start = offsets[i]
            if entry.at_word_start and start not in starts:
                continue
            yield _Match(entry, start, offsets[i + len(entry.phrase) - 1] + 1)


def _words_end(
    pattern: tuple[str, ...], words: list[tuple[str, int, int]], i: int
) -> int | None:
    """End offset when ``pattern`` matches the words from ``i``, else None."""
    if i + len(pattern) > len(words):
        return None
    for want, (word, _, _) in zip(pattern, words[i:], strict=False):
        if want.endswith("*"):
            if not word.startswith(want[:-1]):
                return None
        elif word != want:
            return None
    return words[i + len(pattern) - 1][2]


def _find_in(
    index: Classifier._Index,
    text: str,
    compact: str,
    offsets: list[int],
    token_starts: list[int],
) -> list[_Match]:
    matches = list(_find_thai(index.thai, compact, offsets, token_starts))
    words = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]
    for i, (word, start, _) in enumerate(words):
        for entry in index.words.get(word, ()):
            end = _words_end(entry.words, words, i)
            if end is not None:
                matches.append(_Match(entry, start, end))
    return matches


def _outermost(matches: list[_Match]) -> list[_Match]:
    """Drop every match that lies inside a longer one: the longer phrase decides."""
    kept: list[_Match] = []
    for match in sorted(matches, key=lambda m: (m.start - m.end, m.start)):
        inside = any(
            k.start <= match.start
            and match.end <= k.end
            and (k.start, k.end) != (match.start, match.end)
            for k in kept
        )
        if not inside:
            kept.append(match)
    kept.sort(key=lambda m: (m.start, m.end))
    return kept


def _negated(
    match: _Match, negations: list[_Match], token_starts: list[int], window: int
) -> bool:
    """True when a negation ends at most ``window`` tokens before ``match``."""
    at = bisect.bisect_left(token_starts, match.start)
    for negation in negations:
        if negation.end > match.start:
            continue
        if at - bisect.bisect_left(token_starts, negation.end) <= window:
            return True
    return False


def _parse_settings(raw: Any) -> Settings:
    if not isinstance(raw, Mapping):
        raise LexiconError("lexicon needs a 'settings' mapping")
    try:
        settings = Settings(
            scale=float(raw["scale"]),
            min_score=float(raw["min_score"]),
            relative=float(raw["relative"]),
            max_labels=int(raw["max_labels"]),
            negation_window=int(raw["negation_window"]),
            fallback=str(raw["fallback"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LexiconError(f"lexicon settings: missing or bad value {exc}") from exc
    if settings.scale <= 0 or settings.max_labels < 1:
        raise LexiconError("lexicon settings: scale > 0 and max_labels >= 1")
    if not 0 < settings.min_score < 1 or not 0 <= settings.relative <= 1:
        raise LexiconError("lexicon settings: min_score in (0, 1), relative in [0, 1]")
    if settings.fallback not in CATEGORIES:
        raise LexiconError(f"lexicon settings: unknown fallback {settings.fallback!r}")
    return settings


def _parse_categories(raw: Any) -> Iterable[_Entry]:
    if not isinstance(raw, Mapping):
        raise LexiconError("lexicon needs a 'categories' mapping")
    for category, groups in raw.items():
        if category not in CATEGORIES:
            raise LexiconError(f"unknown category {category!r} in lexicon")
        if not isinstance(groups, Mapping):
            raise LexiconError(f"{category}: weights must map to lists of terms")
        keys: set[str] = set()
        for weight, terms in groups.items():
            if not _WEIGHT_KEY.match(str(weight)) or not isinstance(terms, list):
                raise LexiconError(f"{category}: {weight!r} must be a weight: [terms]")
            for term in terms:
                if not isinstance(term, str) or not term.strip():
                    raise LexiconError(f"{category}: empty or non-text term {term!r}")
                entry = _parse_term(category, float(weight), term)
                if entry.key in keys:
                    raise LexiconError(f"{category}: {term!r} is listed twice")
                keys.add(entry.key)
                yield entry


def _parse_term(category: str, weight: float, term: str) -> _Entry:
    """Read one lexicon term: ``~`` negatable, ``=`` at a word start, ``re:``."""
    key = term.strip()
    body = key
    negatable = body.startswith("~")
    body = body.removeprefix("~")
    if body.startswith("re:"):
        try:
            pattern = re.compile(body[3:])
        except re.error as exc:
            raise LexiconError(f"{category}: bad pattern {term!r}: {exc}") from exc
        return _PatternEntry(category, weight, key, negatable, pattern)
    at_word_start = body.startswith("=")
    body = normalise(body.removeprefix("="))
    if _THAI.search(body):
        phrase = body.replace(" ", "")
        if len(phrase) < 2:
            raise LexiconError(f"{category}: {term!r} is too short to match")
        return _ThaiEntry(category, weight, key, negatable, phrase, at_word_start)
    words = tuple(body.split(" "))
    if not all(re.fullmatch(r"[a-z0-9']+\*?", w) for w in words):
        raise LexiconError(f"{category}: {term!r} must be words, a stem* or re:")
    if words[0].endswith("*") and len(words[0]) < 4:
        raise LexiconError(f"{category}: stem {term!r} needs three letters or more")
    return _WordsEntry(category, weight, key, negatable, tuple(words))
