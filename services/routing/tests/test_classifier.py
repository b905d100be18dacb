"""Screening: the problems a case's description holds, and why."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from labornet_routing import evaluate as evaluation
from labornet_routing.classifier import Classifier, Label, LexiconError, normalise
from labornet_shared.categories import CATEGORIES
from labornet_testkit.lexicons import lexicon_yaml

ISSUE_EXAMPLE = "ถูกเลิกจ้างไม่ได้ค่าชดเชย อยากขอเงินว่างงานและหางานใหม่"

TINY_LEXICON = lexicon_yaml(
    """
categories:
  unpaid_wages:
    3: [ค้างค่าแรง]
"""
)


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.load()


def screened(classifier: Classifier, text: str) -> tuple[str, ...]:
    return classifier.screen(text).categories


def test_the_issues_case_holds_three_problems_dismissal_first(classifier):
    screening = classifier.screen(ISSUE_EXAMPLE)

    assert screening.method == "lexicon"
    assert not screening.needs_review
    assert screening.categories[0] == "termination_severance"
    assert set(screening.categories) == {
        "termination_severance",
        "social_security_benefit",
        "job_seeking",
    }
    evidence = {label.category: label.evidence for label in screening.labels}
    assert {"เลิกจ้าง", "ค่าชดเชย"} <= set(evidence["termination_severance"])
    assert "เงินว่างงาน" in evidence["social_security_benefit"]
    assert "หางาน" in evidence["job_seeking"]


def test_labels_are_best_first_with_scores_between_0_and_1(classifier):
    labels = classifier.screen(ISSUE_EXAMPLE).labels

    assert all(0 < label.score <= 1 for label in labels)
    assert labels[0].score == max(label.score for label in labels)


def test_a_category_chosen_by_the_citizen_or_agent_is_kept(classifier):
    # the text speaks of wages, but the agent chose training: the agent wins
    screening = classifier.screen("ค้างค่าแรง 2 เดือน", category="skill_training")

    assert screening.labels == (Label("skill_training", 1.0, ()),)
    assert screening.method == "given"
    assert not screening.needs_review


def test_an_unknown_given_category_is_refused(classifier):
    with pytest.raises(ValueError, match="unknown category"):
        classifier.screen("ค้างค่าแรง", category="parking_fines")


@pytest.mark.parametrize(
    "text",
    [
        "สวัสดีค่ะ มีเรื่องอยากปรึกษา",
        "hello",
        "",
        "   ",
        "ปัญหางานที่บ้านเยอะ",  # "หางาน" is inside "ปัญหางาน", not a job search
    ],
)
def test_nothing_clear_goes_to_the_provincial_office_for_a_person(classifier, text):
    screening = classifier.screen(text)

    assert screening.categories == ("general_inquiry",)
    assert screening.needs_review


def test_a_general_enquiry_that_says_so_needs_no_review(classifier):
    screening = classifier.screen("สำนักงานแรงงานจังหวัดเปิดทำการวันเสาร์ไหม")

    assert screening.categories == ("general_inquiry",)
    assert not screening.needs_review
    assert "เปิดทำการ" in screening.labels[0].evidence


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My employer has not paid my salary for two months", {"unpaid_wages"}),
        (
            "I was laid off without severance and want to claim unemployment benefit",
            {"termination_severance", "social_security_benefit"},
        ),
        ("Our workers have no helmets or safety harnesses", {"workplace_safety"}),
        ("How do I renew the work permits of my Myanmar staff?", {"migrant_worker"}),
        ("ช่วยด้วยค่ะ boss ไม่จ่าย salary มา 2 เดือน", {"unpaid_wages"}),
    ],
)
def test_english_and_mixed_text(classifier, text, expected):
    assert set(screened(classifier, text)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ค่าเเรงค้างจ่ายยย ช่วยทวงให้หน่อยค่ะ", "unpaid_wages"),  # เเ, yyy
        ("โดนเลิกจ้าง ค่าชเชยยังไม่ได้", "termination_severance"),
        ("ประกันสังคน ม.๓๙ ขาดส่ง สมัครใหม่ได้ไหม", "social_security_membership"),
        ("ว่างงาานนานมาก หางานไม่ได้เลย", "job_seeking"),
        ("ค่า ชดเชย ไม่ ได้ ถูก ไล่ ออก", "termination_severance"),
    ],
)
def test_misspelt_and_oddly_spaced_text(classifier, text, expected):
    assert screened(classifier, text)[0] == expected


def test_amounts_and_counts_do_not_change_the_problem(classifier):
    plain = classifier.screen("นายจ้างค้างค่าแรง ทวงแล้วไม่จ่าย")
    with_amounts = classifier.screen(
        "นายจ้างค้างค่าแรง 3 เดือน 27,000 บาท ทวงแล้วไม่จ่าย ๒ ครั้ง"
    )

    assert with_amounts.categories == plain.categories == ("unpaid_wages",)
    assert with_amounts.labels[0].evidence == plain.labels[0].evidence


def test_numbers_are_not_mistaken_for_social_security_sections(classifier):
    # 33 years and 400 days are not "section 33" or "section 40"
    text = "ทำงานมา 33 ปี ถูกเลิกจ้าง ไม่ได้ค่าชดเชย 400 วัน"

    assert screened(classifier, text) == ("termination_severance",)
    assert screened(classifier, "ส่ง มาตรา 39 ต่อได้ไหม") == (
        "social_security_membership",
    )


def test_a_negated_problem_does_not_count(classifier):
    assert screened(classifier, "ไม่ได้ถูกเลิกจ้าง ลาออกเอง อยากขอเงินว่างงาน") == (
        "social_security_benefit",
    )
    assert "work_injury" not in screened(classifier, "เครื่องจักรไม่มีที่ครอบ ยังไม่มีใครบาดเจ็บ")
    assert "work_injury" in screened(classifier, "เครื่องจักรไม่มีที่ครอบ คนงานบาดเจ็บ")


def test_not_receiving_something_is_the_complaint_not_a_negation(classifier):
    # "ไม่ได้ค่าชดเชย" (got no severance) is the problem itself
    assert screened(classifier, "ไม่ได้ค่าชดเชยเลย") == ("termination_severance",)


def test_a_longer_phrase_decides_over_the_words_inside_it(classifier):
    # "เงินทดแทนการขาดรายได้" is a benefit; "เงินทดแทน" alone, the injury fund
    screening = classifier.screen("ป่วยหยุดงาน ขอเงินทดแทนการขาดรายได้จากประกันสังคม")

    assert screening.categories[0] == "social_security_benefit"
    assert "เงินทดแทน" not in screening.labels[0].evidence


def test_evidence_is_words_found_in_the_normalised_text(classifier):
    cases = evaluation.load_cases()

    for case in cases:
        screening = classifier.screen(case.text)
        text = normalise(case.text)
        for label in screening.labels:
            # a corrected slip shows as written→as the lexicon has it
            written = [word.split("→")[0] for word in label.evidence]
            assert all(word in text for word in written), case.id
            if not screening.needs_review:
                assert label.evidence, case.id


def test_screening_is_deterministic():
    texts = [case.text for case in evaluation.load_cases()[:120]]
    first = [Classifier.load().screen(text) for text in texts]
    fresh = Classifier.load(
        Path(str(resources.files("labornet_routing") / "data" / "lexicon.yml"))
    )

    assert [fresh.screen(text) for text in texts] == first
    assert [Classifier.load().screen(text) for text in texts] == first


def test_the_packaged_lexicon_is_loaded_once():
    assert Classifier.load() is Classifier.load()


def test_the_lexicon_file_is_the_source_of_the_words(tmp_path):
    lexicon = tmp_path / "lexicon.yml"
    lexicon.write_text(TINY_LEXICON, encoding="utf-8")
    text = "นายจ้างค้างเงินเดือน 2 เดือน"

    assert Classifier.load(lexicon).screen(text).needs_review

    lexicon.write_text(
        TINY_LEXICON.replace("[ค้างค่าแรง]", "[ค้างค่าแรง, ค้างเงินเดือน]"),
        encoding="utf-8",
    )
    screening = Classifier.load(lexicon).screen(text)

    assert screening.categories == ("unpaid_wages",)
    assert screening.labels[0].evidence == ("ค้างเงินเดือน",)
    assert not screening.needs_review


def test_the_lexicon_file_holds_the_thresholds(tmp_path):
    lexicon = tmp_path / "lexicon.yml"
    lexicon.write_text(
        TINY_LEXICON.replace("min_score: 0.5", "min_score: 0.9"), encoding="utf-8"
    )

    # one decisive term (score 0.78) no longer clears the bar
    assert Classifier.load(lexicon).screen("ค้างค่าแรง").needs_review


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (TINY_LEXICON.replace("unpaid_wages:", "parking:"), "unknown category"),
        (TINY_LEXICON.replace("  scale: 2.0\n", ""), "settings"),
        (TINY_LEXICON.replace("[ค้างค่าแรง]", "[ค้างค่าแรง, ค้างค่าแรง]"), "twice"),
        (TINY_LEXICON.replace("[ค้างค่าแรง]", "['re:(']"), "bad pattern"),
        ("- a list", "mapping"),
    ],
)
def test_a_broken_lexicon_is_refused_with_a_reason(tmp_path, broken, message):
    lexicon = tmp_path / "lexicon.yml"
    lexicon.write_text(broken, encoding="utf-8")

    with pytest.raises(LexiconError, match=message):
        Classifier.load(lexicon)


def test_the_labelled_set_is_as_the_issue_asks():
    text = (
        resources.files("labornet_routing") / "data" / "cases_labelled.csv"
    ).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    cases = evaluation.load_cases()
    heldout = [case for case in cases if case.split == "heldout"]
    mains = Counter(case.categories[0] for case in cases)
    heldout_mains = Counter(case.categories[0] for case in heldout)

    assert len(cases) >= 600
    assert len({row["id"] for row in rows}) == len(rows)
    assert len({case.text for case in cases}) == len(cases)
    assert set(mains) == set(CATEGORIES)
    assert set(heldout_mains) == set(CATEGORIES)  # stratified
    assert 0.25 <= len(heldout) / len(cases) <= 0.35
    assert sum(len(case.categories) > 1 for case in cases) >= 80


#: the ways people really write that the standard set missed (issue 16)
NEW_REGISTERS = evaluation.NEW_REGISTERS


def test_every_new_register_is_labelled_and_held_out_in_part():
    rows = list(
        csv.DictReader(
            io.StringIO(
                (
                    resources.files("labornet_routing") / "data" / "cases_labelled.csv"
                ).read_text(encoding="utf-8")
            )
        )
    )
    by_register: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_register.setdefault(row["register"], []).append(row)

    assert set(by_register) == {"standard", *NEW_REGISTERS}
    assert sum(len(by_register[r]) for r in NEW_REGISTERS) >= 250
    for register in NEW_REGISTERS:
        cases = by_register[register]
        mains = {row["categories"].split("|")[0] for row in cases}
        held = [row for row in cases if row["split"] == "heldout"]
        assert len(cases) >= 30, register
        # 35 % of each register and main category, rounded per small group
        assert 0.25 <= len(held) / len(cases) <= 0.45, register
        if register == "not_labour":
            assert mains == {"general_inquiry"}
        else:
            assert mains == set(CATEGORIES), register
    myanmar = by_register["myanmar"]
    assert all(re.search("[\u1000-\u109f]", row["text"]) for row in myanmar)


def test_held_out_main_category_accuracy_reaches_the_goal(classifier):
    # the issue's goal is on the standard cases; the new registers' goals
    # are measured by `make eval-routing`
    cases = [c for c in evaluation.load_cases() if c.register == "standard"]
    report = evaluation.evaluate(classifier, cases, "heldout", measure_speed=False)

    assert report.main_accuracy >= evaluation.GOAL
    assert report.exact_accuracy >= 0.75


#: what the new registers' held-out recall has reached (0.908 on
#: 2026-12-08); the issue's goal is NEW_REGISTERS_RECALL_GOAL (0.95), which
#: `make eval-routing` measures and reports as missed until it is reached.
#: This keeps a lexicon edit from quietly undoing what was reached.
NEW_REGISTERS_RECALL_REACHED = 0.90


def test_the_new_registers_keep_what_they_reached(classifier):
    report = evaluation.evaluate(
        classifier, evaluation.load_cases(), "heldout", measure_speed=False
    )
    new = report.register(*NEW_REGISTERS)

    assert new.recall >= NEW_REGISTERS_RECALL_REACHED
    assert new.labels_per_case <= evaluation.NEW_REGISTERS_LABELS_GOAL
    # Myanmar script was not read at all before (0.125 held-out recall)
    assert report.register("myanmar").recall >= 0.85


def test_evaluate_enforces_the_goal(tmp_path, capsys):
    lexicon = tmp_path / "lexicon.yml"
    lexicon.write_text(TINY_LEXICON, encoding="utf-8")

    assert evaluation.main(["--enforce", "--lexicon", str(lexicon)]) == 1
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("ค้างจ่ายยย", "ค้างจ่าย"),  # emphasis
        ("pleaseee", "please"),
        ("ได้ไหมมม ครับบบ", "ได้ไหม ครับ"),
        ("ไล่ลูกเรือออก", "ไล่ลูกเรือออก"),  # เรือ|ออก: three real อ
        ("หื้อออกจากงาน", "หื้อออกจากงาน"),  # Northern ให้ออก
        ("มือออกมา", "มือออกมา"),
        ("ขอออก", "ขอออก"),
        ("ไล่ออออก", "ไล่ออก"),  # a stretched ออ
        ("จริงหรอออ ค่ะ", "จริงหรอ ค่ะ"),  # a stretched อ at a word's end
    ],
)
def test_emphasis_is_squeezed_but_real_letters_are_kept(text, normal):
    assert normalise(text) == normal


def test_a_term_with_three_real_letters_in_a_row_is_found():
    lexicon = lexicon_yaml(
        """
categories:
  termination_severance:
    3: [ไล่ลูกเรือออก, หื้อออก]
"""
    )
    classifier = Classifier.from_yaml(lexicon)

    for text in ("ไต๋ไล่ลูกเรือออกกลางทะเล", "นายจ้างหื้อออกแล้ว"):
        screening = classifier.screen(text)
        assert screening.categories == ("termination_severance",), text
    assert classifier.screen("ไล่ลูกเรือก").needs_review
