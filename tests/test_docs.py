"""The code quoted in docs/ must be the code that runs."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUOTE = re.compile(r"```python\n# (minnet/[\w/]+\.py)\n(.*?)```", re.S)


def quoted_excerpts():
    for doc in sorted((ROOT / "docs").glob("*.md")):
        for source, body in QUOTE.findall(doc.read_text()):
            yield pytest.param(source, body, id=f"{doc.name}:{source}:{body.strip().splitlines()[0][:30]}")


@pytest.mark.parametrize("source, body", list(quoted_excerpts()))
def test_quoted_code_is_in_the_source(source, body):
    code = [line.strip() for line in (ROOT / source).read_text().splitlines()]
    missing = [line.strip() for line in body.splitlines() if line.strip() and line.strip() not in code]
    assert not missing, f"{source} no longer contains: {missing}"


def test_math_page_quotes_every_step():
    quoted = {source for source, _ in QUOTE.findall((ROOT / "docs" / "math.md").read_text())}
    assert {"minnet/layers.py", "minnet/losses.py", "minnet/optim.py", "minnet/containers.py"} <= quoted
