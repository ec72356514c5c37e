import io
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")  # headless: no window can open, whatever the machine's default

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from rows import row

import minnet as mn


@pytest.fixture(autouse=True)
def no_windows(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a plot function called show()")

    monkeypatch.setattr(plt, "show", refuse)
    monkeypatch.setattr(Figure, "show", refuse)
    yield
    plt.close("all")


def labels(ax):
    return [line.get_label() for line in ax.get_lines()]


def make_history(lr=(0.1, 0.2, 0.3), metrics=True, validation=True):
    logs = {"loss": [0.7, 0.6, 0.5]}
    if metrics:
        logs["accuracy"] = [0.6, 0.7, 0.8]
    if validation:
        logs["val_loss"] = [0.75, 0.65, 0.6]
        if metrics:
            logs["val_accuracy"] = [0.55, 0.65, 0.7]
    logs["lr"] = list(lr)
    h = mn.History()
    for epoch in range(3):
        h.append(epoch + 1, {k: v[epoch] for k, v in logs.items()})
    return h


def png_bytes(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def test_importing_minnet_does_not_import_matplotlib():
    code = "import sys, minnet; assert 'matplotlib' not in sys.modules; minnet.plot; assert 'matplotlib' in sys.modules"
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path(mn.__file__).parents[1])
    )


def test_history_has_loss_metric_and_varying_lr_panels():
    fig = mn.plot.history(make_history(), title="run")
    assert isinstance(fig, Figure)
    loss_ax, metric_ax, lr_ax = fig.axes
    assert labels(loss_ax) == ["loss", "validation loss"]
    np.testing.assert_array_equal(loss_ax.get_lines()[1].get_ydata(), [0.75, 0.65, 0.6])
    np.testing.assert_array_equal(loss_ax.get_lines()[0].get_xdata(), [1, 2, 3])
    assert loss_ax.get_lines()[1].get_linestyle() == "--"
    assert labels(metric_ax) == ["accuracy", "validation accuracy"]
    np.testing.assert_array_equal(lr_ax.get_lines()[0].get_ydata(), [0.1, 0.2, 0.3])
    assert lr_ax.get_xlabel() == "epoch" and lr_ax.get_ylabel() == "learning rate"
    assert fig._suptitle.get_text() == "run"
    assert png_bytes(fig).startswith(b"\x89PNG")


def test_history_leaves_out_a_constant_lr_and_absent_metrics():
    fig = mn.plot.history(make_history(lr=(0.1, 0.1, 0.1), metrics=False, validation=False))
    assert len(fig.axes) == 1
    assert labels(fig.axes[0]) == ["loss"]


def test_history_plot_method_and_plain_dict():
    h = make_history()
    assert isinstance(h.plot(), Figure)
    assert len(mn.plot.history(h.history).axes) == 3


def test_history_from_fit_draws_the_per_epoch_lr():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 2)), rng.integers(0, 2, size=20)
    model = mn.Sequential(mn.Dense(2, 1, rng=0), mn.Sigmoid())
    opt = mn.SGD(model.parameters(), lr=mn.CyclicLR(0.01, 0.1, step_size_up=3))
    h = mn.fit(model, mn.BCE(), opt, X, y, epochs=4, batch_size=5, seed=0, progress=False)
    lr_ax = h.plot().axes[-1]
    np.testing.assert_allclose(lr_ax.get_lines()[0].get_ydata(), h["lr"])


def test_history_refuses_empty_and_wrong_input():
    with pytest.raises(ValueError, match="empty"):
        mn.plot.history(mn.History())
    with pytest.raises(TypeError):
        mn.plot.history([0.5, 0.4])


def test_schedule_draws_the_rate_of_every_step():
    s = mn.CyclicLR(0.01, 0.1, step_size_up=5)
    fig = mn.plot.schedule(s, 23)
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), np.arange(23))
    np.testing.assert_allclose(line.get_ydata(), [s(k) for k in range(23)])
    assert ax.get_ylabel() == "learning rate"
    assert "CyclicLR(" in ax.get_title()
    momentum = mn.OneCycle(0.1, total_steps=50).momentum()
    assert mn.plot.schedule(momentum, 50, label="momentum").axes[0].get_ylabel() == "momentum"
    # any callable step -> float will do
    assert mn.plot.schedule(lambda k: 0.1 / (1 + k), 5).axes[0].get_lines()[0].get_ydata()[4] == 0.02


def test_schedule_refuses_bad_arguments():
    with pytest.raises(ValueError):
        mn.plot.schedule(mn.Constant(0.1), 0)
    with pytest.raises(TypeError):
        mn.plot.schedule(0.1, 10)


def range_test():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    return mn.lr_find(
        mn.Sequential(mn.Dense(3, 1, rng=0)),
        mn.MSE(),
        X,
        y,
        start_lr=1e-4,
        end_lr=1e3,
        num_steps=200,
        batch_size=16,
        seed=0,
    )


def test_lr_find_plot_marks_the_suggestion_on_a_log_axis():
    result = range_test()
    fig = result.plot()
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    lines = dict(zip(labels(ax), ax.get_lines()))
    np.testing.assert_array_equal(lines["smoothed loss"].get_ydata(), result.losses)
    np.testing.assert_array_equal(lines["smoothed loss"].get_xdata(), result.lrs)
    marker = next(line for label, line in lines.items() if label.startswith("suggestion"))
    assert marker.get_xdata()[0] == result.suggestion
    assert f"{result.suggestion:.3g}" in marker.get_label()


