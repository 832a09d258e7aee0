"""How many paths lead from each value of a graph to its output.

A backward pass that visits each node once costs one visit per node. One whose topological order
has no visited set visits a node once per path from the output to it: the sum of these counts,
which doubles with every level of diamonds (40 levels: 2**41 visits). The run's time limits and
the diagnosis of such engines both read them.
"""

from __future__ import annotations

from conformance.core.spec import GraphSpec

__all__ = ["MANY_PATHS", "path_counts", "path_heavy", "traversal_length"]

# A traversal this long takes seconds in pure Python (a few microseconds a visit), where a
# correct engine takes milliseconds on the same small graph: worth naming in a timeout's detail.
MANY_PATHS = 1_000_000


def path_counts(spec: GraphSpec) -> dict[str, int]:
    """For every leaf and op node that reaches the output, how many paths lead from it there;
    an input read twice by one node (`a * a`) counts twice, as an engine's children list it."""
    counts = {spec.output: 1}
    for i in range(len(spec.nodes) - 1, -1, -1):
        c = counts.get(f"n{i}", 0)
        if c:
            for arg in spec.nodes[i].args:
                if arg[0] != "c":
                    counts[arg] = counts.get(arg, 0) + c
    return counts


def traversal_length(spec: GraphSpec) -> int:
    """Node visits of a backward pass that visits each op node once per path to the output."""
    return sum(c for ref, c in path_counts(spec).items() if ref[0] == "n")


def path_heavy(spec: GraphSpec) -> bool:
    """Whether an engine without a visited set would spend seconds here, far more than on the
    nodes themselves: at least MANY_PATHS visits, and a hundred per node."""
    visits = traversal_length(spec)
    return visits >= MANY_PATHS and visits >= 100 * max(1, len(spec.nodes))
