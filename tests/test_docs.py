"""The pages (README.md and every page of docs/) show code that runs, and quote code that exists.

Quotes: a ```python block whose first line is ``# minnet/<file>.py`` (or
``# tests/<file>.py``, for a definition kept in the tests) quotes that file:
its lines, stripped of indentation, must appear in the source as one
contiguous run of lines, in order. A line holding only ``...`` marks an
omission: the parts before and after it must each be contiguous, in order,
with any number of source lines between them.

Scripts: every other ```python block of a page runs, in the order of the page,
as one script (one namespace, in a scratch folder, matplotlib drawing off
screen), and a ```pycon block runs as a doctest in the same namespace, its
output compared with the page's. A page whose code imports a package from
``OPTIONAL`` that is not installed is skipped. A block that must not run is
marked by an HTML comment on the line before its fence,
``<!-- not run: the reason -->``; the reason is required. ``docs/index.md``
is run as the site shows it: with the README's sections that it includes
(``--8<-- "README.md:section"``, pymdownx.snippets) in place.

The runnable examples on the pages must print what the pages say they print,
and what they claim must hold on other inputs too.
"""

import contextlib
import doctest
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from rows import row

import minnet as mn

ROOT = Path(__file__).resolve().parents[1]
QUOTED_FILE = r"(?:minnet|tests)/[\w/]+\.py"
QUOTE = re.compile(rf"```python\n# ({QUOTED_FILE})\n(.*?)```", re.S)
GAP = "..."


def quoted_excerpts():
    for doc in sorted((ROOT / "docs").rglob("*.md")):
        for source, body in QUOTE.findall(doc.read_text()):
            yield pytest.param(source, body, id=f"{doc.name}:{source}:{body.strip().splitlines()[0][:30]}")


def stripped(text: str) -> list[str]:
    """The lines of ``text`` with their spaces collapsed: a page may align its comments where the formatter does not."""
    return [" ".join(line.split()) for line in text.strip("\n").splitlines()]


def find_block(block: list[str], code: list[str], start: int) -> int | None:
    """Index of the first line of ``block`` as a contiguous run in ``code[start:]``, or None."""
    for i in range(start, len(code) - len(block) + 1):
        if code[i : i + len(block)] == block:
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
    assert {"minnet/layers/dense.py", "minnet/layers/activations.py", "minnet/losses.py", "minnet/optim.py"} <= quoted
    assert "minnet/containers.py" in quoted


def test_the_graph_page_quotes_every_step():
    quoted = {source for source, _ in QUOTE.findall((ROOT / "docs" / "graph.md").read_text())}
    assert {"minnet/graph.py", "minnet/layers/base.py", "minnet/containers.py", "minnet/steps.py"} <= quoted


def test_the_multiclass_page_quotes_every_step():
    """Softmax, cross-entropy and its gradient, BatchNorm, Dropout and Adam, each next to its code."""
    text = (ROOT / "docs" / "multiclass.md").read_text()
    quoted = [(source, body) for source, body in QUOTE.findall(text)]
    for code in (
        "out /= out.sum(axis=axis, keepdims=True)",
        "return s * (grad - np.sum(grad * s, axis=self.axis",
        "shifted, log_total, s = _softmax_parts(pred)",
        "grad[rows, target] -= 1.0",
        "x_hat = centred * inv_std",
        "return inv_std * (d - d.mean(axis=0)",
        "mask *= 1.0 / (1.0 - self.p)",
        'm = _lerp(state["exp_avg"], d, 1 - beta1',
        "denominator /= math.sqrt(1 - beta2**t)",
        "step *= lr / (1 - beta1**t)",
        "if weight_decay != 0 and self._decoupled_weight_decay:",
    ):
        assert any(code in body for _, body in quoted), f"docs/multiclass.md quotes no line with {code!r}"
    assert {source for source, _ in quoted} >= {
        "minnet/layers/activations.py",
        "minnet/layers/normalization.py",
        "minnet/layers/dropout.py",
        "minnet/losses.py",
        "minnet/optim.py",
    }
    assert "Not yet in minnet" not in text


