"""minnet models outside minnet: PyTorch modules and ONNX files.

* :func:`~minnet.interop.pytorch.to_torch` turns a :class:`~minnet.Sequential`
  or :class:`~minnet.Graph` into an equivalent ``torch.nn.Module`` (to train
  it further with PyTorch, on a GPU or with ``DistributedDataParallel``), and
  :func:`~minnet.interop.pytorch.from_torch` brings such a module back
  (:mod:`minnet.interop.pytorch`).
* :func:`~minnet.interop.onnx_export.to_onnx` writes a model to an ONNX file
  that ONNX Runtime, or any other ONNX engine, runs
  (:mod:`minnet.interop.onnx_export`).

Import them from here: ``from minnet.interop import to_torch, from_torch, to_onnx``.

The scikit-learn estimators live in :mod:`minnet.sklearn`. Each road needs
its optional package (``pip install "minnet[torch]"``, ``"minnet[onnx]"``,
``"minnet[sklearn]"``). Importing this module needs none of them: each
function is loaded, with its package, when it is first asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["from_torch", "to_onnx", "to_torch"]

# Where each function lives, and the optional package that module imports.
_HOMES = {"to_torch": (".pytorch", "torch"), "from_torch": (".pytorch", "torch"), "to_onnx": (".onnx_export", "onnx")}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, extra = _HOMES[name]
    try:
        home = importlib.import_module(module, __name__)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != extra:
            raise
        # Still a ModuleNotFoundError naming the package, for code that tells a missing peer from a bug.
        raise ModuleNotFoundError(
            f"minnet.interop.{name} needs the optional package {extra!r}, which is not "
            f'installed: pip install "minnet[{extra}]"',
            name=exc.name,
        ) from exc
    return getattr(home, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
