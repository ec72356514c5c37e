"""Parameters, the Layer contract, Dense and the activations.

Every layer keeps its ``forward`` and ``backward`` side by side, so the
derivative can be read right under the function it differentiates.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import init as initializers
from ._inference import CacheSlot
from ._validation import (
    all_finite,
    as_float_array,
    as_generator,
    check_bool,
    check_choice,
    check_int,
    check_real,
    check_seed,
)
from .io.fields import generator_from_state, generator_state

__all__ = [
    "BatchNorm",
    "Dense",
    "Dropout",
    "Layer",
    "LeakyReLU",
    "Parameter",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "backward_through",
    "restore_parameters",
    "snapshot_parameters",
]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_dtype(dtype: Any) -> np.dtype:
    """Return ``dtype`` as a numpy dtype, accepting only float32 and float64."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    # Not `resolved in _FLOAT_DTYPES` alone: a dtype compares equal to None (np.dtype(None) is float64).
    if resolved is None or resolved not in _FLOAT_DTYPES:
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype!r}")
    return resolved


def dtype_repr(dtype: np.dtype) -> str:
    """``np.float32`` for a dtype, so reprs read like the code that built them."""
    return f"np.{np.dtype(dtype).name}"


class Parameter:
    """A trainable array and the gradient of the loss with respect to it.

    Parameters
    ----------
    value : array-like
        Initial value; integer input is stored as float64.
    name : str, default ""
        Short name used in error messages and saved files (``"W"``, ``"b"``).

    Attributes
    ----------
    value : ndarray
        Updated in place by optimizers, so references to it stay valid.
    grad : ndarray of the same shape and dtype as value
        Written (not accumulated) by the owning layer's ``backward``. It is
        NaN until the first ``backward`` writes it, so an optimizer step taken
        before any backward is refused (its update would be NaN) instead of
        applying weight decay alone as if it were a gradient.
    """

    def __init__(self, value: Any, name: str = "") -> None:
        value = np.array(value)  # a private copy: the caller's array is never trained in place
        if value.dtype.kind not in "biuf":
            raise TypeError(f"Parameter value must be numeric, got dtype {value.dtype}")
        if value.dtype.kind != "f":
            value = value.astype(np.float64)
        if value.dtype not in _FLOAT_DTYPES:
            raise TypeError(f"Parameter value must be float32 or float64, got {value.dtype}")
        self.value = value
        self.grad = np.full_like(value, np.nan)  # "no gradient yet": see the class docstring
        self.name = name

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def size(self) -> int:
        return self.value.size

    def __repr__(self) -> str:
        return f"Parameter(name={self.name!r}, shape={self.value.shape}, dtype={dtype_repr(self.value.dtype)})"


def snapshot_parameters(params: Sequence[Parameter]) -> list[np.ndarray]:
    """Copies of the parameters' values, for :func:`restore_parameters`.

    The one way minnet saves and puts back parameter values (``lr_find``'s
    restore, ``EarlyStopping``'s best weights).
    """
    return [p.value.copy() for p in params]


def restore_parameters(params: Sequence[Parameter], values: Sequence[np.ndarray]) -> None:
    """Write ``values`` (from :func:`snapshot_parameters`) back into ``params``, in place.

    Also how :func:`~minnet.load` and a resumed checkpoint write the values
    they read. Shapes are checked for all parameters before any is written, so a value
    that does not fit changes nothing (numpy would broadcast a smaller one).
    """
    if len(values) != len(params):
        raise ValueError(f"expected values for {len(params)} parameters, got {len(values)}")
    for p, value in zip(params, values):
        if np.shape(value) != p.value.shape:
            raise ValueError(
                f"a value of shape {np.shape(value)} does not fit parameter {p.name or '?'} of shape {p.value.shape}"
            )
    for p, value in zip(params, values):
        p.value[...] = value


def _is_symbolic(x: Any) -> bool:
    """Whether ``x`` is a graph Node or a list holding one (a layer call that builds a graph)."""
    from .graph import Node

    return isinstance(x, Node) or (isinstance(x, (list, tuple)) and any(isinstance(a, Node) for a in x))


