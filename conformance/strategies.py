"""Public: hypothesis strategies for graph specs, neurons and networks, for your own property tests.

    from hypothesis import given
    from conformance.strategies import graph_specs

    @given(graph_specs(max_nodes=20))
    def test_my_engine_on_random_graphs(spec): ...

The implementation lives in `conformance.cases.strategies` (internal); these names are the API.
"""

from conformance.cases.strategies import (
    graph_shapes,
    graph_specs,
    network_specs,
    neuron_specs,
    single_op_graphs,
)

__all__ = ["graph_shapes", "graph_specs", "network_specs", "neuron_specs", "single_op_graphs"]