@row("plot-lr-find-raw-faint")
def test_lr_find_plot_draws_the_raw_losses_faint_behind_the_smoothed_curve():
    result = range_test()
    lines = dict(zip(labels(mn.plot.lr_find(result).axes[0]), mn.plot.lr_find(result).axes[0].get_lines()))
    raw, smoothed = lines["batch loss (raw)"], lines["smoothed loss"]
    np.testing.assert_array_equal(raw.get_ydata(), result.raw_losses)
    assert raw.get_linestyle() == "None" and raw.get_alpha() <= 0.3  # faint dots, not a second curve
    assert smoothed.get_linewidth() >= 2


def test_lr_find_plot_without_a_suggestion():
    result = range_test()
    result.suggestion = None
    ax = mn.plot.lr_find(result).axes[0]
    assert not any(label.startswith("suggestion") for label in labels(ax))
    with pytest.raises(TypeError):
        mn.plot.lr_find({"lrs": [1, 2]})


def test_decision_boundary_shades_the_plane_and_shows_the_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(float)
    model = mn.Sequential(mn.Dense(2, 1, rng=0), mn.Sigmoid())
    model.layers[0].W.value[...] = [[5.0], [0.0]]
    fig = mn.plot.decision_boundary(model, X, y, resolution=30, feature_names=["a", "b"])
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("a", "b")
    scatter = [c for c in ax.collections if c.get_offsets().shape == (40, 2)]
    assert len(scatter) == 1
    np.testing.assert_array_equal(np.asarray(scatter[0].get_offsets()), X)
    assert len(fig.axes) == 2  # the plane and its colour bar
    assert png_bytes(fig).startswith(b"\x89PNG")


def test_decision_boundary_multi_class_and_bad_input():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    y = mn.data.one_hot(rng.integers(0, 3, size=30), 3)
    model = mn.Sequential(mn.Dense(2, 3, rng=0))
    assert isinstance(mn.plot.decision_boundary(model, X, y, resolution=20), Figure)
    with pytest.raises(ValueError, match="2 features"):
        mn.plot.decision_boundary(mn.Sequential(mn.Dense(3, 1)), np.zeros((5, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="same number"):
        mn.plot.decision_boundary(model, X, y[:-1])
    with pytest.raises(TypeError):
        mn.plot.decision_boundary("model", X, y)


def test_decision_boundary_numbers_string_labels_in_sorted_order_and_names_them():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = np.where(X[:, 0] > 0, "yes", "no")
    model = mn.Sequential(mn.Dense(2, 1, rng=0), mn.Sigmoid())
    fig = mn.plot.decision_boundary(model, X, y, resolution=20)
    ax = fig.axes[0]
    scatter = next(c for c in ax.collections if c.get_offsets().shape == (40, 2))
    np.testing.assert_array_equal(scatter.get_array(), (y == "yes").astype(float))  # "no" -> 0, "yes" -> 1
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["no", "yes"]
    assert png_bytes(fig).startswith(b"\x89PNG")


def test_decision_boundary_refuses_more_string_classes_than_the_model_separates():
    X = np.random.default_rng(0).normal(size=(6, 2))
    y = np.array(["cat", "dog", "fox"] * 2)
    with pytest.raises(ValueError, match=r"3 classes \(cat, dog, fox\).*1 output\(s\) separates at most 2"):
        mn.plot.decision_boundary(mn.Sequential(mn.Dense(2, 1, rng=0)), X, y, resolution=5)


@pytest.mark.parametrize("bad", ["3 string classes for 1 output", "3 features", "fewer labels"])
def test_a_refused_decision_boundary_leaves_no_open_figure(bad):
    X = np.random.default_rng(0).normal(size=(6, 2))
    model, y = mn.Sequential(mn.Dense(2, 1, rng=0)), np.zeros(6)
    if bad == "3 string classes for 1 output":
        y = np.array(["cat", "dog", "fox"] * 2)
    elif bad == "3 features":
        X = np.zeros((6, 3))
    else:
        y = y[:-1]
    before = plt.get_fignums()
    with pytest.raises(ValueError):
        mn.plot.decision_boundary(model, X, y, resolution=5)
    assert plt.get_fignums() == before


def test_history_without_loss_draws_only_what_it_has():
    fig = mn.plot.history({"accuracy": [0.5, 0.7], "val_accuracy": [0.4, 0.6]})
    assert len(fig.axes) == 1
    assert labels(fig.axes[0]) == ["accuracy", "validation accuracy"]
    fig = mn.plot.history({"val_loss": [0.7, 0.6]})  # a val_ key without its twin keeps its own line
    assert labels(fig.axes[0]) == ["validation loss"]


def test_history_with_nothing_to_draw_is_a_clear_error():
    with pytest.raises(ValueError, match="nothing to plot: no loss or metric, only lr"):
        mn.plot.history({"lr": [0.1, 0.1]})


def test_compare_draws_one_line_per_run_and_one_panel_per_key():
    runs = {"constant": make_history(), "cyclic": make_history(lr=(0.1, 0.5, 0.1))}
    runs["cyclic"].history["loss"] = [0.7, 0.5, 0.4]
    fig = mn.plot.compare(runs)
    (ax,) = fig.axes
    assert labels(ax) == ["constant", "cyclic"]
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), [0.7, 0.5, 0.4])
    assert ax.get_xlabel() == "epoch"
    fig = mn.plot.compare(runs, key=("loss", "val_loss"), log_y=True)
    assert len(fig.axes) == 2
    assert [a.get_ylabel() for a in fig.axes] == ["loss", "validation loss"]
    assert fig.axes[1].get_yscale() == "log"


