"""Screening: which problems does a case hold?

A case that arrives without a category (most cases from the phone, LINE and
walk-ins) is classified from its description with a weighted lexicon of Thai,
Myanmar and English words and phrases, ``data/lexicon.yml``. A category's
score comes from the lexicon terms found in the text, and those terms are the
label's evidence, so the agency (and the citizen) can see why a case came to
it. Everything tunable -- terms, weights, thresholds, negations -- lives in
the data file; this module only applies it.

How a description is read (``data/README.md`` says it at length):

1. normalised (``lexicon.normalise``): Unicode NFC, lower case, Thai digits
   as 0-9, Thai spelling repaired by PyThaiNLP (doubled vowels, ``เเ`` for
   ``แ``), runs of three or more identical letters squeezed to one
   (``ค้างจ่ายยย``), spaces collapsed; Myanmar typed in Zawgyi converted to
   Unicode (``myanmar.py``) when the lexicon has Myanmar terms;
2. tokenised with PyThaiNLP's ``newmm`` (Thai is written without spaces) and
   Myanmar with ``mmdt-tokenizer``; the tokens give word starts and the
   distance from a negation to a term;
3. matched against the lexicon: Thai and Myanmar terms anywhere in the text
   with its spaces removed (writers split words with spaces, and
   tokenisation splits misspelt words unpredictably), Myanmar ones only from
   and to a syllable boundary, or only where a word starts for terms marked
   ``=`` (``หางาน`` is not in ``ปัญหางาน``); English terms as whole words,
   ``*`` ending a stem; ``re:`` patterns on the normalised text. A Thai or
   English term not found as written may be found with one slip
   (``ค่าจาง→ค่าจ้าง``, ``fuzzy.py``), for a share of its weight;
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
import dataclasses
import functools
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pythainlp.corpus import thai_words
from pythainlp.tokenize import word_tokenize
from pythainlp.util import Trie

from labornet_routing.fuzzy import (
    NEGATION_WORDS,
    FuzzyIndex,
    changes_a_word,
    common_words,
    cuts_a_syllable,
    has_another_near_word,
    is_english_word,
    slips,
    word_bounds,
)
from labornet_routing.lexicon import (
    IGNORED,
    NEGATION,
    LexiconError,
    Settings,
    Term,
    normalise,
    parse_lexicon,
    read_text,
)
from labornet_routing.myanmar import (
    MYANMAR,
    myanmar_runs,
    syllable_boundaries,
)
from labornet_routing.myanmar import word_starts as myanmar_word_starts
from labornet_shared.categories import CATEGORIES
from labornet_shared.written_language import written_language

__all__ = [
    "Classifier",
    "Label",
    "LexiconError",
    "Screening",
    "Settings",
    "normalise",
]

METHOD_LEXICON = "lexicon"
METHOD_GIVEN = "given"

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")


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
class _Match:
    term: Term
    start: int  # offsets into the normalised text
    end: int
    corrected: bool = False  # found with one slip (see fuzzy.py)


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

    def __init__(self, terms: Iterable[Term]) -> None:
        self.thai: dict[str, list[Term]] = {}
        self.words: dict[str, list[Term]] = {}
        self.stems: dict[str, list[Term]] = {}
        self.patterns: list[Term] = []
        for term in terms:
            if term.phrase:
                # by the first two letters: each position of the text is
                # looked up once instead of searching for every phrase
                self.thai.setdefault(term.phrase[:2], []).append(term)
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
                if not compact.startswith(term.phrase, i):
                    continue
                stop = i + len(term.phrase)
                # a Myanmar term is never part of a longer syllable
                if term.myanmar and not (
                    i in text.syllable_bounds and stop in text.syllable_bounds
                ):
                    continue
                start = offsets[i]
                if term.at_word_start and start not in text.word_starts:
                    continue
                yield _Match(term, start, offsets[stop - 1] + 1)
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

    def __init__(
        self, description: str, dictionary: Trie, myanmar: bool = False
    ) -> None:
        # Myanmar is read as Myanmar only for a lexicon with Myanmar terms:
        # without them a text is read exactly as before they existed
        self.myanmar = myanmar and bool(MYANMAR.search(description))
        self.normal = read_text(description, self.myanmar)
        # offset in ``normal`` of each character of the text without spaces
        self.offsets = [i for i, ch in enumerate(self.normal) if ch != " "]
        self.compact = "".join(self.normal[i] for i in self.offsets)
        self.words = [
            (m.group(), m.start(), m.end()) for m in _WORD.finditer(self.normal)
        ]
        self._dictionary = dictionary

    @functools.cached_property
    def token_starts(self) -> list[int]:
        """Where each token (not a space) starts in ``normal``: PyThaiNLP's
        for Thai and Latin, the Myanmar segmenter's words for Myanmar.

        Tokenising is half the cost of a screening, so it happens only when
        a word-start term, a negation or a corrected slip needs it.
        """
        if not self.myanmar:
            return self._thai_token_starts(self.normal, 0)
        # Myanmar runs go to the Myanmar segmenter, the rest to newmm
        starts: list[int] = []
        position = 0
        for run_start, run_end in myanmar_runs(self.normal):
            starts += self._thai_token_starts(self.normal[position:run_start], position)
            run = self.normal[run_start:run_end]
            starts += [run_start + s for s in myanmar_word_starts(run)]
            position = run_end
        return starts + self._thai_token_starts(self.normal[position:], position)

    def _thai_token_starts(self, text: str, offset: int) -> list[int]:
        starts: list[int] = []
        position = offset
        tokens = word_tokenize(text, custom_dict=self._dictionary, engine="newmm")
        for token in tokens:
            if not token.isspace():
                starts.append(position)
            position += len(token)
        return starts

    @functools.cached_property
    def syllable_bounds(self) -> frozenset[int]:
        """Where Myanmar syllables start and end in ``compact``."""
        return syllable_boundaries(self.compact)

    @functools.cached_property
    def word_starts(self) -> frozenset[int]:
        """``token_starts`` as a set."""
        return frozenset(self.token_starts)

    def word_at(self, offset: int) -> str:
        """The token of ``normal`` that holds ``offset``."""
        starts = self.token_starts
        i = bisect.bisect_right(starts, offset) - 1
        end = starts[i + 1] if i + 1 < len(starts) else len(self.normal)
        return self.normal[starts[i] if i >= 0 else 0 : end].rstrip()

    @functools.cached_property
    def word_ends(self) -> frozenset[int]:
        """Where each token ends in ``normal`` (before any space)."""
        # spaces are collapsed: a token is followed by one space at most
        normal = self.normal
        nexts = [*self.token_starts[1:], len(normal)]
        return frozenset(n - (normal[n - 1 : n] == " ") for n in nexts)

    def tokens_between(self, end: int, start: int) -> int:
        """How many tokens start in ``[end, start)``."""
        starts = self.token_starts
        return bisect.bisect_left(starts, start) - bisect.bisect_left(starts, end)


class Classifier:
    """Screens case descriptions with a lexicon read from a data file."""

    def __init__(self, settings: Settings, terms: Iterable[Term]) -> None:
        """Arrange the parsed terms for matching; use :meth:`load` instead."""
        self.settings = settings
        terms = list(terms)
        self._terms = _Index(t for t in terms if t.category != NEGATION)
        self._negations = _Index(t for t in terms if t.category == NEGATION)
        # the tokenizer learns the phrases that must start a word, so that it
        # does not cut across them ("แล้ว|หางาน", not "แล้|วหา|งาน")
        extra = {
            t.phrase
            for t in terms
            if (t.at_word_start or t.category == NEGATION) and not t.myanmar
        }
        self._dictionary = _dictionary(frozenset(w for w in extra if w))
        self._reads_myanmar = any(t.myanmar for t in terms)
        # Thai terms that count (not negations, not ignored phrases) may be
        # found with one slip; every phrase of the lexicon is a known word
        self._fuzzy: FuzzyIndex[Term] = FuzzyIndex(
            (
                (t.phrase, t)
                for t in terms
                if t.phrase
                and not t.myanmar
                and t.category not in (NEGATION, IGNORED)
                and settings.fuzzy_factor > 0
            ),
            settings.fuzzy_min_length,
        )
        self._known = frozenset(t.phrase for t in terms if t.phrase)
        # a slip never makes or unmakes a "not" (``ก่`` is one from ``บ่``)
        self._negation_words = NEGATION_WORDS | {
            t.phrase for t in terms if t.category == NEGATION and t.phrase
        }
        # what else a slip could be of: a word of the dictionary or another
        # phrase of the lexicon
        self._near_words = _thai_words() | self._known
        # English terms' words, each with its term and place in it
        self._english: FuzzyIndex[tuple[Term, int]] = FuzzyIndex(
            (
                (word, (t, place))
                for t in terms
                if t.words
                and t.category not in (NEGATION, IGNORED)
                and settings.fuzzy_factor > 0
                for place, word in enumerate(t.words)
                if not word.endswith("*")
            ),
            settings.fuzzy_min_length,
        )
        self._known_words = frozenset(w for t in terms for w in t.words)
        # where each correctable term's words start, to tell which word of
        # the term a slip changed
        self._word_bounds = {
            t.phrase: word_bounds(t.phrase, self._dictionary)
            for t in terms
            if self._fuzzy
            and not t.myanmar
            and len(t.phrase) >= settings.fuzzy_min_length
        }

    @classmethod
    def load(
        cls, lexicon_path: Path | None = None, exact_only: bool = False
    ) -> Classifier:
        """Load a lexicon file; without a path, the packaged one (cached).

        ``exact_only`` finds terms only as written (no corrected slips),
        whatever the file's ``fuzzy_factor``. Raises :class:`LexiconError`
        when the file is not a usable lexicon.
        """
        if lexicon_path is None:
            return _default_classifier(exact_only)
        text = Path(lexicon_path).read_text(encoding="utf-8")
        return cls.from_yaml(text, exact_only=exact_only)

    @classmethod
    def from_yaml(cls, text: str, exact_only: bool = False) -> Classifier:
        """Build a classifier from the YAML text of a lexicon."""
        settings, terms = parse_lexicon(text)
        if exact_only:
            settings = dataclasses.replace(settings, fuzzy_factor=0.0)
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
        text = _Text(description, self._dictionary, self._reads_myanmar)
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
        if self._reads_myanmar:
            # the Zawgyi detector and converter, and the Myanmar segmenter
            self.screen("အလုပ္ရွင္က လစာ မေပးဘူး")
        if self._english:
            is_english_word("warm")

    def _tally(self, text: _Text) -> dict[str, _Tally]:
        """Each category's points, evidence and first mention in ``text``."""
        negations = list(self._negations.find(text))
        window = self.settings.negation_window
        tallies: dict[str, _Tally] = {}
        matches = list(self._terms.find(text))
        if self._fuzzy:
            matches += self._corrections(text, matches)
        if self._english:
            matches += self._english_corrections(text, matches)
        for match in _outermost(matches):
            term = match.term
            if term.category == IGNORED:
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
            weight = term.weight
            if match.corrected:
                word = f"{word}→{term.shown}"
                weight *= self.settings.fuzzy_factor
            tally.found[term.key] = (weight, match.start, word)
            tally.points += weight
            if weight > 0:
                tally.first = min(tally.first, match.start)
        return tallies

    def _corrections(self, text: _Text, exact: list[_Match]) -> list[_Match]:
        """Terms not found as written but found with one slip.

        A window is not corrected when it is itself a word: a lexicon phrase
        or a word of the Thai dictionary (``เลิกร้าง``, "separated", is not a
        slip for ``เลิกจ้าง``), or two words that the missing letter would
        join (``ว่า|งาน`` is not ``ว่างงาน``).
        """
        found = {(m.term.category, m.term.key) for m in exact}
        corrections: dict[tuple[str, str, int, int], _Match] = {}
        compact, offsets = text.compact, text.offsets
        for near in self._fuzzy.find(compact):
            term = near.payload
            window = compact[near.start : near.end]
            if (
                (term.category, term.key) in found
                or window in self._known
                or window in _thai_words()
            ):
                continue
            start, end = offsets[near.start], offsets[near.end - 1] + 1
            key = (term.category, term.key, start, end)
            if key in corrections:
                continue
            ways = slips(window, term.phrase)
            # the cheap test first: the newmm tokens are computed only for
            # the few windows that pass it
            if changes_a_word(
                window,
                term.phrase,
                ways,
                self._word_bounds[term.phrase],
                self._negation_words,
            ):
                continue
            # the window is whole words of the text, not pieces of longer
            # ones ("พนักงาน" holds "กงาน", one slip from "ตกงาน"): by the
            # spelling first, then by the tokens
            if cuts_a_syllable(compact, near.start, near.end):
                continue
            if start not in text.word_starts or end not in text.word_ends:
                continue
            if _common_words_only(text, start, end):
                continue
            if has_another_near_word(window, term.phrase, self._near_words):
                continue
            corrections[key] = _Match(term, start, end, corrected=True)
        return list(corrections.values())

    def _english_corrections(self, text: _Text, exact: list[_Match]) -> list[_Match]:
        """English terms with one slip in one of their words ("salery").

        A word is corrected only when it is no English word (``hired`` is not
        a slip for ``fired``, nor ``raining`` for ``training``) and no word of
        the lexicon; the term's other words must stand as written.
        """
        found = {(m.term.category, m.term.key) for m in exact}
        corrections: list[_Match] = []
        words = text.words
        shortest = self._english.min_length - 1
        for i, (word, _, _) in enumerate(words):
            if (
                len(word) < shortest
                or word in self._known_words
                or not word.isalpha()
                or is_english_word(word)
            ):
                continue
            for near in self._english.find(word):
                term, place = near.payload
                if (
                    (near.start, near.end) != (0, len(word))
                    or (term.category, term.key) in found
                    or i < place
                ):
                    continue
                written = list(term.words)
                written[place] = word
                stop = _words_end(tuple(written), words, i - place)
                if stop is not None:
                    first = words[i - place][1]
                    corrections.append(_Match(term, first, stop, corrected=True))
        return corrections


@functools.cache
def _default_classifier(exact_only: bool = False) -> Classifier:
    data = resources.files("labornet_routing").joinpath("data/lexicon.yml")
    text = data.read_text(encoding="utf-8")
    classifier = Classifier.from_yaml(text, exact_only=exact_only)
    # PyThaiNLP builds its tokenizer on first use: pay that once here, not
    # on the first case
    classifier.warm_up()
    return classifier


@functools.cache
def _dictionary(extra: frozenset[str]) -> Trie:
    return Trie(set(thai_words()) | extra)


@functools.cache
def _thai_words() -> frozenset[str]:
    return frozenset(thai_words())


def _common_words_only(text: _Text, start: int, end: int) -> bool:
    """Whether the text's words from ``start`` to ``end`` are all common
    words: "ที่|ส่ง" reads as written on purpose, and is no slip for "ที่สูง";
    "ค่า|จาง" (จาง, faded, is rare) and "ประกัน|สัง|คง" are slips."""
    common = common_words()
    starts = text.token_starts
    first = bisect.bisect_left(starts, start)
    last = bisect.bisect_left(starts, end)
    return all(text.word_at(s) in common for s in starts[first:last])


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
