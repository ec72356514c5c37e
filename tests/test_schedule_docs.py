"""docs/schedules.md and the README quote what the examples print: rerun them and compare."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "schedules.md").read_text()
README = (ROOT / "README.md").read_text()


@pytest.fixture(scope="module")
def diabetes_run(tmp_path_factory, run_example):
    """One run of examples/diabetes.py (a few seconds), shared by the tests that read its output."""
    out = tmp_path_factory.mktemp("diabetes")
    return out, run_example("diabetes", out)


def table(output, header_start):
    """The header line starting with ``header_start`` and the rows under it."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = lines[start : start + 4]
    return [row for row in rows if row and not row.startswith("saved ")]


def test_the_comparison_table_is_the_one_diabetes_py_prints(diabetes_run):
    out, output = diabetes_run
    rows = table(output, "schedule ")
    assert [row.split()[0] for row in rows[1:]] == ["constant", "cyclic", "onecycle"]
    for row in rows:
        assert row in DOC, f"docs/schedules.md does not show this printed line:\n{row}"
    assert (out / "schedules.png").stat().st_size > 0


def readme_results_row(start):
    """The last four cells of the README's results-table row whose first cell starts with ``start``."""
    section = README.split("## Results on the Pima data", 1)[1].split("\n## ", 1)[0]
    row = next(line for line in section.splitlines() if line.startswith(f"| {start}"))
    return [cell.strip().strip("*") for cell in row.strip().strip("|").split("|")][-4:]


@pytest.mark.parametrize("printed, readme", [("article (sigmoid)", "the article's"), ("deeper (ReLU)", "deeper")])
def test_the_readme_results_are_the_ones_diabetes_py_prints(diabetes_run, printed, readme):
    _, output = diabetes_run
    row = next(line for line in output.splitlines() if line.startswith(printed))
    numbers = row[len(printed) :].split()
    assert len(numbers) == 4  # train loss, train acc, held-out loss, held-out acc
    assert readme_results_row(readme) == numbers, f"README.md's results table does not show:\n{row}"


def test_the_range_test_numbers_are_the_ones_lr_finder_py_prints(tmp_path, run_example):
    output = run_example("lr_finder", tmp_path)
    quoted = [line for line in output.splitlines() if line and not line.startswith("saved ")]
    assert len(quoted) >= 8
    for line in quoted:
        assert line in DOC, f"docs/schedules.md does not show this printed line:\n{line}"
    for name in ("lr_find.png", "cyclic_schedule.png", "lr_finder_runs.png"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.parametrize("flag", ["cyclic", "onecycle"])
def test_diabetes_py_accepts_each_schedule(flag, load_example):
    module = load_example("diabetes")
    args = module.parse_args(["--schedule", flag, "--epochs", "10"])
    rate = module.article_rate(args.schedule, args, total_steps=args.epochs)
    assert type(rate).__name__ == {"cyclic": "CyclicLR", "onecycle": "OneCycle"}[flag]
    with pytest.raises(SystemExit):
        module.parse_args(["--schedule", "warm"])


def test_class_weights_raise_the_recall_the_readme_quotes(diabetes_run):
    _, output = diabetes_run
    rows = table(output, "held-out rows ")
    assert rows[0].split() == ["held-out", "rows", "accuracy", "precision", "recall", "f1", "auc"]
    assert [row[:22].strip() for row in rows[1:]] == ["article, unweighted", "article, class weights"]
    recall = [float(row[22:].split()[2]) for row in rows[1:]]
    assert recall[1] > recall[0]  # the positives, a third of the rows, are found more often
    for row in rows:
        assert row in README, f"README.md does not show this printed line:\n{row}"
