"""Lexicon terms found with one typing slip: ``ค่าจาง`` for ``ค่าจ้าง``.

A term is within one edit of a stretch of text (a window) when one letter or
sign inserted, deleted or substituted turns the window into the term (Thai
tone marks and vowels are letters here). With one edit, one half of the term
always stands in the window intact: the first half at the window's start
(the slip is in the second half) or the second half at its end. So each
term's two halves are indexed once by their first two letters, as the exact
matcher indexes whole terms; a reading of the text looks each position up
once, and only the few windows a half anchors -- three lengths each -- are
checked letter by letter against that one term. Nothing is compared with
every term, and the index is built once per lexicon.

The checks that keep corrections honest (the window is no word of its own)
belong to the classifier, which knows the lexicon and the dictionary.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pythainlp.corpus import tnc
from pythainlp.tokenize import word_tokenize
from pythainlp.util import Trie

__all__ = [
    "NEGATION_WORDS",
    "FuzzyIndex",
    "Near",
    "changes_a_word",
    "common_words",
    "cuts_a_syllable",
    "has_another_near_word",
    "is_english_word",
    "one_edit",
    "slips",
    "word_bounds",
]

T = TypeVar("T")
# a half of a form: the half, where it starts in the form, the form, its
# payload, and the form's other half
_Half = tuple[str, int, str, T, str]
_THAI = re.compile(r"[\u0e00-\u0e7f]")


@dataclass(frozen=True)
class Near(Generic[T]):
    """A window of the text one edit away from an indexed form."""

    start: int  # offsets into the text searched
    end: int
    form: str
    payload: T


class FuzzyIndex(Generic[T]):
    """Forms (each with a payload) to find with one edit in a text."""

    def __init__(self, entries: Iterable[tuple[str, T]], min_length: int) -> None:
        """Index the forms of at least ``min_length`` letters (at least 4)."""
        self.min_length = max(min_length, 4)
        # each half of a form, keyed by its first three letters (two for a
        # half of two), with where it starts in the form (0: the first half)
        # and the form's other half
        self._halves: dict[str, list[_Half[T]]] = {}
        self._short_halves: dict[str, list[_Half[T]]] = {}
        for form, payload in entries:
            if len(form) < self.min_length:
                continue
            half = len(form) // 2
            head, tail = form[:half], form[half:]
            for piece, at, other in ((head, 0, tail), (tail, half, head)):
                entry = (piece, at, form, payload, other)
                if len(piece) >= 3:
                    self._halves.setdefault(piece[:3], []).append(entry)
                else:
                    self._short_halves.setdefault(piece, []).append(entry)

    def __bool__(self) -> bool:
        return bool(self._halves or self._short_halves)

    def find(self, text: str) -> list[Near[T]]:
        """Every window of ``text`` exactly one edit from an indexed form
        that does not stand in it as written where the window starts (for
        a slip after the first half) or ends (before the second half).

        A window may be reported twice (from both halves); callers keep one.
        """
        halves, short = self._halves, self._short_halves
        found: list[Near[T]] = []
        for i in range(len(text) - 1):
            for bucket in (halves.get(text[i : i + 3]), short.get(text[i : i + 2])):
                if not bucket:
                    continue
                for piece, at, form, payload, other in bucket:
                    if not text.startswith(piece, i):
                        continue
                    if at == 0:
                        # the slip is after the first half: the window starts
                        # here, its end depends on the slip
                        for end in _ends_after(text, i + len(piece), other):
                            found.append(Near(i, end, form, payload))
                    else:
                        # the slip is before the second half: the window ends
                        # with it
                        for start in _starts_before(text, i, other):
                            found.append(Near(start, i + len(piece), form, payload))
        return found


def _ends_after(text: str, at: int, rest: str) -> tuple[int, ...]:
    """Where windows end whose text from ``at`` is ``rest`` with one edit."""
    if text.startswith(rest, at):
        return ()  # no slip: the exact matcher finds it
    size = len(text)
    q = 0  # the first letter that differs: one edit there or nowhere
    while at + q < size and text[at + q] == rest[q]:
        q += 1
    ends = []
    if at + q < size and text.startswith(rest[q + 1 :], at + q + 1):
        ends.append(at + len(rest))  # substituted
    if text.startswith(rest[q + 1 :], at + q):
        ends.append(at + len(rest) - 1)  # left out
    if at + q < size and text.startswith(rest[q:], at + q + 1):
        ends.append(at + len(rest) + 1)  # one letter too many
    return tuple(ends)


def _starts_before(text: str, at: int, lead: str) -> tuple[int, ...]:
    """Where windows start whose text up to ``at`` is ``lead`` with one edit."""
    size = len(lead)
    if text.endswith(lead, 0, at):
        return ()
    q = 0  # letters equal, counted back from ``at``
    while q < at and text[at - 1 - q] == lead[size - 1 - q]:
        q += 1
    cut = size - 1 - q  # the differing letter of ``lead``
    starts = []
    if q < at and text.endswith(lead[:cut], 0, at - 1 - q):
        starts.append(at - size)  # substituted
    if text.endswith(lead[:cut], 0, at - q):
        starts.append(at - size + 1)  # left out
    if q < at and text.endswith(lead[: cut + 1], 0, at - 1 - q):
        starts.append(at - size - 1)  # one letter too many
    return tuple(starts)


def one_edit(window: str, form: str) -> bool:
    """Whether one insertion, deletion or substitution turns one into the
    other (exactly one: equal strings are not)."""
    if window == form:
        return False
    short, long = (window, form) if len(window) <= len(form) else (form, window)
    if len(long) - len(short) > 1:
        return False
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    if len(short) == len(long):  # one substitution at i
        return short[i + 1 :] == long[i + 1 :]
    return short[i:] == long[i + 1 :]  # one letter more in ``long`` at i


def slips(window: str, form: str) -> list[tuple[int, str]]:
    """Every way one edit turns ``form`` into ``window``, as ``(at, letter)``.

    ``at`` is an offset in ``form`` and ``letter`` what stands there in the
    window: a substituted letter (same lengths), ``""`` for a letter of the
    form the window lacks, or, when the window has one letter more, the
    letter inserted before ``form[at]``. Doubled letters give more than one
    way (``ว่างาน`` lacks either ``ง`` of ``ว่างงาน``).
    """
    ways: list[tuple[int, str]] = []
    if len(window) == len(form):
        ways = [(k, window[k]) for k in range(len(form)) if window[k] != form[k]]
        return ways if len(ways) == 1 else []
    if len(window) + 1 == len(form):
        return [(k, "") for k in range(len(form)) if form[:k] + form[k + 1 :] == window]
    if len(window) == len(form) + 1:
        return [
            (k, window[k])
            for k in range(len(window))
            if window[:k] + window[k + 1 :] == form
        ]
    return ways


# A slip is not corrected when it leaves a common word in place of the
# term's word: "วันละ" (a day) is not a slip for "วันลา" (leave days), nor
# "ที่ส่ง" for "ที่สูง". Common: at least this many of the 33.5 million
# words of the Thai National Corpus (about 60 a million). The slips people
# make in lexicon words land on rare words or none: "ค่าจาง" (จาง 1,368),
# "นายจ้า" (จ้า 751), "ประกันสังคง" (none).
_COMMON_WORD_COUNT = 2000


@functools.cache
def common_words() -> frozenset[str]:
    return frozenset(
        word for word, count in tnc.word_freqs() if count >= _COMMON_WORD_COUNT
    )


def word_bounds(phrase: str, dictionary: Trie) -> list[int]:
    """Where the words of ``phrase`` start, and its end."""
    bounds = [0]
    for token in word_tokenize(phrase, custom_dict=dictionary, engine="newmm"):
        bounds.append(bounds[-1] + len(token))
    return bounds


#: The Thai words for "not" (Central, migrant Thai without the tone mark,
#: Isan and Northern, formal); the lexicon's negations are added to them.
NEGATION_WORDS = frozenset({"ไม่", "ไม", "บ่", "มิ"})


def changes_a_word(
    window: str,
    phrase: str,
    ways: list[tuple[int, str]],
    bounds: list[int],
    negations: frozenset[str] = NEGATION_WORDS,
) -> bool:
    """Whether the slip leaves a common word where the term has one of
    its words ("ไม่" for "ไล่" in "ไล่ออก"), puts a letter that is not
    Thai, or one between two of its words, in it ("เงิน 2 เดือน" is not
    "เงินเดือน"), or makes or unmakes a negation: a word of ``negations``
    in the term must stay one of them (``ไมมีวันหยุด`` is ``ไม่มีวันหยุด``,
    Northern ``ก่มีวันหยุด``, "also has days off", is not ``บ่มีวันหยุด``),
    and no other word may become one."""
    common = common_words()
    inserted = len(window) > len(phrase)
    for k, letter in ways:
        if inserted and (k in bounds or not _THAI.match(letter)):
            return True
        word_start = max(b for b in bounds if b <= k)
        word_end = min(b for b in bounds if b > k)
        rest = k if inserted else k + 1
        changed = phrase[word_start:k] + letter + phrase[rest:word_end]
        if not changed or changed in common:
            return True
        if (phrase[word_start:word_end] in negations) != (changed in negations):
            return True
    return False


# Thai letters that never start a word (tone marks, vowels written above or
# below or after a consonant) and that never end one (vowels written before
# it); a consonant after ั or ็ is a final, which closes a syllable.
_NOT_FIRST = frozenset("\u0e30\u0e31\u0e32\u0e33\u0e45") | frozenset(
    map(chr, [*range(0x0E34, 0x0E3B), *range(0x0E47, 0x0E4F)])
)
_NOT_LAST = frozenset("\u0e40\u0e41\u0e42\u0e43\u0e44")
_BEFORE_A_FINAL = frozenset("\u0e31\u0e47")


def cuts_a_syllable(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` starts or ends inside a Thai syllable, by
    the spelling alone ("ักงาน", "งานท" of "งานที่", "กงาน" after "พนั"): no
    word starts or ends there, and no tokenizer is needed to say so."""
    first, last = text[start], text[end - 1]
    return (
        first in _NOT_FIRST
        or last in _NOT_LAST
        or (start > 0 and text[start - 1] in _NOT_LAST | _BEFORE_A_FINAL)
        or (end < len(text) and text[end] in _NOT_FIRST)
    )


