"""Engines: the one under test (by name) and torch, each with `run(spec) -> EngineResult`."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path
from typing import Any

from conformance.engines.errors import EngineLoadError
from conformance.engines.function import FunctionEngine
from conformance.engines.result import EngineResult
from conformance.engines.scalar import ScalarClassEngine

__all__ = ["BUILTIN_ENGINES", "COMMAND_PREFIX", "EngineLoadError", "EngineResult", "load_engine"]

BUILTIN_ENGINES = ("refimpl", "torch", "micrograd")
COMMAND_PREFIX = "command:"  # --engine-command CMD is the engine "command:CMD"


def load_engine(name: str) -> Any:
    """The engine called `name`: refimpl, torch, micrograd, MODULE:ATTR or FILE.py:ATTR naming a
    scalar class (or a function engine), or command:CMD for a process speaking the protocol."""
    if name == "refimpl":
        from refimpl import Value
        from refimpl.nn import SGD

        return ScalarClassEngine(Value, "refimpl", lambda params, lr: SGD(params, lr).step())
    if name == "torch":
        from conformance.engines.torch_engine import TorchEngine

        return TorchEngine()
    if name == "micrograd":
        return ScalarClassEngine(_import_attr("micrograd.engine", "Value", name), "micrograd")
    if name.startswith(COMMAND_PREFIX):
        from conformance.engines.process import ProcessEngine

        return ProcessEngine(name[len(COMMAND_PREFIX) :])
    module, sep, attr = name.rpartition(":")
    if not sep or not module or not attr:
        raise EngineLoadError(
            f"unknown engine {name!r}: use one of {', '.join(BUILTIN_ENGINES)}, MODULE:ATTR or "
            "path/to/file.py:ATTR"
        )
    if module.endswith(".py") or os.sep in module or "/" in module:
        obj = _load_from_file(Path(module), attr, name)
    else:
        obj = _import_attr(module, attr, name)
    if inspect.isclass(obj):
        return ScalarClassEngine(obj, name)
    return FunctionEngine(obj, name)


def _load_from_file(path: Path, attr: str, name: str) -> Any:
    """ATTR from a single Python file, imported under a private module name."""
    if not path.is_file():
        raise EngineLoadError(f"engine file {str(path)!r} does not exist")
    module_name = (
        "conformance_engine_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    )
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise EngineLoadError(f"{str(path)!r} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))  # its own helper modules, beside it
    try:
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except Exception as exc:
        raise EngineLoadError(
            f"running {str(path)!r} for engine {name!r} raised {type(exc).__name__}: {exc}"
        ) from None
    except SystemExit:
        raise EngineLoadError(f"{str(path)!r} called exit() while being imported") from None
    return _attr(module, attr, name, str(path))


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
    return _attr(mod, attr, name, module)


def _attr(mod: Any, attr: str, name: str, where: str) -> Any:
    obj = mod
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise EngineLoadError(f"module {where!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise EngineLoadError(f"{name!r} is neither a class nor a function: {type(obj).__name__}")
    return obj
