"""The public strategies (`conformance.strategies`): what the README shows works, and the
strategies make valid specs over the ops and ranges asked for, covering every op."""

from __future__ import annotations

import pytest
from hypothesis import Phase, find, given, settings

from conformance import run_spec, torch_result
from conformance.core.spec import GraphSpec
from conformance.core.vocabulary import OPS
from conformance.strategies import graphs, network_specs, neuron_specs, single_op_graphs
from refimpl import Value
from tests.engines.corpus.mul_grad_swapped import Value as SwappedProduct

FIRST = settings(database=None, max_examples=2000, phases=[Phase.generate])  # no shrinking


# The example of the module's docstring, as an engine author writes it.
@settings(max_examples=25, deadline=None)
@given(graphs(ops={"add", "mul", "tanh"}, max_nodes=12))
def test_refimpl_matches_torch_on_graphs_of_add_mul_and_tanh(spec: GraphSpec) -> None:
    mine, torch = run_spec(Value, spec), torch_result(spec)
    assert mine.error is None
    assert mine.value == pytest.approx(torch.value, rel=1e-9, abs=1e-12)
    assert list(mine.grads) == pytest.approx(list(torch.grads), rel=1e-9, abs=1e-12)


def test_the_example_catches_a_wrong_product_rule_and_shrinks_it() -> None:
    def wrong(spec: GraphSpec) -> bool:
        mine, torch = run_spec(SwappedProduct, spec), torch_result(spec)
        return list(mine.grads) != pytest.approx(list(torch.grads), rel=1e-9, abs=1e-12)

    spec = find(graphs(ops={"mul"}, max_nodes=12), wrong, settings=settings(database=None))
    assert [n.op for n in spec.nodes] == ["mul"]  # shrunk to the one product at fault


@settings(max_examples=60, deadline=None)
@given(graphs(ops={"log", "sigmoid"}, max_nodes=15, leaves=(0.5, 2.0)))
def test_graphs_keep_to_the_ops_and_leaf_range_asked_for(spec: GraphSpec) -> None:
    assert GraphSpec.from_dict(spec.to_dict()) == spec  # a valid spec: it reads back
    assert {n.op for n in spec.nodes} <= {"log", "sigmoid", "add"}  # add joins loose ends
    assert all(0.5 <= x <= 2.0 for x in spec.leaves)


@pytest.mark.parametrize("op", sorted(OPS))
def test_every_op_is_drawn(op: str) -> None:
    found = find(graphs(ops={op}), lambda s: op in {n.op for n in s.nodes}, settings=FIRST)
    assert op in {n.op for n in found.nodes}


def test_single_op_graphs_cover_every_op() -> None:
    seen: set[str] = set()

    def all_seen(labelled) -> bool:
        seen.update(n.op for n in labelled[1].nodes)
        return seen >= set(OPS)

    find(single_op_graphs(), all_seen, settings=FIRST)
    assert seen >= set(OPS)


@settings(max_examples=20, deadline=None)
@given(neuron_specs(), network_specs(max_hidden=2, max_units=4))
def test_neuron_and_network_configurations_are_valid(neuron, network) -> None:
    # Each validates on construction; every sample has as many inputs as there are weights.
    assert neuron.inputs and all(len(x) == len(neuron.weights) for x in neuron.inputs)
    assert len(neuron.targets) == len(neuron.inputs)
    assert len(network.layers) >= 2 and len(network.targets) == len(network.inputs)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"ops": {"tanh", "softmax"}}, "unknown op softmax"), ({"leaves": (2.0, 1.0)}, "low <= high")],
)
def test_bad_arguments_are_one_clear_error_at_once(kwargs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        graphs(**kwargs)