def test_the_convolution_page_quotes_every_step():
    """The loop that defines Conv2D, im2col, the forward product, both gradients, col2im, pooling, BatchNorm2D."""
    quoted = QUOTE.findall((ROOT / "docs" / "convolution.md").read_text())
    for source, code in (
        ("tests/layers/test_convolution.py", 'y[:, :, i, j] = np.einsum("ncab,ocab->no", window, W)'),
        ("minnet/layers/_windows.py", "return (padded[0] - kernel[0]) // stride[0] + 1"),
        ("minnet/layers/convolution.py", "view.transpose(1, 4, 5, 0, 2, 3)).reshape(c * kh * kw, n * oh * ow)"),
        ("minnet/layers/convolution.py", "out = self.W.value.reshape(self.out_channels, -1) @ cols  # Y = W X"),
        ("minnet/layers/convolution.py", "self.W.grad[...] = (g @ cols.T).reshape(self.W.shape)  # dL/dW = G X^T"),
        ("minnet/layers/convolution.py", "self.b.grad[...] = g.sum(axis=1)"),
        ("minnet/layers/convolution.py", "d_cols = self.W.value.reshape(self.out_channels, -1).T @ g  # dL/dX = W^T G"),
        ("minnet/layers/_windows.py", "out[:, :, a : a + sh * (oh - 1) + 1 : sh, b : b + sw * (ow - 1) + 1 : sw] += d"),
        ("minnet/layers/pooling.py", "np.maximum(out, padded[..., rows, cols], out=out)"),
        ("minnet/layers/pooling.py", "np.multiply(grad, hit, out=d_padded[..., rows, cols])"),
        ("minnet/layers/pooling.py", "d_windows = np.broadcast_to((grad / (kh * kw))"),
        ("minnet/layers/reshaping.py", "return grad.reshape(x_shape)"),
        ("minnet/layers/normalization.py", "table = _channels_last(x)"),
    ):
        assert any(source == file and code in body for file, body in quoted), f"docs/convolution.md quotes no {code!r}"


# -- every page's code runs ----------------------------------------------------

PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md"))]
# Peers that some pages compare minnet with; such a page is skipped where one is not installed.
OPTIONAL = frozenset({"torch", "sklearn", "onnx", "onnxruntime"})
FENCE = re.compile(r"(`{3,})[ \t]*([\w+-]*)")
NOT_RUN = re.compile(r"<!--\s*not run\b(.*?)-->")
SNIPPET = re.compile(r'--8<-- "([^"]+)"')


@dataclass
class Block:
    lang: str
    code: str
    line: int  # the page's line number of the block's first line of code
    not_run: str | None = None  # the reason given by a <!-- not run: ... --> marker


def code_blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, with the reason of a ``not run`` marker before each."""
    lines, blocks, i = text.splitlines(), [], 0
    while i < len(lines):
        fence = FENCE.fullmatch(lines[i].rstrip())
        if fence is None:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].rstrip() == fence.group(1)), None)
        if end is None:
            raise ValueError(f"the code block at line {i + 1} is never closed")
        before = next((line.strip() for line in reversed(lines[:i]) if line.strip()), "")
        marker = NOT_RUN.fullmatch(before)
        reason = None
        if marker:
            reason = marker.group(1).strip().removeprefix(":").strip()
            if not marker.group(1).strip().startswith(":") or not reason:
                raise ValueError(f"the not-run marker before line {i + 1} gives no reason: {before}")
        blocks.append(Block(fence.group(2), "\n".join(lines[i + 1 : end]) + "\n", i + 2, reason))
        i = end + 1
    return blocks


def runnable(block: Block) -> bool:
    quote = re.match(rf"# {QUOTED_FILE}\n", block.code)
    return block.lang in ("python", "pycon") and block.not_run is None and quote is None


#: Characters of code that a page's code box shows at 1280 pixels: a longer line scrolls inside it.
CODE_BOX = 80


@row("docs-code-fits-box")
@pytest.mark.parametrize("page", PAGES)
def test_the_pages_python_fits_its_box(page):
    """Every line of a page's own Python is seen whole; quoted source stays as the file has it."""
    blocks = [
        b for b in code_blocks(page_text(page)) if b.lang == "python" and not re.match(rf"# {QUOTED_FILE}\n", b.code)
    ]
    long = [
        f"line {block.line + i}: {line}"
        for block in blocks
        for i, line in enumerate(block.code.splitlines())
        if len(line) > CODE_BOX
    ]
    assert long == [], f"{page}: lines longer than {CODE_BOX} characters scroll in their box at 1280 px"


