"""The code quoted in docs/ must be the code that runs.

A ```python block whose first line is ``# minnet/<file>.py`` quotes that file:
its lines, stripped of indentation, must appear in the source as one
contiguous run of lines, in order. A line holding only ``...`` marks an
omission: the parts before and after it must each be contiguous, in order,
with any number of source lines between them.

The runnable examples on the pages must print what the pages say they print,
and what they claim must hold on other inputs too.
"""

import re
from pathlib import Path

import numpy as np
import pytest

import minnet as mn

ROOT = Path(__file__).resolve().parents[1]
QUOTE = re.compile(r"```python\n# (minnet/[\w/]+\.py)\n(.*?)```", re.S)
GAP = "..."


def quoted_excerpts():
    for doc in sorted((ROOT / "docs").glob("*.md")):
        for source, body in QUOTE.findall(doc.read_text()):
            yield pytest.param(source, body, id=f"{doc.name}:{source}:{body.strip().splitlines()[0][:30]}")


def stripped(text: str) -> list[str]:
    return [line.strip() for line in text.strip("\n").splitlines()]


def find_block(block: list[str], code: list[str], start: int) -> int | None:
    """Index of the first line of ``block`` as a contiguous run in ``code[start:]``, or None."""
    for i in range(start, len(code) - len(block) + 1):
        if code[i:i + len(block)] == block:
            return i
    return None


def unmatched_part(body: str, code: list[str]) -> list[str] | None:
    """The first part of the excerpt (between ``...`` lines) not found in order, or None if all are."""
    parts, current = [], []
    for line in stripped(body):
        if line == GAP:
            parts.append(current)
            current = []
        else:
            current.append(line)
    parts.append(current)
    position = 0
    for part in parts:
        if not part:
            continue
        found = find_block(part, code, position)
        if found is None:
            return part
        position = found + len(part)
    return None


@pytest.mark.parametrize("source, body", list(quoted_excerpts()))
def test_quoted_code_is_in_the_source(source, body):
    code = stripped((ROOT / source).read_text())
    missing = unmatched_part(body, code)
    assert missing is None, f"{source} has no contiguous run of these lines:\n" + "\n".join(missing)


def test_matching_is_contiguous_and_ordered_with_explicit_gaps():
    code = ["a = 1", "b = 2", "", "c = 3", "d = 4"]
    assert unmatched_part("a = 1\nb = 2\n", code) is None
    assert unmatched_part("    b = 2\n\n    c = 3\n", code) is None  # indentation is ignored, blank lines are not
    assert unmatched_part("a = 1\nc = 3\n", code) == ["a = 1", "c = 3"]  # lines from apart, joined
    assert unmatched_part("b = 2\na = 1\n", code) == ["b = 2", "a = 1"]  # out of order
    assert unmatched_part("a = 1\n...\nc = 3\n", code) is None
    assert unmatched_part("c = 3\n...\na = 1\n", code) == ["a = 1"]  # parts must keep their order


def test_math_page_quotes_every_step():
    quoted = {source for source, _ in QUOTE.findall((ROOT / "docs" / "math.md").read_text())}
    assert {"minnet/layers.py", "minnet/losses.py", "minnet/optim.py", "minnet/containers.py"} <= quoted


def test_the_graph_page_quotes_every_step():
    quoted = {source for source, _ in QUOTE.findall((ROOT / "docs" / "graph.md").read_text())}
    assert {"minnet/graph.py", "minnet/layers.py", "minnet/containers.py", "minnet/steps.py"} <= quoted


def run_page(name: str) -> int:
    """Run a docs page's code blocks (all but the quotes of minnet) in order, in one namespace."""
    text = (ROOT / "docs" / name).read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if not b.startswith("# minnet/")]
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, f"docs/{name}", "exec"), namespace)
    return len(blocks)


