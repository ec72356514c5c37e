"""Figures drawn with matplotlib: training runs, schedules and the range test, a
classifier's decisions and mistakes, a CNN's filters and feature maps, the
network itself (:func:`model`, :func:`model_text`) and what
:class:`~minnet.callbacks.LayerStats` recorded inside it.

Each function builds a new figure through pyplot and returns it; none calls
``show()``. In a script, call ``matplotlib.pyplot.show()`` to open the
windows or ``fig.savefig(path)`` to write a file; in a notebook the figure
appears by itself. Without a display, matplotlib falls back to its
non-interactive Agg backend, so everything here also works on a server.

This module imports matplotlib, which ``import minnet`` does not: it is
loaded the first time ``minnet.plot`` is used.
"""

from __future__ import annotations

import math
import textwrap
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap, TwoSlopeNorm
from matplotlib.figure import Figure, SubFigure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch
from matplotlib.path import Path
from matplotlib.textpath import TextPath
from matplotlib.ticker import MaxNLocator

from ._inference import inference_pass
from ._validation import all_finite, as_batch, as_float_array, check_bool, check_int, check_real, check_shape
from .callbacks import LayerStats
from .containers import Sequential, inference_batches, model_dtype, shape_text
from .graph import Graph
from .layers import Conv2D, Layer

if TYPE_CHECKING:
    from .lr_finder import LRFinderResult
    from .run import History

__all__ = [
    "compare",
    "confusion_matrix",
    "decision_boundary",
    "feature_maps",
    "filters",
    "history",
    "layer_stats",
    "lr_find",
    "misclassified",
    "model",
    "model_text",
    "schedule",
]


def _series(h: Any) -> tuple[np.ndarray, dict[str, list[float]]]:
    """Epoch numbers and the dict of per-epoch lists of a History (or a plain dict)."""
    logs = getattr(h, "history", h)
    if not isinstance(logs, Mapping):
        raise TypeError(f"expected a History (or a dict of per-epoch lists), got {type(h).__name__}")
    lengths = {len(v) for v in logs.values()}
    if not logs or lengths == {0}:
        raise ValueError("the history is empty: nothing to plot")
    n = max(lengths)
    epochs = list(getattr(h, "epoch", None) or range(1, n + 1))
    return np.asarray(epochs[:n]), dict(logs)


def _pretty(key: str, held_out: str = "validation") -> str:
    if key == "lr":
        return "learning rate"
    return key.replace("val_", f"{held_out} ").replace("_", " ")


def history(
    h: History | Mapping[str, Sequence[float]], *, title: str | None = None, held_out: str = "validation"
) -> Figure:
    """Plot a training history, one panel per kind of quantity, against the epoch.

    The first panel holds ``loss`` and ``val_loss``; a second holds the
    metrics (``accuracy``, ``val_accuracy``, ...) if any were recorded; a
    third, on a log axis, holds the learning rate if it changed during the
    run. Validation curves are dashed, in the colour of their training twin.
    A panel with nothing to draw is left out; a history with no loss, no
    metric and no changing rate is a ValueError.

    Parameters
    ----------
    h : History or dict of str to list of float
        What :func:`minnet.fit` returned, or its ``.history`` dict.
    title : str, optional
        Title above the figure.
    held_out : str, default "validation"
        What the legend calls the ``val_`` curves (``"held-out"``, ``"test"``),
        so a plot names the held-out data as the tables beside it do.

    Returns
    -------
    matplotlib.figure.Figure
    """
    epochs, logs = _series(h)
    # A val_ key is drawn next to its training twin; one without a twin gets its own line.
    curves = [k for k in logs if k != "lr" and not (k.startswith("val_") and k[4:] in logs)]
    losses = [k for k in curves if k.endswith("loss")]
    metrics = [k for k in curves if not k.endswith("loss")]
    lr = np.asarray(logs.get("lr", []), dtype=float)
    show_lr = lr.size > 1 and np.ptp(lr) > 0
    panels = ([losses] if losses else []) + ([metrics] if metrics else []) + ([["lr"]] if show_lr else [])
    if not panels:
        raise ValueError(
            f"the history has nothing to plot: no loss or metric, only "
            f"{', '.join(logs)} (a constant learning rate is not drawn)"
        )

    fig, axes = plt.subplots(
        len(panels), 1, sharex=True, squeeze=False, figsize=(7, 2.2 + 1.8 * len(panels)), layout="constrained"
    )
    axes = axes[:, 0]
    for ax, keys in zip(axes, panels):
        for i, key in enumerate(keys):
            color = f"C{i}"
            values = np.asarray(logs[key], dtype=float)
            ax.plot(
                epochs[: len(values)],
                values,
                color=color,
                label=_pretty(key, held_out),
                linestyle="--" if key.startswith("val_") else "-",
            )
            if f"val_{key}" in logs:
                val = np.asarray(logs[f"val_{key}"], dtype=float)
                ax.plot(epochs[: len(val)], val, color=color, linestyle="--", label=_pretty(f"val_{key}", held_out))
        ax.grid(alpha=0.3)
        if keys == ["lr"]:
            # A decay spanning decades reads best on a log axis, a cycle on a linear one.
            if lr.min() > 0 and lr.max() / lr.min() > 20:
                ax.set_yscale("log")
            ax.set_ylabel("learning rate")
        else:
            ax.set_ylabel("loss" if keys is losses else _pretty(keys[0]) if len(keys) == 1 else "metric")
            ax.legend(frameon=False)
        _epoch_ticks(ax)
    axes[-1].set_xlabel("epoch")
    if title:
        fig.suptitle(title)
    return fig


def _epoch_ticks(ax: Axes) -> None:
    """Ticks at whole epochs only: there is no epoch 2.5."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def schedule(
    s: Callable[[int], float], steps: int, *, label: str = "learning rate", title: str | None = None
) -> Figure:
    """Plot a schedule's value at each optimizer step ``0 .. steps - 1``.

    Parameters
    ----------
    s : Schedule or callable step -> float
        E.g. ``mn.CyclicLR(...)`` or ``opt.lr``.
    steps : int
        Number of optimizer steps (batches) to draw, ``>= 1``.
    label : str, default "learning rate"
        Name of the quantity, for the y axis ("momentum" for a momentum schedule).
    title : str, optional
        Defaults to the schedule's repr.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not callable(s):
        raise TypeError(f"s must be a schedule (a callable step -> float), got {s!r}")
    steps = check_int("steps", steps, low=1)
    values = np.array([float(s(step)) for step in range(steps)])
    fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
    ax.plot(np.arange(steps), values, color="C0")
    ax.set_xlabel("optimizer step (one per batch)")
    ax.set_ylabel(label)
    ax.set_xlim(0, max(steps - 1, 1))
    ax.grid(alpha=0.3)
    # A schedule's repr lists every argument; wrap it rather than let it run off the figure.
    ax.set_title(title if title is not None else textwrap.fill(repr(s), 90), fontsize="small")
    return fig


