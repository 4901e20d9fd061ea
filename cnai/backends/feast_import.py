"""Feast, imported without typeguard instrumenting it, and without PyTorch.

`import feast` is paid by the features step and by every model server that reads Feast's online
store (BENCHMARKS.md, time-to-model); two things made it slow:
- Feast decorates its classes with typeguard's `@typechecked`, and typeguard 4 parses and
  compiles a module's source again for every function it decorates, while the module is imported
  (agronholm/typeguard#468). Its checks only guard calls made with wrong types: the packaged repo's
  are built from a cnai.yaml that was already checked, and a team's own repo is imported with them
  (`instrumented=True`; the model server reads a repo the features step already applied).
- `feast.torch_wrapper` imports PyTorch when it is installed (the torch extra), for Feast's
  `to_tensor` and RAG retriever, which no step calls: here those say PyTorch is not available.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType


def _unchecked(target=None, **_options):
    return target if target is not None else (lambda decorated: decorated)


def _typeguard() -> ModuleType | None:
    try:
        import typeguard
    except ImportError:  # a Feast without typeguard has nothing to skip
        return None
    return typeguard


def import_feast(*submodules: str, instrumented: bool = False) -> ModuleType:
    """`feast` (and `feast.<submodule>` for each name given), each imported once per process: the
    first import decides whether typeguard checks Feast's calls (`instrumented`)."""
    names = ["feast", *(f"feast.{name}" for name in submodules)]
    if all(name in sys.modules for name in names):
        return sys.modules["feast"]
    typeguard = None if instrumented else _typeguard()
    instrumenting = typeguard.typechecked if typeguard else None
    if typeguard:
        typeguard.typechecked = _unchecked  # read by each Feast module as it is imported, then put back
    hide_torch = "torch" not in sys.modules
    if hide_torch:
        sys.modules["torch"] = None  # an ImportError for feast.torch_wrapper alone, then taken back
    try:
        for name in names:
            importlib.import_module(name)
    finally:
        if typeguard:
            typeguard.typechecked = instrumenting
        if hide_torch and sys.modules.get("torch", ...) is None:
            del sys.modules["torch"]
    return sys.modules["feast"]
