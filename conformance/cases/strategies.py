"""Hypothesis strategies for graph specs: hypothesis draws a shape and a seed, `expand` builds.

Drawing node by node in hypothesis is slow for large graphs (and it gives up near 700 nodes);
drawing three integers is fast at any size and still shrinks: to fewer leaves, fewer nodes and a
smaller seed.
"""

from __future__ import annotations

import random

from hypothesis import strategies as st

from conformance.cases.generate import GraphShape, expand, single_op_specs
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

__all__ = ["graph_shapes", "graph_specs", "network_specs", "neuron_specs", "single_op_graphs"]


@st.composite
def graph_shapes(draw: st.DrawFn, *, max_leaves: int = 8, max_nodes: int = 30) -> GraphShape:
    """A shape: 1..max_leaves leaves, 1..max_nodes nodes and a seed."""
    return GraphShape(
        n_leaves=draw(st.integers(1, max_leaves)),
        n_nodes=draw(st.integers(1, max_nodes)),
        seed=draw(st.integers(0, 2**63 - 1)),
    )


@st.composite
def graph_specs(draw: st.DrawFn, *, max_leaves: int = 8, max_nodes: int = 30) -> GraphSpec:
    """A random graph spec: a DAG, every input inside its op's safe domain."""
    return expand(draw(graph_shapes(max_leaves=max_leaves, max_nodes=max_nodes)))


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
