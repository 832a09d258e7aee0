"""The random-graph generator: deterministic, fast at any size, graphs that use their nodes."""

from __future__ import annotations

from hypothesis import given

from conformance.cases.generate import GraphShape, expand
from conformance.cases.strategies import graph_shapes, single_op_graphs
from conformance.core.spec import GraphSpec


@given(graph_shapes())
def test_same_shape_same_graph(shape: GraphShape) -> None:
    assert expand(shape) == expand(shape)


@given(graph_shapes())
def test_graphs_have_the_requested_size_and_every_node_reaches_the_output(shape) -> None:
    spec = expand(shape)
    assert len(spec.nodes) == shape.n_nodes
    assert len(spec.leaves) == shape.n_leaves
    read = {ref for node in spec.nodes for ref in node.args}
    dangling = [f"n{i}" for i in range(len(spec.nodes)) if f"n{i}" not in read]
    assert dangling == [spec.output]
    assert all(f"c{i}" in read for i in range(len(spec.consts)))


@given(single_op_graphs())
def test_single_op_graphs_have_one_node(labelled: tuple[str, GraphSpec]) -> None:
    label, spec = labelled
    assert len(spec.nodes) == 1
    assert label.startswith(spec.nodes[0].op)


def test_large_graphs_expand_and_reuse_nodes() -> None:
    spec = expand(GraphShape(n_leaves=8, n_nodes=2000, seed=1))
    assert len(spec.nodes) == 2000
    fan_out = sum(1 for node in spec.nodes for a in node.args if a[0] == "n")
    assert fan_out > 1000  # nodes are read by other nodes