def lr_find(result: LRFinderResult, *, title: str | None = None) -> Figure:
    """Plot the range test: smoothed loss against learning rate on a log axis.

    The smoothed loss is the curve to read; the raw batch losses are faint
    dots behind it, and the suggested rate is marked with a dot and a
    dotted vertical line.

    Parameters
    ----------
    result : LRFinderResult
        What :func:`minnet.lr_find` returned.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    lrs = np.asarray(getattr(result, "lrs", None), dtype=float)
    losses = np.asarray(getattr(result, "losses", None), dtype=float)
    if lrs.ndim != 1 or lrs.shape != losses.shape or lrs.size == 0:
        raise TypeError(f"result must be what mn.lr_find returned, got {type(result).__name__}")
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    raw = getattr(result, "raw_losses", None)
    if raw is not None:
        # Faint and thin behind the curve: the noise the smoothing removes, not a second curve to read.
        ax.plot(lrs, raw, ".", color="C0", alpha=0.3, markersize=2.5, label="batch loss (raw)")
    ax.plot(lrs, losses, color="C0", linewidth=2, label="smoothed loss")
    suggestion = getattr(result, "suggestion", None)
    if suggestion is not None:
        # The curve is drawn on a log axis, so interpolate in log(lr) to sit on it.
        at = np.interp(np.log(suggestion), np.log(lrs), losses)
        ax.axvline(suggestion, color="C3", linestyle=":", linewidth=1)
        ax.plot([suggestion], [at], "o", color="C3", label=f"suggestion: {suggestion:.3g}")
    ax.set_xscale("log")
    # Keep the explosion from flattening the interesting part of the curve.
    low, high = losses.min(), losses[: int(np.argmin(losses)) + 1].max()
    pad = 0.1 * max(high - low, 1e-12)
    ax.set_ylim(low - pad, max(high, losses[0]) + 3 * pad)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3, which="both")
    ax.legend(frameon=False)
    ax.set_title(title if title is not None else "learning-rate range test", fontsize="medium")
    return fig


def decision_boundary(
    model: Layer,
    X: Any,
    y: Any,
    *,
    resolution: int = 200,
    threshold: float | None = None,
    feature_names: Sequence[str] | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    extent: Sequence[float] | None = None,
    colorbar: bool | Sequence[Axes] = True,
    legend: bool = True,
) -> Figure:
    """Plot what a model predicts over the plane of two features, with the data on top.

    For one output, the background shades the predicted score on a
    diverging colour map whose centre (white) is ``threshold``: wherever
    the model predicts class 0 the shade is blue, wherever it predicts
    class 1 it is red, however lopsided the scores are, and a black line
    marks the boundary. The points are drawn in the colours of the two
    ends of the same map, so each one sits on its class's colour exactly
    when the model classifies it right. Probabilities are shaded on
    ``[0, 1]``, logits on the range they take over the plane. For several
    outputs, the background is coloured by the predicted class (the
    largest output).

    Parameters
    ----------
    model : Layer
        A trained model taking 2 features.
    X : array-like of shape (n_samples, 2)
    y : array-like of shape (n_samples,), (n_samples, 1) or (n_samples, n_classes)
        0/1 labels, class indices, or one-hot rows.
    resolution : int, default 200
        Grid points along each axis, ``>= 2``.
    threshold : float, optional
        Decision threshold of a single output. By default 0.5 when every
        output over the plane lies in [0, 1] (probabilities, e.g. after a
        ``Sigmoid``) and 0.0 otherwise (logits); pass it for a logit model
        whose outputs may all fall in [0, 1], such as an untrained one.
    feature_names : pair of str, optional
        Axis labels.
    title : str, optional
    ax : matplotlib.axes.Axes, optional
        Draw into this panel (e.g. one of ``plt.subplots``' grid), its
        colour bar beside it, instead of a new figure.
    extent : (left, right, bottom, top), optional
        The rectangle of the plane to shade, as in ``imshow``; by default
        the data's, padded by 5%. Give several panels the same one to
        compare them.
    colorbar : bool or sequence of Axes, default True
        Draw the colour bar beside ``ax``; False leaves it out. A grid of
        panels of probabilities (all on the one scale ``[0, 1]``) shares one
        bar: draw every panel with False but one, given the grid's Axes.
    legend : bool, default True
        Name the classes of the points in a legend.

    Returns
    -------
    matplotlib.figure.Figure
        The new figure, or the one holding ``ax``.
    """
    if not isinstance(model, Layer):
        raise TypeError(f"model must be a Layer (e.g. mn.Sequential), got {type(model).__name__}")
    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    if not isinstance(colorbar, bool):
        panels = list(np.ravel(colorbar)) if isinstance(colorbar, (list, tuple, np.ndarray)) else []
        if not panels or not all(isinstance(panel, Axes) for panel in panels):
            raise TypeError(f"colorbar must be True, False or the Axes the bar spans, got {colorbar!r:.80}")
        colorbar = panels
    legend = check_bool("legend", legend)
    X = as_batch("X", X)
    if X.shape[1:] != (2,):
        raise ValueError(f"decision_boundary needs exactly 2 features, got X of shape {X.shape}")
    labels = np.asarray(y)
    if labels.ndim == 2 and labels.shape[1] > 1:
        labels = labels.argmax(axis=1)
    labels = labels.reshape(-1)
    if labels.shape[0] != X.shape[0]:
        raise ValueError(f"X and y must have the same number of samples, got {X.shape[0]} and {labels.shape[0]}")
    resolution = check_int("resolution", resolution, low=2)
    if threshold is not None:
        threshold = check_real("threshold", threshold)
    # Labels that are not numbers ("yes"/"no") are numbered in sorted order, as
    # a label encoder would have done to train the model; the legend names them.
    names = None
    if labels.dtype.kind not in "biuf":
        names, labels = np.unique(labels.astype(str), return_inverse=True)

    if extent is None:
        span = X.max(axis=0) - X.min(axis=0)
        pad = np.where(span > 0, 0.05 * span, 1.0)
        left, bottom = X.min(axis=0) - pad
        right, top = X.max(axis=0) + pad
    else:
        left, right, bottom, top = _check_extent(extent)
    x0 = np.linspace(left, right, resolution)
    x1 = np.linspace(bottom, top, resolution)
    g0, g1 = np.meshgrid(x0, x1)
    grid = np.column_stack([g0.ravel(), g1.ravel()])
    # An inference pass, which writes no layer state: plotting never disturbs training.
    ((_, (out,)),) = inference_batches(model, [grid.astype(model_dtype(model), copy=False)], None)
    # Decided once, for the shading and the points: a single output's score on a diverging map
    # with 0/1 labels at its two ends (the colours of the two sides of the threshold), or up to
    # 10 classes in one tab10 colour each. The check runs before any figure exists, so a
    # refused call leaves none open.
    cmap, vmax = ("RdBu_r", 1) if out.shape[1] == 1 else ("tab10", 9)
    if names is not None and len(names) > vmax + 1:
        raise ValueError(
            f"y holds {len(names)} classes ({', '.join(names)}), but a model with "
            f"{out.shape[1]} output(s) separates at most {vmax + 1}"
        )

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 5), layout="constrained")
    else:
        root = ax.get_figure(root=True)
        if root is None:
            raise ValueError("ax must belong to a figure")
        fig = root
    if out.shape[1] == 1:
        score = out[:, 0].reshape(g0.shape).astype(np.float64)
        norm, threshold, low, high = _centred_norm(score, threshold)
        # The threshold is a level, so no band straddles it and takes the other class's colour.
        levels = np.concatenate([np.linspace(low, threshold, 11), np.linspace(threshold, high, 11)[1:]])
        filled = ax.contourf(g0, g1, score, levels=levels, cmap=cmap, norm=norm, alpha=0.6)
        if colorbar is not False:
            beside = ax if colorbar is True else colorbar
            bar = fig.colorbar(filled, ax=beside, label=f"model output (threshold {threshold:g})")
            # Ticks at the ends, the threshold and halfway: the levels that mean something.
            bar.set_ticks(list(levels[::5]), labels=[f"{v:.3g}" for v in levels[::5]])
        if score.min() < threshold < score.max():
            ax.contour(g0, g1, score, levels=[threshold], colors="k", linewidths=1.5)
    else:
        classes = out.argmax(axis=1).reshape(g0.shape)
        ax.contourf(g0, g1, classes, levels=np.arange(out.shape[1] + 1) - 0.5, cmap=cmap, vmin=0, vmax=vmax, alpha=0.35)
    points = ax.scatter(X[:, 0], X[:, 1], c=labels, cmap=cmap, vmin=0, vmax=vmax, edgecolors="k", linewidths=0.5, s=18)
    if legend:
        handles, _ = points.legend_elements()
        classes = names if names is not None else [f"{c:g}" for c in np.unique(labels)]
        ax.legend(handles, list(classes), title="class", framealpha=0.8, fontsize="small")
    if extent is not None:
        ax.set_xlim(left, right)
        ax.set_ylim(bottom, top)
    axis_names = list(feature_names) if feature_names is not None else ["feature 0", "feature 1"]
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    if title:
        ax.set_title(title, fontsize="medium")
    return fig


def _check_extent(extent: Any) -> tuple[float, float, float, float]:
    """``(left, right, bottom, top)`` as four finite floats with ``left < right`` and ``bottom < top``."""
    try:
        values = [float(v) for v in extent]
    except (TypeError, ValueError):
        raise TypeError(f"extent must be four numbers (left, right, bottom, top), got {extent!r}") from None
    if len(values) != 4 or not np.all(np.isfinite(values)):
        raise ValueError(f"extent must be four finite numbers (left, right, bottom, top), got {extent!r}")
    left, right, bottom, top = values
    if not (left < right and bottom < top):
        raise ValueError(f"extent must have left < right and bottom < top, got {extent!r}")
    return left, right, bottom, top


def _centred_norm(score: np.ndarray, threshold: float | None) -> tuple[TwoSlopeNorm, float, float, float]:
    """The colour scale of a single output's ``score``, centred on the decision threshold.

    Returns the norm, the threshold (inferred when None: 0.5 for
    probabilities, 0.0 for logits) and the scale's two ends. Probabilities span [0, 1], so a pale
    shade means an uncertain prediction; logits have no natural bounds and
    span their own range.
    """
    probabilities = bool(score.min() >= 0.0 and score.max() <= 1.0)
    if threshold is None:
        threshold = 0.5 if probabilities else 0.0
    low, high = (0.0, 1.0) if probabilities else (float(score.min()), float(score.max()))
    # A model that predicts one class over the whole plane still needs a side for the other.
    below, above = threshold - low, high - threshold
    if below <= 0 or above <= 0:
        below = above = max(below, above, 1.0)
    low, high = threshold - below, threshold + above
    return TwoSlopeNorm(vcenter=threshold, vmin=low, vmax=high), threshold, low, high


def compare(
    histories: Mapping[str, History],
    key: str | Sequence[str] = "loss",
    *,
    title: str | None = None,
    log_y: bool = False,
    held_out: str = "validation",
) -> Figure:
    """Overlay several runs: one line per run for each requested history key.

    Several keys give one panel each, stacked over one epoch axis (as
    :func:`history` stacks its panels), so that a change in the learning
    rate lines up with what the losses do at that epoch, and the figure
    fits a page's text column whatever the number of keys.

    Parameters
    ----------
    histories : dict of str to History
        Label of each run (shown in the legend) to what ``fit`` returned.
    key : str or sequence of str, default "loss"
        History key(s) to draw, one panel each, e.g. ``("loss", "val_loss")``.
    title : str, optional
    log_y : bool, default False
        Log scale for the values.
    held_out : str, default "validation"
        What titles call the ``val_`` quantities, as for :func:`history`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(histories, Mapping) or not histories:
        raise ValueError("histories must be a non-empty dict of label -> History")
    keys = [key] if isinstance(key, str) else list(key)
    if not keys:
        raise ValueError("key must name at least one history key, e.g. 'loss'")
    series = {label: _series(h) for label, h in histories.items()}
    for label, (_, logs) in series.items():
        missing = [k for k in keys if k not in logs]
        if missing:
            raise ValueError(f"run {label!r} has no {missing[0]!r} in its history; it has {', '.join(logs)}")
    # Losses side by side read best on one scale; a rate next to them needs its own.
    same_scale = all(k.endswith("loss") for k in keys)
    fig, axes = plt.subplots(
        len(keys),
        1,
        squeeze=False,
        sharex=True,
        sharey=same_scale,
        figsize=(7, 1.6 + 2.2 * len(keys)),
        layout="constrained",
    )
    for ax, k in zip(axes[:, 0], keys):
        for i, (label, (epochs, logs)) in enumerate(series.items()):
            values = np.asarray(logs[k], dtype=float)
            ax.plot(epochs[: len(values)], values, color=f"C{i}", label=label)
        _epoch_ticks(ax)
        ax.set_ylabel(_pretty(k, held_out))
        ax.grid(alpha=0.3)
        if log_y:
            ax.set_yscale("log")
    axes[-1, 0].set_xlabel("epoch")
    axes[0, 0].legend(frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def confusion_matrix(
    cm: Any, labels: Sequence[Any] | None = None, *, normalize: bool = False, title: str | None = None
) -> Figure:
    """Draw a confusion matrix as a grid of shaded, numbered cells, the errors in a colour of their own.

    The diagonal (right answers) is shaded in blue on its own scale, the
    cells off it (errors) in red on theirs, so a handful of errors next to
    hundreds of right answers still shows: every nonzero error is a visible
    red, and only a cell with no sample is white. Each cell is annotated
    with its count (and its share, normalised).

    Parameters
    ----------
    cm : array-like of shape (C, C)
        Counts, rows the true classes and columns the predicted ones, as
        :func:`minnet.metrics.confusion_matrix` returns them.
    labels : sequence of C names, optional
        Class names for the axes; ``0 .. C-1`` by default.
    normalize : bool, default False
        Shade each row by its share of the true class (recall on the
        diagonal) instead of raw counts, so a rare class's errors weigh as
        much as a common one's; each cell shows its share and, below, its count.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    counts = np.asarray(cm)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] == 0:
        raise ValueError(f"cm must be a square (C, C) matrix of counts, got shape {counts.shape}")
    if counts.dtype.kind not in "biuf" or not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError("cm must hold finite counts >= 0 (see minnet.metrics.confusion_matrix)")
    n = counts.shape[0]
    names = [str(i) for i in range(n)] if labels is None else [str(label) for label in labels]
    if len(names) != n:
        raise ValueError(f"labels must name the {n} classes of cm, got {len(names)} names")
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        shown = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)  # an absent class: 0
    else:
        shown = counts

    size = min(3.5 + 0.45 * n, 12)
    fig, ax = plt.subplots(figsize=(size + 2.4, size), layout="constrained")
    diagonal = np.eye(n, dtype=bool)
    # Right and wrong on scales of their own: one scale set by the (large) diagonal would paint
    # every error near white. A zero error is left white; the least error is a visible red.
    scales = []
    for cells, cmap, low, what in (
        (diagonal, "Blues", 0.0, "right (diagonal)"),
        (~diagonal, "Reds", 0.2, "errors (off the diagonal)"),
    ):
        top = max(float(shown[cells].max(initial=0)), 1e-12)
        colours = ListedColormap(plt.get_cmap(cmap)(np.linspace(low, 1.0, 256)))
        masked = np.ma.masked_where(~cells | ((shown == 0) & ~diagonal), shown)
        image = ax.imshow(masked, cmap=colours, vmin=0, vmax=top)
        scales.append(image)
        unit = "share of the true class" if normalize else "samples"
        bar = fig.colorbar(image, ax=ax, label=f"{what}: {unit}")
        if not normalize:
            bar.locator = MaxNLocator(integer=True)  # no 0.25 of a sample
    ax.set_xticks(range(n), names, rotation=45 if max(len(x) for x in names) > 3 else 0)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if n <= 30:  # beyond that the numbers no longer fit in their cells
        for i in range(n):
            for j in range(n):
                image = scales[0] if i == j else scales[1]
                # White text where the cell is dark, black where it is light, grey on an empty cell.
                dark = shown[i, j] > 0 and sum(image.to_rgba(shown[i, j])[:3]) < 1.6
                colour = "white" if dark else "black" if shown[i, j] > 0 else "0.6"
                text = f"{shown[i, j]:.2f}\n({counts[i, j]:g})" if normalize and counts[i, j] else f"{counts[i, j]:g}"
                ax.text(j, i, text, ha="center", va="center", fontsize="small", color=colour)
    if title:
        ax.set_title(title, fontsize="medium")
    return fig


def misclassified(
    images: Any,
    y_true: Any,
    y_pred: Any,
    *,
    image_shape: tuple[int, int] | None = None,
    max_images: int = 36,
    columns: int = 9,
    labels: Sequence[Any] | None = None,
    title: str | None = None,
) -> Figure:
    """Draw the images a classifier got wrong, the most confident mistakes first.

    Given the model's scores, the mistakes are ranked by the confidence the
    model put in its wrong answer (the predicted class's probability; logits
    go through a softmax), highest first: those are the ones to look at, a
    confusing label or a digit the model has wrong in earnest. Each image is
    titled with its true and predicted class and that confidence. Given
    class indices only, the mistakes are drawn in the order given.

    Parameters
    ----------
    images : array-like of shape (n_samples, n_pixels) or (n_samples, height, width)
        Grey-level images, one per row (flattened row by row, as MNIST's and
        the digits' ``X``).
    y_true : array-like of shape (n_samples,)
        True class indices.
    y_pred : array-like of shape (n_samples,) or (n_samples, C)
        Predicted class indices, or a model's scores: probabilities (rows
        of numbers in [0, 1] summing to 1) or logits, whose largest column
        is the predicted class.
    image_shape : (height, width), optional
        How to fold a flattened row; by default a square (28 x 28 for 784
        pixels), so other shapes must be given.
    max_images : int, default 36
        At most this many images are drawn: the most confident mistakes (or
        the first ones, given class indices).
    columns : int, default 9
        Images per row of the grid.
    labels : sequence of str, optional
        Class names for the titles; the class indices by default.
    title : str, optional
        Above the grid; by default it says how many were wrong out of how many.

    Returns
    -------
    matplotlib.figure.Figure
        Empty of images (with a title saying so) when every prediction is right.
    """
    images = np.asarray(images)
    true = np.asarray(y_true).reshape(-1)
    pred = np.asarray(y_pred)
    confidence = None
    if pred.ndim == 2:
        confidence = _probabilities(as_float_array("y_pred", pred, np.float64)).max(axis=1)
        pred = np.argmax(pred, axis=1)
    if images.ndim not in (2, 3) or not len(images) == len(true) == len(pred):
        raise ValueError(
            f"images, y_true and y_pred must have one entry per sample, got shapes "
            f"{images.shape}, {np.shape(y_true)} and {np.shape(y_pred)}"
        )
    max_images = check_int("max_images", max_images, low=1)
    columns = check_int("columns", columns, low=1)
    if images.ndim == 2:
        n_pixels = images.shape[1]
        if image_shape is None:
            side = math.isqrt(n_pixels)
            if side * side != n_pixels:
                raise ValueError(f"images of {n_pixels} pixels are not square: pass image_shape=(height, width)")
            image_shape = (side, side)
        if len(image_shape) != 2 or image_shape[0] * image_shape[1] != n_pixels:
            raise ValueError(
                f"image_shape must be (height, width) with height * width = {n_pixels} pixels, got {image_shape}"
            )
        images = images.reshape(len(images), *image_shape)
    names = (lambda c: str(c)) if labels is None else (lambda c: str(labels[c]))
    wrong = np.flatnonzero(true != pred)
    if confidence is not None:
        wrong = wrong[np.argsort(-confidence[wrong], kind="stable")]  # ties keep the order given
    shown = wrong[:max_images]
    rows = max(1, -(-len(shown) // columns))
    fig, axes = plt.subplots(
        rows,
        columns,
        squeeze=False,
        figsize=(1.1 * columns, (1.3 if confidence is None else 1.5) * rows + 0.5),
        layout="constrained",
    )
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, i in zip(axes.flat, shown):
        ax.imshow(images[i], cmap="gray_r")  # dark ink on white, as the digits were written
        sure = "" if confidence is None else f"\n{confidence[i]:.0%} sure"
        ax.set_title(f"{names(true[i])} \u2192 {names(pred[i])}{sure}", fontsize="small", color="C3")
    if title is None:
        ranked = confidence is not None
        which = f", the {'most confident' if ranked else 'first'} {len(shown)}" if len(shown) < len(wrong) else ""
        title = f"{len(wrong)} of {len(true)} misclassified{which}: true \u2192 predicted class"
        if ranked:
            title += " and the model's confidence in it, most confident first"
    fig.suptitle(title)
    return fig


def _probabilities(scores: np.ndarray) -> np.ndarray:
    """Rows of class probabilities, as given, or the softmax of rows of logits.

    Parameters
    ----------
    scores : ndarray of shape (n_samples, C)

    Returns
    -------
    ndarray of shape (n_samples, C)
    """
    if not all_finite(scores):
        raise ValueError("y_pred holds NaN or infinite scores")
    if scores.min() >= 0 and scores.max() <= 1 and np.allclose(scores.sum(axis=1), 1, atol=1e-4):
        return scores
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))  # the largest is exp(0): no overflow
    return shifted / shifted.sum(axis=1, keepdims=True)


def filters(layer: Conv2D, *, channel: int = 0, columns: int = 8, title: str | None = None) -> Figure:
    r"""Draw a :class:`~minnet.Conv2D` layer's filters as a grid of small images, one per output channel.

    Each image is one filter's :math:`k_h \times k_w` weights on one input
    channel. All share one colour scale centred on 0 (red positive, blue
    negative, white 0), shown by a colour bar, so the filters can be
    compared: a filter that detects a stroke has the stroke's shape.

    Parameters
    ----------
    layer : Conv2D
        Its ``W``, of shape (out_channels, in_channels, kh, kw), is drawn.
    channel : int, default 0
        The input channel whose weights are drawn: the only one of a first
        layer on grey images.
    columns : int, default 8
        Filters per row of the grid.
    title : str, optional
        Above the grid; by default it names the layer and what is drawn.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(layer, Conv2D):
        raise TypeError(f"filters draws the filters of a Conv2D layer, got {type(layer).__name__}")
    channel = check_int("channel", channel, low=0, high=layer.in_channels - 1)
    columns = check_int("columns", columns, low=1)
    weights = layer.W.value[:, channel].astype(np.float64)
    if not all_finite(weights):
        raise ValueError(f"{layer!r} holds NaN or infinite weights: there is nothing to draw")
    limit = max(float(np.abs(weights).max()), np.finfo(np.float64).tiny)  # all zeros still draws, in white
    rows = -(-len(weights) // columns)
    fig, axes = plt.subplots(
        rows, columns, squeeze=False, figsize=(0.8 * columns + 1.2, 0.8 * rows + 0.6), layout="constrained"
    )
    for ax in axes.flat:
        ax.set_axis_off()
    for o, (ax, w) in enumerate(zip(axes.flat, weights)):
        image = ax.imshow(w, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(str(o), fontsize="small")
    fig.colorbar(image, ax=axes, label="weight", shrink=0.9)
    kh, kw = layer.kernel_size
    fig.suptitle(
        title
        if title is not None
        else f"{layer!r}: its {len(weights)} filters of {kh} x {kw}, on input channel {channel}"
    )
    return fig


def feature_maps(model: Sequential, x: Any, *, columns: int = 16, title: str | None = None) -> Figure:
    """Draw one image and what each :class:`~minnet.Conv2D` of a model makes of it: its feature maps.

    ``x`` runs through the model's layers in order, in inference mode (no
    layer state is written), as far as the last Conv2D. The image's
    channels come first, in grey; then one block per Conv2D, one small image
    per output channel: where in the image that filter responds. Each map
    has its own colour scale, centred on 0: red where the output is
    positive, blue where it is negative, white at 0.

    Parameters
    ----------
    model : Sequential
        Its layers run in order; the outputs of those that are Conv2D are drawn.
    x : array-like of shape (C, H, W) or (1, C, H, W)
        One image, or a batch of one.
    columns : int, default 16
        Feature maps per row.
    title : str, optional
        Above the figure; by default it says what the colours mean.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"feature_maps runs the layers of a Sequential in order, got {type(model).__name__}")
    convs = [i for i, layer in enumerate(model) if isinstance(layer, Conv2D)]
    if not convs:
        raise ValueError(f"feature_maps draws the outputs of Conv2D layers, and the model has none: {model!r}")
    columns = check_int("columns", columns, low=1)
    image = as_float_array("x", x, model_dtype(model))
    batch = image[None] if image.ndim == 3 else image
    if batch.ndim != 4 or len(batch) != 1:
        raise ValueError(f"x must be one image (C, H, W) or a batch of one (1, C, H, W), got shape {image.shape}")
    if not all_finite(batch):
        raise ValueError("x holds NaN or infinite values")
    n_channels = batch.shape[1]
    plural = "s" if n_channels > 1 else ""
    blocks = [(f"the image: {n_channels} channel{plural} of {batch.shape[2]} x {batch.shape[3]}", batch[0])]
    with inference_pass():  # a layer of the user's own that stores a cache anyway has it dropped
        for layer in model.layers[: convs[-1] + 1]:
            batch = layer.forward(batch, training=False)
            if isinstance(layer, Conv2D):
                _, o, h, w = batch.shape
                blocks.append((f"{layer!r}: {o} feature maps of {h} x {w}", batch[0]))

    rows = [-(-len(maps) // columns) for _, maps in blocks]
    fig = plt.figure(figsize=(0.7 * columns, sum(0.7 * r + 0.4 for r in rows) + 0.4), layout="constrained")
    subfigures = fig.subfigures(len(blocks), 1, squeeze=False, height_ratios=rows)[:, 0]
    for sub, (label, maps), n_rows in zip(subfigures, blocks, rows):
        axes = sub.subplots(n_rows, columns, squeeze=False)
        for ax in axes.flat:
            ax.set_axis_off()
        for o, (ax, m) in enumerate(zip(axes.flat, maps)):
            if maps is blocks[0][1]:
                ax.imshow(m, cmap="gray_r")  # dark ink on white, as the digits were written
            else:
                limit = max(float(np.abs(m).max()), np.finfo(np.float64).tiny)
                ax.imshow(m, cmap="RdBu_r", vmin=-limit, vmax=limit)
                ax.set_title(str(o), fontsize="x-small", pad=2)  # map o is filter o's response
        sub.suptitle(label, fontsize="medium")
    fig.suptitle(
        title
        if title is not None
        else "Feature maps of one image through each Conv2D (red > 0 > blue, each map on its own scale)"
    )
    return fig


# -- drawing a network ----------------------------------------------------------------


@dataclass
class _Box:
    """One node of a drawn network: what its box says and which boxes feed it."""

    name: str
    label: str  # the layer's repr, or "Input"
    shape: tuple[int, ...] | None  # of one sample; None where the model cannot tell
    params: int  # 0 at a shared layer's later uses: its weights are counted once, at the first
    inputs: list[int]  # positions of the boxes it takes, in argument order
    kind: str  # "input", "layer" or "merge"
    uses: int  # nodes that use this box's layer: 2 or more for a shared layer
    output: bool = False  # whether it is one of the model's outputs
    shares: str | None = None  # at a shared layer's later uses, the node whose weights it uses


def _layer_label(layer: Layer) -> str:
    """A layer's repr on one line; a container is named by its type and size, not spelt out."""
    lines = repr(layer).splitlines()
    return lines[0] if len(lines) == 1 else f"{type(layer).__name__}({len(layer.children())} layers)"


def _boxes(model: Layer, input_shape: int | tuple[int, ...] | None) -> list[_Box]:
    """The boxes of a Sequential (an input, then a chain) or of a Graph (its nodes, in topological order)."""
    if isinstance(model, Graph):
        if input_shape is not None:
            raise TypeError("input_shape is for a Sequential: a Graph's inputs declare their shapes")
        return _graph_boxes(model)
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be an mn.Sequential or an mn.Graph, got {type(model).__name__}")
    shape = model.input_shape() if input_shape is None else check_shape("input_shape", input_shape)
    boxes = [_Box("input", "Input", shape, 0, [], "input", 1)]
    for i, layer in enumerate(model.layers):
        shape = None if shape is None else layer.output_shape(shape)
        boxes.append(_Box(str(i), _layer_label(layer), shape, sum(p.size for p in layer.parameters()), [i], "layer", 1))
    boxes[-1].output = True
    return boxes


def _graph_boxes(model: Graph) -> list[_Box]:
    """A box per node of a Graph; a shared layer's weights are counted at its first use."""
    position = {name: i for i, (name, _, _) in enumerate(model.nodes)}
    first_use: dict[int, str] = {}
    uses = Counter(id(layer) for _, layer, _ in model.nodes if layer is not None)
    boxes = []
    for (name, layer, args), shape in zip(model.nodes, model.shapes):
        if layer is None:
            boxes.append(_Box(name, "Input", shape, 0, [], "input", 1))
            continue
        first = first_use.setdefault(id(layer), name)
        boxes.append(
            _Box(
                name,
                _layer_label(layer),
                shape,
                sum(p.size for p in layer.parameters()) if first == name else 0,
                [position[a] for a in args],
                "layer" if layer.n_inputs == 1 else "merge",
                uses[id(layer)],
                shares=None if first == name else first,
            )
        )
    for name in model.output_names:
        boxes[position[name]].output = True
    return boxes


def _consumers(boxes: Sequence[_Box]) -> list[list[tuple[int, int]]]:
    """For each box, the edges it feeds, as ``(target, k)``: it is the k-th input of box ``target``."""
    consumers: list[list[tuple[int, int]]] = [[] for _ in boxes]
    for target, box in enumerate(boxes):
        for k, source in enumerate(box.inputs):
            consumers[source].append((target, k))
    return consumers


def _place(boxes: Sequence[_Box]) -> tuple[list[int], list[int], dict[tuple[int, int], int]]:
    """Lay the boxes out in columns: each box's column and row, and the column each edge runs down.

    An edge ``(source, k)`` is the k-th input of box ``boxes.index(...)``,
    keyed as ``(target, k)``. Every edge has a lane of its own, a column it
    holds from its source to its target, so lines never run through a box:
    a box sits in the leftmost lane that feeds it, one row below its lowest
    input; a box feeding several others opens a lane to the right for each
    but the first. Rows are shared where lanes allow: parallel branches sit
    side by side.
    """
    consumers = _consumers(boxes)
    columns: list[int] = []
    rows: list[int] = []
    lane: dict[tuple[int, int], int] = {}
    active: set[int] = set()
    busy: dict[int, int] = {}  # a column's lowest row taken so far, by a box or a lane

    def free_column(right_of: int, from_row: int) -> int:
        c = right_of + 1
        while c in active or busy.get(c, -1) >= from_row:
            c += 1
        return c

    for i, box in enumerate(boxes):
        incoming = [(i, k) for k in range(len(box.inputs))]
        if incoming:
            column = min(lane[e] for e in incoming)
            row = max(rows[s] for s in box.inputs) + 1
            for e in incoming:
                active.discard(lane[e])
                busy[lane[e]] = max(busy.get(lane[e], -1), row)
        else:
            column, row = free_column(-1, 0), 0
        columns.append(column)
        rows.append(row)
        busy[column] = max(busy.get(column, -1), row)
        for n, edge in enumerate(consumers[i]):
            lane[edge] = column if n == 0 else free_column(column, row)
            active.add(lane[edge])
    return columns, rows, lane


def _box_lines(box: _Box) -> tuple[str, str]:
    """The two lines a box shows: name and layer; output shape, parameters and what else it is."""
    return f"{box.name}: {box.label}", " \u00b7 ".join(_box_notes(box))


def _box_notes(box: _Box) -> list[str]:
    """Output shape, parameter count and, for a shared layer, where else it is used."""
    notes = ["shape ?" if box.shape is None else shape_text(box.shape)]
    if box.params:
        notes.append(f"{box.params:,} params")
    if box.shares is not None:
        notes.append(f"weights of {box.shares}")
    elif box.uses > 1:
        notes.append(f"shared by {box.uses} nodes")
    return notes


def _text_width(text: str, size: float, weight: str = "normal") -> float:
    """Width in inches of ``text`` set at ``size`` points, measured without drawing."""
    return float(TextPath((0, 0), text, size=size, prop=FontProperties(weight=weight)).get_extents().width) / 72


_BOX_COLOURS = {"input": "#d9f0d3", "layer": "#dbe9f6", "merge": "#fde0c5"}
_SHARED = "#7b3294"
# Points: at 9 or more a drawing stays legible at 90 dpi, even shrunk to a phone's width.
_NAME_POINTS, _NOTE_POINTS, _TITLE_POINTS = 10.5, 9.5, 11.5


def model(model: Layer, *, input_shape: int | tuple[int, ...] | None = None, title: str | None = None) -> Figure:
    """Draw a network: one box per layer use, arrows along the data, top to bottom.

    Each box names the node and its layer (as ``repr`` writes it) and shows
    the output shape of one batch and the parameter count. Inputs are green,
    merge layers (:class:`~minnet.Add`, :class:`~minnet.Concat`) orange, with
    one arrow per input, so a skip connection is an arrow that runs past the
    branch it skips. A layer used at several nodes (shared weights) has a
    purple dashed border at each use, its weights counted at the first.
    Each output is an arrow out of the bottom of its box, with its name.
    Branches sit side by side; matplotlib alone draws it.

    Parameters
    ----------
    model : Sequential or Graph
    input_shape : int or tuple of int, optional
        The shape of one input sample of a Sequential, for the shapes (as
        in :meth:`Sequential.summary`); by default asked of its layers, and
        shapes are shown as ``?`` where they cannot tell.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    See Also
    --------
    model_text : the same drawing in text, to print.
    """
    boxes = _boxes(model, input_shape)
    columns, rows, lane = _place(boxes)
    lines = [_box_lines(box) for box in boxes]
    total = sum(p.size for p in model.parameters())
    heading = f"{total:,} parameters" if title is None else f"{title}\n{total:,} parameters"
    # Inches throughout: the axes fill the figure one to one, so the text's size fixes the boxes'.
    width = 0.3 + max(
        max(_text_width(first, _NAME_POINTS, "bold"), _text_width(second, _NOTE_POINTS)) for first, second in lines
    )
    height, pitch_y, margin = 0.6, 1.0, 0.15
    # A column holding boxes is a box wide; one that only carries arrows past them is narrow.
    x_of, right = {}, margin
    for c in range(max([*columns, *lane.values()]) + 1):
        step = width + 0.45 if c in columns else 0.35
        x_of[c], right = right + step / 2, right + step
    top = 0.5 + 0.3 * heading.count("\n")
    fig_w, fig_h = max(right + margin, 4.2), pitch_y * (max(rows) + 1) + top + 0.75
    fig = plt.figure(figsize=(fig_w, fig_h))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, fig_w)
    ax.set_ylim(0, fig_h)
    ax.set_axis_off()

    def centre(i: int) -> tuple[float, float]:
        return x_of[columns[i]], fig_h - top - pitch_y * (rows[i] + 0.5)

    for i, (box, (first, second)) in enumerate(zip(boxes, lines)):
        x, y = centre(i)
        shared = box.uses > 1
        ax.add_patch(
            FancyBboxPatch(
                (x - width / 2, y - height / 2),
                width,
                height,
                boxstyle="round,pad=0,rounding_size=0.08",
                facecolor=_BOX_COLOURS[box.kind],
                edgecolor=_SHARED if shared else "0.3",
                linewidth=2.0 if shared else 1.0,
                linestyle="--" if shared else "-",
                gid=f"box {box.name}",
            )
        )
        ax.text(x, y + 0.12, first, ha="center", va="center", fontsize=_NAME_POINTS, weight="bold")
        ax.text(x, y - 0.14, second, ha="center", va="center", fontsize=_NOTE_POINTS, color="0.25")
        if box.output:
            ax.add_patch(
                FancyArrowPatch(
                    (x, y - height / 2),
                    (x, y - height / 2 - 0.25),
                    arrowstyle="-|>",
                    mutation_scale=10,
                    color="0.2",
                    gid=f"output {box.name}",
                )
            )
            ax.text(x + 0.08, y - height / 2 - 0.17, "output", fontsize=_NOTE_POINTS, va="center")
    gap = (pitch_y - height) / 2
    for target, box in enumerate(boxes):
        tx, ty = centre(target)
        # A merge's inputs arrive side by side, in the order their lanes come from, so none cross.
        arrivals = sorted(range(len(box.inputs)), key=lambda k: x_of[lane[(target, k)]])
        spread = min(0.3, 0.8 * width / max(len(box.inputs), 1))
        for slot, k in enumerate(arrivals):
            source = box.inputs[k]
            sx, sy = centre(source)
            lx = x_of[lane[(target, k)]]
            ex = tx + (slot - (len(box.inputs) - 1) / 2) * spread
            below, above = sy - height / 2 - gap / 2, ty + height / 2 + gap / 2
            path = Path(
                [(sx, sy - height / 2), (sx, below), (lx, below), (lx, above), (ex, above), (ex, ty + height / 2)]
            )
            ax.add_patch(
                FancyArrowPatch(
                    path=path,
                    arrowstyle="-|>",
                    mutation_scale=11,
                    color="0.2",
                    linewidth=1.1,
                    gid=f"edge {boxes[source].name} -> {box.name}",
                )
            )
    kinds = {box.kind for box in boxes}
    legend = [
        Patch(facecolor=_BOX_COLOURS[kind], edgecolor="0.3", label=label)
        for kind, label in (("input", "input"), ("layer", "layer"), ("merge", "merge: one arrow per input"))
        if kind in kinds
    ]
    if any(box.uses > 1 for box in boxes):
        legend.append(Patch(facecolor="white", edgecolor=_SHARED, linestyle="--", linewidth=2, label="shared layer"))
    fig.legend(
        handles=legend,
        loc="lower left",
        ncols=min(len(legend), max(1, int(fig_w / 1.6))),
        frameon=False,
        fontsize=_NOTE_POINTS,
    )
    fig.suptitle(heading, y=1 - 0.12 / fig_h, va="top", fontsize=_TITLE_POINTS)
    return fig


def _join_row(width: int, column: int, joined: set[int], passing: set[int], opening: bool) -> str:
    """One row of lines: ``column`` branching out to (``opening``) or gathering in the ``joined`` columns."""
    right = max(joined)
    cells = []
    for c in range(width):
        if c == column:
            mark = "\u251c"  # ├
        elif c in joined:
            mark = ("\u2510" if opening else "\u2518") if c == right else ("\u252c" if opening else "\u2534")  # ┐┘┬┴
        elif c in passing:
            mark = "\u253c" if column < c < right else "\u2502"  # ┼ where a lane crosses the join, else │
        else:
            mark = "\u2500" if column < c < right else " "
        cells.append(mark + ("\u2500" if column <= c < right else " "))
    return "".join(cells).rstrip()


def model_text(model: Layer, *, input_shape: int | tuple[int, ...] | None = None) -> str:
    """The drawing of :func:`model` in text: one line per node, the wiring drawn down the left.

    Each node is a ``●`` on a line of its own, in topological order, with
    its name, layer, output shape, parameter count and the nodes it takes
    (``← a, b``). The lines on the left carry every edge: ``├─┐`` where a
    node's output feeds a branch, ``├─┘`` where branches merge (a skip
    connection is a line that runs past the nodes it skips). Outputs are
    marked ``→ output``; a shared layer's later uses name the node whose
    weights they use. Needs no figure, so it prints anywhere.

    Parameters
    ----------
    model : Sequential or Graph
    input_shape : int or tuple of int, optional
        As for :func:`model`.

    Returns
    -------
    str

    Examples
    --------
    >>> import minnet as mn
    >>> x = mn.Input(4)
    >>> h = mn.ReLU()(mn.Dense(4, 4, seed=0)(x))
    >>> print(mn.plot.model_text(mn.Graph(inputs=x, outputs=mn.Add()([h, mn.Dense(4, 4, seed=1)(h)]))))
    ●     input    Input        (None, 4)
    ●     dense    Dense(4, 4)  (None, 4)  20 params  ← input
    ●     relu     ReLU()       (None, 4)             ← dense
    ├─┐
    ● │   dense_1  Dense(4, 4)  (None, 4)  20 params  ← relu
    ├─┘
    ●     add      Add()        (None, 4)             ← relu, dense_1  → output
    """
    boxes = _boxes(model, input_shape)
    columns, _, lane = _place(boxes)
    width = max([*columns, *lane.values()]) + 1
    consumers = _consumers(boxes)
    cells = [
        (
            box.name,
            box.label,
            "?" if box.shape is None else shape_text(box.shape),
            f"{box.params:,} params" if box.params else "",
        )
        for box in boxes
    ]
    sizes = [max(len(row[k]) for row in cells) for k in range(4)]
    alive: set[int] = set()  # the columns of the edges under way
    lines = []
    for i, (box, row) in enumerate(zip(boxes, cells)):
        incoming = {lane[(i, k)] for k in range(len(box.inputs))}
        alive -= incoming
        if len(incoming) > 1:
            lines.append(_join_row(width, columns[i], incoming - {columns[i]}, alive, opening=False))
        graphic = "".join(
            "\u25cf " if c == columns[i] else "\u2502 " if c in alive else "  " for c in range(width)
        )  # ● the node, │ the edges passing it
        notes = [f"\u2190 {', '.join(boxes[j].name for j in box.inputs)}"] if box.inputs else []
        notes += _box_notes(box)[2 if box.params else 1 :]  # what the table's columns do not say
        if box.output:
            notes.append("\u2192 output")
        text = "  ".join(
            cell.ljust(size) if k < 3 else cell.rjust(size) for k, (cell, size) in enumerate(zip(row, sizes))
        )
        lines.append(f"{graphic}  {text}  {'  '.join(notes)}".rstrip())
        outgoing = {lane[edge] for edge in consumers[i]}
        if len(outgoing) > 1:
            lines.append(_join_row(width, columns[i], outgoing - {columns[i]}, alive, opening=True))
        alive |= outgoing
    return "\n".join(lines)


# -- what a LayerStats recorded -----------------------------------------------------

#: The quantities :class:`~minnet.callbacks.LayerStats` records, in the order their panels are drawn, and their labels.
_LAYER_QUANTITIES = {
    "mean": "activation mean",
    "std": "activation std",
    "saturated": "saturated fraction",
    "dead": "dead fraction",
    "grad_ratio": "\u2016grad\u2016 / \u2016W\u2016",
    "update_ratio": "\u2016\u0394W\u2016 / \u2016W\u2016 per epoch",
}
#: Relative norms, compared by their orders of magnitude: drawn on a log axis.
_LOG_QUANTITIES = ("grad_ratio", "update_ratio")
#: How many times its smallest value the largest standard deviation of a row must be for a log axis.
_STD_LOG_SPAN = 100.0


def layer_stats(
    stats: LayerStats | Mapping[str, LayerStats],
    *,
    quantities: Sequence[str] | None = None,
    title: str | None = None,
    figure: Figure | SubFigure | None = None,
) -> Figure | SubFigure:
    """Draw what :class:`~minnet.callbacks.LayerStats` recorded: one panel per quantity, one line per layer.

    The rows are the quantities (activation mean and standard deviation,
    saturated or dead fraction, the gradient's and the epoch's update's
    norm relative to the weights', these two on a log axis, as the
    standard deviations when they span more than two orders of magnitude),
    against the epoch. Each layer keeps its colour from dark (the first) to light (the
    last), so a gradient that vanishes layer by layer shows as lines stacked
    in order. The activation rows draw the activation functions' outputs
    (Sigmoid, Tanh, ReLU) when the model has any, else every layer's.

    Parameters
    ----------
    stats : LayerStats, or dict of str to LayerStats
        Several runs are drawn side by side, one column each under its
        label, each row on one scale so that the columns compare.
    quantities : str or sequence of str, optional
        The rows, from ``"mean"``, ``"std"``, ``"saturated"``, ``"dead"``,
        ``"grad_ratio"``, ``"update_ratio"``; by default every one recorded.
    title : str, optional
    figure : Figure or SubFigure, optional
        Draw into it (one of ``fig.subfigures()``, next to other panels)
        instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure or SubFigure
        The new figure, or ``figure``.
    """
    runs = _layer_stats_runs(stats)
    recorded = [
        q for q in _LAYER_QUANTITIES if any(q in record for s in runs.values() for record in s.history.values())
    ]
    rows = recorded if quantities is None else [quantities] if isinstance(quantities, str) else list(quantities)
    unknown = [q for q in rows if q not in recorded]
    if unknown or not rows:
        raise ValueError(f"quantities must be some of those recorded, {', '.join(recorded)}; got {list(rows)!r}")
    if figure is None:
        figure = plt.figure(figsize=(1.8 + 4.2 * len(runs), 0.6 + 2.1 * len(rows)), layout="constrained")
    elif not isinstance(figure, (Figure, SubFigure)):
        raise TypeError(f"figure must be a matplotlib Figure or SubFigure, got {type(figure).__name__}")
    axes = figure.subplots(len(rows), len(runs), sharex="col", sharey="row", squeeze=False)
    names = _layer_labels(runs.values())
    for column, (label, run) in enumerate(runs.items()):
        for ax, quantity in zip(axes[:, column], rows):
            _draw_layer_quantity(ax, run, quantity, names, legend=column == len(runs) - 1)
        if len(runs) > 1:
            axes[0, column].set_title(label, fontsize="medium")
        axes[-1, column].set_xlabel("epoch")
    for ax, quantity in zip(axes[:, 0], rows):
        ax.set_ylabel(_LAYER_QUANTITIES[quantity])
        if quantity in _LOG_QUANTITIES or (quantity == "std" and _spans_decades(runs.values(), quantity)):
            ax.set_yscale("log")  # the row shares its axis: one call sets every column's
    if title:
        figure.suptitle(title)
    return figure


def _layer_stats_runs(stats: Any) -> dict[str, LayerStats]:
    """``stats`` as a dict of label to a LayerStats that has recorded at least one epoch."""
    runs = dict(stats) if isinstance(stats, Mapping) else {"": stats}
    if not runs:
        raise ValueError("stats must be a LayerStats or a non-empty dict of label -> LayerStats")
    for label, run in runs.items():
        if not isinstance(run, LayerStats):
            raise TypeError(f"stats must be a LayerStats (or a dict of them), got {type(run).__name__}")
        if not run.epoch:
            named = f" {label!r}" if label else ""
            raise ValueError(f"LayerStats{named} has recorded no epoch yet: nothing to plot")
    return runs


def _spans_decades(runs: Iterable[LayerStats], quantity: str) -> bool:
    """Whether the positive values of ``quantity`` span more than :data:`_STD_LOG_SPAN` times their smallest."""
    values = np.array([v for run in runs for record in run.history.values() for v in record.get(quantity, [])])
    positive = values[values > 0]
    return positive.size > 0 and positive.max() > _STD_LOG_SPAN * positive.min()


def _layer_labels(runs: Iterable[LayerStats]) -> dict[str, str]:
    """Each layer's legend entry: a Sequential's ``1 Sigmoid`` (``1 Sigmoid/ReLU`` where runs differ), a node's name."""
    kinds: dict[str, list[str]] = {}
    for run in runs:
        for name, kind in run.layer_types.items():
            if kind not in kinds.setdefault(name, []):
                kinds[name].append(kind)
    return {name: f"{name} {'/'.join(k)}" if name.isdigit() else name for name, k in kinds.items()}


def _draw_layer_quantity(ax: Axes, stats: LayerStats, quantity: str, labels: dict[str, str], *, legend: bool) -> None:
    """One panel: ``quantity`` of each layer that records it, coloured by depth, with its entry of ``labels``."""
    names = [name for name, record in stats.history.items() if quantity in record]
    if quantity in ("mean", "std"):
        activations = [n for n in names if {"saturated", "dead"} & set(stats.history[n])]
        names = activations or names
    colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.85, max(len(names), 2)))
    for name, colour in zip(names, colours):
        ax.plot(stats.epoch, stats.history[name][quantity], color=colour, label=labels[name], marker=".", markersize=3)
    if quantity in ("saturated", "dead"):
        ax.set_ylim(-0.03, 1.03)  # a fraction: 0.3 reads as 0.3 of the whole, not as a wiggle
    ax.grid(alpha=0.3, which="major")
    _epoch_ticks(ax)
    if legend and names:
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="x-small", frameon=False)
