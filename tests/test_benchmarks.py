"""The benchmark runs at tiny sizes and its implementations do the same math.

No timing is asserted here: only that every implementation ends on the same
loss from the same weights, and that the report has what the docs quote.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import implementations as impl  # noqa: E402
from benchmarks import run as bench  # noqa: E402
from benchmarks.tasks import make_tasks  # noqa: E402


@pytest.fixture(scope="module")
def quick_tasks():
    return {t.label: t for t in make_tasks(quick=True)}


@pytest.mark.parametrize("label", ["article float64", "wide float64", "deep-narrow float64",
                                   "article float32", "wide float32", "deep-narrow float32"])
def test_minnet_and_numpy_loop_end_on_the_same_loss(quick_tasks, label):
    task = quick_tasks[label]
    minnet_loss, numpy_loss = impl.train_minnet(task), impl.train_numpy(task)
    assert np.isfinite(minnet_loss)
    assert minnet_loss == pytest.approx(numpy_loss, rel=bench.RTOL[np.dtype(task.dtype).name])


@pytest.mark.parametrize("label", ["article float64", "wide float32", "deep-narrow float64"])
def test_torch_ends_on_the_same_loss(quick_tasks, label):
    pytest.importorskip("torch")
    task = quick_tasks[label]
    assert impl.train_torch(task) == pytest.approx(impl.train_numpy(task),
                                                   rel=bench.RTOL[np.dtype(task.dtype).name])


def test_training_changes_the_loss(quick_tasks):
    # A run that did not train would "agree" trivially; make sure the loss moves.
    task = quick_tasks["article float64"]
    untrained = impl.train_numpy(type(task)(**{**task.__dict__, "epochs": 1}))
    assert impl.train_numpy(task) < untrained - 1e-3


def test_agreement_check_fails_loudly_on_a_different_loss(quick_tasks):
    task = quick_tasks["wide float64"]
    with pytest.raises(bench.Disagreement, match="minnet ended on loss"):
        bench.check_agreement(task, {"numpy": 0.5, "minnet": 0.5 * (1 + 1e-4)})


def test_flop_count_of_one_dense_layer():
    task = make_tasks(quick=True, dtypes=(np.float64,))[1]
    task.widths, task.epochs = [4, 3], 1
    # forward X W and weight gradient X^T G, each 2 * n * 4 * 3; no input gradient for the first layer
    assert task.matmul_flops() == 2 * 2 * len(task.X) * 4 * 3


def test_quick_run_reports_every_task_and_target(capsys):
    status = bench.main(["--quick", "--repeat", "1", "--no-sklearn", "--no-torch", "--dtypes", "float64"])
    assert status == 0
    out = capsys.readouterr().out
    for name in ("article float64", "wide float64", "deep-narrow float64"):
        assert name in out
    assert "minnet/numpy" in out and "matmul-bound rate" in out and "growth per epoch" in out
    for task in make_tasks(quick=True, dtypes=(np.float64,)):  # the last batch of an epoch may be partial
        batch = "full" if task.batch_size is None else task.batch_size
        assert f"| {task.label} | {task.epochs} x {task.n_batches} (batch {batch}) |" in out


def test_memory_does_not_grow_across_epochs(quick_tasks):
    mem = bench.measure_memory(quick_tasks["deep-narrow float32"], epochs=4)
    assert mem["growth_bytes_per_epoch"] == 0
    assert bench.memory_ok(mem)
