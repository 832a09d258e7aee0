"""`python -m conformance check EXPR --at NAME=VALUE,...`: one expression, at one point.

The expression becomes a graph (`expr`), the engine under test runs it in a worker process (so a
hanging engine costs `--timeout`, not the terminal), torch and finite differences give the
expected numbers, and the rows are the run's own (`runner.check_case`): the value and every
gradient side by side with their status, then what each gradient says about moving its variable.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from conformance.cases.expression import ExprError, parse_at, parse_expression
from conformance.core.numfmt import pair
from conformance.core.options import DEFAULT_TIMEOUT, EXIT_USAGE
from conformance.core.safetext import safe_data

__all__ = ["add_check_parser", "check_command", "sign_hint"]

DESCRIPTION = """\
Check one expression's value and gradients at a point: the engine's beside torch's
and the finite differences', and what each gradient says about moving its variable.
Allowed: numbers, names, + - * / **, unary -, exp log tanh sigmoid relu leaky_relu.
An expression that starts with - goes last, after --."""
EXAMPLE = """example: python -m conformance check "(y - (h*w1 + k*w2 + b))**2" \\
  --at h=1,k=-3,y=10,w1=5,w2=-1,b=3
a layer: python -m conformance check --layer affine --shapes x=4x5,w=5x3 \\
  --engine layers:my_layers.py"""


def add_check_parser(sub, epilog: str, timeout_type) -> None:
    """The `check` subcommand's options, on the CLI's subparsers."""
    c = sub.add_parser(
        "check", help="check one expression's gradients at a point", description=DESCRIPTION,
        epilog=f"{EXAMPLE}\n\n{epilog}", formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    c.add_argument(
        "expr", metavar="EXPR", nargs="?", default=None,
        help="the expression, quoted: L = EXPR (or --layer)",
    )  # fmt: skip
    c.add_argument(
        "--layer", default=None, metavar="NAME",
        help="check one layer of a layer engine instead: affine, relu, batchnorm, conv, ...",
    )  # fmt: skip
    c.add_argument(
        "--shapes", action="append", default=[], metavar="NAME=AxB,...",
        help="with --layer: input shapes (x=4x5,w=5x3); the others follow",
    )  # fmt: skip
    c.add_argument(
        "--config", action="append", default=[], metavar="NAME=VALUE,...",
        help="with --layer: its settings (stride=2,pad=1; alpha=0.1; p=0.5)",
    )  # fmt: skip
    c.add_argument(
        "--seed", type=int, default=0, metavar="N", help="with --layer: the inputs' seed"
    )
    c.add_argument(
        "--at", action="append", default=[], metavar="NAME=VALUE,...",
        help="the value of every variable (repeatable)",
    )  # fmt: skip
    c.add_argument("--engine", default="refimpl", help="the engine, as for `run` (refimpl)")
    c.add_argument(
        "--timeout", type=timeout_type, default=DEFAULT_TIMEOUT, metavar="SECONDS",
        help=f"limit for the engine's call (default {DEFAULT_TIMEOUT:g})",
    )  # fmt: skip
    c.add_argument("--format", choices=("text", "json"), default="text", help="text (default)")
    c.add_argument(
        "--svg", default=None, metavar="FILE",
        help="also draw the graph, the engine's numbers beside torch's, into FILE (SVG)",
    )  # fmt: skip


def _both(engine: object, torch: object) -> tuple[str, str]:
    """The engine's and torch's numbers, with the digits it takes to show where they differ."""
    a, b = _float(engine), _float(torch)
    if a is None or b is None or a == b or not (math.isfinite(a) and math.isfinite(b)):
        return _g(a), _g(b)
    wide = pair(a, b, digits=10)
    return wide[0].replace("-", "−"), wide[1].replace("-", "−")


def _g(x: float | None) -> str:
    if x is None:
        return "—"
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.10g}".replace("-", "−")


def sign_hint(name: str, torch_grad: float, engine_grad: float | None = None) -> str:
    """What dL/dname says about moving `name`: `dL/dw2 = −6 < 0: increasing w2 lowers L`."""
    g = torch_grad
    if math.isnan(g) or math.isinf(g):
        return f"dL/d{name} = {_g(g)}: no direction to read from it"
    if g == 0:
        text = f"dL/d{name} = 0: a small change of {name} leaves L unchanged, to first order"
    elif g < 0:
        text = f"dL/d{name} = {_g(g)} < 0: increasing {name} lowers L"
    else:
        text = f"dL/d{name} = {_g(g)} > 0: increasing {name} raises L; decrease it to lower L"
    disagrees = engine_grad is not None and (engine_grad * g < 0 or engine_grad == 0)
    if disagrees and g != 0 and math.isfinite(engine_grad):
        text += f" (the engine's {_g(engine_grad)} says otherwise)"
    return text


def _json_number(x: float | None) -> float | str | None:
    if x is None:
        return None
    from conformance.core.spec import encode_number

    return encode_number(float(x))


def check_command(args: argparse.Namespace) -> int:
    """Run `check`; the exit code as for `run` (0 pass, 1 fail or error, 2 bad input)."""
    if (args.layer is None) == (args.expr is None):
        print("conformance: error: give an expression or --layer NAME (not both)", file=sys.stderr)
        return EXIT_USAGE
    if args.layer is not None:
        from conformance.cli.check_layer import check_layer_command

        return check_layer_command(args)
    if args.shapes or args.config:
        print("conformance: error: --shapes and --config go with --layer", file=sys.stderr)
        return EXIT_USAGE
    try:
        expression = parse_expression(args.expr)
        values = parse_at(args.at)
        spec = expression.spec(values, order=list(values))
    except ExprError as exc:
        print(f"conformance: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.svg is not None and Path(args.svg).is_dir():
        print(f"conformance: error: --svg {args.svg!r} is a folder, not a file", file=sys.stderr)
        return EXIT_USAGE
    from conformance.checks.graph import check_case, consult_oracles
    from conformance.cli.check_layer import call_once
    from conformance.core.case import Case
    from conformance.core.records import to_frame
    from conformance.run.pipeline import verdict

    result, failed = call_once(args.engine, spec, args.timeout)
    if result is None:
        return failed
    op = spec.nodes[0].op if len(spec.nodes) == 1 else "graph"
    at = ",".join(f"{n}={v!r}" for n, v in values.items())
    reproduce = f"python -m conformance check {json.dumps(args.expr)} --at {at}"
    case = Case("check", spec.case_id(), spec, op, reproduce=reproduce)
    oracle = consult_oracles(case)
    rows = check_case(case, args.engine, result, oracle)
    code, message = verdict(to_frame(rows))
    if args.svg is not None:
        try:
            _write_svg(Path(args.svg), spec, oracle, result, expression.text)
        except OSError as exc:
            print(f"conformance: error: cannot write --svg {args.svg!r}: {exc}", file=sys.stderr)
            return EXIT_USAGE
    # The engine's messages (and name) are outside text: safe before either format prints them.
    report = safe_data(_report(args, spec, values, rows, oracle, code, message))
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(_text(report, rows))
    return code


def _write_svg(path: Path, spec, oracle, result, label: str) -> None:
    from conformance.report.html.graph import MAX_DRAWN_NODES, draw_graph

    svg = draw_graph(spec, oracle.reference, result, oracle.bounds, label=f"L = {label}")
    if svg is None:
        print(
            f"conformance: warning: no drawing: over {MAX_DRAWN_NODES} operations",
            file=sys.stderr,
        )
        return
    path.write_text('<?xml version="1.0" encoding="utf-8"?>\n' + svg + "\n", encoding="utf-8")


def _report(args, spec, values, rows, oracle, code: int, message: str) -> dict:
    by_node = {(r.check, r.node): r for r in rows}
    value_row = by_node.get(("value", "output"))
    run_row = by_node.get(("run", ""))
    grads = {}
    for k in range(len(spec.leaves)):
        name = spec.leaf_name(k)
        r = by_node.get(("grad", name))
        t = oracle.reference.grads[k]
        engine = None if r is None else r.actual
        grads[name] = {
            "engine": _json_number(engine),
            "torch": _json_number(t),
            "fd": _json_number(oracle.fd.grads[k]),
            "status": r.status if r is not None else run_row.status,
            "tolerance": _json_number(r.tolerance if r is not None else None),
            "hint": sign_hint(name, t, engine),
        }
        if grads[name]["status"] == "unverified":
            grads[name]["hint"] += (
                f" (but {name} sits on a kink or an ill-conditioned point: torch and finite "
                "differences disagree)"
            )
    report = {
        "expression": args.expr,
        "formula": spec.formula(),
        "engine": args.engine,
        "at": {n: _json_number(v) for n, v in values.items()},
        "value": {
            "engine": _json_number(value_row.actual if value_row else None),
            "torch": _json_number(oracle.reference.value),
            "status": value_row.status if value_row else run_row.status,
            "tolerance": _json_number(value_row.tolerance if value_row else None),
        },
        "gradients": grads,
        "verdict": message,
        "exit_code": code,
    }
    bad = next((r for r in rows if r.status in ("fail", "error", "skip")), None)
    if bad is not None:
        report["detail"] = bad.detail
    return report


def _text(report: dict, rows) -> str:
    at = ", ".join(f"{n} = {_g(_float(v))}" for n, v in report["at"].items())
    lines = [f"L = {report['expression']}", f"at {at}; engine {report['engine']}", ""]
    table = [("", "engine", "torch", "finite diff.", "status")]
    v = report["value"]
    table.append(("L", *_both(v["engine"], v["torch"]), "", v["status"]))
    for name, g in report["gradients"].items():
        table.append(
            (f"dL/d{name}", *_both(g["engine"], g["torch"]), _g(_float(g["fd"])), g["status"])
        )
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:4], widths[1:4])]
        lines.append("  ".join([*cells, row[4]]).rstrip())
    lines += ["", "What the gradients say (torch's):"]
    lines += [f"  {g['hint']}" for g in report["gradients"].values()]
    if "detail" in report:
        lines += ["", report["detail"]]
    lines.append(report["verdict"])
    return "\n".join(lines)


def _float(x: float | str | None) -> float | None:
    from conformance.core.spec import decode_number

    return None if x is None else decode_number(x)
