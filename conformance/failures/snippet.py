"""A standalone script that rebuilds a graph with the engine and with torch, for bug reports."""

from __future__ import annotations

import math
import os
from pathlib import Path

from conformance.core.spec import GraphSpec
from conformance.core.vocabulary import LEAKY_SLOPE, OPS
from conformance.engines import COMMAND_PREFIX, engine_file, where_to_import

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


def _engine_import(engine: str, run_folder: str) -> str | None:
    """The lines that bind the engine's class to `V`, from any folder; None for torch."""
    if engine == "torch":
        return None
    file = engine_file(engine)
    if file is not None:
        return _file_import(file[0].resolve(), file[1])
    module, _, attr = {"refimpl": "refimpl:Value", "micrograd": "micrograd.engine:Value"}.get(
        engine, engine
    ).partition(":")
    head, _, rest = attr.partition(".")
    lines = [
        "import sys",
        "",
        f"sys.path.append({run_folder!r})  # where the run started: {module} was found from there",
        f"from {module} import {head} as V",
    ]
    return "\n".join(lines + ([f"V = V.{rest}"] if rest else []))


def _file_import(path: Path, attr: str) -> str:
    # The path was resolved when the script was written, and the file is imported as the suite
    # imports it (`where_to_import`), so the script runs from any folder.
    root, dotted = where_to_import(path)
    if dotted is not None:
        head, _, rest = attr.partition(".")
        lines = [
            "import sys",
            "",
            f"sys.path[:0] = [{str(path.parent)!r}, {str(root)!r}]  # its folder, its package root",
            f"from {dotted} import {head} as V",
            *([f"V = V.{rest}"] if rest else []),
        ]
    else:
        lines = [
            "import importlib.util",
            "import sys",
            "",
            f"ENGINE_FILE = {str(path)!r}",
            f"sys.path.insert(0, {str(path.parent)!r})  # the modules beside it",
            '_spec = importlib.util.spec_from_file_location("engine_under_test", ENGINE_FILE)',
            "_module = importlib.util.module_from_spec(_spec)",
            "_spec.loader.exec_module(_module)",
            f"V = _module.{attr}",
        ]
    return "\n".join(lines)


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


def _command_lines(spec: GraphSpec, command: str, run_folder: str, names: list[str]) -> list[str]:
    # The script speaks the protocol itself (see conformance.engines.process) rather than send
    # the user to `replay`: it prints the engine's numbers beside torch's, as for a Python
    # engine, and needs nothing but the command. It starts where the run started, so a command
    # with relative paths (`python engines/mine.py`) finds its files from any folder.
    return [
        "# The engine under test: its command, speaking the JSON-lines protocol",
        "import json",
        "import shlex",
        "import subprocess",
        "",
        f"COMMAND = {command!r}",
        f"SPEC = {spec.to_dict()!r}",
        "engine = subprocess.Popen(",
        f"    shlex.split(COMMAND), cwd={run_folder!r},",
        "    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,",
        ")",
        "engine.stdout.readline()  # the handshake",
        'engine.stdin.write(json.dumps({"id": 1, "spec": SPEC}) + "\\n")',
        "engine.stdin.flush()",
        "reply = json.loads(engine.stdout.readline())",
        "engine.stdin.close()",
        "engine.wait()",
        'if "error" in reply:',
        '    print("engine: error:", reply["error"])',
        "else:",
        '    print("engine: value", float(reply["value"]))',
        f'    for name, g in zip({names!r}, reply["grads"]):',
        '        print(f"engine: dL/d{name} =", g if g is None else float(g))',
        "",
    ]


def snippet(spec: GraphSpec, engine: str, title: str, run_folder: str | None = None) -> str:
    """Python source that prints the engine's and torch's value and gradients for `spec`; it
    runs from any folder (`run_folder`, where the run started, default the current one, is where
    a module or a command engine is found)."""
    run_folder = run_folder or os.getcwd()
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
    importer = None if engine.startswith(COMMAND_PREFIX) else _engine_import(engine, run_folder)
    if engine.startswith(COMMAND_PREFIX):
        out += _command_lines(spec, engine[len(COMMAND_PREFIX) :], run_folder, names)
    elif importer:
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
