"""Graph specs: JSON round-trip, stable ids, and clear errors for anything that is not a graph."""

from __future__ import annotations

import json
import math
import pickle
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.cases.strategies import graph_specs
from conformance.core import spec as spec_module
from conformance.core.spec import FORMULA_MAX, SCHEMA_VERSION, GraphSpec, Node, SpecError, Step
from conformance.core.vocabulary import OPS


@given(graph_specs())
def test_json_round_trip_and_stable_id(spec: GraphSpec) -> None:
    back = GraphSpec.from_json(spec.to_json())
    assert back == spec
    assert back.case_id() == spec.case_id()
    assert json.loads(spec.to_json())["schema"] == SCHEMA_VERSION


@given(graph_specs())
def test_every_spec_is_a_dag_inside_the_domain(spec: GraphSpec) -> None:
    values = {f"x{i}": x for i, x in enumerate(spec.leaves)}
    values.update((f"c{i}", c) for i, c in enumerate(spec.consts))
    for i, node in enumerate(spec.nodes):
        for ref in node.args:
            assert ref in values, f"n{i} reads {ref} before it exists"
        op = OPS[node.op]
        xs = [values[a] for a in node.args]
        assert op.valid(xs, node.param), spec.describe(i)
        values[f"n{i}"] = op.forward(xs, node.param)
        assert math.isfinite(values[f"n{i}"])
    assert spec.upstream != 1.0


def _spec(**kw) -> GraphSpec:
    base = {"leaves": (1.0, 2.0), "nodes": (Node("mul", ("x0", "x1")),), "output": "n0"}
    base.update(kw)
    return GraphSpec(**base)


def test_non_finite_values_round_trip_as_strings() -> None:
    spec = _spec(leaves=(math.nan, -math.inf))
    text = spec.to_json()
    assert '"nan"' in text and '"-inf"' in text
    back = GraphSpec.from_json(text)
    assert math.isnan(back.leaves[0]) and back.leaves[1] == -math.inf
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))