# the Thai letters and signs a slip can add or put in place of another
_THAI_LETTERS = tuple(
    chr(code) for code in range(0x0E01, 0x0E4F) if chr(code).isprintable()
)


def has_another_near_word(window: str, form: str, words: frozenset[str]) -> bool:
    """Whether a word of ``words`` other than ``form`` is also one edit from
    ``window``: the slip could be of either ("กนงาน", Northern for "คนงาน",
    is one letter from "ในงาน" and from "คนงาน"), so it is not corrected.

    Tries every insertion, deletion and substitution of a Thai letter (about
    a thousand look-ups): only for the few windows every other test passed.
    """
    for k in range(len(window) + 1):
        head, tail = window[:k], window[k:]
        for letter in _THAI_LETTERS:
            if (inserted := head + letter + tail) != form and inserted in words:
                return True
        if not tail:
            break
        if (deleted := head + tail[1:]) != form and deleted in words:
            return True
        for letter in _THAI_LETTERS:
            changed = head + letter + tail[1:]
            if changed not in (form, window) and changed in words:
                return True
    return False


def is_english_word(word: str) -> bool:
    """Whether ``word`` (lower case) is an English word: pyspellchecker's
    list of 160,000, loaded on the first word asked about."""
    return word in _english_words()


@functools.cache
def _english_words() -> frozenset[str]:
    from spellchecker import SpellChecker

    return frozenset(SpellChecker(language="en").word_frequency.keys())
