"""Engines: the one under test (by name) and torch, each with `run(spec) -> EngineResult`."""

from __future__ import annotations

import importlib
from typing import Any

from conformance.engines.errors import EngineLoadError
from conformance.engines.result import EngineResult
from conformance.engines.scalar import ScalarClassEngine

__all__ = ["BUILTIN_ENGINES", "EngineLoadError", "EngineResult", "load_engine"]

BUILTIN_ENGINES = ("refimpl", "torch", "micrograd")


def load_engine(name: str) -> Any:
    """The engine called `name`: refimpl, torch, micrograd, or MODULE:ATTR naming a scalar class."""
    if name == "refimpl":
        from refimpl import Value
        from refimpl.nn import SGD

        return ScalarClassEngine(Value, "refimpl", lambda params, lr: SGD(params, lr).step())
    if name == "torch":
        from conformance.engines.torch_engine import TorchEngine

        return TorchEngine()
    if name == "micrograd":
        return ScalarClassEngine(_import_attr("micrograd.engine", "Value", name), "micrograd")
    module, sep, attr = name.partition(":")
    if not sep or not module or not attr:
        raise EngineLoadError(
            f"unknown engine {name!r}: use one of {', '.join(BUILTIN_ENGINES)} or MODULE:ATTR"
        )
    return ScalarClassEngine(_import_attr(module, attr, name), name)


def _import_attr(module: str, attr: str, name: str) -> Any:
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise EngineLoadError(
            f"cannot import {module!r} for engine {name!r}: {exc}; "
            "is it installed, or on PYTHONPATH?"
        ) from None
    except Exception as exc:
        raise EngineLoadError(
            f"importing {module!r} for engine {name!r} raised {type(exc).__name__}: {exc}"
        ) from None
    obj = mod
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise EngineLoadError(f"module {module!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise EngineLoadError(f"{name!r} is not a class: {type(obj).__name__}")
    return obj
