"""docs/schedules.md quotes what the examples print: rerun them and compare."""

import importlib.util
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # the examples save figures; no window may open

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "schedules.md").read_text()


def run_example(name, out, capsys):
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    capsys.readouterr()
    assert module.main(["--no-progress", "--out", str(out)]) == 0
    return capsys.readouterr().out


def table(output, header_start):
    """The header line starting with ``header_start`` and the rows under it."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = lines[start:start + 4]
    return [row for row in rows if row and not row.startswith("saved ")]


def test_the_comparison_table_is_the_one_diabetes_py_prints(tmp_path, capsys):
    output = run_example("diabetes", tmp_path, capsys)
    rows = table(output, "schedule ")
    assert [row.split()[0] for row in rows[1:]] == ["constant", "cyclic", "onecycle"]
    for row in rows:
        assert row in DOC, f"docs/schedules.md does not show this printed line:\n{row}"
    assert (tmp_path / "schedules.png").stat().st_size > 0


def test_the_range_test_numbers_are_the_ones_lr_finder_py_prints(tmp_path, capsys):
    output = run_example("lr_finder", tmp_path, capsys)
    quoted = [line for line in output.splitlines() if line and not line.startswith("saved ")]
    assert len(quoted) >= 8
    for line in quoted:
        assert line in DOC, f"docs/schedules.md does not show this printed line:\n{line}"
    for name in ("lr_find.png", "cyclic_schedule.png", "lr_finder_runs.png"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.parametrize("flag", ["cyclic", "onecycle"])
def test_diabetes_py_accepts_each_schedule(flag):
    spec = importlib.util.spec_from_file_location("example_diabetes_flags", ROOT / "examples" / "diabetes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = module.parse_args(["--schedule", flag, "--epochs", "10"])
    rate = module.article_rate(args.schedule, args, total_steps=args.epochs)
    assert type(rate).__name__ == {"cyclic": "CyclicLR", "onecycle": "OneCycle"}[flag]
    with pytest.raises(SystemExit):
        module.parse_args(["--schedule", "warm"])
