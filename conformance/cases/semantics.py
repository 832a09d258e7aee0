"""Suite `semantics`: what backward() means beyond one call on one graph.

- Repeated backward() on the same graph without zeroing: every leaf receives the same gradient
  again (torch with retain_graph=True), and no intermediate node counts twice. With the leaves
  zeroed in between (an optimizer's zero_grad), each call gives the single gradient.
- Fan-out and diamonds: a value used several times receives the sum of all uses.
- The gradient from above: a large upstream factor.
- A deep chain: thousands of nodes by default, 1,000,000 in the thorough profile; an engine with
  a recursive topological sort fails here (RecursionError: an `error` row).
- A leaf that does not reach the output: gradient 0 (an engine may say None; read as 0).
These are graph cases: the same checker as the `graphs` suite, with both oracles. They use only
`+` and `*` (constants in the form the engine accepts), which every engine has, so none of them is
skipped. Differences on repeated backward() calls (`backward-calls`) and running out of stack on
the deep chain (`limits`) are conventions: `differs` rows, gating only under --strict.
"""

from __future__ import annotations

from conformance.core.case import Case
from conformance.core.spec import GraphSpec, Node

__all__ = ["CHAIN_LENGTH", "DEEP", "REPEATED", "THOROUGH_CHAIN_LENGTH", "deep_chain", "semantics"]

CHAIN_LENGTH = 5_000
THOROUGH_CHAIN_LENGTH = 1_000_000


def _diamond_graph(upstream: float = 1.5, **kw) -> GraphSpec:
    # n0 = x·y is read three times, x twice: fan-out and diamonds in six nodes, + and * only.
    nodes = (
        Node("mul", ("x0", "x1")),  # n0 = x·y
        Node("mul", ("n0", "c0")),  # n1 = n0·0.5
        Node("mul", ("n0", "x0")),  # n2 = n0·x
        Node("add", ("n1", "n2")),  # n3
        Node("mul", ("n3", "n3")),  # n4 = n3·n3
        Node("mul", ("n4", "n0")),  # n5
    )
    return GraphSpec(
        leaves=(0.7, 1.3), nodes=nodes, output="n5", consts=(0.5,), upstream=upstream, **kw
    )


def _doubling(times: int) -> GraphSpec:
    nodes = [Node("add", ("x0", "x0"))]
    nodes += [Node("add", (f"n{i}", f"n{i}")) for i in range(times - 1)]
    return GraphSpec(leaves=(0.75,), nodes=tuple(nodes), output=f"n{times - 1}", upstream=1.25)


def _deep_diamonds(levels: int) -> GraphSpec:
    # Each level reads the previous one twice: d' = d·0.9 + d·0.2, 2**levels paths.
    nodes: list[Node] = []
    prev = "x0"
    for _ in range(levels):
        base = len(nodes)
        nodes += [
            Node("mul", (prev, "c0")),
            Node("mul", (prev, "c1")),
            Node("add", (f"n{base}", f"n{base + 1}")),
        ]
        prev = f"n{base + 2}"
    return GraphSpec(
        leaves=(0.9,), nodes=tuple(nodes), output=prev, consts=(0.9, 0.2), upstream=-0.75
    )


def deep_chain(length: int) -> GraphSpec:
    """A chain of `length` nodes: y ← y·0.999 + x (bounded by 1000·x), + and * only."""
    nodes: list[Node] = []
    prev = "x0"
    while len(nodes) < length:
        i = len(nodes)
        if i % 2 == 0:
            nodes.append(Node("mul", (prev, "c0")))
        else:
            nodes.append(Node("add", (prev, "x1")))
        prev = f"n{i}"
    return GraphSpec(
        leaves=(0.5, 0.01), nodes=tuple(nodes), output=prev, consts=(0.999,), upstream=1.1
    )


def semantics(chain_length: int = CHAIN_LENGTH) -> list[Case]:
    """The fixed semantics cases; `chain_length` sets the deep chain (1,000,000 when thorough)."""
    unused_leaf = GraphSpec(
        leaves=(1.5, -2.0, 0.25),
        nodes=(Node("mul", ("x0", "x2")), Node("mul", ("n0", "n0")), Node("mul", ("n1", "n0"))),
        output="n2",
        upstream=0.5,
    )
    a_times_a = GraphSpec(leaves=(-1.5,), nodes=(Node("mul", ("x0", "x0")),), output="n0",
                          upstream=3.0)  # fmt: skip
    cases = [
        ("sem-backward-once", "graph", "graph", _diamond_graph()),
        ("sem-backward-twice", "backward", REPEATED, _diamond_graph(backwards=2)),
        ("sem-backward-three-times", "backward", REPEATED, _diamond_graph(backwards=3)),
        ("sem-backward-twice-zeroed", "backward", REPEATED,
         _diamond_graph(backwards=2, zero_between=True)),
        ("sem-a-times-a", "mul", "graph", a_times_a),
        ("sem-doubling-50-times", "add", "graph", _doubling(50)),
        ("sem-deep-diamonds", "graph", "graph", _deep_diamonds(40)),
        ("sem-large-upstream", "graph", "graph", _diamond_graph(upstream=1000.0)),
        ("sem-leaf-not-reaching-output", "graph", "graph", unused_leaf),
        (f"sem-deep-chain-{chain_length}", "chain", DEEP, deep_chain(chain_length)),
    ]  # fmt: skip
    return [Case("semantics", cid, spec, op, kind=kind) for cid, op, kind, spec in cases]


REPEATED = "repeated-backward"
DEEP = "deep-chain"
# How an engine says it ran out of stack, in Python and elsewhere; a worker that dies on a deep
# graph (a C stack overflow after raising the recursion limit) or hangs on it counts the same.
