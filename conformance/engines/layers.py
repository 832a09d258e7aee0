"""Layer-function engines: a module of `NAME_forward` / `NAME_backward` functions over numpy
arrays (the convention of most course assignments), run on a `LayerSpec`.

An engine is named `layers:FILE.py`, `layers:MODULE`, `layers:refimpl`, or `layers:MAP.toml`: a
small table for modules whose names or argument orders differ:

    module = "my_layers.py"        # relative to the table's folder, or a module name
    [affine]
    forward = "fc_forward"         # default: affine_forward
    backward = "fc_backward"       # default: affine_backward
    args = ["x", "w", "b"]         # the forward's inputs, in its order (default: the same)
    [dropout]
    p = "drop"                     # dropout_param["p"] is the drop probability (default: keep)

A module may carry the same table as a dict, `CONFORMANCE_LAYERS`.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import sys
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from conformance.core.tensors import LAYER_PREFIX, LAYERS, MODELS, LayerSpec, TensorResult
from conformance.engines.errors import EngineLoadError

try:
    import tomllib
except ImportError:  # Python 3.10: a layer table in the module (CONFORMANCE_LAYERS) still works
    tomllib = None  # type: ignore[assignment]

__all__ = ["LayerEngine", "load_layer_engine"]

TABLE_ATTR = "CONFORMANCE_LAYERS"


@dataclass(frozen=True)
class Binding:
    """How one layer is called in this engine: its functions and the forward's argument order."""

    forward: Any
    backward: Any
    args: tuple[str, ...]
    options: dict


class LayerEngine:
    """Runs each layer case through the module's functions; a layer it lacks is `skip`."""

    def __init__(self, module: ModuleType, table: dict, name: str) -> None:
        self.name = name
        self.bindings: dict[str, Binding] = {}
        self.missing: dict[str, str] = {}
        _check_table(table)
        for layer, spec in LAYERS.items():
            entry = table.get(layer, {})
            fwd_name, bwd_name = spec.names(layer)
            fwd_name = str(entry.get("forward", fwd_name))
            bwd_name = str(entry.get("backward", bwd_name))
            forward = getattr(module, fwd_name, None)
            backward = getattr(module, bwd_name, None) if bwd_name else None
            if not callable(forward) or (not spec.loss and not callable(backward)):
                wanted = fwd_name if spec.loss else f"{fwd_name} and {bwd_name}"
                self.missing[layer] = f"the engine has no {wanted}"
                continue
            args = tuple(str(a) for a in entry.get("args", spec.inputs))
            if sorted(args) != sorted(spec.inputs):
                raise EngineLoadError(
                    f"the layer table's args for {layer} must name {', '.join(spec.inputs)}"
                )
            options = {k: v for k, v in entry.items() if k not in ("forward", "backward", "args")}
            self.bindings[layer] = Binding(forward, backward, args, options)

    def run(self, spec: LayerSpec) -> TensorResult:
        """The engine's output and gradients for `spec`; errors become data. numpy's warnings
        (an overflow in float16) are not errors: the numbers they warn of are judged."""
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return self._run(spec)

    def _run(self, spec: LayerSpec) -> TensorResult:
        if spec.layer in self.missing:
            return TensorResult(skip=f"missing: {self.missing[spec.layer]}")
        bind = self.bindings[spec.layer]
        layer = LAYERS[spec.layer]
        arrays = spec.arrays()
        given = {k: v.copy() for k, v in arrays.items()}  # the engine may write into them
        settings = _settings(spec, arrays, bind)
        args = [given[a] for a in bind.args]
        if layer.param is not None:
            args.append(settings)
        fwd = layer.names(spec.layer)[0]
        if spec.layer in MODELS:
            return _run_model(spec, bind.forward, given, fwd)
        try:
            got = bind.forward(*args)
        except Exception as exc:
            return TensorResult(error=f"{fwd} raised {_describe(exc)}")
        if not isinstance(got, tuple | list) or len(got) != 2:
            what = "(loss, dx)" if layer.loss else "(out, cache)"
            return TensorResult(error=f"{fwd} returned {_kind(got)}, not {what}")
        out, second = got
        out = _array(out)  # a copy, before the backward may change its cache (the output) in place
        if layer.loss:
            return TensorResult(out=out, grads={"dx": _array(second)})
        extra = _extra(spec, settings)
        bwd = layer.names(spec.layer)[1]
        try:
            back = bind.backward(given["dout"].copy(), second)
        except Exception as exc:
            return TensorResult(out=out, extra=extra, error=f"{bwd} raised {_describe(exc)}")
        if len(layer.grads) == 1 and not isinstance(back, tuple | list):
            back = (back,)
        if not isinstance(back, tuple | list) or len(back) != len(layer.grads):
            return TensorResult(
                out=out, extra=extra,
                error=f"{bwd} returned {_kind(back)}, not {len(layer.grads)} "
                f"{'arrays' if len(layer.grads) > 1 else 'array'} ({', '.join(layer.grads)})",
            )  # fmt: skip
        # The backward returns the gradients in the forward's argument order.
        by_input = dict(zip(bind.args, back))
        grads = {f"d{name}": _array(by_input[name]) for name in layer.inputs if name != "y"}
        return TensorResult(out=out, grads=grads, extra=extra)


