"""A standalone script that rebuilds a graph with the engine and with torch, for bug reports."""

from __future__ import annotations

import math

from conformance.spec import GraphSpec
from conformance.vocabulary import LEAKY_SLOPE, OPS

__all__ = ["snippet"]


def _lit(x: float) -> str:
    return repr(x) if math.isfinite(x) else f"float({str(x)!r})"


def _expr(op_name: str, args: list[str], param: float | None, torch_side: bool) -> str:
    op = OPS[op_name]
    if op.method:
        extra = f", {LEAKY_SLOPE!r}" if op.name == "leaky_relu" else ""
        if not torch_side:
            return f"{args[0]}.{op.method}({extra.lstrip(', ')})"
        if op.name == "leaky_relu":
            return f"torch.nn.functional.leaky_relu({args[0]}{extra})"
        return f"torch.{op.method}({args[0]})"
    return op.symbol.format(*args, p=_lit(param) if param is not None else "")


def _engine_import(engine: str) -> str | None:
    if engine == "refimpl":
        return "from refimpl import Value as V"
    if engine == "micrograd":
        return "from micrograd.engine import Value as V"
    if engine == "torch":
        return None
    module, _, attr = engine.partition(":")
    head, _, rest = attr.partition(".")
    line = f"from {module} import {head} as V"
    return line + (f"\nV = V.{rest}" if rest else "")


def _graph_lines(spec: GraphSpec, torch_side: bool) -> list[str]:
    lines = []
    for i, x in enumerate(spec.leaves):
        make = f"leaf({_lit(x)})" if torch_side else f"V({_lit(x)})"
        lines.append(f"x{i} = {make}  # {spec.leaf_name(i)}")
    consts = {f"c{i}": _lit(c) for i, c in enumerate(spec.consts)}
    for i, node in enumerate(spec.nodes):
        args = [consts.get(a, a) for a in node.args]
        lines.append(f"n{i} = {_expr(node.op, args, node.param, torch_side)}")
    if spec.upstream == 1.0:
        lines.append(f"loss = {spec.output}")
    else:
        lines.append(f"loss = {spec.output} * {_lit(spec.upstream)}  # the gradient from above")
    for call in range(spec.backwards):
        if call and spec.zero_between:
            zero = "None" if torch_side else "0.0"
            lines += [f"for x in [{', '.join(f'x{i}' for i in range(len(spec.leaves)))}]:"]
            lines += [f"    x.grad = {zero}"]
        lines.append("loss.backward(retain_graph=True)" if torch_side else "loss.backward()")
    return lines


def snippet(spec: GraphSpec, engine: str, title: str) -> str:
    """Python source that prints the engine's and torch's value and gradients for `spec`."""
    leaves = ", ".join(f"x{i}" for i in range(len(spec.leaves)))
    names = [spec.leaf_name(i) for i in range(len(spec.leaves))]
    out = [
        f'"""{title}',
        "",
        f"Graph: {spec.formula()}",
        f"L = {spec.upstream!r} * {spec.output}; backward() called {spec.backwards} time(s)"
        + (" with the leaves zeroed in between." if spec.zero_between else "."),
        '"""',
        "",
        "import torch",
        "",
    ]
    importer = _engine_import(engine)
    if importer:
        out += [importer, "", "# The engine under test", *_graph_lines(spec, False)]
        out += [
            f'print("engine: value", {spec.output}.data)',
            f"for name, x in zip({names!r}, [{leaves}]):",
            '    print(f"engine: dL/d{name} =", x.grad)',
            "",
        ]
    out += [
        "# torch.autograd, float64",
        "def leaf(v):",
        "    return torch.tensor(v, dtype=torch.float64, requires_grad=True)",
        "",
        *_graph_lines(spec, True),
        f'print("torch:  value", {spec.output}.item())',
        f"for name, x in zip({names!r}, [{leaves}]):",
        '    print(f"torch:  dL/d{name} =", 0.0 if x.grad is None else x.grad.item())',
    ]
    return "\n".join(out) + "\n"
