"""The code quoted in docs/ must be the code that runs.

A ```python block whose first line is ``# minnet/<file>.py`` quotes that file:
its lines, stripped of indentation, must appear in the source as one
contiguous run of lines, in order. A line holding only ``...`` marks an
omission: the parts before and after it must each be contiguous, in order,
with any number of source lines between them.
"""

import re
from pathlib import Path

import pytest

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


def test_the_interop_page_runs_as_one_script(tmp_path, monkeypatch, capsys):
    """docs/interop.md: to PyTorch and back, DDP in one process, ONNX Runtime, scikit-learn (packages permitting)."""
    for package in ("torch", "onnx", "onnxruntime", "sklearn"):
        pytest.importorskip(package)
    import torch.distributed
    if not (torch.distributed.is_available() and torch.distributed.is_gloo_available()):
        pytest.skip("this torch has no distributed package with the gloo backend")
    monkeypatch.chdir(tmp_path)  # the page writes its ONNX files to the working folder
    assert run_page("interop.md") >= 6
    printed = capsys.readouterr().out
    differences = [float(v) for v in re.findall(r"(?:predict|float32): (\d\.\de-\d+)", printed)]
    assert len(differences) == 3
    assert differences[0] < 1e-12 and differences[1] < 1e-12 and differences[2] < 1e-4
    assert "(0): Linear(in_features=8, out_features=16, bias=True)" in printed
    assert "BatchNorm(16)" in printed and "'accuracy'" in printed
    accuracy = float(re.search(r"5-fold accuracy: (\d\.\d+)", printed).group(1))
    assert 0.72 < accuracy < 0.85
    assert (tmp_path / "diabetes.onnx").exists() and (tmp_path / "diabetes32.onnx").exists()
