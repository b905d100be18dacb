"""Screening: which problems does a case hold?

A case that arrives without a category (most cases from the phone, LINE and
walk-ins) is classified from its description with a weighted lexicon of Thai
and English words and phrases, ``data/lexicon.yml``. A category's score comes
from the lexicon terms found in the text, and those terms are the label's
evidence, so the agency (and the citizen) can see why a case came to it.
Everything tunable -- terms, weights, thresholds, negations -- lives in the
data file; this module only applies it.

How a description is read:

1. normalised: Unicode NFC, lower case, Thai digits as 0-9, Thai spelling
   repaired by PyThaiNLP (doubled vowels, ``เเ`` for ``แ``), runs of three or
   more identical letters squeezed to one (``ค้างจ่ายยย``), spaces collapsed;
2. tokenised with PyThaiNLP's ``newmm`` (Thai is written without spaces); the
   tokens give word starts and the distance from a negation to a term;
3. matched against the lexicon: Thai terms anywhere in the text with its
   spaces removed (writers split words with spaces, and tokenisation splits
   misspelt words unpredictably), or only where a word starts for terms
   marked ``=`` (``หางาน`` is not in ``ปัญหางาน``); English terms as whole
   words, ``*`` ending a stem; ``re:`` patterns on the normalised text;
4. a term inside a longer term that was also found gives way to it
   (``เงินทดแทน`` inside ``เงินทดแทนการขาดรายได้``), and a term marked ``~``
   does not count right after a negation (``ไม่ได้ถูกเลิกจ้าง``);
5. a category's points are the sum of its distinct terms' weights and its
   score is ``1 - exp(-points / scale)``. It is a problem of the case when
   the score reaches ``min_score`` and ``relative`` times the best score.
   Labels are ordered by score plus a small bonus for the problem stated
   first (people lead with their main problem). When no category qualifies,
   the case goes to ``general_inquiry`` -- the province's labour office --
   flagged for screening by a person.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pythainlp.corpus import thai_words
from pythainlp.tokenize import word_tokenize
from pythainlp.util import Trie
from pythainlp.util import normalize as thai_normalize

from labornet_shared.categories import CATEGORIES
from labornet_shared.written_language import written_language

__all__ = ["Classifier", "Label", "LexiconError", "Screening", "normalise"]

METHOD_LEXICON = "lexicon"
METHOD_GIVEN = "given"

_THAI = re.compile(r"[\u0e00-\u0e7f]")
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
# Zero-width characters come with text pasted from LINE and web forms.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_QUOTES = str.maketrans("’‘`´", "''''")
# Three or more of one letter is emphasis ("ค้างจ่ายยย", "pleaseee"); digits
# are left alone.
_REPEATS = re.compile(r"([a-z\u0e01-\u0e4e])\1{2,}")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")
_ENGLISH_TERM = re.compile(r"[a-z0-9']+\*?")
_WEIGHT = re.compile(r"-?\d+(?:\.\d+)?")
# The pseudo-category of the lexicon's ``ignore`` phrases and its negations:
# they are found like terms but score nothing.
_IGNORED = "(ignored)"
_NEGATION = "(negation)"


class LexiconError(ValueError):
    """The lexicon file cannot be used; the message says where and why."""


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
    classified and ``"given"`` when the citizen or agent chose the category;
    ``language`` is the one the description is written in (``th``, ``my``,
    ``en``; Thai when its script says nothing), by
    :func:`labornet_shared.written_language.written_language`.
    """

    labels: tuple[Label, ...]
    needs_review: bool
    method: str
    language: str = "th"

    @property
    def categories(self) -> tuple[str, ...]:
        """The labels' categories, best first."""
        return tuple(label.category for label in self.labels)


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


@dataclass(frozen=True)
class _Term:
    """One lexicon term for one category, parsed."""

    category: str
    weight: float
    key: str  # as written in the file; a category lists a term once
    negatable: bool
    thai: str = ""  # a Thai phrase, normalised, without spaces
    at_word_start: bool = False
    words: tuple[str, ...] = ()  # English words; "*" ends a stem
    pattern: re.Pattern[str] | None = None


