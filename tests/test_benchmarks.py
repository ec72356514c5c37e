"""The benchmark runs at tiny sizes and its implementations do the same math.

No timing is asserted here: only that every implementation ends on the same
loss and weights from the same weights, and that the report has what the
docs quote.
"""

import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import threadpoolctl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import minnet as mn
from benchmarks import implementations as impl
from benchmarks import run as bench
from benchmarks import threads as threads_bench
from benchmarks.tasks import ConvTask, find_mnist, make_tasks

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
            "mnist_cnn",
            "--mnist",
            str(tmp_path),
        ]
    )
    assert status == 0
    captured = capsys.readouterr()
    assert f"skipped mnist: no MNIST files in {tmp_path}" in captured.err
    assert f"skipped mnist_cnn: no MNIST files in {tmp_path}" in captured.err
    assert "mnist float32" not in captured.out and "mnist_cnn float32" not in captured.out


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
    assert "numpy loop's peak above data" in out
    for task in make_tasks(quick=True, dtypes=(np.float64,)):  # the last batch of an epoch may be partial
        batch = "full" if task.batch_size is None else task.batch_size
        assert f"| {task.label} | {task.epochs} x {task.n_batches} (batch {batch}) |" in out


def test_traced_peak_sees_what_a_call_holds_at_once():
    assert 8e6 <= bench.traced_peak(lambda: np.ones(10**6)) < 9e6
    assert bench.traced_peak(lambda: [np.ones(10**5) for _ in range(10)]) >= 8e6


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


# -- the CNN task ----------------------------------------------------------------


@needs_mnist
def test_mnist_cnn_task_is_the_example_network_on_images(quick_tasks):
    task = quick_tasks["mnist_cnn float32"]
    assert task.X.shape == (512, 1, 28, 28) and task.X.dtype == np.float32 and task.y.dtype == np.int64
    assert task.batch_size == 128 and task.epochs == 1 and task.lr == 1e-3
    assert [W.shape for W, _ in task.weights] == [(32, 1, 3, 3), (64, 32, 3, 3), (64 * 5 * 5, 10)]
    assert "minnet" in impl.conv_implementations() and "sklearn" not in impl.conv_implementations()


@needs_mnist
def test_mnist_cnn_numpy_loop_and_torch_end_on_the_same_loss_and_weights(quick_tasks):
    pytest.importorskip("torch")
    task = quick_tasks["mnist_cnn float32"]
    numpy_loop, torch_run = impl.train_numpy_cnn(task), impl.train_torch_cnn(task)
    rtol = bench.RTOL["float32"]
    assert torch_run.loss == pytest.approx(numpy_loop.loss, rel=rtol)
    assert_same_weights(torch_run.weights, numpy_loop.weights, rtol)
    # Adam moved the Dense layer far more than the tolerance: agreeing is not trivial.
    W, W0 = numpy_loop.weights[-1][0], task.weights[-1][0]
    assert np.max(np.abs(W - W0)) > 10 * rtol * np.max(np.abs(W0))
    bench.check_agreement(task, {"numpy": numpy_loop.loss, "torch": torch_run.loss})


@needs_mnist
def test_mnist_cnn_minnet_ends_where_the_numpy_loop_does(quick_tasks):
    task = quick_tasks["mnist_cnn float32"]
    minnet, numpy_loop = impl.train_minnet_cnn(task), impl.train_numpy_cnn(task)
    rtol = bench.RTOL["float32"]
    assert minnet.loss == pytest.approx(numpy_loop.loss, rel=rtol)
    assert_same_weights(minnet.weights, numpy_loop.weights, rtol)