def snippet_section(path: str) -> str:
    """What ``--8<-- "file:section"`` includes: the lines between the section's start and end markers."""
    file, _, section = path.partition(":")
    text = (ROOT / file).read_text()
    if not section:
        return text
    name = re.escape(section)
    match = re.search(rf"^[^\n]*--8<-- \[start:{name}\][^\n]*\n(.*?)^[^\n]*--8<-- \[end:{name}\]", text, re.S | re.M)
    if match is None:
        raise ValueError(f"{file} has no section {section!r} (--8<-- [start:{section}] ... [end:{section}])")
    return match.group(1)


def page_text(page: str) -> str:
    """A page as the site shows it: each ``--8<-- "file:section"`` line replaced by what it includes."""
    lines = []
    for line in (ROOT / page).read_text().splitlines(keepends=True):
        include = SNIPPET.fullmatch(line.strip())
        lines.append(snippet_section(include.group(1)) if include else line)
    return "".join(lines)


@dataclass
class PageRun:
    blocks: int = 0
    printed: str = ""
    namespace: dict = field(default_factory=dict)
    skipped: str | None = None
    folder: Path | None = None


def run_block(block: Block, namespace: dict, filename: str) -> None:
    if block.lang == "pycon":
        test = doctest.DocTestParser().get_doctest(block.code, namespace, filename, filename, block.line - 1)
        test.globs = namespace  # the page's one namespace, not the copy DocTest makes
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        report = io.StringIO()
        runner.run(test, out=report.write, clear_globs=False)
        if runner.failures:
            raise AssertionError(f"{filename}, the session at line {block.line}:\n{report.getvalue()}")
        return
    # Padded so that a traceback gives the line of the page.
    exec(compile("\n" * (block.line - 1) + block.code, filename, "exec"), namespace)


def run_script(text: str, filename: str, folder: Path, optional=OPTIONAL) -> PageRun:
    """Run a page's runnable blocks in order in one namespace, in ``folder``; what it printed is kept."""
    import matplotlib

    matplotlib.use("Agg")  # pages may draw; no window may open
    import matplotlib.pyplot as plt

    run, printed, cwd = PageRun(), io.StringIO(), os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(printed):
            for block in filter(runnable, code_blocks(text)):
                try:
                    run_block(block, run.namespace, filename)
                except ModuleNotFoundError as error:
                    if (error.name or "").split(".")[0] not in optional:
                        raise
                    run.skipped = f"{filename} needs {error.name}, which is not installed"
                    break
                run.blocks += 1
    finally:
        os.chdir(cwd)
        plt.close("all")  # a page's figures end with it
        run.printed = printed.getvalue()
    return run


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """``ran(page)``: the page, run once for all the tests here (a page may register layer classes,
    which can be done only once), or the error that stopped it, again for each test that asks."""
    runs: dict[str, PageRun | Exception] = {}

    def ran(page: str) -> PageRun:
        if page not in runs:
            folder = tmp_path_factory.mktemp(Path(page).stem)
            try:
                runs[page] = run_script(page_text(page), page, folder)
            except Exception as error:
                runs[page] = error
            else:
                runs[page].folder = folder
        if isinstance(runs[page], Exception):
            raise runs[page]
        if runs[page].skipped:
            pytest.skip(runs[page].skipped)
        return runs[page]

    return ran


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_as_one_script(page, ran):
    expected = sum(runnable(b) for b in code_blocks(page_text(page)))
    assert ran(page).blocks == expected


def test_the_pages_mark_few_blocks_not_run():
    """The marker is for code that cannot run here (it needs a GPU, a network, a long run), not a way out."""
    marked = [(page, b.line, b.not_run) for page in PAGES for b in code_blocks(page_text(page)) if b.not_run]
    assert len(marked) <= 3, marked


def test_a_python_block_that_fails_fails_its_page(tmp_path):
    page = "```python\nx = 1\n```\n\ntext\n\n```python\nassert x == 2, 'x is not 2'\n```\n"
    with pytest.raises(AssertionError, match="x is not 2") as info:
        run_script(page, "page.md", tmp_path)
    assert info.traceback[-1].lineno + 1 == 8  # the page's line


