"""minnet models as PyTorch modules, and back: :func:`to_torch` and :func:`from_torch`.

Each built-in layer has a PyTorch twin that computes the same function:

==================  ==============================  ===========================================
minnet              PyTorch                         carried across
==================  ==============================  ===========================================
``Dense``           ``nn.Linear``                   ``W`` transposed: minnet's is (n_in, n_out),
                                                    torch's ``weight`` is (out, in); ``b``
``Sigmoid``         ``nn.Sigmoid``
``ReLU``            ``nn.ReLU``
``Tanh``            ``nn.Tanh``
``LeakyReLU``       ``nn.LeakyReLU``                ``negative_slope``
``ELU``             ``nn.ELU``                      ``alpha``
``Softplus``        ``nn.Softplus``                 ``beta``, ``threshold``
``GELU``            ``nn.GELU``                     ``approximate``
``Softmax``         ``nn.Softmax(dim=axis)``
``Dropout``         ``nn.Dropout``                  ``p``
``BatchNorm``       ``nn.BatchNorm1d``              ``gamma``/``beta`` as ``weight``/``bias``,
                                                    ``momentum``, ``eps``, the running mean and
                                                    variance, ``num_batches_tracked``
``BatchNorm2D``     ``nn.BatchNorm2d``              as ``BatchNorm``
``LayerNorm``       ``nn.LayerNorm``                ``weight``, ``bias`` (or neither),
                                                    ``normalized_shape``, ``eps``
``Conv2D``          ``nn.Conv2d``                   ``W`` and ``b`` as they are (both
                                                    ``(out, in, kh, kw)``), ``kernel_size``,
                                                    ``stride``, ``padding`` (pair, "valid", "same")
``MaxPool2D``       ``nn.MaxPool2d``                ``kernel_size``, ``stride``, ``padding``
``AvgPool2D``       ``nn.AvgPool2d``                as ``MaxPool2D`` (the padding counted in the
                                                    mean, torch's default)
``GlobalAvgPool2D`` :class:`GlobalAvgPool2d`        ``nn.AdaptiveAvgPool2d(1)`` then ``nn.Flatten()``
``Flatten``         ``nn.Flatten``                  (``start_dim=1, end_dim=-1``)
``Reshape``         :class:`Reshape`                ``shape``
``Sequential``      ``nn.Sequential``               its layers, in order
``Graph``           :class:`GraphModule`            its nodes; a shared layer is one module
``Add``             :class:`Add`
``Concat``          :class:`Concat`
==================  ==============================  ===========================================

Weights are copied, not shared, in the model's own dtype (float32 or
float64), so a round trip ``from_torch(to_torch(model))`` gives back every
weight and every running statistic bit for bit.

minnet has no "mode": ``training`` is an argument of each forward
(``model.forward(x)`` trains, ``model.predict(x)`` does not), while a torch
module carries ``module.training``. :func:`to_torch` returns a module in
training mode, as PyTorch builds them (``module(x)`` is then
``model.forward(x)``), or in eval mode with ``training=False`` (``module(x)``
is then ``model.predict(x)``); ``module.train()`` and ``module.eval()``
switch it as for any module. :func:`from_torch` reads a module in either
mode.

From PyTorch, ``nn.AdaptiveAvgPool2d(1)`` followed by ``nn.Flatten()`` in an
``nn.Sequential`` becomes one ``GlobalAvgPool2D``; alone it becomes
``Sequential(GlobalAvgPool2D(), Reshape((-1, 1, 1)))``, which keeps its
``(n, C, 1, 1)`` output.

One thing does not cross: the generator a ``Dropout`` layer draws its masks
from. PyTorch draws them from its own generator (``torch.manual_seed``), so
the masks differ; everything else, including the scaling by ``1 / (1 - p)``,
is the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.spectral_norm import SpectralNorm
from torch.nn.utils.weight_norm import WeightNorm

from .. import containers, graph, layers
from .._validation import check_shape
from ..layers import Layer
from ..layers._windows import as_pair

__all__ = ["Add", "Concat", "GlobalAvgPool2d", "GraphModule", "Reshape", "from_torch", "to_torch"]

_DTYPES: dict[np.dtype, torch.dtype] = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}
_NUMPY_DTYPES: dict[torch.dtype, np.dtype] = {torch_dtype: np_dtype for np_dtype, torch_dtype in _DTYPES.items()}


# -- the modules minnet adds to torch's -----------------------------------------------


class Add(nn.Module):
    """The element-wise sum of its inputs, ``forward(*xs)``: minnet's :class:`~minnet.Add` as a module."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0] + xs[1]  # summed left to right, as minnet does, so the rounding is the same
        for x in xs[2:]:
            out = out + x
        return out


