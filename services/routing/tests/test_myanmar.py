"""Screening Myanmar: Zawgyi or Unicode, terms at syllable boundaries,
words from the segmenter, and the words that decided shown as written."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from labornet_routing import evaluate as evaluation
from labornet_routing.classifier import Classifier
from labornet_routing.myanmar import (
    MYANMAR,
    segment,
    syllable_boundaries,
    to_unicode,
)
from labornet_testkit.lexicons import lexicon_yaml

LEXICON = lexicon_yaml(
    """
categories:
  unpaid_wages:
    3: [လစာမပေး, ค้างค่าแรง, unpaid]
    2: [လစာ]
  termination_severance:
    3: [အလုပ်ထုတ်, ~เลิกจ้าง]
  work_injury:
    3: [~ဒဏ်ရာ, ကျ, ~บาดเจ็บ]
  migrant_worker:
    3: ['=ကတ်', work permit]
""",
    negations=["ဘယ်သူမှ", "ไม่มีใคร", "ไม่ได้"],
)

# The same complaints typed in Unicode and in Zawgyi ("the employer has not
# paid the salary for two months"; "my hand was caught in the machine and
# hurt, I was taken to hospital").
UNICODE_AND_ZAWGYI = [
    ("အလုပ်ရှင်က လစာ နှစ်လ မပေးဘူး", "အလုပ္ရွင္က လစာ ႏွစ္လ မေပးဘူး"),
    (
        "စက်ထဲ လက်ညှပ်ပြီး ဒဏ်ရာရတယ် ဆေးရုံတက်ရတယ်",
        "စက္ထဲ လက္ၫွပ္ၿပီး ဒဏ္ရာရတယ္ ေဆး႐ုံတက္ရတယ္",
    ),
]


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.from_yaml(LEXICON)


@pytest.mark.parametrize(("unicode", "zawgyi"), UNICODE_AND_ZAWGYI)
def test_zawgyi_input_screens_like_its_unicode_twin(classifier, unicode, zawgyi):
    assert zawgyi != unicode
    from_unicode = classifier.screen(unicode)
    from_zawgyi = classifier.screen(zawgyi)

    assert from_zawgyi.labels == from_unicode.labels
    assert from_zawgyi.categories != ("general_inquiry",)
    assert from_zawgyi.language == from_unicode.language == "my"


def test_zawgyi_is_converted_and_unicode_left_as_it_is():
    for unicode, zawgyi in UNICODE_AND_ZAWGYI:
        assert to_unicode(zawgyi) == unicode
        assert to_unicode(unicode) == unicode
    assert to_unicode("ค้างค่าแรง 2 เดือน") == "ค้างค่าแรง 2 เดือน"


def test_the_evidence_shows_the_myanmar_words_that_decided(classifier):
    # typed in Zawgyi, shown in Unicode as the lexicon and the agency read it
    screening = classifier.screen("အလုပ္ရွင္က လစာမေပးဘူး")

    assert screening.categories == ("unpaid_wages",)
    assert screening.labels[0].evidence == ("လစာမပေး",)


def test_a_myanmar_term_is_not_found_inside_a_longer_syllable(classifier):
    # "ကျ" (fell) is the start of "ကျွန်တော်" (I) and not a syllable there
    assert classifier.screen("ကျွန်တော် ထိုင်းမှာ အလုပ်ရှာနေတယ်").needs_review
    fell = classifier.screen("လှေကားပေါ်က ကျတယ်")  # fell from the ladder

    assert fell.categories == ("work_injury",)
    assert fell.labels[0].evidence == ("ကျ",)


def test_a_term_is_found_across_the_spaces_myanmar_writers_put(classifier):
    screening = classifier.screen("အလုပ်ရှင် လစာ မပေးဘူး")

    assert screening.categories == ("unpaid_wages",)
    assert screening.labels[0].evidence == ("လစာ မပေး",)


def test_a_word_start_term_needs_a_word_start_from_the_segmenter(classifier):
    # "=ကတ်" (a card) is a word of its own in "the card is lost" and only
    # the end of the word "ပန်းရောင်ကတ်" (pink card) otherwise
    assert classifier.screen("ကတ် ပျောက်သွားတယ်").categories == ("migrant_worker",)
    assert classifier.screen("ပန်းရောင်ကတ် သက်တမ်းကုန်ပြီ").needs_review


def test_a_myanmar_negation_before_a_negatable_term(classifier):
    # "nobody was hurt" is no injury; "the worker was hurt" is
    assert classifier.screen("ဘယ်သူမှ ဒဏ်ရာမရဘူး").needs_review
    assert classifier.screen("အလုပ်သမား ဒဏ်ရာရတယ်").categories == ("work_injury",)


def test_not_paying_is_the_complaint_not_a_negation(classifier):
    # မ...ဘူး ("does not pay") is the problem itself, not a negation of it
    screening = classifier.screen("လစာ မပေးဘူး")

    assert screening.categories == ("unpaid_wages",)


def test_thai_and_myanmar_in_one_text(classifier):
    screening = classifier.screen("นายจ้าง ค้างค่าแรง လစာ မပေးဘူး")

    assert screening.categories == ("unpaid_wages",)
    assert set(screening.labels[0].evidence) == {"ค้างค่าแรง", "လစာ မပေး"}


def test_myanmar_terms_change_nothing_for_thai_and_english_texts(classifier):
    # the same lexicon without its Myanmar terms reads every labelled Thai
    # and English case the same way
    document = yaml.safe_load(LEXICON)
    document["negations"] = [n for n in document["negations"] if not MYANMAR.search(n)]
    for weights in document["categories"].values():
        for weight, terms in list(weights.items()):
            weights[weight] = [t for t in terms if not MYANMAR.search(t)]
    thai_only = Classifier.from_yaml(yaml.safe_dump(document, allow_unicode=True))
    texts = [c.text for c in evaluation.load_cases() if not MYANMAR.search(c.text)]

    assert [thai_only.screen(t) for t in texts] == [classifier.screen(t) for t in texts]


def test_syllable_boundaries_agree_with_the_segmenters_syllables():
    from mmdt_tokenizer import MyanmarSyllableTokenizer

    syllables = MyanmarSyllableTokenizer()
    texts = [u.replace(" ", "") for u, _ in UNICODE_AND_ZAWGYI] + [
        "မင်္ဂလာပါ",
        "ကျွန်တော်ထိုင်းနိုင်ငံမှာအလုပ်လုပ်နေတယ်",
        "ဥက္ကဋ္ဌဦးဘဧည့်သည်",
    ]
    for text in texts:
        starts, position = set(), 0
        for syllable in syllables.tokenize(text)[0]:
            position = text.index(syllable, position)
            starts.add(position)
            position += len(syllable)

        assert syllable_boundaries(text) == starts | {len(text)}, text


def test_the_myanmar_libraries_load_only_when_a_myanmar_text_comes():
    # the segmenter brings pandas and reads its rule files on import: a
    # service that never sees Myanmar never pays for it
    probe = (
        "import sys, labornet_routing.classifier, labornet_routing.evaluate;"
        "print(sorted(m for m in ('mmdt_tokenizer', 'pandas', 'myanmartools',"
        " 'myanmar') if m in sys.modules))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )

    assert shown.stdout.strip() == "[]"


def test_the_segmenter_gives_the_words_of_its_public_tokenizer():
    # screening calls mmdt-tokenizer's rule engine without its pandas
    # wrapping: the words must be the ones its public API gives
    from mmdt_tokenizer import MyanmarWordTokenizer

    public = MyanmarWordTokenizer()
    texts = [u for u, _ in UNICODE_AND_ZAWGYI] + [
        "ကျွန်တော် ထိုင်းနိုင်ငံ မဟာချိုင်မှာ ငါးလုပ်ငန်းမှာ အလုပ်လုပ်နေတယ်။",
        "လုပ်ခ မရသေးဘူး ၃ လ ရှိပြီ ဘတ် ၂၇,၀၀၀ ဖုန်း 0812345678",
        "ပန်းရောင်ကတ် သက်တမ်းကုန်ပြီ ဘယ်မှာ လုပ်ရမလဲ",
    ]
    for text in texts:
        assert segment(text) == public.tokenize(text)[0], text