@row("plot-compare-one-column")
def test_compare_stacks_its_panels_over_one_epoch_axis_one_column_wide():
    runs = {"constant": make_history(), "cyclic": make_history(lr=(0.1, 0.5, 0.1))}
    one = mn.plot.compare(runs)
    fig = mn.plot.compare(runs, key=("loss", "val_loss", "lr"))
    fig.canvas.draw()
    boxes = [ax.get_position() for ax in fig.axes]
    assert len({(round(b.x0, 3), round(b.x1, 3)) for b in boxes}) == 1  # one column: the epochs line up
    assert [b.y0 for b in boxes] == sorted({b.y0 for b in boxes}, reverse=True)  # one under the other, in order
    assert [ax.get_xlabel() for ax in fig.axes] == ["", "", "epoch"]
    assert fig.axes[0].get_shared_x_axes().joined(fig.axes[0], fig.axes[2])
    # As wide as one panel: a page's text column shows it at full size, whatever the number of keys.
    assert fig.get_figwidth() == one.get_figwidth() <= 7


def test_compare_refuses_missing_keys_and_empty_input():
    with pytest.raises(ValueError, match="no 'val_loss'"):
        mn.plot.compare({"a": make_history(validation=False)}, key="val_loss")
    with pytest.raises(ValueError):
        mn.plot.compare({})
    with pytest.raises(ValueError):
        mn.plot.compare({"a": make_history()}, key=[])


def test_confusion_matrix_draws_every_count_with_class_names():
    cm = mn.metrics.confusion_matrix([0, 1, 2, 2, 1], [0, 2, 2, 2, 1])
    fig = mn.plot.confusion_matrix(cm, labels=["cat", "dog", "owl"], title="pets")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["1", "0", "0", "0", "1", "1", "0", "0", "2"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "owl"]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    right, wrong = ax.images
    np.testing.assert_array_equal(right.get_array().filled(0), np.diag(np.diag(cm)))
    np.testing.assert_array_equal(wrong.get_array().filled(0), cm - np.diag(np.diag(cm)))


def test_confusion_matrix_normalized_shows_each_rows_share_and_count():
    fig = mn.plot.confusion_matrix(np.array([[3, 1], [0, 0]]), normalize=True)
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.75\n(3)", "0.25\n(1)", "0", "0"]


def cell_rgb(fig, i, j):
    """The rendered colour (0-255 RGB) at the centre of cell (i, j) of a confusion matrix, its text hidden."""
    ax = fig.axes[0]
    for text in ax.texts:
        text.set_visible(False)
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[:, :, :3].astype(int)
    x, y = ax.transData.transform((j, i))
    return image[round(image.shape[0] - y), round(x)]


@row("plot-confusion-errors-visible")
@pytest.mark.parametrize("normalize", [False, True])
def test_one_error_among_many_right_answers_is_red_not_white(normalize):
    fig = mn.plot.confusion_matrix(np.array([[500, 1, 0], [0, 400, 0], [2, 0, 300]]), normalize=normalize)
    for i, j in [(0, 1), (2, 0)]:
        r, g, b = cell_rgb(fig, i, j)
        assert r - max(g, b) > 60, f"the error cell {(i, j)} is drawn {(r, g, b)}, not red"
    assert min(cell_rgb(fig, 0, 2)) > 245  # no error there: white
    assert cell_rgb(fig, 1, 1)[2] > cell_rgb(fig, 1, 1)[0] + 50  # a right answer: blue


@row("plot-epoch-ticks")
def test_every_epoch_axis_has_whole_epoch_ticks_only():
    h = make_history()
    runs = {"a": h, "b": make_history(lr=(0.1, 0.5, 0.1))}
    for fig in (mn.plot.history(h), mn.plot.compare(runs, key=("loss", "lr"))):
        fig.canvas.draw()
        for ax in fig.axes:
            ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
            assert ticks and all(float(t).is_integer() for t in ticks), ticks


@pytest.mark.parametrize(
    "cm, labels, message",
    [
        (np.zeros((2, 3)), None, "square"),
        (np.array([[1, -1], [0, 0]]), None, "counts >= 0"),
        (np.eye(2), ["a"], "name the 2 classes of cm, got 1"),
    ],
)
def test_confusion_matrix_refuses_bad_input_and_leaves_no_figure(cm, labels, message):
    before = plt.get_fignums()
    with pytest.raises(ValueError, match=message):
        mn.plot.confusion_matrix(cm, labels)
    assert plt.get_fignums() == before


def test_misclassified_draws_only_the_wrong_images_titled_true_then_predicted():
    images = np.arange(5 * 4, dtype=float).reshape(5, 4)  # 2 x 2 images, each different
    scores = np.eye(3)[[0, 2, 2, 0, 0]]  # predicted 0, 2, 2, 0, 0 (argmax)
    fig = mn.plot.misclassified(images, [0, 1, 2, 1, 0], scores, labels=["a", "b", "c"], columns=3)
    drawn = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in drawn] == ["b \u2192 c\n100% sure", "b \u2192 a\n100% sure"]  # a tie: in order
    np.testing.assert_array_equal(drawn[0].images[0].get_array(), images[1].reshape(2, 2))
    np.testing.assert_array_equal(drawn[1].images[0].get_array(), images[3].reshape(2, 2))
    assert len(fig.axes) == 3  # one row of the grid; the empty cell has no image
    assert fig._suptitle.get_text().startswith("2 of 5 misclassified")


@row("plot-misclassified-confidence")
def test_misclassified_ranks_mistakes_by_the_confidence_in_the_wrong_class():
    images = np.arange(5 * 4, dtype=float).reshape(5, 4)
    logits = np.log([[0.6, 0.4], [0.1, 0.9], [0.2, 0.8], [0.45, 0.55], [0.7, 0.3]])
    fig = mn.plot.misclassified(images, [1, 0, 0, 0, 0], logits, columns=4)  # 0, 1, 2, 3 wrong; 4 right
    drawn = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in drawn] == [
        "0 \u2192 1\n90% sure",
        "0 \u2192 1\n80% sure",
        "1 \u2192 0\n60% sure",
        "0 \u2192 1\n55% sure",
    ]
    np.testing.assert_array_equal(drawn[0].images[0].get_array(), images[1].reshape(2, 2))
    assert "most confident first" in fig._suptitle.get_text()
    probabilities = np.exp(logits)  # rows that already sum to 1 are taken as they are
    fig = mn.plot.misclassified(images, [1, 0, 0, 0, 0], probabilities, max_images=2)
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["0 \u2192 1\n90% sure", "0 \u2192 1\n80% sure"]
    assert "4 of 5 misclassified, the most confident 2" in fig._suptitle.get_text()


