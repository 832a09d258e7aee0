"""The lecture's drawing of a graph, in SVG: each value a box with its data and grad, each op a
circle, the engine's numbers beside torch's, and the first wrong node picked out.

Layout is a layered drawing from left to right, as micrograd's `draw_dot` does: leaves in the
first column, every op node one column right of its deepest input, nodes in a column ordered by
where their inputs sit. Constants are small tags on the op that reads them: they have no gradient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape

from conformance.checks.compare import agree
from conformance.checks.diagnose import Diagnosis, diagnose
from conformance.core.result import EngineResult
from conformance.core.spec import GraphSpec
from conformance.core.vocabulary import OPS
from conformance.oracles.tolerance import Bounds, bounds
from conformance.report.html.charts import FONT, GREY, INK, RED, number

__all__ = ["MAX_DRAWN_NODES", "Marks", "draw_graph", "mark_wrong"]

MAX_DRAWN_NODES = 40  # a larger graph is no longer a picture one can read
BOX_W, ROW_H, HEAD_H = 216, 15, 18
BOX_H = HEAD_H + 3 * ROW_H + 6
R = 17  # op circle radius
GAP = 74  # between a box and the next column's op circle
COL_W = BOX_W + GAP + 2 * R + 12
V_GAP = 26
MARGIN = 16
PINK, AMBER = "#ffebe9", "#9a6700"

_SYMBOLS = {
    "add": "+", "sub": "−", "mul": "×", "div": "÷", "neg": "−x", "powv": "aᵇ", "exp": "exp",
    "log": "log", "tanh": "tanh", "sigmoid": "σ", "relu": "relu", "leaky_relu": "lrelu",
    "affine": "ab−c", "square": "x²",
}  # fmt: skip


def _symbol(op: str, param: float | None) -> str:
    if op == "powc":
        return {2.0: "x²", 3.0: "x³", -1.0: "1/x", 0.5: "√x"}.get(param, "xᵖ")
    return _SYMBOLS.get(op, op)


@dataclass(frozen=True)
class Marks:
    """Which of the engine's numbers are outside tolerance, and where the trouble starts."""

    wrong_values: frozenset[str]  # refs (n3) whose forward value is wrong
    wrong_grads: frozenset[str]  # refs (x0, n3) whose gradient is wrong
    first: str | None  # the ref the diagnosis names as the first wrong one
    first_kind: str  # "value" or "grad" ("" when no node is named)
    blamed: frozenset[int]  # op nodes whose derivative (or forward) the diagnosis blames


def _readers(spec: GraphSpec, ref: str) -> list[int]:
    return [j for j, n in enumerate(spec.nodes) if ref in n.args]


def _named(spec: GraphSpec, diagnosis: Diagnosis) -> tuple[str | None, str]:
    """The quantity the diagnosis names first, and whether its value or its gradient is wrong:
    `n3 = tanh(n2): value …` or `dL/dx = …` (a leaf by its name). (None, "") when it names none,
    as after repeated backward() calls."""
    text = diagnosis.first_wrong
    for i in range(len(spec.nodes)):
        if text.startswith(f"{spec.describe(i)}: value "):
            return f"n{i}", "value"
    refs = {spec.leaf_name(k): f"x{k}" for k in range(len(spec.leaves))}
    refs.update((f"n{i}", f"n{i}") for i in range(len(spec.nodes)))
    for m in _GRADIENT.finditer(text):
        if m.group(1) in refs:
            return refs[m.group(1)], "grad"
    return None, ""


_GRADIENT = re.compile(r"dL/d(\S+) = ")
_DIAGNOSE = object()  # mark_wrong's default: run `diagnose` on the numbers given


