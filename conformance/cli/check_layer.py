"""`python -m conformance check --layer NAME --shapes x=4x5,w=5x3`: one layer, one quick look.

The layer runs on random inputs of the shapes given (the others follow from them, or from the
layer's tiny fixed case), in a worker process like any engine call, and the rows are the layers
suite's own: the output, each gradient, the sign-and-update rows, with their hints."""

from __future__ import annotations

import argparse
import math
import shlex
import sys

from conformance.core.options import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from conformance.core.pipes import reader_may_leave
from conformance.core.safetext import safe_text

__all__ = ["call_once", "check_layer_command", "layer_spec"]


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise ValueError(f"{text!r} is not a shape like 4x5") from None
    if not dims or any(d < 1 or d > 4096 for d in dims) or math.prod(dims) > 1_000_000:
        raise ValueError(f"{text!r}: each size from 1 to 4096, at most 1,000,000 elements")
    return dims


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in ",".join(items).split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValueError(f"--{what} takes NAME=VALUE pairs, not {item!r}")
        out[name.strip()] = value.strip()
    return out


def _number(key: str, text: str) -> int | float:
    """A setting's number as written: whole numbers stay whole (a stride of 1.7 is refused by
    the spec's checks, not cut to 1)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--config {key}={text!r} is not a number") from None
    return int(value) if value.is_integer() and "." not in text else value


def call_once(engine: str, spec, timeout: float) -> tuple[object | None, int]:
    """The engine's result for one spec, from a worker process; (None, the exit code) when it
    cannot load (said in one line) or the user interrupts."""
    from conformance.engines import EngineLoadError
    from conformance.engines.pool import EnginePool

    pool = EnginePool(engine, jobs=1, timeout=timeout)
    try:
        pool.start()
        return pool.call(spec), EXIT_OK
    except EngineLoadError as exc:
        print(safe_text(f"conformance: error: {exc}"), file=sys.stderr)
        return None, EXIT_USAGE
    except KeyboardInterrupt:
        print("conformance: interrupted", file=sys.stderr)
        return None, EXIT_INTERRUPTED
    finally:
        pool.close()


def layer_spec(layer: str, shapes: list[str], config: list[str], seed: int):
    """The LayerSpec for `check --layer`: the shapes given, the rest derived; ValueError (one
    line) for a layer, name or shape that does not fit."""
    from conformance.cases.layers import _fixed
    from conformance.core.tensors import LAYERS, LayerSpec, check_x

    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}: one of {', '.join(LAYERS)}")
    base = _fixed(layer)
    given = {k: _shape(v) for k, v in _pairs(shapes, "shapes").items()}
    unknown = [k for k in given if k not in LAYERS[layer].inputs]
    if unknown:
        raise ValueError(
            f"{layer} has no input {', '.join(unknown)}: its inputs are "
            f"{', '.join(LAYERS[layer].inputs)}"
        )
    sizes = dict(base.shapes) | given
    x = sizes["x"]
    check_x(layer, x)  # before the other shapes are made from it
    if layer == "affine":
        d = math.prod(x[1:])
        sizes["w"] = given.get("w", (d, sizes["w"][1]))
        sizes["b"] = given.get("b", (sizes["w"][1],))
    elif layer == "conv":
        sizes["w"] = given.get("w", (sizes["w"][0], x[1], *sizes["w"][2:]))
        sizes["b"] = given.get("b", (sizes["w"][0],))
    elif layer in ("batchnorm", "layernorm"):
        sizes["gamma"] = given.get("gamma", (x[1],))
        sizes["beta"] = given.get("beta", (x[1],))
    elif layer in ("softmax_loss", "svm_loss"):
        sizes["y"] = given.get("y", (x[0],))
    elif layer == "mse_loss":
        sizes["y"] = given.get("y", x)
    settings = dict(base.config)
    for k, v in _pairs(config, "config").items():
        if k not in settings:
            known = ", ".join(settings) or "none"
            raise ValueError(f"{layer} has no setting {k!r} (its settings: {known})")
        settings[k] = v if isinstance(settings[k], str) else _number(k, v)
    order = tuple((name, sizes[name]) for name in LAYERS[layer].inputs)
    return LayerSpec(layer, order, tuple(settings.items()), seed=seed).validate()


def check_layer_command(args: argparse.Namespace) -> int:
    """`check --layer`: the exit code as for `run`."""
    try:
        spec = layer_spec(args.layer, args.shapes, args.config, args.seed)
        from conformance.oracles.layers import layer_reference

        arrays = spec.arrays()
        import numpy as np

        layer_reference(spec, arrays, np.ones_like(arrays["x"]))  # do the shapes fit at all?
    except (ValueError, ArithmeticError, IndexError) as exc:
        print(f"conformance: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RuntimeError as exc:
        why = str(exc).splitlines()[0]
        print(f"conformance: error: the shapes do not fit {spec.layer}: {why}", file=sys.stderr)
        return EXIT_USAGE
    from conformance.checks.layers import check_layer
    from conformance.core.case import Case
    from conformance.core.records import to_frame
    from conformance.run.pipeline import verdict

    engine = args.engine if args.engine.startswith("layers:") else "layers:refimpl"
    if args.engine not in ("refimpl", "layers:refimpl") and not args.engine.startswith("layers:"):
        print("conformance: error: check --layer needs a layer engine: --engine layers:FILE.py",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    result, failed = call_once(engine, spec, args.timeout)
    if result is None:
        return failed
    argv = ["python", "-m", "conformance", "check", "--layer", spec.layer, "--engine", engine]
    argv += ["--shapes", ",".join(f"{k}={'x'.join(map(str, s))}" for k, s in spec.shapes)]
    argv += ["--seed", str(spec.seed)]
    case = Case("check", spec.case_id(), spec, spec.layer, shlex.join(argv), kind="layer")  # type: ignore[arg-type]
    rows = check_layer(case, engine, result, None)  # type: ignore[arg-type]
    code, message = verdict(to_frame(rows))
    shapes = ", ".join(f"{k} {'×'.join(map(str, s))}" for k, s in spec.shapes)
    lines = [f"layer {spec.layer}: {shapes}; engine {engine} (seed {spec.seed})", ""]
    width = max((len(f"{r.check} {r.node}") for r in rows), default=0)
    for r in rows:
        lines.append(f"  {f'{r.check} {r.node}'.ljust(width)}  {r.status!s:<7} {r.detail}")
        if r.hint:
            lines.append(f"  {''.ljust(width)}  hint: {r.hint}")
    lines += ["", message]
    with reader_may_leave():
        print(safe_text("\n".join(lines)))
    return code
