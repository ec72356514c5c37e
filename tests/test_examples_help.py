"""Every script in examples/ answers --help in a fresh, headless interpreter, and trains or writes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))


def test_the_examples_are_found():
    assert {"diabetes.py", "mnist.py", "residual.py"} <= {p.name for p in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_every_example_answers_help_headless(script, tmp_path):
    # No display and an empty working folder: --help must need neither, and leave the folder empty.
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, str(script), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:") and script.name in done.stdout
    assert "--" in done.stdout.split("options:", 1)[-1]  # it documents at least one flag
    assert not list(tmp_path.iterdir())
