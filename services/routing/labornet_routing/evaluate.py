"""How well does screening read cases? ``python -m labornet_routing.evaluate``.

Screens the labelled case texts (``data/cases_labelled.csv``) as if they had
arrived without a category and compares the labels with the categories people
gave them:

- per category, precision, recall and F1, counting every category a case was
  given and every category screening found (a case holds several problems);
- main-category accuracy: the share of cases whose best label is the first
  (main) category people gave -- the referral that matters most. On the
  held-out split this is the issue's "overall accuracy" (goal: >= 90 %);
- exact-set accuracy: the share of cases whose labels are exactly the set of
  categories people gave, no more and no fewer (stricter);
- how many cases were flagged for screening by a person;
- screenings per second, measured in the same run.

``--enforce`` exits with status 1 when held-out main-category accuracy is
below the goal (``make eval-routing``); ``--misses`` lists the cases screening
got wrong, with the evidence it used, to guide edits of the lexicon (train
split only: tuning on held-out cases would make the figure meaningless).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from labornet_routing.classifier import Classifier, Screening
from labornet_shared.categories import CATEGORIES

GOAL = 0.90
SPLITS = ("heldout", "train", "all")
# Throughput is measured over repeated passes for at least this long, so one
# slow pass (a garbage collection, another process) does not decide it.
_TIMING_SECONDS = 1.0


@dataclass(frozen=True)
class LabelledCase:
    """A case text with the categories people gave it (the first is main)."""

    id: str
    text: str
    categories: tuple[str, ...]
    split: str


@dataclass(frozen=True)
class CategoryFigures:
    """Counts and ratios for one category over a split."""

    category: str
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def support(self) -> int:
        """How many cases people gave this category."""
        return self.true_positives + self.false_negatives

    @property
    def precision(self) -> float:
        """Of the cases screening labelled so, the share that were."""
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 0.0

    @property
    def recall(self) -> float:
        """Of the cases people labelled so, the share screening found."""
        return self.true_positives / self.support if self.support else 0.0

    @property
    def f1(self) -> float:
        """The harmonic mean of precision and recall."""
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


@dataclass(frozen=True)
class Report:
    """The evaluation of one split."""

    split: str
    cases: int
    main_correct: int
    exact_correct: int
    flagged: int
    flagged_general: int
    per_category: tuple[CategoryFigures, ...]
    screenings_per_second: float
    misses: tuple[tuple[LabelledCase, Screening], ...]

    @property
    def main_accuracy(self) -> float:
        """Share of cases whose best label is their main category."""
        return self.main_correct / self.cases if self.cases else 0.0

    @property
    def exact_accuracy(self) -> float:
        """Share of cases whose labels are exactly their categories."""
        return self.exact_correct / self.cases if self.cases else 0.0


def load_cases(path: Path | None = None) -> list[LabelledCase]:
    """Read the labelled case texts; without a path, the packaged file."""
    if path is None:
        text = (
            resources.files("labornet_routing")
            .joinpath("data/cases_labelled.csv")
            .read_text(encoding="utf-8")
        )
    else:
        text = Path(path).read_text(encoding="utf-8")
    cases = []
    for row in csv.DictReader(io.StringIO(text)):
        categories = tuple(c.strip() for c in row["categories"].split("|"))
        unknown = [c for c in categories if c not in CATEGORIES]
        if unknown or row["split"] not in ("train", "heldout"):
            raise ValueError(f"case {row['id']}: bad categories or split")
        cases.append(LabelledCase(row["id"], row["text"], categories, row["split"]))
    return cases


def evaluate(
    classifier: Classifier,
    cases: Sequence[LabelledCase],
    split: str = "heldout",
    measure_speed: bool = True,
) -> Report:
    """Screen the cases of ``split`` and compare with their categories.

    ``measure_speed`` also times repeated screenings of the split's texts
    (about a second); without it ``screenings_per_second`` is 0.
    """
    chosen = [c for c in cases if split == "all" or c.split == split]
    screenings = [classifier.screen(case.text) for case in chosen]
    counts = {c: [0, 0, 0] for c in CATEGORIES}
    main_correct = exact_correct = flagged = flagged_general = 0
    misses = []
    for case, screening in zip(chosen, screenings, strict=True):
        gold = set(case.categories)
        found = set(screening.categories)
        for category in gold & found:
            counts[category][0] += 1
        for category in found - gold:
            counts[category][1] += 1
        for category in gold - found:
            counts[category][2] += 1
        main = screening.categories[0] == case.categories[0]
        main_correct += main
        exact_correct += gold == found
        if screening.needs_review:
            flagged += 1
            flagged_general += case.categories[0] == "general_inquiry"
        if not main or gold != found:
            misses.append((case, screening))
    figures = tuple(CategoryFigures(c, *counts[c]) for c in CATEGORIES)
    return Report(
        split=split,
        cases=len(chosen),
        main_correct=main_correct,
        exact_correct=exact_correct,
        flagged=flagged,
        flagged_general=flagged_general,
        per_category=figures,
        screenings_per_second=(
            _throughput(classifier, [c.text for c in chosen]) if measure_speed else 0.0
        ),
        misses=tuple(misses),
    )


def _throughput(classifier: Classifier, texts: list[str]) -> float:
    if not texts:
        return 0.0
    screened = 0
    started = time.perf_counter()
    elapsed = 0.0
    while elapsed < _TIMING_SECONDS:
        for text in texts:
            classifier.screen(text)
        screened += len(texts)
        elapsed = time.perf_counter() - started
    return screened / elapsed


def format_report(report: Report, show_misses: bool = False) -> str:
    """The report as the text ``evaluate`` prints."""
    lines = [
        f"screening evaluation: split={report.split}, {report.cases} cases",
        "",
        f"{'category':<28} {'prec':>6} {'recall':>6} {'f1':>6} {'cases':>6}",
    ]
    for f in report.per_category:
        lines.append(
            f"{f.category:<28} {f.precision:6.3f} {f.recall:6.3f} {f.f1:6.3f}"
            f" {f.support:6d}"
        )
    lines += [
        "",
        f"main-category accuracy  {report.main_accuracy:6.1%}"
        f"  ({report.main_correct}/{report.cases}; best label == the main category;"
        " on heldout this is the goal figure, >= 90 %)",
        f"exact-set accuracy      {report.exact_accuracy:6.1%}"
        f"  ({report.exact_correct}/{report.cases}; labels == all the categories)",
        f"flagged for review      {report.flagged:6d}"
        f"  ({report.flagged_general} of them general_inquiry cases)",
        f"screenings per second   {report.screenings_per_second:6.0f}",
    ]
    if show_misses:
        lines += ["", "misses (given -> screened, with evidence):"]
        for case, screening in report.misses:
            found = "; ".join(
                f"{label.category} {label.score:.2f} [{', '.join(label.evidence)}]"
                for label in screening.labels
            )
            lines.append(f"{case.id} {'|'.join(case.categories)} -> {found}")
            lines.append(f"      {case.text}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the evaluation from the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m labornet_routing.evaluate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--split", choices=SPLITS, default="heldout")
    parser.add_argument(
        "--enforce",
        action="store_true",
        help=f"exit 1 if held-out main-category accuracy < {GOAL:.0%}",
    )
    parser.add_argument("--misses", action="store_true", help="list wrong cases")
    parser.add_argument("--lexicon", type=Path, help="a lexicon file to evaluate")
    parser.add_argument("--cases", type=Path, help="a labelled CSV to evaluate on")
    args = parser.parse_args(argv)
    classifier = Classifier.load(args.lexicon)
    cases = load_cases(args.cases)
    report = evaluate(classifier, cases, args.split)
    print(format_report(report, show_misses=args.misses))
    if not args.enforce:
        return 0
    heldout = (
        report
        if args.split == "heldout"
        else evaluate(classifier, cases, measure_speed=False)
    )
    if heldout.main_accuracy < GOAL:
        print(
            f"FAIL: held-out main-category accuracy {heldout.main_accuracy:.1%}"
            f" is below the goal of {GOAL:.0%}"
        )
        return 1
    print(f"OK: held-out main-category accuracy {heldout.main_accuracy:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
