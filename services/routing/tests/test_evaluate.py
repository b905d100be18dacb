"""The evaluation: figures per register, goals, the refusal to list
held-out misses, and today's figures beside the current ones."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from labornet_routing import evaluate as evaluation
from labornet_routing.classifier import Classifier
from labornet_testkit.lexicons import lexicon_yaml

LEXICON = lexicon_yaml(
    """
categories:
  unpaid_wages:
    3: [ค้างค่าแรง, ค่าจ้าง]
  termination_severance:
    3: [เลิกจ้าง]
  job_seeking:
    3: [หางาน]
""",
    first_mention_bonus=0.2,
)

# id, text, categories, split, register
CASES = [
    ("T1", "นายจ้างค้างค่าแรงสองเดือน", "unpaid_wages", "heldout", "standard"),
    ("T2", "ถูกเลิกจ้างค่ะ", "termination_severance", "heldout", "standard"),
    ("T3", "อยากหางานทำ", "job_seeking", "train", "standard"),
    # Isan: both found, one extra label
    (
        "T4",
        "ถูกเลิกจ้างแล้ว ค้างค่าแรงนำ อยากหางาน",
        "termination_severance|unpaid_wages",
        "heldout",
        "isan",
    ),
    # misspelt: found only when corrected (ค่าจาง)
    ("T5", "ค่าจางยังบ่ได้", "unpaid_wages", "heldout", "misspelt"),
    # not about labour at all: the provincial office
    ("T6", "ขอบคุณค่ะ", "general_inquiry", "heldout", "not_labour"),
    ("T7", "ค่าจางไม่ครบ", "unpaid_wages", "train", "misspelt"),
    ("T8", "boss ค้างค่าแรง 2 months", "unpaid_wages", "heldout", "code_switched"),
]


def write_cases(path: Path, rows=CASES, register_column: bool = True) -> Path:
    out = io.StringIO()
    columns = ["id", "text", "categories", "split"]
    columns += ["register"] if register_column else []
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(row[: len(columns)])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path: Path, monkeypatch) -> dict[str, Path]:
    # screenings per second over a hundredth of a second, not a second
    monkeypatch.setattr(evaluation, "_TIMING_SECONDS", 0.01)
    lexicon = tmp_path / "lexicon.yml"
    lexicon.write_text(LEXICON, encoding="utf-8")
    return {"lexicon": lexicon, "cases": write_cases(tmp_path / "cases.csv")}


def run(files, *argv: str) -> list[str]:
    return [
        "--lexicon",
        str(files["lexicon"]),
        "--cases",
        str(files["cases"]),
        *argv,
    ]


def test_figures_per_register(files):
    classifier = Classifier.load(files["lexicon"])
    cases = evaluation.load_cases(files["cases"])
    report = evaluation.evaluate(classifier, cases, "heldout", measure_speed=False)
    figures = {f.register: f for f in report.per_register}

    assert list(figures) == [
        "standard",
        "isan",
        "code_switched",
        "misspelt",
        "not_labour",
    ]
    isan = figures["isan"]
    # two categories given, both found, with the job search as a third label
    assert (isan.cases, isan.given, isan.found) == (1, 2, 2)
    assert (isan.recall, isan.main_accuracy, isan.labels_per_case) == (1.0, 1.0, 3.0)
    assert figures["misspelt"].recall == 1.0
    assert figures["not_labour"].main_accuracy == 1.0
    new = report.register(*evaluation.NEW_REGISTERS)
    # 5 categories given over 4 cases, all found, in 6 labels
    assert (new.cases, new.given, new.found, new.labels) == (4, 5, 5, 6)
    assert new.labels_per_case == 1.5
    assert report.register("standard").main_accuracy == 1.0


def test_the_report_prints_every_register_and_the_goals(files, capsys):
    assert evaluation.main(run(files)) == 0
    out = capsys.readouterr().out

    assert "isan" in out and "misspelt" in out and "not_labour" in out
    assert "labels per case" in out
    assert "goals (held-out split):" in out
    assert "new registers labels per case: 1.500 (goal <= 1.3)" in out


def test_a_row_without_a_register_reads_as_standard(tmp_path):
    path = write_cases(tmp_path / "old.csv", register_column=False)

    assert {c.register for c in evaluation.load_cases(path)} == {"standard"}


def test_an_unknown_register_is_refused(tmp_path):
    rows = [(*CASES[0][:4], "klingon")]

    with pytest.raises(ValueError, match="register"):
        evaluation.load_cases(write_cases(tmp_path / "bad.csv", rows))


@pytest.mark.parametrize("split", ["heldout", "all"])
def test_misses_are_refused_on_held_out_cases(files, capsys, split):
    with pytest.raises(SystemExit) as stopped:
        evaluation.main(run(files, "--misses", "--split", split))

    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "--split train" in error
    assert "held-out figures meaningless" in error


def test_misses_on_the_train_split_list_the_wrong_cases(files, capsys):
    assert evaluation.main(run(files, "--misses", "--split", "train")) == 0
    out = capsys.readouterr().out

    assert "misses" in out
    assert "T1" not in out  # a held-out case is never listed


def test_enforce_fails_when_a_goal_is_missed(files, capsys):
    # the Isan case gets a third label, a job search it only mentions: 6
    # labels over 4 new-register cases
    assert evaluation.main(run(files, "--enforce")) == 1
    out = capsys.readouterr().out
    assert "FAIL: goal missed on the held-out split: new registers labels" in out

    # a job search only as "หางานทำ": 5 labels over 4 cases, 1.25
    files["lexicon"].write_text(LEXICON.replace("[หางาน]", "[หางานทำ]"))
    assert evaluation.main(run(files, "--enforce")) == 0
    assert "OK: every goal met" in capsys.readouterr().out


def test_enforce_fails_when_the_new_registers_recall_is_missed(files, capsys):
    # exact terms only: the misspelt case is missed (recall 4/5)
    assert evaluation.main(run(files, "--enforce", "--exact-only")) == 1
    assert "FAIL" in capsys.readouterr().out
    goals = evaluation.goals(
        evaluation.evaluate(
            Classifier.load(files["lexicon"], exact_only=True),
            evaluation.load_cases(files["cases"]),
            measure_speed=False,
        )
    )
    recall = next(g for g in goals if g.name == "new registers recall")
    assert (recall.value, recall.met) == (0.8, False)


def test_a_goal_without_cases_is_not_failed(tmp_path, files, capsys):
    standard_only = write_cases(tmp_path / "standard.csv", CASES[:3])
    argv = ["--lexicon", str(files["lexicon"]), "--cases", str(standard_only)]

    assert evaluation.main([*argv, "--enforce"]) == 0
    assert "n/a  new registers recall: no cases" in capsys.readouterr().out


def test_a_baseline_is_written_and_shown_beside_the_figures(files, tmp_path, capsys):
    baseline = tmp_path / "baseline.json"
    assert (
        evaluation.main(run(files, "--exact-only", "--write-baseline", str(baseline)))
        == 0
    )
    written = json.loads(baseline.read_text(encoding="utf-8"))
    heldout = written["splits"]["heldout"]

    assert set(written["splits"]) == {"heldout", "train", "all"}
    assert heldout["registers"]["misspelt"]["recall"] == 0.0  # exact terms only
    assert heldout["categories"]["unpaid_wages"]["recall"] == 0.75
    capsys.readouterr()

    assert evaluation.main(run(files, "--baseline", str(baseline))) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "(today)" in out
    # misspelt: recall 1.000 now, 0.000 today
    assert lines["misspelt"].split()[2] == "1.000"
    assert lines["misspelt"].split()[-3] == "0.000"
    assert "recall today" in out


@pytest.mark.parametrize("split", ["train", "all"])
def test_the_goals_are_not_shown_beside_other_splits(files, capsys, split):
    # the goals are held-out figures: someone tuning on train must not see them
    assert evaluation.main(run(files, "--split", split)) == 0
    out = capsys.readouterr().out

    assert f"split={split}" in out
    assert "goals (held-out split)" not in out
    assert "new registers labels per case" not in out


def test_enforce_shows_the_goals_whatever_the_split(files, capsys):
    assert evaluation.main(run(files, "--split", "train", "--enforce")) == 1
    out = capsys.readouterr().out

    assert "goals (held-out split):" in out
    assert "FAIL: goal missed on the held-out split" in out
