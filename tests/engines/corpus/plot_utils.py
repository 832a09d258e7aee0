"""Helpers I keep next to my engine: walk the graph, print it, dump it for graphviz.

Works with anything micrograd-shaped (.data, .grad, ._prev, ._op). No engine in here.
"""


def trace(root):
    """All nodes and edges reachable from root."""
    nodes, edges = set(), set()

    def build(v):
        if v not in nodes:
            nodes.add(v)
            for child in getattr(v, "_prev", ()):
                edges.add((child, v))
                build(child)

    build(root)
    return nodes, edges


def to_dot(root, rankdir="LR"):
    """The graph as graphviz source; paste into an online viewer or `dot -Tsvg`."""
    nodes, edges = trace(root)
    lines = [f"digraph G {{\n  rankdir={rankdir};"]
    for n in nodes:
        uid = str(id(n))
        label = f"data {n.data:.4f} | grad {n.grad:.4f}"
        lines.append(f'  "{uid}" [shape=record, label="{{ {label} }}"];')
        if getattr(n, "_op", ""):
            lines.append(f'  "{uid}{n._op}" [label="{n._op}"];')
            lines.append(f'  "{uid}{n._op}" -> "{uid}";')
    for a, b in edges:
        lines.append(f'  "{id(a)}" -> "{id(b)}{b._op}";')
    lines.append("}")
    return "\n".join(lines)


def print_tree(root, indent=0, seen=None):
    """Print the expression as an indented tree (shared nodes once)."""
    seen = set() if seen is None else seen
    mark = " (again)" if root in seen else ""
    op = getattr(root, "_op", "") or "leaf"
    print(" " * indent + f"{op}: data={root.data:.4g} grad={root.grad:.4g}{mark}")
    if root in seen:
        return
    seen.add(root)
    for child in getattr(root, "_prev", ()):
        print_tree(child, indent + 2, seen)


def ascii_plot(ys, width=60, height=12):
    """A rough loss curve in the terminal."""
    if not ys:
        return ""
    lo, hi = min(ys), max(ys)
    span = (hi - lo) or 1.0
    step = max(1, len(ys) // width)
    cols = ys[::step][:width]
    rows = []
    for r in range(height, -1, -1):
        level = lo + span * r / height
        row = "".join("*" if abs(y - level) <= span / (2 * height) else " " for y in cols)
        rows.append(f"{level:10.4f} |{row}")
    return "\n".join(rows)


EXPECTED = None
