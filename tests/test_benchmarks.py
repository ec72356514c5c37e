"""The benchmark runs at tiny sizes and its implementations do the same math.

No timing is asserted here: only that every implementation ends on the same
loss and weights from the same weights, and that the report has what the
docs quote.
"""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import implementations as impl
from benchmarks import run as bench
from benchmarks.tasks import find_mnist, make_tasks

MNIST = (
    Path(os.environ["MINNET_DATA"]) / "mnist"
    if os.environ.get("MINNET_DATA")
    else Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
)
needs_mnist = pytest.mark.skipif(find_mnist(MNIST) is None, reason=f"the MNIST files are not in {MNIST}")


@pytest.fixture(scope="module")
def quick_tasks():
    return {t.label: t for t in make_tasks(quick=True, mnist=MNIST if find_mnist(MNIST) else None)}


def assert_same_weights(ours, theirs, rtol):
    for (W, b), (W_ref, b_ref) in zip(ours, theirs, strict=True):
        for a, ref in ((W, W_ref), (b, b_ref)):
            assert np.max(np.abs(a - ref)) <= rtol * np.max(np.abs(ref))


@pytest.mark.parametrize(
    "label",
    [
        "article float64",
        "wide float64",
        "deep-narrow float64",
        "article float32",
        "wide float32",
        "deep-narrow float32",
    ],
)
def test_minnet_and_numpy_loop_end_on_the_same_loss_and_weights(quick_tasks, label):
    task = quick_tasks[label]
    minnet, numpy_loop = impl.train_minnet(task), impl.train_numpy(task)
    assert np.isfinite(minnet.loss)
    rtol = bench.RTOL[np.dtype(task.dtype).name]
    assert minnet.loss == pytest.approx(numpy_loop.loss, rel=rtol)
    assert_same_weights(minnet.weights, numpy_loop.weights, rtol)


@pytest.mark.parametrize("label", ["article float64", "wide float32", "deep-narrow float64"])
def test_torch_ends_on_the_same_loss(quick_tasks, label):
    pytest.importorskip("torch")
    task = quick_tasks[label]
    torch_run, numpy_loop = impl.train_torch(task), impl.train_numpy(task)
    rtol = bench.RTOL[np.dtype(task.dtype).name]
    assert torch_run.loss == pytest.approx(numpy_loop.loss, rel=rtol)
    assert_same_weights(torch_run.weights, numpy_loop.weights, rtol)


def test_training_changes_the_loss(quick_tasks):
    # A run that did not train would "agree" trivially; make sure the loss moves.
    task = quick_tasks["article float64"]
    untrained = impl.train_numpy(type(task)(**{**task.__dict__, "epochs": 1}))
    assert impl.train_numpy(task).loss < untrained.loss - 1e-3


def test_agreement_check_fails_loudly_on_a_different_loss(quick_tasks):
    task = quick_tasks["wide float64"]
    with pytest.raises(bench.Disagreement, match="minnet ended on loss"):
        bench.check_agreement(task, {"numpy": 0.5, "minnet": 0.5 * (1 + 1e-4)})


def test_agreement_check_fails_loudly_on_different_weights(quick_tasks):
    task = quick_tasks["wide float32"]
    ref = impl.train_numpy(task)
    W, b = ref.weights[1]
    moved = [*ref.weights[:1], (W + 3e-3 * np.max(np.abs(W)), b), *ref.weights[2:]]  # the same loss, other W
    bench.check_agreement(task, {"numpy": ref.loss, "minnet": ref.loss}, {"numpy": ref.weights, "minnet": ref.weights})
    with pytest.raises(bench.Disagreement, match="minnet's final W of layer 1 differs"):
        bench.check_agreement(task, {"numpy": ref.loss, "minnet": ref.loss}, {"numpy": ref.weights, "minnet": moved})


@needs_mnist
def test_mnist_task_minnet_numpy_and_torch_end_on_the_same_loss_and_weights(quick_tasks):
    task = quick_tasks["mnist float32"]
    assert task.X.shape == (1000, 784) and task.y.dtype == np.int64 and task.momentum == 0.9
    assert task.widths == [784, 256, 128, 10] and task.batch_size == 128 and task.epochs == 1
    minnet, numpy_loop = impl.train_minnet(task), impl.train_numpy(task)
    rtol = bench.RTOL["float32"]
    assert minnet.loss == pytest.approx(numpy_loop.loss, rel=rtol)
    assert_same_weights(minnet.weights, numpy_loop.weights, rtol)
    # Training moved the first layer far more than the tolerance: agreeing is not trivial.
    assert np.max(np.abs(minnet.weights[0][0] - task.weights[0][0])) > 10 * rtol * np.max(np.abs(task.weights[0][0]))
    if impl._installed("torch"):
        torch_run = impl.train_torch(task)
        assert torch_run.loss == pytest.approx(numpy_loop.loss, rel=rtol)
        assert_same_weights(torch_run.weights, numpy_loop.weights, rtol)


def test_the_mnist_task_is_left_out_when_the_files_are_absent(tmp_path, capsys):
    assert find_mnist(tmp_path) is None
    assert [t.name for t in make_tasks(quick=True, mnist=tmp_path)] == ["article", "wide", "deep-narrow"] * 2
    status = bench.main(
        [
            "--quick",
            "--repeat",
            "1",
            "--no-sklearn",
            "--no-torch",
            "--no-memory",
            "--tasks",
            "mnist",
            "--mnist",
            str(tmp_path),
        ]
    )
    assert status == 0
    captured = capsys.readouterr()
    assert f"skipped mnist: no MNIST files in {tmp_path}" in captured.err
    assert "mnist float32" not in captured.out


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


@needs_mnist
def test_mnist_memory_is_the_batch_the_momentum_state_and_the_row_order(quick_tasks):
    mem = bench.measure_memory(quick_tasks["mnist float32"], epochs=4)
    assert mem["optimizer_copies"] == 3 and mem["index_bytes"] == 1000 * 8
    assert mem["growth_bytes_per_epoch"] == 0
    assert bench.memory_ok(mem)
    # Without the momentum state in the budget the same peak would not fit: the budget is not slack.
    assert not bench.memory_ok({**mem, "optimizer_copies": 0})