def test_misclassified_shows_at_most_max_images_and_says_so():
    images = np.zeros((10, 6))
    fig = mn.plot.misclassified(images, [1] * 10, [0] * 10, image_shape=(2, 3), max_images=4, columns=2)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 4 and drawn[0].images[0].get_array().shape == (2, 3)
    assert "10 of 10 misclassified, the first 4" in fig._suptitle.get_text()
    everything_right = mn.plot.misclassified(images, [1] * 10, [1] * 10, image_shape=(3, 2))
    assert not any(ax.images for ax in everything_right.axes)
    assert everything_right._suptitle.get_text().startswith("0 of 10 misclassified")


@pytest.mark.parametrize(
    "images, y_pred, kwargs, message",
    [
        (np.zeros((3, 4)), [0, 1], {}, "one entry per sample"),
        (np.zeros((3, 4)), [0, 1, 1], {"image_shape": (3, 2)}, "height \\* width = 4"),
        (np.zeros((3, 4)), [0, 1, 1], {"max_images": 0}, "max_images"),
        (np.zeros((3, 6)), [0, 1, 1], {}, "6 pixels are not square: pass image_shape"),
    ],
)
def test_misclassified_refuses_bad_input_and_leaves_no_figure(images, y_pred, kwargs, message):
    before = plt.get_fignums()
    with pytest.raises(ValueError, match=message):
        mn.plot.misclassified(images, [0, 0, 0], y_pred, **kwargs)
    assert plt.get_fignums() == before


# Decision boundaries: every class's region in its class's colour, whatever the scores.

CORNERS = [[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]]  # fix the plotted plane to about [-1.1, 1.1]^2


def linear_model(w0: float, b: float, sigmoid: bool) -> mn.Sequential:
    """A model of feature 0 alone: the score w0 * x0 + b, as a logit or through a sigmoid."""
    model = mn.Sequential(mn.Dense(2, 1, rng=0), *([mn.Sigmoid()] if sigmoid else []))
    model.layers[0].W.value[...] = [[w0], [0.0]]
    model.layers[0].b.value[...] = b
    return model


def plane_rgb(fig, points):
    """The rendered colour (0-255 RGB) of the shaded plane at each data point, with the points and legend hidden."""
    ax = fig.axes[0]
    for scatter in ax.collections:
        if isinstance(scatter, PathCollection):
            scatter.set_visible(False)
    ax.get_legend().set_visible(False)
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[:, :, :3].astype(int)
    x, y = ax.transData.transform(np.atleast_2d(points)).T  # display pixels, origin at the bottom
    return image[np.round(image.shape[0] - y).astype(int), np.round(x).astype(int)]


def point_rgb(fig):
    """The colour (0-255 RGB) each data point is drawn in."""
    scatter = next(c for c in fig.axes[0].collections if isinstance(c, PathCollection))
    return (scatter.to_rgba(scatter.get_array())[:, :3] * 255).astype(int)


def is_blue(rgb):
    return rgb[2] - rgb[0] > 8


def is_red(rgb):
    return rgb[0] - rgb[2] > 8


@pytest.mark.parametrize(
    "sigmoid, w0, b, class0_x, class1_x",
    [
        # Logits from -14 to 8: a scale centred on its own middle (-3) paints logit -1.5, class 0, red.
        (False, 10.0, -3.0, 0.15, 0.45),
        # Probabilities from 0.21 to 0.995: a scale centred on its middle paints p = 0.56, class 1, blue.
        (True, 3.0, 2.0, -0.95, -0.587),
    ],
    ids=["logits", "probabilities"],
)
def test_each_class_sits_on_its_own_colour(sigmoid, w0, b, class0_x, class1_x):
    X = np.array([*CORNERS, [class0_x, 0.3], [class1_x, -0.3]])  # the corners fix the plotted plane
    y = (w0 * X[:, 0] + b > 0).astype(float)
    assert list(y[-2:]) == [0.0, 1.0]
    fig = mn.plot.decision_boundary(linear_model(w0, b, sigmoid), X, y, resolution=100)
    drawn0, drawn1 = point_rgb(fig)[-2:]
    assert is_blue(drawn0) and is_red(drawn1)
    under0, under1 = plane_rgb(fig, X[-2:])
    assert is_blue(under0), f"the plane under a class-0 point is {under0}, not blue"
    assert is_red(under1), f"the plane under a class-1 point is {under1}, not red"


def test_the_colour_scale_is_centred_on_the_threshold():
    X = np.array(CORNERS)
    for model, threshold in [
        (linear_model(10.0, -3.0, False), 0.0),
        (linear_model(3.0, 2.0, True), 0.5),
        (linear_model(10.0, -3.0, False), 2.0),
    ]:
        fig = mn.plot.decision_boundary(model, X, [0, 0, 1, 1], resolution=20, threshold=threshold)
        filled = next(c for c in fig.axes[0].collections if getattr(c, "filled", False))
        assert filled.norm.vcenter == threshold
        assert threshold in filled.levels  # no band straddles the boundary
        assert filled.get_cmap().name == "RdBu_r"  # diverging: white at the threshold


def boundary_levels(fig):
    return [list(c.levels) for c in fig.axes[0].collections if hasattr(c, "filled") and not c.filled]