class Layer:
    """Base class of everything that maps a batch to a batch (contract v3).

    A subclass implements ``forward`` and ``backward`` and, if it owns
    trainable arrays, ``parameters``:

    * ``forward(x, training)`` returns the output and, in training, keeps
      what ``backward`` needs in **one attribute, ``self._cache``** (any
      object). A :class:`~minnet.Graph` reads and sets that slot to give a
      layer used at several nodes the right cache back for each use.
    * ``forward(x, training=False)`` writes no state at all: no cache, no
      statistics, no generator draw. ``backward`` goes back through the
      last *training* forward. So inference (``predict``, ``evaluate``,
      ``fit``'s validation pass, ``summary``), from this thread or another,
      cannot disturb a training step. A layer that stores ``self._cache``
      in every forward is safe too: while a thread runs one of those
      inference passes, the slot drops that thread's stores (a descriptor:
      one Python call per read or store, lost in the noise of a step), so
      ``forward`` must not read ``self._cache`` back. A layer that keeps activations
      under any other attribute loses these guarantees.
    * ``backward(grad)`` *writes* (does not add to) every parameter's
      ``grad``, so after one forward/backward pair each ``p.grad`` holds
      exactly that batch's gradient, and returns dL/d(input).
    * Optionally ``backward(grad, need_input_grad=True)``: a layer whose
      ``backward`` takes this keyword may skip computing dL/d(input) and
      return None when it is False. Training passes False to a model's
      first layer, whose input is the data (see :func:`backward_through`).
    * State that is not trained (running statistics, a generator) goes
      through :meth:`get_state` / :meth:`set_state`, so files carry it.
    """

    #: What ``backward`` needs from the last training ``forward``; None before the first one.
    _cache = CacheSlot()
    #: The fewest rows a training batch may have (``BatchNorm``: 2); ``fit`` checks
    #: its batches against it before the first update.
    min_training_batch: int = 1
    #: How many arrays ``forward`` takes and returns: 1 means a bare array, more a list.
    n_inputs: int | None = 1  # None: any number of at least two (a merge layer)
    n_outputs: int = 1

    def forward(self, x: Any, training: bool = True) -> Any:
        """Compute the layer's output, keeping what ``backward`` needs in ``self._cache``.

        Parameters
        ----------
        x : ndarray of shape (n_samples, n_in)
        training : bool, default True
            False for inference (``predict``); layers such as dropout differ.

        Returns
        -------
        ndarray of shape (n_samples, n_out)
        """
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def backward(self, grad: Any) -> Any:
        """Backpropagate through the last ``forward``.

        Parameters
        ----------
        grad : ndarray of shape (n_samples, n_out)
            dL/d(output) of the last forward.

        Returns
        -------
        ndarray of shape (n_samples, n_in)
            dL/d(input). Every parameter's ``grad`` is *written* (not added to)
            with dL/d(parameter) of this batch.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement backward")

    def parameters(self) -> list[Parameter]:
        """Trainable parameters, in a fixed order."""
        return []

    def get_state(self) -> dict[str, Any]:
        """State this layer keeps that is *not* trained, for saving and checkpoints.

        Running statistics (a batch-norm layer's running mean and variance)
        or a random generator's state belong here: what a loaded model needs
        to predict bit-identically and a resumed run needs to stay bit-exact.
        Values may be ndarrays, numbers, strings, ``None`` and lists or dicts
        of them. A layer without such state (the default) returns ``{}``.
        A container returns ``{}`` too: its children answer for themselves.

        Returns
        -------
        dict of str to value
            Copies, not views: later training must not change a saved state.
        """
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned (from a file, so check it first).

        Raise ``ValueError`` naming the field for anything that does not fit
        (a wrong key, shape or dtype), and change nothing in that case.
        """
        if state:
            raise ValueError(f"{self!r} keeps no state, got {sorted(state)!r}")

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """``(name, parameter)`` pairs; containers prefix the layer's index."""
        return [(p.name or str(i), p) for i, p in enumerate(self.parameters())]

    def in_features(self) -> int | None:
        """The number of input features this layer expects, when it fixes one (``Dense``), else None."""
        return None

    def children(self) -> list[Layer]:
        """Layers held directly by this one (empty for a leaf layer)."""
        return []

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this layer: ``type(self)(**config)``."""
        return {}

    @classmethod
    def from_config(cls, children: list[Layer], config: dict[str, Any]) -> Layer:
        """Rebuild a layer from its children and :meth:`get_config` (what :func:`~minnet.load` calls).

        The default is ``cls(*children, **config)``; a layer whose
        constructor takes something else (a :class:`~minnet.Graph`)
        overrides it.
        """
        return cls(*children, **config)

    @classmethod
    def parameter_count(cls, config: dict[str, Any]) -> int | None:
        """How many parameter values ``cls(**config)`` would allocate, if the config says it plainly.

        :func:`~minnet.load` asks this before building a layer from a file,
        so that a description far larger than the file's arrays is refused
        before it costs memory. None (the default) means "build it, then
        count".
        """
        return None

    def extra_repr(self) -> str:
        """Arguments shown inside the parentheses of ``repr``."""
        return ""

    def __call__(self, x: Any, training: bool = True) -> Any:
        """``forward(x, training)`` on arrays; on a graph Node (or a list of them), a new Node."""
        if _is_symbolic(x):
            from .graph import call_on_nodes  # graph.py builds on this module

            return call_on_nodes(self, x)
        return self.forward(x, training=training)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def _require_cache(self) -> Any:
        """``self._cache``, or a RuntimeError if there is no forward to go back through."""
        cache = self._cache
        if cache is None:
            raise RuntimeError(f"{self!r}: backward called before forward (no cached forward pass)")
        return cache

    def _check_grad(self, grad: np.ndarray, expected_shape: tuple[int, ...]) -> np.ndarray:
        grad = np.asarray(grad)
        if grad.shape != expected_shape:
            raise ValueError(
                f"{self!r}: backward expected a gradient of shape {expected_shape} "
                f"(the shape of the last output), got {grad.shape}"
            )
        return grad


def _check_batch(x: Any, n_features: int, dtype: np.dtype, who: str, held: str) -> np.ndarray:
    """``x`` as a 2-D array of ``n_features`` columns in ``dtype``, or the error naming the layer ``who``."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != n_features:
        got = f"{x.shape[1]}" if x.ndim == 2 else f"an array of shape {x.shape}"
        raise ValueError(f"{who} expected {n_features} features, got {got}")
    if x.dtype != dtype:
        raise TypeError(f"{who} holds {dtype} {held}, got {x.dtype} input; convert it with x.astype(np.{dtype.name})")
    return x


class Dense(Layer):
    r"""Fully connected layer: an affine map of each sample.

    .. math:: Y = X W + b

    .. math:: \frac{\partial L}{\partial W} = X^\top G, \quad
              \frac{\partial L}{\partial b} = \textstyle\sum_i G_{i\cdot}, \quad
              \frac{\partial L}{\partial X} = G W^\top

    where :math:`G = \partial L / \partial Y`.

    Parameters
    ----------
    n_in, n_out : int
        Number of input and output features.
    init : {"xavier", "he", "normal"} or callable, default "xavier"
        Weight initialiser; a callable is ``init(n_in, n_out, rng, dtype)``.
        Use ``"xavier"`` before sigmoid/tanh and ``"he"`` before ReLU.
    bias : bool, default True
        Whether to add the bias ``b`` (initialised to zero).
    dtype : np.float32 or np.float64, default np.float64
    seed : int, np.random.Generator or None
        Seed or generator for the initial weights; the same seed gives
        bit-identical weights. ``rng=`` is accepted as another name for it.

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
    ) -> None:
        if rng is not None:
            if seed is not None:
                raise TypeError("Dense takes seed= or its older name rng=, not both")
            seed = rng
        self.n_in = check_int("n_in", n_in, low=1)
        self.n_out = check_int("n_out", n_out, low=1)
        bias = check_bool("bias", bias)
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
        generator = as_generator("seed", seed)
        make = self.init if callable(self.init) else initializers.INITIALIZERS[self.init]
        weights = np.asarray(make(self.n_in, self.n_out, generator, self.dtype))
        if weights.shape != (self.n_in, self.n_out) or weights.dtype.kind not in "biuf":
            raise ValueError(
                f"init for {self!r} must return numbers of shape {(self.n_in, self.n_out)}, "
                f"got {weights.dtype} of shape {weights.shape}"
            )
        if not np.isfinite(weights).all():
            raise ValueError(f"init for {self!r} returned NaN or infinite weights")
        self.W.value[...] = weights
        if self.b is not None:
            self.b.value[...] = 0

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = _check_batch(x, self.n_in, self.W.value.dtype, f"Dense({self.n_in} -> {self.n_out})", "weights")
        if training:
            self._cache = x
        out = x @ self.W.value
        if self.b is not None:
            out += self.b.value
        return out

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        x = self._require_cache()
        grad = self._check_grad(grad, (x.shape[0], self.n_out))
        # out= writes straight into the existing gradient arrays: no new allocation per step.
        np.matmul(x.T, grad, out=self.W.grad)  # dL/dW = X^T G
        if self.b is not None:
            # dL/db = 1^T G, the column sums of G: a BLAS matrix-vector product is
            # several times faster than np.sum(axis=0) on a tall, narrow G.
            np.matmul(self._ones(len(grad)), grad, out=self.b.grad)
        # G W^T is a third of the layer's work, and nobody reads it for a model's first layer.
        return grad @ self.W.value.T if need_input_grad else None  # dL/dX = G W^T

    def _ones(self, n: int) -> np.ndarray:
        """A vector of n ones in the weights' dtype, kept for the next batch."""
        ones = self._ones_vector
        if ones is None or len(ones) < n or ones.dtype != self.W.value.dtype:
            ones = self._ones_vector = np.ones(n, self.W.value.dtype)
        return ones[:n]

    def parameters(self) -> list[Parameter]:
        return [self.W] if self.b is None else [self.W, self.b]

    def in_features(self) -> int:
        return self.n_in

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
        return ", ".join(parts)


@functools.cache
def _takes_need_input_grad(backward: Callable) -> bool:
    try:
        return "need_input_grad" in inspect.signature(backward).parameters
    except (TypeError, ValueError):  # a builtin or other callable without a signature
        return False


def backward_through(layer: Layer, grad: Any, need_input_grad: bool = True) -> Any:
    """``layer.backward(grad)``, telling the layer when dL/d(input) is not needed.

    This is the one mechanism for skipping the input gradient: a layer whose
    ``backward`` declares a ``need_input_grad`` keyword receives it (and may
    return None when it is False); any other layer is called as
    ``backward(grad)`` and computes dL/d(input) as always, which is correct,
    only slower. Containers call every layer's backward through this.
    """
    if need_input_grad or not _takes_need_input_grad(type(layer).backward):
        return layer.backward(grad)
    backward: Callable[..., Any] = layer.backward  # declares need_input_grad, checked just above
    return backward(grad, need_input_grad=False)


# |x| beyond which the sigmoid's input is clipped, by float size in bytes: e^bound
# stays below the largest float and e^-bound above the smallest normal one.
_SIGMOID_CLIP = {2: 11.0, 4: 87.0, 8: 700.0}


class Sigmoid(Layer):
    r"""Logistic sigmoid, computed without overflow for any finite input.

    .. math:: \sigma(x) = \frac{1}{1 + e^{-x}}, \qquad \sigma'(x) = \sigma(x)\,(1 - \sigma(x))

    Caches only its output, since the derivative is a function of it.
    """

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        # 1 / (1 + e^{-x}) is accurate to an ulp for every x where e^{-x} is a
        # normal float; it only overflows (x < -709) or underflows (x > 745)
        # beyond that. Clipping x to +-700 (+-87 in float32) keeps e^{-x} normal,
        # so nothing overflows, underflows or warns, and changes the result by
        # less than 1e-304 (2e-38 in float32): sigma(700) is 1.0 already, and
        # sigma(-700) = 1e-304 stands in for smaller values. Five in-place
        # passes over one temporary; this runs twice per step of the article's net.
        x = np.asarray(x)
        if x.dtype.kind != "f":
            x = x.astype(np.float64)
        bound = _SIGMOID_CLIP.get(x.dtype.itemsize, 700.0)  # wider floats reach past float64's range
        out = np.clip(x, -bound, bound)
        np.negative(out, out=out)
        np.exp(out, out=out)
        out += 1.0
        np.reciprocal(out, out=out)
        if training:
            self._cache = out
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        s = self._require_cache()
        grad = self._check_grad(grad, s.shape)
        result = np.subtract(1.0, s, dtype=s.dtype)  # one temporary, multiplied in place
        result *= s
        result *= grad
        return result


class Tanh(Layer):
    r"""Hyperbolic tangent.

    .. math:: \tanh(x), \qquad \tanh'(x) = 1 - \tanh^2(x)
    """

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        out = np.tanh(np.asarray(x))
        if training:
            self._cache = out
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        out = self._require_cache()
        grad = self._check_grad(grad, out.shape)
        return grad * (1.0 - out * out)


class ReLU(Layer):
    r"""Rectified linear unit.

    .. math:: \mathrm{relu}(x) = \max(x, 0), \qquad \mathrm{relu}'(x) = [x > 0]

    Caches only the boolean mask :math:`[x > 0]`.
    """

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = np.asarray(x)
        if training:
            self._cache = x > 0
        return np.maximum(x, 0)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        mask = self._require_cache()
        grad = self._check_grad(grad, mask.shape)
        return grad * mask


class LeakyReLU(Layer):
    r"""ReLU with a small slope for negative inputs, so no unit dies completely.

    .. math:: f(x) = \begin{cases} x & x > 0 \\ \alpha x & x \le 0 \end{cases}, \qquad
              f'(x) = \begin{cases} 1 & x > 0 \\ \alpha & x \le 0 \end{cases}

    Parameters
    ----------
    negative_slope : float, default 0.01
        :math:`\alpha`, as ``torch.nn.LeakyReLU``.
    """

    def __init__(self, negative_slope: float = 0.01) -> None:
        self.negative_slope = check_real("negative_slope", negative_slope, low=0.0)

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = np.asarray(x)
        mask = x > 0
        if training:
            self._cache = mask
        return np.where(mask, x, x * self.negative_slope)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        mask = self._require_cache()
        grad = self._check_grad(grad, mask.shape)
        return np.where(mask, grad, grad * self.negative_slope)

    def get_config(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope}

    def extra_repr(self) -> str:
        return "" if self.negative_slope == 0.01 else f"negative_slope={self.negative_slope!r}"


class Softmax(Layer):
    r"""Softmax along the features: each row becomes a probability distribution.

    .. math:: s_{ij} = \frac{e^{x_{ij} - m_i}}{\sum_k e^{x_{ik} - m_i}}, \qquad m_i = \max_k x_{ik}

    Subtracting the row maximum changes nothing mathematically and keeps
    every exponent :math:`\le 0`, so nothing overflows for any finite input.
    With :math:`G = \partial L / \partial s`, the Jacobian-vector product is

    .. math:: \frac{\partial L}{\partial x_{ij}} = s_{ij}\Big(G_{ij} - \sum_k G_{ik}\, s_{ik}\Big)

    Caches only its output. Before :class:`~minnet.CrossEntropy` prefer raw
    scores (``from_logits=True``, the default) over a Softmax layer: the
    fused gradient is simpler and more accurate.
    """

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype.kind != "f":
            x = x.astype(np.float64)
        # x - max may be below -1.8e308 for a row spanning the whole float range;
        # -inf is then right, as e^-inf = 0 is the probability that rounds to.
        with np.errstate(over="ignore"):
            out = x - x.max(axis=1, keepdims=True)
        np.exp(out, out=out)
        out /= out.sum(axis=1, keepdims=True)  # the row maximum contributes 1: never 0
        if training:
            self._cache = out
        return out

    def backward(self, grad: np.ndarray) -> np.ndarray:
        s = self._require_cache()
        grad = self._check_grad(grad, s.shape)
        return s * (grad - np.sum(grad * s, axis=1, keepdims=True))


class Dropout(Layer):
    r"""Inverted dropout: in training, zero each element with probability ``p`` and scale the rest.

    .. math:: y = x \odot \frac{M}{1 - p}, \quad M_{ij} \sim \mathrm{Bernoulli}(1 - p), \qquad
              \frac{\partial L}{\partial x} = G \odot \frac{M}{1 - p}

    With ``training=False`` (``predict``, ``evaluate``) it is the identity,
    as is ``p = 0``; the scaling keeps the expected output the same in both
    modes, as ``torch.nn.Dropout``.

    Parameters
    ----------
    p : float in [0, 1), default 0.5
        Probability of zeroing an element.
    seed : int, np.random.Generator or None
        Seed or generator of the masks. The generator's state is the
        layer's non-trained state (:meth:`get_state`), so a saved or
        checkpointed model goes on drawing the same masks.

    Notes
    -----
    The masks are drawn in float64 whatever the input's dtype, so a seed
    gives the same masks for float32 and float64 models.
    """

    def __init__(self, p: float = 0.5, seed: int | np.random.Generator | None = None) -> None:
        if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
            raise TypeError(f"Dropout p must be a probability in [0, 1), got {p!r} ({type(p).__name__})")
        if not 0.0 <= float(p) < 1.0:  # NaN fails this too
            raise ValueError(
                f"Dropout p is the probability of zeroing an element and must lie in [0, 1), "
                f"got {float(p)!r}" + (" (p = 1 would zero everything)" if p == 1 else "")
            )
        self.p = float(p)
        self.seed = check_seed("seed", seed)
        self._rng = as_generator("seed", self.seed)

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = np.asarray(x)
        if not training:
            return x
        if self.p == 0.0:
            self._cache = (None, x.shape)  # the identity: backward passes the gradient through
            return x
        mask = (self._rng.random(x.shape) >= self.p).astype(x.dtype if x.dtype.kind == "f" else np.float64)
        mask *= 1.0 / (1.0 - self.p)  # torch's scale, the same float: 1 / (1 - p)
        self._cache = (mask, x.shape)
        with np.errstate(over="ignore"):  # x / (1 - p) beyond the largest float is inf, as in torch
            return x * mask

    def backward(self, grad: np.ndarray) -> np.ndarray:
        mask, shape = self._require_cache()
        grad = self._check_grad(grad, shape)
        return grad if mask is None else grad * mask

    def get_state(self) -> dict[str, Any]:
        """``{"rng": state}``: the mask generator's bit-generator state, as JSON values."""
        return {"rng": generator_state(self._rng)}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue drawing masks exactly where the generator of ``state`` stood."""
        if not isinstance(state, dict) or set(state) != {"rng"}:
            got = f"the keys {sorted(state)!r}" if isinstance(state, dict) else f"a {type(state).__name__}"
            raise ValueError(f"{self!r}: state must be a dict with the key 'rng', got {got}")
        self._rng = generator_from_state(f"{self!r} state 'rng'", state["rng"])

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"p": self.p}
        if isinstance(self.seed, int):  # a Generator is not a constructor argument a file can hold
            config["seed"] = self.seed
        return config

    def extra_repr(self) -> str:
        return f"p={self.p!r}" + (f", seed={self.seed}" if isinstance(self.seed, int) else "")


class BatchNorm(Layer):
    r"""Batch normalisation of each feature, as ``torch.nn.BatchNorm1d``.

    In training (``training=True``) each feature :math:`j` is normalised with
    the statistics of the batch of :math:`n` samples, the biased variance:

    .. math:: \mu_j = \frac{1}{n}\sum_i x_{ij}, \quad
              \sigma_j^2 = \frac{1}{n}\sum_i (x_{ij} - \mu_j)^2, \quad
              \hat x_{ij} = \frac{x_{ij} - \mu_j}{\sqrt{\sigma_j^2 + \epsilon}}, \quad
              y_{ij} = \gamma_j \hat x_{ij} + \beta_j

    and the running statistics move towards the batch's, with the unbiased
    variance (momentum :math:`m`; ``momentum=None`` is the cumulative mean
    over the :math:`t` batches seen, :math:`m = 1/t`):

    .. math:: \bar\mu \leftarrow (1 - m)\,\bar\mu + m\,\mu, \qquad
              \bar\sigma^2 \leftarrow (1 - m)\,\bar\sigma^2 + m\,\frac{n}{n-1}\sigma^2

    With ``training=False`` the running statistics :math:`\bar\mu, \bar\sigma^2`
    stand for :math:`\mu, \sigma^2`. With :math:`G = \partial L/\partial y` and
    :math:`D = G \odot \gamma`, the gradients are

    .. math:: \frac{\partial L}{\partial \gamma_j} = \sum_i G_{ij} \hat x_{ij}, \qquad
              \frac{\partial L}{\partial \beta_j} = \sum_i G_{ij}

    .. math:: \frac{\partial L}{\partial x_{ij}} = \frac{1}{\sqrt{\sigma_j^2 + \epsilon}}
              \Big(D_{ij} - \frac{1}{n}\sum_k D_{kj} - \hat x_{ij}\,\frac{1}{n}\sum_k D_{kj}\hat x_{kj}\Big)

    where :math:`\mu` and :math:`\sigma` depend on every sample of the
    batch. (Inference keeps no cache, so ``backward`` always follows a
    training forward.)

    Parameters
    ----------
    n_features : int
        Number of features (columns) of the input.
    momentum : float in [0, 1] or None, default 0.1
        Weight of each new batch in the running statistics (torch's
        convention: the running value keeps ``1 - momentum`` of itself);
        None for the cumulative average.
    eps : float > 0, default 1e-5
        Added to the variance before the square root.
    dtype : np.float32 or np.float64, default np.float64

    Attributes
    ----------
    gamma : Parameter of shape (n_features,)
        The scale, ones at first (torch's ``weight``).
    beta : Parameter of shape (n_features,)
        The shift, zeros at first (torch's ``bias``).
    running_mean, running_var : ndarray of shape (n_features,)
        Zeros and ones at first; state, not trained (:meth:`get_state`).
    num_batches_tracked : int
        Training batches seen; sets the weight when ``momentum`` is None.

    Notes
    -----
    A batch of one sample has no variance to normalise by, so training on
    it is a ValueError (torch refuses it too); pick a ``batch_size`` that
    leaves no last batch of one. In training the output is finite for any
    finite input: statistics that would overflow are computed on the
    feature divided by its largest magnitude, and a running variance beyond
    the float's range is kept at the largest float.
    """

    def __init__(
        self, n_features: int, momentum: float | None = 0.1, eps: float = 1e-5, dtype: Any = np.float64
    ) -> None:
        self.n_features = check_int("n_features", n_features, low=1)
        self.momentum = None if momentum is None else check_real("momentum", momentum, low=0.0, high=1.0)
        self.eps = check_real("eps", eps, low=0.0, low_inclusive=False)
        self.dtype = check_dtype(dtype)
        self.gamma = Parameter(np.ones(self.n_features, self.dtype), name="gamma")
        self.beta = Parameter(np.zeros(self.n_features, self.dtype), name="beta")
        self.running_mean = np.zeros(self.n_features, self.dtype)
        self.running_var = np.ones(self.n_features, self.dtype)
        self.num_batches_tracked = 0

    min_training_batch = 2  # a variance needs two rows

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = _check_batch(x, self.n_features, self.gamma.value.dtype, repr(self), "parameters")
        if training:
            if len(x) < self.min_training_batch:
                raise ValueError(
                    f"{self!r} needs more than 1 sample per batch in training to compute a "
                    f"variance, got a batch of {len(x)}; use a batch_size that leaves no "
                    f"batch of one, or training=False"
                )
            x_hat, inv_std, mean, var = _normalise_batch(x, self.eps)
            self._update_running(mean, var, len(x))
            self._cache = (x_hat, inv_std)
        else:
            inv_std = 1.0 / np.sqrt(self.running_var + self.eps)
            x_hat = _standardise(x, self.running_mean, inv_std)
        with np.errstate(over="ignore"):  # only parameters beyond any sensible size overflow here
            return x_hat * self.gamma.value + self.beta.value

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        x_hat, inv_std = self._require_cache()
        grad = self._check_grad(grad, x_hat.shape)
        self.gamma.grad[...] = np.sum(grad * x_hat, axis=0)  # dL/dgamma = sum_i G x_hat
        self.beta.grad[...] = np.sum(grad, axis=0)  # dL/dbeta = sum_i G
        if not need_input_grad:
            return None
        d = grad * self.gamma.value  # D = dL/dx_hat
        # mu and sigma depend on every row: two column means carry that dependence.
        return inv_std * (d - d.mean(axis=0) - x_hat * np.mean(d * x_hat, axis=0))

    def _update_running(self, mean: np.ndarray, var: np.ndarray, n: int) -> None:
        self.num_batches_tracked += 1
        m = 1.0 / self.num_batches_tracked if self.momentum is None else self.momentum
        largest = np.finfo(self.running_var.dtype).max
        with np.errstate(over="ignore"):
            # A mixture of two finite values fits, up to rounding at the very top of the range;
            # the unbiased variance n/(n-1) sigma^2 may not: both are held at the largest float.
            new_mean = (1.0 - m) * self.running_mean + m * mean
            new_var = (1.0 - m) * self.running_var + m * (var * (n / (n - 1)))
        np.clip(new_mean, -largest, largest, out=self.running_mean, casting="unsafe")
        np.minimum(new_var, largest, out=self.running_var, casting="unsafe")

    def parameters(self) -> list[Parameter]:
        return [self.gamma, self.beta]

    def in_features(self) -> int:
        return self.n_features

    def get_state(self) -> dict[str, Any]:
        """``running_mean``, ``running_var`` (copies) and ``num_batches_tracked``."""
        return {
            "running_mean": self.running_mean.copy(),
            "running_var": self.running_var.copy(),
            "num_batches_tracked": self.num_batches_tracked,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore the running statistics, after checking each (all or nothing)."""
        expected = {"running_mean", "running_var", "num_batches_tracked"}
        if not isinstance(state, dict) or set(state) != expected:
            got = f"the keys {sorted(state)!r}" if isinstance(state, dict) else f"a {type(state).__name__}"
            raise ValueError(f"{self!r}: state must be a dict with the keys {sorted(expected)}, got {got}")
        arrays = {}
        for key in ("running_mean", "running_var"):
            what = f"{self!r} state {key!r}"
            value = as_float_array(what, state[key])
            if value.dtype != self.dtype or value.shape != (self.n_features,):
                raise ValueError(
                    f"{what} must be {self.dtype} of shape ({self.n_features},), "
                    f"got {value.dtype} of shape {value.shape}"
                )
            if not all_finite(value):
                raise ValueError(f"{what} must be finite")
            arrays[key] = value
        if (arrays["running_var"] < 0).any():
            raise ValueError(f"{self!r} state 'running_var' must be >= 0, got {float(arrays['running_var'].min())!r}")
        count = state["num_batches_tracked"]
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise ValueError(f"{self!r} state 'num_batches_tracked' must be an integer >= 0, got {count!r}")
        self.running_mean[...] = arrays["running_mean"]
        self.running_var[...] = arrays["running_var"]
        self.num_batches_tracked = int(count)

    def get_config(self) -> dict[str, Any]:
        return {"n_features": self.n_features, "momentum": self.momentum, "eps": self.eps, "dtype": self.dtype.name}

    def extra_repr(self) -> str:
        parts = [str(self.n_features)]
        if self.momentum != 0.1:
            parts.append(f"momentum={self.momentum!r}")
        if self.eps != 1e-5:
            parts.append(f"eps={self.eps!r}")
        if self.dtype != np.float64:
            parts.append(f"dtype={dtype_repr(self.dtype)}")
        return ", ".join(parts)


def _normalise_batch(x: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""``(x_hat, 1 / sqrt(var + eps), mean, var)`` of each column of ``x``, with the biased variance.

    The plain formulas first. Only if they overflow (columns near 1e154,
    whose squares do not fit, or spanning the whole float range) is each
    column recomputed divided by its largest magnitude :math:`s`, which
    bounds every term by 2: :math:`\hat x = (x/s - \mu/s) / \sqrt{\sigma^2/s^2 + \epsilon/s^2}`.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        mean = x.mean(axis=0)
        centred = x - mean
        var = np.mean(centred * centred, axis=0)
        inv_std = 1.0 / np.sqrt(var + eps)
        x_hat = centred * inv_std
        if all_finite(x_hat) and all_finite(var):
            return x_hat, inv_std, mean, var
    scale = np.max(np.abs(x), axis=0)
    scale[scale == 0] = 1.0
    scaled = x / scale
    mean_s = scaled.mean(axis=0)
    centred = scaled - mean_s
    var_s = np.mean(centred * centred, axis=0)
    # eps / s^2 underflows to 0 for s beyond ~1e154; a floor keeps an all-equal column at 0, not 0/0.
    std_s = np.maximum(np.sqrt(var_s + eps / scale / scale), np.finfo(x.dtype).tiny)
    with np.errstate(over="ignore"):  # a variance beyond the float: the running update holds it at the top
        var = var_s * scale * scale
    return centred / std_s, 1.0 / (std_s * scale), mean_s * scale, var


def _standardise(x: np.ndarray, mean: np.ndarray, inv_std: np.ndarray) -> np.ndarray:
    """``(x - mean) * inv_std``; halved first only when the difference of two huge values overflows."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = (x - mean) * inv_std
        if all_finite(out):
            return out
        # (x/2 - mean/2) always fits; what overflows after this does not fit in the float at all.
        return (x * 0.5 - mean * 0.5) * inv_std * 2.0