def test_flop_count_of_the_cnn():
    n, rng = 3, np.random.default_rng(0)
    task = ConvTask("cnn", rng.random((n, 1, 10, 10)), np.zeros(n), batch_size=128, epochs=1, lr=1e-3, channels=(2, 4))
    # conv 1->2 on 10x10: 8x8 outputs of 9 products each, forward and dW (no input gradient); pool to 4x4;
    # conv 2->4: 2x2 outputs of 18 products each, forward, dW and dX; pool to 1x1; Dense 4->10: three products.
    conv1, conv2, dense = 2 * (n * 8 * 8) * 2 * 9, 3 * (n * 2 * 2) * 4 * 18, 3 * n * 4 * 10
    assert task.features == 4
    assert task.matmul_flops() == 2 * (conv1 + conv2 + dense)


@needs_mnist
def test_quick_run_reports_the_cnn_task_its_bound_and_memory(capsys):
    status = bench.main(["--quick", "--repeat", "1", "--no-sklearn", "--tasks", "mnist_cnn", "--mnist", str(MNIST)])
    assert status == 0
    out = capsys.readouterr().out
    assert "| mnist_cnn float32 | 1 x 4 (batch 128) |" in out
    assert "fraction of the bound (minnet / numpy" in out
    assert re.search(r"\| mnist_cnn float32 \| \d+ \| minnet / numpy <= 1.1 \|", out) and "5 x params" in out


@needs_mnist
def test_mnist_cnn_memory_is_the_batch_and_the_adam_state(quick_tasks):
    mem = bench.measure_memory(quick_tasks["mnist_cnn float32"], epochs=3, rows=256, numpy_loop=impl.train_numpy_cnn)
    assert mem["optimizer_copies"] == 5 and mem["index_bytes"] == 256 * 8
    assert mem["growth_bytes_per_epoch"] == 0
    assert bench.memory_ok(mem)
    # The hand-written loop holds at least one batch's activations: the estimate is not too high.
    assert mem["numpy_peak_extra_bytes"] >= mem["activation_bytes"]


@needs_mnist
def test_mnist_cnn_numpy_loop_and_torch_do_the_same_math_in_float64(quick_tasks):
    # In float64 rounding cannot hide a difference in the math: the two agree to the float64 tolerance.
    pytest.importorskip("torch")
    task32 = quick_tasks["mnist_cnn float32"]
    task = ConvTask("mnist_cnn", task32.X[:256], task32.y[:256], batch_size=128, epochs=1, lr=1e-3, dtype=np.float64)
    numpy_loop, torch_run = impl.train_numpy_cnn(task), impl.train_torch_cnn(task)
    assert numpy_loop.weights[0][0].dtype == torch_run.weights[0][0].dtype == np.float64
    assert torch_run.loss == pytest.approx(numpy_loop.loss, rel=bench.RTOL["float64"])
    assert_same_weights(torch_run.weights, numpy_loop.weights, bench.RTOL["float64"])


def test_agreement_of_a_float32_cnn_is_measured_against_the_distance_trained():
    rng = np.random.default_rng(0)
    task = ConvTask("cnn", rng.random((3, 1, 10, 10)), np.zeros(3), batch_size=128, epochs=1, lr=1e-3, channels=(2, 4))
    trained = [(W + 0.1, b - 0.1) for W, b in task.weights]
    W, b = trained[1]
    losses = {"numpy": 0.5, "torch": 0.5}
    near = [*trained[:1], (W + 0.4 * 0.1, b), *trained[2:]]  # 40% of the distance trained away
    bench.check_agreement(task, losses, {"numpy": trained, "torch": near})
    far = [*trained[:1], (W + 0.6 * 0.1, b), *trained[2:]]
    with pytest.raises(bench.Disagreement, match="torch's final W of layer 1 is .* away from the numpy loop's"):
        bench.check_agreement(task, losses, {"numpy": trained, "torch": far})


@pytest.fixture
def blas_pool_restored():
    """The benchmark's --threads sizes this process's BLAS pool; it gets its size back after the test."""
    with threadpoolctl.threadpool_limits(limits=None, user_api="blas"):
        yield


