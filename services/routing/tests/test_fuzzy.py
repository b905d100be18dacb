"""Screening corrects one typing slip in a lexicon term, shows the
correction, and leaves real words alone."""

from __future__ import annotations

import random

import pytest

from labornet_routing.classifier import Classifier, LexiconError
from labornet_routing.fuzzy import FuzzyIndex, one_edit
from labornet_testkit.lexicons import lexicon_yaml

LEXICON = lexicon_yaml(
    """
categories:
  unpaid_wages:
    3: [ค่าจ้าง, เงินเดือน]
  termination_severance:
    3: [~เลิกจ้าง]
  social_security_membership:
    3: [ประกันสังคม]
  working_conditions:
    3: [นายจ้างยึด, วันลา]
  job_seeking:
    3: [ว่างงาน, ตกงาน]
  workplace_safety:
    3: [ที่สูง]
  work_injury:
    3: [ในงาน]
""",
    negations=["ไม่ได้"],
    fuzzy_min_length=5,
    fuzzy_factor=0.8,
)


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.from_yaml(LEXICON)


@pytest.mark.parametrize(
    ("text", "category", "shown"),
    [
        ("ค่าจางยังไม่ได้เลยค่ะ", "unpaid_wages", "ค่าจาง→ค่าจ้าง"),
        ("โดนเลิกจางกะทันหัน", "termination_severance", "เลิกจาง→เลิกจ้าง"),
        ("ประกันสังคงไม่จ่ายเงิน", "social_security_membership", "ประกันสังคง→ประกันสังคม"),
        ("นายจ้ายึดพาสปอร์ต", "working_conditions", "นายจ้ายึด→นายจ้างยึด"),
    ],
)
def test_a_misspelt_term_is_corrected_and_the_correction_shown(
    classifier, text, category, shown
):
    screening = classifier.screen(text)

    assert screening.categories == (category,)
    assert screening.labels[0].evidence == (shown,)


def test_a_corrected_term_counts_for_less_than_a_term_as_written(classifier):
    exact = classifier.screen("ค่าจ้างยังไม่ได้").labels[0].score
    corrected = classifier.screen("ค่าจางยังไม่ได้").labels[0].score

    # weight 3 gives 0.777; 3 x fuzzy_factor 0.8 gives 0.699
    assert (exact, corrected) == (0.777, 0.699)


def test_a_correctly_spelt_word_near_a_term_is_not_corrected(classifier):
    # "เลิกร้าง" (separated from a spouse) is one letter from "เลิกจ้าง"
    # (dismissed) and a word of its own
    assert classifier.screen("เลิกร้างกับสามีแล้วค่ะ").needs_review


def test_a_common_word_in_place_of_the_terms_word_is_not_a_slip(classifier):
    # "วันละ" (a day) is one letter from "วันลา" (leave days); "ว่างาน" in
    # "บอกว่างาน" is "ว่า" + "งาน" (said the work), not "ว่างงาน"
    assert classifier.screen("ทำงานวันละ 12 ชั่วโมง").needs_review
    assert classifier.screen("เขาบอกว่างานนี้สบาย").needs_review


def test_words_that_read_as_written_on_purpose_are_not_slips(classifier):
    # "ที่|ส่ง" (that sent) is common words one letter from "ที่สูง" (a
    # height); "เงิน 2 เดือน" (money, 2 months) puts a number in "เงินเดือน"
    assert classifier.screen("บริษัทที่ส่งไปทำงาน").needs_review
    assert classifier.screen("เงิน 2 เดือน ไม่พอใช้").needs_review


def test_a_slip_as_near_another_word_is_not_corrected(classifier):
    # Northern "กนงาน" (คนงาน, workers) is one letter from "ในงาน" (at work)
    # and from "คนงาน": which one was meant is not for screening to guess
    assert classifier.screen("มีกนงานพม่าสิบคน").needs_review


def test_a_slip_is_whole_words_not_a_piece_of_a_longer_word(classifier):
    # "พนักงาน" (staff) holds "กงาน", one letter from "ตกงาน" (jobless)
    assert classifier.screen("เป็นพนักงานขายมาสิบปี").needs_review


def test_a_negation_before_a_corrected_term_still_applies(classifier):
    assert classifier.screen("ถูกเลิกจางเมื่อวาน").categories == ("termination_severance",)
    assert classifier.screen("ไม่ได้ถูกเลิกจางนะคะ").needs_review


def test_a_term_found_as_written_is_not_also_corrected(classifier):
    screening = classifier.screen("ค่าจ้างไม่ครบ ค่าจางเดือนก่อนก็ไม่ได้")

    assert screening.labels[0].evidence == ("ค่าจ้าง",)


def test_exact_only_turns_corrections_off(classifier):
    exact_only = Classifier.from_yaml(LEXICON, exact_only=True)

    assert exact_only.screen("ค่าจางยังไม่ได้เลยค่ะ").needs_review
    assert classifier.screen("ค่าจางยังไม่ได้เลยค่ะ").categories == ("unpaid_wages",)


def test_short_terms_are_not_corrected():
    # fuzzy_min_length 8: "ค่าจ้าง" (7 letters with its marks) only as written
    strict = Classifier.from_yaml(
        LEXICON.replace("fuzzy_min_length: 5", "fuzzy_min_length: 8")
    )

    assert strict.screen("ค่าจางยังไม่ได้").needs_review
    assert strict.screen("โดนเลิกจางกะทันหัน").categories == ("termination_severance",)


