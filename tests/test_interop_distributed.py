"""examples/distributed.py: DDP on 2 CPU processes continues minnet's full-batch training step for step.

The script runs as its own process (``torch.multiprocessing.spawn`` starts
its workers from the script's file, which an in-process import would not
give them), with few epochs and steps.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not (dist.is_available() and dist.is_gloo_available()):
    pytest.skip("this torch has no distributed package with the gloo backend", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "distributed.py"


def run_script(*flags: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    # The timeout only keeps a hung rendezvous from hanging the suite; nothing is asserted about time.
    return subprocess.run(
        [sys.executable, str(SCRIPT), *flags],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def test_ddp_on_two_processes_equals_minnets_full_batch_steps():
    result = run_script("--minnet-epochs", "5", "--steps", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "DDP: 3 steps on 2 processes (gloo), 384 rows each" in out
    rows = re.findall(r"^\s+(\d+)\s+(\d\.\d+)\s+(\S+)$", out, re.M)
    assert [int(step) for step, _, _ in rows] == [1, 2, 3]
    losses = [float(loss) for _, loss, _ in rows]
    assert losses == sorted(losses, reverse=True)  # the steps train: the loss falls
    assert all(float(difference) < 1e-12 for _, _, difference in rows), out
    assert "equals minnet's full-batch training step for step" in out


def test_help_describes_the_script():
    result = run_script("--help")
    assert result.returncode == 0 and "DistributedDataParallel" in result.stdout and "--processes" in result.stdout


@pytest.mark.parametrize(
    "flags", [["--steps", "0"], ["--processes", "0"], ["--lr", "nan"], ["--momentum", "1"], ["--port", "70000"]]
)
def test_bad_flags_are_refused_before_anything_runs(load_example, flags):
    with pytest.raises(SystemExit):
        load_example("distributed").parse_args(flags)
