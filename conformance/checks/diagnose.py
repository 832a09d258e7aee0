"""Point at the first wrong node of a failing case, and name the bug where the pattern is known.

Values are checked in evaluation order: the first node whose value is wrong has a wrong forward.
Gradients are checked in backward order, from the output down: the first quantity whose gradient
is wrong, while every node that reads it has the right one, received a wrong contribution from one
of its readers, so the derivative of a reader's op is to blame. The ratio of the engine's gradient
to torch's then often says which classic bug it is.

The structure comes before the ops: every leaf gradient 0 means backward() propagated nothing,
and gradients that a traversal visiting each node once per path would give mean a topological
order without a visited set. Neither is any one op's fault.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from conformance.checks.compare import agree, within_precision
from conformance.core.numfmt import g, pair
from conformance.core.paths import path_counts
from conformance.core.records import Record
from conformance.core.result import EngineResult
from conformance.core.spec import GraphSpec
from conformance.core.vocabulary import OPS
from conformance.oracles.tolerance import Bounds, bounds

__all__ = ["Diagnosis", "annotate", "diagnose"]


@dataclass(frozen=True)
class Diagnosis:
    """The guilty op(s), the first wrong node in words, and a hint (empty when no pattern fits)."""

    blame: str
    first_wrong: str
    hint: str


# Simulating a traversal without a visited set costs one step per visit: beyond this many, the
# engine itself has usually run out of time, and the diagnosis would be as slow.
MAX_SIMULATED_VISITS = 100_000
# The simulated gradients are torch's local derivatives summed in the engine's order; where the
# engine computes its own derivatives they differ by rounding, relative to the magnitude summed.
SIMULATION_REL = 1e-9
# Where the engine's gradients are wrong, the simulated traversal must be this much nearer to
# them than torch's gradients are (summed over those gradients), to count as the explanation.
NEARER = 0.1


def _near(a: float, b: float, rel: float = 1e-9) -> bool:
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= rel * max(abs(a), abs(b))


def _values(spec: GraphSpec, reference: EngineResult) -> dict[str, float]:
    return spec.named(spec.leaves, reference.node_values or ())


def diagnose(
    spec: GraphSpec, result: EngineResult, reference: EngineResult, tol: Bounds
) -> Diagnosis | None:
    """The first wrong node of a failing case, or None where the engine exposes too little."""
    loose = _Loose(spec, reference)
    if result.node_values is not None:
        for i, (a, e, t) in enumerate(
            zip(result.node_values, reference.node_values, tol.node_values)
        ):
            if a is not None and loose.wrong(e, a, t, "node_values", i):
                op = spec.nodes[i].op
                sa, se = pair(a, e)
                return Diagnosis(
                    op,
                    f"{spec.describe(i)}: value {sa}, torch {se}",
                    f"the forward value of {op} is wrong, so every gradient after it is suspect",
                )
    nothing = _propagated_nothing(spec, result, reference)
    if nothing is not None:
        return nothing
    if spec.backwards != 1:
        return _repeated(spec, result, reference)
    per_path = _visited_per_path(spec, result, reference, tol)
    if per_path is not None:
        return per_path
    if result.node_grads is None:
        return None
    return _first_wrong_gradient(spec, result, reference, tol, loose)


class _Loose:
    """The precision bound, computed on first use: a number between torch's rounding and what a
    textbook formula loses is a precision difference, never the first wrong node."""

    def __init__(self, spec: GraphSpec, reference: EngineResult) -> None:
        self.spec, self.reference, self._bounds = spec, reference, None

    def wrong(self, e: float, a: float, t: float, field: str, i: int) -> bool:
        """Outside tolerance `t`, and not a precision difference (the bound's `field`[i])."""
        if agree(e, a, t):
            return False
        if self._bounds is None:
            self._bounds = bounds(self.spec, self.reference.node_values, precision=True)
        return not within_precision(e, a, t, getattr(self._bounds, field)[i])


def _output_index(spec: GraphSpec) -> int | None:
    return int(spec.output[1:]) if spec.output[0] == "n" else None


def _propagated_nothing(
    spec: GraphSpec, result: EngineResult, reference: EngineResult
) -> Diagnosis | None:
    """Every leaf gradient 0 (and every intermediate's, where exposed) while torch's are not,
    through at least two kinds of op: the backward functions never ran."""
    grads = [0.0 if a is None else a for a in result.grads]
    if any(a != 0 for a in grads):
        return None
    nonzero = [k for k, e in enumerate(reference.grads) if e != 0 and not math.isnan(e)]
    if not nonzero:
        return None
    out = _output_index(spec)
    exposed = result.node_grads
    if exposed is not None and any(a not in (None, 0.0) for i, a in enumerate(exposed) if i != out):
        return None
    # The ops that should have sent a gradient on. Only one kind: that op's backward may be the
    # one that sends nothing, and the per-op diagnosis below says so.
    silent = {spec.nodes[j].op for j, e in enumerate(reference.node_grads or ()) if e}
    if spec.upstream != 1 and out is not None and exposed is not None and not exposed[out]:
        silent.add("the multiplication by the upstream gradient")
    if len(silent) < 2:
        return None
    k = nonzero[0]
    sa, se = pair(grads[k], reference.grads[k])
    first_wrong = (
        f"backward(): every leaf gradient is 0 (dL/d{spec.leaf_name(k)} = {sa}, torch {se})"
        + ("" if exposed is None else ", and every intermediate's")
    )
    hint = (
        "backward propagated nothing: the backward functions never ran: check that backward() "
        "calls each node's backward, in reverse topological order"
    )
    return Diagnosis("backward", first_wrong, hint)


def _visited_per_path(
    spec: GraphSpec, result: EngineResult, reference: EngineResult, tol: Bounds
) -> Diagnosis | None:
    """The engine's gradients are those of a backward pass that runs each node's backward once
    per path from the output (a topological order without a visited set), and torch's are not."""
    counts = path_counts(spec)
    visits = sum(c for ref, c in counts.items() if ref[0] == "n")
    reached = sum(1 for ref in counts if ref[0] == "n")
    if visits == reached or visits > MAX_SIMULATED_VISITS or reference.node_grads is None:
        return None  # no node is reached twice: the traversal is torch's; or too long to run
    values = _values(spec, reference)
    if not all(math.isfinite(v) for v in values.values()):
        return None
    engine = {f"x{k}": 0.0 if a is None else a for k, a in enumerate(result.grads)}
    engine.update((f"n{i}", a) for i, a in enumerate(result.node_grads or ()) if a is not None)
    allowed = {f"x{k}": t for k, t in enumerate(tol.grads)}
    allowed.update((f"n{i}", t) for i, t in enumerate(tol.node_grads))
    torch_grads = {f"x{k}": e for k, e in enumerate(reference.grads)}
    torch_grads.update((f"n{i}", e) for i, e in enumerate(reference.node_grads))
    # The result depends on the engine's own graph (an intermediate node accumulates between
    # visits) and on its order (which reader's gradient arrives before a node's visit): ops as
    # the suite builds them or as micrograd composes them, children in the order given (an
    # explicit stack) or reversed (recursion). Whichever reproduces the engine is the evidence.
    for style in _STYLES:
        graph = _engine_graph(spec, values, style)
        for reverse in (False, True):
            grads, magnitude = _per_path_pass(graph, spec.output, spec.upstream, reverse)

            def explains(ref: str, grads=grads, magnitude=magnitude) -> bool:
                t = allowed[ref] + SIMULATION_REL * magnitude.get(ref, 0.0)
                return agree(grads.get(ref, 0.0), engine[ref], t)

            wrong = [r for r in engine if not agree(torch_grads[r], engine[r], allowed[r])]
            # Evidence, not room: where the engine is wrong, the simulation must be far nearer
            # to it than torch is (a float16 tolerance is wide enough to admit both).
            nearer = sum(abs(grads.get(r, 0.0) - engine[r]) for r in wrong) <= NEARER * sum(
                abs(torch_grads[r] - engine[r]) for r in wrong
            )
            if wrong and nearer and all(explains(r) for r in engine):
                return _per_path_diagnosis(spec, counts, wrong, engine, torch_grads, visits)
    return None


def _per_path_diagnosis(
    spec: GraphSpec,
    counts: dict[str, int],
    wrong: list[str],
    engine: dict[str, float],
    torch_grads: dict[str, float],
    visits: int,
) -> Diagnosis:
    # The most-travelled quantity where torch's gradient is not 0: the ratio then speaks.
    worst = max(wrong, key=lambda r: (torch_grads[r] != 0, counts.get(r, 0), r[0] == "x"))
    a, e = engine[worst], torch_grads[worst]
    sa, se = pair(a, e)
    ratio = f", engine/torch = {g(a / e, 4)}" if e and math.isfinite(a / e) else ""
    name = _name(spec, worst)
    first_wrong = (
        f"dL/d{name} = {sa}, torch {se}: {name} reaches the output by {counts.get(worst, 0)} "
        f"paths{ratio}"
    )
    reached = sum(1 for ref in counts if ref[0] == "n")
    hint = (
        "nodes visited more than once: topological order without a visited set (each node's "
        f"backward ran once per path from the output: {visits} visits of {reached} nodes); "
        "mark each node visited when building the order"
    )
    return Diagnosis("backward", first_wrong, hint)


_STYLES = ("suite", "micrograd")
# An engine's graph for the simulation: each node's inputs and local derivatives, by reference.
_Graph = dict[str, tuple[tuple[str, ...], tuple[float, ...]]]


def _engine_graph(spec: GraphSpec, values: dict[str, float], style: str) -> _Graph:
    """The graph as a scalar engine builds it: `affine` is `a * b - c` (the suite's build); in
    micrograd's style, also `a - b` is `a + (-b)` and `a / b` is `a * b**-1` (for a Value b)."""
    graph: _Graph = {}
    extra = 0

    def node(args: tuple[str, ...], local: tuple[float, ...], ref: str | None = None) -> str:
        nonlocal extra
        if ref is None:
            ref, extra = f"t{extra}", extra + 1
        graph[ref] = (args, local)
        return ref

    def sub(a: str, b: str, ref: str | None = None) -> str:
        if style == "micrograd" and b[0] != "c":
            return node((a, node((b,), (-1.0,))), (1.0, 1.0), ref)
        return node((a, b), (1.0, -1.0), ref)

    for j, n in enumerate(spec.nodes):
        ref, x = f"n{j}", [values[a] for a in n.args]
        if n.op == "affine":
            sub(node(n.args[:2], (x[1], x[0])), n.args[2], ref)
        elif n.op == "sub":
            sub(*n.args, ref)
        elif n.op == "div" and style == "micrograd" and n.args[1][0] != "c":
            inverse = node((n.args[1],), (-1.0 / (x[1] * x[1]),))
            node((n.args[0], inverse), (1.0 / x[1], x[0]), ref)
        else:
            node(n.args, OPS[n.op].local(x, values[ref], n.param), ref)
    return graph


def _per_path_pass(
    graph: _Graph, output: str, upstream: float, reverse: bool
) -> tuple[dict[str, float], dict[str, float]]:
    """Gradients (and their magnitudes, from absolute values) when each node's backward runs on
    every visit of a depth-first walk from the output that has no visited set."""
    # The walk runs once per visit, up to MAX_SIMULATED_VISITS: by slot numbers rather than
    # references, and with only the nodes that have a backward on the stack (a leaf or a
    # constant, popped, does nothing). The sums are the same, in the same order.
    refs = [*graph]
    slot = {ref: i for i, ref in enumerate(refs)}
    inner = len(refs)
    for args, _ in graph.values():
        for a in args:
            if a not in slot:
                slot[a] = len(refs)
                refs.append(a)
    if output not in slot:
        slot[output] = len(refs)
        refs.append(output)
    edges, pushes = [], []
    for args, local in graph.values():
        edges.append([(slot[a], d, abs(d)) for a, d in zip(args, local) if a[0] != "c"])
        pushed = [slot[a] for a in (args if reverse else reversed(args)) if slot[a] < inner]
        pushes.append(pushed)
    grads, magnitude = [0.0] * len(refs), [0.0] * len(refs)
    start = slot[output]
    grads[start], magnitude[start] = upstream, abs(upstream)
    stack = [start] if start < inner else []
    while stack:
        i = stack.pop()
        # A visit pushes the gradient the node holds now: what its readers sent so far.
        g_now, m_now = grads[i], magnitude[i]
        for j, d, ad in edges[i]:
            grads[j] += g_now * d
            magnitude[j] += m_now * ad
        stack.extend(pushes[i])
    return dict(zip(refs, grads)), dict(zip(refs, magnitude))


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
    spec: GraphSpec,
    result: EngineResult,
    reference: EngineResult,
    tol: Bounds,
    loose: _Loose | None = None,
) -> Diagnosis | None:
    loose = loose or _Loose(spec, reference)
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
        field = "node_grads" if ref[0] == "n" else "grads"
        if a is not None and loose.wrong(e, a, t, field, i):
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
    sa, se = pair(a, e)
    if not readers[first] and spec.upstream == 1:  # nothing above the output: the seed is wrong
        return Diagnosis(
            "backward",
            f"dL/d{first} = {sa}, torch {se} (the output)",
            "the gradient of the output itself is wrong: backward() must start by setting the "
            "output's gradient to 1",
        )
    if not readers[first]:  # the output itself: `output * upstream` handed it a wrong gradient
        return Diagnosis(
            "mul",
            f"dL/d{first} = {sa}, torch {se} (the output)",
            f"the gradient of the output is wrong: the backward of `output * {g(spec.upstream)}`, "
            "a multiplication by a constant, is at fault",
        )
    op_sets = [{spec.nodes[j].op for j in readers[r]} for r in frontier if readers[r]]
    common = set.intersection(*op_sets)
    blame = ",".join(sorted(common or set.union(*op_sets)))
    read_by = "; ".join(spec.describe(j) for j in readers[first])
    first_wrong = f"dL/d{_name(spec, first)} = {sa}, torch {se}; read by {read_by}"
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
    above = reference.node_grads[readers[0]]
    if above not in (0.0, 1.0, -1.0) and _near(a * above, e):
        return (
            f"missing chain-rule factor: the local derivative was not multiplied by the "
            f"gradient from above (dL/dn{readers[0]} = {g(above)})"
        )
    if a == 0 and e != 0:
        op = spec.nodes[readers[0]].op
        return (
            f"nothing arrived: 0 where torch has {g(e)}: the backward of {op} sent nothing to "
            "its input (or backward() never called it)"
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