@dataclass(frozen=True)
class _Match:
    term: _Term
    start: int  # offsets into the normalised text
    end: int


@dataclass
class _Tally:
    """What one category collected from a text."""

    points: float = 0.0
    first: int = 0
    found: dict[str, tuple[float, int, str]] = field(default_factory=dict)

    def evidence(self) -> tuple[str, ...]:
        """The positive terms found, strongest first, each once."""
        ranked = sorted(self.found.values(), key=lambda f: (-f[0], f[1]))
        words: list[str] = []
        for weight, _, word in ranked:
            if weight > 0 and word not in words:
                words.append(word)
        return tuple(words)


class _Index:
    """Terms arranged for one left-to-right reading of a text."""

    def __init__(self, terms: Iterable[_Term]) -> None:
        self.thai: dict[str, list[_Term]] = {}
        self.words: dict[str, list[_Term]] = {}
        self.stems: dict[str, list[_Term]] = {}
        self.patterns: list[_Term] = []
        for term in terms:
            if term.thai:
                # by the first two letters: each position of the text is
                # looked up once instead of searching for every phrase
                self.thai.setdefault(term.thai[:2], []).append(term)
            elif term.pattern is not None:
                self.patterns.append(term)
            elif term.words[0].endswith("*"):
                self.stems.setdefault(term.words[0][:-1], []).append(term)
            else:
                self.words.setdefault(term.words[0], []).append(term)
        self.stem_lengths = sorted({len(stem) for stem in self.stems})

    def find(self, text: _Text) -> Iterator[_Match]:
        """Every occurrence of every term in ``text``."""
        compact, offsets = text.compact, text.offsets
        for i in range(len(compact) - 1):
            for term in self.thai.get(compact[i : i + 2], ()):
                if not compact.startswith(term.thai, i):
                    continue
                start = offsets[i]
                if term.at_word_start and start not in text.word_starts:
                    continue
                yield _Match(term, start, offsets[i + len(term.thai) - 1] + 1)
        words = text.words
        for i, (word, start, _) in enumerate(words):
            candidates = list(self.words.get(word, ()))
            for length in self.stem_lengths:
                if length > len(word):
                    break
                candidates.extend(self.stems.get(word[:length], ()))
            for term in candidates:
                end = _words_end(term.words, words, i)
                if end is not None:
                    yield _Match(term, start, end)
        for term in self.patterns:
            assert term.pattern is not None
            for found in term.pattern.finditer(text.normal):
                if found.end() > found.start():
                    yield _Match(term, found.start(), found.end())


class _Text:
    """A description, normalised, in the forms the matching needs."""

    def __init__(self, description: str, dictionary: Trie) -> None:
        self.normal = normalise(description)
        # offset in ``normal`` of each character of the text without spaces
        self.offsets = [i for i, ch in enumerate(self.normal) if ch != " "]
        self.compact = "".join(self.normal[i] for i in self.offsets)
        self.words = [
            (m.group(), m.start(), m.end()) for m in _WORD.finditer(self.normal)
        ]
        self._dictionary = dictionary

    @functools.cached_property
    def token_starts(self) -> list[int]:
        """Where each PyThaiNLP token (not a space) starts in ``normal``.

        Tokenising is half the cost of a screening, so it happens only when
        a word-start term or a negation needs it.
        """
        starts: list[int] = []
        position = 0
        tokens = word_tokenize(
            self.normal, custom_dict=self._dictionary, engine="newmm"
        )
        for token in tokens:
            if not token.isspace():
                starts.append(position)
            position += len(token)
        return starts

    @functools.cached_property
    def word_starts(self) -> frozenset[int]:
        """``token_starts`` as a set."""
        return frozenset(self.token_starts)

    def tokens_between(self, end: int, start: int) -> int:
        """How many tokens start in ``[end, start)``."""
        starts = self.token_starts
        return bisect.bisect_left(starts, start) - bisect.bisect_left(starts, end)