def test_a_factor_of_zero_turns_corrections_off_in_the_file():
    off = Classifier.from_yaml(LEXICON.replace("fuzzy_factor: 0.8", "fuzzy_factor: 0"))

    assert off.screen("ค่าจางยังไม่ได้").needs_review


@pytest.mark.parametrize(
    "setting", ["fuzzy_min_length: 3", "fuzzy_factor: 1.5", "fuzzy_factor: -1"]
)
def test_bad_fuzzy_settings_are_refused(setting):
    broken = LEXICON.replace("fuzzy_factor: 0.8", setting).replace(
        "fuzzy_min_length: 5", setting
    )

    with pytest.raises(LexiconError, match="fuzzy"):
        Classifier.from_yaml(broken)


def test_the_index_finds_every_window_one_edit_away():
    # against the definition, on random slips of a few forms in noise
    forms = ["ค่าจ้าง", "เลิกจ้าง", "ประกันสังคม", "ว่างงาน", "aabaa", "ababab"]
    index = FuzzyIndex([(f, f) for f in forms], 5)
    letters = "ค่าจ้งเลิกab"
    rng = random.Random(7)
    for _ in range(2000):
        slipped = list(rng.choice(forms))
        at = rng.randrange(len(slipped))
        edit = rng.randrange(3)
        if edit == 0:
            slipped[at] = rng.choice(letters)
        elif edit == 1:
            del slipped[at]
        else:
            slipped.insert(at, rng.choice(letters))
        noise = ["".join(rng.choices(letters, k=rng.randrange(4))) for _ in "ab"]
        text = noise[0] + "".join(slipped) + noise[1]
        # a form standing in the text as written is the exact matcher's
        wanted = [f for f in forms if f not in text]
        found = {(n.start, n.end, n.form) for n in index.find(text)}
        expected = {
            (start, end, form)
            for form in wanted
            for start in range(len(text))
            for end in range(start + 1, len(text) + 1)
            if one_edit(text[start:end], form)
        }

        assert {n for n in found if n[2] in wanted} == expected, text


@pytest.mark.parametrize(
    ("window", "form", "expected"),
    [
        ("ค่าจาง", "ค่าจ้าง", True),  # a tone mark left out
        ("ค่าจ้างง", "ค่าจ้าง", True),  # a letter too many
        ("ค่าจ่าง", "ค่าจ้าง", True),  # another tone mark
        ("ค่าจ้าง", "ค่าจ้าง", False),  # no slip
        ("ค่าจ่า", "ค่าจ้าง", False),  # two
        ("ab", "ba", False),  # swapped letters are two edits
    ],
)
def test_one_edit(window, form, expected):
    assert one_edit(window, form) is expected


ENGLISH = lexicon_yaml(
    """
categories:
  unpaid_wages:
    3: [salary]
  termination_severance:
    3: [~fired, severance pay]
  skill_training:
    3: [training]
  migrant_worker:
    3: [work permit]
""",
    negations=["not"],
)


@pytest.mark.parametrize(
    ("text", "category", "shown"),
    [
        ("My boss has not paid my salery", "unpaid_wages", "salery→salary"),
        (
            "I got no severence pay",
            "termination_severance",
            "severence pay→severance pay",
        ),
        ("my work permt expired", "migrant_worker", "work permt→work permit"),
    ],
)
def test_an_english_slip_is_corrected_and_shown(text, category, shown):
    screening = Classifier.from_yaml(ENGLISH).screen(text)

    assert screening.categories == (category,)
    assert screening.labels[0].evidence == (shown,)


def test_an_english_word_is_not_taken_for_a_slip():
    classifier = Classifier.from_yaml(ENGLISH)

    # "hired" and "raining" are one letter from "fired" and "training"
    assert classifier.screen("I was hired last week").needs_review
    assert classifier.screen("It was raining and I slipped").needs_review
    assert classifier.screen("I was fird yesterday").categories == (
        "termination_severance",
    )
    assert classifier.screen("I was not fird").needs_review  # negated


NEGATED = lexicon_yaml(
    """
categories:
  working_conditions:
    3: [บ่มีวันหยุด, ไม่มีวันหยุด, นายจ้างบ่จ่าย]
""",
    negations=["ไม่ได้"],
    fuzzy_min_length=5,
    fuzzy_factor=0.8,
)


@pytest.mark.parametrize(
    "text",
    [
        "ก่มีวันหยุดเน้อ",  # Northern ก่ (also): "has days off too"
        "เพิ่น ก่มีวันหยุด",
        "มีวันหยุดทุกอาทิตย์",  # no negation at all
        "นายจ้างก่จ่ายแล้ว",  # the negation inside a term
    ],
)
def test_a_slip_never_makes_or_unmakes_a_negation(text):
    # no ignore entries: the engine itself refuses these corrections
    screening = Classifier.from_yaml(NEGATED).screen(text)

    assert screening.needs_review, screening


def test_a_slip_may_change_a_negation_into_another_form_of_it():
    # migrant Thai drops the tone mark: ไม is still "not"
    screening = Classifier.from_yaml(NEGATED).screen("ไมมีวันหยุดเลย")

    assert screening.labels[0].evidence == ("ไมมีวันหยุด→ไม่มีวันหยุด",)
