"""The language a text is written in, read from its script: ``th``, ``my``
or ``en``.

Screening (routing) and intake read a citizen's language with this one rule
when the citizen did not choose one, so that notices go out in the language
the citizen wrote. Only the script decides — no word list — so a Thai text
with English words in it (``โดน lay off``) is Thai, and a Myanmar text in the
Zawgyi font encoding (the same Unicode block) is Myanmar.
"""

from __future__ import annotations

import unicodedata

__all__ = ["SCREENED_LANGUAGES", "written_language"]

#: the languages the script tells apart, as ``LANGUAGES`` codes
SCREENED_LANGUAGES: tuple[str, ...] = ("th", "my", "en")


def _script(ch: str) -> str | None:
    code = ord(ch)
    if 0x0E01 <= code <= 0x0E5B:
        return "th"
    # Myanmar, Myanmar Extended-A and Extended-B
    if 0x1000 <= code <= 0x109F or 0xAA60 <= code <= 0xAA7F or 0xA9E0 <= code <= 0xA9FF:
        return "my"
    if ch.isascii() and ch.isalpha():
        return "en"
    return None


def written_language(text: str) -> str | None:
    """The language ``text`` is written in, or ``None`` when it has no
    letters of Thai, Myanmar or Latin script (digits, emoji, nothing).

    Myanmar letters win over Thai, and Thai over Latin, as soon as they are
    a fifth of the letters: a Myanmar worker's text keeps the Thai names of
    places and offices in it, and Thai writers mix in English words, but
    neither is then written *in* the other language.
    """
    counts = {"th": 0, "my": 0, "en": 0}
    for ch in unicodedata.normalize("NFC", text):
        script = _script(ch)
        if script is not None:
            counts[script] += 1
    letters = sum(counts.values())
    if not letters:
        return None
    for language in ("my", "th"):
        if counts[language] * 5 >= letters:
            return language
    return "en"