def test_a_pycon_block_checks_its_output(tmp_path):
    good = (
        "```python\nimport math\n```\n\n```pycon\n>>> math.sqrt(16)\n4.0\n>>> print('a' * 30)\naaa...\n"
        ">>> root = math.sqrt(2)\n```\n\n```python\nprint(round(root, 3))\n```\n"
    )
    run = run_script(good, "page.md", tmp_path)
    assert (run.blocks, run.printed) == (3, "1.414\n")  # one namespace for both kinds of block
    with pytest.raises(AssertionError, match="Expected:\\n    5.0\\nGot:\\n    4.0"):
        run_script(good.replace("4.0", "5.0"), "page.md", tmp_path)


def test_only_python_and_pycon_blocks_run_and_quotes_do_not(tmp_path):
    page = (
        "```bash\nexit 1\n```\n\n```text\nnot python\n```\n\n"
        "```python\n# minnet/layers.py\n        raise SystemExit\n```\n\n"
        "```python\n# tests/layers/test_convolution.py\n        raise SystemExit\n```\n\n```python\nprint('ran')\n```\n"
    )
    run = run_script(page, "page.md", tmp_path)
    assert (run.blocks, run.printed) == (1, "ran\n")


def test_a_block_marked_not_run_is_not_run_and_needs_a_reason(tmp_path):
    page = "<!-- not run: needs a network -->\n```python\nraise SystemExit\n```\n"
    assert code_blocks(page)[0].not_run == "needs a network"
    assert run_script(page, "page.md", tmp_path).blocks == 0
    for marker in ("<!-- not run -->", "<!-- not run: -->", "<!-- not run because -->"):
        with pytest.raises(ValueError, match="gives no reason"):
            code_blocks(f"{marker}\n\n```python\nraise SystemExit\n```\n")


def test_a_page_needing_a_missing_optional_package_is_skipped(tmp_path):
    page = "```python\nprint('before')\n```\n\n```python\nimport not_installed_peer.sub\n```\n\n```python\n1/0\n```\n"
    run = run_script(page, "page.md", tmp_path, optional={"not_installed_peer"})
    assert (run.blocks, run.printed) == (1, "before\n")
    assert run.skipped == "page.md needs not_installed_peer, which is not installed"
    with pytest.raises(ModuleNotFoundError):  # a package that is not a known peer is an error
        run_script(page, "page.md", tmp_path)


def test_the_getting_started_page_is_the_readmes_sections():
    """docs/index.md includes the README's intro, quick start and 'What it looks like', so they cannot differ."""
    text, readme = page_text("docs/index.md"), (ROOT / "README.md").read_text()
    for section in ("intro", "quick-start", "what-it-looks-like", "custom-layer"):
        assert f'--8<-- "README.md:{section}"' in (ROOT / "docs" / "index.md").read_text()
        assert snippet_section(f"README.md:{section}").strip() in readme
    index_code = [b.code for b in code_blocks(text) if runnable(b)]
    readme_code = [b.code for b in code_blocks(readme) if runnable(b)]
    assert len(index_code) == 2 and index_code == readme_code[:2]
    with pytest.raises(ValueError, match="no section 'missing'"):
        snippet_section("README.md:missing")


def test_the_quick_start_is_two_commands_that_ci_runs():
    """The README's quick start: two commands of one line each, which .ci/run runs as written (flags may follow)."""
    commands = [b.code.strip() for b in code_blocks(snippet_section("README.md:quick-start")) if b.lang == "bash"]
    assert len(commands) == 2 and not any("\n" in command for command in commands), commands
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    for command in commands:
        assert any(f"{line} ".startswith(f"{command} ") for line in ci), f".ci/run does not run: {command}"


def test_the_extending_guide_runs_as_one_script(ran):
    """docs/extending.md's code blocks, run in order in one namespace (in a scratch folder)."""
    run = ran("docs/extending.md")
    assert run.blocks >= 6
    assert "FeatureScale(3)" in run.printed
    assert "['loss', 'lr', 'mean_abs_error', 'val_loss', 'val_mean_abs_error']" in run.printed
    assert "LinearWarmup(lr=0.1, warmup_steps=10)" in run.printed
    assert "SignMomentum(<2 parameters>, lr=LinearWarmup(lr=0.02, warmup_steps=20))" in run.printed
    assert "['m', 'step_count']" in run.printed
    assert (run.folder / "feature_scale.npz").exists()