def test_the_threshold_defaults_to_0_for_logits_and_0_5_for_probabilities():
    X = np.array(CORNERS)
    logits = mn.plot.decision_boundary(linear_model(10.0, -3.0, False), X, [0, 0, 1, 1], resolution=20)
    assert boundary_levels(logits) == [[0.0]]
    assert logits.axes[1].get_ylabel() == "model output (threshold 0)"
    probabilities = mn.plot.decision_boundary(linear_model(10.0, -3.0, True), X, [0, 0, 1, 1], resolution=20)
    assert boundary_levels(probabilities) == [[0.5]]
    assert probabilities.axes[1].get_ylabel() == "model output (threshold 0.5)"
    explicit = mn.plot.decision_boundary(linear_model(10.0, -3.0, False), X, [0, 0, 1, 1], resolution=20, threshold=1.5)
    assert boundary_levels(explicit) == [[1.5]]


def test_a_model_that_predicts_one_class_everywhere_paints_the_plane_that_class():
    X = np.array(CORNERS)
    for b, colour in [(4.0, is_red), (-4.0, is_blue)]:
        fig = mn.plot.decision_boundary(linear_model(0.0, b, False), X, [0, 0, 1, 1], resolution=20)
        assert boundary_levels(fig) == []  # no boundary to draw
        assert all(colour(rgb) for rgb in plane_rgb(fig, X * 0.9))


def test_decision_boundary_refuses_a_bad_threshold():
    X = np.array(CORNERS)
    with pytest.raises(ValueError, match="finite"):
        mn.plot.decision_boundary(linear_model(1.0, 0.0, False), X, [0, 0, 1, 1], threshold=float("nan"))
    with pytest.raises(TypeError):
        mn.plot.decision_boundary(linear_model(1.0, 0.0, False), X, [0, 0, 1, 1], threshold="0")


def test_decision_boundary_draws_into_a_given_panel_over_a_given_extent():
    fig, axes = plt.subplots(1, 2)
    X = np.array(CORNERS) * 0.5
    returned = mn.plot.decision_boundary(
        linear_model(1.0, 0.0, False), X, [0, 0, 1, 1], resolution=10, ax=axes[1], extent=(-2, 3, -1, 4)
    )
    assert returned is fig
    assert len(fig.axes) == 3  # the two panels and the colour bar of the second
    assert not axes[0].collections
    assert axes[1].get_xlim() == (-2, 3) and axes[1].get_ylim() == (-1, 4)
    filled = next(c for c in axes[1].collections if getattr(c, "filled", False))
    corners = np.concatenate([path.vertices for path in filled.get_paths()])
    np.testing.assert_allclose(
        [corners[:, 0].min(), corners[:, 0].max(), corners[:, 1].min(), corners[:, 1].max()], [-2, 3, -1, 4]
    )


@pytest.mark.parametrize(
    "bad, error",
    [
        ((0, 1, 0), ValueError),
        ((1, 0, 0, 1), ValueError),
        ((0, 1, 0, float("inf")), ValueError),
        ("wide", TypeError),
        (3.0, TypeError),
    ],
)
def test_decision_boundary_refuses_a_bad_extent_or_panel(bad, error):
    X = np.array(CORNERS)
    with pytest.raises(error, match="extent"):
        mn.plot.decision_boundary(linear_model(1.0, 0.0, False), X, [0, 0, 1, 1], extent=bad)
    with pytest.raises(TypeError, match="ax must be"):
        mn.plot.decision_boundary(linear_model(1.0, 0.0, False), X, [0, 0, 1, 1], ax="left")


# Convolutions: the filters of a Conv2D, and the feature maps of one image through a network.


def drawn_images(container):
    """The arrays shown by the axes of a figure or subfigure that hold an image, in grid order."""
    return [ax.images[0].get_array() for ax in container.axes if ax.images]


def test_filters_draws_each_filter_of_the_channel_on_one_scale_centred_on_0():
    conv = mn.Conv2D(2, 5, (3, 2), seed=0)
    fig = mn.plot.filters(conv, channel=1, columns=3)
    shown = drawn_images(fig)
    assert len(shown) == 5  # one per output channel; the sixth cell of the 2 x 3 grid is empty
    for o, image in enumerate(shown):
        np.testing.assert_array_equal(image, conv.W.value[o, 1])
    limit = np.abs(conv.W.value[:, 1]).max()
    assert {ax.images[0].get_clim() for ax in fig.axes if ax.images} == {(-limit, limit)}
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["0", "1", "2", "3", "4"]
    assert any(ax.get_ylabel() == "weight" for ax in fig.axes)  # the colour bar
    assert fig._suptitle.get_text() == f"{conv!r}: its 5 filters of 3 x 2, on input channel 1"
    assert png_bytes(fig).startswith(b"\x89PNG")


@row("plot-conv-bad-input")
@pytest.mark.parametrize(
    "layer, kwargs, error, message",
    [
        (mn.Dense(3, 2), {}, TypeError, "filters draws the filters of a Conv2D layer, got Dense"),
        (mn.Conv2D(2, 4, 3), {"channel": 2}, ValueError, "channel must be <= 1, got 2"),
        (mn.Conv2D(1, 4, 3), {"columns": 0}, ValueError, "columns must be >= 1, got 0"),
    ],
)
def test_filters_refuses_what_it_cannot_draw_and_leaves_no_figure(layer, kwargs, error, message):
    before = plt.get_fignums()
    with pytest.raises(error, match=message):
        mn.plot.filters(layer, **kwargs)
    assert plt.get_fignums() == before


def small_cnn():
    return mn.Sequential(
        mn.Conv2D(1, 2, 3, seed=0),
        mn.BatchNorm2D(2),
        mn.ReLU(),
        mn.Conv2D(2, 3, 3, seed=1),
        mn.Flatten(),
        mn.Dropout(0.5, seed=2),
        mn.Dense(3 * 2 * 3, 4, seed=3),
    )