def mark_wrong(
    spec: GraphSpec,
    engine: EngineResult | None,
    torch: EngineResult,
    tol: Bounds,
    diagnosis: Diagnosis | object | None = _DIAGNOSE,
) -> Marks:
    """Which numbers are outside tolerance, and what the diagnosis blames: the first wrong node
    it names and the ops in its `blame` (the node itself for a wrong value, else those reading
    the named quantity). `diagnosis` is the one the run recorded (None: it found none); by
    default `checks.diagnose` is asked, so there is one algorithm for the drawing and the CSV."""
    values: set[str] = set()
    grads: set[str] = set()
    usable = engine is not None and not engine.error and not engine.skip
    if usable:
        for i, (a, e, t) in enumerate(
            zip(engine.node_values or (), torch.node_values or (), tol.node_values)
        ):
            if a is not None and not agree(e, a, t):
                values.add(f"n{i}")
        for i, (a, e, t) in enumerate(
            zip(engine.node_grads or (), torch.node_grads or (), tol.node_grads)
        ):
            if a is not None and not agree(e, a, t):
                grads.add(f"n{i}")
        for k, (a, e, t) in enumerate(zip(engine.grads, torch.grads, tol.grads)):
            if not agree(e, 0.0 if a is None else a, t):
                grads.add(f"x{k}")
    if diagnosis is _DIAGNOSE:
        diagnosis = diagnose(spec, engine, torch, tol) if values or grads else None
    first, kind = (None, "") if diagnosis is None else _named(spec, diagnosis)
    blamed: set[int] = set()
    if first is not None and kind == "value":
        blamed = {int(first[1:])}
    elif first is not None:
        ops = set(diagnosis.blame.split(","))
        blamed = {j for j in _readers(spec, first) if spec.nodes[j].op in ops}
    return Marks(frozenset(values), frozenset(grads), first, kind, frozenset(blamed))


@dataclass
class _Box:
    ref: str
    column: int
    x: float = 0.0
    y: float = 0.0

    @property
    def mid(self) -> float:
        return self.y + BOX_H / 2


def _layout(spec: GraphSpec) -> dict[str, _Box]:
    depth = {f"x{k}": 0 for k in range(len(spec.leaves))}
    for i, node in enumerate(spec.nodes):
        depth[f"n{i}"] = 1 + max(depth[a] for a in node.args if a[0] != "c")
    columns: dict[int, list[str]] = {}
    for ref, d in depth.items():
        columns.setdefault(d, []).append(ref)
    boxes: dict[str, _Box] = {}
    for d in sorted(columns):
        refs = columns[d]
        if d:  # order by where the inputs sit (barycentre), then by index

            def centre(ref: str) -> float:
                args = [a for a in spec.nodes[int(ref[1:])].args if a[0] != "c"]
                return sum(boxes[a].mid for a in args) / len(args)

            refs = sorted(refs, key=lambda r: (centre(r), int(r[1:])))
        bottom = MARGIN + 14 - V_GAP
        for ref in refs:
            box = _Box(ref, d, MARGIN + d * COL_W)
            want = centre(ref) - BOX_H / 2 if d else bottom + V_GAP
            box.y = max(bottom + V_GAP, want)
            bottom = box.y + BOX_H
            boxes[ref] = box
    return boxes


def _cell(value: float | None, wrong: bool) -> tuple[str, str]:
    if value is None:
        return "—", GREY
    return number(value, 6), RED if wrong else INK


