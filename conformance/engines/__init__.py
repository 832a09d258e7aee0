"""Stage 2, who computes: the engine under test (loaded by name, probed, run in workers with time
limits) and torch, each with `run(spec) -> EngineResult`."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path
from typing import Any

from conformance.core.dtypes import DTYPES
from conformance.core.result import EngineResult
from conformance.core.tensor_graph import TENSOR_PREFIX, is_tensor_engine
from conformance.core.tensors import LAYER_PREFIX, is_layer_engine
from conformance.engines.errors import EngineLoadError
from conformance.engines.function import FunctionEngine
from conformance.engines.scalar import ScalarClassEngine

__all__ = [
    "BUILTIN_ENGINES",
    "COMMAND_PREFIX",
    "EngineLoadError",
    "EngineResult",
    "declared_dtype",
    "engine_file",
    "load_engine",
    "portable_engine_name",
    "where_to_import",
]

BUILTIN_ENGINES = (
    "refimpl", "refimpl-float32", "refimpl-float16", "refimpl-bfloat16", "torch", "micrograd",
)  # fmt: skip
COMMAND_PREFIX = "command:"  # --engine-command CMD is the engine "command:CMD"


def load_engine(name: str) -> Any:
    """The engine called `name`: refimpl, torch, micrograd, MODULE:ATTR or FILE.py:ATTR naming a
    scalar class (or a function engine), or command:CMD for a process speaking the protocol."""
    if name == "refimpl":
        from refimpl import Value
        from refimpl.nn import SGD

        return ScalarClassEngine(Value, "refimpl", lambda params, lr: SGD(params, lr).step())
    if name in ("refimpl-float32", "refimpl-float16", "refimpl-bfloat16"):  # with --dtype
        from refimpl import float32

        classes = {"float32": float32.Value, "float16": float32.Value16}
        classes["bfloat16"] = float32.ValueBF16
        return ScalarClassEngine(classes[name.split("-")[1]], name)
    if name == "torch":
        from conformance.engines.torch_engine import TorchEngine

        return TorchEngine()
    if name == "micrograd":
        return ScalarClassEngine(_import_attr("micrograd.engine", "Value", name), "micrograd")
    if is_layer_engine(name):
        from conformance.engines.layers import load_layer_engine

        return load_layer_engine(name)
    if is_tensor_engine(name):
        from conformance.engines.tensor_class import load_tensor_engine

        return load_tensor_engine(name)
    if name.startswith(COMMAND_PREFIX):
        from conformance.engines.process import ProcessEngine

        return ProcessEngine(name[len(COMMAND_PREFIX) :])
    module, sep, attr = name.rpartition(":")
    if not sep or not module or not attr:
        raise EngineLoadError(
            f"unknown engine {name!r}: use one of {', '.join(BUILTIN_ENGINES)}, MODULE:ATTR or "
            "path/to/file.py:ATTR"
        )
    file = engine_file(name)
    if file is not None:
        obj = _load_from_file(file[0], attr, name)
    else:
        obj = _import_attr(module, attr, name)
    if inspect.isclass(obj):
        return ScalarClassEngine(obj, name)
    return FunctionEngine(obj, name)


def declared_dtype(engine: Any) -> str | None:
    """The precision an engine says it computes in: a `dtype` attribute on its Value class or
    function ("float32", ...), or the protocol handshake's "dtype"; None when it says nothing."""
    found = getattr(engine, "dtype", None)
    for owner in ("cls", "fn"):
        if found is None:
            found = getattr(getattr(engine, owner, None), "dtype", None)
    return found if isinstance(found, str) and found in DTYPES else None


def engine_file(name: str) -> tuple[Path, str] | None:
    """(file, ATTR) for an engine named `path/to/file.py:ATTR`; None for any other name."""
    if (
        name in BUILTIN_ENGINES
        or name.startswith(COMMAND_PREFIX)
        or is_layer_engine(name)
        or (is_tensor_engine(name))
    ):
        return None
    module, sep, attr = name.rpartition(":")
    if not sep or not module or not attr:
        return None
    if module.endswith(".py") or os.sep in module or "/" in module:
        return Path(module), attr
    return None


def portable_engine_name(name: str) -> str:
    """The engine's name with a file engine's path made absolute: it loads from any folder."""
    if is_layer_engine(name) or is_tensor_engine(name):  # the file made absolute
        prefix = LAYER_PREFIX if is_layer_engine(name) else TENSOR_PREFIX
        target = name[len(prefix) :]
        if target.startswith(COMMAND_PREFIX):
            return name
        path, sep, attr = target.rpartition(":")
        if prefix == TENSOR_PREFIX and sep and path.endswith(".py") and attr.isidentifier():
            return f"{prefix}{Path(path).resolve()}:{attr}"  # a Tensor class or function in a file
        if target.endswith((".py", ".toml")):
            return prefix + str(Path(target).resolve())
        try:  # a module: its file, found from here, loads from any folder
            found = importlib.util.find_spec(target) if target != "refimpl" else None
        except (ImportError, ValueError):
            found = None
        origin = getattr(found, "origin", None)
        return prefix + origin if origin and origin.endswith(".py") else name
    file = engine_file(name)
    return name if file is None else f"{file[0].resolve()}:{file[1]}"


def where_to_import(path: Path) -> tuple[Path, str | None]:
    """(the folder that goes on sys.path, the dotted module name) for a Python file.

    Inside a package (its folder has an `__init__.py`), the root is the first folder up without
    one and the name is dotted from there (`mypkg.engine`), so the file's own imports of its
    package, absolute or relative, work. A lone file: its folder and no name.
    """
    path = path.resolve()
    parts = [] if path.name == "__init__.py" else [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        parts.insert(0, folder.name)
        folder = folder.parent
    inside = len(parts) > (0 if path.name == "__init__.py" else 1)
    if not inside or not all(part.isidentifier() for part in parts):
        return path.parent, None
    return folder, ".".join(parts)


def _load_from_file(path: Path, attr: str, name: str) -> Any:
    """ATTR from a Python file: under its dotted name inside a package, else a private name."""
    if not path.is_file():
        raise EngineLoadError(f"engine file {str(path)!r} does not exist")
    root, dotted = where_to_import(path)
    # Its own helper modules beside it, and its package from the root: no PYTHONPATH needed.
    sys.path[:0] = [str(path.resolve().parent)] + ([str(root)] if dotted else [])
    try:
        module = _import_package_module(dotted, path) if dotted else None
        if module is None:
            module = _exec_file(path)
    except EngineLoadError:
        raise
    except Exception as exc:
        raise EngineLoadError(
            f"running {str(path)!r} for engine {name!r} raised {type(exc).__name__}: {exc}"
        ) from None
    except SystemExit:
        raise EngineLoadError(f"{str(path)!r} called exit() while being imported") from None
    return _attr(module, attr, name, str(path))


def _import_package_module(dotted: str, path: Path) -> Any:
    """The module `dotted` when that name is this very file; None when it names another (a
    package of the same name found first): the file is then run under a private name."""
    heads = {".".join(dotted.split(".")[: k + 1]) for k in range(dotted.count(".") + 1)}
    try:
        module = importlib.import_module(dotted)
    except ModuleNotFoundError as exc:
        if exc.name in heads:  # the name leads to another package, not to this file
            return None
        raise  # a module the file itself imports is missing: its own error
    where = getattr(module, "__file__", None)
    return module if where and Path(where).resolve() == path.resolve() else None


def _exec_file(path: Path) -> Any:
    module_name = (
        "conformance_engine_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    )
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise EngineLoadError(f"{str(path)!r} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


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
