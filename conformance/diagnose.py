"""Point at the first wrong node of a failing case, and name the bug where the pattern is known.

Values are checked in evaluation order: the first node whose value is wrong has a wrong forward.
Gradients are checked in backward order, from the output down: the first quantity whose gradient
is wrong, while every node that reads it has the right one, received a wrong contribution from one
of its readers, so the derivative of a reader's op is to blame. The ratio of the engine's gradient
to torch's then often says which classic bug it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from conformance.compare import agree
from conformance.engines.result import EngineResult
from conformance.records import Record
from conformance.spec import GraphSpec
from conformance.tolerance import Bounds
from conformance.vocabulary import OPS

__all__ = ["Diagnosis", "annotate", "diagnose"]


@dataclass(frozen=True)
class Diagnosis:
    """The guilty op(s), the first wrong node in words, and a hint (empty when no pattern fits)."""

    blame: str
    first_wrong: str
    hint: str


def _g(x: float) -> str:
    return f"{x:.6g}"


def _near(a: float, b: float, rel: float = 1e-9) -> bool:
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= rel * max(abs(a), abs(b))


def _values(spec: GraphSpec, reference: EngineResult) -> dict[str, float]:
    values = {f"x{i}": x for i, x in enumerate(spec.leaves)}
    values.update((f"c{i}", c) for i, c in enumerate(spec.consts))
    values.update((f"n{i}", v) for i, v in enumerate(reference.node_values or ()))
    return values


def diagnose(
    spec: GraphSpec, result: EngineResult, reference: EngineResult, tol: Bounds
) -> Diagnosis | None:
    """The first wrong node of a failing case, or None where the engine exposes too little."""
    if result.node_values is not None:
        for i, (a, e, t) in enumerate(
            zip(result.node_values, reference.node_values, tol.node_values)
        ):
            if a is not None and not agree(e, a, t):
                op = spec.nodes[i].op
                return Diagnosis(
                    op,
                    f"{spec.describe(i)}: value {_g(a)}, torch {_g(e)}",
                    f"the forward value of {op} is wrong, so every gradient after it is suspect",
                )
    if spec.backwards != 1:
        return _repeated(spec, result, reference)
    if result.node_grads is None:
        return None
    return _first_wrong_gradient(spec, result, reference, tol)


def _repeated(spec: GraphSpec, result: EngineResult, reference: EngineResult) -> Diagnosis:
    calls = f"{spec.backwards} backward() calls" + (
        " with the leaves zeroed in between" if spec.zero_between else " without zeroing"
    )
    ratios = [a / e for a, e in zip(result.grads, reference.grads) if a is not None and e]
    hint = (
        "gradients of intermediate nodes carried over from one backward() to the next: reset "
        "every non-leaf gradient before propagating (torch keeps no such state)"
    )
    if ratios and all(_near(r, 1.0 / spec.grad_factor) for r in ratios):
        hint = "leaf gradients were reset by backward(): torch adds to them until zeroed"
    return Diagnosis("backward", f"leaf gradients after {calls}", hint)


def _first_wrong_gradient(
    spec: GraphSpec, result: EngineResult, reference: EngineResult, tol: Bounds
) -> Diagnosis | None:
    order = [f"n{i}" for i in range(len(spec.nodes) - 1, -1, -1)]
    order += [f"x{k}" for k in range(len(spec.leaves))]
    wrong: dict[str, tuple[float, float]] = {}
    for ref in order:
        i = int(ref[1:])
        if ref[0] == "n":
            a, e, t = result.node_grads[i], reference.node_grads[i], tol.node_grads[i]
        else:
            a, e, t = result.grads[i], reference.grads[i], tol.grads[i]
            a = 0.0 if a is None else a
        if a is not None and not agree(e, a, t):
            wrong[ref] = (a, e)
    if not wrong:
        return None
    readers = {ref: [j for j, n in enumerate(spec.nodes) if ref in n.args] for ref in order}
    # The frontier: wrong, while every node that reads it is right. Its readers' backward is bad.
    frontier = [r for r in order if r in wrong and not any(f"n{j}" in wrong for j in readers[r])]
    if not frontier:
        return None
    first = frontier[0]
    a, e = wrong[first]
    if not readers[first]:  # the output itself: `output * upstream` handed it a wrong gradient
        return Diagnosis(
            "mul",
            f"dL/d{first} = {_g(a)}, torch {_g(e)} (the output)",
            f"the gradient of the output is wrong: the backward of `output * {spec.upstream:g}`, "
            "a multiplication by a constant, is at fault",
        )
    op_sets = [{spec.nodes[j].op for j in readers[r]} for r in frontier if readers[r]]
    common = set.intersection(*op_sets)
    blame = ",".join(sorted(common or set.union(*op_sets)))
    read_by = "; ".join(spec.describe(j) for j in readers[first])
    first_wrong = f"dL/d{_name(spec, first)} = {_g(a)}, torch {_g(e)}; read by {read_by}"
    single = [r for r in frontier if len(readers[r]) == 1]
    if single:  # one reader: the ratio speaks of that reader's derivative alone
        focus = single[0]
        hint = _hint(spec, reference, focus, readers[focus], *wrong[focus])
    else:
        hint = _hint(spec, reference, first, readers[first], a, e)
        only_fan_out = not any(r in wrong for r in order if len(readers[r]) == 1)
        if not hint and only_fan_out:
            hint = (
                "only values used several times have wrong gradients: the contributions of "
                "all uses must be summed (+=), not assigned"
            )
    return Diagnosis(blame, first_wrong, hint)


def _name(spec: GraphSpec, ref: str) -> str:
    return spec.leaf_name(int(ref[1:])) if ref[0] == "x" else ref


def _contributions(spec: GraphSpec, reference: EngineResult, ref: str) -> list[tuple[int, float]]:
    """Each use of `ref` and what it sends back in torch's pass: (reader, dL/dn_j · local)."""
    values, uses = _values(spec, reference), []
    for j, node in enumerate(spec.nodes):
        if ref not in node.args:
            continue
        local = OPS[node.op].local([values[a] for a in node.args], values[f"n{j}"], node.param)
        g = reference.node_grads[j]
        uses += [(j, g * d) for arg, d in zip(node.args, local) if arg == ref]
    return uses