def draw_graph(
    spec: GraphSpec,
    torch: EngineResult,
    engine: EngineResult | None,
    tol: Bounds | None = None,
    *,
    label: str = "the graph",
    diagnosis: Diagnosis | object | None = _DIAGNOSE,
) -> str | None:
    """The drawing as one `<svg>`, or None when the graph has over MAX_DRAWN_NODES op nodes or
    torch has no node values for it. `diagnosis`: the run's, for what is outlined (mark_wrong).
    Every text embedded (the label, leaf names, formulas, numbers) is escaped here."""
    if len(spec.nodes) > MAX_DRAWN_NODES or torch.node_values is None:
        return None
    if tol is None:
        tol = bounds(spec, torch.node_values)
    marks = mark_wrong(spec, engine, torch, tol, diagnosis)
    boxes = _layout(spec)
    width = MARGIN + max(b.x for b in boxes.values()) + BOX_W + MARGIN
    height = max(b.y for b in boxes.values()) + BOX_H + 44
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{escape(label)}" {FONT}>'
        f"<title>{escape(label)}</title>"
    ]
    names = {f"x{k}": spec.leaf_name(k) for k in range(len(spec.leaves))}
    names.update((f"c{i}", number(c, 4)) for i, c in enumerate(spec.consts))
    names.update((f"n{i}", f"n{i}") for i in range(len(spec.nodes)))
    edges, ops = [], []
    for i, node in enumerate(spec.nodes):
        box = boxes[f"n{i}"]
        cx, cy = box.x - 12 - R, box.mid
        k = len(node.args)
        for j, arg in enumerate(node.args):
            ty = cy + (j - (k - 1) / 2) * 8
            if arg[0] == "c":  # a tag just left of the circle
                tag = names[arg]
                tw = 8 + 6.2 * len(tag)
                tx, tyy = cx - R - 14 - tw, cy + (j - (k - 1) / 2) * 20 - 8
                edges.append(
                    f'<line x1="{tx + tw:.1f}" y1="{tyy + 8:.1f}" x2="{cx - R + 1:.1f}" '
                    f'y2="{ty:.1f}" stroke="{GREY}"/>'
                    f'<rect x="{tx:.1f}" y="{tyy:.1f}" width="{tw:.1f}" height="16" rx="8" '
                    f'fill="#f6f8fa" stroke="{GREY}"><title>constant {escape(tag)}</title></rect>'
                    f'<text x="{tx + tw / 2:.1f}" y="{tyy + 12:.1f}" text-anchor="middle" '
                    f'fill="{INK}">{escape(tag)}</text>'
                )
                continue
            src = boxes[arg]
            sx, sy = src.x + BOX_W, src.mid
            bend = max(30.0, (cx - R - sx) / 2)
            edges.append(
                f'<path d="M{sx:.1f},{sy:.1f} C{sx + bend:.1f},{sy:.1f} {cx - R - bend:.1f},'
                f'{ty:.1f} {cx - R:.1f},{ty:.1f}" fill="none" stroke="{GREY}" '
                'stroke-width="1.3"/>'
            )
        blamed = i in marks.blamed
        what = "forward" if marks.first_kind == "value" else "derivative"
        tip = f"{node.op}" + (f": its {what} is blamed" if blamed else "")
        ops.append(
            f'<line x1="{cx + R:.1f}" y1="{cy:.1f}" x2="{box.x:.1f}" y2="{cy:.1f}" '
            f'stroke="{GREY}" stroke-width="1.3"/>'
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{R}" fill="{PINK if blamed else "#fff8c5"}" '
            f'stroke="{RED if blamed else AMBER}" stroke-width="{2.5 if blamed else 1}">'
            f"<title>{escape(tip)}</title></circle>"
            f'<text x="{cx:.1f}" y="{cy + 4:.1f}" text-anchor="middle" fill="{INK}" '
            f'font-size="10">{escape(_symbol(node.op, node.param))}</text>'
        )
    parts += edges + ops
    for ref, box in boxes.items():
        parts.append(_value_box(spec, ref, box, names, torch, engine, marks))
    note = (
        f"gradients of L = {number(spec.upstream, 4)} · {names.get(spec.output, spec.output)}"
        if spec.upstream != 1.0
        else f"gradients of L = {names.get(spec.output, spec.output)}"
    )
    if marks.first is None and not marks.wrong_grads and not marks.wrong_values:
        usable = engine is not None and not engine.error and not engine.skip
        legend = "all the engine's numbers within tolerance" if usable else "no engine numbers"
        colour = INK
    elif marks.first is None:
        legend, colour = "red: outside tolerance", RED
    else:
        legend, colour = "red: outside tolerance; red outline: the first wrong node", RED
    parts.append(
        f'<text x="{MARGIN}" y="{height - 14:.0f}" fill="{INK}">{escape(note)}; '
        f'<tspan fill="{colour}">{legend}</tspan></text>'
    )
    return "".join(parts) + "</svg>"