def test_the_extending_guide_runs_as_one_script(tmp_path, monkeypatch, capsys):
    """docs/extending.md's code blocks, run in order in one namespace (in a scratch folder)."""
    monkeypatch.chdir(tmp_path)
    assert run_page("extending.md") >= 6
    printed = capsys.readouterr().out
    assert "FeatureScale(3)" in printed
    assert "['loss', 'lr', 'mean_abs_error', 'val_loss', 'val_mean_abs_error']" in printed
    assert "LinearWarmup(lr=0.1, warmup_steps=10)" in printed
    assert (tmp_path / "feature_scale.npz").exists()


def test_the_graph_page_runs_as_one_script(capsys):
    """docs/graph.md's examples run, including the old-contract layer that gradcheck catches."""
    assert run_page("graph.md") >= 8
    printed = capsys.readouterr().out
    assert "add = Add()(relu, tanh)" in printed
    assert "gradient w.r.t. parameter old_scale.w is wrong" in printed
    assert "(shared)" in printed


def test_the_readme_code_runs_as_one_script(tmp_path, monkeypatch, capsys):
    """README.md's python blocks, in order in one namespace: the quick look, the custom layer, the graph."""
    import matplotlib
    matplotlib.use("Agg")  # history.plot() draws; no window may open
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    printed = capsys.readouterr().out
    assert isinstance(namespace["model"], namespace["mn"].Graph)
    assert "Add()" in printed and "Total parameters: 705 (float64)" in printed
    assert (tmp_path / "loss.png").exists()


def test_the_math_page_mean_or_sum_example_prints_what_the_page_says(capsys):
    """docs/math.md's runnable block on the mean and the sum, run; its output must be the one shown under it."""
    text = (ROOT / "docs" / "math.md").read_text()
    section = text.split("## Mean or sum", 1)[1].split("\n## ", 1)[0]
    (code,) = [b for b in re.findall(r"```python\n(.*?)```", section, re.S) if not b.startswith("# minnet/")]
    shown = re.search(r"\nprints\n\n```\n(.*?)```", section, re.S).group(1)
    exec(compile(code, "docs/math.md", "exec"), {})
    assert capsys.readouterr().out == shown


def gradient_descent(n_scale, lr, X, y, *, momentum=0.0, weight_decay=0.0, steps=30):
    """Full-batch SGD on ``n_scale`` x minnet's mean BCE, from fixed weights; the final parameters."""
    model = mn.Sequential(mn.Dense(X.shape[1], 5, seed=3), mn.Sigmoid(), mn.Dense(5, 1, seed=4), mn.Sigmoid())
    loss = mn.BCE()
    optimizer = mn.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    for _ in range(steps):
        loss.forward(model.forward(X), y)
        model.backward(n_scale * loss.backward())
        optimizer.step()
    return np.concatenate([p.value.ravel() for p in model.parameters()])


@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.9, 0.01)])
def test_the_sum_at_lr_over_n_takes_the_steps_of_the_mean_at_lr(momentum, weight_decay):
    """docs/math.md, "Mean or sum": with n = 12 (not a power of two) the runs agree to rounding."""
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(12, 3)), rng.integers(0, 2, size=(12, 1)).astype(float)
    n, lr = len(X), 0.8
    mean = gradient_descent(1, lr, X, y, momentum=momentum, weight_decay=weight_decay)
    # The decay term does not grow with n, so the sum needs n times the decay to match.
    summed = gradient_descent(n, lr / n, X, y, momentum=momentum, weight_decay=n * weight_decay)
    np.testing.assert_allclose(summed, mean, rtol=1e-12, atol=1e-14)
    # Controls, so the test can fail: the sum at the mean's rate, or with the mean's decay, goes elsewhere.
    assert not np.allclose(gradient_descent(n, lr, X, y, momentum=momentum), mean, rtol=1e-3)
    if weight_decay:
        off = gradient_descent(n, lr / n, X, y, momentum=momentum, weight_decay=weight_decay)
        assert not np.allclose(off, mean, rtol=1e-6, atol=0)