@row("docs-fan-out-order")
def test_the_graph_page_runs_as_one_script(ran):
    """docs/graph.md's examples run, including the old-contract layer that gradcheck catches."""
    run = ran("docs/graph.md")
    assert run.blocks >= 8
    assert "add = Add()([relu, tanh])" in run.printed
    assert "gradient w.r.t. parameter old_scale.w is wrong" in run.printed
    assert "(shared)" in run.printed
    # The fan-out sum as rows times Jacobians, checked against backward by the page's own assert.
    assert "h_bar = h2_bar + (h2_bar * (1 - f**2)) @ d2.W.value.T" in (ROOT / "docs" / "graph.md").read_text()


def test_the_readme_code_runs_as_one_script(ran):
    """README.md's python blocks, in order in one namespace: the quick look, the custom layer, the graph."""
    run = ran("README.md")
    assert run.blocks >= 3
    assert isinstance(run.namespace["model"], run.namespace["mn"].Graph)
    assert "Add()" in run.printed and "Total parameters: 705 (float64)" in run.printed
    assert (run.folder / "loss.png").exists()


def test_the_interop_page_runs_as_one_script(ran):
    """docs/interop.md: to PyTorch and back, DDP in one process, ONNX Runtime, scikit-learn (packages permitting)."""
    run = ran("docs/interop.md")
    assert run.blocks >= 6
    differences = [float(v) for v in re.findall(r"(?:predict|float32): (\d\.\de-\d+)", run.printed)]
    assert len(differences) == 5  # the MLP: PyTorch, ONNX, ONNX in float32; the CNN: PyTorch, ONNX
    assert max(differences[:2] + differences[3:]) < 1e-12 and differences[2] < 1e-4
    assert (run.folder / "digits_cnn.onnx").exists()
    assert "(0): Linear(in_features=8, out_features=16, bias=True)" in run.printed
    assert "BatchNorm(16)" in run.printed and "'accuracy'" in run.printed
    accuracy = float(re.search(r"5-fold accuracy: (\d\.\d+)", run.printed).group(1))
    assert 0.72 < accuracy < 0.85
    assert (run.folder / "diabetes.onnx").exists() and (run.folder / "diabetes32.onnx").exists()


def test_the_getting_started_page_runs_and_draws(ran):
    run = ran("docs/index.md")
    assert "Sequential(" in run.printed and run.printed.rstrip().endswith("True")
    assert (run.folder / "loss.png").exists()


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


# -- the site -----------------------------------------------------------------

# Modules of minnet whose names are public to the package but not to its users, so not in the reference.
INTERNAL_MODULES = {"steps"}  # the training step and inference pass that fit, evaluate and lr_find share


def site_nav() -> list[str]:
    """The pages mkdocs.yml's nav lists, in its order."""
    text = (ROOT / "mkdocs.yml").read_text()
    nav = text.split("\nnav:\n", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"([\w/.-]+\.md)[ \t]*$", nav, re.M)