def _value_box(
    spec: GraphSpec,
    ref: str,
    box: _Box,
    names: dict[str, str],
    torch: EngineResult,
    engine: EngineResult | None,
    marks: Marks,
) -> str:
    i = int(ref[1:])
    leaf = ref[0] == "x"
    usable = engine is not None and not engine.error and not engine.skip
    if leaf:
        head = names[ref]
        t_val, t_grad = spec.leaves[i], torch.grads[i]
        e_val = spec.leaves[i] if usable else None
        e_grad = engine.grads[i] if usable and i < len(engine.grads) else None
        if usable and e_grad is None:
            e_grad = 0.0  # "no gradient reached it", read as 0 like the comparison does
    else:
        node = spec.nodes[i]
        args = [names[a] for a in node.args]
        head = f"{ref} = {OPS[node.op].describe(args, node.param)}"
        t_val, t_grad = torch.node_values[i], (torch.node_grads or (None,) * (i + 1))[i]
        e_val = engine.node_values[i] if usable and engine.node_values else None
        e_grad = engine.node_grads[i] if usable and engine.node_grads else None
    if ref == spec.output:
        head += "  (output)"
    if len(head) > 34:
        head = head[:33] + "…"
    first = marks.first == ref
    stroke, sw = (RED, 3) if first else (INK, 1)
    x, y = box.x, box.y
    c1, c2 = x + 52, x + 52 + (BOX_W - 52) / 2
    ev, ev_colour = _cell(e_val, ref in marks.wrong_values)
    eg, eg_colour = _cell(e_grad, ref in marks.wrong_grads)
    tv, _ = _cell(t_val, False)
    tg, _ = _cell(t_grad, False)
    r1, r2, r3 = y + HEAD_H + ROW_H - 3, y + HEAD_H + 2 * ROW_H - 3, y + HEAD_H + 3 * ROW_H - 3
    out = [
        f'<g><title>{escape(head)}</title><rect x="{x:.1f}" y="{y:.1f}" width="{BOX_W}" '
        f'height="{BOX_H}" rx="3" fill="{"#fff" if not first else PINK}" stroke="{stroke}" '
        f'stroke-width="{sw}"/>'
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{BOX_W}" height="{HEAD_H}" rx="3" '
        f'fill="{"#ddf4ff" if leaf else "#f6f8fa"}" stroke="{stroke}" stroke-width="{sw}"/>'
        f'<text x="{x + 6:.1f}" y="{y + 13:.1f}" font-weight="600" fill="{INK}">'
        f"{escape(head)}</text>",
        f'<text x="{c1 + 4:.1f}" y="{r1:.1f}" fill="{GREY}">engine</text>'
        f'<text x="{c2 + 4:.1f}" y="{r1:.1f}" fill="{GREY}">torch</text>',
        f'<text x="{x + 6:.1f}" y="{r2:.1f}" fill="{GREY}">data</text>'
        f'<text x="{c1 + 4:.1f}" y="{r2:.1f}" fill="{ev_colour}">{escape(ev)}</text>'
        f'<text x="{c2 + 4:.1f}" y="{r2:.1f}" fill="{INK}">{escape(tv)}</text>',
        f'<text x="{x + 6:.1f}" y="{r3:.1f}" fill="{GREY}">grad</text>'
        f'<text x="{c1 + 4:.1f}" y="{r3:.1f}" fill="{eg_colour}">{escape(eg)}</text>'
        f'<text x="{c2 + 4:.1f}" y="{r3:.1f}" fill="{INK}">{escape(tg)}</text>',
    ]
    if first:
        what = "value" if marks.first_kind == "value" else "gradient"
        out.append(
            f'<text x="{x + BOX_W:.1f}" y="{y - 5:.1f}" text-anchor="end" fill="{RED}" '
            f'font-weight="600">first wrong {what}</text>'
        )
    return "".join(out) + "</g>"
