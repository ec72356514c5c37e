"""Dense: the fully connected layer, the article's ``x @ W + b``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import init as initializers
from .. import regularizers
from .._validation import (
    as_generator,
    check_bool,
    check_choice,
    check_int,
)
from .base import (
    Layer,
    Parameter,
    check_batch,
    check_dtype,
    dtype_repr,
)

__all__ = ["Dense"]


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` of tables; a sum of one term (a single column times a single row) is their outer product.

    numpy's broadcast multiply computes that in a third to a half of BLAS's
    time, the same numbers (each element is one product either way).
    """
    return a * b if a.shape[1] == 1 == b.shape[0] else a @ b  # else @ also refuses mismatched shapes


class Dense(Layer):
    r"""Fully connected layer: an affine map of each sample's last axis, as ``torch.nn.Linear``.

    .. math:: Y = X W + b

    .. math:: \frac{\partial L}{\partial W} = X^\top G, \quad
              \frac{\partial L}{\partial b} = \textstyle\sum_i G_{i\cdot}, \quad
              \frac{\partial L}{\partial X} = G W^\top

    where :math:`G = \partial L / \partial Y`. A batch of more axes,
    ``(n, ..., n_in) -> (n, ..., n_out)``, is the table of its rows
    ``(n ..., n_in)`` (a view, no copy): every position gets the same map.

    Parameters
    ----------
    n_in, n_out : int
        Number of input and output features.
    init : str or callable, default "xavier"
        Weight initialiser; a callable is ``init(n_in, n_out, rng, dtype)``.
        A name in :data:`minnet.init.INITIALIZERS` (``"xavier_normal"``,
        ``"he_uniform"``, ``"orthogonal"``, ...) or a callable such as
        ``mn.init.Orthogonal(gain=2.0)``.
        Use ``"xavier"`` before sigmoid/tanh and ``"he"`` before ReLU.
    bias : bool, default True
        Whether to add the bias ``b`` (initialised to zero).
    dtype : np.float32 or np.float64, default np.float64
    seed : int, np.random.Generator or None
        Seed or generator for the initial weights; the same seed gives
        bit-identical weights. ``rng=`` is accepted as another name for it.
    kernel_regularizer, bias_regularizer : Regularizer, optional
        A penalty on ``W`` or ``b`` (``mn.regularizers.L2(1e-4)``) that the
        training step adds to the loss; this layer's forward and backward
        ignore it.

    Attributes
    ----------
    W : Parameter of shape (n_in, n_out)
    b : Parameter of shape (n_out,) or None
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        init: str | Callable = "xavier",
        bias: bool = True,
        dtype: Any = np.float64,
        seed: int | np.random.Generator | None = None,
        *,
        rng: int | np.random.Generator | None = None,
        kernel_regularizer: regularizers.Regularizer | None = None,
        bias_regularizer: regularizers.Regularizer | None = None,
    ) -> None:
        if rng is not None:
            if seed is not None:
                raise TypeError("Dense takes seed= or its older name rng=, not both")
            seed = rng
        self.n_in = check_int("n_in", n_in, low=1)
        self.n_out = check_int("n_out", n_out, low=1)
        bias = check_bool("bias", bias)
        self.kernel_regularizer = regularizers.get("kernel_regularizer", kernel_regularizer)
        self.bias_regularizer = regularizers.get("bias_regularizer", bias_regularizer)
        if self.bias_regularizer is not None and not bias:
            raise ValueError("bias_regularizer needs a bias: the layer was given bias=False")
        if not callable(init):
            check_choice("init", init, tuple(initializers.INITIALIZERS))
        self.init = init
        self.dtype = check_dtype(dtype)
        self.W = Parameter(np.zeros((self.n_in, self.n_out), self.dtype), name="W")
        self.b = Parameter(np.zeros(self.n_out, self.dtype), name="b") if bias else None
        self._ones_vector: np.ndarray | None = None  # for the bias gradient, grown as batches need
        self.reset_parameters(seed)

    def reset_parameters(self, seed: int | np.random.Generator | None = None) -> None:
        """Draw fresh weights with this layer's initialiser and zero the bias."""
        fans = (self.n_in, self.n_out)
        weights = initializers.draw_weights(self.init, fans, fans, as_generator("seed", seed), self.dtype, repr(self))
        self.W.value[...] = weights
        if self.b is not None:
            self.b.value[...] = 0

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """``input_shape`` with its last axis, of ``n_in`` features, turned into ``n_out``."""
        input_shape = tuple(input_shape)
        if not input_shape or input_shape[-1] != self.n_in:
            raise ValueError(f"{self._who} expected samples of shape (..., {self.n_in}), got shape {input_shape}")
        return (*input_shape[:-1], self.n_out)

    def input_shape(self) -> tuple[int, ...]:
        return (self.n_in,)

    @property
    def _who(self) -> str:
        return f"Dense({self.n_in} -> {self.n_out})"

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = check_batch(x, self.n_in, self.W.value.dtype, lambda: self._who, "weights", table=False)
        if training:
            self._cache = x
        rows = x if x.ndim == 2 else x.reshape(-1, self.n_in)  # (n ..., n_in): the table of every position
        out = _matmul(rows, self.W.value)
        if self.b is not None:
            out += self.b.value
        return out if x.ndim == 2 else out.reshape(*x.shape[:-1], self.n_out)

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        x = self._require_cache()
        grad = self._check_grad(grad, (*x.shape[:-1], self.n_out))
        if x.ndim == 2:
            return self._backward_table(x, grad, need_input_grad)
        d_rows = self._backward_table(x.reshape(-1, self.n_in), grad.reshape(-1, self.n_out), need_input_grad)
        return None if d_rows is None else d_rows.reshape(x.shape)

    def _backward_table(self, x: np.ndarray, grad: np.ndarray, need_input_grad: bool) -> np.ndarray | None:
        """The backward of a table ``x`` (n, n_in) with ``grad`` (n, n_out): every position of a batch is a row."""
        # out= writes straight into the existing gradient arrays: no new allocation per step.
        np.matmul(x.T, grad, out=self.W.grad)  # dL/dW = X^T G
        if self.b is not None:
            # dL/db = 1^T G, the column sums of G: a BLAS matrix-vector product is
            # several times faster than np.sum(axis=0) on a tall, narrow G.
            np.matmul(self._ones(len(grad)), grad, out=self.b.grad)
        # G W^T is a third of the layer's work, and nobody reads it for a model's first layer.
        return _matmul(grad, self.W.value.T) if need_input_grad else None  # dL/dX = G W^T

    def _ones(self, n: int) -> np.ndarray:
        """A vector of n ones in the weights' dtype, kept for the next batch."""
        ones = self._ones_vector
        if ones is None or len(ones) < n or ones.dtype != self.W.value.dtype:
            ones = self._ones_vector = np.ones(n, self.W.value.dtype)
        return ones[:n]

    def parameters(self) -> list[Parameter]:
        return [self.W] if self.b is None else [self.W, self.b]

    def penalties(self) -> list[tuple[Parameter, regularizers.Regularizer]]:
        return list(self._regularized().values())

    def _regularized(self) -> dict[str, tuple[Parameter, regularizers.Regularizer]]:
        return regularizers.layer_regularizers(self.W, self.kernel_regularizer, self.b, self.bias_regularizer)

    @classmethod
    def parameter_count(cls, config: dict[str, Any]) -> int | None:
        n_in, n_out = config.get("n_in"), config.get("n_out")
        if (
            not (isinstance(n_in, int) and isinstance(n_out, int))
            or isinstance(n_in, bool)
            or isinstance(n_out, bool)
            or n_in < 1
            or n_out < 1
        ):
            return None  # the constructor's own checks refuse it, with their message
        return n_in * n_out + (n_out if config.get("bias", True) is not False else 0)

    def get_config(self) -> dict[str, Any]:
        config = {"n_in": self.n_in, "n_out": self.n_out, "bias": self.b is not None, "dtype": self.dtype.name}
        if isinstance(self.init, str):
            config["init"] = self.init
        config.update({name: reg.get_config() for name, (_, reg) in self._regularized().items()})
        return config

    def extra_repr(self) -> str:
        parts = [str(self.n_in), str(self.n_out)]
        if self.init != "xavier":
            parts.append(
                f"init={self.init!r}"
                if isinstance(self.init, str)
                else f"init={getattr(self.init, '__name__', self.init)}"
            )
        if self.b is None:
            parts.append("bias=False")
        if self.dtype != np.float64:
            parts.append(f"dtype={dtype_repr(self.dtype)}")
        parts += [f"{name}={reg!r}" for name, (_, reg) in self._regularized().items()]
        return ", ".join(parts)
