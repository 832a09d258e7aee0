"""Hypothesis strategies for graph specs: hypothesis draws a shape and a seed, `expand` builds.

Drawing node by node in hypothesis is slow for large graphs (and it gives up near 700 nodes);
drawing three integers is fast at any size and still shrinks: to fewer leaves, fewer nodes and a
smaller seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

from hypothesis import strategies as st

from conformance.cases.generate import GraphShape, expand, op_variants, single_op_specs
from conformance.cases.neurons import (
    ACTIVATIONS,
    MAX_BATCH,
    MAX_INPUTS,
    NEURON_KINDS,
    NetworkSpec,
    NeuronSpec,
    draw_network,
    draw_neuron,
)
from conformance.core.spec import GraphSpec
from conformance.core.vocabulary import OPS

__all__ = [
    "graph_shapes",
    "graph_specs",
    "graphs",
    "network_specs",
    "neuron_specs",
    "single_op_graphs",
]


@st.composite
def graph_shapes(draw: st.DrawFn, *, max_leaves: int = 8, max_nodes: int = 30) -> GraphShape:
    """A shape: 1..max_leaves leaves, 1..max_nodes nodes and a seed."""
    return GraphShape(
        n_leaves=draw(st.integers(1, max_leaves)),
        n_nodes=draw(st.integers(1, max_nodes)),
        seed=draw(st.integers(0, 2**63 - 1)),
    )


def graph_specs(
    *,
    max_leaves: int = 8,
    max_nodes: int = 30,
    ops: Iterable[str] | None = None,
    leaves: tuple[float, float] | None = None,
) -> st.SearchStrategy[GraphSpec]:
    """Random graph specs: DAGs, every input inside its op's safe domain; hypothesis shrinks them
    to fewer leaves and nodes.

    `ops`: the ops its nodes may use (names of `conformance.core.vocabulary.OPS`); `add` joins
    the graph's loose ends, so it may appear whatever `ops` says. `leaves` (low, high): the
    range the leaves' values are drawn from (default ±[0.1, 3]); an op whose domain the values
    leave is not drawn there (log of a negative number), `add` takes its place. ValueError, at
    once, for an unknown op or a range that is not one.
    """
    return _graph_specs(max_leaves, max_nodes, _without(ops), _leaf_range(leaves))


@st.composite
def _graph_specs(
    draw: st.DrawFn, max_leaves: int, max_nodes: int, unsupported: frozenset, leaf_range
) -> GraphSpec:
    return expand(
        draw(graph_shapes(max_leaves=max_leaves, max_nodes=max_nodes)), unsupported, leaf_range
    )


graphs = graph_specs  # the short name: `@given(graphs(ops={"add", "mul", "tanh"}))`


def _without(ops: Iterable[str] | None) -> frozenset:
    """The op variants a graph over `ops` avoids; ValueError naming an unknown op."""
    if ops is None:
        return frozenset()
    wanted = set([ops] if isinstance(ops, str) else ops)
    unknown = sorted(wanted - set(OPS))
    if unknown:
        raise ValueError(f"unknown op {', '.join(unknown)}; the ops are {', '.join(OPS)}")
    return frozenset(v for v in op_variants() if v[0] not in wanted)


def _leaf_range(leaves: tuple[float, float] | None) -> tuple[float, float] | None:
    if leaves is None:
        return None
    low, high = (float(x) for x in leaves)
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise ValueError(f"leaves={leaves!r}: give (low, high), finite, low <= high")
    return low, high


@st.composite
def single_op_graphs(draw: st.DrawFn) -> tuple[str, GraphSpec]:
    """(label, spec) of a one-op graph for some op of the vocabulary."""
    seed = draw(st.integers(0, 2**32 - 1))
    choices = list(single_op_specs(seed, 1))
    return draw(st.sampled_from(choices))


@st.composite
def neuron_specs(
    draw: st.DrawFn,
    *,
    max_inputs: int = MAX_INPUTS,
    max_batch: int = MAX_BATCH,
    kinds: tuple[tuple[str, str], ...] = NEURON_KINDS,
) -> NeuronSpec:
    """A neuron: its kind (activation, loss), sizes and a seed drawn, its values expanded."""
    activation, loss = draw(st.sampled_from(kinds))
    return draw_neuron(
        random.Random(draw(st.integers(0, 2**63 - 1))),
        n_inputs=draw(st.integers(1, max_inputs)),
        activation=activation,
        loss=loss,
        batch=draw(st.integers(1, max_batch)),
        dead=activation == "relu" and draw(st.booleans()),
    )


@st.composite
def network_specs(
    draw: st.DrawFn, *, max_hidden: int = 3, max_units: int = 8, max_inputs: int = 8,
    max_batch: int = MAX_BATCH,
) -> NetworkSpec:  # fmt: skip
    """An MLP: 1..max_hidden hidden layers of 1..max_units units, mixed activations, a batch."""
    depth = draw(st.integers(1, max_hidden))
    return draw_network(
        random.Random(draw(st.integers(0, 2**63 - 1))),
        n_inputs=draw(st.integers(1, max_inputs)),
        hidden=tuple(draw(st.integers(1, max_units)) for _ in range(depth)),
        activations=tuple(draw(st.sampled_from(ACTIVATIONS)) for _ in range(depth)),
        loss=draw(st.sampled_from(("mse", "bce"))),
        batch=draw(st.integers(1, max_batch)),
    )
