"""Every script in examples/ answers --help in a fresh, headless interpreter, and trains or writes nothing.

It does so without the optional packages too, as on a fresh clone running the
README's test command: the tests hide them behind stand-ins that fail to
import, so this holds whether or not they are installed here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rows import row

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))
OPTIONAL = ("torch", "onnx", "onnxruntime", "sklearn")


@pytest.fixture
def without_optional_packages(tmp_path_factory):
    """An environment in which importing torch, onnx, onnxruntime or sklearn fails as if they were absent."""
    stand_ins = tmp_path_factory.mktemp("stand_ins")
    for name in OPTIONAL:
        (stand_ins / name).mkdir()
        (stand_ins / name / "__init__.py").write_text(
            f"raise ModuleNotFoundError({name!r} + ' is hidden', name={name!r})\n"
        )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND")}
    env["PYTHONPATH"] = os.pathsep.join([str(stand_ins), str(ROOT)])
    return env


def test_the_examples_are_found():
    assert {"diabetes.py", "mnist.py", "residual.py"} <= {p.name for p in SCRIPTS}


@row("example-without-extras")
@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_every_example_answers_help_headless(script, tmp_path, without_optional_packages):
    # No display, no optional package and an empty working folder: --help needs none, and leaves it empty.
    done = subprocess.run(
        [sys.executable, str(script), "--help"],
        cwd=tmp_path,
        env=without_optional_packages,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:") and script.name in done.stdout
    assert "--" in done.stdout.split("options:", 1)[-1]  # it documents at least one flag
    assert "--threads THREADS" in done.stdout  # every script lets a busy machine's user choose
    assert not list(tmp_path.iterdir())


@row("example-without-extras")
def test_an_example_without_its_optional_package_says_what_to_install(tmp_path, without_optional_packages):
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "distributed.py"), "--steps", "1"],
        cwd=tmp_path,
        env=without_optional_packages,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: distributed.py needs the optional package 'torch', which is not installed; "
        'install it with: .venv/bin/pip install -e ".[torch]"'
    ]