def _hint(
    spec: GraphSpec, reference: EngineResult, ref: str, readers: list[int], a: float, e: float
) -> str:
    if e != 0 and _near(a, 2 * e):
        return "double counting: exactly twice torch's gradient (a node's backward ran twice?)"
    if e != 0 and _near(a, -e):
        return "flipped sign: exactly minus torch's gradient"
    uses = _contributions(spec, reference, ref)
    if len(uses) >= 2:
        for j, c in uses:
            if _near(a, c) and not _near(a, e):
                return (
                    f"overwritten, not accumulated: it holds only what one use in n{j} sent; a "
                    f"value used {len(uses)} times must receive the sum (+=) of every use"
                )
        return ""
    g = reference.node_grads[readers[0]]
    if g not in (0.0, 1.0, -1.0) and _near(a * g, e):
        return (
            f"missing chain-rule factor: the local derivative was not multiplied by the "
            f"gradient from above (dL/dn{readers[0]} = {_g(g)})"
        )
    if e != 0 and math.isfinite(a / e):
        return f"off by a factor of {a / e:.9g}"  # 9 digits: 1.000001 must not read 1
    return ""


def annotate(rows: list[Record], diagnosis: Diagnosis | None) -> list[Record]:
    """The failing rows with the diagnosis in their own columns and at the end of `detail`."""
    if diagnosis is None:
        return rows
    tail = f"; first wrong: {diagnosis.first_wrong}" + (
        f"; hint: {diagnosis.hint}" if diagnosis.hint else ""
    )
    return [
        replace(
            r,
            blame=diagnosis.blame,
            first_wrong=diagnosis.first_wrong,
            hint=diagnosis.hint,
            detail=r.detail + tail,
        )
        if r.status == "fail"
        else r
        for r in rows
    ]