def test_threads_flag_sizes_the_blas_pool_the_report_names(capsys, blas_pool_restored):
    argv = ["--quick", "--repeat", "1", "--no-sklearn", "--no-torch", "--no-memory", "--dtypes", "float64"]
    assert bench.main([*argv, "--tasks", "article", "--threads", "1", "--json", "-"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["machine"]["blas_threads"] == report["threads"] == 1 and "runs" not in report  # one count: one report
    assert {t["threads"] for t in report["targets"]} == {1}


def test_several_thread_counts_give_one_report_each(capsys, blas_pool_restored):
    argv = ["--quick", "--repeat", "1", "--no-sklearn", "--no-memory", "--dtypes", "float64", "--tasks", "article"]
    assert bench.main([*argv, "--threads", "1", "2", "--json", "-"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [r["threads"] for r in runs] == [r["machine"]["blas_threads"] for r in runs] == [1, 2]
    for r in runs:
        assert [t["threads"] for t in r["targets"]] == [r["threads"]] * len(r["targets"]) and r["targets"]
        if "torch" in r["machine"]:  # PyTorch's threads follow numpy's
            assert r["machine"]["torch_threads"] == r["threads"]
    assert bench.main([*argv, "--threads", "2", "1"]) == 0
    out = capsys.readouterr().out
    assert out.index("## 2 BLAS thread(s)") < out.index("| article float64 | 2 | minnet / numpy <= 1.15 |")
    assert out.index("| article float64 | 2 | minnet / numpy") < out.index("## 1 BLAS thread(s)")
    assert out.index("## 1 BLAS thread(s)") < out.index("| article float64 | 1 | minnet / numpy <= 1.15 |")


def test_every_task_reports_its_flop_count_and_fraction_of_the_bound():
    report = bench.run(quick=True, repeat=1, include_torch=False, include_sklearn=False, memory=False, mnist=MNIST)
    tasks = {t.label: t for t in make_tasks(quick=True, mnist=MNIST if find_mnist(MNIST) else None)}
    assert [r["label"] for r in report["results"]] == list(tasks)
    for r in report["results"]:
        assert r["gflop"] == tasks[r["label"]].matmul_flops() / 1e9 > 0
        assert r["matmul_seconds"] > 0 and r["matmul_fraction"] == r["fractions"]["minnet"] > 0
        assert set(r["fractions"]) == set(r["seconds"])
    table = bench.format_table(report)
    for r in report["results"]:
        assert f"| {r['label']} | {r['gflop']:.3g} | {r['matmul_seconds']:.3g} | {r['matmul_gflops']:.3g} |" in table


def fake_result(task, dtype="float32", numpy=1.0, torch=1.0, graph=1.0, fraction=0.75, busy=None):
    """A result of ``run`` with minnet at 1 second: each peer's time makes minnet / peer what the test wants."""
    result = {
        "task": task,
        "label": f"{task} {dtype}",
        "seconds": {"minnet": 1.0, "numpy": 1.0 / numpy, "torch": 1.0 / torch, "graph": graph},
        "matmul_fraction": fraction,
    }
    return result if busy is None else {**result, "busy": {"ratio": {"minnet": busy, "numpy": 1.0}}}


def targets_of(results, threads):
    return {(t["task"], t["target"]): t["met"] for t in bench.evaluate_targets(results, threads)}


@pytest.mark.parametrize("threads", [1, 2])
def test_the_targets_are_the_issues_at_every_thread_count(threads):
    results = [
        fake_result("article", "float64", numpy=1.14, torch=2.0),
        fake_result("article", "float32", numpy=1.16),
        fake_result("mnist", numpy=1.04, torch=0.71),
        fake_result("wide", torch=1.0, fraction=0.79),
        fake_result("deep-narrow", torch=0.6, graph=1.1),
    ]
    expected = {
        ("article float64", "minnet / numpy <= 1.15"): True,
        ("article float32", "minnet / numpy <= 1.15"): False,
        ("mnist float32", "minnet / numpy <= 1.05"): True,
        ("mnist float32", "minnet / torch <= 0.7"): False,
        ("wide float32", "minnet / torch <= 1.0"): True,
        ("wide float32", "matmul-bound rate >= 80%"): False,
        ("deep-narrow float32", "minnet / torch <= 0.6"): True,
        ("deep-narrow float32", "graph / minnet <= 1.1"): True,
    }
    if threads == 1:  # the MNIST network's fraction of the bound is a 1-thread target
        expected[("mnist float32", "matmul-bound rate >= 70%")] = True
    assert targets_of(results, threads) == expected  # no article-vs-torch target any more
    assert {t["threads"] for t in bench.evaluate_targets(results, threads)} == {threads}


def test_the_mnist_fraction_target_is_missed_below_seventy_percent():
    assert not targets_of([fake_result("mnist", fraction=0.69)], 1)[("mnist float32", "matmul-bound rate >= 70%")]


def test_the_busy_target_is_checked_at_one_thread_only():
    def busy_row(threads, ratio):
        return targets_of([fake_result("mnist", busy=ratio)], threads).get(
            ("mnist float32", "minnet busy / quiet <= 2.0")
        )

    assert busy_row(1, 1.99) is True and busy_row(1, 2.01) is False
    assert busy_row(2, 1.5) is None  # two threads collapse beside a busy process: reported, not a target


def test_busy_flag_reports_a_ratio_per_thread_count_and_the_one_thread_target(capsys, blas_pool_restored):
    argv = ["--quick", "--repeat", "2", "--no-sklearn", "--no-torch", "--no-memory", "--dtypes", "float64"]
    assert bench.main([*argv, "--tasks", "article", "--busy", "--threads", "1", "2", "--json", "-"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    for r in runs:
        busy = r["results"][0]["busy"]
        assert busy["rounds"] == 2 and set(busy["ratio"]) == {"minnet", "numpy"}
        for name, times in busy["seconds"].items():
            assert len(times["quiet"]) == len(times["busy"]) == 2
            assert min(bench.busy_ratios(times)) <= busy["ratio"][name] <= max(bench.busy_ratios(times))
    rows = [[t for t in r["targets"] if t["target"] == "minnet busy / quiet <= 2.0"] for r in runs]
    assert [len(r) for r in rows] == [1, 0]
    assert rows[0][0]["threads"] == 1 and rows[0][0]["value"] == round(
        runs[0]["results"][0]["busy"]["ratio"]["minnet"], 3
    )
    assert "minnet busy / quiet (lowest / median / highest)" in bench.format_table(runs[1])


@pytest.mark.parametrize("flag", ["--threads", "--torch-threads"])
def test_threads_flags_refuse_a_count_below_one(capsys, flag):
    with pytest.raises(SystemExit) as stop:
        bench.main(["--quick", flag, "0"])
    assert stop.value.code == 2
    assert f"{flag} must be >= 1, got 0" in capsys.readouterr().err


def test_threads_benchmark_times_each_setting_quiet_and_busy(quick_tasks, blas_pool_restored):
    report = threads_bench.measure(quick_tasks["article float64"], (1, None), rounds=2)
    assert set(report["seconds"]) == {"1", "default"}
    assert all(len(times[c]) == 2 for times in report["seconds"].values() for c in ("quiet", "busy"))
    table = threads_bench.table(report)
    assert table.count("\n| ") == 2 and f"| default ({mn.get_num_threads()}) |" in table


def test_the_step_phases_cover_the_step_and_its_products():
    from benchmarks import step_phases

    results = step_phases.measure(rounds=1, steps=2)
    phases = ["forward", "finite", "loss", "loss_backward", "backward", "optimizer"]
    assert list(results) == [*phases, "minnet", "hand", "products"]
    assert all(0 < r["best"] <= r["median"] for r in results.values())
    # minnet's step is the sum of its phases, and every step contains the products
    assert results["minnet"]["best"] >= sum(results[p]["best"] for p in phases) * (1 - 1e-9)