_TABLE_KEYS = {"forward": str, "backward": str, "args": list, "p": str}


def _check_table(table: dict) -> None:
    """A layer table's mistakes, one line each: an unknown layer or key, a value of the wrong
    kind (EngineLoadError)."""
    for layer, entry in table.items():
        if layer not in LAYERS:
            raise EngineLoadError(
                f"the layer table names {layer!r}, not a layer: one of {', '.join(LAYERS)}"
            )
        if not isinstance(entry, dict):
            raise EngineLoadError(f"the layer table's entry for {layer} must be a table")
        for key, value in entry.items():
            kind = _TABLE_KEYS.get(key)
            if kind is None:
                raise EngineLoadError(
                    f"the layer table's [{layer}] has {key!r}: its keys are "
                    f"{', '.join(_TABLE_KEYS)}"
                )
            if not isinstance(value, kind) or (kind is list and not all(
                isinstance(a, str) for a in value
            )):  # fmt: skip
                want = "a list of input names" if kind is list else "a string"
                raise EngineLoadError(f"the layer table's [{layer}] {key} must be {want}")
        if "p" in entry and (layer != "dropout" or entry["p"] not in ("drop", "keep")):
            raise EngineLoadError('only [dropout] takes p, "keep" (the default) or "drop"')


def _run_model(spec: LayerSpec, cls, given: dict, name: str) -> TensorResult:
    """A model class: built, its parameters set to the case's, then `loss(X, y)`; with a
    `steps` setting, that many SGD steps more (the engine's gradients), each step's loss kept."""
    c = dict(spec.config)
    d, h = given["W1"].shape
    classes = given["W2"].shape[1]
    try:
        model = cls(input_dim=d, hidden_dim=h, num_classes=classes, reg=float(c.get("reg", 0.0)))
        params = model.params
        for k in ("W1", "b1", "W2", "b2"):
            params[k] = given[k].copy()
        got = model.loss(given["x"].copy(), given["y"].copy())
    except Exception as exc:
        return TensorResult(error=f"{name} raised {_describe(exc)}")
    if not isinstance(got, tuple | list) or len(got) != 2 or not isinstance(got[1], dict):
        return TensorResult(error=f"{name}.loss returned {_kind(got)}, not (loss, grads)")
    result = _model_result(got[0], got[1])
    steps, lr = int(c.get("steps", 0)), float(c.get("lr", 0.1))
    if not steps or result.error:
        return result
    losses = []
    try:
        for _ in range(steps):
            _, grads = model.loss(given["x"].copy(), given["y"].copy())
            for k in ("W1", "b1", "W2", "b2"):  # in the parameters' own dtype
                step = lr * np.asarray(grads[k], dtype=np.float64)
                params[k] = (params[k] - step).astype(params[k].dtype)
            losses.append(float(model.loss(given["x"].copy(), given["y"].copy())[0]))
    except Exception as exc:
        return replace(result, error=f"training {name} raised {_describe(exc)}")
    return replace(result, extra={"losses": np.array(losses)})


