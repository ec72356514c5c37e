"""Containers: layers made of layers."""

from __future__ import annotations

import copy
from typing import Any, Iterator

import numpy as np

from ._validation import as_2d_batch, as_float_array
from .layers import Layer, Parameter

__all__ = ["Sequential", "iter_layers", "model_dtype"]


def iter_layers(layer: Layer) -> Iterator[Layer]:
    """Yield ``layer`` and every layer below it, depth first."""
    yield layer
    for child in layer.children():
        yield from iter_layers(child)


def model_dtype(layer: Layer) -> np.dtype:
    """The float dtype a model computes in: that of its first parameter, else float64."""
    # Stops at the first layer that has parameters: called on every forward, so it
    # must not build the list of all of them.
    if isinstance(layer, Sequential):
        for sub in layer.layers:
            params = sub.parameters()
            if params:
                return params[0].value.dtype
        return np.dtype(np.float64)
    params = layer.parameters()
    return params[0].value.dtype if params else np.dtype(np.float64)


class Sequential(Layer):
    """A chain of layers: the output of each is the input of the next.

    ``forward`` runs the layers in order, ``backward`` in reverse, and
    ``parameters()`` concatenates theirs. A Sequential is itself a Layer, so
    chains nest.

    Parameters
    ----------
    *layers : Layer
        The layers, in order. One layer instance may appear only once
        (sharing one would make its cached input ambiguous in backward).

    Examples
    --------
    >>> import minnet as mn
    >>> mn.Sequential(mn.Dense(8, 16), mn.Sigmoid(), mn.Dense(16, 1), mn.Sigmoid())
    Sequential(
      Dense(8, 16),
      Sigmoid(),
      Dense(16, 1),
      Sigmoid(),
    )
    """

    def __init__(self, *layers: Layer) -> None:
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential takes Layer instances, got {layer!r} "
                                f"({type(layer).__name__}) at position {i}")
        seen: dict[int, int] = {}
        for i, layer in enumerate(layers):
            for sub in iter_layers(layer):
                if id(sub) in seen:
                    raise ValueError(f"{sub!r} appears more than once in Sequential (positions "
                                     f"{seen[id(sub)]} and {i}); create a new instance for each use")
                seen[id(sub)] = i
        params = [p for layer in layers for p in layer.parameters()]
        dtypes = {p.value.dtype for p in params}
        if len(dtypes) > 1:
            raise TypeError(f"all layers of a Sequential must share one dtype, got "
                            f"{sorted(d.name for d in dtypes)}")
        self.layers = list(layers)

    # -- the Layer contract -------------------------------------------------
    def forward(self, x: Any, training: bool = True) -> np.ndarray:
        dtype = model_dtype(self)
        if not (isinstance(x, np.ndarray) and x.dtype == dtype and x.ndim == 2):  # else convert, once
            x = as_float_array("x", x, dtype)
            if x.ndim != 2:
                raise ValueError(f"x must be 2-D of shape (n_samples, n_features), got shape {x.shape}")
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def backward(self, grad: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def _backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        # The same chain, but the first layer may skip the gradient w.r.t. its input
        # when the caller does not need it (training never needs dL/dX of the data).
        if type(self).backward is not Sequential.backward:
            return self.backward(grad)
        for i in range(len(self.layers) - 1, -1, -1):
            grad = self.layers[i]._backward(grad, need_input_grad or i > 0)
        return grad

    def parameters(self) -> list[Parameter]:
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [(f"{i}.{name}", p) for i, layer in enumerate(self.layers)
                for name, p in layer.named_parameters()]

    def children(self) -> list[Layer]:
        return list(self.layers)

    # -- conveniences -------------------------------------------------------
    def predict(self, x: Any) -> np.ndarray:
        """Outputs for ``x`` in inference mode (``training=False``).

        Parameters
        ----------
        x : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_outputs)
        """
        return self.forward(as_2d_batch("x", x, model_dtype(self)), training=False)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int) -> Layer:
        return self.layers[index]

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __repr__(self) -> str:
        if not self.layers:
            return "Sequential()"
        inner = "".join(f"  {line}\n" for layer in self.layers
                        for line in f"{layer!r},".splitlines())
        return f"Sequential(\n{inner})"

    def summary(self, n_features: int | None = None) -> str:
        """A table of each layer's output shape and parameter count.

        Parameters
        ----------
        n_features : int, optional
            Input width; inferred from the first layer that declares
            ``n_in`` when omitted.

        Returns
        -------
        str
            The table; ``print(model.summary())`` shows it.
        """
        if n_features is None:
            n_features = next((layer.n_in for layer in iter_layers(self) if hasattr(layer, "n_in")), None)
            if n_features is None:
                raise ValueError("summary() could not infer the input width; pass n_features")
        # One sample through a copy, in inference mode, tells each layer's output
        # width without touching this model's parameters or the caches that a
        # pending backward needs.
        x = np.zeros((1, n_features), dtype=model_dtype(self))
        rows = [("Layer", "Output shape", "Params")]
        for i, layer in enumerate(copy.deepcopy(self.layers)):
            x = layer.forward(x, training=False)
            count = sum(p.size for p in layer.parameters())
            shape = ", ".join(["None", *map(str, np.shape(x)[1:])])
            rows.append((f"{i}: {layer!r}".splitlines()[0], f"({shape})", f"{count:,}"))
        total = sum(p.size for p in self.parameters())
        widths = [max(len(row[c]) for row in rows) for c in range(3)]
        rule = "-" * (sum(widths) + 4)
        lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}" for r in rows]
        return "\n".join([lines[0], rule, *lines[1:], rule,
                          f"Total parameters: {total:,} ({model_dtype(self).name})"])