def test_feature_maps_draw_the_image_then_each_conv2d_output_in_inference_mode():
    model = small_cnn()
    model.layers[1].set_state({**model.layers[1].get_state(), "running_mean": np.array([0.5, -1.0])})
    x = np.random.default_rng(0).normal(size=(1, 6, 7))
    state = [layer.get_state() for layer in model]
    fig = mn.plot.feature_maps(model, x, columns=2)
    first = model.layers[0].forward(x[None], training=False)
    second = model.layers[3].forward(model.layers[2].forward(model.layers[1].forward(first, False), False), False)
    image, maps1, maps2 = fig.subfigs
    np.testing.assert_array_equal(drawn_images(image)[0], x[0])
    np.testing.assert_allclose(drawn_images(maps1), first[0])
    np.testing.assert_allclose(drawn_images(maps2), second[0])  # through BatchNorm2D's running statistics
    assert maps2._suptitle.get_text() == f"{model.layers[3]!r}: 3 feature maps of 2 x 3"
    assert image._suptitle.get_text() == "the image: 1 channel of 6 x 7"
    for ax in maps1.axes:  # each map on its own scale, centred on 0
        low, high = ax.images[0].get_clim()
        assert low == -high == -np.abs(ax.images[0].get_array()).max()
    # Inference: no layer keeps a cache or changes its state (running statistics, the dropout generator).
    assert all(layer._cache is None for layer in model)
    for layer, before in zip(model, state):
        for key, value in layer.get_state().items():
            np.testing.assert_array_equal(value, before[key])
    assert png_bytes(fig).startswith(b"\x89PNG")


def test_feature_maps_take_one_image_or_a_batch_of_one():
    model, x = small_cnn(), np.random.default_rng(1).random((1, 6, 7))
    one, batch = mn.plot.feature_maps(model, x), mn.plot.feature_maps(model, x[None])
    for a, b in zip(one.subfigs, batch.subfigs):
        for left, right in zip(drawn_images(a), drawn_images(b)):
            np.testing.assert_array_equal(left, right)


@row("plot-conv-bad-input")
@pytest.mark.parametrize(
    "model, x, error, message",
    [
        (small_cnn()[0], np.zeros((1, 6, 7)), TypeError, "runs the layers of a Sequential in order, got Conv2D"),
        (mn.Sequential(mn.Dense(2, 2)), np.zeros((1, 1, 2)), ValueError, "the model has none"),
        (
            small_cnn(),
            np.zeros((2, 1, 6, 7)),
            ValueError,
            r"one image \(C, H, W\) or a batch of one \(1, C, H, W\), got shape \(2, 1, 6, 7\)",
        ),
        (small_cnn(), np.zeros((6, 7)), ValueError, r"got shape \(6, 7\)"),
        (small_cnn(), np.full((1, 6, 7), np.nan), ValueError, "x holds NaN or infinite values"),
        (small_cnn(), np.zeros((3, 6, 7)), ValueError, r"expected a batch of images of shape \(n, 1, H, W\)"),
    ],
)
def test_feature_maps_refuse_what_they_cannot_draw_and_leave_no_figure(model, x, error, message):
    before = plt.get_fignums()
    with pytest.raises(error, match=message):
        mn.plot.feature_maps(model, x)
    assert plt.get_fignums() == before


# Decision boundaries in a grid: one colour scale, one colour bar, the classes named.


def test_decision_boundary_names_numeric_classes_in_a_legend():
    fig = mn.plot.decision_boundary(linear_model(1.0, 0.0, True), np.array(CORNERS), [0, 0, 1, 1], resolution=10)
    legend = fig.axes[0].get_legend()
    assert legend.get_title().get_text() == "class"
    assert [t.get_text() for t in legend.get_texts()] == ["0", "1"]
    assert mn.plot.decision_boundary(linear_model(1.0, 0.0, True), np.array(CORNERS), [0, 0, 1, 1], legend=False)
    assert plt.gcf().axes[0].get_legend() is None


@row("plot-decision-shared-scale")
def test_a_grid_of_probability_panels_shares_one_colour_bar():
    fig, axes = plt.subplots(1, 3)
    for k, ax in enumerate(axes):
        model = linear_model(float(k + 1), 0.0, True)
        mn.plot.decision_boundary(
            model, np.array(CORNERS), [0, 0, 1, 1], resolution=10, ax=ax, colorbar=axes if k == 2 else False
        )
    assert len(fig.axes) == 4  # three panels, one colour bar
    norms = [next(c for c in ax.collections if getattr(c, "filled", False)).norm for ax in axes]
    assert {(n.vmin, n.vcenter, n.vmax) for n in norms} == {(0.0, 0.5, 1.0)}  # one scale


@row("plot-decision-bad-colorbar")
@pytest.mark.parametrize("bad", ["yes", [1, 2], [], 1])
def test_decision_boundary_refuses_a_colorbar_that_is_not_axes(bad):
    before = plt.get_fignums()
    with pytest.raises(TypeError, match="colorbar must be True, False or the Axes"):
        mn.plot.decision_boundary(linear_model(1.0, 0.0, True), np.array(CORNERS), [0, 0, 1, 1], colorbar=bad)
    assert plt.get_fignums() == before


# Drawing a network: a box per node, an arrow per edge, shared layers and merges marked.


def shared_graph():
    """A skip connection (Add), a layer used at two nodes, a Concat: the DESIGN's example graph."""
    x = mn.Input(8)
    h = mn.ReLU()(mn.Dense(8, 32, init="he", seed=0)(x))
    r = mn.ReLU()(mn.Dense(32, 32, init="he", seed=1)(h))
    h = mn.Add()([h, r])
    shared = mn.Dense(32, 16, seed=2)
    a, b = shared(h), shared(mn.Tanh()(h))
    return mn.Graph(inputs=x, outputs=mn.Dense(32, 1, seed=3)(mn.Concat()([a, b])))


