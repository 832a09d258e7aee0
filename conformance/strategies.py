"""Public: hypothesis strategies for graph specs, neurons and networks, for your own property tests.

    from hypothesis import given
    from conformance import run_spec, torch_result
    from conformance.strategies import graphs

    @given(graphs(ops={"add", "mul", "tanh"}, max_nodes=20))
    def test_my_engine_on_random_graphs(spec):
        mine, torch = run_spec(MyValue, spec), torch_result(spec)
        assert mine.grads == pytest.approx(torch.grads, rel=1e-9, abs=1e-12)

`graphs` (also `graph_specs`): graphs over chosen ops, sizes and leaf ranges. `single_op_graphs`:
one-op graphs of every op. `neuron_specs`, `network_specs`: neuron and MLP configurations.
`graph_shapes`: the sizes and seed a graph is expanded from.
The full example runs in the project's own tests: tests/unit/test_public_strategies.py.

The implementation lives in `conformance.cases.strategies` (internal); these names are the API.
"""

from conformance.cases.strategies import (
    graph_shapes,
    graph_specs,
    graphs,
    network_specs,
    neuron_specs,
    single_op_graphs,
)

__all__ = [
    "graph_shapes",
    "graph_specs",
    "graphs",
    "network_specs",
    "neuron_specs",
    "single_op_graphs",
]
