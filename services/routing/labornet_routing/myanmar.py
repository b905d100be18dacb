"""Myanmar script for screening: font encoding, syllables and words.

Many Myanmar phones still type in the Zawgyi font encoding, which puts
different characters in the same Unicode block (``ျမန္မာ`` for ``မြန်မာ``).
A description is read as Zawgyi when Google's detector (``myanmartools``)
gives it a probability of at least :data:`ZAWGYI_PROBABILITY`, and is then
converted to Unicode by ``python-myanmar``'s converter, so that the lexicon's
Unicode terms are found in it.

Lexicon terms in Myanmar script are found only where they start and end at a
syllable boundary (:func:`syllable_boundaries`), so that a term is never
found inside a longer syllable (``ထိ``, "hit", is not in ``ထိုင်း``,
"Thai"). Word starts, for ``=term`` and for the distance from a negation,
come from the rule-based segmenter ``mmdt-tokenizer``.

The segmenter imports pandas and reads its rule files when imported, so it
is imported on first use and kept; the detector and the converter likewise.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable
from typing import Any

__all__ = [
    "MYANMAR",
    "ZAWGYI_PROBABILITY",
    "normalise_myanmar",
    "segment",
    "syllable_boundaries",
    "to_unicode",
    "word_starts",
]

#: a character of the Myanmar blocks (the script ``written_language`` reads)
MYANMAR = re.compile(r"[\u1000-\u109f\uaa60-\uaa7f\ua9e0-\ua9ff]")

#: Unicode text scores near 0 and Zawgyi sentences near 1; a short Zawgyi
#: phrase can score 0.3-0.7 (``မဂၤလာပါ``: 0.54), a Unicode one of a few
#: words stays below 0.01. Descriptions are sentences, so the midpoint.
ZAWGYI_PROBABILITY = 0.5

# Myanmar letters and signs; a run of them, spaces allowed inside
_LETTER = "\u1000-\u103f\u1050-\u109f\uaa60-\uaa7f\ua9e0-\ua9ff"
_DIGIT = "\u1040-\u1049"
# The digit zero typed for the letter wa (``၀န်ထမ်း`` for ``ဝန်ထမ်း``): a
# zero next to a letter or sign and to no other digit is the letter.
_ZERO_AS_WA = re.compile(
    rf"(?<![{_DIGIT}])\u1040(?=[\u102b-\u103e])"
    rf"|(?<=[{_LETTER}])\u1040(?![{_DIGIT}])"
)
# Vowel signs typed in the other order look the same on screen: the order
# Unicode's Myanmar notes give (upper vowel before lower, ု before ံ).
_SIGN_ORDER = (("\u102f\u102d", "\u102d\u102f"), ("\u1036\u102f", "\u102f\u1036"))
# Where a syllable starts (the rule mmdt-tokenizer's syllable breaker uses):
# a consonant that is not stacked under another (after ္) and is not itself
# a final (before ် or ္), an independent vowel or ဥ, a digit or a mark.
_SYLLABLE_START = re.compile(
    r"(?<!\u1039)[\u1000-\u1021](?![\u103a\u1039])(?!\u1037\u103a)"
    r"|[\u1023\u1024\u1026\u1027\u1029\u102a\u103f\u1040-\u104f]"
    r"|\u1025(?!\u103a)"
)
_RUN = re.compile(rf"[{_LETTER}](?:[{_LETTER} ]*[{_LETTER}])?")


def to_unicode(text: str) -> str:
    """``text`` with Myanmar typed in Zawgyi converted to Unicode.

    Text without Myanmar, or whose Myanmar is Unicode, comes back as it is.
    """
    if not MYANMAR.search(text):
        return text
    if _detector().get_zawgyi_probability(text) < ZAWGYI_PROBABILITY:
        return text
    converted: str = _converter().convert(text, "zawgyi", "unicode")
    return converted


def normalise_myanmar(text: str) -> str:
    """Repair the Myanmar typing slips that change no letter on screen."""
    text = _ZERO_AS_WA.sub("\u101d", text)
    for typed, stored in _SIGN_ORDER:
        text = text.replace(typed, stored)
    return text


def syllable_boundaries(compact: str) -> frozenset[int]:
    """Offsets in ``compact`` where a syllable starts or ends.

    Every offset next to a character that is not Myanmar counts (Thai,
    Latin, digits, the start and the end of the text): only the inside of a
    Myanmar syllable is not a boundary.
    """
    bounds = {0, len(compact)}
    bounds.update(m.start() for m in _SYLLABLE_START.finditer(compact))
    for i, ch in enumerate(compact):
        if not MYANMAR.match(ch):
            bounds.update((i, i + 1))
    return frozenset(bounds)


def myanmar_runs(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` of each run of Myanmar words in ``text``."""
    return [m.span() for m in _RUN.finditer(text)]


def word_starts(run: str) -> list[int]:
    """Where each word the segmenter finds in ``run`` starts in it.

    The segmenter cleans its input (punctuation, patterns), so each of its
    words is looked up in ``run`` from where the last one ended; a word not
    found there is passed over.
    """
    offsets = [i for i, ch in enumerate(run) if ch != " "]
    compact = "".join(run[i] for i in offsets)
    starts: list[int] = []
    cursor = 0
    for word in segment(run):
        word = word.replace(" ", "")
        found = compact.find(word, cursor) if word else -1
        if found < 0:
            continue
        starts.append(offsets[found])
        cursor = found + len(word)
    return starts


@functools.cache
def _detector() -> Any:
    from myanmartools import ZawgyiDetector

    with warnings.catch_warnings():
        # it reads its model with importlib.resources.open_binary, which
        # Python 3.11 and 3.12 call deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        return ZawgyiDetector()


@functools.cache
def _converter() -> Any:
    from myanmar import converter

    return converter


def segment(text: str) -> list[str]:
    """The words ``mmdt-tokenizer`` finds in ``text``, as its
    ``MyanmarWordTokenizer().tokenize(text)[0]`` gives them."""
    words: list[str] = _segmenter()(text)
    return words


@functools.cache
def _segmenter() -> Callable[[str], list[str]]:
    # The public tokenizer wraps the text, and each phrase's syllables, in
    # pandas Series: two thirds of its time. Its rule engine is called here
    # with the same syllable breaker and the same last step, which gives
    # the same words (a test holds them to it; the version is pinned).
    from mmdt_tokenizer import MyanmarSyllableTokenizer
    from mmdt_tokenizer.rule_segmenter.collapse import collapse_to_phrase_chunks
    from mmdt_tokenizer.rule_segmenter.engine import rule_segment

    syllables = MyanmarSyllableTokenizer()._break_one

    def words(text: str) -> list[str]:
        chunks = rule_segment(text, True, get_syllabus=syllables)
        found: list[str] = collapse_to_phrase_chunks([chunks])[1][0]
        return found

    return words