def two_in_two_out():
    a, b = mn.Input(3, name="numbers"), mn.Input((1, 4, 4), name="image")
    image = mn.Flatten()(mn.Conv2D(1, 2, 3, seed=0)(b))
    h = mn.Concat()([mn.Dense(3, 4, seed=1)(a), image])
    return mn.Graph(inputs=[a, b], outputs=[mn.Dense(12, 1, seed=2)(h), mn.Dense(12, 2, seed=3)(h)])


def gids(fig, prefix):
    return sorted(p.get_gid()[len(prefix) :] for p in fig.axes[0].patches if (p.get_gid() or "").startswith(prefix))


def graph_edges(model):
    return sorted(f"{a} -> {name}" for name, _, args in model.nodes for a in args)


@pytest.mark.parametrize("build", [shared_graph, two_in_two_out])
def test_model_draws_one_box_per_node_and_one_arrow_per_edge(build):
    model = build()
    fig = mn.plot.model(model)
    assert isinstance(fig, Figure)
    assert gids(fig, "box ") == sorted(name for name, _, _ in model.nodes)
    assert gids(fig, "edge ") == graph_edges(model)
    assert gids(fig, "output ") == sorted(model.output_names)
    texts = [t.get_text() for t in fig.axes[0].texts]
    for (name, layer, _), shape in zip(model.nodes, model.shapes):
        label = "Input" if layer is None else repr(layer)
        assert f"{name}: {label}" in texts
        assert any(t.startswith(mn.containers.shape_text(shape)) for t in texts)
    assert png_bytes(fig).startswith(b"\x89PNG")


def box_patches(fig):
    return {p.get_gid()[4:]: p for p in fig.axes[0].patches if (p.get_gid() or "").startswith("box ")}


def test_model_marks_shared_layers_and_merges_and_counts_weights_once():
    fig = mn.plot.model(shared_graph())
    boxes = box_patches(fig)
    dashed = {name for name, p in boxes.items() if p.get_linestyle() == "--"}
    assert dashed == {"dense_2", "dense_2:1"}
    merges = {name for name, p in boxes.items() if p.get_facecolor() == boxes["add"].get_facecolor()}
    assert merges == {"add", "concat"}
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "(None, 16) \u00b7 528 params \u00b7 shared by 2 nodes" in texts
    assert "(None, 16) \u00b7 weights of dense_2" in texts
    assert "1,905 parameters" in fig._suptitle.get_text()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "shared layer" in labels and "merge: one arrow per input" in labels


def test_model_puts_parallel_branches_side_by_side_without_crossing_a_box():
    fig = mn.plot.model(two_in_two_out())
    boxes = {name: p.get_bbox() for name, p in box_patches(fig).items()}
    assert boxes["numbers"].y0 == boxes["image"].y0  # both inputs on the top row
    assert boxes["dense_1"].y0 == boxes["dense_2"].y0  # both outputs on one row
    for patch in fig.axes[0].patches:
        if (patch.get_gid() or "").startswith("edge "):
            source, target = patch.get_gid()[5:].split(" -> ")
            path = patch.get_path().vertices
            for name, box in boxes.items():
                if name not in (source, target):
                    inside = (
                        (box.x0 < path[:, 0]) & (path[:, 0] < box.x1) & (box.y0 < path[:, 1]) & (path[:, 1] < box.y1)
                    )
                    assert not inside.any(), f"the arrow {source} -> {target} runs through {name}"


def test_model_draws_a_sequential_as_a_chain_with_its_shapes():
    model = small_cnn()
    fig = mn.plot.model(model, input_shape=(1, 6, 7))
    assert gids(fig, "box ") == sorted(["input", *map(str, range(len(model)))])
    assert len(gids(fig, "edge ")) == len(model)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "0: Conv2D(1, 2, 3)" in texts and "(None, 2, 4, 5) \u00b7 20 params" in texts
    no_shapes = [t.get_text() for t in mn.plot.model(model).axes[0].texts]  # a Conv2D does not fix H and W
    assert "shape ?" in no_shapes


def test_model_text_draws_the_wiring_and_lists_every_edge():
    model = shared_graph()
    text = mn.plot.model_text(model)
    lines = [line for line in text.splitlines() if "\u25cf" in line]
    assert len(lines) == len(model.nodes)
    for line, (name, _, args) in zip(lines, model.nodes):
        assert f" {name} " in line
        if args:
            assert line.split("\u2190 ")[1].startswith(", ".join(args))
    assert "\u251c\u2500\u2510" in text and "\u251c\u2500\u2518" in text  # a branch opens, and merges back
    assert "weights of dense_2" in text and text.rstrip().endswith("\u2192 output")
    assert mn.plot.model_text(small_cnn(), input_shape=(1, 6, 7)).count("\u25cf") == len(small_cnn()) + 1


def test_model_text_docstring_example():
    import doctest

    finder = doctest.DocTestFinder()
    (test,) = [t for t in finder.find(mn.plot.model_text, "model_text", globs={}) if t.examples]
    assert doctest.DocTestRunner().run(test).failed == 0


@row("plot-model-bad-input")
@pytest.mark.parametrize(
    "model, kwargs, message",
    [
        (mn.Dense(2, 2), {}, "model must be an mn.Sequential or an mn.Graph, got Dense"),
        (shared_graph(), {"input_shape": 8}, "input_shape is for a Sequential"),
    ],
)
def test_model_refuses_what_it_cannot_draw_and_leaves_no_figure(model, kwargs, message):
    before = plt.get_fignums()
    for draw in (mn.plot.model, mn.plot.model_text):
        with pytest.raises(TypeError, match=message):
            draw(model, **kwargs)
    assert plt.get_fignums() == before