def test_every_page_is_in_the_site_nav_once():
    pages = sorted(str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md"))
    assert sorted(site_nav()) == pages
    assert site_nav()[0] == "index.md"


def test_every_public_module_has_a_reference_page():
    package = ROOT / "minnet"
    modules = {p.stem for p in package.glob("*.py")} | {p.parent.name for p in package.glob("*/__init__.py")}
    modules = {name for name in modules if not name.startswith("_")}
    assert {"layers", "datasets"} <= modules
    for module in sorted(modules - INTERNAL_MODULES):
        page = ROOT / "docs" / "api" / f"{module}.md"
        assert page.exists(), f"minnet.{module} has no page in the API reference: add docs/api/{module}.md"
        assert f"::: minnet.{module}\n" in page.read_text()


def test_the_api_index_links_every_reference_page():
    """docs/api/index.md: one line per page of the reference, each a link to it."""
    index = (ROOT / "docs" / "api" / "index.md").read_text()
    links = re.findall(r"^- \[`minnet\.[\w.]+`\]\(([\w]+\.md)\): \S", index, re.M)
    pages = sorted(p.name for p in (ROOT / "docs" / "api").glob("*.md") if p.name != "index.md")
    assert sorted(links) == pages


# -- the docstrings on the site ------------------------------------------------


@pytest.fixture(scope="module")
def markup():
    """docs/sphinx_markup.py, the griffe extension that turns the docstrings' Sphinx markup into Markdown."""
    pytest.importorskip("griffe")  # installed with the docs extra
    import importlib.util

    spec = importlib.util.spec_from_file_location("sphinx_markup", ROOT / "docs" / "sphinx_markup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_roles_become_cross_references(markup):
    resolve = {"save": "minnet.serialize.save"}.get
    assert (
        markup.to_markdown(":func:`save` and :class:`~minnet.Graph`", lambda n: resolve(n, n))
        == "[`save`][minnet.serialize.save] and [`Graph`][minnet.Graph]"
    )
    assert (
        markup.to_markdown(":mod:`minnet.archive`; :meth:`the state <Layer.get_state>`", str)
        == "[`minnet.archive`][minnet.archive]; [`the state`][Layer.get_state]"
    )


def test_math_becomes_arithmatex(markup):
    text = "Rate :math:`\\eta`:\n\n.. math:: y = x W\n    + b\n\nAfter.\n\n.. math::\n    a &= 1 \\\\\n    b &= 2\n"
    assert markup.to_markdown(text, str) == (
        "Rate $\\eta$:\n\n$$\ny = x W\n+ b\n$$\n\nAfter.\n\n"
        "$$\n\\begin{aligned}\na &= 1 \\\\\nb &= 2\n\\end{aligned}\n$$"
    )


def test_simple_tables_and_literal_blocks_become_markdown(markup):
    text = (
        "Fields::\n\n=====  ========\n``a``  the first\n``b``  the second,\n       continued\n=====  ========\n\n"
        "Shown as::\n\n    code\n"
    )
    assert markup.to_markdown(text, str) == (
        "Fields:\n\n|  |  |\n| --- | --- |\n| ``a`` | the first |\n| ``b`` | the second, continued |\n\n"
        "Shown as:\n\n    code"
    )


def test_names_resolve_where_the_docstring_sits(markup):
    import griffe

    loader = griffe.GriffeLoader(extensions=griffe.load_extensions(markup.SphinxMarkup), search_paths=[str(ROOT)])
    package = loader.load("minnet")
    load_state = package["callbacks.EarlyStopping.load_state_dict"].docstring.value
    assert "[`on_train_begin`][minnet.callbacks.EarlyStopping.on_train_begin]" in load_state
    gradcheck = package["gradcheck.gradcheck"].docstring.value
    assert "[`get_state`][minnet.layers.base.Layer.get_state]" in gradcheck  # through the re-export minnet.Layer
    assert "[`Graph`][minnet.graph.Graph]" in gradcheck
    assert ":math:" not in gradcheck and ":class:" not in gradcheck


def documented(obj):
    """Every object of a griffe tree that is defined in it (no re-exports), ``obj`` first."""
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from documented(member)


@row("docs-types-plain")
def test_the_docstrings_types_hold_no_markup():
    """The API pages show a parameter's or a return's type as code, as written: ``x`` in it shows its backticks."""
    griffe = pytest.importorskip("griffe")
    package = griffe.GriffeLoader(search_paths=[str(ROOT)]).load("minnet")
    marked = []
    for obj in documented(package):
        for section in obj.docstring.parse("numpy") if obj.docstring else []:
            for item in section.value if isinstance(section.value, list) else []:
                if "`" in str(getattr(item, "annotation", "") or ""):
                    marked.append(f"{obj.path}: {item.annotation}")
    assert marked == []


@pytest.mark.parametrize("source, body", list(quoted_excerpts()))
def test_quoted_code_starts_at_the_left_edge(source, body):
    """An excerpt keeps no indentation common to all its lines: the column it would waste hides the lines' ends."""
    code = [line for line in body.splitlines() if line.strip() not in ("", GAP)]
    assert min(len(line) - len(line.lstrip(" ")) for line in code) == 0, f"an excerpt of {source} is indented"


def test_a_module_docstrings_examples_sit_in_an_examples_section():
    """Outside a numpydoc section (or an indented literal block), ``>>>`` lines read as Markdown blockquotes."""
    import importlib
    import pkgutil

    loose = []
    for info in pkgutil.walk_packages(mn.__path__, "minnet."):
        try:
            doc = importlib.import_module(info.name).__doc__ or ""
        except ImportError:  # an optional package's road out, without the package
            continue
        before_examples = doc.split("Examples\n--------")[0]
        if any(line.startswith(">>>") for line in before_examples.splitlines()):
            loose.append(info.name)
    assert loose == []
