"""Collection settings for the whole tree (the tests and the doctests of minnet's modules).

minnet's modules that bridge to optional packages import them at the top;
where a package is absent, their doctests are not collected (their tests in
tests/ skip themselves with ``pytest.importorskip``).
"""

from __future__ import annotations

import importlib.util


def _missing(*packages: str) -> bool:
    return any(importlib.util.find_spec(name) is None for name in packages)


# Paths are relative to this file.
collect_ignore = [
    path
    for path, packages in [
        ("minnet/interop/pytorch.py", ("torch",)),
        ("minnet/interop/onnx_export.py", ("onnx", "onnxruntime")),
        ("minnet/sklearn.py", ("sklearn",)),
    ]
    if _missing(*packages)
]