def _model_result(loss, grads) -> TensorResult:
    if not isinstance(grads, dict):
        return TensorResult(out=_array(loss), error=f"grads is {_kind(grads)}, not a dict")
    return TensorResult(
        out=_array(loss), grads={f"d{k}": _array(grads.get(k)) for k in ("W1", "b1", "W2", "b2")}
    )


def _settings(spec: LayerSpec, arrays: dict, bind: Binding) -> dict:
    settings = spec.settings()
    if spec.layer == "batchnorm":
        settings["running_mean"] = arrays["running_mean"].copy()
        settings["running_var"] = arrays["running_var"].copy()
    if spec.layer == "dropout" and bind.options.get("p") == "drop":
        settings["p"] = 1.0 - float(settings["p"])
    return settings


def _extra(spec: LayerSpec, settings: dict) -> dict:
    if spec.layer != "batchnorm":
        return {}
    return {k: _array(settings.get(k)) for k in ("running_mean", "running_var")}


def _array(x: object) -> object:
    """A float64 array of what the engine gave, or the thing itself when it is not one (the
    checker says what it was)."""
    if isinstance(x, np.ndarray | float | int | np.floating | np.integer) and not isinstance(
        x, bool
    ):
        try:
            return np.array(x, dtype=np.float64)
        except (TypeError, ValueError):  # an array of strings or objects
            return x
    return x


def _describe(exc: BaseException) -> str:
    """The exception in one short line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def _kind(x: object) -> str:
    if isinstance(x, tuple | list):
        return f"{len(x)} values"
    return type(x).__name__


def load_layer_engine(name: str) -> LayerEngine:
    """The engine `layers:TARGET`: refimpl's layers, a file, a module, or a TOML table."""
    target = name[len(LAYER_PREFIX) :]
    table: dict = {}
    if target == "refimpl":
        module = importlib.import_module("refimpl.layers")
    elif target.endswith(".toml"):
        path = Path(target)
        if tomllib is None:
            raise EngineLoadError("a TOML layer table needs Python 3.11: use CONFORMANCE_LAYERS")
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise EngineLoadError(f"cannot read the layer table {target!r}: {exc}") from None
        inner = table.pop("module", None)
        if not isinstance(inner, str) or not inner:
            raise EngineLoadError(f"the layer table {target!r} has no `module = ...` line")
        module = _module(inner, path.parent)
    else:
        module = _module(target, Path.cwd())
        attached = getattr(module, TABLE_ATTR, None)
        table = copy.deepcopy(attached) if isinstance(attached, dict) else {}
    engine = LayerEngine(module, table, name)
    if not engine.bindings:
        raise EngineLoadError(
            f"{target!r} has none of the layer functions (affine_forward, relu_forward, ...): "
            "name them in a layer table (see the README)"
        )
    return engine


def _module(target: str, folder: Path) -> ModuleType:
    if target.endswith(".py"):
        path = (folder / target).resolve()
        if not path.is_file():
            raise EngineLoadError(f"no such file: {str(path)!r}")
        spec = importlib.util.spec_from_file_location(f"_layers_{abs(hash(path))}", path)
        if spec is None or spec.loader is None:
            raise EngineLoadError(f"cannot import {str(path)!r}")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.parent))  # its own helpers beside it
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise EngineLoadError(
                f"importing {str(path)!r} raised {type(exc).__name__}: {exc}"
            ) from None
        return module
    try:
        return importlib.import_module(target)
    except ImportError as exc:
        raise EngineLoadError(
            f"cannot import {target!r}: {exc}; is it installed, or on PYTHONPATH?"
        ) from None
    except Exception as exc:
        raise EngineLoadError(f"cannot import {target!r}: {type(exc).__name__}: {exc}") from None