# -- layer_stats ---------------------------------------------------------------------


def recorded_layer_stats(epochs=3):
    X = np.random.default_rng(0).standard_normal((40, 3))
    y = (X[:, 0] > 0).astype(float)
    model = mn.Sequential(
        mn.Dense(3, 4, seed=0), mn.Sigmoid(), mn.Dense(4, 4, seed=1), mn.ReLU(), mn.Dense(4, 1, seed=2), mn.Sigmoid()
    )
    stats = mn.LayerStats()
    mn.fit(model, mn.BCE(), mn.SGD(model.parameters(), lr=0.1), X, y, epochs=epochs, progress=False, callbacks=[stats])
    return stats


def test_layer_stats_draws_a_panel_per_quantity_and_a_line_per_layer():
    stats = recorded_layer_stats()
    fig = mn.plot.layer_stats(stats, title="run")
    axes = fig.axes
    assert [ax.get_ylabel() for ax in axes] == [
        "activation mean",
        "activation std",
        "saturated fraction",
        "dead fraction",
        "\u2016grad\u2016 / \u2016W\u2016",
        "\u2016\u0394W\u2016 / \u2016W\u2016 per epoch",
    ]
    # The activation rows draw the activation functions; the ratio rows the layers with weights, on log axes.
    assert labels(axes[0]) == ["1 Sigmoid", "3 ReLU", "5 Sigmoid"]
    assert labels(axes[2]) == ["1 Sigmoid", "5 Sigmoid"] and labels(axes[3]) == ["3 ReLU"]
    assert labels(axes[4]) == ["0 Dense", "2 Dense", "4 Dense"]
    assert [ax.get_yscale() for ax in axes[4:]] == ["log", "log"]
    assert axes[0].get_yscale() == axes[1].get_yscale() == "linear"  # these standard deviations span no decades
    assert list(axes[4].get_lines()[0].get_xdata()) == [1, 2, 3]
    assert np.array_equal(axes[4].get_lines()[1].get_ydata(), stats.history["2"]["grad_ratio"])
    assert all(float(t).is_integer() for t in axes[-1].get_xticks())
    # One colour per depth: the first layer's line is not the last one's.
    first, last = (np.asarray(line.get_color()) for line in axes[4].get_lines()[::2])
    assert not np.array_equal(first, last)


def test_layer_stats_puts_runs_side_by_side_on_one_scale_per_row():
    a, b = recorded_layer_stats(), recorded_layer_stats(epochs=2)
    fig = mn.plot.layer_stats({"first": a, "second": b}, quantities=["std", "grad_ratio"])
    axes = np.array(fig.axes).reshape(2, 2)
    assert [ax.get_title() for ax in axes[0]] == ["first", "second"]
    assert axes[0, 0].get_shared_y_axes().joined(axes[0, 0], axes[0, 1])
    assert axes[1, 0].get_ylim() == axes[1, 1].get_ylim()


def test_layer_stats_names_layers_by_every_runs_type_and_puts_spreads_of_decades_on_a_log_axis():
    X = np.random.default_rng(0).standard_normal((40, 3))
    y = (X[:, 0] > 0).astype(float)
    runs = {}
    for activation, init in ((mn.Sigmoid, "normal"), (mn.ReLU, "he")):
        model = mn.Sequential(mn.Dense(3, 8, init=init, seed=0), activation(), mn.Dense(8, 1, seed=1), mn.Sigmoid())
        runs[activation.__name__] = mn.LayerStats()
        mn.fit(
            model,
            mn.BCE(),
            mn.SGD(model.parameters(), lr=0.1),
            X,
            y,
            epochs=2,
            progress=False,
            callbacks=[runs[activation.__name__]],
        )
    fig = mn.plot.layer_stats(runs, quantities="std")
    assert labels(fig.axes[1]) == ["1 Sigmoid/ReLU", "3 Sigmoid"]
    assert fig.axes[0].get_yscale() == "log"  # 0.003 next to 1


def test_layer_stats_draws_into_a_subfigure():
    fig = plt.figure()
    left, right = fig.subfigures(1, 2)
    assert mn.plot.layer_stats(recorded_layer_stats(), quantities="dead", figure=right) is right
    assert len(right.axes) == 1 and not left.axes


@row("plot-layer-stats-bad-input")
@pytest.mark.parametrize(
    "stats, kwargs, error, message",
    [
        ("history", {}, TypeError, "stats must be a LayerStats"),
        ({}, {}, ValueError, "a non-empty dict of label -> LayerStats"),
        (mn.LayerStats(), {}, ValueError, "LayerStats has recorded no epoch yet"),
        (None, {"quantities": ["loss"]}, ValueError, "quantities must be some of those recorded, mean, std"),
        (None, {"figure": "fig"}, TypeError, "figure must be a matplotlib Figure or SubFigure, got str"),
    ],
)
def test_layer_stats_refuses_what_it_cannot_draw_and_leaves_no_figure(stats, kwargs, error, message):
    stats = recorded_layer_stats(epochs=1) if stats is None else stats
    before = plt.get_fignums()
    with pytest.raises(error, match=message):
        mn.plot.layer_stats(stats, **kwargs)
    assert plt.get_fignums() == before


@pytest.mark.parametrize("build", [shared_graph, small_cnn])
def test_model_text_stays_legible_at_the_size_a_page_shows(build):
    """Every word of the drawing is 9 points or more: 11 pixels at the site's 90 dpi, still readable on a phone."""
    fig = mn.plot.model(build(), title="a title")
    texts = [*fig.axes[0].texts, *fig.legends[0].get_texts(), fig._suptitle]
    assert texts and min(t.get_fontsize() for t in texts) >= 9