def normalise(text: str) -> str:
    """Return ``text`` as the lexicon reads it (see the module's docstring)."""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    text = text.lower().translate(_THAI_DIGITS).translate(_QUOTES)
    if _THAI.search(text):
        text = thai_normalize(text)
    text = _REPEATS.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip()


class Classifier:
    """Screens case descriptions with a lexicon read from a data file."""

    def __init__(self, settings: Settings, terms: Iterable[_Term]) -> None:
        """Arrange the parsed terms for matching; use :meth:`load` instead."""
        self.settings = settings
        terms = list(terms)
        self._terms = _Index(t for t in terms if t.category != _NEGATION)
        self._negations = _Index(t for t in terms if t.category == _NEGATION)
        # the tokenizer learns the phrases that must start a word, so that it
        # does not cut across them ("แล้ว|หางาน", not "แล้|วหา|งาน")
        extra = {t.thai for t in terms if t.at_word_start or t.category == _NEGATION}
        self._dictionary = _dictionary(frozenset(w for w in extra if w))

    @classmethod
    def load(cls, lexicon_path: Path | None = None) -> Classifier:
        """Load a lexicon file; without a path, the packaged one (cached).

        Raises :class:`LexiconError` when the file is not a usable lexicon.
        """
        if lexicon_path is None:
            return _default_classifier()
        return cls.from_yaml(Path(lexicon_path).read_text(encoding="utf-8"))

    @classmethod
    def from_yaml(cls, text: str) -> Classifier:
        """Build a classifier from the YAML text of a lexicon."""
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise LexiconError(f"lexicon is not valid YAML: {exc}") from exc
        if not isinstance(document, Mapping):
            raise LexiconError("a lexicon is a mapping with settings and categories")
        settings = _parse_settings(document.get("settings"))
        terms = list(_parse_categories(document.get("categories")))
        for section, category in (("negations", _NEGATION), ("ignore", _IGNORED)):
            listed = document.get(section) or []
            if not isinstance(listed, list):
                raise LexiconError(f"{section} must be a list of words and phrases")
            terms.extend(_parse_term(category, 0.0, str(item)) for item in listed)
        return cls(settings, terms)

    def screen(self, description: str, category: str | None = None) -> Screening:
        """Screen one case: the problems its description holds, best first.

        A category chosen by the citizen or agent is kept as it is. Otherwise
        the description is classified; when nothing in it is clear enough the
        case goes to the fallback category, flagged for review by a person.
        """
        language = written_language(description) or "th"
        if category:
            if category not in CATEGORIES:
                raise ValueError(f"unknown category {category!r}")
            return Screening((Label(category, 1.0, ()),), False, METHOD_GIVEN, language)
        text = _Text(description, self._dictionary)
        tallies = self._tally(text)
        settings = self.settings
        scores = {
            category: round(1.0 - math.exp(-max(t.points, 0.0) / settings.scale), 3)
            for category, t in tallies.items()
        }
        length = max(len(text.normal), 1)

        def rank(category: str) -> float:
            stated_first = 1.0 - tallies[category].first / length
            return scores[category] + settings.first_mention_bonus * stated_first

        candidates = [c for c, s in scores.items() if s >= settings.min_score]
        if candidates:
            best = max(scores[c] for c in candidates)
            candidates = [
                c for c in candidates if scores[c] >= settings.relative * best
            ]
            candidates.sort(key=lambda c: (-rank(c), c))
        fallback = settings.fallback
        if fallback in candidates:
            # the catch-all stands alone when the description is itself a
            # general enquiry ("office hours?") and gives way to any problem
            if candidates[0] == fallback:
                candidates = [fallback]
            else:
                candidates = [c for c in candidates if c != fallback]
        if candidates:
            labels = tuple(
                Label(c, scores[c], tallies[c].evidence())
                for c in candidates[: settings.max_labels]
            )
            return Screening(labels, False, METHOD_LEXICON, language)
        own = tallies.get(fallback, _Tally())
        label = Label(fallback, scores.get(fallback, 0.0), own.evidence())
        return Screening((label,), True, METHOD_LEXICON, language)

    def warm_up(self) -> None:
        """Run the normaliser and tokenizer once, so the first case is fast."""
        # a word-start term and a negated term: both need the tokens
        self.screen("ไม่ได้ถูกเลิกจ้าง แล้วหางาน")

    def _tally(self, text: _Text) -> dict[str, _Tally]:
        """Each category's points, evidence and first mention in ``text``."""
        negations = list(self._negations.find(text))
        window = self.settings.negation_window
        tallies: dict[str, _Tally] = {}
        for match in _outermost(list(self._terms.find(text))):
            term = match.term
            if term.category == _IGNORED:
                continue
            if term.negatable and any(
                n.end <= match.start
                and text.tokens_between(n.end, match.start) <= window
                for n in negations
            ):
                continue
            tally = tallies.setdefault(term.category, _Tally(first=len(text.normal)))
            if term.key in tally.found:  # a term said twice counts once
                continue
            word = text.normal[match.start : match.end]
            tally.found[term.key] = (term.weight, match.start, word)
            tally.points += term.weight
            if term.weight > 0:
                tally.first = min(tally.first, match.start)
        return tallies