class Concat(nn.Module):
    """Its inputs side by side along ``dim`` (the features), ``forward(*xs)``: minnet's :class:`~minnet.Concat`."""

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=self.dim)


class GlobalAvgPool2d(nn.Sequential):
    """``nn.AdaptiveAvgPool2d(1)`` then ``nn.Flatten()``, ``(n, C, H, W) -> (n, C)``: minnet's
    :class:`~minnet.GlobalAvgPool2D` as a module."""

    def __init__(self) -> None:
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Flatten())


class Reshape(nn.Module):
    """Each sample reshaped to ``shape``, the batch axis kept: minnet's :class:`~minnet.Reshape` as a module.

    Parameters
    ----------
    shape : tuple of int
        The shape of one output sample; one entry may be -1 (the size left over).
    """

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(int(v) for v in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class GraphModule(nn.Module):
    """A minnet :class:`~minnet.Graph` as a ``torch.nn.Module``: its forward walks the nodes.

    Parameters
    ----------
    modules : dict of str to nn.Module
        One module per distinct layer of the graph, by the name of the
        layer's first node; a layer used at several nodes is one module,
        called at each of them, so its weights (and their gradients) are shared.
    inputs : list of (str, tuple of int)
        Each input's name and the shape of one of its samples, in order (an
        int for a number of features, as in older files, is taken as ``(n,)``).
    nodes : list of (str, str, list of str)
        For each node in topological order: its name, the key of its module
        in ``modules``, and the names of the nodes (or inputs) it is called on.
    outputs : list of str
        The names of the nodes that are the graph's outputs, in order.

    Notes
    -----
    ``forward`` takes one tensor per input (``module(x)``, ``module(x1, x2)``,
    or a list of them) and returns one tensor, or a tuple of one per output.
    """

    def __init__(
        self,
        modules: dict[str, nn.Module],
        inputs: Sequence[tuple[str, int | Sequence[int]]],
        nodes: Sequence[tuple[str, str, Sequence[str]]],
        outputs: Sequence[str],
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleDict(modules)
        self.inputs = [(str(name), check_shape(f"the shape of input {name}", shape)) for name, shape in inputs]
        self.nodes = [(str(name), str(key), tuple(args)) for name, key, args in nodes]
        self.outputs = list(outputs)
        known = {name for name, _ in self.inputs}
        for name, key, args in self.nodes:
            if key not in self.layers:
                raise ValueError(f"node {name} uses the module {key!r}, which is not among the modules")
            missing = [a for a in args if a not in known]
            if missing:
                raise ValueError(f"node {name} is called on {missing}, which come from no earlier node or input")
            known.add(name)
        unknown = [o for o in self.outputs if o not in known]
        if unknown or not self.outputs:
            raise ValueError(f"the outputs must be names of nodes or inputs, got {self.outputs} ({unknown} unknown)")

    def forward(self, *xs: Any) -> Any:
        if len(xs) == 1 and isinstance(xs[0], (list, tuple)):
            xs = tuple(xs[0])  # a list of inputs, as minnet's Graph.forward takes them
        if len(xs) != len(self.inputs):
            raise TypeError(
                f"this graph has {len(self.inputs)} input(s) "
                f"({', '.join(name for name, _ in self.inputs)}), got {len(xs)} tensor(s)"
            )
        values = {name: x for (name, _), x in zip(self.inputs, xs)}
        for name, key, args in self.nodes:
            values[name] = self.layers[key](*(values[a] for a in args))
        outputs = tuple(values[o] for o in self.outputs)
        return outputs[0] if len(outputs) == 1 else outputs

    def extra_repr(self) -> str:
        wiring = [f"{name} = layers.{key}({', '.join(args)})" for name, key, args in self.nodes]
        return f"inputs={[name for name, _ in self.inputs]}, outputs={self.outputs},\n" + "\n".join(wiring)


# -- minnet to torch --------------------------------------------------------------------


def to_torch(model: Layer, *, training: bool = True) -> nn.Module:
    """An equivalent ``torch.nn.Module``, with a copy of the weights and the layers' state.

    Parameters
    ----------
    model : Layer
        A :class:`~minnet.Sequential`, a :class:`~minnet.Graph` or one
        built-in layer; containers may nest.
    training : bool, default True
        The module's mode: True as PyTorch builds modules (``module(x)``
        computes ``model.forward(x)``: dropout on, batch statistics), False
        for ``module.eval()`` (``module(x)`` computes ``model.predict(x)``).

    Returns
    -------
    torch.nn.Module
        In the model's dtype (``torch.float32`` or ``torch.float64``), on
        the CPU: ``nn.Sequential`` for a Sequential, :class:`GraphModule`
        for a Graph, the twin of each layer (see the module's table). A
        frozen layer's parameters have ``requires_grad=False``.

    Raises
    ------
    TypeError
        Naming the first layer that has no PyTorch twin (a custom layer, or a
        subclass of a built-in one, whose forward may differ) and where it is.

    Examples
    --------
    >>> import numpy as np, torch, minnet as mn
    >>> from minnet.interop import to_torch
    >>> model = mn.Sequential(mn.Dense(3, 4, seed=0), mn.ReLU(), mn.Dense(4, 1, seed=1))
    >>> net = to_torch(model, training=False)
    >>> net
    Sequential(
      (0): Linear(in_features=3, out_features=4, bias=True)
      (1): ReLU()
      (2): Linear(in_features=4, out_features=1, bias=True)
    )
    >>> x = np.ones((2, 3))
    >>> bool(np.allclose(net(torch.from_numpy(x)).detach().numpy(), model.predict(x), rtol=1e-12))
    True
    """
    if not isinstance(training, bool):
        raise TypeError(f"training must be True or False, got {training!r}")
    if not isinstance(model, Layer):
        raise TypeError(
            f"to_torch converts a minnet Layer (a Sequential, a Graph or a layer), got {type(model).__name__}"
        )
    module = _to_module(model, {}, "the model")
    module.train(training)
    return module


def _to_module(layer: Layer, done: dict[int, nn.Module], where: str) -> nn.Module:
    """The twin of ``layer``; ``done`` maps layers already converted (a shared layer) to their module."""
    if id(layer) in done:
        return done[id(layer)]
    convert = _TO_TORCH.get(type(layer))  # the exact type: a subclass may compute something else
    if convert is None:
        raise TypeError(
            f"to_torch cannot convert {layer!r} ({where}): minnet knows no PyTorch module "
            f"computing a {type(layer).__qualname__}; it converts "
            f"{', '.join(sorted(cls.__name__ for cls in _TO_TORCH))}"
        )
    module = done[id(layer)] = convert(layer, done, where)
    if not layer.children() and not layer.trainable:  # a container's flag is its layers'
        module.requires_grad_(False)
    return module


def _tensor(array: np.ndarray) -> torch.Tensor:
    """A torch tensor holding a copy of ``array`` (same dtype): later training on either side is separate."""
    return torch.from_numpy(np.array(array, copy=True))


def _dense_to_torch(layer: layers.Dense, done: dict, where: str) -> nn.Module:
    linear = nn.Linear(layer.n_in, layer.n_out, bias=layer.b is not None, dtype=_DTYPES[layer.dtype])
    with torch.no_grad():
        linear.weight.copy_(_tensor(layer.W.value.T))  # minnet's x @ W is torch's x @ weight.T
        if layer.b is not None:
            linear.bias.copy_(_tensor(layer.b.value))
    return linear


def _conv_to_torch(layer: layers.Conv2D, done: dict, where: str) -> nn.Module:
    conv = nn.Conv2d(
        layer.in_channels,
        layer.out_channels,
        layer.kernel_size,
        stride=layer.stride,
        padding=layer.padding,
        bias=layer.b is not None,
        dtype=_DTYPES[layer.dtype],
    )
    with torch.no_grad():
        conv.weight.copy_(_tensor(layer.W.value))  # both (out, in, kh, kw)
        if layer.b is not None:
            assert conv.bias is not None  # made with bias=True above
            conv.bias.copy_(_tensor(layer.b.value))
    return conv


# Batch norm's twin by the layer's type: the same computation over a feature's or a channel's values.
_TORCH_NORMS: dict[type, type[nn.BatchNorm1d | nn.BatchNorm2d]] = {
    layers.BatchNorm: nn.BatchNorm1d,
    layers.BatchNorm2D: nn.BatchNorm2d,
}


def _batch_norm_to_torch(layer: layers.BatchNorm, done: dict, where: str) -> nn.Module:
    make = _TORCH_NORMS[type(layer)]
    norm = make(layer.n_features, eps=layer.eps, momentum=layer.momentum, dtype=_DTYPES[layer.dtype])
    # torch types the running statistics as optional; track_running_stats (the default) makes them
    assert norm.running_mean is not None and norm.running_var is not None and norm.num_batches_tracked is not None
    with torch.no_grad():
        norm.weight.copy_(_tensor(layer.gamma.value))
        norm.bias.copy_(_tensor(layer.beta.value))
        norm.running_mean.copy_(_tensor(layer.running_mean))
        norm.running_var.copy_(_tensor(layer.running_var))
        norm.num_batches_tracked.fill_(layer.num_batches_tracked)
    return norm


def _layer_norm_to_torch(layer: layers.LayerNorm, done: dict, where: str) -> nn.Module:
    norm = nn.LayerNorm(
        layer.normalized_shape,
        eps=layer.eps,
        elementwise_affine=layer.elementwise_affine,
        dtype=_DTYPES[layer.dtype],
    )
    if layer.weight is not None and layer.bias is not None:
        with torch.no_grad():
            norm.weight.copy_(_tensor(layer.weight.value))
            norm.bias.copy_(_tensor(layer.bias.value))
    return norm


def _sequential_to_torch(model: containers.Sequential, done: dict, where: str) -> nn.Module:
    return nn.Sequential(*(_to_module(layer, done, f"layer {i} of {where}") for i, layer in enumerate(model)))


def _graph_to_torch(model: graph.Graph, done: dict, where: str) -> nn.Module:
    key_of: dict[int, str] = {}  # a layer's key: the name of its first node, as minnet names layers
    modules: dict[str, nn.Module] = {}
    nodes = []
    for name, layer, args in model.nodes:
        if layer is None:
            continue
        if id(layer) not in key_of:
            key_of[id(layer)] = name
            modules[name] = _to_module(layer, done, f"node {name} of {where}")
        nodes.append((name, key_of[id(layer)], args))
    # every graph Input declares its shape, so none is dropped here
    inputs = [(name, shape) for name, shape in zip(model.input_names, model.input_shapes()) if shape is not None]
    return GraphModule(modules, inputs, nodes, model.output_names)


_TO_TORCH: dict[type, Callable[[Any, dict, str], nn.Module]] = {
    layers.Dense: _dense_to_torch,
    layers.Sigmoid: lambda layer, done, where: nn.Sigmoid(),
    layers.ReLU: lambda layer, done, where: nn.ReLU(),
    layers.Tanh: lambda layer, done, where: nn.Tanh(),
    layers.LeakyReLU: lambda layer, done, where: nn.LeakyReLU(layer.negative_slope),
    layers.Softmax: lambda layer, done, where: nn.Softmax(dim=layer.axis),
    layers.ELU: lambda layer, done, where: nn.ELU(layer.alpha),
    layers.Softplus: lambda layer, done, where: nn.Softplus(layer.beta, layer.threshold),
    layers.GELU: lambda layer, done, where: nn.GELU(approximate=layer.approximate),
    layers.LayerNorm: _layer_norm_to_torch,
    layers.Dropout: lambda layer, done, where: nn.Dropout(layer.p),
    layers.BatchNorm: _batch_norm_to_torch,
    layers.BatchNorm2D: _batch_norm_to_torch,
    layers.Conv2D: _conv_to_torch,
    layers.MaxPool2D: lambda layer, done, where: nn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding),
    layers.AvgPool2D: lambda layer, done, where: nn.AvgPool2d(layer.kernel_size, layer.stride, layer.padding),
    layers.GlobalAvgPool2D: lambda layer, done, where: GlobalAvgPool2d(),
    layers.Flatten: lambda layer, done, where: nn.Flatten(),
    layers.Reshape: lambda layer, done, where: Reshape(layer.shape),
    containers.Sequential: _sequential_to_torch,
    graph.Graph: _graph_to_torch,
    graph.Add: lambda layer, done, where: Add(),
    graph.Concat: lambda layer, done, where: Concat(layer.axis),
}


# -- torch to minnet --------------------------------------------------------------------


def from_torch(module: nn.Module) -> Layer:
    """The minnet model equivalent to a PyTorch module, with a copy of its weights and state.

    Parameters
    ----------
    module : torch.nn.Module
        An ``nn.Sequential`` (nested ones too) of ``nn.Linear``,
        ``nn.Sigmoid``, ``nn.ReLU``, ``nn.Tanh``, ``nn.LeakyReLU``,
        ``nn.Softmax`` (along the features), ``nn.ELU``, ``nn.Softplus``,
        ``nn.GELU``, ``nn.Dropout``, ``nn.BatchNorm1d``, ``nn.BatchNorm2d``,
        ``nn.LayerNorm``, ``nn.Conv2d``,
        ``nn.MaxPool2d``, ``nn.AvgPool2d``, ``nn.AdaptiveAvgPool2d(1)`` and
        ``nn.Flatten``, one of those modules alone, or a module made by
        :func:`to_torch` (a :class:`GraphModule` becomes a Graph again). Its
        mode (train or eval) does not matter: minnet decides it per call.

    Returns
    -------
    Layer
        A :class:`~minnet.Sequential`, :class:`~minnet.Graph` or layer, in
        the module's dtype (float32 or float64), its weights copied. A
        module whose parameters all have ``requires_grad=False`` becomes a
        frozen layer.

    Raises
    ------
    TypeError
        Naming the first module minnet has no layer for (``nn.Conv1d``, a
        custom module) and where it is, or a dtype other than float32/float64.
    ValueError
        For a module minnet has but not in that configuration (``nn.BatchNorm1d``
        without affine parameters or running statistics, ``nn.Softmax`` along
        the batch, ``nn.Dropout(p=1)``, an ``nn.Conv2d`` with ``dilation``,
        ``groups`` or a ``padding_mode`` other than zeros, a pooling with
        ``ceil_mode``: see docs/interop.md), or for what minnet cannot carry
        across exactly, naming the module and the reason: a hook (forward,
        forward pre-, backward, or a gradient hook on a parameter; or a global
        one, which runs on every module), a parametrization
        (``torch.nn.utils.parametrizations.weight_norm``, and the older
        ``torch.nn.utils.weight_norm`` and ``spectral_norm``), a ``forward``
        replaced on the instance, or weights on the ``meta`` device (shapes
        without values). A hook or parametrization may change what the module
        computes, so it is refused even where it would not: remove it first.

    Notes
    -----
    A module without parameters or buffers (``nn.ReLU()``, say) used at
    several places becomes a layer of its own at each: it holds nothing to
    share. A module with weights used twice is refused inside an
    ``nn.Sequential``, whose minnet twin cannot share a layer (build an
    :class:`~minnet.Graph`), and shared across the nodes of a
    :class:`GraphModule`.

    Examples
    --------
    >>> import torch, minnet as mn
    >>> from minnet.interop import from_torch
    >>> from_torch(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)))
    Sequential(
      Dense(3, 4, dtype=np.float32),
      Tanh(),
      Dense(4, 2, dtype=np.float32),
    )
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"from_torch converts a torch.nn.Module, got {type(module).__name__}")
    global_hooks = _global_hooks()
    if global_hooks:
        raise ValueError(
            f"from_torch cannot convert {module!r}: torch runs {global_hooks[0]} on every module's call, "
            f"which can change what the module computes and which minnet cannot carry; remove it "
            f"first (the handle that function returned has .remove())"
        )
    return _from_module(module, {}, "the module")


def _from_module(module: nn.Module, done: dict[int, Layer], where: str) -> Layer:
    """The minnet twin of ``module``; ``done`` maps modules with state already converted (shared) to their layer."""
    if id(module) in done:
        return done[id(module)]
    reason = _not_carried(module)
    if reason is not None:
        raise ValueError(f"from_torch cannot convert {module!r} ({where}): {reason}")
    convert = _FROM_TORCH.get(type(module))
    if convert is None:
        name = f"{type(module).__module__}.{type(module).__qualname__}"
        raise TypeError(
            f"from_torch cannot convert {name} ({where}): minnet has no layer for it; it converts "
            f"{', '.join(sorted(f'nn.{cls.__name__}' for cls in _FROM_TORCH if cls.__module__.startswith('torch.')))} "
            f"and modules made by to_torch"
        )
    try:
        layer = convert(module, done, where)
    except (TypeError, ValueError) as exc:
        if str(exc).startswith("from_torch"):  # already says which module, deeper down
            raise
        raise type(exc)(f"from_torch cannot convert {module!r} ({where}): {exc}") from None
    weights = list(module.parameters(recurse=False))
    if weights and not any(w.requires_grad for w in weights):  # frozen in torch: frozen here
        layer.trainable = False
    # A module with nothing to share becomes a layer per use, so reusing one nn.ReLU() converts.
    if _has_state(module):
        done[id(module)] = layer
    return layer


def _has_state(module: nn.Module) -> bool:
    return any(True for _ in module.parameters()) or any(True for _ in module.buffers())


# The hooks torch keeps on a module, and for every module, each with the function that registers it.
_MODULE_HOOKS = {
    "_forward_pre_hooks": "register_forward_pre_hook",
    "_forward_hooks": "register_forward_hook",
    "_backward_pre_hooks": "register_full_backward_pre_hook",
    "_backward_hooks": "register_full_backward_hook",
}
_GLOBAL_HOOKS = {
    "_global_forward_pre_hooks": "register_module_forward_pre_hook",
    "_global_forward_hooks": "register_module_forward_hook",
    "_global_backward_pre_hooks": "register_module_full_backward_pre_hook",
    "_global_backward_hooks": "register_module_full_backward_hook",
}
# The older reparametrizations, kept up to date by a forward pre-hook: what applies each, what undoes it.
_REPARAMETRIZATIONS = {
    WeightNorm: ("torch.nn.utils.weight_norm", "torch.nn.utils.remove_weight_norm"),
    SpectralNorm: ("torch.nn.utils.spectral_norm", "torch.nn.utils.remove_spectral_norm"),
}


def _hook_name(hook: Any) -> str:
    return getattr(hook, "__name__", type(hook).__name__)


def _global_hooks() -> list[str]:
    """The hooks torch runs on every module's call, described."""
    return [
        f"a global hook, {_hook_name(hook)} ({register})"
        for attribute, register in _GLOBAL_HOOKS.items()
        for hook in getattr(torch.nn.modules.module, attribute, {}).values()
    ]


def _not_carried(module: nn.Module) -> str | None:
    """Why ``module`` cannot be converted exactly, or None: what it computes is not its type and weights alone."""
    for reason in (_on_meta_device(module), _parametrized(module), _hooked(module)):
        if reason is not None:
            return reason
    return None


def _on_meta_device(module: nn.Module) -> str | None:
    for name, tensor in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
        if tensor.is_meta:
            return (
                f"its {name} is on the meta device, which holds shapes but no values; give it values "
                f"first (module.to_empty(device='cpu'), then initialise it or load a state_dict)"
            )
    return None


def _parametrized(module: nn.Module) -> str | None:
    if not parametrize.is_parametrized(module):
        return None
    assert isinstance(module.parametrizations, nn.ModuleDict)  # what is_parametrized checks for
    names = list(module.parametrizations)
    kinds = sorted({type(p).__name__ for plist in module.parametrizations.values() for p in plist.children()})
    return (
        f"its {', '.join(names)} is recomputed at each call by a parametrization ({', '.join(kinds)}), "
        f"which minnet cannot carry; make the values it computes now plain parameters first: "
        f"torch.nn.utils.parametrize.remove_parametrizations(module, {names[0]!r})"
    )


def _hooked(module: nn.Module) -> str | None:
    for attribute, register in _MODULE_HOOKS.items():
        for hook in getattr(module, attribute).values():
            if type(hook) in _REPARAMETRIZATIONS:
                applied, remover = _REPARAMETRIZATIONS[type(hook)]
                return (
                    f"{applied} recomputes its weight before each call, so the weight it holds now may be "
                    f"stale, and minnet cannot carry the reparametrization; apply {remover}(module) first"
                )
            return (
                f"it has a hook, {_hook_name(hook)} ({register}), which can change what it computes and "
                f"which minnet cannot carry; remove it first (the handle {register} returned has .remove())"
            )
    for name, parameter in module.named_parameters(recurse=False):
        if parameter._backward_hooks or getattr(parameter, "_post_accumulate_grad_hooks", None):
            return (
                f"its {name} has a gradient hook (register_hook or register_post_accumulate_grad_hook), which "
                f"can change its gradient and which minnet cannot carry; remove it first (its handle's .remove())"
            )
    if "forward" in vars(module):
        return "its forward was replaced on the instance (module.forward = ...), so it may compute anything"
    return None


def _dtype_of(tensor: torch.Tensor) -> np.dtype:
    dtype = _NUMPY_DTYPES.get(tensor.dtype)
    if dtype is None:
        raise TypeError(
            f"minnet computes in float32 or float64, the module holds {tensor.dtype}; "
            f"convert it first with module.float() or module.double()"
        )
    return dtype


def _array(tensor: torch.Tensor) -> np.ndarray:
    """A numpy copy of a tensor, wherever it lives (a module trained on a GPU comes back too)."""
    return tensor.detach().cpu().numpy().copy()


def _linear_from_torch(module: nn.Linear, done: dict, where: str) -> Layer:
    dense = layers.Dense(
        module.in_features, module.out_features, bias=module.bias is not None, dtype=_dtype_of(module.weight)
    )
    dense.W.value[...] = _array(module.weight).T
    if module.bias is not None:
        assert dense.b is not None  # made with bias=True above
        dense.b.value[...] = _array(module.bias)
    return dense


def _softmax_from_torch(module: nn.Softmax, done: dict, where: str) -> Layer:
    # dim=None is torch's old implicit choice, which for 2-D and 4-D batches is dim 1.
    if module.dim == 0:
        raise ValueError(
            "minnet's Softmax runs along an axis of the samples (dim=1: the features), this one along dim=0"
        )
    return layers.Softmax(axis=1 if module.dim is None else module.dim)


def _batch_norm_from_torch(module: nn.BatchNorm1d | nn.BatchNorm2d, done: dict, where: str) -> Layer:
    make = layers.BatchNorm2D if isinstance(module, nn.BatchNorm2d) else layers.BatchNorm
    if not module.affine:
        raise ValueError(f"minnet's {make.__name__} always learns a scale and a shift; this one has affine=False")
    if not module.track_running_stats:
        raise ValueError(
            f"minnet's {make.__name__} keeps running statistics for inference; this one has track_running_stats=False"
        )
    assert module.running_mean is not None and module.running_var is not None  # track_running_stats, checked above
    assert module.num_batches_tracked is not None
    dtype = _dtype_of(module.weight)
    norm = make(module.num_features, momentum=module.momentum, eps=module.eps, dtype=dtype)
    norm.gamma.value[...] = _array(module.weight)
    norm.beta.value[...] = _array(module.bias)
    norm.set_state(
        {
            "running_mean": _array(module.running_mean),
            "running_var": _array(module.running_var),
            "num_batches_tracked": int(module.num_batches_tracked),
        }
    )
    return norm


def _layer_norm_from_torch(module: nn.LayerNorm, done: dict, where: str) -> Layer:
    affine = module.elementwise_affine
    if affine and module.bias is None:
        raise ValueError("minnet's LayerNorm learns a scale and a shift together; this one has bias=False")
    dtype = _dtype_of(module.weight) if affine else np.float64  # without parameters, any input's dtype
    norm = layers.LayerNorm(module.normalized_shape, eps=module.eps, elementwise_affine=affine, dtype=dtype)
    if norm.weight is not None and norm.bias is not None:
        norm.weight.value[...] = _array(module.weight)
        norm.bias.value[...] = _array(module.bias)
    return norm


def _refuse_unlike(layer: str, settings: Sequence[tuple[str, Any, Any, str]]) -> None:
    """A ValueError for the first ``(attribute, its value, the one minnet has, what minnet does)`` that differs."""
    for attribute, value, supported, does in settings:
        if value != supported:
            raise ValueError(f"minnet's {layer} {does} ({attribute}={supported!r}); this one has {attribute}={value!r}")


def _conv_from_torch(module: nn.Conv2d, done: dict, where: str) -> Layer:
    _refuse_unlike(
        "Conv2D",
        [
            ("dilation", module.dilation, (1, 1), "has no dilation"),
            ("groups", module.groups, 1, "connects every input channel to every output channel"),
            ("padding_mode", module.padding_mode, "zeros", "pads with zeros"),
        ],
    )
    # torch types its pairs as tuple[int, ...]; Conv2D checks that they are pairs
    window: dict[str, Any] = dict(kernel_size=module.kernel_size, stride=module.stride, padding=module.padding)
    conv = layers.Conv2D(
        module.in_channels, module.out_channels, bias=module.bias is not None, dtype=_dtype_of(module.weight), **window
    )
    conv.W.value[...] = _array(module.weight)
    if module.bias is not None:
        assert conv.b is not None  # made with bias=True above
        conv.b.value[...] = _array(module.bias)
    return conv


_WHOLE_WINDOWS = "keeps only the windows that fit the padded input"


def _max_pool_from_torch(module: nn.MaxPool2d, done: dict, where: str) -> Layer:
    _refuse_unlike(
        "MaxPool2D",
        [
            ("dilation", as_pair("dilation", module.dilation, low=1), (1, 1), "has no dilation"),
            ("ceil_mode", module.ceil_mode, False, _WHOLE_WINDOWS),
            ("return_indices", module.return_indices, False, "returns the maxima alone"),
        ],
    )
    return layers.MaxPool2D(module.kernel_size, module.stride, module.padding)


def _avg_pool_from_torch(module: nn.AvgPool2d, done: dict, where: str) -> Layer:
    _refuse_unlike(
        "AvgPool2D",
        [
            ("ceil_mode", module.ceil_mode, False, _WHOLE_WINDOWS),
            ("count_include_pad", module.count_include_pad, True, "counts the padding in the mean"),
            ("divisor_override", module.divisor_override, None, "divides by the window's size"),
        ],
    )
    return layers.AvgPool2D(module.kernel_size, module.stride, module.padding)


def _adaptive_avg_pool_from_torch(module: nn.AdaptiveAvgPool2d, done: dict, where: str) -> Layer:
    if module.output_size not in (1, (1, 1)):
        raise ValueError(
            f"minnet's GlobalAvgPool2D averages each channel to one value (output_size=1); "
            f"this one has output_size={module.output_size!r}"
        )
    # (n, C, 1, 1) as torch gives it; followed by nn.Flatten() in a Sequential it becomes GlobalAvgPool2D alone.
    return containers.Sequential(layers.GlobalAvgPool2D(), layers.Reshape((-1, 1, 1)))


def _flatten_from_torch(module: nn.Flatten, done: dict, where: str) -> Layer:
    _refuse_unlike(
        "Flatten",
        [
            ("start_dim", module.start_dim, 1, "keeps the batch axis"),
            ("end_dim", module.end_dim, -1, "flattens each sample up to its last axis"),
        ],
    )
    return layers.Flatten()


def _sequential_from_torch(module: nn.Sequential, done: dict, where: str) -> containers.Sequential:
    converted: list[Layer] = []
    previous = None
    # Iterating the Sequential, not named_children(), which lists a module used twice only once.
    for i, child in enumerate(module):
        layer = _from_module(child, done, f"{i} of {where}")
        if type(previous) is nn.AdaptiveAvgPool2d and type(child) is nn.Flatten:
            converted[-1] = layers.GlobalAvgPool2D()  # the pooled (n, C, 1, 1) flattened: (n, C) in one layer
        else:
            converted.append(layer)
        previous = child
    return containers.Sequential(*converted)


def _global_avg_pool_from_torch(module: GlobalAvgPool2d, done: dict, where: str) -> Layer:
    pooled = _sequential_from_torch(module, done, where)
    if [type(layer) for layer in pooled] != [layers.GlobalAvgPool2D]:
        raise ValueError(
            f"it should hold nn.AdaptiveAvgPool2d(1) then nn.Flatten(), as to_torch makes it, "
            f"and holds {', '.join(type(m).__name__ for m in module)}"
        )
    return pooled[0]


def _graph_from_torch(module: GraphModule, done: dict, where: str) -> Layer:
    inputs = [graph.Input(shape, name=name) for name, shape in module.inputs]
    values: dict[str, graph.Node] = {name: node for (name, _), node in zip(module.inputs, inputs)}
    for name, key, args in module.nodes:
        layer = _from_module(module.layers[key], done, f"node {name} of {where}")
        nodes = [values[a] for a in args]
        values[name] = layer(nodes[0] if layer.n_inputs == 1 else nodes)
    return graph.Graph(inputs=inputs, outputs=[values[o] for o in module.outputs])


_FROM_TORCH: dict[type, Callable[[Any, dict, str], Layer]] = {
    nn.Linear: _linear_from_torch,
    nn.Sigmoid: lambda module, done, where: layers.Sigmoid(),
    nn.ReLU: lambda module, done, where: layers.ReLU(),
    nn.Tanh: lambda module, done, where: layers.Tanh(),
    nn.LeakyReLU: lambda module, done, where: layers.LeakyReLU(module.negative_slope),
    nn.Softmax: _softmax_from_torch,
    nn.ELU: lambda module, done, where: layers.ELU(module.alpha),
    nn.Softplus: lambda module, done, where: layers.Softplus(module.beta, module.threshold),
    nn.GELU: lambda module, done, where: layers.GELU(module.approximate),
    nn.LayerNorm: _layer_norm_from_torch,
    nn.Dropout: lambda module, done, where: layers.Dropout(module.p),
    nn.BatchNorm1d: _batch_norm_from_torch,
    nn.BatchNorm2d: _batch_norm_from_torch,
    nn.Conv2d: _conv_from_torch,
    nn.MaxPool2d: _max_pool_from_torch,
    nn.AvgPool2d: _avg_pool_from_torch,
    nn.AdaptiveAvgPool2d: _adaptive_avg_pool_from_torch,
    nn.Flatten: _flatten_from_torch,
    nn.Sequential: _sequential_from_torch,
    GlobalAvgPool2d: _global_avg_pool_from_torch,
    Reshape: lambda module, done, where: layers.Reshape(module.shape),
    GraphModule: _graph_from_torch,
    Add: lambda module, done, where: graph.Add(),
    Concat: lambda module, done, where: graph.Concat(module.dim),
}