def test_id_depends_on_content_only() -> None:
    assert _spec().case_id() == _spec().case_id()
    assert _spec().case_id() != _spec(leaves=(1.0, 2.5)).case_id()
    assert _spec().case_id() != _spec(upstream=2.0).case_id()


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"nodes": (Node("frobnicate", ("x0",)),)}, "unknown op"),
        ({"nodes": (Node("mul", ("x0",)),)}, "takes 2 inputs"),
        ({"nodes": (Node("mul", ("x0", "n0")),)}, "cycle"),
        ({"nodes": (Node("mul", ("x0", "x9")),)}, "points to nothing"),
        ({"nodes": (Node("mul", ("x0", "y1")),)}, "bad reference"),
        ({"nodes": (Node("powc", ("x0",), 7.0),)}, "parameter"),
        ({"output": "n3"}, "points to nothing"),
        ({"leaves": ()}, "at least one leaf"),
        ({"upstream": math.inf}, "upstream"),
        ({"consts": (1.0,), "nodes": (Node("mul", ("c0", "c0")),)}, "only constants"),
    ],
)
def test_invalid_specs_say_what_is_wrong(kw: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        _spec(**kw)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"schema": 99}', "schema version"),
        ('{"schema": 1, "leaves": [1.0]}', "malformed"),
        ('{"schema": 1, "leaves": ["a"], "nodes": [], "output": "x0"}', "not a number"),
        ('{"schema": 1, "leaves": [NaN], "nodes": [], "output": "x0"}', "not standard JSON"),
        ('{"schema": 1, "leaves": [true], "nodes": [], "output": "x0"}', "not a number"),
        ('{"schema": 1, "leaves": [1], "nodes": [], "output": "x0", "backwards": 1.5}', "whole"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_bad_json_is_a_spec_error(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        GraphSpec.from_json(text)


def test_formula_reads_like_the_lecture() -> None:
    spec = GraphSpec(
        leaves=(1.0, 5.0, 3.0),
        nodes=(Node("mul", ("x0", "x1")), Node("add", ("n0", "x2")), Node("square", ("n1",))),
        output="n2",
        leaf_names=("h", "w1", "b"),
    )
    assert spec.formula() == "((h * w1) + b) ** 2"


def _diamonds(levels: int) -> GraphSpec:
    """Each level reads the one before twice (2**levels paths): d' = exp(d)·0.9 + d·0.2."""
    nodes: list[Node] = []
    prev = "x0"
    for _ in range(levels):
        k = len(nodes)
        nodes += [
            Node("exp", (prev,)),
            Node("mul", (f"n{k}", "c0")),
            Node("mul", (prev, "c1")),
            Node("add", (f"n{k + 1}", f"n{k + 2}")),
        ]
        prev = f"n{k + 3}"
    return GraphSpec(leaves=(-3.0,), nodes=tuple(nodes), output=prev, consts=(0.9, 0.2))


def _doubled(times: int) -> GraphSpec:
    prev = ["x0", *(f"n{i}" for i in range(times - 1))]  # each node reads the one before twice
    nodes = [Node("add", (p, p)) for p in prev]
    return GraphSpec(leaves=(0.75,), nodes=tuple(nodes), output=f"n{times - 1}")


@pytest.mark.parametrize(
    "spec", [_diamonds(40), _diamonds(400), _doubled(50)], ids=["40", "400", "doubled"]
)
def test_a_formula_stays_short_when_paths_double_at_every_level(spec: GraphSpec) -> None:
    # Inlined, these would be 2**40 characters and more: the test would never end.
    text = spec.formula()
    assert len(text) <= FORMULA_MAX + 60
    assert " where n" in text
    if len(spec.nodes) > 100:  # more definitions than fit: an ellipsis says so
        assert text.endswith("more named nodes: see the spec)")


def _evaluate(text: str, spec: GraphSpec) -> float:
    """The value a formula's text means: its `where` definitions first, deepest first."""
    calls = {n: (lambda x, op=OPS[n]: op.forward([x], None)) for n in OPS if OPS[n].arity == 1}
    names = {**calls, "inf": math.inf, "nan": math.nan}
    names.update((spec.leaf_name(i), x) for i, x in enumerate(spec.leaves))
    head, _, definitions = text.partition(" where ")
    for line in reversed(definitions.split("; ") if definitions else []):
        name, _, body = line.partition(" = ")
        names[name] = eval(body, {"__builtins__": {}}, names)  # our own text, no builtins
    return eval(head, {"__builtins__": {}}, names)


def _value(spec: GraphSpec) -> float:
    values = {f"x{i}": x for i, x in enumerate(spec.leaves)}
    values.update((f"c{i}", c) for i, c in enumerate(spec.consts))
    for i, node in enumerate(spec.nodes):
        values[f"n{i}"] = OPS[node.op].forward([values[a] for a in node.args], node.param)
    return values[spec.output]


@given(graph_specs())
def test_a_formula_with_named_nodes_means_the_same_graph(spec: GraphSpec) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(spec_module, "FORMULA_MAX", 10**6)  # every definition: the text is evaluated
        text = spec.formula()
    got, want = _evaluate(text, spec), _value(spec)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-300, nan_ok=True), text


def test_named_nodes_are_defined_nearest_the_output_first() -> None:
    spec = _diamonds(6)
    text = spec.formula()
    assert len(text) < FORMULA_MAX and "more named nodes" not in text
    assert _evaluate(text, spec) == pytest.approx(_value(spec), rel=1e-12)
    definitions = text.partition(" where ")[2].split("; ")
    names = [d.split(" = ")[0] for d in definitions]
    assert len(names) >= 2 and names == sorted(names, key=lambda n: -int(n[1:]))


@given(graph_specs(), st.booleans())
def test_a_pickled_spec_comes_back_the_same(spec: GraphSpec, named: bool) -> None:
    if named:  # names, repeated backward and an SGD step travel too
        spec = replace(spec, leaf_names=tuple(f"w{i}" for i in range(len(spec.leaves))),
                       backwards=2, zero_between=True, step=Step(0.1, (0,)))  # fmt: skip
    back = pickle.loads(pickle.dumps(spec))
    assert back == spec and hash(back) == hash(spec) and repr(back) == repr(spec)
    assert back.__dict__ == spec.__dict__ and back.case_id() == spec.case_id()
    assert all(type(n) is Node for n in back.nodes)