@functools.cache
def _default_classifier() -> Classifier:
    data = resources.files("labornet_routing").joinpath("data/lexicon.yml")
    classifier = Classifier.from_yaml(data.read_text(encoding="utf-8"))
    # PyThaiNLP builds its tokenizer on first use: pay that once here, not
    # on the first case
    classifier.warm_up()
    return classifier


@functools.cache
def _dictionary(extra: frozenset[str]) -> Trie:
    return Trie(set(thai_words()) | extra)


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


def _outermost(matches: list[_Match]) -> list[_Match]:
    """Drop each match inside a longer one: the longer phrase decides."""
    kept: list[_Match] = []
    for match in sorted(matches, key=lambda m: (m.start - m.end, m.start)):
        if not any(
            k.start <= match.start
            and match.end <= k.end
            and (k.start, k.end) != (match.start, match.end)
            for k in kept
        ):
            kept.append(match)
    return sorted(kept, key=lambda m: (m.start, m.end))


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
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LexiconError(f"settings: missing or bad value {exc}") from exc
    if settings.scale <= 0 or settings.max_labels < 1:
        raise LexiconError("settings: scale must be > 0 and max_labels >= 1")
    if not 0 < settings.min_score < 1 or not 0 <= settings.relative <= 1:
        raise LexiconError("settings: min_score in (0, 1), relative in [0, 1]")
    if settings.fallback not in CATEGORIES:
        raise LexiconError(f"settings: unknown fallback {settings.fallback!r}")
    return settings


def _parse_categories(raw: Any) -> Iterator[_Term]:
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


def _parse_term(category: str, weight: float, written: str) -> _Term:
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
        return _Term(category, weight, key, negatable, pattern=pattern)
    at_word_start = body.startswith("=")
    body = normalise(body.removeprefix("="))
    if _THAI.search(body):
        thai = body.replace(" ", "")
        if len(thai) < 2:
            raise LexiconError(f"{category}: {written!r} is too short to match")
        return _Term(category, weight, key, negatable, thai, at_word_start)
    words = tuple(body.split(" "))
    if not all(_ENGLISH_TERM.fullmatch(w) for w in words):
        raise LexiconError(f"{category}: {written!r} must be words, a stem* or re:")
    if words[0].endswith("*") and len(words[0]) < 4:
        raise LexiconError(f"{category}: stem {written!r} needs three letters")
    return _Term(category, weight, key, negatable, words=words)
